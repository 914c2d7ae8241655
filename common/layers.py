"""Layers with an explicit forward and backward pass (book chapters 5-7).

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
from common.functions import labels_from_targets, softmax
from common.util import col2im, conv_output_size, fold, im2col, unfold


def _check_dout(layer: str, dout: np.ndarray, expected: tuple[int, ...]) -> None:
    if np.shape(dout) != tuple(expected):
        raise ValueError(f"{layer}.backward: dout has shape {np.shape(dout)} but forward produced {tuple(expected)}")


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

    The mask (True where x <= 0) is stored; ``out`` is a new array. The book's version copies x
    first, then zeroes ``out[mask]``: writing ``out = x`` instead would alias the caller's array and
    zero it in place. ``np.maximum`` builds the new array in one fast pass (boolean-mask assignment
    and ``np.where`` are several times slower on large arrays).
    """

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        return np.maximum(x, 0)                        # a new array: x itself is untouched

    def backward(self, dout: np.ndarray) -> np.ndarray:
        _check_dout("Relu", dout, self.mask.shape)
        dx = dout * ~self.mask                         # a new array: never zero the caller's dout
        dx += 0                                        # (negative * False is -0.0; make it a plain 0.0)
        return dx


class Sigmoid:
    """out = 1 / (1 + exp(-x)); dx = dout * out * (1 - out), using the stored output."""

    def __init__(self) -> None:
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        from common.functions import sigmoid
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
        self.original_x_shape = x.shape
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != self.W.shape[0]:
            raise ValueError(f"Affine.forward: input {x.shape} flattens to {x2.shape}, which cannot be "
                             f"multiplied by W of shape {self.W.shape}")
        self.x = x2
        return x2 @ self.W + self.b          # (N, M) + (M,): b broadcasts over the N rows

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """need_dx=False skips dx (a first layer's input gradient is never used) and returns None."""
        _check_dout("Affine", dout, (self.x.shape[0], self.W.shape[1]))
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        if not need_dx:
            return None
        dx = dout @ self.W.T
        return dx.reshape(self.original_x_shape)


