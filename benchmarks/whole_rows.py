"""Patches over whole padded rows for DeepConvNet's channels-first convolution, measured against common.fast.

    .venv/bin/python benchmarks/whole_rows.py [--reps 40]

``common.fast.unfold_images`` copies each patch row of a 3x3 layer as OW-number snippets (28 numbers at
28x28). Taken over whole padded rows instead, every row of the patch matrix is *one* run of the padded
image: row (c, y, x) of image n is ``padded[n, c].ravel()[y*Wp + x : y*Wp + x + OH*Wp]``. Column
i*Wp + j is output position (i, j) of an OH x Wp grid; the FW-1 columns j >= OW of each row hold
patches that wrap round into the next image row, which the product computes for nothing and the layer
then drops (for dW, their gradient is set to 0). So the copy moves long runs, at the price of Wp/OW
more columns in each product (30/28 = 7 % for DeepConvNet's Conv2, 16 -> 16 channels at 28x28).

This script checks the idea against the book's ``Convolution`` in float64, then times (1) the copies
and products of one 4-image slice of Conv2 and (2) whole DeepConvNet training steps, the two variants
taking turns step by step, on one thread and on the machine's default threads. It is a measurement,
not a layer of the lab: common.fast keeps it only if it pays (see the README's speed section).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import as_strided

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import fast, layers  # noqa: E402
from common.networks import DeepConvNet  # noqa: E402
from common.optimizer import Adam  # noqa: E402
from common.util import output_hw  # noqa: E402


def unfold_rows(x: np.ndarray, fh: int, fw: int, pad: int, side_by_side: bool = False) -> tuple[np.ndarray, int]:
    """Stride-1 patches over whole padded rows: (N, C, H, W) -> (N, C*FH*FW, OH*Wp) (or, side by side,
    (C*FH*FW, N*OH*Wp)), and the padded width Wp."""
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * pad, W + 2 * pad
    out_h = Hp - fh + 1
    img = np.zeros((N, C, Hp + 1, Wp), dtype=x.dtype)   # one more row: the last row's wrapped patches read into it
    img[:, :, pad:pad + H, pad:pad + W] = x
    flat = img.reshape(N, C, -1)
    s_n, s_c, s = flat.strides
    if side_by_side:
        cols = as_strided(flat, shape=(C, fh, fw, N, out_h * Wp), strides=(s_c, Wp * s, s, s_n, s))
        return cols.reshape(C * fh * fw, N * out_h * Wp), Wp
    cols = as_strided(flat, shape=(N, C, fh, fw, out_h * Wp), strides=(s_n, s_c, Wp * s, s, s))
    return cols.reshape(N, C * fh * fw, out_h * Wp), Wp


def rows_to_images(y: np.ndarray, row_width: int, out_w: int) -> np.ndarray:
    """(N, F, OH*Wp) on the whole-rows grid -> an (N, F, OH, OW) view of the real output positions."""
    N, F, L = y.shape
    return y.reshape(N, F, L // row_width, row_width)[..., :out_w]


class RowsConvolution(fast.FastConvolution):
    """FastConvolution with whole-row patches for stride-1, square, channels-first layers that are not
    a first layer (C*FH*FW >= FN); every other layer falls back to FastConvolution."""

    def _rows(self, x_shape: tuple[int, ...]) -> bool:
        FN, C, FH, FW = self.W.shape
        return (self.stride == 1 and FH == FW and C * FH * FW >= FN and self.pad <= FH - 1
                and not self._channels_last(x_shape))

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self._rows(x.shape):
            return super().forward(x)
        self._check_input(x)
        FN, _, FH, FW = self.W.shape
        N = x.shape[0]
        out_h, out_w = output_hw(x.shape, FH, FW, 1, self.pad)
        W_col, bias = self.W.reshape(FN, -1), self.b[:, None, None]
        out = np.empty((N, FN, out_h, out_w), dtype=np.result_type(x, self.W))

        def work(a: int, b: int) -> None:
            cols, Wp = unfold_rows(x[a:b], FH, FW, self.pad)
            np.add(rows_to_images(np.matmul(W_col, cols), Wp, out_w), bias, out=out[a:b])

        fast.over_batch(work, N, W_col.shape[1] * out_h * (out_w + FW - 1) * x.itemsize)
        self.x, self.col = x, None
        return out

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        x = self.x
        if not (need_dx and self._rows(x.shape)):
            return super().backward(dout, need_dx)
        FN, C, FH, FW = self.W.shape
        N, _, H, W = x.shape
        out_h, out_w = output_hw(x.shape, FH, FW, 1, self.pad)
        G = dout.reshape(N, FN, out_h, out_w)
        dx = np.empty((N, C, H, W), dtype=np.result_type(dout, self.W))
        W_flip = self.W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, -1)
        p = FH - 1 - self.pad

        def work(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
            n = b - a
            U, Wp = unfold_rows(x[a:b], FH, FW, self.pad, side_by_side=True)   # (C*FH*FW, n*OH*Wp)
            D = np.zeros((FN, n, out_h, Wp), dtype=dout.dtype)                 # 0 at the wrapped columns
            D[..., :out_w] = G[a:b].transpose(1, 0, 2, 3)
            dW = (U @ D.reshape(FN, -1).T).T
            cols, Wg = unfold_rows(G[a:b], FH, FW, p)                          # dout, padded by FH-1-pad
            np.copyto(dx[a:b], rows_to_images(np.matmul(W_flip, cols), Wg, W))
            return dW, G[a:b].sum(axis=(0, 2, 3))

        per_sample = max(C, FN) * FH * FW * max(out_h, H) * (max(out_w, W) + FW - 1) * x.itemsize
        parts = fast.over_batch(work, N, per_sample)
        dW, db = parts[0]
        for dW_k, db_k in parts[1:]:
            dW, db = dW + dW_k, db + db_k
        self.dW, self.db = np.ascontiguousarray(dW.reshape(FN, C, FH, FW)), db
        return dx


def check() -> float:
    """The largest relative difference to the book's Convolution over a few shapes, float64."""
    rng = np.random.default_rng(0)
    worst = 0.0
    for N, C, H, FN, F, pad in [(7, 16, 28, 16, 3, 1), (5, 4, 20, 8, 3, 1), (9, 3, 17, 4, 3, 1), (4, 4, 16, 8, 5, 2)]:
        W, b = rng.standard_normal((FN, C, F, F)), rng.standard_normal(FN)
        x = rng.standard_normal((N, C, H, H))
        book, rows = layers.Convolution(W, b, 1, pad), RowsConvolution(W, b, 1, pad)
        assert rows._rows(x.shape), (N, C, H, FN, F, pad)
        y = book.forward(x)
        d = rng.standard_normal(y.shape)
        pairs = [(y, rows.forward(x)), (book.backward(d), rows.backward(d)), (book.dW, rows.dW), (book.db, rows.db)]
        for ref, got in pairs:
            worst = max(worst, float(np.abs(ref - got).max() / np.abs(ref).max()))
    return worst


