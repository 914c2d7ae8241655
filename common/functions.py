"""Activation functions, softmax and loss functions (book chapters 3 and 4).

Every function here works on a single sample *and* on a batch:

- a single sample is a 1-D array of shape (C,)
- a batch is a 2-D array of shape (N, C), one row per sample

and keeps the dtype it is given (float32 stays float32).
"""
from __future__ import annotations

import numpy

from common.backend import np     # NumPy (or CuPy with DLFS_DEVICE=gpu): same API


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------
def identity_function(x: np.ndarray) -> np.ndarray:
    """h(x) = x, the output activation for regression."""
    return x


def step_function(x: np.ndarray) -> np.ndarray:
    """h(x) = 1 if x > 0 else 0, element-wise; returns integers (``int``, not the removed ``np.int``).

    ``x > 0`` is a boolean array; ``.astype(int)`` turns True/False into 1/0.
    """
    return (np.asarray(x) > 0).astype(int)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """h(x) = 1 / (1 + exp(-x)), element-wise, without overflow warnings for large |x|.

    For x < 0 we use the equal form exp(x) / (1 + exp(x)), so exp never sees a large positive number.
    """
    x = np.asarray(x)
    if not numpy.issubdtype(x.dtype, numpy.floating):
        x = x.astype(np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """d sigmoid / dx = sigmoid(x) * (1 - sigmoid(x))."""
    s = sigmoid(x)
    return s * (1.0 - s)


def relu(x: np.ndarray) -> np.ndarray:
    """h(x) = max(0, x), element-wise.

    ``np.maximum(0, x)`` compares element by element. ``np.max(0, x)`` would be a *reduction* of the
    scalar 0 along axis ``x`` — a classic bug.
    """
    return np.maximum(0, x)


def relu_grad(x: np.ndarray) -> np.ndarray:
    """d relu / dx: 1 where x > 0, else 0 (we take 0 at x == 0), same dtype as x."""
    x = np.asarray(x)
    return (x > 0).astype(x.dtype if numpy.issubdtype(x.dtype, numpy.floating) else np.float64)


# ---------------------------------------------------------------------------------------------
# Output layer
# ---------------------------------------------------------------------------------------------
def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis: shape (C,) -> (C,), or (N, C) -> (N, C), rows summing to 1.

    Overflow-safe: softmax(a) == softmax(a - c) for any constant c, so we subtract each row's max
    before ``exp``. The largest exponent is then exp(0) = 1 and nothing overflows to inf/nan.

    For a batch the max and the sum are taken per row: ``axis=-1, keepdims=True`` keeps them as an
    (N, 1) column that broadcasts against (N, C). Without ``keepdims`` (or with ``axis=None``) every
    row would be divided by the whole batch's sum.
    """
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("softmax needs at least one class axis; got a scalar")
    shifted = x - np.max(x, axis=-1, keepdims=True)      # (N, C) - (N, 1)  -> (N, C)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)         # (N, C) / (N, 1)  -> (N, C)


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------
def sum_squared_error(y: np.ndarray, t: np.ndarray) -> float:
    """E = 1/2 * sum (y - t)^2 over all elements (the book's definition, not averaged).

    y, t: the same shape, (C,) or (N, C). t must be one-hot here.
    """
    y, t = np.asarray(y), np.asarray(t)
    if y.shape != t.shape:
        raise ValueError(f"sum_squared_error: y has shape {y.shape} but t has shape {t.shape}")
    return 0.5 * float(np.sum((y - t) ** 2))


def check_target_rows(t: np.ndarray, num_classes: int) -> np.ndarray:
    """Return targets given as rows (N, C) — one-hot, or soft like label smoothing — after checking them.

    Each row must be a probability vector: no negative entry, summing to 1 (within 1e-3). Anything
    else is refused with a ``ValueError`` naming the first bad row. An all-zero row, the usual culprit,
    is a sample whose class was lost when the one-hot matrix was built; argmax would silently call it 0.
    """
    t = np.asarray(t)
    if t.shape[1] != num_classes:
        raise ValueError(f"one-hot targets have {t.shape[1]} columns but the output has {num_classes}"
                         + ("; a column of labels should be passed as t.ravel()" if t.shape[1] == 1 else ""))
    bad = _first_bad_row(t)
    if bad:
        i, why = bad
        raise ValueError(f"target row {i} is not a probability vector: {why}. One-hot and soft target rows must "
                         f"be non-negative and sum to 1 (an all-zero row is a sample whose class was lost). Fix "
                         f"that row, or pass integer labels of shape (N,).")
    return t


def _first_bad_row(a: np.ndarray) -> tuple[int, str] | None:
    """(index, what is wrong) of the first row of ``a`` that is not a probability vector, or None.

    A probability vector has no negative entry and sums to 1 (within 1e-3, for rounding).
    """
    sums = a.sum(axis=1)
    bad = ~np.isfinite(sums) | (np.abs(sums - 1) > 1e-3) | np.any(a < 0, axis=1)
    if not np.any(bad):
        return None
    i = int(np.flatnonzero(bad)[0])
    row = a[i]
    why = ("it holds NaN or inf" if not np.all(np.isfinite(row)) else
           f"it has a negative entry ({float(row.min()):.4g})" if np.any(row < 0) else
           f"its entries sum to {float(row.sum()):.4g}")
    return i, why


def labels_from_targets(t: np.ndarray, num_classes: int) -> np.ndarray:
    """Return integer class labels (N,) for targets given as labels (N,) or rows (N, C).

    Rows are checked by :func:`check_target_rows`; a soft row's label is its most probable class.
    """
    t = np.asarray(t)
    if t.ndim == 2:
        return check_target_rows(t, num_classes).argmax(axis=1)
    if t.ndim != 1:
        raise ValueError(f"targets must be labels (N,) or one-hot (N, C); got shape {t.shape}")
    if not numpy.issubdtype(t.dtype, numpy.integer):
        if not np.all(t == np.round(t)):
            raise TypeError(f"label targets must be whole numbers, got dtype {t.dtype}")
        t = t.astype(np.intp)
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got min {t.min()}, max {t.max()}")
    return t


def cross_entropy_error(y: np.ndarray, t: np.ndarray, eps: float = 1e-7) -> float:
    """Mean cross-entropy E = -1/N * sum_n sum_k t[n, k] log y[n, k] of probabilities y.

    y: probabilities, shape (C,) for one sample or (N, C) for a batch; rows that are not probability
       vectors (scores passed without softmax) are refused.
    t: labels, shape () / (N,); or rows, shape (C,) / (N, C): one-hot, or soft (any probability
       vectors, e.g. label smoothing). For a label, or a one-hot row, the sum over k keeps one term,
       -log y[n, t_n]: labels and one-hot rows give exactly the same value. Rows that are not
       probability vectors (all zeros, negative, not summing to 1) are refused, naming the row.

    A single sample is reshaped to a batch of one, so N = 1 and nothing is averaged away.
    ``eps`` keeps log(0) = -inf out. We take log(max(y, eps)) rather than the book's log(y + eps):
    the book's form gives a slightly *negative* loss, -log(1 + eps), for a perfect prediction.

    The loss is never negative, since 0 < y <= 1. A negative value means y is not a probability
    (for example a "stable" softmax that shifted its input and then exponentiated the unshifted one).
    """
    y = np.asarray(y)
    t = np.asarray(t)
    if y.ndim == 1:
        y = y.reshape(1, -1)
        t = t.reshape(1, -1) if t.ndim == 1 and t.size == y.shape[1] and t.size > 1 else t.reshape(-1)
    if y.ndim != 2:
        raise ValueError(f"cross_entropy_error: y must be (C,) or (N, C), got shape {y.shape}")
    n = y.shape[0]
    if n == 0:
        raise ValueError("cross_entropy_error: the batch is empty (N = 0); the mean loss of no samples is undefined")
    if t.shape[:1] != (n,):
        raise ValueError(f"cross_entropy_error: y has {n} samples but t has shape {t.shape}")
    bad = _first_bad_row(y)
    if bad:
        raise ValueError(f"cross_entropy_error: y row {bad[0]} is not a probability vector: {bad[1]}. y must be "
                         f"probabilities: pass softmax(scores), not the scores themselves.")
    log_y = np.log(np.maximum(y, eps))
    if t.ndim == 2:                                        # rows: -sum_k t[n, k] log y[n, k]
        per_sample = -np.sum(check_target_rows(t, y.shape[1]) * log_y, axis=1)
    else:                                                  # labels: -log y[n, t_n]
        per_sample = -log_y[np.arange(n), labels_from_targets(t, y.shape[1])]
    return float(np.sum(per_sample) / n)
