"""Is it worth fusing each convolution's ReLU into the convolution's own slices? (Not in common.fast.)

    .venv/bin/python benchmarks/fused_relu.py [--reps 30]

Frameworks fuse the bias add and the activation into the matrix product's output, so the output is
rectified while it is still in cache instead of in a second pass over the whole batch. Here each
DeepConvNet convolution is given its ReLU: per slice of the batch it adds the bias, records ReLU's
mask and rectifies in place; the ReLU layer then passes the rectified output straight through, and on
the way back the gradient is masked slice by slice before the convolution's own backward. The fused and
the plain network (same seed, so the same dropout masks) take turns step by step; their gradients
are checked identical first (the script stops if they are not).

This was measured against the layer-by-layer pass of the time, so both networks run that way here
(``common.fast.PARTS = 1``: no BatchParts). In today's pass ReLU costs even less: a ReLU that comes
before a max-pooling layer runs after it, on a quarter of the numbers (``BatchParts.POOL_FIRST``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import fast  # noqa: E402
from common.networks import DeepConvNet  # noqa: E402
from common.optimizer import Adam  # noqa: E402
from common.util import output_hw  # noqa: E402


class PassThroughRelu(fast.FastRelu):
    """The ReLU of a fused pair: its convolution already rectified the output and set ``mask``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout                                   # the convolution masks it, slice by slice


class ConvWithRelu(fast.FastConvolution):
    """FastConvolution whose slices also add the bias and rectify (``relu`` is the paired layer)."""

    relu: fast.FastRelu

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        FN, C, FH, FW = self.W.shape
        N = x.shape[0]
        out_h, out_w = output_hw(x.shape, FH, FW, self.stride, self.pad)
        W_col = self.W.reshape(FN, -1)
        last = self._channels_last(x.shape)
        W_last = self.W.transpose(2, 3, 1, 0).reshape(-1, FN)
        # the output in the layout FastConvolution hands on: channels-last when it works so
        out = np.empty((N, out_h * out_w, FN) if last else (N, FN, out_h * out_w), dtype=np.result_type(x, self.W))
        mask = np.empty(out.shape, dtype=bool)

        def work(a: int, b: int) -> None:
            if last:
                cols = fast.unfold_channels_last(fast.channels_last(x[a:b], self.pad), FH, FW, self.stride)
                np.matmul(cols, W_last, out=out[a:b].reshape(-1, FN))
                out[a:b] += self.b
            else:
                np.matmul(W_col, fast.unfold_images(x[a:b], FH, FW, self.stride, self.pad), out=out[a:b])
                out[a:b] += self.b[:, None]
            np.less_equal(out[a:b], 0, out=mask[a:b])                          # the ReLU, while in cache
            np.maximum(out[a:b], fast.zeros(out[a:b].shape, out.dtype), out=out[a:b])

        fast.over_batch(work, N, W_col.shape[1] * out_h * out_w * x.itemsize)
        self.x, self.col = x, None

        def as_images(a: np.ndarray) -> np.ndarray:
            if last:
                return a.reshape(N, out_h, out_w, FN).transpose(0, 3, 1, 2)
            return a.reshape(N, FN, out_h, out_w)
        self.relu.mask = as_images(mask)
        return as_images(out)

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        mask = self.relu.mask
        G = np.empty_like(mask, dtype=dout.dtype)                   # laid out like the output

        def work(a: int, b: int) -> None:
            np.multiply(dout[a:b], ~mask[a:b], out=G[a:b])
            np.add(G[a:b], 0, out=G[a:b])

        fast.over_batch(work, len(dout), dout[:1].nbytes)
        return super().backward(G, need_dx)


def layer_by_layer() -> None:
    """Run networks layer by layer over the whole batch, as when this was measured (no BatchParts)."""
    fast.PARTS = 1


def fuse(net: Any) -> None:
    for i in range(1, 7):
        conv, relu = net.layers[f"Conv{i}"], net.layers[f"Relu{i}"]
        conv.__class__, relu.__class__ = ConvWithRelu, PassThroughRelu
        conv.relu = relu


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=30)
    args = p.parse_args()
    layer_by_layer()
    rng = np.random.default_rng(0)
    x = rng.random((100, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, 100)
    plain, fused = DeepConvNet(dtype=np.float32, seed=0), DeepConvNet(dtype=np.float32, seed=0)
    fuse(fused)
    g_plain, g_fused = plain.gradient(x, t), fused.gradient(x, t)
    different = [k for k in g_plain if not np.array_equal(g_plain[k], g_fused[k])]
    if different:
        raise SystemExit(f"the fused network's gradients differ from the plain one's: {different}")
    print("gradients: identical, bit for bit")
    steps = {"plain": (plain, Adam(lr=0.001)), "fused": (fused, Adam(lr=0.001))}
    times: dict[str, list[float]] = {k: [] for k in steps}
    for rep in range(args.reps + 3):
        for k, (net, opt) in steps.items():
            t0 = time.perf_counter()
            opt.update(net.params, net.gradient(x, t))
            if rep >= 3:
                times[k].append(time.perf_counter() - t0)
    a, b = statistics.median(times["plain"]), statistics.median(times["fused"])
    print(f"DeepConvNet step: plain {1e3 * a:.1f} ms, ReLU fused into the convolutions {1e3 * b:.1f} ms ({b / a:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
