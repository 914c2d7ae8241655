"""Chapter 7 exercises (练习) that answer back: output size, convolution and pooling forward by im2col.

Each ``check_*`` runs the reader's function on a few cases — every size different (N, C, FN, FH, FW,
OH, OW), so that a misplaced axis cannot hide, plus one case where FN == FW, where the reader's own
bug does hide — compares with the reference and names the mistake: the reader's ``W.reshape(FW,
-1)``, ``out.reshape(N, out_h, out_w, FW)``, pooling with stride 1 (``out_h = H - pool_h + 1``), a
missing transpose, stride and pad "accepted but ignored". The machinery is
:class:`chapters.figures.Exercise`: ✓ / "not done yet" / what is wrong, in English and 中文.
"""
from __future__ import annotations

import numpy as np

from chapters.figures import Case, Exercise, Mistake
from common.util import im2col


# -- 1. Output size of a convolution or pooling -----------------------------------------------------
def _size_reference(input_size, filter_size, stride=1, pad=0):
    return (input_size + 2 * pad - filter_size) // stride + 1


def _size_no_stride(input_size, filter_size, stride=1, pad=0):
    return input_size + 2 * pad - filter_size + 1


def _size_pad_once(input_size, filter_size, stride=1, pad=0):
    return (input_size + pad - filter_size) // stride + 1


def _size_no_plus_one(input_size, filter_size, stride=1, pad=0):
    return (input_size + 2 * pad - filter_size) // stride


def _size_plus_one_inside(input_size, filter_size, stride=1, pad=0):
    return (input_size + 2 * pad - filter_size + 1) / stride


_SIZE_EX = Exercise.returning(
    "conv_output_size", "输出大小 conv_output_size", _size_reference, ("size", "the output size", "输出大小"),
    (Case("H=28, FH=5, stride=1, pad=0 (SimpleConvNet's conv)", (28, 5, 1, 0)),
     Case("H=24, pool 2, stride=2, pad=0 (SimpleConvNet's pooling)", (24, 2, 2, 0)),
     Case("H=7, FH=3, stride=2, pad=1", (7, 3, 2, 1)),
     Case("H=4, FH=3, stride=1, pad=1 ('same' padding)", (4, 3, 1, 1)),
     Case("H=5, FH=3, stride=2, pad=0", (5, 3, 2, 0)),
     Case("H=6, FH=3, stride=1, pad=2", (6, 3, 1, 2))),
    mistakes=(
        Mistake.planted(
            _size_no_stride,
            "Your size ignores the stride (H + 2P - FH + 1): divide by it — OH = (H + 2P - FH) / S + 1 (a 2×2 "
            "pooling with stride 2 turns 24 into 12, not 23).",
            "你的结果忽略了步幅（H + 2P - FH + 1）：要除以步幅——OH = (H + 2P - FH) / S + 1（步幅为 2 的 2×2 池化把 "
            "24 变成 12，而不是 23）。"),
        Mistake.planted(
            _size_pad_once,
            "Padding is added on both sides: H + 2P, not H + P — OH = (H + 2P - FH) / S + 1.",
            "填充在两边都要加：是 H + 2P，而不是 H + P——OH = (H + 2P - FH) / S + 1。"),
        Mistake.planted(
            _size_no_plus_one,
            "You forgot the + 1: the first window position counts too — OH = (H + 2P - FH) / S + 1.",
            "你漏掉了 + 1：第一个窗口位置也要算上——OH = (H + 2P - FH) / S + 1。"),
        Mistake.planted(
            _size_plus_one_inside,
            "The + 1 belongs outside the division: OH = (H + 2P - FH) / S + 1, not (H + 2P - FH + 1) / S.",
            "+ 1 要放在除法外面：OH = (H + 2P - FH) / S + 1，而不是 (H + 2P - FH + 1) / S。"),
    ))


@_SIZE_EX.checker
def check_conv_output_size(fn) -> bool:
    """Exercise 7.1: ``fn(input_size, filter_size, stride, pad)`` -> output size along one axis. Prints the verdict."""


# -- 2. Convolution forward by im2col ---------------------------------------------------------------
def _conv_windows(x, W, stride, pad):
    """What every version below starts with: the output size and im2col's (N*out_h*out_w, C*FH*FW) matrix."""
    FN, C, FH, FW = W.shape
    N, C, H, Wd = x.shape
    out_h = (H + 2 * pad - FH) // stride + 1
    out_w = (Wd + 2 * pad - FW) // stride + 1
    return N, out_h, out_w, im2col(x, FH, FW, stride, pad)


def _conv_reference(x, W, b, stride=1, pad=0):
    N, out_h, out_w, col = _conv_windows(x, W, stride, pad)
    FN = W.shape[0]
    col_W = W.reshape(FN, -1).T                            # (C*FH*FW, FN)
    out = np.dot(col, col_W) + b                           # (N*out_h*out_w, FN)
    return out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)


