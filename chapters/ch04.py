"""Figures and small experiments for chapter 4 (learning from data).

Each ``plot_*`` function returns a Matplotlib ``Figure`` (it never calls ``plt.show()``); the ones
driven by sliders also *print* a short status text that changes with the controls, e.g.
``lr = 0.1, 20 steps: end (-0.03459, 0.04612), f = 0.003323``.

- 4.2.5  :func:`threshold_loss_and_accuracy`, :func:`plot_loss_vs_accuracy`  why we optimise loss, not accuracy
- 4.3    :func:`difference_errors`, :func:`plot_diff_error`    forward vs central difference, error vs h
- 4.4    :func:`plot_gradient_field`                           the arrows -grad f of f = x0^2 + x1^2
- 4.4.1  :func:`plot_descent_path`                             gradient descent drawn on contours
- 4.5    :func:`train_single_image`, :func:`plot_single_image_runs`, :func:`softmax_table`
  the reader's experiment: a TwoLayerNet trained on one image
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from chapters.figures import Case, Exercise, Mistake, Variant, same
from common.functions import softmax
from common.gradient import gradient_descent, numerical_gradient
from common.networks import TwoLayerNet


# ---------------------------------------------------------------------------------------------
# 4.2.5 Why a loss function: accuracy is flat almost everywhere
# ---------------------------------------------------------------------------------------------
def toy_threshold_data(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D, two-class data set: x (n,) floats, t (n,) labels 0/1.

    Class 0 is drawn around -1, class 1 around +1 (standard deviation 0.8), so the classes overlap
    and no threshold classifies every point correctly.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n) % 2
    x = rng.normal(loc=np.where(t == 1, 1.0, -1.0), scale=0.8)
    return x, t


def threshold_loss_and_accuracy(c: np.ndarray, x: np.ndarray, t: np.ndarray, sharpness: float = 2.0
                                ) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and mean cross-entropy of the classifier "class 1 if x > c", for each threshold c.

    c: thresholds, shape (K,). x: inputs (n,), t: labels (n,) in {0, 1}.
    The model's probability of class 1 is sigmoid(sharpness * (x - c)); its prediction is p > 0.5,
    i.e. x > c. Returns (accuracy (K,), loss (K,)).
    """
    c = np.atleast_1d(np.asarray(c, dtype=np.float64))
    z = sharpness * (x[None, :] - c[:, None])                 # (K, n)
    p1 = 1.0 / (1.0 + np.exp(-z))
    p_true = np.where(t[None, :] == 1, p1, 1.0 - p1)
    loss = -np.mean(np.log(np.maximum(p_true, 1e-12)), axis=1)
    accuracy = np.mean((x[None, :] > c[:, None]) == (t[None, :] == 1), axis=1)
    return accuracy, loss


