"""The speed paths: the same layers as ``common.layers``, computed faster. The networks train with these.

Each class here subclasses the book's layer of the same name, takes the same constructor arguments,
holds the same parameters (so saved weights are interchangeable) and returns the same numbers —
``tests/test_kernels_equal.py`` checks forward, dx, dW and db against the book's parent in float64.
Read ``common.layers`` to learn the layer; read this file to see how frameworks make it fast.

- :func:`unfold` / :func:`fold`   im2col transposed, (C*FH*FW, N*OH*OW), built in the layout the
  matrix product wants; fold is its adjoint (overlapping patches add).
- :class:`FastConvolution`   W (FN, C*FH*FW) @ unfold(x); dx for stride 1 as a convolution with the
  flipped filters when that is cheaper; the first layer may skip dx (``need_dx=False``).
- :class:`FastPooling`       non-overlapping windows as a running ``np.maximum`` over strided views.
- :class:`FastRelu`          one-pass ``np.maximum``; :class:`FastAffine` with ``need_dx``.
"""
from __future__ import annotations

from common.backend import as_strided, np     # np is NumPy (or CuPy with DLFS_DEVICE=gpu)
from common.layers import Affine, Convolution, Pooling, Relu, _check_dout
from common.util import _check_cols, _check_images, output_hw


def unfold(x: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """im2col, transposed and built directly: (N, C, H, W) -> (C * FH * FW, N * OH * OW).

    ``unfold(x) == im2col(x).T``, but laid out the way the fast convolution's matrix product wants
    it: one *row* per (channel, kernel row, kernel column), one *column* per output position. The
    strided view cols[c, y, x, n, i, j] = img[n, c, i*S + y, j*S + x] costs nothing (no copy); the
    ``reshape`` copies it once, and since its innermost axis runs along an image row, the copy moves
    long contiguous runs instead of the 3-element snippets of im2col's row layout.
    """
    _check_images(x, "unfold")
    N, C, H, W = x.shape
    out_h, out_w = output_hw(x.shape, filter_h, filter_w, stride, pad)
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)]) if pad else np.ascontiguousarray(x)
    s_n, s_c, s_h, s_w = img.strides
    cols = as_strided(
        img,
        shape=(C, filter_h, filter_w, N, out_h, out_w),
        strides=(s_c, s_h, s_w, s_n, s_h * stride, s_w * stride),
    )
    return cols.reshape(C * filter_h * filter_w, N * out_h * out_w)


def fold(cols: np.ndarray, input_shape: tuple[int, int, int, int], filter_h: int, filter_w: int,
         stride: int = 1, pad: int = 0) -> np.ndarray:
    """The adjoint of :func:`unfold` (= col2im of the transpose): (C*FH*FW, N*OH*OW) -> (N, C, H, W).

    Overlapping patches *add*. One strided slab per kernel offset (9 for 3x3), each a
    (C, N, OH, OW) block whose rows are contiguous.
    """
    N, C, H, W = input_shape
    out_h, out_w = output_hw(input_shape, filter_h, filter_w, stride, pad)
    _check_cols("fold", cols, (C * filter_h * filter_w, N * out_h * out_w), input_shape,
                filter_h, filter_w, stride, pad)
    img = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    img_cn = img.transpose(1, 0, 2, 3)                  # a (C, N, H, W) view of the same memory
    c6 = cols.reshape(C, filter_h, filter_w, N, out_h, out_w)
    for y in range(filter_h):
        y_end = y + stride * out_h
        for x in range(filter_w):
            img_cn[:, :, y:y_end:stride, x:x + stride * out_w:stride] += c6[:, y, x]
    return img[:, :, pad:pad + H, pad:pad + W]


class FastAffine(Affine):
    """:class:`common.layers.Affine` whose backward can skip dx (``need_dx=False``) for a first layer."""

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """need_dx=False skips dx (a first layer's input gradient is never used) and returns None."""
        if need_dx:
            return super().backward(dout)
        _check_dout("Affine", dout, (self.x.shape[0], self.W.shape[1]))
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return None


