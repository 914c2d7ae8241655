"""Neural-network inference: activations, the output layer, and reading MNIST (book chapter 3).

Chapter 3 has no learning in it: the weights are given, and the network only *predicts*. This module
holds the chapter's figures and experiments:

- 3.2    :func:`plot_activations`, :func:`sigmoid_step_gap`  step, sigmoid (with a gain) and ReLU
- 3.5    :func:`softmax_with_temperature`, :func:`plot_softmax_temperature`  the output layer's softmax
- 3.6    :func:`build_mlp`, :func:`load_pretrained`  the book's 784-50-100-10 sigmoid network with our own weights
- 3.4, 3.6.1  :func:`forward`  the book's three-layer prediction, written out with ``np.dot``
- 3.6.2-3.6.3  :func:`accuracy_one_by_one`, :func:`accuracy_in_batches`  the loop, and the batched loop
- 3.6    :func:`plot_prediction`  one test image, its probabilities, predicted vs true;
  :func:`find_misclassified`, :func:`plot_misclassified`  the digits the network gets wrong

Parameters are passed as the dict ``params`` with keys ``W1, b1, W2, b2, W3, b3`` — the book's
``network`` dictionary, and exactly ``MultiLayerNet.params`` of the loaded network.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from chapters.figures import DIGIT_CMAP, Case, Exercise, Mistake, figure_memo, plot_probabilities, show_digits
from common.config import WEIGHTS_DIR
from common.functions import relu, sigmoid, softmax, step_function
from common.networks import MultiLayerNet

#: The committed weights of the chapter-3 network (trained by ``scripts/train_ch03_mlp.py``).
WEIGHTS_PATH = WEIGHTS_DIR / "ch03_sigmoid_mlp.npz"

#: Layer sizes of the book's MNIST network in section 3.6: 784 inputs, hidden layers of 50 and 100, 10 classes.
MLP_SIZES = (784, 50, 100, 10)

Params = dict[str, np.ndarray]


# ---------------------------------------------------------------------------------------------
# 3.2 Activation functions
# ---------------------------------------------------------------------------------------------
def sigmoid_step_gap(gain: float, margin: float = 0.5) -> float:
    """Largest |sigmoid(gain * x) - step(x)| over all |x| >= margin.

    The gap is largest at |x| = margin, where it equals sigmoid(-gain * margin). As the gain grows it
    shrinks to 0: the step function is the limit of ever steeper sigmoids.
    """
    if gain <= 0 or margin <= 0:
        raise ValueError(f"sigmoid_step_gap: need gain > 0 and margin > 0, got {gain}, {margin}")
    return float(sigmoid(np.array(-gain * margin)))


def plot_activations(x_min: float = -6.0, x_max: float = 6.0, gain: float = 1.0,
                     fig: Figure | None = None) -> Figure:
    """Left: step, sigmoid and sigmoid(gain * x); right: ReLU, over x in [x_min, x_max].

    Prints one status line with the gain and how far the steep sigmoid still is from the step.
    fig: a figure this function returned before (the slider panel passes it): its curves are redrawn in
    place, far faster than a new figure.
    """
    if not x_min < x_max:
        raise ValueError(f"plot_activations: need x_min < x_max, got {x_min}, {x_max}")
    x = np.linspace(x_min, x_max, 601)                         # (601,)
    memo = figure_memo(fig) if fig is not None else {}
    if memo.get("key") == "activations":
        ax1, ax2 = memo["axes"]
        for line, h in ((memo["step"], step_function), (memo["sigmoid"], sigmoid), (memo["relu"], relu)):
            line.set_data(x, h(x))
        steep, label = memo["steep"], f"sigmoid({gain:.3g} x)"
        if steep is not None and gain == 1.0:
            steep.remove()
            steep = None
        elif steep is None and gain != 1.0:
            steep, = ax1.plot(x, sigmoid(gain * x), color="tab:orange", label=label)
        if steep is not None:
            steep.set_data(x, sigmoid(gain * x))
        if (steep.get_label() if steep is not None else None) != memo["legend"]:   # the legend names the gain
            if steep is not None:
                steep.set_label(label)
            ax1.legend(loc="upper left", fontsize=8)
        memo.update(steep=steep, legend=steep.get_label() if steep is not None else None)
        for ax in (ax1, ax2):
            ax.relim()
            ax.autoscale_view()
    else:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.3))
        step_line, = ax1.plot(x, step_function(x), color="black", ls="--", label="step")
        sigmoid_line, = ax1.plot(x, sigmoid(x), color="tab:blue", label="sigmoid(x)")
        steep = None
        if gain != 1.0:
            steep, = ax1.plot(x, sigmoid(gain * x), color="tab:orange", label=f"sigmoid({gain:.3g} x)")
        ax1.set_ylim(-0.1, 1.1)
        ax1.set_xlabel("x")
        ax1.set_ylabel("h(x)")
        ax1.set_title("step and sigmoid")
        ax1.legend(loc="upper left", fontsize=8)
        relu_line, = ax2.plot(x, relu(x), color="tab:green", label="ReLU = np.maximum(0, x)")
        ax2.set_xlabel("x")
        ax2.set_ylabel("h(x)")
        ax2.set_title("ReLU")
        ax2.legend(loc="upper left", fontsize=8)
        for ax in (ax1, ax2):
            ax.axhline(0, color="0.8", lw=0.8, zorder=0)
            ax.axvline(0, color="0.8", lw=0.8, zorder=0)
        fig.tight_layout()
        figure_memo(fig).update(key="activations", axes=(ax1, ax2), step=step_line, sigmoid=sigmoid_line,
                                steep=steep, relu=relu_line,
                                legend=steep.get_label() if steep is not None else None)
    print(f"gain {gain:.3g}: |sigmoid(gain*x) - step(x)| <= {sigmoid_step_gap(gain):.4g} for |x| >= 0.5")
    return fig


# ---------------------------------------------------------------------------------------------
# 3.5 Output layer
# ---------------------------------------------------------------------------------------------
#: Fixed example scores for the temperature slider (10 classes, class 3 highest).
EXAMPLE_LOGITS = np.array([1.0, -0.5, 2.0, 3.2, 0.3, 2.6, -1.0, 0.0, 1.5, 0.8])


def softmax_with_temperature(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) over the last axis: (C,) -> (C,), or (N, C) -> (N, C).

    T = 1 is the ordinary softmax. T -> 0 puts all probability on the largest score (argmax);
    T -> infinity spreads it evenly (1/C each). The ranking of the classes never changes.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return softmax(np.asarray(logits, dtype=np.float64) / temperature)


def plot_softmax_temperature(temperature: float = 1.0, logits: np.ndarray = EXAMPLE_LOGITS) -> Figure:
    """Bar chart of softmax(logits / temperature); prints the top probability and the entropy."""
    logits = np.asarray(logits, dtype=np.float64)
    p = softmax_with_temperature(logits, temperature)
    fig = plot_probabilities(p, title=f"softmax(a / T), T = {temperature:.3g}")
    entropy = float(-np.sum(p * np.log(np.maximum(p, 1e-300))))
    top = int(np.argmax(p))
    print(f"T={temperature:.3g}: top class {top} with p={p[top]:.4f}, entropy {entropy:.4f} "
          f"(max {np.log(p.size):.4f})")
    return fig


# ---------------------------------------------------------------------------------------------
# 3.6 The MNIST network with our own trained weights
# ---------------------------------------------------------------------------------------------
def build_mlp(seed: int = 0, weight_init_std: float | str = "xavier", fast: bool = True) -> MultiLayerNet:
    """The book's 784-50-100-10 network: Affine-Sigmoid-Affine-Sigmoid-Affine (+ softmax), float32.

    fast: ``common.fast``'s layers (the default) or the book's (False); same parameters, same numbers.
    """
    return MultiLayerNet(MLP_SIZES[0], list(MLP_SIZES[1:-1]), MLP_SIZES[-1], activation="sigmoid",
                         weight_init_std=weight_init_std, dtype=np.float32, seed=seed, fast=fast)


def load_pretrained(path: str | os.PathLike = WEIGHTS_PATH) -> tuple[MultiLayerNet, dict]:
    """Build the chapter-3 network and load the committed weights into it.

    Returns (network, metadata); metadata is the training record stored inside the .npz (seed,
    epochs, optimizer, test accuracy, ...). Raises FileNotFoundError with the command that
    recreates the file when it is missing.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; recreate it with `make weights` "
                                f"(or python scripts/train_ch03_mlp.py)")
    net = build_mlp()
    metadata = net.load_params(path) or {}
    return net, metadata


