"""The speed paths: the same layers as ``common.layers``, computed faster. The networks train with these.

Each class here subclasses the book's layer of the same name, takes the same constructor arguments,
holds the same parameters (so saved weights are interchangeable) and returns the same numbers —
``tests/test_kernels_equal.py`` checks forward, dx, dW and db against the book's parent in float64.
Read ``common.layers`` to learn the layer; read this file to see how frameworks make it fast.

- :func:`unfold` / :func:`fold`   im2col transposed, (C*FH*FW, N*OH*OW), built in the layout the
  matrix product wants; fold is its adjoint (overlapping patches add).
- :func:`unfold_images`      the same patches, one (C*FH*FW, OH*OW) matrix per image.
- :func:`channels_last` / :func:`unfold_channels_last`   the patches of an (N, H, W, C) batch, one
  row per output position, for layers whose patch rows are long in that layout.
- :func:`over_batch`         the mini-batch cut into slices small enough to stay in a core's cache,
  the slices shared out between threads (:func:`common.config.threads`); :func:`in_parts` shares a
  wide Affine layer's rows between them.
- :class:`BatchParts`        a network's first layers (convolution, ReLU, pooling) run a part of the
  batch at a time, each part through all of them in one thread; ReLU after max-pooling (they commute).
- :func:`is_channels_last`   an (N, C, H, W) array stored (N, H, W, C): the convolutions that work
  channels-last hand their output on so, and ReLU and pooling keep that layout (PyTorch's
  ``channels_last`` memory format), so no layer transposes its input or output.
- :class:`FastConvolution`   per slice of images: W (FN, C*FH*FW) @ unfold_images(x), or channels-last
  (see ``_channels_last``); dx as a convolution with the flipped filters (stride 1, pad <= FH-1),
  else by ``fold``; the first layer may skip dx (``need_dx=False``).
- :class:`FastPooling`       non-overlapping square windows: the maximum along each row, then down the
  rows, remembering which pixel won; backward sends each gradient straight to the winner.
- :class:`FastRelu`          ``np.maximum``, the gradient by ``np.multiply`` with the kept positions, per
  slice; :class:`FastAffine` per slice (a wide one shared by rows), with ``need_dx``.
"""
from __future__ import annotations

import copy
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

from common import config
from common.backend import GPU, as_strided, np     # np is NumPy (or CuPy with DLFS_DEVICE=gpu)
from common.layers import Affine, Convolution, Pooling, Relu, _check_dout, _require_float
from common.util import _check_cols, _check_images, output_hw

# ---- the mini-batch in slices, the slices in threads -------------------------------------------
#: how much work memory one slice of the batch may use: the patches of a few images, which then stay in
#: the core's cache between being written and being multiplied (a whole batch's patches, 45 MB for
#: DeepConvNet's second layer, go out to main memory and back)
SLICE_BYTES = 1 << 21

_pool: ThreadPoolExecutor | None = None
_pool_workers = 0


def _forget_pool() -> None:
    global _pool, _pool_workers
    _pool, _pool_workers = None, 0                 # a forked child has none of the parent's threads