class SoftmaxWithLoss:
    """Softmax followed by the mean cross-entropy loss, as one layer.

    forward(x, t) returns the *loss* (a float): this layer sits at the top only during training.
    For prediction, call softmax (or just argmax the scores) directly.

    backward(dout=1) returns (y - t_onehot) / N: the difference between prediction and target,
    averaged over the batch. Appendix A derives it; the neat form is why softmax is paired with
    cross-entropy (and identity with squared error).

    x: scores (N, C); t: labels (N,) or one-hot (N, C).
    """

    def __init__(self) -> None:
        self.loss: float | None = None
        self.y: np.ndarray | None = None
        self.labels: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        if x.ndim == 1:                       # a single sample: treat as a batch of one
            x = x.reshape(1, -1)
            t = np.asarray(t).reshape(1, -1) if np.ndim(t) == 1 and np.size(t) == x.shape[1] else np.reshape(t, -1)
        if x.ndim != 2:
            raise ValueError(f"SoftmaxWithLoss expects scores of shape (N, C); got {x.shape}")
        labels = labels_from_targets(t, x.shape[1])
        if labels.shape[0] != x.shape[0]:
            raise ValueError(f"SoftmaxWithLoss: scores have {x.shape[0]} rows but targets have {labels.shape[0]}")
        self.labels = labels
        self.y = softmax(x)
        n = x.shape[0]
        eps = np.finfo(self.y.dtype).tiny
        self.loss = float(-np.sum(np.log(self.y[np.arange(n), labels] + eps)) / n)
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        n = self.y.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.labels] -= 1      # y - t_onehot, without building the one-hot matrix
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
        self.rng = rng if isinstance(rng, numpy.random.Generator) else numpy.random.default_rng(rng)
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
    """2-D convolution (strictly, cross-correlation) of a batch of images with a filter bank.

    W: (FN, C, FH, FW) — FN filters, each spanning all C input channels.
    b: (FN,) — one bias per *filter*: a filter is one feature detector slid over every position,
       so all its output positions share its weights and its bias.
    x: (N, C, H, W)  ->  out: (N, FN, OH, OW), OH = (H + 2*pad - FH) / stride + 1.

    Forward is one matrix product. The book writes it as im2col(x) (N*OH*OW, C*FH*FW) @ W as
    (C*FH*FW, FN); we compute its transpose, W as (FN, C*FH*FW) @ unfold(x) (C*FH*FW, N*OH*OW),
    the same numbers in a layout that is faster to build (see ``common.util.unfold``).
    Backward, with dout as D (FN, N*OH*OW) and U = unfold(x):
        db = sum of D over all positions        (FN,)
        dW = D @ U^T                           (FN, C*FH*FW)
        dx = fold(W^T @ D)                     (N, C, H, W)  — fold adds overlapping patches
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        if W.ndim != 4 or b.shape != (W.shape[0],):
            raise ValueError(f"Convolution: need W (FN, C, FH, FW) and b (FN,); got W {W.shape}, b {b.shape}")
        self.W, self.b = W, b
        self.stride, self.pad = stride, pad
        self.x_shape: tuple[int, ...] | None = None
        self.cols: np.ndarray | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        _require_float("Convolution", x)
        FN, C, FH, FW = self.W.shape
        if x.ndim != 4 or x.shape[1] != C:
            raise ValueError(f"Convolution.forward: input {x.shape} must be (N, {C}, H, W) to match filters {self.W.shape}")
        N, _, H, W = x.shape
        out_h = conv_output_size(H, FH, self.stride, self.pad)
        out_w = conv_output_size(W, FW, self.stride, self.pad)
        cols = unfold(x, FH, FW, self.stride, self.pad)          # (C*FH*FW, N*OH*OW)
        out = self.W.reshape(FN, -1) @ cols                      # (FN, N*OH*OW): reshape by the filter COUNT
        out += self.b[:, None]                                   # one bias per filter, (FN, 1) broadcasts
        self.x_shape, self.cols = x.shape, cols
        return out.reshape(FN, N, out_h, out_w).transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """need_dx=False skips dx (a first layer's input gradient is never used) and returns None."""
        FN, C, FH, FW = self.W.shape
        N, _, H, W = self.x_shape
        out_h = conv_output_size(H, FH, self.stride, self.pad)
        out_w = conv_output_size(W, FW, self.stride, self.pad)
        _check_dout("Convolution", dout, (N, FN, out_h, out_w))
        D = dout.transpose(1, 0, 2, 3).reshape(FN, -1)          # (FN, N*OH*OW)
        self.db = D.sum(axis=1)                                   # sum over the batch AND the positions
        # dW = D @ U^T, computed as (U @ D^T)^T: the same numbers, and BLAS streams the long
        # N*OH*OW axis better this way round
        self.dW = (self.cols @ D.T).T.reshape(FN, C, FH, FW)
        if not need_dx:
            return None
        if self.stride == 1 and self.pad <= min(FH, FW) - 1 and FN <= C:
            # cheaper when the filters do not outnumber the channels (its matrix has FN*FH*FW rows)
            return self._input_gradient_as_convolution(dout)
        dcols = self.W.reshape(FN, -1).T @ D                      # (C*FH*FW, N*OH*OW)
        return fold(dcols, self.x_shape, FH, FW, self.stride, self.pad)

    def _input_gradient_as_convolution(self, dout: np.ndarray) -> np.ndarray:
        """dx for stride 1, computed as a convolution of dout with the flipped filters.

        Every input pixel collects W[f, c, y, x] * dout[n, f, i - y, j - x] over the filters and
        offsets that touched it. Padding dout by (FH - 1 - pad) and flipping W in both spatial axes
        turns that into an ordinary convolution — with the roles of C and FN swapped — whose output
        is exactly (N, C, H, W). Same numbers as fold(W^T @ D), but the matrix product has the long
        inner dimension FN*FH*FW instead of FN, and nothing needs folding afterwards.
        """
        FN, C, FH, FW = self.W.shape
        N, _, H, W = self.x_shape
        py, px = FH - 1 - self.pad, FW - 1 - self.pad
        dout_p = np.pad(dout, [(0, 0), (0, 0), (py, py), (px, px)])
        cols = unfold(dout_p, FH, FW)                             # (FN*FH*FW, N*H*W)
        W_flip = self.W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)   # (C, FN, FH, FW)
        dx = W_flip.reshape(C, -1) @ cols                         # (C, N*H*W)
        return dx.reshape(C, N, H, W).transpose(1, 0, 2, 3)


