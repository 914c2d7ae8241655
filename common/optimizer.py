"""Parameter-update rules (book section 6.1).

Every optimizer has ``update(params, grads)`` where both are dicts of arrays with the same keys,
and changes each ``params[key]`` *in place* (``-=``, ``[...] =``). In place matters: the layers hold
references to those very arrays, so rebinding ``params[key] = params[key] - ...`` would leave the
layers computing with the old weights.

State (velocities, squared-gradient sums) is created lazily on the first update with
``if self.v is None`` — never ``if self.v == None``, which compares element-wise on arrays.

Hyperparameters are checked when an optimizer is made: ``lr`` must be a positive number, ``momentum``,
``beta1``, ``beta2`` and ``decay_rate`` must lie in [0, 1), ``eps`` must not be negative. A string such as
``'0.1'``, a negative ``lr`` or a momentum of 1 (a velocity that never decays) is refused, naming it.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

from common.backend import np     # NumPy (or CuPy with DLFS_DEVICE=gpu)

Params = dict[str, np.ndarray]


def _number(owner: Any, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{type(owner).__name__}: {name} must be a number, got {value!r} ({type(value).__name__})")


def positive(owner: Any, name: str, value: Any) -> Any:
    """``value`` if it is a finite number > 0 (a learning rate), else a clear error."""
    _number(owner, name, value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{type(owner).__name__}: {name} must be a positive number, got {value!r} "
                         f"(the book uses lr=0.01 for SGD, 0.001 for Adam)")
    return value


def non_negative(owner: Any, name: str, value: Any) -> Any:
    """``value`` if it is a finite number >= 0 (an eps), else a clear error."""
    _number(owner, name, value)
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{type(owner).__name__}: {name} must be a non-negative number, got {value!r}")
    return value


def fraction(owner: Any, name: str, value: Any) -> Any:
    """``value`` if it lies in [0, 1) (a momentum or decay rate), else a clear error."""
    _number(owner, name, value)
    if not 0 <= value < 1:
        raise ValueError(f"{type(owner).__name__}: {name} must be in [0, 1), got {value!r} (0.9 is usual; at 1 or "
                         f"more the remembered velocity or average never fades and the steps grow without bound)")
    return value


def _check(params: Params, grads: Params) -> None:
    for key, p in params.items():
        if key not in grads:
            raise KeyError(f"optimizer: no gradient for parameter {key!r}")
        if grads[key].shape != p.shape:
            raise ValueError(f"optimizer: gradient {key!r} has shape {grads[key].shape} but the parameter has {p.shape}")


class SGD:
    """W <- W - lr * dW."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = positive(self, "lr", lr)

    def update(self, params: Params, grads: Params) -> None:
        _check(params, grads)
        for key in params:
            params[key] -= self.lr * grads[key]