def forward(params: Params, x: np.ndarray) -> np.ndarray:
    """The book's ``predict(network, x)``: two sigmoid layers, then softmax.

    x: one image (784,) or a batch (N, 784). Returns probabilities (10,) or (N, 10).
    ``np.dot`` handles both: (784,)·(784, 50) -> (50,) and (N, 784)·(784, 50) -> (N, 50).
    """
    a1 = np.dot(x, params["W1"]) + params["b1"]
    z1 = sigmoid(a1)
    a2 = np.dot(z1, params["W2"]) + params["b2"]
    z2 = sigmoid(a2)
    a3 = np.dot(z2, params["W3"]) + params["b3"]
    return softmax(a3)


def accuracy_one_by_one(params: Params, x: np.ndarray, t: np.ndarray) -> float:
    """Section 3.6.2: predict one image at a time, count the correct ones. x: (N, 784), t: (N,)."""
    accuracy_cnt = 0
    for i in range(len(x)):
        y = forward(params, x[i])          # (10,)
        p = np.argmax(y)                   # the index of the largest probability
        if p == t[i]:
            accuracy_cnt += 1
    return accuracy_cnt / len(x)


def accuracy_in_batches(params: Params, x: np.ndarray, t: np.ndarray, batch_size: int = 100) -> float:
    """Section 3.6.3: the same count, ``batch_size`` images per call. x: (N, 784), t: (N,)."""
    accuracy_cnt = 0
    for i in range(0, len(x), batch_size):
        y_batch = forward(params, x[i:i + batch_size])      # (batch_size, 10)
        p = np.argmax(y_batch, axis=1)                      # (batch_size,): one class per row
        accuracy_cnt += int(np.sum(p == t[i:i + batch_size]))
    return accuracy_cnt / len(x)


