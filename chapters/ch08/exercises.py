"""Chapter 8 exercises (练习) that answer back: receptive field, a conv layer's parameters, shifted images.

Each ``check_*`` runs the reader's function on a few cases, compares with the reference and names the
mistake (strides ignored in the receptive field, one bias per weight or per channel instead of per
filter, np.roll's wrap-around in data augmentation, ...). The machinery is
:class:`chapters.figures.Exercise`: ✓ / "not done yet" / what is wrong, in English and 中文.
"""
from __future__ import annotations

import numpy as np

from chapters.figures import Case, Exercise, Mistake


# -- 1. Receptive field of a stack of convolutions and poolings ----------------------------------------
def _receptive_field_reference(layers):
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump                    # this layer's window, in input pixels
        jump *= s                              # how far apart the next layer's units look
    return r


def _receptive_field_no_strides(layers):
    return 1 + sum(k - 1 for k, _ in layers)


def _receptive_field_sum_of_kernels(layers):
    return sum(k for k, _ in layers)


def _receptive_field_jump_first(layers):
    r, jump = 1, 1
    for k, s in layers:
        jump *= s
        r += (k - 1) * jump
    return r


_RECEPTIVE_FIELD_EX = Exercise.returning(
    "receptive field", "感受野", _receptive_field_reference, ("r", "the receptive field", "感受野"),
    (Case("two 3×3 convs: [(3, 1), (3, 1)]", ([(3, 1), (3, 1)],)),
     Case("conv3, conv3, pool2 (stride 2), conv3, conv3, pool2: [(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2)]",
          ([(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2)],)),
     Case("conv5, pool2, conv5, pool2: [(5, 1), (2, 2), (5, 1), (2, 2)]", ([(5, 1), (2, 2), (5, 1), (2, 2)],)),
     Case("a 3×3 conv with stride 2, then a 3×3 conv: [(3, 2), (3, 1)]", ([(3, 2), (3, 1)],))),
    mistakes=(
        Mistake.planted(
            _receptive_field_no_strides,
            "You ignore the strides: after a layer with stride s, neighbouring units are s input pixels apart, so "
            "each later layer's (k - 1) counts s times — r += (k - 1) * jump; jump *= s.",
            "你忽略了步幅：经过步幅为 s 的层之后，相邻单元在输入上相隔 s 个像素，后面每一层的 (k - 1) 都要乘上这个"
            "间距——r += (k - 1) * jump; jump *= s。"),
        Mistake.planted(
            _receptive_field_sum_of_kernels,
            "Receptive fields do not add up kernel sizes: two 3×3 convs see 5×5, not 6×6 — start from r = 1 "
            "and let each layer add (k - 1) * jump.",
            "感受野不是把核的大小相加：两个 3×3 卷积看到的是 5×5，而不是 6×6——从 r = 1 开始，每一层增加 "
            "(k - 1) * jump。"),
        Mistake.planted(
            _receptive_field_jump_first,
            "You multiply the jump by a layer's stride before adding that layer's (k - 1): a layer's own stride "
            "only affects the layers after it — first r += (k - 1) * jump, then jump *= s.",
            "你在加上这一层的 (k - 1) 之前就乘上了它的步幅：一层的步幅只影响它后面的层——先 r += (k - 1) * jump，"
            "再 jump *= s。"),
    ))


@_RECEPTIVE_FIELD_EX.checker
def check_receptive_field(fn) -> bool:
    """Exercise 8.1: ``fn(layers)`` -> receptive field side in input pixels; layers: [(kernel, stride), ...]."""


# -- 2. Parameters of a convolution layer ------------------------------------------------------------
def _param_count_reference(FN, C, FH, FW):
    return FN * C * FH * FW + FN               # weights W (FN, C, FH, FW) and one bias per filter


def _param_count_no_bias(FN, C, FH, FW):
    return FN * C * FH * FW


def _param_count_no_channels(FN, C, FH, FW):
    return FN * FH * FW + FN


def _param_count_bias_per_channel(FN, C, FH, FW):
    return FN * C * FH * FW + FN * C


def _param_count_bias_per_weight(FN, C, FH, FW):
    return 2 * FN * C * FH * FW