def _conv_filter_width_W(x, W, b, stride=1, pad=0):
    N, out_h, out_w, col = _conv_windows(x, W, stride, pad)
    out = np.dot(col, W.reshape(W.shape[3], -1).T) + b    # FW where FN belongs
    return out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)


def _conv_filter_width_W_matmul(x, W, b, stride=1, pad=0):
    FN, C, FH, FW = W.shape
    N, out_h, out_w, col = _conv_windows(x, W, stride, pad)
    return (col @ W.reshape(FW, -1).T + b).reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)


def _conv_filter_width_out(x, W, b, stride=1, pad=0):
    FN, C, FH, FW = W.shape
    N, out_h, out_w, col = _conv_windows(x, W, stride, pad)
    out = np.dot(col, W.reshape(FN, C * FH * FW).T) + b
    return out.reshape(N, out_h, out_w, FW).transpose(0, 3, 1, 2)    # the reader's line: FW where FN belongs


def _conv_no_transpose(x, W, b, stride=1, pad=0):
    N, out_h, out_w, col = _conv_windows(x, W, stride, pad)
    FN = W.shape[0]
    return (np.dot(col, W.reshape(FN, -1).T) + b).reshape(N, FN, out_h, out_w)


def _conv_ignores_stride_pad(x, W, b, stride=1, pad=0):
    N, out_h, out_w, col = _conv_windows(x, W, 1, 0)      # "only stride=1, pad=0 for now"
    out = np.dot(col, W.reshape(W.shape[0], -1).T) + b
    return out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)


def _conv_no_bias(x, W, b, stride=1, pad=0):
    return _conv_reference(x, W, np.zeros_like(b), stride, pad)


_RNG7 = np.random.default_rng(7)
_CONV_EX = Exercise.returning(
    "convolution forward", "卷积层的正向传播", _conv_reference, ("out", "the output", "输出"),
    (Case("x (2, 3, 10, 9), W (4, 3, 5, 2): FN=4 filters of 5×2, stride 1, pad 0",
          (_RNG7.normal(size=(2, 3, 10, 9)), _RNG7.normal(size=(4, 3, 5, 2)), _RNG7.normal(size=4), 1, 0)),
     Case("x (1, 1, 5, 5), W (3, 1, 3, 3): FN == FW == 3",
          (_RNG7.normal(size=(1, 1, 5, 5)), _RNG7.normal(size=(3, 1, 3, 3)), _RNG7.normal(size=3), 1, 0)),
     Case("x (1, 2, 7, 7), W (2, 2, 3, 3), stride 2, pad 1",
          (_RNG7.normal(size=(1, 2, 7, 7)), _RNG7.normal(size=(2, 2, 3, 3)), _RNG7.normal(size=2), 2, 1))),
    mistakes=(
        Mistake.planted(
            (_conv_filter_width_W, _conv_filter_width_W_matmul),
            "W.reshape(FW, -1): the first axis of the filter matrix must be the number of filters — col_W = "
            "W.reshape(FN, -1).T, one column per filter (the bug hides whenever FN == FW).",
            "W.reshape(FW, -1)：滤波器矩阵的第一个轴必须是滤波器的个数——col_W = W.reshape(FN, -1).T，每个滤波器一列"
            "（FN == FW 时这个 bug 会被掩盖）。"),
        Mistake.planted(
            _conv_filter_width_out,
            "out.reshape(N, out_h, out_w, FW): FW where FN belongs — the product has one column per filter, so "
            "reshape(N, out_h, out_w, FN) (or -1); it only worked while FN == FW.",
            "out.reshape(N, out_h, out_w, FW)：该写 FN 的地方写成了 FW——矩阵乘积每个滤波器一列，应 reshape(N, "
            "out_h, out_w, FN)（或 -1）；只有 FN == FW 时才碰巧正确。"),
        Mistake.planted(
            _conv_no_transpose,
            "The product's rows come in (n, i, j) order with the filters last: reshape to (N, out_h, out_w, FN), "
            "then transpose(0, 3, 1, 2) — reshaping straight to (N, FN, out_h, out_w) scrambles the values.",
            "矩阵乘积的行按 (n, i, j) 排列，滤波器在最后一维：先 reshape 为 (N, out_h, out_w, FN)，再 "
            "transpose(0, 3, 1, 2)——直接 reshape 为 (N, FN, out_h, out_w) 会打乱数值。"),
        Mistake.planted(
            _conv_ignores_stride_pad,
            "stride and pad are accepted but ignored (out_h = H - FH + 1): pass them on, im2col(x, FH, FW, stride, "
            "pad), and use out_h = (H + 2*pad - FH) // stride + 1.",
            "stride 和 pad 被接收了却没有使用（out_h = H - FH + 1）：要把它们传下去，"
            "im2col(x, FH, FW, stride, pad)，并用 out_h = (H + 2*pad - FH) // stride + 1。"),
        Mistake.planted(
            _conv_no_bias,
            "You forgot the bias: out = col @ col_W + b, one bias per filter — b of shape (FN,) broadcasts "
            "over the rows.",
            "你漏掉了偏置：out = col @ col_W + b，每个滤波器一个偏置——形状为 (FN,) 的 b 会广播到每一行。"),
    ))