class FastRelu(Relu):
    """:class:`common.layers.Relu` in one pass: ``np.maximum`` builds the output (boolean-mask
    assignment, ``out[mask] = 0``, is several times slower on large arrays)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        return np.maximum(x, 0)                        # a new array: x itself is untouched

    def backward(self, dout: np.ndarray) -> np.ndarray:
        _check_dout("Relu", dout, self.mask.shape)
        dx = dout * ~self.mask                         # a new array: never zero the caller's dout
        dx += 0                                        # (negative * False is -0.0; make it a plain 0.0)
        return dx


class FastConvolution(Convolution):
    """:class:`common.layers.Convolution` computed as the transposed product W (FN, C*FH*FW) @ unfold(x).

    Same numbers as the book's ``im2col(x) @ W.reshape(FN, -1).T``, transposed, in the layout
    that is faster to build. Backward, with dout as D (FN, N*OH*OW) and U = unfold(x):
        db = sum of D over all positions        (FN,)
        dW = D @ U^T, computed as (U @ D^T)^T   (FN, C*FH*FW) — BLAS streams the long axis better
        dx = fold(W^T @ D)                      (N, C, H, W), or a convolution with flipped filters
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        FN, _, FH, FW = self.W.shape
        cols = unfold(x, FH, FW, self.stride, self.pad)          # (C*FH*FW, N*OH*OW)
        out = self.W.reshape(FN, -1) @ cols                      # (FN, N*OH*OW)
        out += self.b[:, None]                                   # one bias per filter, (FN, 1) broadcasts
        self.x, self.col = x, cols                               # col holds unfold(x) = im2col(x).T here
        out_h, out_w = output_hw(x.shape, FH, FW, self.stride, self.pad)
        return out.reshape(FN, x.shape[0], out_h, out_w).transpose(1, 0, 2, 3)   # (N, FN, OH, OW)

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """need_dx=False skips dx (a first layer's input gradient is never used) and returns None."""
        FN, C, FH, FW = self.W.shape
        _check_dout("Convolution", dout, (self.x.shape[0], FN, *output_hw(self.x.shape, FH, FW, self.stride, self.pad)))
        D = dout.transpose(1, 0, 2, 3).reshape(FN, -1)          # (FN, N*OH*OW)
        self.db = D.sum(axis=1)                                   # sum over the batch AND the positions
        self.dW = (self.col @ D.T).T.reshape(FN, C, FH, FW)
        if not need_dx:
            return None
        if self.stride == 1 and self.pad <= min(FH, FW) - 1 and FN <= C:
            # cheaper when the filters do not outnumber the channels (its matrix has FN*FH*FW rows)
            return self._input_gradient_as_convolution(dout)
        dcols = self.W.reshape(FN, -1).T @ D                      # (C*FH*FW, N*OH*OW)
        return fold(dcols, self.x.shape, FH, FW, self.stride, self.pad)

    def _input_gradient_as_convolution(self, dout: np.ndarray) -> np.ndarray:
        """dx for stride 1, computed as a convolution of dout with the flipped filters.

        Every input pixel collects W[f, c, y, x] * dout[n, f, i - y, j - x] over the filters and
        offsets that touched it. Padding dout by (FH - 1 - pad) and flipping W in both spatial axes
        turns that into an ordinary convolution — with the roles of C and FN swapped — whose output
        is exactly (N, C, H, W). Same numbers as fold(W^T @ D), but the matrix product has the long
        inner dimension FN*FH*FW instead of FN, and nothing needs folding afterwards.
        """
        FN, C, FH, FW = self.W.shape
        N, _, H, W = self.x.shape
        py, px = FH - 1 - self.pad, FW - 1 - self.pad
        dout_p = np.pad(dout, [(0, 0), (0, 0), (py, py), (px, px)])
        cols = unfold(dout_p, FH, FW)                             # (FN*FH*FW, N*H*W)
        W_flip = self.W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)   # (C, FN, FH, FW)
        dx = W_flip.reshape(C, -1) @ cols                         # (C, N*H*W)
        return dx.reshape(C, N, H, W).transpose(1, 0, 2, 3)


class FastPooling(Pooling):
    """:class:`common.layers.Pooling` without im2col when the windows tile the image exactly
    (stride == window, no padding, sizes divisible — every pool in the book's networks); other
    settings fall back to the book's version.

    The pixel at offset (dy, dx) of every window is the strided view x[:, :, dy::ph, dx::pw], shape
    (N, C, OH, OW); the maximum over the ph * pw offsets (4 for 2x2) is a running ``np.maximum``.
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int | None = None, pad: int = 0) -> None:
        super().__init__(pool_h, pool_w, stride, pad)
        self.out: np.ndarray | None = None           # kept by the fast path to find the argmax again

    def _tiles(self, H: int, W: int) -> bool:
        ph, pw = self.pool_h, self.pool_w
        return self.stride == ph == pw and self.pad == 0 and H % ph == 0 and W % pw == 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        if not self._tiles(*x.shape[2:]):
            self.out = None
            return super().forward(x)
        ph, pw = self.pool_h, self.pool_w
        out = x[:, :, 0::ph, 0::pw].copy()
        for k in range(1, ph * pw):
            np.maximum(out, x[:, :, k // pw::ph, k % pw::pw], out=out)
        self.x, self.out, self.arg_max = x, out, None
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.out is None:
            return super().backward(dout)
        _check_dout("Pooling", dout, self.out.shape)
        # Each window's gradient goes to the FIRST offset holding its maximum (as argmax would):
        # ``taken`` marks windows already served, so a tie (e.g. all zeros after ReLU) is counted once.
        ph, pw = self.pool_h, self.pool_w
        dx = np.empty(self.x.shape, dtype=dout.dtype)
        taken = np.zeros(dout.shape, dtype=bool)
        for k in range(ph * pw):
            first_max = (self.x[:, :, k // pw::ph, k % pw::pw] == self.out) & ~taken
            taken |= first_max
            dx[:, :, k // pw::ph, k % pw::pw] = dout * first_max
        dx += 0                                            # -0.0 (negative * False) -> 0.0
        return dx
