"""`make bench` in smoke mode, so the benchmark cannot rot. No timing is asserted here (timing lives in make bench)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_smoke_run(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "| DeepConvNet (adam) |" in proc.stdout and "Chapter 5: numerical gradient" in proc.stdout
    res = json.loads(out.read_text())
    assert [r["network"] for r in res["networks"]] == ["SimpleConvNet", "DeepConvNet", "TwoLayerNet"]
    for r in res["networks"]:
        assert r["common_step_s"] > 0 and r["textbook_step_s"] > 0 and r["gflop_per_step"] > 0
        assert r["peak_memory_mb"] > 0
    deep = next(r for r in res["networks"] if r["network"] == "DeepConvNet")
    # FLOPs counted from the layer shapes: 3 x (conv + affine forward FLOPs) for a batch of 100
    conv_macs = (28 * 28 * 16 * 9 + 28 * 28 * 16 * 144 + 14 * 14 * 32 * 144 + 16 * 16 * 32 * 288
                 + 8 * 8 * 64 * 288 + 8 * 8 * 64 * 576)
    affine_macs = 1024 * 50 + 50 * 10
    assert deep["gflop_per_step"] * 1e9 == 3 * 2 * 100 * (conv_macs + affine_macs)
    assert res["chapter5_gradient"]["ratio"] > 1


def test_the_peak_is_probed_between_the_networks_own_blocks():
    """The GEMM that "% of peak" divides by is timed once after each of common's blocks of steps, so
    that it is measured in the same minutes as the network it is compared with."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import run
    order = []
    a, b, probes = run.paired_median_times(lambda: order.append("a"), lambda: order.append("b"), steps=25,
                                           warmup=1, block=10, probe=lambda: order.append("peak"))
    assert len(probes) == 3 and a >= 0 and b >= 0                   # blocks of 10, 10 and 5 steps
    # warmup a b, then per block: an untimed step and the timed ones, the probe after each of a's blocks
    assert order[:2] == ["a", "b"]
    blocks = "".join("P" if s == "peak" else s for s in order[2:])
    assert blocks == ("a" * 11 + "P" + "b" * 11) * 2 + "a" * 6 + "P" + "b" * 6
    assert run.paired_median_times(lambda: None, lambda: None, steps=3, warmup=0)[2] == []


def test_the_measured_alternatives_compute_the_same_thing():
    """benchmarks/fused_relu.py and the levers' fixed halves time the same computation as common.fast."""
    import numpy as np
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import fused_relu
    import levers
    from common import fast
    from common.networks import DeepConvNet
    rng = np.random.default_rng(0)
    x, t = rng.random((6, 1, 28, 28)), rng.integers(0, 10, 6)
    parts = fast.PARTS
    try:
        fused_relu.layer_by_layer()                   # as the script runs: no BatchParts
        plain, fused = DeepConvNet(seed=0), DeepConvNet(seed=0)
        fused_relu.fuse(fused)
        g_plain, g_fused = plain.gradient(x, t), fused.gradient(x, t)
    finally:
        fast.PARTS = parts
    assert all(np.array_equal(g_plain[k], g_fused[k]) for k in g_plain)
    slices = fast.batch_slices(9, fast.SLICE_BYTES // 2)
    assert levers.fixed_halves(lambda a, b: (a, b), slices, 2) == slices


def test_every_lever_variant_runs_and_is_undone():
    """Each variant of benchmarks/levers.py sets itself up, trains one step and puts common.fast back."""
    import numpy as np
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import levers
    from common import fast
    from common.networks import DeepConvNet
    rng = np.random.default_rng(0)
    x, t = rng.random((8, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 8)
    before = {name: getattr(fast, name) for name in ("PARTS", "SLICE_BYTES", "_run_in_threads")}
    before_elsewhere = (fast.layers.zeros_like, fast.parts._run_in_threads)
    conv = (fast.FastConvolution.forward, fast.FastConvolution.backward, fast.FastConvolution._channels_last)
    reference = DeepConvNet(dtype=np.float32, seed=0, dropout_ratio=0.0).gradient(x, t)
    for name, setup in levers.variants().items():
        undo = setup()
        try:
            grads = DeepConvNet(dtype=np.float32, seed=0, dropout_ratio=0.0).gradient(x, t)
        finally:
            undo()
        for key in reference:                                  # every variant computes the same gradient
            np.testing.assert_allclose(grads[key], reference[key], rtol=2e-3, atol=1e-5, err_msg=f"{name}: {key}")
    assert {name: getattr(fast, name) for name in before} == before
    assert (fast.layers.zeros_like, fast.parts._run_in_threads) == before_elsewhere
    assert (fast.FastConvolution.forward, fast.FastConvolution.backward, fast.FastConvolution._channels_last) == conv
    assert fast.BatchParts.POOL_FIRST is True


def test_whole_row_patches_compute_what_the_book_does():
    """benchmarks/whole_rows.py's convolution equals the book's layer, and a DeepConvNet built with it
    (its Conv2 switched, the parts still in use) has the same gradient as the lab's."""
    import numpy as np
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import whole_rows
    from common import fast
    from common.networks import DeepConvNet
    assert whole_rows.check() < 1e-12
    rng = np.random.default_rng(0)
    x, t = rng.random((10, 1, 28, 28)), rng.integers(0, 10, 10)
    net = whole_rows.rows_net(seed=0, dropout_ratio=0.0)
    assert [n for n, layer in net.layers.items() if type(layer) is whole_rows.RowsConvolution] == ["Conv2"]
    saved = fast.parts.PER_SAMPLE
    with whole_rows.rows_in_parts():
        assert fast.parts.per_sample_prefix(list(net.layers.values())) == 15      # Conv1 ... Pool3, in parts
        got = net.gradient(x, t)
    assert fast.parts.PER_SAMPLE is saved
    want = DeepConvNet(seed=0, dropout_ratio=0.0).gradient(x, t)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-9, atol=1e-12, err_msg=key)


def test_the_lever_harness_times_every_variant_in_blocks(monkeypatch):
    """benchmarks/levers.py's measure(): each variant gets its blocks of timed steps, after the untimed ones."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import levers
    monkeypatch.setattr(levers, "SETTLE", 0.0)        # one untimed step per block
    monkeypatch.setattr(levers, "BLOCK", 1)
    calls = []
    real = levers.variants

    def counted():
        return {name: (lambda setup=setup, name=name: calls.append(name) or setup()) for name, setup in real().items()}

    monkeypatch.setattr(levers, "variants", counted)
    res = levers.measure(reps=2)                        # 2 rounds of one block each
    names = list(real())
    assert list(res) == ["SimpleConvNet", "DeepConvNet"]
    for net in res.values():
        assert list(net) == names and all(v["median_ms"] > 0 and v["q1_ms"] <= v["median_ms"] for v in net.values())
    assert sorted(calls) == sorted(names * 4)            # every variant set up once a round, for both networks
    assert calls[:len(names)] != names or calls[len(names):2 * len(names)] != names   # the order changes