@_CONV_EX.checker
def check_conv_forward(fn) -> bool:
    """Exercise 7.2: ``fn(x, W, b, stride, pad)`` -> (N, FN, OH, OW), the convolution by im2col. Prints the verdict."""


# -- 3. Max pooling forward by im2col ----------------------------------------------------------------
def _pool_reference(x, pool_h, pool_w, stride):
    N, C, H, W = x.shape
    out_h = (H - pool_h) // stride + 1
    out_w = (W - pool_w) // stride + 1
    col = im2col(x, pool_h, pool_w, stride, 0)             # (N*out_h*out_w, C*pool_h*pool_w)
    col = col.reshape(-1, pool_h * pool_w)                 # one window of one channel per row
    out = np.max(col, axis=1)                              # (N*out_h*out_w*C,)
    return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)


def _pool_no_transpose(x, pool_h, pool_w, stride):
    N, C, H, W = x.shape
    out_h = (H - pool_h) // stride + 1
    out_w = (W - pool_w) // stride + 1
    col = im2col(x, pool_h, pool_w, stride, 0).reshape(-1, pool_h * pool_w)
    return np.max(col, axis=1).reshape(N, C, out_h, out_w)


def _pool_wrong_transpose(x, pool_h, pool_w, stride):
    N, C, H, W = x.shape
    out_h = (H - pool_h) // stride + 1
    out_w = (W - pool_w) // stride + 1
    col = im2col(x, pool_h, pool_w, stride, 0).reshape(-1, pool_h * pool_w)
    return np.max(col, axis=1).reshape(N, out_h, out_w, C).transpose(0, 3, 2, 1)


def _pool_stride_one(x, pool_h, pool_w, stride):
    N, C, H, W = x.shape
    out_h, out_w = H - pool_h + 1, W - pool_w + 1          # the reader's: stride ignored
    col = im2col(x, pool_h, pool_w, 1, 0).reshape(-1, pool_h * pool_w)
    return np.max(col, axis=1).reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)


def _pool_channels_mixed(x, pool_h, pool_w, stride):
    N, C, H, W = x.shape
    out_h = (H - pool_h) // stride + 1
    out_w = (W - pool_w) // stride + 1
    col = im2col(x, pool_h, pool_w, stride, 0)             # not reshaped: a row holds all C windows
    return np.max(col, axis=1).reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)


_POOL_EX = Exercise.returning(
    "pooling forward", "池化层的正向传播", _pool_reference, ("out", "the output", "输出"),
    (Case("x (2, 3, 4, 6), 2×2 windows, stride 2", (_RNG7.normal(size=(2, 3, 4, 6)), 2, 2, 2)),
     Case("x (1, 1, 4, 4) (one channel), 2×2 windows, stride 2", (_RNG7.normal(size=(1, 1, 4, 4)), 2, 2, 2)),
     Case("x (1, 2, 6, 6), 3×3 windows, stride 3", (_RNG7.normal(size=(1, 2, 6, 6)), 3, 3, 3))),
    mistakes=(
        Mistake.planted(
            (_pool_no_transpose, _pool_wrong_transpose),
            "The maxima come out in (N, out_h, out_w, C) order (im2col's rows are positions, the channels follow): "
            "reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2) — a plain reshape to (N, C, out_h, out_w), or "
            "another transpose, mixes up channels and positions.",
            "最大值是按 (N, out_h, out_w, C) 的顺序出来的（im2col 的每行是一个位置，通道排在后面）："
            "reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)——直接 reshape 为 (N, C, out_h, out_w) 或用别的 "
            "transpose，会把通道和位置搞混。"),
        Mistake.planted(
            _pool_stride_one,
            "Your pooling slides with stride 1 (out_h = H - pool_h + 1): the windows must move by the stride — "
            "im2col(x, pool_h, pool_w, stride) and out_h = (H - pool_h) // stride + 1 (2×2, stride 2: 24 → 12).",
            "你的池化以步幅 1 滑动（out_h = H - pool_h + 1）：窗口要按 stride 移动——im2col(x, pool_h, pool_w, "
            "stride)，out_h = (H - pool_h) // stride + 1（2×2、步幅 2：24 → 12）。"),
        Mistake.planted(
            _pool_channels_mixed,
            "You took the max over a whole im2col row, which holds all C channels' windows side by side: "
            "reshape to (-1, pool_h * pool_w) first, one window of one channel per row — pooling never mixes "
            "channels.",
            "你在 im2col 的整行上取了最大值，而一行里并排放着全部 C 个通道的窗口：先 reshape 为 (-1, pool_h * "
            "pool_w)，每行是一个通道的一个窗口——池化不会混合通道。"),
    ))


@_POOL_EX.checker
def check_pooling_forward(fn) -> bool:
    """Exercise 7.3: ``fn(x, pool_h, pool_w, stride)`` -> (N, C, OH, OW), max pooling by im2col. Prints the verdict."""
