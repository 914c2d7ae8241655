"""Optimizer paths on the book's test function f(x, y) = x**2 / 20 + y**2 (section 6.1).

The function is a long, flat valley along x: its gradient points mostly across the valley (in y),
hardly ever towards the minimum at (0, 0). That is exactly the situation in which plain SGD
zig-zags and the other update rules earn their keep.

Every path here is produced by the *library's* optimizers (``common.optimizer``), applied to a
parameter dict ``{"x": array([x]), "y": array([y])}`` — the same code that trains the networks.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from chapters.figures import axes_for, figure_memo
from common.optimizer import make_optimizer

#: Learning rates per optimizer: the book's four (SGD 0.95, Momentum 0.1, AdaGrad 1.5, Adam 0.3)
#: plus two that fit the same picture for Nesterov and RMSprop.
BOOK_LRS: dict[str, float] = {"sgd": 0.95, "momentum": 0.1, "nesterov": 0.1,
                              "adagrad": 1.5, "rmsprop": 0.3, "adam": 0.3}
#: The book's start point and number of steps.
BOOK_START: tuple[float, float] = (-7.0, 2.0)
BOOK_STEPS: int = 30
NAMES = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov",
         "adagrad": "AdaGrad", "rmsprop": "RMSprop", "adam": "Adam"}


def f(x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray | float:
    """The test function x^2/20 + y^2 (any broadcastable shapes). Minimum 0 at (0, 0)."""
    return x ** 2 / 20.0 + y ** 2


def grad_f(x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray | float, np.ndarray | float]:
    """(df/dx, df/dy) = (x / 10, 2 y)."""
    return x / 10.0, 2.0 * y


def optimizer_path(name: str, lr: float | None = None, steps: int = BOOK_STEPS,
                   start: tuple[float, float] = BOOK_START, **kwargs) -> np.ndarray:
    """Positions visited by optimizer ``name`` on f, starting at ``start``.

    lr: learning rate (default: ``BOOK_LRS[name]``); kwargs go to the optimizer (e.g. momentum=0.8).
    Returns an array of shape (steps + 1, 2): row 0 is the start, row k the point after k updates.
    """
    if steps < 0:
        raise ValueError(f"optimizer_path: steps must be >= 0, got {steps}")
    lr = BOOK_LRS[name.lower()] if lr is None else lr
    opt = make_optimizer(name, lr=lr, **kwargs)
    params = {"x": np.array([float(start[0])]), "y": np.array([float(start[1])])}
    path = np.empty((steps + 1, 2))
    path[0] = start
    with np.errstate(over="ignore", invalid="ignore"):       # a too-large lr may run off to inf
        for k in range(1, steps + 1):
            gx, gy = grad_f(params["x"], params["y"])
            opt.update(params, {"x": gx, "y": gy})
            path[k] = params["x"][0], params["y"][0]
    return path


def plot_contours(ax: Axes, xlim: tuple[float, float] = (-10, 10), ylim: tuple[float, float] = (-5, 5)) -> None:
    """Draw the contour lines of f on ``ax`` and mark the minimum with a +."""
    xs = np.linspace(*xlim, 201)
    ys = np.linspace(*ylim, 101)
    X, Y = np.meshgrid(xs, ys)
    ax.contour(X, Y, f(X, Y), levels=np.geomspace(0.05, 30, 12), colors="0.75", linewidths=0.7)
    ax.plot(0, 0, "+", color="black", ms=10)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def _draw_path(ax: Axes, path: np.ndarray, color: str = "tab:red") -> None:
    ax.plot(path[:, 0], path[:, 1], "o-", color=color, ms=3, lw=1)


def plot_valley_gradient_field(ax: Axes | None = None) -> Figure:
    """Contours of the valley f(x, y) = x**2/20 + y**2 with -grad f as arrows: across the valley, not to (0, 0).

    (Not to be confused with ``chapters.ch04.plot_gradient_field``, the arrows of chapter 4's function_2.)
    """
    fig, ax = axes_for(ax, figsize=(6, 3.2))
    plot_contours(ax)
    X, Y = np.meshgrid(np.linspace(-9, 9, 13), np.linspace(-4, 4, 9))
    gx, gy = grad_f(X, Y)
    ax.quiver(X, Y, -gx, -gy, angles="xy", color="tab:blue", width=0.003)
    ax.set_title("-grad f: mostly across the valley")
    return fig


def plot_optimizer_paths(names: Sequence[str] = ("sgd", "momentum", "adagrad", "adam"),
                         lrs: dict[str, float] | None = None, steps: int = BOOK_STEPS,
                         start: tuple[float, float] = BOOK_START, ncols: int = 2) -> Figure:
    """One small panel per optimizer: its path on f's contours (default: the book's four panels).

    lrs: learning rate per name (default ``BOOK_LRS``). The title gives f at the last point.
    """
    lrs = {**BOOK_LRS, **(lrs or {})}
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 2.6 * nrows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        path = optimizer_path(name, lrs[name], steps=steps, start=start)
        plot_contours(ax)
        _draw_path(ax, path)
        ax.set_title(f"{NAMES[name]} (lr={lrs[name]:g}): f = {f(*path[-1]):.3g}", fontsize=9)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def optimizer_explorer(optimizer: str = "sgd", lr: float = 0.95, steps: int = BOOK_STEPS,
                       x0: float = BOOK_START[0], y0: float = BOOK_START[1], fig: Figure | None = None) -> Figure:
    """Slider callback: one optimizer's path from (x0, y0) with the chosen lr and number of steps.

    Prints a one-line status, e.g. ``sgd lr=0.95, 30 steps: f = 0.1226 at (-1.43, 0.1111)``.
    fig: a figure this function returned before (the slider panel passes it): the contours stay, the
    path and the title are updated in place.
    """
    path = optimizer_path(optimizer, lr, steps=steps, start=(x0, y0))
    end = path[-1]
    value = f(*end)
    status = (f"{optimizer} lr={lr:.4g}, {steps} steps: f = {value:.4g} at ({end[0]:.4g}, {end[1]:.4g})"
              if np.all(np.isfinite(end)) else f"{optimizer} lr={lr:.4g}, {steps} steps: diverged")
    memo = figure_memo(fig) if fig is not None else {}
    if memo.get("key") == "explorer":
        memo["path"].set_data(path[:, 0], path[:, 1])
        memo["ax"].set_title(status, fontsize=9)
    else:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        plot_contours(ax)
        _draw_path(ax, path)
        ax.set_title(status, fontsize=9)
        fig.tight_layout()
        figure_memo(fig).update(key="explorer", path=ax.get_lines()[-1], ax=ax)
    print(status)
    return fig