def best_us(f, reps: int = 200) -> float:
    f()
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(reps):
            f()
        times.append((time.perf_counter() - t0) / reps)
    return 1e6 * min(times)


def slice_pieces() -> list[tuple[str, float, float]]:
    """One 4-image slice of Conv2 (float32, one thread): the copies and products, both ways (best of 7, us)."""
    rng = np.random.default_rng(0)
    n, C, FN, H = 4, 16, 16, 28
    x = rng.random((n, C, H, H), dtype=np.float32)
    G = rng.random((n, FN, H, H), dtype=np.float32)
    W = rng.random((FN, C * 9), dtype=np.float32)
    U_old, U_new = fast.unfold(x, 3, 3, 1, 1), unfold_rows(x, 3, 3, 1, side_by_side=True)[0]
    D_old = G.reshape(n, FN, -1).transpose(1, 0, 2).reshape(FN, -1)
    D_new = np.zeros((FN, n, H, H + 2), np.float32)
    D_new[..., :H] = G.transpose(1, 0, 2, 3)
    D_new = D_new.reshape(FN, -1)
    c_old, c_new = fast.unfold_images(x, 3, 3, 1, 1), unfold_rows(x, 3, 3, 1)[0]
    return [
        ("patches of x, per image (forward)", best_us(lambda: fast.unfold_images(x, 3, 3, 1, 1)),
         best_us(lambda: unfold_rows(x, 3, 3, 1))),
        ("forward product W @ patches", best_us(lambda: np.matmul(W, c_old)), best_us(lambda: np.matmul(W, c_new))),
        ("patches of x, side by side (dW)", best_us(lambda: fast.unfold(x, 3, 3, 1, 1)),
         best_us(lambda: unfold_rows(x, 3, 3, 1, side_by_side=True))),
        ("dW product", best_us(lambda: U_old @ D_old.T), best_us(lambda: U_new @ D_new.T)),
    ]


