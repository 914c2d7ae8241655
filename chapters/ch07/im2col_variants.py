"""Section 7.4.2: im2col written other ways, col2im's ``+=``, and how many copies of a pixel im2col makes.

im2col returns the book's layout, one row per patch:

    x: (N, C, H, W)  ->  col: (N * OH * OW, C * FH * FW)
    row (n, i, j) = the patch of image n whose top-left corner is (i * stride, j * stride) of the
    padded image, flattened channel first, then kernel row, then kernel column.

Three ways to build it, all equal:

- :func:`im2col_by_positions` loops over the OH * OW output positions and copies one patch (for the
  whole batch) per step: the reader's own loop, made correct (one row per patch with all its channels, stride
  and padding; their original, channels in the rows, is ``chapters.ch07.reader_bugs.reader_im2col``).
- ``common.util.im2col`` (the book's) loops over the FH * FW kernel offsets (9 for 3x3) and copies
  one strided slab per step: the reader's question "could it loop over the kernel size instead?",
  answered yes.
- ``common.fast.unfold`` has no Python loop: a strided *view* and one copy, in the transposed
  layout (``unfold(x) == im2col(x).T``).

:func:`col2im_assign` is col2im with ``=`` where ``+=`` belongs (a planted bug); :func:`copies_per_pixel`
counts how many rows of ``col`` hold each input pixel.
"""
from __future__ import annotations

import numpy as np

from common.util import col2im, conv_output_size


def im2col_by_positions(x: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """im2col with a loop over the output positions (i, j): OH * OW steps.

    x: (N, C, H, W) -> (N * OH * OW, C * FH * FW). Each step copies the (N, C, FH, FW) block
    ``img[:, :, i*S : i*S + FH, j*S : j*S + FW]`` — stride enters the *start* of the window, padding
    is done once, up front. For a 28 x 28 image and a 3 x 3 filter that is 784 small copies.
    """
    N, C, H, W = x.shape
    out_h = conv_output_size(H, filter_h, stride, pad)
    out_w = conv_output_size(W, filter_w, stride, pad)
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    col = np.empty((N, out_h, out_w, C * filter_h * filter_w), dtype=x.dtype)
    for i in range(out_h):
        top = i * stride
        for j in range(out_w):
            left = j * stride
            col[:, i, j, :] = img[:, :, top:top + filter_h, left:left + filter_w].reshape(N, -1)
    return col.reshape(N * out_h * out_w, -1)


def col2im_assign(col: np.ndarray, input_shape: tuple[int, int, int, int], filter_h: int, filter_w: int,
                  stride: int = 1, pad: int = 0) -> np.ndarray:
    """A *wrong* col2im: ``=`` instead of ``+=``. Where patches overlap, only the last one survives.

    col: (N * OH * OW, C * FH * FW) -> (N, C, H, W). Kept to show why the backward pass of a
    convolution must add: a pixel used by k patches receives k gradient contributions.
    """
    N, C, H, W = input_shape
    out_h = conv_output_size(H, filter_h, stride, pad)
    out_w = conv_output_size(W, filter_w, stride, pad)
    col6 = col.reshape(N, out_h, out_w, C, filter_h, filter_w)
    img = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=col.dtype)
    for y in range(filter_h):
        for x_off in range(filter_w):
            img[:, :, y:y + stride * out_h:stride, x_off:x_off + stride * out_w:stride] = \
                col6[:, :, :, :, y, x_off].transpose(0, 3, 1, 2)        # BUG: should be +=
    return img[:, :, pad:pad + H, pad:pad + W]


def copies_per_pixel(height: int, width: int, filter_h: int, filter_w: int, stride: int = 1,
                     pad: int = 0) -> np.ndarray:
    """How many patches (rows of im2col's matrix) contain each pixel: an (H, W) integer map.

    Computed as ``col2im`` of a matrix of ones: folding adds 1 for every patch a pixel sits in.
    With stride 1, interior pixels appear FH * FW times; border pixels fewer unless padded;
    stride > 1 gives fewer (or, with stride > filter size, zero) copies.
    """
    out_h = conv_output_size(height, filter_h, stride, pad)
    out_w = conv_output_size(width, filter_w, stride, pad)
    ones = np.ones((out_h * out_w, filter_h * filter_w))
    counts = col2im(ones, (1, 1, height, width), filter_h, filter_w, stride, pad)[0, 0]
    return np.rint(counts).astype(int)
