"""common.fast's layers: :class:`FastAffine`, :class:`FastRelu`, :class:`FastConvolution` and
:class:`FastPooling`, each a subclass of the book's layer in ``common.layers`` that computes the same
numbers with the machinery of ``common.fast`` (slices of the batch, threads, channels-last layouts)."""
from __future__ import annotations

from common import config
from common.backend import GPU, np     # np is NumPy (or CuPy with DLFS_DEVICE=gpu)
from common.fast import (channels_last, empty_images, fold, in_parts, one_slice, over_batch, pad_images, unfold,
                         unfold_channels_last, unfold_images, zeros_like)
from common.layers import Affine, Convolution, Pooling, Relu, _check_dout, _require_float
from common.util import output_hw


class FastAffine(Affine):
    """:class:`common.layers.Affine`, a slice of the batch at a time when the batch is large (rows are
    independent; dW and db add up over the slices). Inside a convolutional network's pass a wide
    layer (SimpleConvNet's 4,320 x 100) is shared between the threads even for one slice: x W by rows
    of x, dx by its columns and dW by its rows, so nothing is summed in a new order. Backward can skip
    dx (``need_dx=False``) for a first layer."""

    #: a W with at least this many numbers is shared between the threads even when the batch is one slice
    WIDE = 1 << 16

    def _wide(self) -> bool:
        return self.W.size >= self.WIDE and config.blas_held() and config.threads() > 1

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim < 2 or x.size == 0 or (one_slice(x.nbytes + len(x) * self.W.shape[1] * x.itemsize)
                                         and not self._wide()):
            return super().forward(x)                    # the book's layer: checks, then x W + b at once
        _require_float("Affine", x)
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != self.W.shape[0]:
            return super().forward(x)                    # which says what does not fit
        row_bytes = x2[:1].nbytes + self.W.shape[1] * x2.itemsize
        self.original_x_shape, self.x = x.shape, x2
        out = np.empty((x2.shape[0], self.W.shape[1]), dtype=np.result_type(x2, self.W))

        def work(a: int, b: int) -> None:
            np.matmul(x2[a:b], self.W, out=out[a:b])
            out[a:b] += self.b

        if one_slice(len(x2) * row_bytes):
            in_parts(work, len(x2))                      # a wide layer: rows shared between the threads
        else:
            over_batch(work, len(x2), row_bytes)
        return out

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """need_dx=False skips dx (a first layer's input gradient is never used) and returns None."""
        _check_dout("Affine", dout, (self.x.shape[0], self.W.shape[1]))
        if one_slice(self.x.nbytes + dout.nbytes):
            if not self._wide():
                if need_dx:
                    return super().backward(dout)
                self.dW = self.x.T @ dout
                self.db = dout.sum(axis=0)
                return None
            # a wide layer: dx by rows, dW by its rows (the input features): no partial sums to add
            D = self.W.shape[0]
            dx = np.empty(self.x.shape, dtype=np.result_type(dout, self.W)) if need_dx else None
            self.dW = np.empty((D, self.W.shape[1]), dtype=np.result_type(self.x, dout))

            def work(a: int, b: int) -> None:
                np.matmul(self.x[:, a:b].T, dout, out=self.dW[a:b])
                if need_dx:
                    np.matmul(dout, self.W[a:b].T, out=dx[:, a:b])

            in_parts(work, D)
            self.db = dout.sum(axis=0)
            return None if dx is None else dx.reshape(*self.original_x_shape)
        dx = np.empty(self.x.shape, dtype=np.result_type(dout, self.W)) if need_dx else None

        def work(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
            if need_dx:
                np.matmul(dout[a:b], self.W.T, out=dx[a:b])
            return self.x[a:b].T @ dout[a:b], dout[a:b].sum(axis=0)

        parts = over_batch(work, len(dout), self.x[:1].nbytes + dout[:1].nbytes)
        dW, db = parts[0]
        for dW_k, db_k in parts[1:]:                     # in slice order: the same sums on any thread count
            dW, db = dW + dW_k, db + db_k
        self.dW, self.db = dW, db
        return None if dx is None else dx.reshape(*self.original_x_shape)


class FastRelu(Relu):
    """:class:`common.layers.Relu`, a slice of the batch at a time (a batch that fits one slice, an MLP's,
    at once): ``np.maximum`` against an array of zeros builds the output, a product with the kept positions
    the gradient. (NumPy's vectorised maximum runs on two arrays; ``np.maximum(x, 0)`` with the scalar 0
    took 4x longer here. Boolean-mask assignment, ``out[mask] = 0``, and ``np.where`` are several times
    slower still.)"""

    def forward(self, x: np.ndarray) -> np.ndarray:
        if GPU or x.ndim == 0:
            self.mask = x <= 0
            return np.maximum(x, 0)                      # a new array: x itself is untouched
        if one_slice(x.nbytes):                          # a small batch (an MLP's): at once, no slices
            self.mask = x <= 0
            return np.maximum(x, zeros_like(x))          # laid out like x
        out = np.empty_like(x)                           # laid out like x (channels-last stays so)
        self.mask = np.empty_like(x, dtype=bool)

        def work(a: int, b: int) -> None:
            np.less_equal(x[a:b], 0, out=self.mask[a:b])
            np.maximum(x[a:b], zeros_like(x[a:b]), out=out[a:b])

        over_batch(work, len(x), x[:1].nbytes, streams=True)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        _check_dout("Relu", dout, self.mask.shape)
        if one_slice(dout.nbytes):
            dx = dout * ~self.mask                       # a new array: never zero the caller's dout
            dx += 0                                      # (negative * False is -0.0; make it a plain 0.0)
            return dx
        dx = np.empty_like(self.mask, dtype=dout.dtype)  # laid out like the forward input

        def work(a: int, b: int) -> None:
            np.multiply(dout[a:b], ~self.mask[a:b], out=dx[a:b])
            np.add(dx[a:b], 0, out=dx[a:b])

        over_batch(work, len(dout), dout[:1].nbytes, streams=True)
        return dx


class FastConvolution(Convolution):
    """:class:`common.layers.Convolution` computed a few images at a time (:func:`over_batch`), on
    every core, in one of two layouts chosen by the layer's shape (``_channels_last``):

    - channels-first: per image, W (FN, C*FH*FW) @ unfold_images(x)[n] — the book's
      ``im2col(x) @ W.reshape(FN, -1).T`` transposed per image, so each product is already that
      image's (FN, OH*OW) slab of the output;
    - channels-last: unfold_channels_last(x) (n*OH*OW, FH*FW*C) @ W as (FH*FW*C, FN), then turned
      back to (N, FN, OH, OW).

    The patches are not kept for backward (for a whole batch they take FH*FW times the input's
    memory, 9x for 3x3 filters with padding 1); backward unfolds the slice again, which costs less
    than reading a kept copy back from main memory. Backward, with G the output gradient (FN, OH*OW)
    of an image and U its patches (C*FH*FW, OH*OW):
        db = sum of G over all positions and images           (FN,)
        dW = sum over the images of G @ U^T                   (FN, C*FH*FW)  (one product per slice,
             (U @ D^T)^T over its images side by side, unless a patch holds fewer numbers than FN)
        dx = a convolution of G with the flipped filters      (C, H, W)      (stride 1 and
             pad <= FH-1, FW-1; otherwise fold(W^T @ G))
    """

    def _channels_last(self, x_shape: tuple[int, ...]) -> bool:
        """Work channels-last when a patch row (FW * C numbers) is at least twice an output row (OW):
        its copies then move long runs (per layer, both ways: benchmarks/levers.py); else channels-first."""
        FN, C, FH, FW = self.W.shape
        return FW * C >= 2 * output_hw(x_shape, FH, FW, self.stride, self.pad)[1]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        FN, C, FH, FW = self.W.shape
        N = x.shape[0]
        out_h, out_w = output_hw(x.shape, FH, FW, self.stride, self.pad)
        W_col = self.W.reshape(FN, -1)                                   # (FN, C*FH*FW)
        dtype = np.result_type(x, self.W)
        bias = self.b[:, None]                                           # (FN, 1): one bias per filter
        if self._channels_last(x.shape):
            W_last = self.W.transpose(2, 3, 1, 0).reshape(-1, FN)        # (FH*FW*C, FN), rows as the patches'
            out_last = np.empty((N, out_h * out_w, FN), dtype=dtype)     # the output, channels-last

            def work(a: int, b: int) -> None:
                cols = unfold_channels_last(channels_last(x[a:b], self.pad), FH, FW, self.stride)
                y = out_last[a:b].reshape(-1, FN)                        # (n*OH*OW, FN): a view
                np.matmul(cols, W_last, out=y)
                y += self.b                                              # (FN,) broadcasts over the rows

            over_batch(work, N, W_col.shape[1] * out_h * out_w * x.itemsize)
            self.x, self.col = x, None
            # shape (N, FN, OH, OW) like every layer's, memory channels-last: the next layer reads it so
            return out_last.reshape(N, out_h, out_w, FN).transpose(0, 3, 1, 2)
        out = np.empty((N, FN, out_h * out_w), dtype=dtype)

        def work(a: int, b: int) -> None:
            cols = unfold_images(x[a:b], FH, FW, self.stride, self.pad)      # (n, C*FH*FW, OH*OW)
            np.matmul(W_col, cols, out=out[a:b])                             # (n, FN, OH*OW)
            out[a:b] += bias

        over_batch(work, N, W_col.shape[1] * out_h * out_w * x.itemsize)
        self.x, self.col = x, None
        return out.reshape(N, FN, out_h, out_w)

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """need_dx=False skips dx (a first layer's input gradient is never used) and returns None."""
        FN, C, FH, FW = self.W.shape
        x = self.x
        N, _, H, W = x.shape
        out_h, out_w = output_hw(x.shape, FH, FW, self.stride, self.pad)
        _check_dout("Convolution", dout, (N, FN, out_h, out_w))
        flipped = need_dx and self.stride == 1 and self.pad <= min(FH, FW) - 1
        last = self._channels_last(x.shape)
        dx_dtype = np.result_type(dout, self.W)
        if flipped:
            py, px = FH - 1 - self.pad, FW - 1 - self.pad
        if last:
            dout_last = dout.transpose(0, 2, 3, 1)                       # (N, OH, OW, FN): a view
            if flipped:
                dx_last = np.empty((N, H, W, C), dtype=dx_dtype)         # dx, channels-last like the forward output
                # flipped filters for the channels-last product: row (y, x, f), column c = W[f, c, FH-1-y, FW-1-x]
                W_flip_last = self.W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(-1, C)
        else:
            G = dout.reshape(N, FN, out_h * out_w)                       # (N, FN, OH*OW)
            if flipped:
                dx = np.empty((N, C, H * W), dtype=dx_dtype)
                # the flipped filters as a (C, FN*FH*FW) matrix: channel c's weights, turned by 180 degrees
                W_flip = self.W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, -1)
        per_image = C * FH * FW < FN           # few numbers per patch (a first layer): per-image products win

        def work_last(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
            n = b - a
            cols = unfold_channels_last(channels_last(x[a:b], self.pad), FH, FW, self.stride)
            Gl = dout_last[a:b].reshape(n * out_h * out_w, FN)  # (n*OH*OW, FN): a view if dout is channels-last
            dW = cols.T @ Gl                                                # (FH*FW*C, FN)
            db = Gl.sum(axis=0)
            if flipped:
                g = np.zeros((n, out_h + 2 * py, out_w + 2 * px, FN), dtype=Gl.dtype)
                g[:, py:py + out_h, px:px + out_w, :] = dout_last[a:b]
                np.matmul(unfold_channels_last(g, FH, FW), W_flip_last,
                          out=dx_last[a:b].reshape(n * H * W, C))          # (n*H*W, C)
            return dW, db

        def work(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
            if per_image:
                cols = unfold_images(x[a:b], FH, FW, self.stride, self.pad)           # (n, C*FH*FW, OH*OW)
                dW = np.matmul(G[a:b], cols.transpose(0, 2, 1)).sum(axis=0)      # sum over n of G_n @ U_n^T
            else:
                # the slice's images side by side: U (C*FH*FW, n*OH*OW), D (FN, n*OH*OW), dW = D @ U^T —
                # computed as (U @ D^T)^T, one product whose long axis BLAS streams well
                U = unfold(x[a:b], FH, FW, self.stride, self.pad)
                D = G[a:b].transpose(1, 0, 2).reshape(FN, -1)
                dW = (U @ D.T).T
            db = G[a:b].sum(axis=(0, 2))
            if flipped:
                # dx[n, c, i, j] collects W[f, c, y, x] * dout[n, f, i - y + pad, j - x + pad]: an
                # ordinary convolution of dout, padded by FH-1-pad, with the flipped filters
                g = pad_images(dout[a:b], py, px)
                np.matmul(W_flip, unfold_images(g, FH, FW), out=dx[a:b])   # (n, C, H*W)
            return dW, db

        per_sample = max(C * FH * FW * out_h * out_w, FN * FH * FW * H * W if flipped else 0) * x.itemsize
        parts = over_batch(work_last if last else work, N, per_sample)
        dW, db = parts[0]
        for dW_k, db_k in parts[1:]:                                     # in slice order: same sums on any thread count
            dW, db = dW + dW_k, db + db_k
        if last:                                                         # (FH*FW*C, FN) -> (FN, C, FH, FW)
            dW = dW.reshape(FH, FW, C, FN).transpose(3, 2, 0, 1)
        self.dW, self.db = np.ascontiguousarray(dW.reshape(FN, C, FH, FW)), db
        if not need_dx:
            return None
        if flipped:
            return dx_last.transpose(0, 3, 1, 2) if last else dx.reshape(N, C, H, W)
        G = dout.reshape(N, FN, out_h * out_w)
        dcols = self.W.reshape(FN, -1).T @ G.transpose(1, 0, 2).reshape(FN, -1)   # (C*FH*FW, N*OH*OW)
        return fold(dcols, x.shape, FH, FW, self.stride, self.pad)


class FastPooling(Pooling):
    """:class:`common.layers.Pooling` without im2col when square windows tile the image exactly
    (stride == pool_h == pool_w, no padding, sizes divisible — every pool in the book's networks); other
    settings fall back to the book's version.

    The maximum of a window is found in two steps, each over strided views of the image: first along
    each image row, over the pool_w pixels of every window (``col``: which of them won), then down
    the pool_h rows of each window (``row``: which row's winner won). A later pixel wins only if it
    is strictly larger, so a tie goes to the first pixel in reading order — the one the book's
    ``argmax`` picks. Backward sends each window's gradient back along the same two choices.
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int | None = None, pad: int = 0) -> None:
        super().__init__(pool_h, pool_w, stride, pad)
        self.row: np.ndarray | None = None     # (N, C, OH, OW): which row of each window held the maximum
        self.col: np.ndarray | None = None     # (N, C, H, OW): which column of each window's row held its maximum

    def _tiles(self, H: int, W: int) -> bool:
        ph, pw = self.pool_h, self.pool_w
        return self.stride == ph == pw and self.pad == 0 and H % ph == 0 and W % pw == 0

    @staticmethod
    def _max_along(views: list[np.ndarray], out: np.ndarray, which: np.ndarray) -> None:
        """out = the elementwise maximum of views; which = index of the first view holding it."""
        if len(views) == 2:                            # 2x2 windows: which is simply "the second is larger"
            np.greater(views[1], views[0], out=which.view(bool))
            np.maximum(views[0], views[1], out=out)
            return
        out[...] = views[0]
        which[...] = 0
        for k, v in enumerate(views[1:], start=1):
            later = v > out                            # strictly larger: ties stay with the earlier one
            which += later * (k - which)
            np.maximum(out, v, out=out)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        if not self._tiles(*x.shape[2:]):
            self.row = None
            return super().forward(x)
        N, C, H, W = x.shape
        ph, pw = self.pool_h, self.pool_w
        out = empty_images((N, C, H // ph, W // pw), x.dtype, like=x)        # laid out like x
        self.col = empty_images((N, C, H, W // pw), np.uint8, like=x)
        self.row = empty_images(out.shape, np.uint8, like=x)

        def work(a: int, b: int) -> None:
            xs = x[a:b]
            row_max = empty_images((b - a, C, H, W // pw), x.dtype, like=x)  # each window-row's maximum
            self._max_along([xs[..., k::pw] for k in range(pw)], row_max, self.col[a:b])
            self._max_along([row_max[:, :, k::ph] for k in range(ph)], out[a:b], self.row[a:b])

        over_batch(work, N, x[:1].nbytes, streams=True)
        self.x, self.arg_max = x, None
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.row is None:
            return super().backward(dout)
        _check_dout("Pooling", dout, self.row.shape)
        N, C, H, W = self.x.shape
        ph, pw = self.pool_h, self.pool_w
        dx = empty_images(self.x.shape, dout.dtype, like=self.x)

        def work(a: int, b: int) -> None:
            to_rows = empty_images((b - a, C, H, W // pw), dout.dtype, like=self.x)  # each window-row's gradient
            for k in range(ph):
                np.multiply(dout[a:b], self.row[a:b] == k, out=to_rows[:, :, k::ph])
            for k in range(pw):
                np.multiply(to_rows, self.col[a:b] == k, out=dx[a:b, ..., k::pw])
            np.add(dx[a:b], 0, out=dx[a:b])                                   # -0.0 (negative * False) -> 0.0

        over_batch(work, N, self.x[:1].nbytes, streams=True)
        return dx