class Pooling:
    """Max pooling over pool_h x pool_w windows, per channel (channels never mix).

    x: (N, C, H, W) -> (N, C, OH, OW). ``stride`` defaults to the window size (non-overlapping
    windows, as used everywhere in the book; the book's own signature defaults to 1). Padding, if
    any, is filled with -inf so that a pad value can never be the maximum.

    Backward routes each output gradient to the position that held the maximum (argmax) and
    gives the other positions zero.
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int | None = None, pad: int = 0) -> None:
        if pad >= pool_h or pad >= pool_w:
            raise ValueError(f"Pooling: pad {pad} must be smaller than the window {pool_h}x{pool_w}")
        self.pool_h, self.pool_w = pool_h, pool_w
        self.stride = pool_h if stride is None else stride
        self.pad = pad
        self.x_shape: tuple[int, ...] | None = None
        self.x: np.ndarray | None = None          # fast path: input and output, to find the argmax
        self.out: np.ndarray | None = None
        self.arg_max: np.ndarray | None = None    # general path: argmax of each window

    def _tiles(self, H: int, W: int) -> bool:
        """True when the windows tile the image exactly (stride == window, no pad): the fast path."""
        ph, pw = self.pool_h, self.pool_w
        return self.stride == ph == pw and self.pad == 0 and H % ph == 0 and W % pw == 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        _require_float("Pooling", x)
        if x.ndim != 4:
            raise ValueError(f"Pooling.forward expects (N, C, H, W); got {x.shape}")
        N, C, H, W = x.shape
        self.x_shape = x.shape
        if self._tiles(H, W):
            # Fast path, no im2col: the pixel at offset (dy, dx) of every window is the strided view
            # x[:, :, dy::ph, dx::pw], shape (N, C, OH, OW); the maximum over the ph * pw offsets
            # (4 for 2x2) is a running np.maximum. Backward needs x again to find the argmax.
            ph, pw = self.pool_h, self.pool_w
            out = x[:, :, 0::ph, 0::pw].copy()
            for k in range(1, ph * pw):
                np.maximum(out, x[:, :, k // pw::ph, k % pw::pw], out=out)
            self.x, self.out, self.arg_max = x, out, None
            return out
        p = self.pad
        xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], constant_values=-np.inf) if p else x
        out_h = conv_output_size(H, self.pool_h, self.stride, p)
        out_w = conv_output_size(W, self.pool_w, self.stride, p)
        # each row of col: one window of one channel, pool_h * pool_w values
        col = im2col(xp, self.pool_h, self.pool_w, self.stride, 0).reshape(-1, self.pool_h * self.pool_w)
        self.arg_max = np.argmax(col, axis=1)
        out = col[np.arange(col.shape[0]), self.arg_max]
        return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        N, C, H, W = self.x_shape
        p = self.pad
        out_h = conv_output_size(H, self.pool_h, self.stride, p)
        out_w = conv_output_size(W, self.pool_w, self.stride, p)
        _check_dout("Pooling", dout, (N, C, out_h, out_w))
        pool_size = self.pool_h * self.pool_w
        if self._tiles(H, W):
            # Each window's gradient goes to the FIRST offset holding its maximum (as argmax would):
            # ``taken`` marks windows already served, so a tie (e.g. all zeros after ReLU) is counted once.
            ph, pw = self.pool_h, self.pool_w
            dx = np.empty((N, C, H, W), dtype=dout.dtype)
            taken = np.zeros(dout.shape, dtype=bool)
            for k in range(ph * pw):
                first_max = (self.x[:, :, k // pw::ph, k % pw::pw] == self.out) & ~taken
                taken |= first_max
                dx[:, :, k // pw::ph, k % pw::pw] = dout * first_max
            dx += 0                                            # -0.0 (negative * False) -> 0.0
            return dx
        d = dout.transpose(0, 2, 3, 1).ravel()                 # same order as the rows of col
        dmax = np.zeros((d.size, pool_size), dtype=dout.dtype)
        dmax[np.arange(d.size), self.arg_max] = d
        dcol = dmax.reshape(N * out_h * out_w, C * pool_size)
        dx = col2im(dcol, (N, C, H + 2 * p, W + 2 * p), self.pool_h, self.pool_w, self.stride, 0)
        return dx[:, :, p:p + H, p:p + W] if p else dx