os.register_at_fork(after_in_child=_forget_pool)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc (Linux) to keep freed memory for the next step instead of handing it back to
    the kernel at once; True if it was asked.

    A training step allocates and frees the same few dozen arrays of 0.1-2 MB each time. By default
    glibc gives the free top of a heap back once it passes a threshold that follows the largest block
    freed so far (twice it: about 2.5 MB for DeepConvNet's parts of the batch), so every step the
    threads took their memory back from the kernel page by page: some 4,000 page faults and 15 ms of
    system time a DeepConvNet step. Blocks up to 32 MB now come from the heap, and up to 64 MB of
    each thread's heap may stay free (the price: a process may hold that much more memory than it
    uses). Called once, when this module is imported; elsewhere than glibc it does nothing.
    """
    if GPU or not hasattr(os, "confstr"):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt              # the C library this process already uses
    except (ValueError, OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3          # glibc's <malloc.h>
    return bool(mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 64 << 20))


keep_freed_memory()


def batch_slices(n: int, bytes_per_sample: int) -> list[tuple[int, int]]:
    """Cut range(n) into consecutive (start, stop) slices of about SLICE_BYTES of work memory each.

    The cut depends only on n and the sizes, never on the number of threads, so sums over slices
    (a layer's dW) come out bit for bit the same on one thread or eight (each product on one BLAS
    thread, as the threads run them)."""
    per_slice = max(1, SLICE_BYTES // max(1, bytes_per_sample))
    return [(a, min(n, a + per_slice)) for a in range(0, n, per_slice)]


def one_slice(nbytes: int) -> bool:
    """True when a batch using nbytes of work memory is one slice (then it is simply computed at once)."""
    return GPU or nbytes <= SLICE_BYTES


def over_batch(work: Callable[[int, int], Any], n: int, bytes_per_sample: int, streams: bool = False) -> list[Any]:
    """Call ``work(start, stop)`` on every slice of :func:`batch_slices`, in up to ``config.threads()``
    threads, each with one BLAS thread; return the results in slice order.

    ``streams=True`` marks elementwise work (ReLU, pooling), which reads each number once and gains
    nothing from cache-sized slices: inside a part of :class:`BatchParts` it runs on the part at once.

    ``work`` must write only its own rows of any shared output (slices never overlap), so the
    threads need no locks. A batch that fits in one slice, and any batch on the GPU (CuPy), is
    computed at once in the calling thread; so are all the slices, one after another, when
    ``config.threads()`` is 1. BLAS then keeps whatever setting it has (a convolutional network
    holds it at one thread for its whole pass: ``Network._blas_for_a_pass``).
    """
    if streams and _in_a_part():
        return [work(0, n)] if n else []
    slices = batch_slices(n, bytes_per_sample)
    if GPU or len(slices) <= 1:                      # a small batch (an MLP's): here, at once, BLAS as set
        return [work(0, n)] if n else []
    wanted = 1 if _in_a_part() else config.threads()
    if wanted == 1:                                  # DLFS_THREADS=1, BLAS on one thread, or inside a part of BatchParts
        return [work(a, b) for a, b in slices]
    return _run_in_threads(work, slices, min(wanted, len(slices)))


def in_parts(work: Callable[[int, int], Any], n: int) -> list[Any]:
    """Call ``work(start, stop)`` on ``config.threads()`` equal parts of range(n), one per thread — when
    BLAS is held to one thread for a convolutional network's pass (``Network._blas_for_a_pass``) and
    there are threads to spare; otherwise ``work(0, n)`` here, at once.

    For work too small to slice by memory but too big for one core (a wide Affine layer). ``work``
    must give the same bits whichever way range(n) is cut (independent rows, not partial sums).
    """
    wanted = config.threads() if (not GPU and config.blas_held() and not _in_a_part()) else 1
    if wanted == 1 or n < 2:
        return [work(0, n)]
    k = min(wanted, n)
    bounds = [round(i * n / k) for i in range(k + 1)]
    return _run_in_threads(work, list(zip(bounds[:-1], bounds[1:])), k)


def _run_in_threads(work: Callable[[int, int], Any], slices: list[tuple[int, int]], n_threads: int) -> list[Any]:
    """work(a, b) for every slice, shared between n_threads threads (the caller and the pool), each with
    one BLAS thread; the results in slice order.

    Each thread takes the next slice not yet taken until none is left, so a thread that starts late (a
    pool thread wakes up ~0.1 ms after being asked) or runs slower (a busy core) simply does fewer: a
    fixed half each left one core idle for a sixth of a DeepConvNet step. Which thread ran a slice
    changes nothing in its result."""
    global _pool, _pool_workers
    results: list[Any] = [None] * len(slices)
    taken = itertools.count()                        # slice numbers, handed out one at a time
    lock = threading.Lock()                          # (a lock, so that this holds without a GIL too)

    def run() -> None:
        while True:
            with lock:
                i = next(taken)
            if i >= len(slices):
                return
            a, b = slices[i]
            results[i] = work(a, b)

    with config.blas_single_threaded():              # one BLAS thread in each of our threads
        if _pool is None or _pool_workers < n_threads - 1:
            _pool_workers = max(n_threads - 1, config._cores() - 1, 1)
            _pool = ThreadPoolExecutor(max_workers=_pool_workers, thread_name_prefix="dlfs-fast")
        futures = [_pool.submit(run) for _ in range(n_threads - 1)]
        try:
            run()                                    # the calling thread works too
        finally:
            for f in futures:
                f.result()                           # re-raises a worker's error here
    return results


def pad_images(x: np.ndarray, pad_h: int, pad_w: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H + 2*pad_h, W + 2*pad_w) with a border of zeros (``np.pad``'s result,
    without its general-purpose bookkeeping, which costs more than the copy for a few small images)."""
    if not (pad_h or pad_w):
        return x
    N, C, H, W = x.shape
    out = np.zeros((N, C, H + 2 * pad_h, W + 2 * pad_w), dtype=x.dtype)
    out[:, :, pad_h:pad_h + H, pad_w:pad_w + W] = x
    return out


