"""Chapter 4's exercises that answer back (练习): check_numerical_gradient, check_gradient_descent,
check_cross_entropy_error — each recognises the reader's own mistakes.
"""
from __future__ import annotations

import numpy as np

from chapters.figures import Case, Exercise, Mistake, Variant, same
from common.gradient import numerical_gradient

# ---------------------------------------------------------------------------------------------
# Exercises (练习): check_numerical_gradient, check_gradient_descent, check_cross_entropy_error
# ---------------------------------------------------------------------------------------------
# Each checker runs the reader's function on a few cases (1-D and 2-D, floats and integers, one
# sample and a batch), compares with the reference and names the mistake — among them the reader's
# own: range(x.size) on 2-D weights, integer arrays, the caller's init_x moved.



# -- 1. Numerical gradient for arrays of any shape -------------------------------------------------
def _sum_of_squares(x):
    return float(np.sum(x ** 2))


def _weighted_sin(x):
    return float(np.sum(np.sin(x) * np.arange(1, x.size + 1).reshape(x.shape)))


def _observe_gradient(rec, fn, f, x):
    try:
        grad = fn(f, x)
    except (TypeError, ValueError):
        if np.issubdtype(x.dtype, np.floating):
            raise
        grad = "refuses integers"               # also a right answer (common.gradient's)
    rec.result("grad", grad)
    rec.put("x_after", x)


def _as_float(x):
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)   # integers round x + h back to x


def _central_difference(f, x, idx, h):
    """(f(x + h) - f(x - h)) / 2h in the direction of x[idx], changing x[idx] in place and putting it back."""
    tmp_val = x[idx]
    x[idx] = tmp_val + h
    fxh1 = f(x)
    x[idx] = tmp_val - h
    fxh2 = f(x)
    x[idx] = tmp_val
    return (fxh1 - fxh2) / (2 * h)


def _gradient_integer_naive(f, x, h=1e-4):      # the nditer version, with no care for integers
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        grad[it.multi_index] = _central_difference(f, x, it.multi_index, h)
        it.iternext()
    return grad


def _gradient_reference(f, x, h=1e-4):
    return _gradient_integer_naive(f, _as_float(x), h)


def _gradient_refuses_integers(f, x):           # common.gradient's choice: integers are refused
    return numerical_gradient(f, x)


def _gradient_range_size(f, x, h=1e-4):         # the book's 1-D version, given 2-D weights
    x = _as_float(x)
    grad = np.zeros_like(x)
    for idx in range(x.size):                   # x[idx] is a whole row of a 2-D x
        grad[idx] = _central_difference(f, x, idx, h)
    return grad


def _gradient_not_restored(f, x, h=1e-4):
    x = _as_float(x)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        tmp_val = x[idx].copy()
        x[idx] = tmp_val + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)      # x[idx] = tmp_val forgotten
    return grad


def _gradient_forward_difference(f, x, h=1e-4):
    x = _as_float(x)
    fx = f(x)                                   # x is put back after every step: f(x) stays the same
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        tmp_val = x[idx].copy()
        x[idx] = tmp_val + h
        grad[idx] = (f(x) - fx) / h
        x[idx] = tmp_val
    return grad


def _gradient_flat_copy(f, x, h=1e-4):
    flat = x.astype(np.float64).flatten()      # a copy: f never sees the perturbation
    f_of_x = lambda _flat: f(x)                 # noqa: E731 - f reads the untouched x, not the copy
    grad = np.array([_central_difference(f_of_x, flat, i, h) for i in range(flat.size)])
    return grad.reshape(x.shape)


_INTEGER_CASE = 3


def _integer_case_wrong(got, ref):
    """The integer case gives a wrong gradient (no error) while the same f on floats, case 0, is right."""
    g0, gi = got[0], got[_INTEGER_CASE]
    float_right = "error" not in g0 and same(g0.get("grad"), ref[0]["grad"], 1e-5, 1e-6)
    return [_INTEGER_CASE] if float_right and "error" not in gi else []