def plot_loss_vs_accuracy(c: float = -1.5, n: int = 24, seed: int = 0) -> Figure:
    """Accuracy (left) and loss (right) as functions of a single parameter, the threshold c.

    Accuracy is a staircase: it only changes when c crosses a data point, so its derivative is 0
    almost everywhere and gradient descent would never move. The loss is smooth, and its slope at
    the marked c points towards better thresholds. Prints the status line
    ``c = -1.5: accuracy 0.6667 (slope 0), loss 0.5734 (slope -0.5724)``.
    """
    x, t = toy_threshold_data(n, seed)
    grid = np.linspace(-3, 3, 601)
    acc, loss = threshold_loss_and_accuracy(grid, x, t)
    h = 1e-4
    acc_c, loss_c = threshold_loss_and_accuracy(np.array([c - h, c, c + h]), x, t)
    acc_slope = (acc_c[2] - acc_c[0]) / (2 * h)
    loss_slope = (loss_c[2] - loss_c[0]) / (2 * h)

    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_acc.step(grid, acc, where="mid", color="tab:blue")
    ax_acc.plot(x[t == 0], np.full((t == 0).sum(), 0.02), "o", ms=4, color="tab:gray", label="class 0")
    ax_acc.plot(x[t == 1], np.full((t == 1).sum(), 0.06), "^", ms=4, color="tab:orange", label="class 1")
    ax_acc.axvline(c, color="k", lw=0.8, ls=":")
    ax_acc.set(xlabel="threshold c", ylabel="accuracy", ylim=(0, 1.05), title="accuracy: flat steps")
    ax_acc.legend(loc="lower right", fontsize=8)

    ax_loss.plot(grid, loss, color="tab:red")
    span = np.array([-0.6, 0.6])
    ax_loss.plot(c + span, loss_c[1] + loss_slope * span, color="k", lw=1.5, label="slope at c")
    ax_loss.axvline(c, color="k", lw=0.8, ls=":")
    ax_loss.set(xlabel="threshold c", ylabel="cross-entropy loss", title="loss: a slope everywhere")
    ax_loss.legend(loc="upper center", fontsize=8)
    fig.tight_layout()
    print(f"c = {c:.3g}: accuracy {acc_c[1]:.4g} (slope {acc_slope:.4g}), "
          f"loss {loss_c[1]:.4g} (slope {loss_slope:.4g})")
    return fig


# ---------------------------------------------------------------------------------------------
# 4.3 Numerical differentiation: truncation error vs rounding error
# ---------------------------------------------------------------------------------------------
#: Functions offered to the error-vs-h plot: name -> (f, exact derivative).
DIFF_FUNCTIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "sin(x)": (np.sin, np.cos),
    "exp(x)": (np.exp, np.exp),
    "0.01x^2 + 0.1x": (lambda x: 0.01 * x ** 2 + 0.1 * x, lambda x: 0.02 * x + 0.1),
}