_zero_buffers: dict[Any, np.ndarray] = {}


def zeros(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A read-only array of zeros of this shape: a view of one buffer kept per dtype (grown as needed),
    so that an operation against zeros (``np.maximum(x, zeros(...))``) allocates nothing per slice."""
    size = 1
    for dim in shape:
        size *= dim
    buf = _zero_buffers.get(np.dtype(dtype))
    if buf is None or buf.size < size:
        buf = np.zeros(max(size, 1 << 16), dtype=dtype)
        if not GPU:
            buf.flags.writeable = False
        _zero_buffers[np.dtype(dtype)] = buf             # a thread still using an older buffer keeps it alive
    return buf[:size].reshape(shape)


def zeros_like(x: np.ndarray) -> np.ndarray:
    """:func:`zeros` of x's shape, laid out like x (channels-last when x is), so that an operation
    against it reads both arrays in the same order."""
    if is_channels_last(x):
        N, C, H, W = x.shape
        return zeros((N, H, W, C), x.dtype).transpose(0, 3, 1, 2)
    return zeros(x.shape, x.dtype)


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
    img = pad_images(x, pad, pad) if pad else np.ascontiguousarray(x)
    s_n, s_c, s_h, s_w = img.strides
    cols = as_strided(
        img,
        shape=(C, filter_h, filter_w, N, out_h, out_w),
        strides=(s_c, s_h, s_w, s_n, s_h * stride, s_w * stride),
    )
    return cols.reshape(C * filter_h * filter_w, N * out_h * out_w)


def unfold_images(x: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """im2col per image: (N, C, H, W) -> (N, C * FH * FW, OH * OW).

    Image n's slab is unfold(x[n:n+1]): one row per (channel, kernel row, kernel column), one column
    per output position, so ``W.reshape(FN, -1) @ slab`` is that image's output, already in the
    (FN, OH*OW) order of an (N, FN, OH, OW) array: nothing to transpose afterwards.
    """
    _check_images(x, "unfold_images")
    N, C, H, W = x.shape
    out_h, out_w = output_hw(x.shape, filter_h, filter_w, stride, pad)
    img = pad_images(x, pad, pad)
    s_n, s_c, s_h, s_w = img.strides
    cols = as_strided(
        img,
        shape=(N, C, filter_h, filter_w, out_h, out_w),
        strides=(s_n, s_c, s_h, s_w, s_h * stride, s_w * stride),
    )
    return cols.reshape(N, C * filter_h * filter_w, out_h * out_w)


def is_channels_last(x: np.ndarray) -> bool:
    """True for an (N, C, H, W) array whose memory runs (N, H, W, C): the same shape and numbers, the
    channels side by side (PyTorch calls this the channels_last memory format). The fast layers keep
    this layout from one layer to the next, so no layer has to transpose its input or output."""
    return x.ndim == 4 and not x.flags.c_contiguous and x.transpose(0, 2, 3, 1).flags.c_contiguous


def empty_images(shape: tuple[int, int, int, int], dtype: Any, like: np.ndarray) -> np.ndarray:
    """An uninitialised (N, C, H, W) array laid out like ``like``: channels-last if it is, else plain."""
    if is_channels_last(like):
        N, C, H, W = shape
        return np.empty((N, H, W, C), dtype=dtype).transpose(0, 3, 1, 2)
    return np.empty(shape, dtype=dtype)


def channels_last(x: np.ndarray, pad: int = 0) -> np.ndarray:
    """(N, C, H, W) -> (N, H + 2*pad, W + 2*pad, C): channels-last (NHWC) with a border of zeros."""
    N, C, H, W = x.shape
    if not pad and is_channels_last(x):
        return x.transpose(0, 2, 3, 1)                  # already laid out so: a view, no copy
    out = np.zeros((N, H + 2 * pad, W + 2 * pad, C), dtype=x.dtype)
    out[:, pad:pad + H, pad:pad + W, :] = x.transpose(0, 2, 3, 1)   # a plain copy if x is channels-last
    return out


def unfold_channels_last(img: np.ndarray, filter_h: int, filter_w: int, stride: int = 1) -> np.ndarray:
    """im2col of an already padded channels-last batch: (N, H, W, C) -> (N * OH * OW, FH * FW * C).

    One row per output position, ordered kernel row, kernel column, channel. In this layout a patch's
    row of FW pixels is FW * C numbers side by side in memory, so the copy moves runs of that length
    (192 numbers for 64 channels) instead of the OW-long runs of :func:`unfold_images` (8 at 8x8).
    """
    N, H, W, C = img.shape
    out_h, out_w = (H - filter_h) // stride + 1, (W - filter_w) // stride + 1
    s_n, s_h, s_w, s_c = img.strides
    cols = as_strided(img, shape=(N, out_h, out_w, filter_h, filter_w, C),
                      strides=(s_n, s_h * stride, s_w * stride, s_h, s_w, s_c))
    return cols.reshape(N * out_h * out_w, filter_h * filter_w * C)


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
    """:class:`common.layers.Relu`, a slice of the batch at a time: ``np.maximum`` against an array of
    zeros builds the output, a product with the kept positions the gradient. (NumPy's vectorised
    maximum runs on two arrays; ``np.maximum(x, 0)`` with the scalar 0 took 4x longer here.
    Boolean-mask assignment, ``out[mask] = 0``, and ``np.where`` are several times slower still.)"""

    def forward(self, x: np.ndarray) -> np.ndarray:
        if GPU or x.ndim == 0:
            self.mask = x <= 0
            return np.maximum(x, 0)                      # a new array: x itself is untouched
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


# ---- a network's first layers, a part of the batch at a time ------------------------------------
#: a batch is cut into at least this many parts: the smallest multiple of the machine's core count
#: that is this many or more (4 on 1, 2 or 4 cores, 6 on 3 or 6, 8 on 8), so that every core gets the
#: same number of parts; fewer when a part would hold under MIN_PART samples
PARTS = 4
MIN_PART = 4
#: the layers that treat every sample on its own, with no randomness or batch statistics: a part of
#: the batch can go through them without the rest (Dropout and BatchNormalization cannot)
PER_SAMPLE = (FastConvolution, FastRelu, FastPooling)

_part = threading.local()


def _in_a_part() -> bool:
    """True in a thread working on one part of :class:`BatchParts` (its layers then run their slices
    one after another, in this thread: the parts already keep every thread busy)."""
    return getattr(_part, "active", False)


def per_sample_prefix(layers: Sequence[Any]) -> int:
    """How many of the first layers are exactly :data:`PER_SAMPLE` classes (a subclass, such as a
    reader's own layer planted for an exercise, ends the run)."""
    count = 0
    for layer in layers:
        if type(layer) not in PER_SAMPLE:
            break
        count += 1
    return count


def batch_parts(n: int) -> list[tuple[int, int]]:
    """range(n) cut into nearly equal (start, stop) parts (:data:`PARTS`), fewer for a small batch.
    The cut depends on n and the machine's core count, never on the thread setting
    (``DLFS_THREADS``), so the gradients are the same bits on any number of threads."""
    cores = config._cores()
    wanted = cores * -(-PARTS // cores) if PARTS > 1 else 1      # PARTS = 1: the batch whole, no parts
    k = max(1, min(wanted, n // MIN_PART))
    bounds = [round(i * n / k) for i in range(k + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


class BatchParts:
    """Run a network's first layers (``layers``, all :data:`PER_SAMPLE`) part by part: each part of the
    batch goes through *all* of them in one thread, and the threads take the next free part.

    Layer by layer, the threads would meet at the end of every layer (24 times a DeepConvNet step), and
    every layer would read its input back from wherever the previous one left it. A part of 12-13
    images instead stays with one thread (and its core's cache) from the first layer to the last, and
    the threads meet twice: after forward, and after backward. Each part has its own shallow copy of
    every layer (the copies share W and b, and keep their own x, mask and dW); backward adds the
    parts' dW and db up in part order and leaves the sums on the network's layers, where the network
    reads its gradients. The results equal the layer-by-layer pass up to float rounding (the sums run
    in another order), and are the same bits on any number of threads.
    """

    #: run a ReLU that comes just before a max-pooling layer after it instead (see :meth:`_order`)
    POOL_FIRST = True

    def __init__(self, layers: Sequence[Any], n: int) -> None:
        self.layers = list(layers)
        self.parts = batch_parts(n)
        self.copies = {a: [copy.copy(layer) for layer in self.layers] for a, _ in self.parts}
        self.order = self._order()

    def _order(self) -> list[int]:
        """The order the layers run in: as given, except that each ReLU directly followed by a
        max-pooling layer swaps places with it. The two commute: the largest of a window's rectified
        numbers is the rectified largest, max(relu(a), relu(b)) = relu(max(a, b)), and backward
        sends each window's gradient to the same pixel either way (to none when the window holds
        no positive number): the same bits, for finite numbers (a NaN in a window can send that
        window's gradient elsewhere; the loss is NaN then anyway). Pooling first leaves ReLU a
        quarter of the numbers, for 2x2 windows."""
        order = list(range(len(self.layers)))
        if not self.POOL_FIRST:
            return order
        i = 0
        while i < len(order) - 1:
            if type(self.layers[i]) is FastRelu and type(self.layers[i + 1]) is FastPooling:
                order[i], order[i + 1] = i + 1, i
                i += 2
            else:
                i += 1
        return order

    def _run(self, work: Callable[[int, int], Any]) -> list[Any]:
        def in_part(a: int, b: int) -> Any:
            _part.active = True
            try:
                return work(a, b)
            finally:
                _part.active = False

        threads = min(config.threads(), len(self.parts))
        if threads == 1:
            return [in_part(a, b) for a, b in self.parts]
        return _run_in_threads(in_part, self.parts, threads)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The last layer's output for the whole batch (the parts' outputs, stacked)."""
        def work(a: int, b: int) -> np.ndarray:
            h = x[a:b]
            for i in self.order:
                h = self.copies[a][i].forward(h)
            return h

        return np.concatenate(self._run(work))

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """dx for the whole batch (None with need_dx=False, which the first layer then skips); the
        parameter gradients, summed over the parts, are left on ``self.layers``."""
        def work(a: int, b: int) -> np.ndarray | None:
            d = dout[a:b]
            first, *rest = [self.copies[a][i] for i in self.order]
            for layer in reversed(rest):
                d = layer.backward(d)
            return first.backward(d, need_dx=False) if (not need_dx and isinstance(first, FastConvolution)) \
                else first.backward(d)

        dxs = self._run(work)
        for i, layer in enumerate(self.layers):
            if isinstance(layer, FastConvolution):
                grads = [self.copies[a][i] for a, _ in self.parts]
                dW, db = grads[0].dW, grads[0].db
                for g in grads[1:]:                      # in part order: the same sums on any thread count
                    dW, db = dW + g.dW, db + g.db
                layer.dW, layer.db = dW, db
        return np.concatenate(dxs) if need_dx else None
