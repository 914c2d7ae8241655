"""Layers with an explicit forward and backward pass, as the book writes them (sections 5.4-5.6, 6.3-6.4, 7.4).

Read this file next to the book: MulLayer/AddLayer (5.4), Relu/Sigmoid (5.5), Affine and
SoftmaxWithLoss (5.6), Dropout (6.4.3), BatchNormalization (6.3), Convolution and Pooling (7.4),
each in the book's layout. The faster versions the networks train with are subclasses of these in
``common.fast``, tested equal to them.

Every layer follows one contract:

- ``forward(x)`` computes the output and keeps what backward will need;
- ``backward(dout)`` takes dL/d(output), returns dL/d(input) (``dx``, passed on to the previous
  layer) and, for layers with parameters, *stores* dL/d(parameter) in ``dW``, ``db`` (or
  ``dgamma``, ``dbeta``) for the optimizer. Two kinds of gradient: one to pass on, one to keep.

Shapes: a batch of vectors is (N, D); a batch of images is (N, C, H, W); a filter bank is
(FN, C, FH, FW). Layers keep the dtype they are given: float32 in gives float32 out.
"""
from __future__ import annotations

import numpy

from common.backend import np, to_device     # np is NumPy (or CuPy with DLFS_DEVICE=gpu)
from common.functions import check_target_rows, labels_from_targets, sigmoid, softmax
from common.util import col2im, im2col, output_hw


def _check_dout(layer: str, dout: np.ndarray, expected: tuple[int, ...]) -> None:
    if np.shape(dout) != tuple(expected):
        raise ValueError(f"{layer}.backward: dout has shape {np.shape(dout)} but forward produced {tuple(expected)}")


def _require_batch(layer: str, x: np.ndarray) -> None:
    if x.shape[0] == 0:
        raise ValueError(f"{layer}: the batch is empty (input shape {x.shape}); pass at least one sample")


def _require_float(layer: str, x: np.ndarray) -> None:
    if not numpy.issubdtype(np.asarray(x).dtype, numpy.floating):
        raise TypeError(f"{layer}.forward needs a floating-point input, got dtype {np.asarray(x).dtype}; "
                        f"convert with x.astype(np.float32) (or normalize the images)")


# ---------------------------------------------------------------------------------------------
# 5.4 Simple layers: the shopping example
# ---------------------------------------------------------------------------------------------
class MulLayer:
    """out = x * y. Backward swaps the inputs: dx = dout * y, dy = dout * x."""

    def __init__(self) -> None:
        self.x = None
        self.y = None

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        return dout * self.y, dout * self.x


class AddLayer:
    """out = x + y. Backward passes dout through unchanged to both inputs."""

    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        return dout * 1, dout * 1


# ---------------------------------------------------------------------------------------------
# 5.5 Activation layers
# ---------------------------------------------------------------------------------------------
class Relu:
    """out = max(0, x); dx = dout where x > 0, else 0.

    ``mask`` (N, ...) is True where x <= 0: those units output 0 and pass no gradient back.
    ``out`` starts as a *copy* of x: writing ``out = x`` instead would alias the caller's array,
    and ``out[self.mask] = 0`` would then zero the caller's data in place. Backward copies too,
    for the same reason (the book zeroes ``dout`` itself). ``common.fast.FastRelu`` is the
    one-pass version the networks use.
    """

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = (x <= 0)
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        _check_dout("Relu", dout, self.mask.shape)
        dx = dout.copy()
        dx[self.mask] = 0
        return dx


class Sigmoid:
    """out = 1 / (1 + exp(-x)); dx = dout * out * (1 - out), using the stored output."""

    def __init__(self) -> None:
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        _check_dout("Sigmoid", dout, self.out.shape)
        return dout * self.out * (1.0 - self.out)