_GRADIENT_EX = Exercise(
    "numerical_gradient", "数值梯度 numerical_gradient", _gradient_reference, _observe_gradient,
    (Case("f = sum(x**2), x = [3.0, 4.0]", (_sum_of_squares, np.array([3.0, 4.0]))),
     Case("f = sum(x**2), x of shape (2, 3)", (_sum_of_squares, np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.5]]))),
     Case("f = sum(sin(x) * [[1, 2], [3, 4], [5, 6]]), x of shape (3, 2)",
          (_weighted_sin, np.array([[0.1, 0.2], [0.3, -0.4], [1.0, 2.0]]))),
     Case("f = sum(x**2), x = np.array([3, 4]) (integers)", (_sum_of_squares, np.array([3, 4])))),
    labels={"grad": ("the gradient", "梯度"), "x_after": ("your x after the call (it must be restored)",
                                                        "调用后的 x（必须恢复原值）")},
    rtol=1e-5, atol=1e-6,
    variants=(Variant(_gradient_refuses_integers,
                      "(An integer x is refused with a TypeError — also right: common.gradient does the same.)",
                      "（对整数 x 抛出 TypeError——这样也对：common.gradient 也是这样做的。）"),),
    mistakes=(
        Mistake.planted(
            _gradient_range_size,
            "`for idx in range(x.size)` with x[idx] walks the *rows* of a 2-D x (x[idx] is a whole row, and idx "
            "runs past the last row): visit every element, e.g. it = np.nditer(x, flags=['multi_index']) with "
            "idx = it.multi_index.",
            "对二维的 x，`for idx in range(x.size)` 配合 x[idx] 遍历的是*行*（x[idx] 是一整行，idx 还会超出行数）："
            "要访问每个元素，例如 it = np.nditer(x, flags=['multi_index'])，idx = it.multi_index。"),
        Mistake("With an integer x, x[idx] + h is rounded back to an integer (h = 1e-4 is lost), so the differences "
                "are 0 or wildly wrong: work on floats (x.astype(np.float64)), or refuse integers with a TypeError.",
                "x 是整数数组时，x[idx] + h 会被舍入回整数（h = 1e-4 丢失了），差分结果是 0 或错得离谱：请用浮点数"
                "（x.astype(np.float64)），或对整数输入抛出 TypeError。",
                wrong=(_gradient_integer_naive,),
                test=lambda got, ref: _integer_case_wrong(got, ref)),
        Mistake.planted(
            _gradient_not_restored,
            "Your function leaves x changed: after trying x[idx] + h and x[idx] - h, put the original value back "
            "(x[idx] = tmp_val) — a network's weights are that very array.",
            "你的函数调用后 x 变了：试过 x[idx] + h 和 x[idx] - h 之后，要把原值放回去（x[idx] = tmp_val）——"
            "网络的权重就是这个数组本身。"),
        Mistake.planted(
            _gradient_forward_difference,
            "Your gradient is off by about h: (f(x + h) - f(x)) / h is the forward difference, error O(h) — the "
            "book's central difference (f(x + h) - f(x - h)) / (2*h) is far more accurate.",
            "你的梯度偏差约为 h：(f(x + h) - f(x)) / h 是前向差分，误差为 O(h)——书中的中心差分 "
            "(f(x + h) - f(x - h)) / (2*h) 精确得多。"),
        Mistake.planted(
            _gradient_flat_copy,
            "Your gradient is all zeros: you perturbed a copy (x.flatten(), or a reshape that copies) while f "
            "still reads the untouched x — perturb x itself (np.nditer over x).",
            "你的梯度全是 0：你改动的是一个副本（x.flatten()，或会复制数据的 reshape），而 f 读的仍是原来的 x——"
            "要改动 x 本身（用 np.nditer 遍历 x）。"),
    ))


@_GRADIENT_EX.checker
def check_numerical_gradient(fn) -> bool:
    """Exercise 4.1: ``fn(f, x)`` -> the central-difference gradient of f at x, for x of any shape."""


# -- 2. Gradient descent that leaves init_x alone --------------------------------------------------
def _observe_descent(rec, fn, f, init_x, lr, step_num):
    rec.result("x", fn(f, init_x, lr=lr, step_num=step_num))
    rec.put("init_x_after", init_x)


def _descent_reference(f, init_x, lr=0.01, step_num=100):
    x = np.array(init_x, dtype=np.float64)      # a float copy: the caller's init_x stays put
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
    return x


def _descent_in_place(f, init_x, lr=0.01, step_num=100):    # the book's: x is init_x
    x = init_x
    for _ in range(step_num):
        grad = numerical_gradient(f, x)
        x -= lr * grad
    return x


def _descent_uphill(f, init_x, lr=0.01, step_num=100):
    x = np.array(init_x, dtype=np.float64)
    for _ in range(step_num):
        x += lr * numerical_gradient(f, x)
    return x