def difference_errors(f: Callable[[np.ndarray], np.ndarray], dfdx: float, x: float, hs: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Absolute errors of the forward and the central difference at x, for each step h.

    hs: step sizes (K,) in float64. Returns (forward_error (K,), central_error (K,)), where
    forward = (f(x+h) - f(x)) / h and central = (f(x+h) - f(x-h)) / 2h.
    An error can be exactly 0 (e.g. x + h == x when h underflows), so plot it with a floor.
    """
    hs = np.asarray(hs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        forward = (f(x + hs) - f(x)) / hs
        central = (f(x + hs) - f(x - hs)) / (2 * hs)
    return np.abs(forward - dfdx), np.abs(central - dfdx)


def plot_diff_error(log10_h: float = -4.0, function: str = "sin(x)", x: float = 1.0) -> Figure:
    """Log-log plot of the derivative error against h for the forward and the central difference.

    Large h: the *truncation* error of the formula dominates (slope 1 for forward, 2 for central).
    Small h: *rounding* error dominates — f(x+h) and f(x) agree in almost every digit, and the few
    that differ are divided by a tiny h (slope -1). For sin at x = 1 the central difference is best
    near h = 3e-6; the book's h = 1e-4 is a little larger, with an error still below 1e-9. Prints
    the status line, with the smallest central error on the plotted grid, e.g.
    ``sin(x) at x = 1, h = 1e-04: forward error 4.207e-05, central error 9.004e-10;``
    ``smallest central error 6.005e-13, at h = 3.2e-06``.
    """
    f, df = DIFF_FUNCTIONS[function]
    exact = float(df(np.float64(x)))
    hs = np.logspace(-16, 0, 161)
    fwd, cen = difference_errors(f, exact, x, hs)
    floor = 1e-18
    h = 10.0 ** log10_h
    fwd_h, cen_h = difference_errors(f, exact, x, np.array([h]))

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.loglog(hs, np.maximum(fwd, floor), label="forward  (f(x+h) - f(x)) / h", color="tab:blue")
    ax.loglog(hs, np.maximum(cen, floor), label="central  (f(x+h) - f(x-h)) / 2h", color="tab:red")
    ax.axvline(h, color="k", ls=":", lw=1)
    ax.axvline(1e-4, color="tab:green", ls="--", lw=0.8, label="h = 1e-4 (the book)")
    ax.set(xlabel="h", ylabel="|error of the derivative|", ylim=(1e-14, 10), title=f"d/dx {function} at x = {x:g}")
    ax.legend(fontsize=8, loc="upper center")
    fig.tight_layout()
    best = int(np.argmin(cen))
    print(f"{function} at x = {x:g}, h = {h:.0e}: forward error {fwd_h[0]:.4g}, central error {cen_h[0]:.4g};\n"
          f"smallest central error {cen[best]:.4g}, at h = {hs[best]:.2g}")
    return fig


# ---------------------------------------------------------------------------------------------
# 4.4 Gradients and gradient descent on f(x0, x1) = x0^2 + x1^2
# ---------------------------------------------------------------------------------------------
def function_2(x: np.ndarray) -> float:
    """The book's f(x0, x1) = x0^2 + x1^2 for x of shape (2,) (or the sum of squares of any array)."""
    return float(np.sum(x ** 2))


def plot_gradient_field(f: Callable[[np.ndarray], float] = function_2, lim: float = 2.0, n: int = 17) -> Figure:
    """Quiver plot of -grad f on an n x n grid over [-lim, lim]^2, gradients by numerical_gradient.

    Every arrow points downhill, and more steeply (longer) further from the minimum at the origin.
    """
    coords = np.linspace(-lim, lim, n)
    X0, X1 = np.meshgrid(coords, coords)
    points = np.stack([X0.ravel(), X1.ravel()], axis=1)           # (n*n, 2)
    grads = np.array([numerical_gradient(f, p.copy()) for p in points])
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.quiver(points[:, 0], points[:, 1], -grads[:, 0], -grads[:, 1], angles="xy", color="tab:blue", width=0.004)
    ax.plot(0, 0, "k+", ms=10)
    ax.set(xlabel="x0", ylabel="x1", aspect="equal", title="-grad f  for  f = x0² + x1²")
    fig.tight_layout()
    return fig


def plot_descent_path(lr: float = 0.1, step_num: int = 20, x0: float = -3.0, x1: float = 4.0,
                      f: Callable[[np.ndarray], float] = function_2, lim: float = 5.0) -> Figure:
    """Run ``gradient_descent`` from (x0, x1) and draw its path on the contours of f.

    Prints ``lr = 0.1, 20 steps: end (-0.03459, 0.04612), f = 0.003323`` (plus a warning when the path
    diverges or leaves the plotted square). Too small an lr barely moves; above 1 (for this f) every
    step overshoots further than it started and the path diverges — until |x| passes about 1e12,
    where x +- h rounds back to x, the numerical gradient is exactly 0 and the path freezes.
    """
    start = np.array([x0, x1], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        end, path = gradient_descent(f, start, lr=lr, step_num=int(step_num), return_path=True)
        f_end = f(end)
    grid = np.linspace(-lim, lim, 201)
    G0, G1 = np.meshgrid(grid, grid)
    Z = np.vectorize(lambda a, b: f(np.array([a, b])))(G0, G1)

    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    ax.contour(G0, G1, Z, levels=12, colors="lightgray", linewidths=0.8)
    ax.plot(path[:, 0], path[:, 1], "o-", ms=3, lw=1, color="tab:blue")
    ax.plot(*start, "s", color="tab:green", label="start")
    ax.plot(0, 0, "k+", ms=10)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="x0", ylabel="x1",
           title=f"gradient descent, lr = {lr:g}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    status = f"lr = {lr:g}, {int(step_num)} steps: end ({end[0]:.4g}, {end[1]:.4g}), f = {f_end:.4g}"
    if not np.all(np.isfinite(end)) or f_end > f(start):
        status += "  (diverged)"
    elif np.any(np.abs(path) > lim):
        status += "  (left the plot)"
    print(status)
    return fig


# ---------------------------------------------------------------------------------------------
# 4.5 The reader's experiment: training on one image
# ---------------------------------------------------------------------------------------------
@dataclass
class SingleImageRun:
    """What :func:`train_single_image` records; index k is the state *before* update k+1.

    losses: (steps + 1,) cross-entropy on the image; probs: (steps + 1, C) softmax outputs;
    predictions: (steps + 1,) argmax of probs; label: the true class; hidden: (steps + 1, H) the
    hidden layer's outputs (after the activation) on the image.
    """
    label: int
    losses: np.ndarray = field(repr=False)
    probs: np.ndarray = field(repr=False)
    predictions: np.ndarray = field(repr=False)
    hidden: np.ndarray = field(repr=False)

    @property
    def first_correct_step(self) -> int | None:
        """The first index k at which the prediction is the true label (None if never)."""
        hits = np.flatnonzero(self.predictions == self.label)
        return int(hits[0]) if hits.size else None


def train_single_image(x: np.ndarray, t: int, hidden_size: int = 100, activation: str = "sigmoid",
                       lr: float = 0.01, steps: int = 60, seed: int = 0,
                       weight_init_std: float | str = 0.01) -> SingleImageRun:
    """Plain gradient descent of a TwoLayerNet on one image x (D,) with label t.

    Gradients come from backpropagation (``net.loss_and_gradient``): the same numbers as the
    numerical gradient, thousands of times faster. Returns a :class:`SingleImageRun` with steps + 1
    entries.
    """
    x = np.asarray(x, dtype=np.float64).reshape(1, -1)
    tt = np.array([int(t)])
    net = TwoLayerNet(x.shape[1], hidden_size, 10, weight_init_std=weight_init_std,
                      activation=activation, seed=seed)
    losses, probs, hidden = [], [], []
    for k in range(steps + 1):
        loss, grads = net.loss_and_gradient(x, tt)     # the loss at the current weights, and its gradient
        losses.append(loss)
        outputs = {name: out for name, _layer, out in net.layer_outputs(x)}   # the same weights
        hidden.append(outputs["Activation1"][0].copy())                       # (H,) hidden outputs
        probs.append(softmax(outputs["Affine2"])[0])                          # (10,) probabilities
        if k < steps:
            for key, g in grads.items():
                net.params[key] -= lr * g
    probs_arr = np.array(probs)
    return SingleImageRun(label=int(t), losses=np.array(losses), probs=probs_arr,
                          predictions=probs_arr.argmax(axis=1), hidden=np.array(hidden))


def plot_single_image_runs(runs: Mapping[str, SingleImageRun], title: str = "training on one image") -> Figure:
    """Loss (log scale) against step for several single-image runs, one line per run."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    styles = ["-", "--", "-.", ":"]
    for i, (name, run) in enumerate(runs.items()):
        ax.semilogy(run.losses, styles[i % len(styles)], lw=1.8, label=name)
    ax.set(xlabel="gradient-descent step", ylabel="loss on the image", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def softmax_table(run: SingleImageRun, steps: int = 10) -> str:
    """The first ``steps`` rows of a run as text: step, prediction, p(true class), p(predicted)."""
    lines = [f"step  prediction  p(true={run.label})  p(predicted)"]
    for k in range(min(steps, len(run.losses))):
        p = run.probs[k]
        lines.append(f"{k:4d}  {run.predictions[k]:10d}  {p[run.label]:11.4f}  {p.max():12.4f}")
    return "\n".join(lines)


__all__ = [
    "toy_threshold_data", "threshold_loss_and_accuracy", "plot_loss_vs_accuracy",
    "DIFF_FUNCTIONS", "difference_errors", "plot_diff_error",
    "function_2", "plot_gradient_field", "plot_descent_path",
    "SingleImageRun", "train_single_image", "plot_single_image_runs", "softmax_table",
]


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
