"""Data augmentation for images, in NumPy (book section 8.1.2).

New training images are made from old ones by changes that keep the label: small shifts and
small rotations of a digit are still the same digit. The network sees a slightly different
version of each image in every epoch, which fights overfitting.
"""
from __future__ import annotations

import numpy as np


def random_shift(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Shift each image by its own random (dy, dx) in [-max_shift, max_shift], filling with zeros.

    x: (N, C, H, W) -> same shape and dtype. Vectorised: pad every image by max_shift, then take
    one H x W crop per image at its own offset with fancy indexing (no loop over images).
    """
    if x.ndim != 4:
        raise ValueError(f"random_shift expects images (N, C, H, W); got {x.shape}")
    if max_shift == 0:
        return x.copy()
    N, C, H, W = x.shape
    s = max_shift
    padded = np.pad(x, [(0, 0), (0, 0), (s, s), (s, s)])
    oy = rng.integers(0, 2 * s + 1, size=N)          # crop offset = s - shift
    ox = rng.integers(0, 2 * s + 1, size=N)
    rows = oy[:, None] + np.arange(H)                # (N, H)
    cols = ox[:, None] + np.arange(W)                # (N, W)
    n = np.arange(N)[:, None, None, None]
    c = np.arange(C)[None, :, None, None]
    return padded[n, c, rows[:, None, :, None], cols[:, None, None, :]]


def rotate(x: np.ndarray, degrees: np.ndarray | float) -> np.ndarray:
    """Rotate each image about its centre by its angle (degrees, counter-clockwise), bilinear.

    x: (N, C, H, W); degrees: a scalar or (N,). Pixels that come from outside the image are 0.
    Each output pixel looks up where it came from (inverse mapping), so there are no holes.
    """
    if x.ndim != 4:
        raise ValueError(f"rotate expects images (N, C, H, W); got {x.shape}")
    N, C, H, W = x.shape
    theta = np.deg2rad(np.broadcast_to(np.asarray(degrees, dtype=np.float64), (N,)))
    cy, cx = (H - 1) / 2.0, (W - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(H) - cy, np.arange(W) - cx, indexing="ij")     # (H, W) each
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    # inverse rotation of the output grid gives source coordinates, (N, H, W) each
    # (rows grow downwards, so "counter-clockwise on screen" has these signs)
    src_y = cos * yy + sin * xx + cy
    src_x = -sin * yy + cos * xx + cx
    y0, x0 = np.floor(src_y).astype(int), np.floor(src_x).astype(int)
    wy, wx = (src_y - y0).astype(x.dtype), (src_x - x0).astype(x.dtype)
    out = np.zeros_like(x)
    n = np.arange(N)[:, None, None]
    for dy, dx, w in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx), (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        yi, xi = y0 + dy, x0 + dx
        inside = (yi >= 0) & (yi < H) & (xi >= 0) & (xi < W)
        vals = x[n, :, np.clip(yi, 0, H - 1), np.clip(xi, 0, W - 1)]             # (N, H, W, C)
        out += (vals * (w * inside)[..., None]).transpose(0, 3, 1, 2)
    return out


def shift_and_rotate(x: np.ndarray, rng: np.random.Generator, max_shift: int = 2, max_degrees: float = 10.0
                     ) -> np.ndarray:
    """The lab's standard augmentation: a random rotation in [-max_degrees, max_degrees], then a shift."""
    angles = rng.uniform(-max_degrees, max_degrees, size=len(x)) if max_degrees else 0.0
    rotated = rotate(x, angles) if max_degrees else x
    return random_shift(rotated, max_shift, rng)
