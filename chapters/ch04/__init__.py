"""Figures and small experiments for chapter 4 (learning from data).

Each ``plot_*`` function returns a Matplotlib ``Figure`` (it never calls ``plt.show()``); the ones
driven by sliders also *print* a short status text that changes with the controls, e.g.
``lr = 0.1, 20 steps: end (-0.03459, 0.04612), f = 0.003323``.

- 4.2.5  :func:`threshold_loss_and_accuracy`, :func:`plot_loss_vs_accuracy`  why we optimise loss, not accuracy
- 4.3    :func:`difference_errors`, :func:`plot_diff_error`    forward vs central difference, error vs h
- 4.4    :func:`plot_gradient_field`                           the arrows -grad f of f = x0^2 + x1^2
- 4.4.1  :func:`plot_descent_path`                             gradient descent drawn on contours
- 4.5    :func:`train_single_image`, :func:`plot_single_image_runs`, :func:`softmax_table`
  the reader's experiment: a TwoLayerNet trained on one image (drawn live with ``view``; the
  control panel: ``chapters.training_panels.single_image_panel``)

The exercises (练习) live in :mod:`chapters.ch04.exercises` and are re-exported here:
:func:`check_numerical_gradient`, :func:`check_gradient_descent`, :func:`check_cross_entropy_error`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from chapters.figures import figure_memo
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


def plot_loss_vs_accuracy(c: float = -1.5, n: int = 24, seed: int = 0, fig: Figure | None = None) -> Figure:
    """Accuracy (left) and loss (right) as functions of a single parameter, the threshold c.

    Accuracy is a staircase: it only changes when c crosses a data point, so its derivative is 0
    almost everywhere and gradient descent would never move. The loss is smooth, and its slope at
    the marked c points towards better thresholds. Prints the status line
    ``c = -1.5: accuracy 0.6667 (slope 0), loss 0.5734 (slope -0.5724)``.
    fig: a figure this function returned before (the slider panel passes it): only the marks of c move.
    """
    x, t = toy_threshold_data(n, seed)
    grid = np.linspace(-3, 3, 601)
    acc, loss = threshold_loss_and_accuracy(grid, x, t)
    h = 1e-4
    acc_c, loss_c = threshold_loss_and_accuracy(np.array([c - h, c, c + h]), x, t)
    acc_slope = (acc_c[2] - acc_c[0]) / (2 * h)
    loss_slope = (loss_c[2] - loss_c[0]) / (2 * h)

    span = np.array([-0.6, 0.6])
    memo = figure_memo(fig) if fig is not None else {}
    if memo.get("key") == (n, seed):
        memo["c_acc"].set_xdata([c, c])
        memo["c_loss"].set_xdata([c, c])
        memo["tangent"].set_data(c + span, loss_c[1] + loss_slope * span)
        memo["ax_loss"].relim()
        memo["ax_loss"].autoscale_view()
    else:
        fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.2))
        ax_acc.step(grid, acc, where="mid", color="tab:blue")
        ax_acc.plot(x[t == 0], np.full((t == 0).sum(), 0.02), "o", ms=4, color="tab:gray", label="class 0")
        ax_acc.plot(x[t == 1], np.full((t == 1).sum(), 0.06), "^", ms=4, color="tab:orange", label="class 1")
        c_acc = ax_acc.axvline(c, color="k", lw=0.8, ls=":")
        ax_acc.set(xlabel="threshold c", ylabel="accuracy", ylim=(0, 1.05), title="accuracy: flat steps")
        ax_acc.legend(loc="lower right", fontsize=8)

        ax_loss.plot(grid, loss, color="tab:red")
        tangent, = ax_loss.plot(c + span, loss_c[1] + loss_slope * span, color="k", lw=1.5, label="slope at c")
        c_loss = ax_loss.axvline(c, color="k", lw=0.8, ls=":")
        ax_loss.set(xlabel="threshold c", ylabel="cross-entropy loss", title="loss: a slope everywhere")
        ax_loss.legend(loc="upper center", fontsize=8)
        fig.tight_layout()
        figure_memo(fig).update(key=(n, seed), c_acc=c_acc, c_loss=c_loss, tangent=tangent, ax_loss=ax_loss)
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


def plot_diff_error(log10_h: float = -4.0, function: str = "sin(x)", x: float = 1.0,
                    fig: Figure | None = None) -> Figure:
    """Log-log plot of the derivative error against h for the forward and the central difference.

    Large h: the *truncation* error of the formula dominates (slope 1 for forward, 2 for central).
    Small h: *rounding* error dominates — f(x+h) and f(x) agree in almost every digit, and the few
    that differ are divided by a tiny h (slope -1). For sin at x = 1 the central difference is best
    near h = 3e-6; the book's h = 1e-4 is a little larger, with an error still below 1e-9. Prints
    the status line, with the smallest central error on the plotted grid, e.g.
    ``sin(x) at x = 1, h = 1e-04: forward error 4.207e-05, central error 9.004e-10;``
    ``smallest central error 6.005e-13, at h = 3.2e-06``.
    fig: a figure this function returned before (the slider panel passes it): its curves, the mark of h
    and the title are updated in place (the x range and the error axis are fixed).
    """
    f, df = DIFF_FUNCTIONS[function]
    exact = float(df(np.float64(x)))
    hs = np.logspace(-16, 0, 161)
    fwd, cen = difference_errors(f, exact, x, hs)
    floor = 1e-18
    h = 10.0 ** log10_h
    fwd_h, cen_h = difference_errors(f, exact, x, np.array([h]))

    memo = figure_memo(fig) if fig is not None else {}
    if memo.get("key") == "diff error":
        memo["forward"].set_ydata(np.maximum(fwd, floor))
        memo["central"].set_ydata(np.maximum(cen, floor))
        memo["h_mark"].set_xdata([h, h])
        memo["ax"].set_title(f"d/dx {function} at x = {x:g}")
    else:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        forward, = ax.loglog(hs, np.maximum(fwd, floor), label="forward  (f(x+h) - f(x)) / h", color="tab:blue")
        central, = ax.loglog(hs, np.maximum(cen, floor), label="central  (f(x+h) - f(x-h)) / 2h", color="tab:red")
        h_mark = ax.axvline(h, color="k", ls=":", lw=1)
        ax.axvline(1e-4, color="tab:green", ls="--", lw=0.8, label="h = 1e-4 (the book)")
        ax.set(xlabel="h", ylabel="|error of the derivative|", ylim=(1e-14, 10),
               title=f"d/dx {function} at x = {x:g}")
        ax.legend(fontsize=8, loc="upper center")
        fig.tight_layout()
        figure_memo(fig).update(key="diff error", forward=forward, central=central, h_mark=h_mark, ax=ax)
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


@functools.lru_cache(maxsize=8)
def _contour_grid(f: Callable[[np.ndarray], float], lim: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f on a 201 x 201 grid over [-lim, lim]^2: (X0, X1, Z), each (201, 201), read-only. Computed once per
    (f, lim) — point by point, since f takes one point (2,) — and reused by every slider move."""
    grid = np.linspace(-lim, lim, 201)
    G0, G1 = np.meshgrid(grid, grid)
    Z = np.vectorize(lambda a, b: f(np.array([a, b])))(G0, G1)
    for a in (G0, G1, Z):
        a.flags.writeable = False
    return G0, G1, Z