def plot_prediction(index: int, params: Params, images: np.ndarray, labels: np.ndarray,
                    fig: Figure | None = None) -> Figure:
    """Test image ``index`` (images: (N, 784)), the network's probabilities, predicted vs true.

    Prints a status line such as ``index 0: true 7, predicted 7 (p=0.9945)``.
    fig: a figure this function returned before (the slider panel passes it): image, bars and titles are
    updated in place, far faster than a new figure.
    """
    index = int(index)
    if not 0 <= index < len(images):
        raise IndexError(f"index {index} out of range for {len(images)} images")
    probs = forward(params, images[index])                   # (10,)
    pred, true = int(np.argmax(probs)), int(labels[index])
    verdict = "correct" if pred == true else "WRONG"
    memo = figure_memo(fig) if fig is not None else {}
    if memo.get("key") == "prediction" and probs.size == 10:
        ax_img, ax_bar = memo["axes"]
        memo["image"].set_data(images[index].reshape(28, 28))
        memo["image"].autoscale()                             # as imshow does: the colour range of this image
        ax_img.set_title(f"#{index}: true {true}")
        ax_bar.clear()
        plot_probabilities(probs, true_label=true, ax=ax_bar, title=f"predicted {pred} ({verdict})")
    else:
        fig, (ax_img, ax_bar) = plt.subplots(1, 2, figsize=(7, 2.8), gridspec_kw={"width_ratios": [1, 1.6]})
        image = ax_img.imshow(images[index].reshape(28, 28), cmap=DIGIT_CMAP)
        ax_img.set_title(f"#{index}: true {true}")
        ax_img.axis("off")
        plot_probabilities(probs, true_label=true, ax=ax_bar, title=f"predicted {pred} ({verdict})")
        fig.tight_layout()
        figure_memo(fig).update(key="prediction", axes=(ax_img, ax_bar), image=image)
    print(f"index {index}: true {true}, predicted {pred} (p={probs[pred]:.4f})")
    return fig


