"""Helpers for the gradient-check tests: numerical derivatives at chosen indices (the error measure is
``common.gradient.rel_error``)."""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np


def sample_indices(shape: tuple[int, ...], k: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Up to k distinct multi-indices into an array of the given shape (all of them if it is small)."""
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= k else rng.choice(size, size=k, replace=False)
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat]


def numerical_at(f: Callable[[], float], x: np.ndarray, indices: Iterable[tuple[int, ...]], h: float = 1e-5
                 ) -> np.ndarray:
    """Central differences of f() with respect to x[idx] for the given indices (x perturbed in place)."""
    out = []
    for idx in indices:
        old = x[idx].copy()
        x[idx] = old + h
        fp = f()
        x[idx] = old - h
        fm = f()
        x[idx] = old
        out.append((fp - fm) / (2 * h))
    return np.array(out)
