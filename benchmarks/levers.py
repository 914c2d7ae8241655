"""What each speed lever of common.fast is worth: one training step (forward, backward, Adam) of
SimpleConvNet and DeepConvNet, float32, batch 100, with one lever turned off at a time.

    .venv/bin/python benchmarks/levers.py [--reps 40] [--json benchmarks/levers.json]

Variants (all in this process, taking turns in blocks of steps, the blocks in a new random order every
round, so that a busy moment of a shared machine hits every variant alike; each block starts with a quarter
second of untimed steps; the table shows the median and the fastest quarter's upper bound):

- all levers        common.fast as the networks use it
- layer by layer    no BatchParts (PARTS = 1): every layer takes the whole batch, its slices shared
                    between the threads, which meet at the end of every layer
- ReLU before pool  BatchParts without POOL_FIRST: each ReLU on the full-sized output, then pooling
- plain NCHW out    each convolution's output (and dx) copied into plain (N, C, H, W) order instead of
                    being handed on channels-last
- 1 MB slices       SLICE_BYTES 1 MB instead of 2 MB (this core's own L2 cache is 1 MB)
- one thread        DLFS_THREADS=1: the slices in the calling thread, BLAS on its own threads
- one slice         SLICE_BYTES so large that each layer (or part of BatchParts) is one slice, computed at once
- no slices/threads one slice and DLFS_THREADS=1, layer by layer: whole-batch copies, BLAS threads
                    only (as before the first speed round)
- channels-first    every convolution per image in (C, H, W) order, never channels-last
- channels-last     every convolution channels-last, whatever its shape
- book Adam step    Adam's update with the textbook's four temporaries instead of two arrays
- fixed halves      each thread given a fixed run of consecutive slices (the first half to the caller)
                    instead of taking the next free slice
- ReLU max(x, 0)    ReLU's np.maximum against the scalar 0 instead of an array of zeros

Winograd F(2x2, 3x3) (benchmarks/winograd.py) and patches over whole padded rows (benchmarks/whole_rows.py)
are measured separately: neither is in common.fast.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import fast  # noqa: E402
from common.networks import DeepConvNet, SimpleConvNet  # noqa: E402
from common.optimizer import Adam  # noqa: E402


class BookAdam(Adam):
    """Adam's step written as the formula, every operation a new array (the update before this round)."""

    def update(self, params: dict, grads: dict) -> None:
        if self.m is None:
            self.m = {k: np.zeros_like(p) for k, p in params.items()}
            self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.iter += 1
        b1, b2 = self.beta1, self.beta2
        lr_t = self.lr * np.sqrt(1.0 - b2 ** self.iter) / (1.0 - b1 ** self.iter)
        eps_t = self.eps * np.sqrt(1.0 - b2 ** self.iter)
        for key in params:
            g = grads[key]
            self.m[key] += (1 - b1) * (g - self.m[key])
            self.v[key] += (1 - b2) * (g * g - self.v[key])
            params[key] -= float(lr_t) * self.m[key] / (np.sqrt(self.v[key]) + float(eps_t))