def find_misclassified(params: Params, images: np.ndarray, labels: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the images the network gets wrong, its predictions there, and its confidence.

    Returns (indices (K,), predicted (K,), confidence (K,)), in index order; confidence is the
    probability the network gave to its (wrong) prediction.
    """
    probs = forward(params, images)                          # (N, 10)
    pred = np.argmax(probs, axis=1)
    wrong = np.flatnonzero(pred != np.asarray(labels))
    return wrong, pred[wrong], probs[wrong, pred[wrong]]


def plot_misclassified(params: Params, images: np.ndarray, labels: np.ndarray, n: int = 12,
                       ncols: int = 6) -> Figure:
    """A gallery of the first ``n`` misclassified images, titled "#index: true→predicted (confidence, 0.1 %)"."""
    wrong, pred, conf = find_misclassified(params, images, labels)
    wrong, pred, conf = wrong[:n], pred[:n], conf[:n]
    titles: Sequence[str] = [f"#{i}: {int(labels[i])}→{p} ({c:.1%})" for i, p, c in zip(wrong, pred, conf)]
    return show_digits(images[wrong], titles=titles, ncols=ncols, size=1.4)


# ---------------------------------------------------------------------------------------------
# Exercises (练习): check_step_function, check_relu, check_softmax
# ---------------------------------------------------------------------------------------------
# Each checker runs the reader's function on a few arrays (single samples and batches), compares with
# common.functions and, when the answer is wrong, names the mistake — the reader's np.int, np.max(0, x)
# and whole-batch softmax among them.



# -- 1. The step function on arrays ----------------------------------------------------------------
def _observe_step(rec, fn, x):
    y = rec.result("y", fn(x))
    rec.put("bool", np.asarray(y).dtype == bool)


def _step_if(x):
    if x > 0:                                   # one True/False wanted, an array of them given
        return 1
    return 0


def _step_np_int(x):
    return np.array(x > 0, dtype=np.int)        # noqa: NPY001 - the reader's line: np.int is gone


def _step_bool(x):
    return x > 0


def _step_ge(x):
    return (x >= 0).astype(int)


_STEP_EX = Exercise(
    "step_function", "阶跃函数 step_function", step_function, _observe_step,
    (Case("x = [-1.0, 0.0, 2.5]", (np.array([-1.0, 0.0, 2.5]),)),
     Case("x = [[0.5, -0.2], [-3.0, 1e-09]], shape (2, 2)", (np.array([[0.5, -0.2], [-3.0, 1e-9]]),))),
    labels={"y": ("the result", "结果"), "bool": ("whether the result is boolean", "结果是否为布尔类型")},
    mistakes=(
        Mistake.planted(
            _step_if,
            "`if x > 0:` wants one True/False, but on an array x > 0 is an array of them (hence 'truth value "
            "of an array … is ambiguous'): let NumPy compare element-wise, y = x > 0, then y.astype(int).",
            "`if x > 0:` 需要一个 True/False，但对数组来说 x > 0 是一个布尔数组（所以报错 truth value of an "
            "array … is ambiguous）：让 NumPy 逐元素比较，y = x > 0，再 y.astype(int)。"),
        Mistake.planted(
            _step_np_int,
            "np.int is gone from NumPy (removed in 1.24): write int (or np.int_), e.g. (x > 0).astype(int).",
            "NumPy 已经删除了 np.int（1.24 起）：请用 int（或 np.int_），例如 (x > 0).astype(int)。"),
        Mistake.planted(
            _step_bool,
            "You return booleans (True/False): the step function outputs the numbers 0 and 1 — convert with "
            ".astype(int).",
            "你返回的是布尔值（True/False）：阶跃函数输出的是数字 0 和 1——用 .astype(int) 转换。"),
        Mistake.planted(
            _step_ge,
            "At x = 0 your step gives 1: the book's step function outputs 1 only for x > 0 (0 for x ≤ 0) — "
            "use >, not >=.",
            "在 x = 0 处你的阶跃函数输出了 1：书中的阶跃函数只在 x > 0 时输出 1（x ≤ 0 时输出 0）——"
            "用 >，不要用 >=。"),
    ))


@_STEP_EX.checker
def check_step_function(fn) -> bool:
    """Exercise 3.1: ``fn(x)`` -> 0/1 integers of x's shape, 1 where x > 0. Prints the verdict."""


# -- 2. ReLU ---------------------------------------------------------------------------------------
def _observe_relu(rec, fn, x):
    rec.result("y", fn(x))
    rec.put("x_after", x)


def _relu_np_max(x):
    return np.max(0, x)                         # the reader's line: a reduction, not an element-wise max


def _relu_np_max_axis(x):
    return np.max(x, 0)


def _relu_builtin_max(x):
    return max(0, x)


def _relu_in_place(x):
    x[x < 0] = 0
    return x


_RELU_EX = Exercise(
    "relu", "ReLU 函数 relu", relu, _observe_relu,
    (Case("x = [-2.0, 0.5, 3.0]", (np.array([-2.0, 0.5, 3.0]),)),
     Case("x = [[1.5, -0.5, -4.0], [-1.0, 2.0, 0.25]], shape (2, 3)",
          (np.array([[1.5, -0.5, -4.0], [-1.0, 2.0, 0.25]]),))),
    labels={"y": ("the result", "结果"), **Exercise.after_call("x")},
    mistakes=(
        Mistake.planted(
            (_relu_np_max, _relu_np_max_axis),
            "np.max is a reduction, not an element-wise maximum: np.max(0, x) looks for the largest element of "
            "the array 0 along axis x (hence the TypeError), np.max(x, 0) for the largest of each column — "
            "use np.maximum(0, x).",
            "np.max 是归约运算，不是逐元素取最大值：np.max(0, x) 在数组 0 中沿轴 x 找最大值（所以报 TypeError），"
            "np.max(x, 0) 找每一列的最大值——请用 np.maximum(0, x)。"),
        Mistake.planted(
            _relu_builtin_max,
            "Python's max(0, x) compares 0 with the whole array x, which needs one True/False (hence 'truth value "
            "… is ambiguous'): use np.maximum(0, x), element by element.",
            "Python 的 max(0, x) 拿 0 和整个数组 x 比较，需要一个 True/False（所以报错 truth value … is "
            "ambiguous）：请用逐元素的 np.maximum(0, x)。"),
        Mistake.planted(
            _relu_in_place,
            "Your relu changed the caller's x (x[x < 0] = 0 writes into the array you were given): return a new "
            "array, np.maximum(0, x), and leave x alone.",
            "你的 relu 修改了调用者的 x（x[x < 0] = 0 直接写进了传入的数组）：应返回一个新数组 np.maximum(0, x)，"
            "不要改动 x。"),
    ))


@_RELU_EX.checker
def check_relu(fn) -> bool:
    """Exercise 3.2: ``fn(x)`` -> max(0, x) element-wise, a new array of x's shape. Prints the verdict."""


# -- 3. Softmax for one sample and for a batch -----------------------------------------------------
def _softmax_whole_batch(a):                    # the book's version for one sample, given a batch
    c = np.max(a)
    exp_a = np.exp(a - c)
    return exp_a / np.sum(exp_a)


def _softmax_no_shift(a):
    exp_a = np.exp(a)
    return exp_a / np.sum(exp_a, axis=-1, keepdims=True)


def _softmax_naive(a):                         # the textbook's first version, before 3.5.2
    exp_a = np.exp(a)
    return exp_a / np.sum(exp_a)


def _softmax_global_max(a):
    exp_a = np.exp(a - np.max(a))
    return exp_a / np.sum(exp_a, axis=-1, keepdims=True)


def _softmax_sum_no_keepdims(a):
    exp_a = np.exp(a - np.max(a, axis=-1, keepdims=True))
    return exp_a / np.sum(exp_a, axis=-1)


def _softmax_no_keepdims(a):
    exp_a = np.exp(a - np.max(a, axis=-1))
    return exp_a / np.sum(exp_a, axis=-1)


def _softmax_axis0(a):
    exp_a = np.exp(a - np.max(a, axis=0, keepdims=True))
    return exp_a / np.sum(exp_a, axis=0, keepdims=True)


def _softmax_axis1(a):
    exp_a = np.exp(a - np.max(a, axis=1, keepdims=True))
    return exp_a / np.sum(exp_a, axis=1, keepdims=True)


_SOFTMAX_EX = Exercise.returning(
    "softmax", "softmax 函数", softmax, ("y", "the probabilities", "概率"),
    (Case("a = [0.3, 2.9, 4.0], one sample", (np.array([0.3, 2.9, 4.0]),)),
     Case("a batch of 2 rows, shape (2, 3)", (np.array([[0.3, 2.9, 4.0], [1.0, 1.0, -1.0]]),)),
     Case("a batch of 3 rows, shape (3, 3)", (np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [-1.0, 5.0, 2.0]]),)),
     Case("a = [1010, 1000, 990], large scores", (np.array([1010.0, 1000.0, 990.0]),)),
     Case("a batch with large scores, shape (2, 3)", (np.array([[1010.0, 1000.0, 990.0], [0.0, 1.0, 2.0]]),))),
    mistakes=(
        Mistake.planted(
            _softmax_naive,
            "softmax sums over the whole batch and overflows: np.exp(a) / np.sum(np.exp(a)) divides every row "
            "by the whole batch's sum, and exp(1010) = inf gives nan — per row, subtract the max and sum: "
            "e = np.exp(a - np.max(a, axis=-1, keepdims=True)); e / np.sum(e, axis=-1, keepdims=True).",
            "softmax 对整个批次求和了，而且会溢出：np.exp(a) / np.sum(np.exp(a)) 把每一行都除以整个批次的和，"
            "exp(1010) = inf 又得到 nan——要按行减去最大值再求和："
            "e = np.exp(a - np.max(a, axis=-1, keepdims=True))；"
            "e / np.sum(e, axis=-1, keepdims=True)。"),
        Mistake.planted(
            _softmax_whole_batch,
            "softmax sums over the whole batch: each row must sum to 1 — take the max and the sum per row, "
            "np.max(a, axis=-1, keepdims=True) and np.sum(exp_a, axis=-1, keepdims=True) (axis=1 for a batch).",
            "softmax 对整个批次求和了：每一行都应和为 1——按行取最大值和求和，np.max(a, axis=-1, keepdims=True) "
            "和 np.sum(exp_a, axis=-1, keepdims=True)（批处理时即 axis=1）。"),
        Mistake.planted(
            _softmax_no_shift,
            "softmax overflows on large scores: exp(1010) is inf and inf/inf is nan — subtract each row's "
            "maximum first, a - np.max(a, axis=-1, keepdims=True), and exponentiate the *shifted* values.",
            "softmax 在输入很大时溢出：exp(1010) 是 inf，inf/inf 得到 nan——先减去每一行的最大值，"
            "a - np.max(a, axis=-1, keepdims=True)，再对减过的值求 exp。"),
        Mistake.planted(
            _softmax_global_max,
            "You subtract the whole batch's maximum: a row of small scores then becomes exp(-1010) = 0 "
            "everywhere, and 0/0 = nan — subtract each row's own maximum, np.max(a, axis=-1, keepdims=True).",
            "你减去的是整个批次的最大值：分数较小的那一行会变成 exp(-1010) = 0，0/0 = nan——要减去每一行自己的"
            "最大值，np.max(a, axis=-1, keepdims=True)。"),
        Mistake.planted(
            (_softmax_sum_no_keepdims, _softmax_no_keepdims),
            "Without keepdims=True the row maxima and sums have shape (N,), which does not line up with (N, C) "
            "(an error, or for N == C a silent mix-up): keep them as an (N, 1) column with keepdims=True.",
            "没有 keepdims=True，每行的最大值与和的形状是 (N,)，与 (N, C) 对不上（会报错；N == C 时则悄悄算错）："
            "用 keepdims=True 把它们保持为 (N, 1) 的列。"),
        Mistake.planted(
            _softmax_axis0,
            "You normalised the columns (axis=0): in a batch (N, C) each *row* is one sample — use axis=-1 "
            "(axis=1 for a batch) with keepdims=True.",
            "你对列做了归一化（axis=0）：在批次 (N, C) 中每一*行*才是一个样本——请用 axis=-1（批处理时即 axis=1），"
            "并加上 keepdims=True。"),
        Mistake.planted(
            _softmax_axis1,
            "axis=1 fails for a single sample of shape (C,), which has only axis 0: use axis=-1, the last axis — "
            "the class axis of (C,) and (N, C) alike.",
            "axis=1 对形状为 (C,) 的单个样本会出错（它只有第 0 轴）：请用 axis=-1，即最后一个轴——"
            "对 (C,) 和 (N, C) 来说它都是类别轴。"),
    ))


@_SOFTMAX_EX.checker
def check_softmax(fn) -> bool:
    """Exercise 3.3: ``fn(a)`` -> softmax over the last axis, for a (C,) sample and an (N, C) batch."""