_PARAM_COUNT_EX = Exercise.returning(
    "conv parameters", "卷积层的参数个数", _param_count_reference, ("count", "the number of parameters", "参数个数"),
    (Case("FN=30, C=1, 5×5 (SimpleConvNet)", (30, 1, 5, 5)),
     Case("FN=64, C=3, 3×3 (VGG's first layer)", (64, 3, 3, 3)),
     Case("FN=16, C=8, 3×3", (16, 8, 3, 3))),
    mistakes=(
        Mistake.planted(
            _param_count_no_bias,
            "You forgot the biases: one per filter, FN of them — FN * C * FH * FW + FN.",
            "你漏掉了偏置：每个滤波器一个，共 FN 个——FN * C * FH * FW + FN。"),
        Mistake.planted(
            _param_count_no_channels,
            "A filter spans all C input channels: each has C * FH * FW weights, so FN * C * FH * FW + FN in all.",
            "一个滤波器覆盖全部 C 个输入通道：每个滤波器有 C * FH * FW 个权重，总数为 FN * C * FH * FW + FN。"),
        Mistake.planted(
            _param_count_bias_per_channel,
            "One bias per filter, not per (filter, channel): a filter sums over its C channels and then adds a "
            "single bias — FN biases.",
            "每个滤波器一个偏置，而不是每个（滤波器, 通道）一个：滤波器先在 C 个通道上求和，再加上一个偏置——"
            "共 FN 个偏置。"),
        Mistake.planted(
            _param_count_bias_per_weight,
            "One bias per filter, not one per weight: all positions and all weights of a filter share its single "
            "bias — FN * C * FH * FW + FN.",
            "每个滤波器一个偏置，而不是每个权重一个：一个滤波器的所有位置和所有权重共用它的那一个偏置——"
            "FN * C * FH * FW + FN。"),
    ))


@_PARAM_COUNT_EX.checker
def check_conv_param_count(fn) -> bool:
    """Exercise 8.2: ``fn(FN, C, FH, FW)`` -> the number of parameters of a conv layer (weights and biases)."""


# -- 3. Data augmentation: shift images, fill with zeros ---------------------------------------------------
def _observe_shift(rec, fn, x, dy, dx):
    rec.result("out", fn(x, dy, dx))
    rec.put("x_after", x)


def _shift_reference(x, dy, dx):
    out = np.zeros_like(x)
    H, W = x.shape[2:]
    out[:, :, max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        x[:, :, max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    return out


def _shift_roll(x, dy, dx):
    return np.roll(x, (dy, dx), axis=(2, 3))


def _shift_swapped(x, dy, dx):
    return _shift_reference(x, dx, dy)


def _shift_reversed(x, dy, dx):
    return _shift_reference(x, -dy, -dx)


_IMG = np.arange(1.0, 21.0).reshape(1, 1, 4, 5)
_SHIFT_EX = Exercise(
    "shift images", "平移图像", _shift_reference, _observe_shift,
    (Case("x (1, 1, 4, 5) = 1..20, dy=1, dx=2 (down 1, right 2)", (_IMG, 1, 2)),
     Case("x (1, 1, 4, 5), dy=-1, dx=0 (up 1)", (_IMG, -1, 0)),
     Case("x (2, 2, 3, 3), dy=0, dx=-1 (left 1)", (np.arange(1.0, 37.0).reshape(2, 2, 3, 3), 0, -1)),
     Case("x (1, 1, 4, 5), dy=0, dx=0 (no shift)", (_IMG, 0, 0))),
    labels={"out": ("the shifted images", "平移后的图像"), **Exercise.after_call("x")},
    mistakes=(
        Mistake.planted(
            _shift_roll,
            "np.roll wraps around: the pixels pushed out on one side come back on the other — a shifted image must "
            "be 0 where nothing moved in (copy a slice into np.zeros_like(x)).",
            "np.roll 是循环移位：从一边移出去的像素又从另一边回来了——平移后的图像在没有内容移入的地方应为 0"
            "（把切片复制到 np.zeros_like(x) 中）。"),
        Mistake.planted(
            _shift_swapped,
            "dy and dx are swapped: dy moves along the rows (axis 2, the height), dx along the columns (axis 3, "
            "the width).",
            "dy 和 dx 弄反了：dy 沿行的方向（第 2 轴，高度）移动，dx 沿列的方向（第 3 轴，宽度）移动。"),
        Mistake.planted(
            _shift_reversed,
            "Your shift goes the other way: a positive dy moves the content down (out[:, :, dy:, :] = "
            "x[:, :, :-dy, :]), a positive dx to the right.",
            "你的平移方向反了：正的 dy 让内容向下移动（out[:, :, dy:, :] = x[:, :, :-dy, :]），"
            "正的 dx 让内容向右移动。"),
    ))


@_SHIFT_EX.checker
def check_shift_images(fn) -> bool:
    """Exercise 8.3: ``fn(x, dy, dx)`` -> x (N, C, H, W) shifted down dy and right dx, zero-filled, x unchanged."""