def fixed_halves(work: Callable[[int, int], Any], slices: list[tuple[int, int]], n_threads: int) -> list[Any]:
    """common.fast._run_in_threads as it was before: thread k gets the k-th run of consecutive slices."""
    per = -(-len(slices) // n_threads)
    groups = [slices[k * per:(k + 1) * per] for k in range(n_threads)]

    def run(group: list[tuple[int, int]]) -> list[Any]:
        return [work(a, b) for a, b in group]

    with fast.config.blas_single_threaded():
        if fast._pool is None or fast._pool_workers < n_threads - 1:
            fast._pool_workers = max(n_threads - 1, 1)
            fast._pool = ThreadPoolExecutor(max_workers=fast._pool_workers, thread_name_prefix="dlfs-fast")
        futures = [fast._pool.submit(run, group) for group in groups[1:] if group]
        results = run(groups[0])
        for f in futures:
            results += f.result()
    return results


def scalar_zero(x: np.ndarray) -> Any:
    """In place of common.fast.zeros_like: the scalar 0, so ReLU computes np.maximum(x, 0)."""
    return x.dtype.type(0)


def plain_order(method: Callable) -> Callable:
    """A FastConvolution method whose result (a channels-last view) is copied to plain (N, C, H, W) order."""
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = method(self, *args, **kwargs)
        return None if out is None else np.ascontiguousarray(out)
    return wrapped


def variants() -> dict[str, Callable[[], Any]]:
    """name -> a function that sets the lever up and returns a function undoing it."""
    def env(threads: str | None, slice_bytes: int | None = None, layout: bool | None = None):
        def setup():
            saved = (os.environ.get("DLFS_THREADS"), fast.SLICE_BYTES, fast.FastConvolution._channels_last)
            if threads is not None:
                os.environ["DLFS_THREADS"] = threads
            if slice_bytes is not None:
                fast.SLICE_BYTES = slice_bytes
            if layout is not None:
                fast.FastConvolution._channels_last = lambda self, shape: layout

            def undo():
                if saved[0] is None:
                    os.environ.pop("DLFS_THREADS", None)
                else:
                    os.environ["DLFS_THREADS"] = saved[0]
                fast.SLICE_BYTES, fast.FastConvolution._channels_last = saved[1], saved[2]
            return undo
        return setup

    def swap(module: Any, name: str, replacement: Any):
        def setup():
            saved = getattr(module, name)
            setattr(module, name, replacement)
            return lambda: setattr(module, name, saved)
        return setup

    def both(*setups: Callable[[], Any]):
        def setup():
            undos = [s() for s in setups]
            return lambda: [u() for u in reversed(undos)]
        return setup

    conv = fast.FastConvolution
    return {
        "all levers": env(None),
        "layer by layer": swap(fast, "PARTS", 1),
        "ReLU before pool": swap(fast.BatchParts, "POOL_FIRST", False),
        "plain NCHW out": both(swap(conv, "forward", plain_order(conv.forward)),
                               swap(conv, "backward", plain_order(conv.backward))),
        "1 MB slices": env(None, slice_bytes=1 << 20),
        "one thread": env("1"),
        "one slice": env(None, slice_bytes=1 << 40),
        "no slices/threads": both(env("1", slice_bytes=1 << 40), swap(fast, "PARTS", 1)),
        "channels-first": env(None, layout=False),
        "channels-last": env(None, layout=True),
        "book Adam step": env(None),
        "fixed halves": both(swap(fast, "_run_in_threads", fixed_halves),          # slices
                             swap(fast.parts, "_run_in_threads", fixed_halves)),   # and parts
        "ReLU max(x, 0)": swap(fast.layers, "zeros_like", scalar_zero),
    }


#: timed steps in a row per variant, after untimed ones for at least SETTLE seconds (a variant on BLAS's
#: own threads leaves them spinning for a while after its step: the next step took 1.6x as long)
BLOCK = 4
SETTLE = 0.25


def measure(reps: int) -> dict[str, dict[str, dict[str, float]]]:
    rng = np.random.default_rng(0)
    x = rng.random((100, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 100)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, make in (("SimpleConvNet", SimpleConvNet), ("DeepConvNet", DeepConvNet)):
        setups = variants()
        nets = {v: make(dtype=np.float32, seed=0) for v in setups}
        opts = {v: (BookAdam if v == "book Adam step" else Adam)(lr=0.001) for v in setups}
        times: dict[str, list[float]] = {v: [] for v in setups}
        names, order = list(setups), np.random.default_rng(1)
        for _ in range(-(-reps // BLOCK)):
            # a round: each variant takes one block of steps, the blocks in a new order every round; the
            # untimed steps first take whatever the variant before left behind
            for v in (names[i] for i in order.permutation(len(names))):
                undo = setups[v]()
                try:
                    start = time.perf_counter()
                    while True:
                        opts[v].update(nets[v].params, nets[v].gradient(x, t))
                        if time.perf_counter() - start >= SETTLE:
                            break
                    for _ in range(BLOCK):
                        t0 = time.perf_counter()
                        opts[v].update(nets[v].params, nets[v].gradient(x, t))
                        times[v].append(time.perf_counter() - t0)
                finally:
                    undo()
        results[name] = {v: {"median_ms": 1e3 * statistics.median(ts),
                             "q1_ms": 1e3 * float(np.percentile(ts, 25))} for v, ts in times.items()}
    return results


def layer_layouts(reps: int) -> list[dict[str, Any]]:
    """Each convolution of both networks, forward + backward on its own input, in both layouts."""
    rng = np.random.default_rng(0)
    rows = []
    for name, make in (("SimpleConvNet", SimpleConvNet), ("DeepConvNet", DeepConvNet)):
        net = make(dtype=np.float32, seed=0)
        x = rng.random((100, 1, 28, 28), dtype=np.float32)
        for layer_name, layer, out in net.layer_outputs(x, train_flg=True):
            if isinstance(layer, fast.FastConvolution):
                dout = rng.standard_normal(out.shape).astype(np.float32)
                need_dx = layer_name != "Conv1"
                times: dict[bool, list[float]] = {False: [], True: []}
                for rep in range(reps + 2):
                    for last in (False, True):
                        layer._channels_last = lambda shape, last=last: last   # on this layer object only
                        t0 = time.perf_counter()
                        layer.forward(x)
                        layer.backward(dout, need_dx=need_dx)
                        if rep >= 2:
                            times[last].append(time.perf_counter() - t0)
                del layer._channels_last
                FN, C, FH, FW = layer.W.shape
                rows.append({"layer": f"{name} {layer_name}", "C": C, "FN": FN, "OW": out.shape[3],
                             "rule_picks": "channels-last" if layer._channels_last(x.shape) else "channels-first",
                             "channels_first_ms": 1e3 * statistics.median(times[False]),
                             "channels_last_ms": 1e3 * statistics.median(times[True])})
            x = out
    return rows


def layer_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| layer | C -> FN | OW | channels-first | channels-last | the rule picks |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['layer']} | {r['C']} -> {r['FN']} | {r['OW']} | {r['channels_first_ms']:.2f} ms "
                     f"| {r['channels_last_ms']:.2f} ms | {r['rule_picks']} |")
    return "\n".join(lines)


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ["| variant | " + " | ".join(f"{n} step (median / q1)" for n in results) + " | "
             + " | ".join(f"{n}: time / all levers" for n in results) + " |",
             "|---|" + "---|" * (2 * len(results))]
    for v in next(iter(results.values())):
        cells = [f"{r[v]['median_ms']:.1f} / {r[v]['q1_ms']:.1f} ms" for r in results.values()]
        ratios = [f"{r[v]['median_ms'] / r['all levers']['median_ms']:.2f}x" for r in results.values()]
        lines.append(f"| {v} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=40, help="timed steps per variant (default 40)")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = p.parse_args()
    res = measure(args.reps)
    print(table(res))
    rows = layer_layouts(max(5, args.reps // 2))
    print("\nEach convolution, forward + backward (median ms):\n" + layer_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"steps": res, "layers": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