# ---------------------------------------------------------------------------------------------
# 5.6 Affine and Softmax-with-Loss
# ---------------------------------------------------------------------------------------------
class Affine:
    """out = x W + b for a batch, with its own node (not built from Mul/Add nodes: matrix calculus).

    W: (D, M), b: (M,).  x: (N, D) — or any (N, ...) such as (N, C, H, W) images, flattened to
    (N, D) inside and reshaped back in backward.

    Backward, for out = x W + b:
        dx = dout W^T        (N, M) @ (M, D) -> (N, D)
        dW = x^T dout        (D, N) @ (N, M) -> (D, M)
        db = sum_n dout[n]   (N, M)          -> (M,)
    ``db`` is a *sum* over the batch, not a mean: b was added to every one of the N rows, so each
    row's gradient counts. The 1/N of the mean loss is already inside dout (SoftmaxWithLoss).
    """

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        if W.ndim != 2 or b.shape != (W.shape[1],):
            raise ValueError(f"Affine: need W of shape (D, M) and b of shape (M,); got W {W.shape}, b {b.shape}")
        self.W, self.b = W, b
        self.x: np.ndarray | None = None
        self.original_x_shape: tuple[int, ...] | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        _require_float("Affine", x)
        _require_batch("Affine", x)
        self.original_x_shape = x.shape
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != self.W.shape[0]:
            raise ValueError(f"Affine.forward: input {x.shape} flattens to {x2.shape}, which cannot be "
                             f"multiplied by W of shape {self.W.shape}")
        self.x = x2
        return x2 @ self.W + self.b          # (N, M) + (M,): b broadcasts over the N rows

    def backward(self, dout: np.ndarray) -> np.ndarray:
        _check_dout("Affine", dout, (self.x.shape[0], self.W.shape[1]))
        dx = dout @ self.W.T                  # (N, M) @ (M, D) -> (N, D)
        self.dW = self.x.T @ dout             # (D, N) @ (N, M) -> (D, M): from x, not from dx
        self.db = np.sum(dout, axis=0)        # (M,): a sum over the batch, not a mean
        return dx.reshape(self.original_x_shape)


class SoftmaxWithLoss:
    """Softmax followed by the mean cross-entropy loss, as one layer.

    forward(x, t) returns the *loss* (a float): this layer sits at the top only during training.
    For prediction, call softmax (or just argmax the scores) directly.

    backward(dout=1) returns (y - t) / N: the difference between prediction and target, averaged
    over the batch. Appendix A derives it; the neat form is why softmax is paired with
    cross-entropy (and identity with squared error).

    x: scores (N, C); t: labels (N,), or rows (N, C) — one-hot, or soft (probability vectors, e.g.
    label smoothing), for which the loss is the true -sum t log y / N. Rows that are not probability
    vectors (all zeros, negative, not summing to 1) are refused, naming the row.
    """

    def __init__(self) -> None:
        self.loss: float | None = None
        self.y: np.ndarray | None = None
        self.t: np.ndarray | None = None      # labels (N,) or checked target rows (N, C)

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        t = np.asarray(t)                     # (on the GPU: the targets' host -> device edge)
        if x.ndim == 1:                       # a single sample: treat as a batch of one
            x = x.reshape(1, -1)
            t = t.reshape(1, -1) if t.ndim == 1 and t.size == x.shape[1] else t.reshape(-1)
        if x.ndim != 2:
            raise ValueError(f"SoftmaxWithLoss expects scores of shape (N, C); got {x.shape}")
        _require_batch("SoftmaxWithLoss", x)
        if t.shape[:1] != (x.shape[0],):
            raise ValueError(f"SoftmaxWithLoss: scores have {x.shape[0]} rows but targets have shape {t.shape}")
        n = x.shape[0]
        self.y = softmax(x)
        log_y = np.log(self.y + np.finfo(self.y.dtype).tiny)
        if t.ndim == 2:                       # rows: -sum_k t[n, k] log y[n, k]
            self.t = check_target_rows(t, x.shape[1])
            per_sample = -np.sum(self.t * log_y, axis=1)
        else:                                 # labels: -log y[n, t_n]
            self.t = labels_from_targets(t, x.shape[1])
            per_sample = -log_y[np.arange(n), self.t]
        self.loss = float(np.sum(per_sample) / n)
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        n = self.y.shape[0]
        dx = self.y.copy()
        if self.t.ndim == 2:
            dx -= self.t                        # y - t
        else:
            dx[np.arange(n), self.t] -= 1       # y - t_onehot, without building the one-hot matrix
        dx *= dout / n
        return dx


