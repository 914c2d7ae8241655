"""Array plumbing for convolution (im2col / col2im) and small data utilities (book chapters 6-7).

Shapes follow the book: images are (N, C, H, W); a filter bank is (FN, C, FH, FW).
"""
from __future__ import annotations

import numpy

from common.backend import as_strided, np     # np is NumPy (or CuPy with DLFS_DEVICE=gpu)


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """Output length of a convolution or pooling window sliding along one axis.

    OH = (H + 2P - FH) / S + 1. The division must be exact: otherwise the last window would hang
    over the edge, and silently dropping it (floor) hides a wrong stride or padding. We raise.
    """
    for name, v in (("input_size", input_size), ("filter_size", filter_size), ("stride", stride), ("pad", pad)):
        if int(v) != v:
            raise TypeError(f"conv_output_size: {name} must be an integer, got {v!r}")
    if stride < 1 or pad < 0 or filter_size < 1:
        raise ValueError(f"conv_output_size: need stride >= 1, pad >= 0, filter_size >= 1; "
                         f"got stride={stride}, pad={pad}, filter_size={filter_size}")
    span = input_size + 2 * pad - filter_size
    if span < 0:
        raise ValueError(f"conv_output_size: filter {filter_size} is larger than the padded input "
                         f"{input_size} + 2*{pad}")
    if span % stride != 0:
        raise ValueError(
            f"conv_output_size: (input {input_size} + 2*pad {pad} - filter {filter_size}) / stride {stride} "
            f"= {span}/{stride} is not an integer; change the padding or the stride so the windows tile the input"
        )
    return span // stride + 1


