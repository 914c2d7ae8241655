"""`make bench`: training speed of common vs PyTorch CPU vs the textbook baseline, side by side.

    python benchmarks/run.py                 # full: prints the table, writes benchmarks/results.json
    python benchmarks/run.py --smoke         # CI: a few steps of everything, no timing claims

Method: for each network, the time of one training step (forward + backward + optimizer update) on a
batch of 100 random MNIST-shaped images is the median of ``--steps`` steps after ``--warmup`` steps;
common's and PyTorch's steps take turns in blocks of 10, so that load from elsewhere on a shared machine
hits both.
An epoch is extrapolated as 600 steps (60,000 images / 100); the book's 10,000 TwoLayerNet iterations
likewise. All columns use the same number of BLAS threads (torch.set_num_threads is set to it).
FLOPs per step are counted from the layer shapes (multiply-add = 2 FLOPs; backward = 2x forward for
conv and affine layers); "% of peak" divides the achieved FLOP rate by this machine's float32 GEMM
rate (2048 x 2048 matrices), measured between that network's own blocks of steps (the median of those
products), since on a shared machine the rate drifts from minute to minute.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))     # run as a script: make the sibling modules importable

import textbook  # noqa: E402

from common import config  # noqa: E402
from common.networks import DeepConvNet, SimpleConvNet, TwoLayerNet  # noqa: E402
from common.optimizer import SGD, Adam  # noqa: E402

STEPS_PER_EPOCH = 600


def blas_threads() -> int:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return os.cpu_count() or 1


def median_time(step: Callable[[], Any], steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gemm_product(n: int = 2048) -> Callable[[], Any]:
    """One float32 n x n matrix product (2 n^3 FLOPs), the yardstick for "% of GEMM peak"."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    return lambda: a @ b


