"""im2col / col2im and conv_output_size (section 7.4), shuffle_dataset and smooth_curve (chapter 6's utilities).

Shapes follow the book: images are (N, C, H, W); a filter bank is (FN, C, FH, FW).
"""
from __future__ import annotations

import numpy

from common.backend import np     # np is NumPy (or CuPy with DLFS_DEVICE=gpu)


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


def output_hw(input_shape: tuple[int, ...], filter_h: int, filter_w: int, stride: int = 1,
              pad: int = 0) -> tuple[int, int]:
    """(OH, OW): how many filter positions fit down and across an (N, C, H, W) input."""
    H, W = input_shape[-2:]
    return conv_output_size(H, filter_h, stride, pad), conv_output_size(W, filter_w, stride, pad)


def _check_cols(who: str, cols: np.ndarray, expected: tuple[int, int], input_shape: tuple[int, ...],
                filter_h: int, filter_w: int, stride: int, pad: int) -> None:
    if cols.shape != expected:
        raise ValueError(f"{who}: cols has shape {cols.shape} but input_shape {tuple(input_shape)} with a "
                         f"{filter_h}x{filter_w} filter, stride {stride}, pad {pad} needs {expected}")


def _check_images(x: np.ndarray, who: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{who} expects images of shape (N, C, H, W); got an array of shape {x.shape}")


def im2col(input_data: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Unfold every filter-sized patch of a batch of images into one row of a matrix (section 7.4.3).

    input_data: (N, C, H, W)
    returns col: (N * OH * OW, C * FH * FW). Row (n, i, j) holds the patch whose top-left corner is
                 at (i * stride, j * stride) of image n, ordered channel, then row, then column —
                 so that ``col @ W.reshape(FN, -1).T`` is the convolution.

    The loop runs over the FH * FW *kernel offsets* (9 for a 3x3 filter), not over the OH * OW
    output positions: the pixel at offset (y, x) of every patch, for all images and channels at
    once, is the strided slice img[:, :, y : y + stride*OH : stride, x : x + stride*OW : stride]
    of shape (N, C, OH, OW). More output dimensions need no more loops — the slice covers them all.
    """
    _check_images(input_data, "im2col")
    N, C, H, W = input_data.shape
    out_h, out_w = output_hw(input_data.shape, filter_h, filter_w, stride, pad)

    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w), dtype=input_data.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]   # (N, C, OH, OW)

    # (N, C, FH, FW, OH, OW) -> (N, OH, OW, C, FH, FW): one row per output position
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


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
    out_h, out_w = output_hw(input_shape, filter_h, filter_w, stride, pad)
    _check_cols("col2im", col, (N * out_h * out_w, C * filter_h * filter_w), input_shape,
                filter_h, filter_w, stride, pad)
    col6 = col.reshape(N, out_h, out_w, C, filter_h, filter_w)
    img = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=col.dtype)
    for y in range(filter_h):
        y_end = y + stride * out_h
        for x in range(filter_w):
            x_end = x + stride * out_w
            # col6[:, :, :, :, y, x] is (N, OH, OW, C): the pixel at offset (y, x) of every patch.
            img[:, :, y:y_end:stride, x:x_end:stride] += col6[:, :, :, :, y, x].transpose(0, 3, 1, 2)
    return img[:, :, pad:pad + H, pad:pad + W]


def shuffle_dataset(x: np.ndarray, t: np.ndarray, rng: numpy.random.Generator | int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Return copies of (x, t) with their first axes permuted by the same random permutation."""
    if len(x) != len(t):
        raise ValueError(f"shuffle_dataset: x has {len(x)} samples but t has {len(t)}")
    perm = numpy.random.default_rng(rng).permutation(len(x))      # a Generator passes through unchanged
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
