"""Winograd F(2x2, 3x3) for DeepConvNet's 3x3 convolutions, measured against common.fast (forward only).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/winograd.py [--reps 20]

Winograd's minimal filtering computes each 2x2 block of outputs from a 4x4 block of input with 16
multiplications per (filter, channel) instead of the 36 of the direct 3x3 convolution (2.25x fewer):

    V = B^T d B   (each 4x4 input tile d, per channel)          U = G g G^T   (each 3x3 filter g)
    M = U . V     (16 matrix products (FN, C) @ (C, tiles))     Y = A^T M A   (each 2x2 output tile)

This prototype works a slice of images at a time, as common.fast does, does the transforms with NumPy additions over strided views and the 16 products as one
batched matmul, checks its output against the book's ``Convolution`` in float64, and times it against
``FastConvolution.forward`` on one thread, for a batch of 100 images at DeepConvNet's shapes. It is a
measurement, not a layer of the lab: common.fast keeps it only if it pays (see the README's speed section).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DLFS_THREADS", "1")

from common import fast, layers  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from run import median_time  # noqa: E402

G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def filter_transform(W: np.ndarray) -> np.ndarray:
    """U = G g G^T for every (filter, channel): (FN, C, 3, 3) -> (16, FN, C)."""
    U = np.einsum("ij,fcjk,lk->ilfc", G, W, G).astype(W.dtype)      # (4, 4, FN, C)
    return U.reshape(16, *W.shape[:2])


def winograd_conv(x: np.ndarray, W: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    """Stride-1 3x3 convolution of x (N, C, H, W) by F(2x2, 3x3): (N, FN, OH, OW)."""
    N, C, H, Wd = x.shape
    FN = W.shape[0]
    OH, OW = H + 2 * pad - 2, Wd + 2 * pad - 2
    TH, TW = -(-OH // 2), -(-OW // 2)                                  # 2x2 output tiles down and across
    img = np.zeros((C, N, 2 * TH + 2, 2 * TW + 2), dtype=x.dtype)      # channel first: V's rows are channels
    img[:, :, pad:pad + H, pad:pad + Wd] = x.transpose(1, 0, 2, 3)
    s = img.strides
    d = np.lib.stride_tricks.as_strided(img, (C, N, TH, TW, 4, 4), (s[0], s[1], 2 * s[2], 2 * s[3], s[2], s[3]))
    # B^T d: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3), then the same along the columns
    r = [d[..., 0, :] - d[..., 2, :], d[..., 1, :] + d[..., 2, :], d[..., 2, :] - d[..., 1, :],
         d[..., 1, :] - d[..., 3, :]]
    V = np.empty((4, 4, C, N * TH * TW), dtype=x.dtype)
    for i, ri in enumerate(r):
        ri = ri.reshape(C, N * TH * TW, 4)
        V[i, 0], V[i, 1] = ri[..., 0] - ri[..., 2], ri[..., 1] + ri[..., 2]
        V[i, 2], V[i, 3] = ri[..., 2] - ri[..., 1], ri[..., 1] - ri[..., 3]
    M = np.matmul(filter_transform(W), V.reshape(16, C, -1)).reshape(4, 4, FN, N, TH, TW)
    # A^T M A: rows (m0 + m1 + m2, m1 - m2 - m3), then the same along the columns
    t = [M[0] + M[1] + M[2], M[1] - M[2] - M[3]]
    out = np.empty((N, FN, 2 * TH, 2 * TW), dtype=x.dtype)
    o = out.reshape(N, FN, TH, 2, TW, 2).transpose(3, 5, 1, 0, 2, 4)  # (2, 2, FN, N, TH, TW) view
    for i, ti in enumerate(t):
        o[i, 0] = ti[0] + ti[1] + ti[2]
        o[i, 1] = ti[1] - ti[2] - ti[3]
    out = out[:, :, :OH, :OW]
    return out + b[:, None, None]


def winograd_in_slices(x: np.ndarray, W: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    """winograd_conv a few images at a time (common.fast's slices: the tiles stay in the cache)."""
    N, C, H, Wd = x.shape
    out = np.empty((N, W.shape[0], H + 2 * pad - 2, Wd + 2 * pad - 2), dtype=x.dtype)

    def work(a: int, b_: int) -> None:
        out[a:b_] = winograd_conv(x[a:b_], W, b, pad)

    # V holds 16 numbers per channel per 2x2 tile: 4 per input pixel
    fast.over_batch(work, N, 4 * C * (H + 2 * pad) * (Wd + 2 * pad) * x.itemsize)
    return out


def median_ms(f, reps: int) -> float:
    return 1e3 * median_time(f, reps, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    # DeepConvNet's 3x3 layers after the first: (C, FN, H, pad)
    shapes = [(16, 16, 28, 1), (16, 32, 14, 1), (32, 32, 14, 2), (32, 64, 8, 1), (64, 64, 8, 1)]
    print("| layer input | C -> FN | common.fast forward | Winograd forward | Winograd / fast | max rel. error (float64) |")
    print("|---|---|---|---|---|---|")
    total_fast = total_wino = 0.0
    for C, FN, H, pad in shapes:
        x64, W64, b64 = rng.standard_normal((4, C, H, H)), rng.standard_normal((FN, C, 3, 3)), rng.standard_normal(FN)
        ref = layers.Convolution(W64, b64, 1, pad).forward(x64)
        err = np.abs(winograd_conv(x64, W64, b64, pad) - ref).max() / np.abs(ref).max()
        x = rng.random((100, C, H, H), dtype=np.float32)
        W, b = W64.astype(np.float32), b64.astype(np.float32)
        conv = fast.FastConvolution(W, b, 1, pad)
        t_fast = median_ms(lambda: conv.forward(x), args.reps)
        assert np.allclose(winograd_in_slices(x, W, b, pad), conv.forward(x), rtol=1e-3, atol=1e-4)
        t_wino = median_ms(lambda: winograd_in_slices(x, W, b, pad), args.reps)
        total_fast += t_fast
        total_wino += t_wino
        print(f"| {H}x{H} | {C} -> {FN} | {t_fast:.2f} ms | {t_wino:.2f} ms | {t_wino / t_fast:.2f}x | {err:.1e} |")
    print(f"| all five | | {total_fast:.1f} ms | {total_wino:.1f} ms | {total_wino / total_fast:.2f}x | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