def rows_net(**kwargs) -> DeepConvNet:
    """A DeepConvNet whose channels-first convolutions take whole-row patches (its Conv2 only, as the
    rule picks layouts today)."""
    net = DeepConvNet(**kwargs)
    h = np.zeros((1, *kwargs.get("input_dim", (1, 28, 28))), dtype=net.dtype)   # one image: each layer's input shape
    for _, layer, out in net.layer_outputs(h):
        if type(layer) is fast.FastConvolution and RowsConvolution._rows(layer, h.shape):
            layer.__class__ = RowsConvolution
        h = out
    return net


@contextlib.contextmanager
def rows_in_parts():
    """Let BatchParts take RowsConvolution as one of a network's part-by-part layers, as it takes
    FastConvolution (it accepts only exact classes); undone on the way out."""
    saved = fast.parts.PER_SAMPLE
    fast.parts.PER_SAMPLE = (*saved, RowsConvolution)
    try:
        yield
    finally:
        fast.parts.PER_SAMPLE = saved


def steps(reps: int) -> tuple[float, float, float]:
    """DeepConvNet training steps (float32, batch 100, Adam), the variants alternating step by step:
    median step of FastConvolution, of RowsConvolution (ms), and the median ratio of adjacent pairs."""
    rng = np.random.default_rng(0)
    x, t = rng.random((100, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 100)
    nets = {"fast": DeepConvNet(dtype=np.float32, seed=0), "rows": rows_net(dtype=np.float32, seed=0)}
    opts = {v: Adam(lr=0.001) for v in nets}
    times: dict[str, list[float]] = {v: [] for v in nets}
    with rows_in_parts():
        for rep in range(reps + 3):
            for v in (("fast", "rows") if rep % 2 else ("rows", "fast")):
                t0 = time.perf_counter()
                opts[v].update(nets[v].params, nets[v].gradient(x, t))
                if rep >= 3:
                    times[v].append(time.perf_counter() - t0)
    ratio = statistics.median(r / f for r, f in zip(times["rows"], times["fast"]))
    return 1e3 * statistics.median(times["fast"]), 1e3 * statistics.median(times["rows"]), ratio


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=40, help="timed steps per variant (default 40)")
    p.add_argument("--steps-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.steps_only:                          # a child process, with its thread setting in the environment
        fast_ms, rows_ms, ratio = steps(args.reps)
        print(f"{fast_ms:.1f} {rows_ms:.1f} {ratio:.3f}")
        return 0
    print(f"largest relative difference to the book's Convolution (float64): {check():.1e}")
    print("\none 4-image slice of Conv2, one thread (best of 7, us): common.fast / whole rows")
    with fast.config.blas_single_threaded():
        pieces = slice_pieces()
    for name, old, new in pieces:
        print(f"  {name:36s} {old:7.1f} / {new:7.1f}")
    print("\nDeepConvNet steps, the variants alternating (median ms): common.fast / whole rows, median pair ratio")
    for label, env in (("1 thread", {"OPENBLAS_NUM_THREADS": "1", "DLFS_THREADS": "1"}), ("default threads", {})):
        child_env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "DLFS_THREADS")}
        out = subprocess.run([sys.executable, __file__, "--steps-only", "--reps", str(args.reps)], check=True,
                             env={**child_env, **env}, capture_output=True, text=True).stdout.split()
        print(f"  {label:16s} {out[0]} / {out[1]} ms, {out[2]}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
