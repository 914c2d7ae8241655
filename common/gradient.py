"""Numerical differentiation and gradient descent (sections 4.3-4.4), and the gradient check (5.7.3).

These are the slow, obviously-correct tools: every analytic gradient in the lab (chapter 5's
backpropagation) is checked against :func:`numerical_gradient` with :func:`gradient_check`.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np


def _require_float(x: np.ndarray, who: str) -> None:
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{who} needs a floating-point array, got dtype {x.dtype}. "
            f"Storing x + h or x - h in an integer array truncates it (3 + 1e-4 -> 3, 3 - 1e-4 -> 2), "
            f"so the differences are wildly wrong. Convert first, e.g. x.astype(np.float64)."
        )


def numerical_diff(f: Callable[[float], float], x: float, h: float = 1e-4) -> float:
    """Central difference (f(x + h) - f(x - h)) / 2h: error O(h^2), versus O(h) for the forward one.

    h = 1e-4 balances truncation error (large h) against rounding error (tiny h; h = 1e-50 even
    underflows to x + h == x in float64).
    """
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Gradient of a scalar function f at x by central differences, for a float array of any shape.

    f: takes x (or reads it through a closure) and returns a scalar.
    x: float array, shape (...). It is perturbed in place one element at a time and restored
       exactly, so ``f`` may read the very array that a network holds as a parameter.
    Returns: an array of x's shape and dtype with df/dx[i] at each index i.

    We iterate with ``np.nditer(..., flags=['multi_index'])`` so 1-D, 2-D (weights) and 4-D
    (convolution filters) arrays are all handled; ``range(x.size)`` with ``x[i]`` would index rows,
    not elements, of a 2-D array.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"numerical_gradient needs a NumPy array, got {type(x).__name__}")
    _require_float(x, "numerical_gradient")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        original = x[idx].copy()                 # a 0-d copy, not a view
        x[idx] = original + h
        f_plus = float(f(x))
        x[idx] = original - h
        f_minus = float(f(x))
        x[idx] = original                        # restore exactly
        grad[idx] = (f_plus - f_minus) / (2 * h)
        it.iternext()
    return grad


def gradient_descent(
    f: Callable[[np.ndarray], float],
    init_x: np.ndarray,
    lr: float = 0.01,
    step_num: int = 100,
    return_path: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Minimise f by x <- x - lr * grad f(x), starting from init_x, for step_num steps.

    init_x: float array of any shape; it is *copied*, never modified (the book's version updates it
            in place, so the caller's start point silently moves).
    Returns the final x, or (x, path) with path of shape (step_num + 1, *x.shape) when
    ``return_path=True`` (row 0 is the start point).
    """
    x = np.array(init_x, copy=True)
    _require_float(x, "gradient_descent")
    path = [x.copy()]
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
        if return_path:
            path.append(x.copy())
    if return_path:
        return x, np.array(path)
    return x


def rel_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-8) -> float:
    """Relative error ||a - b|| / max(||a|| + ||b||, floor): 0 when equal, about 1 when unrelated.

    Scale-free, so one threshold works for every parameter: a correct float64 backprop gives about
    1e-8 or less against a central-difference gradient; a bug gives something near 0.1 .. 1 (a
    gradient off by a factor N gives about 0.5 or more). The ``floor`` treats two gradients that are
    both ~0 (e.g. a bias followed by batch norm, which cancels it exactly) as equal instead of
    dividing rounding noise by rounding noise.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(float(np.linalg.norm(a) + np.linalg.norm(b)), floor))


def gradient_check(net: Any, x: np.ndarray, t: np.ndarray,
                   numerical: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Compare ``net.gradient`` (backprop) with ``net.numerical_gradient``, parameter by parameter.

    x: (N, ...) inputs, t: (N,) labels; keep N small, the numerical side is slow. Pass a
    precomputed ``numerical`` dict to avoid recomputing it. Returns {param name: relative error}.
    """
    if numerical is None:
        numerical = net.numerical_gradient(x, t)
    backprop = net.gradient(x, t)
    return {key: rel_error(backprop[key], numerical[key]) for key in net.params}