# ---------------------------------------------------------------------------------------------
# 6.4 Dropout, 6.3 Batch Normalization
# ---------------------------------------------------------------------------------------------
class Dropout:
    """Randomly silence a fraction ``dropout_ratio`` of the units during training.

    mode="book" (the book's version): training multiplies by a 0/1 mask; at test time every unit
    is kept and the output is scaled by (1 - ratio), so the *expected* activation matches training.
    mode="inverted" (what most frameworks do): training divides the kept units by (1 - ratio); test
    time is then the identity. Same expectation, no work at test time.

    The ratio is a property of the layer (it owns the behaviour); networks only pass it through.
    ``rng``: a Generator or seed for reproducible masks.
    """

    def __init__(self, dropout_ratio: float = 0.5, mode: str = "book",
                 rng: numpy.random.Generator | int | None = None) -> None:
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"Dropout: dropout_ratio must be in [0, 1), got {dropout_ratio}")
        if mode not in ("book", "inverted"):
            raise ValueError(f"Dropout: mode must be 'book' or 'inverted', got {mode!r}")
        self.dropout_ratio = dropout_ratio
        self.mode = mode
        self.rng = numpy.random.default_rng(rng)      # a Generator passes through unchanged
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, train_flg: bool = True) -> np.ndarray:
        keep = 1.0 - self.dropout_ratio
        if train_flg:
            # drawn on the host from a seeded, checkpointable generator (a small transfer on a GPU)
            self.mask = to_device(self.rng.random(x.shape) >= self.dropout_ratio)
            out = x * self.mask
            return out / keep if self.mode == "inverted" else out
        self.mask = None
        return x * keep if self.mode == "book" else x.copy()

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.mask is None:
            raise RuntimeError("Dropout.backward called after a test-mode forward (train_flg=False)")
        _check_dout("Dropout", dout, self.mask.shape)
        dx = dout * self.mask
        return dx / (1.0 - self.dropout_ratio) if self.mode == "inverted" else dx


