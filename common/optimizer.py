"""Parameter-update rules (book section 6.1).

Every optimizer has ``update(params, grads)`` where both are dicts of arrays with the same keys,
and changes each ``params[key]`` *in place* (``-=``, ``[...] =``). In place matters: the layers hold
references to those very arrays, so rebinding ``params[key] = params[key] - ...`` would leave the
layers computing with the old weights.

State (velocities, squared-gradient sums) is created lazily on the first update with
``if self.v is None`` — never ``if self.v == None``, which compares element-wise on arrays.
"""
from __future__ import annotations

from common.backend import np     # NumPy (or CuPy with DLFS_DEVICE=gpu)

Params = dict[str, np.ndarray]


def _check(params: Params, grads: Params) -> None:
    for key, p in params.items():
        if key not in grads:
            raise KeyError(f"optimizer: no gradient for parameter {key!r}")
        if grads[key].shape != p.shape:
            raise ValueError(f"optimizer: gradient {key!r} has shape {grads[key].shape} but the parameter has {p.shape}")


class SGD:
    """W <- W - lr * dW."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params: Params, grads: Params) -> None:
        _check(params, grads)
        for key in params:
            params[key] -= self.lr * grads[key]


class Momentum:
    """v <- momentum * v - lr * dW;  W <- W + v.  A ball rolling downhill that keeps its speed."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr, self.momentum = lr, momentum
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
        self.lr, self.momentum = lr, momentum
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

    Each parameter gets its own step size, shrinking as its squared gradients pile up. ``eps`` sits
    *outside* the square root (the book's choice), so the step is at most lr * dW / eps at the start;
    ``sqrt(h + eps)`` would be a slightly different, equally valid variant.
    """

    def __init__(self, lr: float = 0.01, eps: float = 1e-7) -> None:
        self.lr, self.eps = lr, eps
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
        self.lr, self.decay_rate, self.eps = lr, decay_rate, eps
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
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
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
            g = grads[key]
            self.m[key] += (1 - b1) * (g - self.m[key])
            self.v[key] += (1 - b2) * (g * g - self.v[key])
            params[key] -= float(lr_t) * self.m[key] / (np.sqrt(self.v[key]) + float(eps_t))


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