def _check_images(x: np.ndarray, who: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{who} expects images of shape (N, C, H, W); got an array of shape {x.shape}")


def im2col(input_data: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Unfold every filter-sized patch of a batch of images into one row of a matrix.

    input_data: (N, C, H, W)
    returns col: (N * OH * OW, C * FH * FW). Row (n, i, j) holds the patch whose top-left corner is
                 at (i * stride, j * stride) of image n, ordered channel, then row, then column —
                 so that ``col @ W.reshape(FN, -1).T`` is the convolution.

    How: ``as_strided`` builds a 6-D *view* windows[n, i, j, c, y, x] = img[n, c, i*S + y, j*S + x]
    without copying anything (a pixel appears in up to FH*FW windows, but is stored once). The final
    ``reshape`` to 2-D makes the one copy the matrix product needs. There is no Python loop over
    output positions.
    """
    _check_images(input_data, "im2col")
    N, C, H, W = input_data.shape
    out_h = conv_output_size(H, filter_h, stride, pad)
    out_w = conv_output_size(W, filter_w, stride, pad)
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)]) if pad else np.ascontiguousarray(input_data)
    s_n, s_c, s_h, s_w = img.strides
    windows = as_strided(
        img,
        shape=(N, out_h, out_w, C, filter_h, filter_w),
        strides=(s_n, s_h * stride, s_w * stride, s_c, s_h, s_w),
    )
    return windows.reshape(N * out_h * out_w, C * filter_h * filter_w)


def col2im(col: np.ndarray, input_shape: tuple[int, int, int, int], filter_h: int, filter_w: int,
           stride: int = 1, pad: int = 0) -> np.ndarray:
    """The adjoint of :func:`im2col`: fold rows back into images, *adding* where patches overlap.

    col: (N * OH * OW, C * FH * FW); input_shape: (N, C, H, W) of the original images.
    returns: (N, C, H, W).

    A pixel that sat in k patches receives the sum of its k gradients, hence ``+=``: assigning
    would keep only the last patch's contribution. We loop over the FH * FW kernel offsets (9 for a
    3x3 filter) and add one strided slab per offset.
    """
    N, C, H, W = input_shape
    out_h = conv_output_size(H, filter_h, stride, pad)
    out_w = conv_output_size(W, filter_w, stride, pad)
    expected = (N * out_h * out_w, C * filter_h * filter_w)
    if col.shape != expected:
        raise ValueError(f"col2im: col has shape {col.shape} but input_shape {tuple(input_shape)} with a "
                         f"{filter_h}x{filter_w} filter, stride {stride}, pad {pad} needs {expected}")
    col6 = col.reshape(N, out_h, out_w, C, filter_h, filter_w)
    img = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=col.dtype)
    for y in range(filter_h):
        y_end = y + stride * out_h
        for x in range(filter_w):
            x_end = x + stride * out_w
            # col6[:, :, :, :, y, x] is (N, OH, OW, C): the pixel at offset (y, x) of every patch.
            img[:, :, y:y_end:stride, x:x_end:stride] += col6[:, :, :, :, y, x].transpose(0, 3, 1, 2)
    return img[:, :, pad:pad + H, pad:pad + W]


def unfold(x: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """im2col, transposed and built directly: (N, C, H, W) -> (C * FH * FW, N * OH * OW).

    ``unfold(x) == im2col(x).T``, but laid out the way the fast convolution's matrix product wants
    it: one *row* per (channel, kernel row, kernel column), one *column* per output position. The
    strided view cols[c, y, x, n, i, j] = img[n, c, i*S + y, j*S + x] is copied once by
    ``reshape``; its innermost axis runs along an image row, so the copy moves long contiguous runs
    instead of the 3-element snippets a (N*OH*OW, C*FH*FW) layout would.
    """
    _check_images(x, "unfold")
    N, C, H, W = x.shape
    out_h = conv_output_size(H, filter_h, stride, pad)
    out_w = conv_output_size(W, filter_w, stride, pad)
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
    out_h = conv_output_size(H, filter_h, stride, pad)
    out_w = conv_output_size(W, filter_w, stride, pad)
    expected = (C * filter_h * filter_w, N * out_h * out_w)
    if cols.shape != expected:
        raise ValueError(f"fold: cols has shape {cols.shape} but input_shape {tuple(input_shape)} with a "
                         f"{filter_h}x{filter_w} filter, stride {stride}, pad {pad} needs {expected}")
    c6 = cols.reshape(C, filter_h, filter_w, N, out_h, out_w)
    img = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    img_cn = img.transpose(1, 0, 2, 3)                  # a (C, N, H, W) view of the same memory
    for y in range(filter_h):
        y_end = y + stride * out_h
        for x in range(filter_w):
            img_cn[:, :, y:y_end:stride, x:x + stride * out_w:stride] += c6[:, y, x]
    return img[:, :, pad:pad + H, pad:pad + W]


def shuffle_dataset(x: np.ndarray, t: np.ndarray, rng: numpy.random.Generator | int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Return copies of (x, t) with their first axes permuted by the same random permutation."""
    if len(x) != len(t):
        raise ValueError(f"shuffle_dataset: x has {len(x)} samples but t has {len(t)}")
    rng = rng if isinstance(rng, numpy.random.Generator) else numpy.random.default_rng(rng)
    perm = rng.permutation(len(x))
    return x[perm], t[perm]


def smooth_curve(values: np.ndarray, window: int = 11) -> np.ndarray:
    """Centred moving average of a 1-D curve (e.g. a noisy loss curve), same length as the input.

    The ends are padded by reflection so the smoothed curve does not sag towards zero there.
    """
    v = numpy.asarray(values, dtype=numpy.float64)
    if v.ndim != 1:
        raise ValueError(f"smooth_curve expects a 1-D array, got shape {v.shape}")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smooth_curve: window must be a positive odd integer, got {window}")
    if window == 1 or v.size < window:
        return v.copy()
    half = window // 2
    padded = numpy.pad(v, half, mode="reflect")
    kernel = numpy.ones(window) / window
    return numpy.convolve(padded, kernel, mode="valid")
