"""Chapter 5 experiments: gradient checks, planted bugs, and timing backprop against numerical gradients.

- :func:`rel_error`, :func:`gradient_check`     backprop vs numerical gradient, one number per parameter
- :class:`AffineDxForX`, :class:`AffineNoBias`  the reader's two bugs, planted on purpose
- :func:`swap_affine_layers`                    put a (buggy) Affine class into an existing network
- :func:`median_seconds`, :func:`time_gradients` how much faster backpropagation is, and why
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from common.layers import Affine


def rel_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-12) -> float:
    """Relative error ||a - b|| / (||a|| + ||b||), between 0 (equal) and 1 (unrelated or one is 0).

    Scale-free, so one threshold works for every parameter: a correct float64 backprop gives about
    1e-8 or less against a central-difference gradient; a bug gives something near 0.1 .. 1.
    ``floor`` avoids 0/0 when both gradients are exactly zero.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), floor))


def gradient_check(net: Any, x: np.ndarray, t: np.ndarray,
                   numerical: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Compare ``net.gradient`` (backprop) with ``net.numerical_gradient`` parameter by parameter.

    x: (N, D) inputs, t: (N,) labels. Pass a precomputed ``numerical`` dict to avoid recomputing the
    slow part. Returns {param name: relative error}.
    """
    if numerical is None:
        numerical = net.numerical_gradient(x, t)
    backprop = net.gradient(x, t)
    return {key: rel_error(backprop[key], numerical[key]) for key in net.params}


# ---------------------------------------------------------------------------------------------
# The reader's bugs, planted on purpose
# ---------------------------------------------------------------------------------------------
class AffineDxForX(Affine):
    """BUG: dW is computed from the wrong variable — the gradient dx instead of the input x.

    ``dW = dx.T @ dout`` has the right shape (D, M) whenever x and dx do, so nothing crashes; the
    values are simply wrong (and tiny, since dx is small). Training with it stalls.
    """

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = dout @ self.W.T
        self.dW = dx.T @ dout          # should be self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dx.reshape(self.original_x_shape)


class AffineNoBias(Affine):
    """BUG: the forward pass forgets "+ b"; backward still reports db = sum(dout).

    The loss no longer depends on b, so the numerical gradient for b is exactly 0 while backprop
    claims otherwise: the gradient check flags b1 and b2 with relative error 1.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W                 # should be self.x @ self.W + self.b


def swap_affine_layers(net: Any, layer_cls: type[Affine]) -> Any:
    """Replace every ``Affine`` layer of ``net`` by ``layer_cls(W, b)`` on the *same* parameter arrays.

    The network's gradient bookkeeping is re-pointed to the new layers, so ``net.gradient`` reads
    their dW/db. Returns ``net`` (changed in place).
    """
    for name, layer in list(net.layers.items()):
        if isinstance(layer, Affine):
            new = layer_cls(layer.W, layer.b)
            net.layers[name] = new
            i = name.removeprefix("Affine")
            net._grad_source[f"W{i}"] = (new, "dW")
            net._grad_source[f"b{i}"] = (new, "db")
    return net


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------
def median_seconds(fn: Callable[[], Any], repeats: int = 5,
                   clock: Callable[[], float] = time.process_time) -> float:
    """Median time of ``fn()`` over ``repeats`` calls (the median ignores one-off hiccups).

    ``clock`` defaults to ``time.process_time``: the CPU time of this process, so other programs
    competing for a shared machine do not inflate the measurement. Pass ``time.perf_counter`` for
    wall-clock time.
    """
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return float(np.median(times))


def time_gradients(net: Any, x: np.ndarray, t: np.ndarray, backprop_repeats: int = 21,
                   clock: Callable[[], float] = time.process_time) -> dict[str, Any]:
    """Time one numerical gradient and (the median of) backprop gradients on the same batch.

    Both are measured with the same ``clock`` (CPU time of this process by default, see
    :func:`median_seconds`). Returns numerical_s, backprop_s, ratio = numerical_s / backprop_s,
    n_params, forward_passes (= 2 * n_params: each parameter is nudged up and down, and each nudge
    costs a full forward pass), and the numerical gradient itself (``numerical``) so it can be
    reused for a check.
    """
    start = clock()
    numerical = net.numerical_gradient(x, t)
    numerical_s = clock() - start
    backprop_s = median_seconds(lambda: net.gradient(x, t), backprop_repeats, clock)
    n_params = int(sum(p.size for p in net.params.values()))
    return dict(numerical_s=numerical_s, backprop_s=backprop_s, ratio=numerical_s / backprop_s,
                n_params=n_params, forward_passes=2 * n_params, numerical=numerical)