class Momentum:
    """v <- momentum * v - lr * dW;  W <- W + v.  A ball rolling downhill that keeps its speed."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr, self.momentum = positive(self, "lr", lr), fraction(self, "momentum", momentum)
        self.v: Params | None = None

    def update(self, params: Params, grads: Params) -> None:
        _check(params, grads)
        if self.v is None:
            self.v = {key: np.zeros_like(p) for key, p in params.items()}
        for key in params:
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]
            params[key] += self.v[key]


class Nesterov:
    """Nesterov's accelerated gradient: momentum with a look-ahead, in the usual re-parametrised form.

    v <- momentum * v - lr * dW
    W <- W + momentum * v - lr * dW      (= W + momentum^2 * v_old - (1 + momentum) * lr * dW)
    """

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr, self.momentum = positive(self, "lr", lr), fraction(self, "momentum", momentum)
        self.v: Params | None = None

    def update(self, params: Params, grads: Params) -> None:
        _check(params, grads)
        if self.v is None:
            self.v = {key: np.zeros_like(p) for key, p in params.items()}
        for key in params:
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]
            params[key] += self.momentum * self.v[key] - self.lr * grads[key]


class AdaGrad:
    """h <- h + dW * dW;  W <- W - lr * dW / (sqrt(h) + eps).

    Each parameter gets its own step size, shrinking as its squared gradients pile up. On the first
    update h = dW * dW, so each step is lr * dW / (|dW| + eps): at most lr in size, whatever the
    gradient's scale. ``eps`` sits *outside* the square root (the book's choice) and only guards
    against dividing by zero; ``sqrt(h + eps)`` would be a slightly different, equally valid variant.
    """

    def __init__(self, lr: float = 0.01, eps: float = 1e-7) -> None:
        self.lr, self.eps = positive(self, "lr", lr), non_negative(self, "eps", eps)
        self.h: Params | None = None

    def update(self, params: Params, grads: Params) -> None:
        _check(params, grads)
        if self.h is None:
            self.h = {key: np.zeros_like(p) for key, p in params.items()}
        for key in params:
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + self.eps)


class RMSprop:
    """AdaGrad that forgets: h <- decay * h + (1 - decay) * dW^2;  W <- W - lr * dW / (sqrt(h) + eps).

    The exponential moving average remembers only recent gradients, so the step size no longer
    decays to zero over a long run.
    """

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99, eps: float = 1e-7) -> None:
        self.lr, self.decay_rate = positive(self, "lr", lr), fraction(self, "decay_rate", decay_rate)
        self.eps = non_negative(self, "eps", eps)
        self.h: Params | None = None

    def update(self, params: Params, grads: Params) -> None:
        _check(params, grads)
        if self.h is None:
            self.h = {key: np.zeros_like(p) for key, p in params.items()}
        for key in params:
            self.h[key] *= self.decay_rate
            self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + self.eps)


class Adam:
    """Momentum (first moment m) plus RMSprop (second moment v), with bias correction.

    m <- beta1 * m + (1 - beta1) * dW
    v <- beta2 * v + (1 - beta2) * dW^2
    m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)      (m, v start at 0: undo that bias)
    W <- W - lr * m_hat / (sqrt(v_hat) + eps)
    """

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr, self.eps = positive(self, "lr", lr), non_negative(self, "eps", eps)
        self.beta1, self.beta2 = fraction(self, "beta1", beta1), fraction(self, "beta2", beta2)
        self.iter = 0
        self.m: Params | None = None
        self.v: Params | None = None

    def update(self, params: Params, grads: Params) -> None:
        _check(params, grads)
        if self.m is None:
            self.m = {key: np.zeros_like(p) for key, p in params.items()}
            self.v = {key: np.zeros_like(p) for key, p in params.items()}
        self.iter += 1
        b1, b2 = self.beta1, self.beta2
        # fold both bias corrections into one step size (a Python float, so float32 stays float32)
        lr_t = self.lr * np.sqrt(1.0 - b2 ** self.iter) / (1.0 - b1 ** self.iter)
        eps_t = self.eps * np.sqrt(1.0 - b2 ** self.iter)
        for key in params:
            g, m, v = grads[key], self.m[key], self.v[key]
            m += (1 - b1) * (g - m)
            v += (1 - b2) * (g * g - v)
            # W -= lr_t * m / (sqrt(v) + eps_t), in the same order with two arrays instead of four
            step = m * float(lr_t)
            denominator = np.sqrt(v)
            denominator += float(eps_t)
            step /= denominator
            params[key] -= step


OPTIMIZERS = {
    "sgd": SGD, "momentum": Momentum, "nesterov": Nesterov,
    "adagrad": AdaGrad, "rmsprop": RMSprop, "adam": Adam,
}


def make_optimizer(name: str, **kwargs) -> SGD | Momentum | Nesterov | AdaGrad | RMSprop | Adam:
    """Build an optimizer by (case-insensitive) name, e.g. ``make_optimizer("adam", lr=1e-3)``."""
    try:
        cls = OPTIMIZERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}") from None
    return cls(**kwargs)