def _descent_integer_copy(f, init_x, lr=0.01, step_num=100):
    x = init_x.copy()                           # still integers
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
    return x


_DESCENT_CASES = (
    Case("f = x0**2 + x1**2, init_x = [-3.0, 4.0], lr=0.1, step_num=100",
         (_sum_of_squares, np.array([-3.0, 4.0]), 0.1, 100)),
    Case("f = x0**2 + x1**2, init_x = [-3.0, 4.0], lr=0.1, step_num=1",
         (_sum_of_squares, np.array([-3.0, 4.0]), 0.1, 1)),
    Case("f = sum(x**2), init_x of shape (2, 2), lr=0.2, step_num=3",
         (_sum_of_squares, np.array([[1.0, -2.0], [0.5, 3.0]]), 0.2, 3)),
    Case("f = x0**2 + x1**2, init_x = np.array([-3, 4]) (integers), lr=0.1, step_num=10",
         (_sum_of_squares, np.array([-3, 4]), 0.1, 10)),
)


def _moved_init_x(got, ref):
    """Cases whose init_x moved; and the integer case, when it raised: the same missing float copy."""
    moved = [i for i, (g, case) in enumerate(zip(got, _DESCENT_CASES))
             if "init_x_after" in g and not np.array_equal(g["init_x_after"], case.args[1])]
    return moved + [3] if moved and "error" in got[3] else moved


_DESCENT_EX = Exercise(
    "gradient_descent", "梯度下降法 gradient_descent", _descent_reference, _observe_descent, _DESCENT_CASES,
    labels={"x": ("the final x", "最终的 x"), **Exercise.after_call("init_x")},
    rtol=1e-5, atol=1e-7,
    mistakes=(
        Mistake("Your gradient descent moved the caller's init_x too (x = init_x is the same array, and x -= ... "
                "updates it in place): start from a copy, x = np.array(init_x, dtype=float).",
                "你的梯度下降法把调用者的 init_x 也改了（x = init_x 是同一个数组，x -= ... 原地更新了它）："
                "从副本开始，x = np.array(init_x, dtype=float)。",
                wrong=(_descent_in_place,), test=_moved_init_x),
        Mistake.planted(
            _descent_uphill,
            "Your x climbs uphill: gradient descent steps *against* the gradient, x -= lr * grad.",
            "你的 x 在往上坡走：梯度下降法要沿梯度的*反*方向走，x -= lr * grad。"),
        Mistake("An integer start point np.array([-3, 4]) fails: x.copy() keeps the integers, and the float steps "
                "cannot be stored in them — copy as floats, x = np.array(init_x, dtype=float).",
                "整数起点 np.array([-3, 4]) 出错了：x.copy() 仍是整数数组，浮点数的更新量存不进去——"
                "复制为浮点数，x = np.array(init_x, dtype=float)。",
                wrong=(_descent_integer_copy,),
                test=lambda got, ref: [3] if "error" in got[3] else []),
    ))


@_DESCENT_EX.checker
def check_gradient_descent(fn) -> bool:
    """Exercise 4.2: ``fn(f, init_x, lr, step_num)`` -> the final x, init_x left unchanged. Prints the verdict."""


# -- 3. Cross-entropy error: one sample or a batch, one-hot or labels ------------------------------
def _cross_entropy_reference(y, t):
    y, t = np.asarray(y), np.asarray(t)
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:                        # one-hot rows -> labels
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t.reshape(batch_size)] + 1e-7)) / batch_size


def _cross_entropy_no_mean(y, t):
    y, t = np.asarray(y), np.asarray(t)
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t.reshape(batch_size)] + 1e-7))