def gemm_peak(n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matrix-multiply rate of this machine, in GFLOP/s (2 n^3 FLOPs per product)."""
    return 2 * n ** 3 / median_time(gemm_product(n), repeats, 1) / 1e9


def step_flops(net: Any, batch: int, input_shape: tuple[int, ...]) -> float:
    """FLOPs of one training step of a common network, counted from its layer shapes."""
    from common.layers import Affine, Convolution
    flops = 0.0
    x = np.zeros((batch, *input_shape), dtype=net.dtype)
    for _name, layer, x in net.layer_outputs(x):       # one forward pass records the output shapes
        if isinstance(layer, Convolution):             # forward: 2 * N*OH*OW * FN*C*FH*FW; backward: twice that
            fn, c, fh, fw = layer.W.shape
            flops += 3 * 2 * batch * x.shape[2] * x.shape[3] * fn * c * fh * fw
        elif isinstance(layer, Affine):                # forward: 2 * N*D*M; backward (dx and dW): twice that
            d, m = layer.W.shape
            flops += 3 * 2 * batch * d * m
    return flops


def paired_median_times(step_a: Callable[[], Any], step_b: Callable[[], Any], steps: int,
                        warmup: int, block: int = 10,
                        probe: Callable[[], Any] | None = None) -> tuple[float, float, list[float]]:
    """Median step times of a and b, timed in alternating blocks of ``block`` steps (a, b, a, b, ...):
    a moment when a shared machine is busy slows both alike, instead of whichever happened to be
    measured then. Each block starts with one untimed step, so that neither library's idle threads
    (BLAS's, OpenMP's), still spinning after the other's block, are counted against it.

    ``probe`` (the GEMM whose rate is the "peak") is timed once after each of a's blocks, so that the
    peak a network is compared with was measured in the same minutes as the network: on a shared VM
    the GEMM rate drifts by up to 2x from one minute to the next. Returns (median a, median b,
    probe times)."""
    for _ in range(warmup):
        step_a()
        step_b()
    times_a: list[float] = []
    times_b: list[float] = []
    probes: list[float] = []
    while len(times_a) < steps:
        n = min(block, steps - len(times_a))
        for step, times in ((step_a, times_a), (step_b, times_b)):
            step()
            for _ in range(n):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
            if probe is not None and step is step_a:
                t0 = time.perf_counter()
                probe()
                probes.append(time.perf_counter() - t0)
    return statistics.median(times_a), statistics.median(times_b), probes


def common_step(net: Any, optimizer: Any, x: np.ndarray, t: np.ndarray) -> Callable[[], None]:
    return lambda: optimizer.update(net.params, net.gradient(x, t))


def measure_textbook(build: Callable, params: dict, optimizer: Any, x: np.ndarray, t: np.ndarray,
                     steps: int, warmup: int) -> float:
    net = build(params)
    x64 = x.astype(np.float64)
    return median_time(lambda: optimizer.update(net.params, net.gradient(x64, t)), steps, warmup)


def torch_step(build_name: str, params: dict, opt: str, lr: float, x: np.ndarray, t: np.ndarray,
               threads: int) -> Callable[[], Any] | None:
    """One PyTorch training step of the same network from the same weights, or None without torch."""
    try:
        import torch
        import torch_nets
    except ImportError:
        return None
    torch.set_num_threads(threads)
    net = getattr(torch_nets, build_name)(params)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr) if opt == "adam" else torch.optim.SGD(net.parameters(), lr=lr)
    step = torch_nets.train_step_fn(net, optimizer)
    xt, tt = torch.from_numpy(x), torch.from_numpy(t.astype(np.int64))
    net.train()
    return lambda: step(xt, tt)


def peak_memory_mb(net: Any, optimizer: Any, x: np.ndarray, t: np.ndarray) -> float:
    """Peak of NumPy allocations (tracemalloc sees them) during one training step, in MB."""
    optimizer.update(net.params, net.gradient(x, t))   # allocate optimizer state outside the window
    tracemalloc.start()
    tracemalloc.reset_peak()
    optimizer.update(net.params, net.gradient(x, t))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def numerical_vs_backprop(smoke: bool) -> dict[str, float]:
    """Chapter 5's comparison: one numerical gradient vs one backprop gradient of TwoLayerNet(784, 50, 10)."""
    rng = np.random.default_rng(0)
    hidden = 5 if smoke else 50
    net = TwoLayerNet(784, hidden, 10, seed=0)
    x, t = rng.random((3, 784)), rng.integers(0, 10, 3)
    t0 = time.perf_counter()
    net.numerical_gradient(x, t)
    numerical = time.perf_counter() - t0
    backprop = median_time(lambda: net.gradient(x, t), 20, 3)
    return {"numerical_s": numerical, "backprop_s": backprop, "ratio": numerical / backprop,
            "parameters": int(sum(p.size for p in net.params.values()))}


def run(smoke: bool, steps: int, warmup: int) -> dict[str, Any]:
    threads = blas_threads()
    rng = np.random.default_rng(0)
    batch = 100
    x_img = rng.random((batch, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, batch)
    configs = [
        ("SimpleConvNet", lambda: SimpleConvNet(dtype=np.float32, seed=0), textbook.simple_convnet, "simple_convnet",
         "adam", 0.001, x_img, (1, 28, 28)),
        ("DeepConvNet", lambda: DeepConvNet(dtype=np.float32, seed=0), textbook.deep_convnet, "deep_convnet",
         "adam", 0.001, x_img, (1, 28, 28)),
        ("TwoLayerNet", lambda: TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0), textbook.two_layer_net,
         "two_layer_net", "sgd", 0.1, x_img.reshape(batch, 784), (784,)),
    ]
    gemm_n = 512 if smoke else 2048
    peak = gemm_peak(gemm_n, 2 if smoke else 5)
    probe = gemm_product(gemm_n)
    rows = []
    for name, make, tb_build, torch_name, opt, lr, x, in_shape in configs:
        net = make()
        params = {k: v.copy() for k, v in net.params.items()}
        ours_opt = Adam(lr=lr) if opt == "adam" else SGD(lr=lr)
        ours_step = common_step(net, ours_opt, x, t)
        theirs_step = torch_step(torch_name, params, opt, lr, x, t, threads)
        if theirs_step is None:
            ours, torch_t, probes = median_time(ours_step, steps, warmup), None, []
        else:
            ours, torch_t, probes = paired_median_times(ours_step, theirs_step, steps, warmup, probe=probe)
        # the GEMM rate in the same minutes as this network's steps (or, without torch, the one measured first)
        peak_here = 2 * gemm_n ** 3 / statistics.median(probes) / 1e9 if probes else peak
        tb_steps = max(1, steps // 3) if name == "DeepConvNet" else steps
        tb_opt = Adam(lr=lr) if opt == "adam" else SGD(lr=lr)
        base = measure_textbook(tb_build, params, tb_opt, x, t, tb_steps, min(warmup, 1))
        flops = step_flops(net, batch, in_shape)
        fresh = make()
        mem = peak_memory_mb(fresh, Adam(lr=lr) if opt == "adam" else SGD(lr=lr), x, t)
        rows.append({
            "network": name, "optimizer": opt, "batch": batch,
            "common_step_s": ours, "textbook_step_s": base, "torch_step_s": torch_t,
            "common_epoch_s": ours * STEPS_PER_EPOCH, "textbook_epoch_s": base * STEPS_PER_EPOCH,
            "torch_epoch_s": None if torch_t is None else torch_t * STEPS_PER_EPOCH,
            "vs_torch": None if torch_t is None else ours / torch_t,
            "speedup_vs_textbook": base / ours,
            "gflop_per_step": flops / 1e9,
            "gemm_peak_during_gflops": peak_here,
            "percent_of_gemm_peak": 100 * flops / ours / 1e9 / peak_here,
            "peak_memory_mb": mem,
        })
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    try:                                               # which OpenBLAS kernel numpy really runs
        from threadpoolctl import threadpool_info
        blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}" for i in threadpool_info()
                if i.get("user_api") == "blas"]
    except ImportError:
        blas = ["threadpoolctl not installed"]
    return {
        "mode": "smoke" if smoke else "full",
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "blas_threads": threads, "fast_layer_threads": config.threads(), "python": platform.python_version(),
                    "numpy": np.__version__, "blas": blas, "torch": torch_version,
                    "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")},
        "gemm_peak_gflops": peak,
        "steps_timed": steps, "warmup_steps": warmup,
        "epoch_note": f"epoch = {STEPS_PER_EPOCH} steps of batch 100, extrapolated from the median step time",
        "networks": rows,
        "chapter5_gradient": numerical_vs_backprop(smoke),
    }