def plot_descent_path(lr: float = 0.1, step_num: int = 20, x0: float = -3.0, x1: float = 4.0,
                      f: Callable[[np.ndarray], float] = function_2, lim: float = 5.0,
                      fig: Figure | None = None) -> Figure:
    """Run ``gradient_descent`` from (x0, x1) and draw its path on the contours of f.

    Prints ``lr = 0.1, 20 steps: end (-0.03459, 0.04612), f = 0.003323`` (plus a warning when the path
    diverges or leaves the plotted square). Too small an lr barely moves; above 1 (for this f) every
    step overshoots further than it started and the path diverges — until |x| passes about 1e12,
    where x +- h rounds back to x, the numerical gradient is exactly 0 and the path freezes.
    fig: a figure this function returned before (the slider panel passes it): the contours stay, the
    path and its start move.
    """
    start = np.array([x0, x1], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        end, path = gradient_descent(f, start, lr=lr, step_num=int(step_num), return_path=True)
        f_end = f(end)
    memo = figure_memo(fig) if fig is not None else {}
    if memo.get("key") == (f, lim):
        memo["path"].set_data(path[:, 0], path[:, 1])
        memo["start"].set_data([x0], [x1])
        memo["ax"].set_title(f"gradient descent, lr = {lr:g}")
    else:
        G0, G1, Z = _contour_grid(f, lim)                               # (201, 201) each, cached
        fig, ax = plt.subplots(figsize=(4.8, 4.4))
        ax.contour(G0, G1, Z, levels=12, colors="lightgray", linewidths=0.8)
        path_line, = ax.plot(path[:, 0], path[:, 1], "o-", ms=3, lw=1, color="tab:blue")
        start_mark, = ax.plot(*start, "s", color="tab:green", label="start")
        ax.plot(0, 0, "k+", ms=10)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="x0", ylabel="x1",
               title=f"gradient descent, lr = {lr:g}")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        figure_memo(fig).update(key=(f, lim), path=path_line, start=start_mark, ax=ax)
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
                       weight_init_std: float | str = 0.01, view=None) -> SingleImageRun:
    """Plain gradient descent of a TwoLayerNet on one image x (D,) with label t.

    Gradients come from backpropagation (``net.loss_and_gradient``): the same numbers as the
    numerical gradient, thousands of times faster. Returns a :class:`SingleImageRun` with steps + 1
    entries (fewer if the Stop of ``view``, a ``chapters.live.LiveTraining`` drawing the loss, ended it).
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
        if view is not None:
            view.record_loss(loss)
            if view.stop_requested:
                break
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


# the exercises live in their own module; they are part of this chapter's interface
from chapters.ch04.exercises import (  # noqa: E402,F401
    check_cross_entropy_error, check_gradient_descent, check_numerical_gradient)