class BatchNormalization:
    """Normalise each feature over the mini-batch, then scale and shift: out = gamma * x_hat + beta.

    Input (N, D): statistics per feature d, over the N samples.
    Input (N, C, H, W): statistics per channel c, over N * H * W positions (spatial batch norm;
    the book flattens to (N, C*H*W) instead — per-channel is the standard choice for conv layers).

    Training uses the batch's mean and variance and updates the running averages
        running = momentum * running + (1 - momentum) * batch_statistic;
    test mode (train_flg=False) uses the running averages, so a prediction never depends on which
    other samples share its batch.
    """

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, momentum: float = 0.9,
                 running_mean: np.ndarray | None = None, running_var: np.ndarray | None = None,
                 eps: float = 1e-7) -> None:
        if gamma.ndim != 1 or beta.shape != gamma.shape:
            raise ValueError(f"BatchNormalization: gamma and beta must be 1-D of equal shape; got {gamma.shape}, {beta.shape}")
        self.gamma, self.beta = gamma, beta
        self.momentum, self.eps = momentum, eps
        self.running_mean = running_mean
        self.running_var = running_var
        self.input_shape: tuple[int, ...] | None = None
        self.xc = self.std = self.xn = None
        self.dgamma: np.ndarray | None = None
        self.dbeta: np.ndarray | None = None

    # (N, C, H, W) <-> (N*H*W, C): put channels last and flatten the rest into "samples".
    @staticmethod
    def _to_2d(x: np.ndarray) -> np.ndarray:
        return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1]) if x.ndim == 4 else x

    def _from_2d(self, y: np.ndarray) -> np.ndarray:
        if len(self.input_shape) == 4:
            n, c, h, w = self.input_shape
            return y.reshape(n, h, w, c).transpose(0, 3, 1, 2)
        return y

    def forward(self, x: np.ndarray, train_flg: bool = True) -> np.ndarray:
        _require_float("BatchNormalization", x)
        if x.ndim not in (2, 4) or x.shape[1] != self.gamma.shape[0]:
            raise ValueError(f"BatchNormalization: input {x.shape} does not match gamma {self.gamma.shape} "
                             f"(need (N, D) or (N, C, H, W) with D or C = {self.gamma.shape[0]})")
        _require_batch("BatchNormalization", x)
        self.input_shape = x.shape
        x2 = self._to_2d(x)
        if self.running_mean is None:
            self.running_mean = np.zeros(x2.shape[1], dtype=x.dtype)
            self.running_var = np.zeros(x2.shape[1], dtype=x.dtype)
        if train_flg:
            mu = x2.mean(axis=0)
            xc = x2 - mu
            var = np.mean(xc ** 2, axis=0)
            std = np.sqrt(var + self.eps)
            xn = xc / std
            self.xc, self.std, self.xn = xc, std, xn
            m = self.momentum
            self.running_mean = m * self.running_mean + (1 - m) * mu
            self.running_var = m * self.running_var + (1 - m) * var
        else:
            xn = (x2 - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return self._from_2d(self.gamma * xn + self.beta)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.xn is None:
            raise RuntimeError("BatchNormalization.backward needs a training-mode forward first")
        _check_dout("BatchNormalization", dout, self.input_shape)
        d2 = self._to_2d(dout)
        n = d2.shape[0]
        self.dbeta = d2.sum(axis=0)
        self.dgamma = np.sum(self.xn * d2, axis=0)
        dxn = self.gamma * d2
        # d x_hat / d x couples all samples through the mean and variance:
        # dx = (1/N) / std * (N * dxn - sum(dxn) - x_hat * sum(dxn * x_hat))
        dx = (n * dxn - dxn.sum(axis=0) - self.xn * np.sum(dxn * self.xn, axis=0)) / (n * self.std)
        return self._from_2d(dx)


# ---------------------------------------------------------------------------------------------
# 7.4 Convolution and Pooling
# ---------------------------------------------------------------------------------------------
class Convolution:
    """2-D convolution (strictly, cross-correlation) of a batch of images with a filter bank: im2col + one matrix product.

    W: (FN, C, FH, FW) — FN filters, each spanning all C input channels.
    b: (FN,) — one bias per *filter*: a filter is one feature detector slid over every position,
       so all its output positions share its weights and its bias.
    x: (N, C, H, W)  ->  out: (N, FN, OH, OW), OH = (H + 2*pad - FH) / stride + 1.

    Forward, in the book's layout:
        col   = im2col(x)              (N*OH*OW, C*FH*FW)   one row per output position
        col_W = W.reshape(FN, -1).T    (C*FH*FW, FN)        one column per filter
        out   = col @ col_W + b        (N*OH*OW, FN)        b (FN,) broadcasts over the rows
    then reshaped to (N, OH, OW, FN) and transposed to (N, FN, OH, OW).
    Backward, with dout flattened the same way to (N*OH*OW, FN):
        db   = sum of dout over every row       (FN,)   — the batch AND all positions
        dW   = col^T @ dout, as (FN, C, FH, FW)
        dcol = dout @ col_W^T, folded back by col2im (overlapping patches add)
    ``common.fast.FastConvolution`` computes the same numbers faster.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        if W.ndim != 4 or b.shape != (W.shape[0],):
            raise ValueError(f"Convolution: need W (FN, C, FH, FW) and b (FN,); got W {W.shape}, b {b.shape}")
        self.W, self.b = W, b
        self.stride, self.pad = stride, pad
        # kept by forward for backward
        self.x: np.ndarray | None = None
        self.col: np.ndarray | None = None
        self.col_W: np.ndarray | None = None
        # gradients of the parameters, set by backward
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def _check_input(self, x: np.ndarray) -> None:
        _require_float("Convolution", x)
        if x.ndim != 4 or x.shape[1] != self.W.shape[1]:
            raise ValueError(f"Convolution.forward: input {x.shape} must be (N, {self.W.shape[1]}, H, W) "
                             f"to match filters {self.W.shape}")
        _require_batch("Convolution", x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        FN, C, FH, FW = self.W.shape
        N = x.shape[0]
        out_h, out_w = output_hw(x.shape, FH, FW, self.stride, self.pad)

        col = im2col(x, FH, FW, self.stride, self.pad)        # (N*OH*OW, C*FH*FW)
        col_W = self.W.reshape(FN, -1).T                      # (C*FH*FW, FN): reshape by the filter COUNT
        out = col @ col_W + self.b                            # (N*OH*OW, FN)
        out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)   # (N, FN, OH, OW)

        self.x, self.col, self.col_W = x, col, col_W
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        FN, C, FH, FW = self.W.shape
        _check_dout("Convolution", dout, (self.x.shape[0], FN, *output_hw(self.x.shape, FH, FW, self.stride, self.pad)))
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)    # (N*OH*OW, FN), rows as in col

        self.db = np.sum(dout, axis=0)                        # (FN,)
        self.dW = (self.col.T @ dout).transpose(1, 0).reshape(FN, C, FH, FW)

        dcol = dout @ self.col_W.T                            # (N*OH*OW, C*FH*FW)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class Pooling:
    """Max pooling over pool_h x pool_w windows, per channel (channels never mix): im2col + max.

    x: (N, C, H, W) -> (N, C, OH, OW). ``stride`` defaults to the window size (non-overlapping
    windows, as used everywhere in the book; the book's own signature defaults to 1).

    Forward: im2col gives one row per (n, i, j) window position holding all C channels' windows;
    reshaping to (-1, pool_h*pool_w) makes one row per (n, i, j, c) window; the row maximum is the
    output, and its position ``arg_max`` is kept. The maxima come out in (N, OH, OW, C) order, so
    the last step is a transpose to (N, C, OH, OW) — a plain reshape would scramble the channels.
    Backward routes each output gradient to the position that held the maximum (the argmax) and
    gives the other positions zero. Padding, if any, is filled with -inf (the book pads with 0),
    so that a pad value can never be the maximum of a window of negative numbers.
    ``common.fast.FastPooling`` computes the same numbers faster.
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int | None = None, pad: int = 0) -> None:
        if pad >= pool_h or pad >= pool_w:
            raise ValueError(f"Pooling: pad {pad} must be smaller than the window {pool_h}x{pool_w}")
        self.pool_h, self.pool_w = pool_h, pool_w
        self.stride = pool_h if stride is None else stride
        self.pad = pad
        self.x: np.ndarray | None = None
        self.arg_max: np.ndarray | None = None

    def _check_input(self, x: np.ndarray) -> None:
        _require_float("Pooling", x)
        if x.ndim != 4:
            raise ValueError(f"Pooling.forward expects (N, C, H, W); got {x.shape}")
        _require_batch("Pooling", x)

    def _padded(self, x: np.ndarray) -> np.ndarray:
        p = self.pad
        return np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], constant_values=-np.inf) if p else x

    def output_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """(N, C, OH, OW) for an input of shape (N, C, H, W)."""
        return (*x_shape[:2], *output_hw(x_shape, self.pool_h, self.pool_w, self.stride, self.pad))

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        N, C, OH, OW = self.output_shape(x.shape)

        col = im2col(self._padded(x), self.pool_h, self.pool_w, self.stride, 0)   # (N*OH*OW, C*PH*PW)
        col = col.reshape(-1, self.pool_h * self.pool_w)                           # (N*OH*OW*C, PH*PW)

        arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)                                                  # (N*OH*OW*C,)
        out = out.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)                      # (N, C, OH, OW)

        self.x, self.arg_max = x, arg_max
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        _check_dout("Pooling", dout, self.output_shape(self.x.shape))
        N, C, H, W = self.x.shape
        p = self.pad
        dout = dout.transpose(0, 2, 3, 1)                     # (N, OH, OW, C): the order of col's rows

        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dmax = dmax.reshape(dout.shape + (pool_size,))       # (N, OH, OW, C, PH*PW)

        dcol = dmax.reshape(dmax.shape[0] * dmax.shape[1] * dmax.shape[2], -1)   # (N*OH*OW, C*PH*PW)
        dx = col2im(dcol, (N, C, H + 2 * p, W + 2 * p), self.pool_h, self.pool_w, self.stride, 0)
        return dx[:, :, p:p + H, p:p + W] if p else dx