def fmt_s(v: float | None) -> str:
    return "not installed" if v is None else (f"{v:.1f} s" if v >= 10 else f"{v:.2f} s")


def table(res: dict[str, Any]) -> str:
    lines = [f"machine: {res['machine']['processor']}, {res['machine']['cpus']} CPUs, "
             f"{res['machine']['blas_threads']} BLAS threads, {res['machine'].get('fast_layer_threads', '?')} threads in common.fast, numpy {res['machine']['numpy']}, "
             f"torch {res['machine']['torch'] or 'not installed'}; BLAS: {', '.join(res['machine']['blas'])}",
             f"float32 GEMM peak: {res['gemm_peak_gflops']:.1f} GFLOP/s measured first; % of peak uses the rate "
             f"measured between each network's own steps (its column); {res['epoch_note']}", "",
             "| network | common epoch | PyTorch CPU epoch | textbook epoch | common / PyTorch | textbook / common "
             "| GFLOP/step | GEMM peak then | % of GEMM peak | peak memory |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["networks"]:
        vs = "n/a" if r["vs_torch"] is None else f"{r['vs_torch']:.2f}x"
        lines.append(f"| {r['network']} ({r['optimizer']}) | {fmt_s(r['common_epoch_s'])} | {fmt_s(r['torch_epoch_s'])} "
                     f"| {fmt_s(r['textbook_epoch_s'])} | {vs} | {r['speedup_vs_textbook']:.1f}x "
                     f"| {r['gflop_per_step']:.3f} | {r.get('gemm_peak_during_gflops', res['gemm_peak_gflops']):.0f} GFLOP/s "
                     f"| {r['percent_of_gemm_peak']:.0f} % | {r['peak_memory_mb']:.0f} MB |")
    two = next(r for r in res["networks"] if r["network"] == "TwoLayerNet")
    lines += ["", f"TwoLayerNet, the book's 10,000 iterations: common {fmt_s(two['common_step_s'] * 10000)}, "
                  f"textbook {fmt_s(two['textbook_step_s'] * 10000)} "
                  f"({two['common_step_s'] / two['textbook_step_s']:.2f}x the baseline's time)"]
    g = res["chapter5_gradient"]
    lines.append(f"Chapter 5: numerical gradient {fmt_s(g['numerical_s'])} vs backprop {g['backprop_s'] * 1e3:.3f} ms "
                 f"for {g['parameters']:,} parameters: {g['ratio']:,.0f}x")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="a few steps of everything (CI); no timing claims")
    p.add_argument("--steps", type=int, default=None, help="timed steps per network (default 60, smoke 2)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3, smoke 1)")
    p.add_argument("--json", type=Path, default=None, help="where to write the results "
                                                           "(default benchmarks/results.json; smoke: none)")
    args = p.parse_args()
    steps = args.steps or (2 if args.smoke else 60)
    warmup = args.warmup if args.warmup is not None else (1 if args.smoke else 3)
    res = run(args.smoke, steps, warmup)
    print(table(res))
    out = args.json or (None if args.smoke else ROOT / "benchmarks" / "results.json")
    if out is not None:
        out.write_text(json.dumps(res, indent=2) + "\n")
        print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
