"""The speed paths: the same layers as ``common.layers``, computed faster. The networks train with these.

Each class here subclasses the book's layer of the same name, takes the same constructor arguments,
holds the same parameters (so saved weights are interchangeable) and returns the same numbers —
``tests/test_kernels_equal.py`` checks forward, dx, dW and db against the book's parent in float64.
Read ``common.layers`` to learn the layer; read this package to see how frameworks make it fast.

This file holds the machinery; ``common.fast.layers`` the layers, ``common.fast.parts`` the part-by-part
pass of a network (all importable from ``common.fast``).

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
- :func:`keep_freed_memory`  malloc keeps the memory a step frees for the next step.
- :class:`FastConvolution`   per slice of images: W (FN, C*FH*FW) @ unfold_images(x), or channels-last
  (see ``_channels_last``); dx as a convolution with the flipped filters (stride 1, pad <= FH-1),
  else by ``fold``; the first layer may skip dx (``need_dx=False``).
- :class:`FastPooling`       non-overlapping square windows: the maximum along each row, then down the
  rows, remembering which pixel won; backward sends each gradient straight to the winner.
- :class:`FastRelu`          ``np.maximum``, the gradient by ``np.multiply`` with the kept positions, per
  slice; :class:`FastAffine` per slice (a wide one shared by rows), with ``need_dx``.
"""
from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from common import config
from common.backend import GPU, as_strided, np     # np is NumPy (or CuPy with DLFS_DEVICE=gpu)
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


# ---- parts of the batch (common.fast.parts) -----------------------------------------------------
#: a batch is cut into at least this many parts: the smallest multiple of the machine's core count
#: that is this many or more (4 on 1, 2 or 4 cores, 6 on 3 or 6, 8 on 8), so that every core gets the
#: same number of parts; fewer when a part would hold under MIN_PART samples
PARTS = 4
MIN_PART = 4

_part = threading.local()


def _in_a_part() -> bool:
    """True in a thread working on one part of :class:`BatchParts` (its layers then run their slices
    one after another, in this thread: the parts already keep every thread busy)."""
    return getattr(_part, "active", False)


def batch_parts(n: int) -> list[tuple[int, int]]:
    """range(n) cut into nearly equal (start, stop) parts (:data:`PARTS`), fewer for a small batch.
    The cut depends on n and the machine's core count, never on the thread setting
    (``DLFS_THREADS``), so the gradients are the same bits on any number of threads."""
    cores = config._cores()
    wanted = cores * -(-PARTS // cores) if PARTS > 1 else 1      # PARTS = 1: the batch whole, no parts
    k = max(1, min(wanted, n // MIN_PART))
    bounds = [round(i * n / k) for i in range(k + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


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


# the layers and the part-by-part pass, which use the machinery above
from common.fast.layers import FastAffine, FastConvolution, FastPooling, FastRelu  # noqa: E402, F401
from common.fast.parts import PER_SAMPLE, BatchParts, per_sample_prefix  # noqa: E402, F401