def _cross_entropy_one_hot_only(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    batch_size = y.shape[0]
    return -np.sum(t * np.log(y + 1e-7)) / batch_size


def _cross_entropy_labels_only(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def _cross_entropy_no_delta(y, t):
    y, t = np.asarray(y), np.asarray(t)
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    batch_size = y.shape[0]
    if t.size == y.size:
        return -np.sum(t * np.log(y)) / batch_size
    return -np.sum(np.log(y[np.arange(batch_size), t.reshape(batch_size)])) / batch_size


_Y1 = np.array([0.1, 0.7, 0.2])
_YB = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
_SINGLE_CASES, _BATCH_CASES, _ZERO_CASE = (0, 1), (2, 3), 4


def _single_sample_wrong(got, ref):
    batches_right = all("error" not in got[i] and np.isclose(got[i]["loss"], ref[i]["loss"], atol=1e-6)
                        for i in _BATCH_CASES)
    singles_wrong = [i for i in _SINGLE_CASES
                     if "error" in got[i] or not np.isclose(got[i]["loss"], ref[i]["loss"], atol=1e-6)]
    return singles_wrong if batches_right else []


def _summed_over_batch(got, ref):
    """Batch cases (N = 2) whose loss is N times the reference: the sum, not the mean."""
    return [i for i in (2, 3, 4) if "error" not in got[i]
            and np.isclose(got[i]["loss"], 2 * ref[i]["loss"], rtol=1e-5, atol=1e-6)]


def _log_of_zero(got, ref):
    g = got[_ZERO_CASE]
    return [_ZERO_CASE] if "error" not in g and not np.all(np.isfinite(g["loss"])) else []


_CROSS_ENTROPY_EX = Exercise.returning(
    "cross_entropy_error", "交叉熵误差 cross_entropy_error", _cross_entropy_reference,
    ("loss", "the loss", "损失"),
    (Case("one sample y = [0.1, 0.7, 0.2], one-hot t = [0, 1, 0]", (_Y1, np.array([0, 1, 0]))),
     Case("one sample y = [0.1, 0.7, 0.2], label t = np.array(1)", (_Y1, np.array(1))),
     Case("a batch y of shape (2, 3), one-hot t of shape (2, 3)", (_YB, np.array([[0, 1, 0], [1, 0, 0]]))),
     Case("a batch y of shape (2, 3), labels t = [1, 0]", (_YB, np.array([1, 0]))),
     Case("a batch whose first row gives the correct class probability 0",
          (np.array([[1.0, 0.0, 0.0], [0.1, 0.7, 0.2]]), np.array([[0, 1, 0], [0, 1, 0]])))),
    rtol=1e-5, atol=1e-6,
    mistakes=(
        Mistake("Your loss is the sum over the batch: cross_entropy_error is the *mean* per sample — divide by the "
                "batch size N = y.shape[0].",
                "你的损失是整个批次的总和：交叉熵误差要取每个样本的*平均*——除以批大小 N = y.shape[0]。",
                wrong=(_cross_entropy_no_mean,), test=_summed_over_batch),
        Mistake.planted(
            _cross_entropy_one_hot_only,
            "Label targets (t = [1, 0], one class index per sample) are not handled: for labels take "
            "-log y[np.arange(N), t]; t * np.log(y) works only for one-hot t.",
            "没有处理标签形式的监督数据（t = [1, 0]，每个样本一个类别索引）：标签要取 -log y[np.arange(N), t]；"
            "t * np.log(y) 只适用于 one-hot 表示。"),
        Mistake.planted(
            _cross_entropy_labels_only,
            "One-hot targets (t of shape (N, C)) are not handled: turn them into labels first "
            "(if t.size == y.size: t = t.argmax(axis=1)), or use -np.sum(t * np.log(y + 1e-7)) / N.",
            "没有处理 one-hot 形式的监督数据（t 的形状为 (N, C)）：先把它们变成标签"
            "（if t.size == y.size: t = t.argmax(axis=1)），或用 -np.sum(t * np.log(y + 1e-7)) / N。"),
        Mistake("A single sample y of shape (C,) goes wrong: make it a batch of one first (y = y.reshape(1, y.size), "
                "t likewise), or y.shape[0] is the number of classes, not the batch size.",
                "单个样本 y（形状为 (C,)）算错了：先把它变成只有一个样本的批次（y = y.reshape(1, y.size)，t 也一样），"
                "否则 y.shape[0] 是类别数而不是批大小。",
                test=_single_sample_wrong),
        Mistake("A probability of exactly 0 at the correct class gives log(0) = -inf (and 0 * log(0) = nan): add a "
                "tiny delta, np.log(y + 1e-7).",
                "正确类别的概率恰好为 0 时，log(0) = -inf（0 * log(0) = nan）：加上一个微小值，np.log(y + 1e-7)。",
                wrong=(_cross_entropy_no_delta,), test=_log_of_zero),
    ))


@_CROSS_ENTROPY_EX.checker
def check_cross_entropy_error(fn) -> bool:
    """Exercise 4.3: ``fn(y, t)`` -> mean cross-entropy error, y (C,) or (N, C), t one-hot or labels."""
