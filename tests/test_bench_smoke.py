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
