"""Figure, slider and timing helpers shared by the notebooks (no chapter's code lives here).

- figures: :func:`axes_for`, :func:`plot_loss_curve`, :func:`plot_accuracy_curves`, :func:`show_digits`,
  :func:`plot_probabilities`
- sliders: :func:`slider_panel` (a thin ``ipywidgets.interactive`` wrapper over a plain function:
  the notebook calls the function once with its defaults, so the figure is saved and tested, then
  offers the panel) and :func:`log_slider`
- timing: :func:`median_seconds`
- reading and checking: :func:`show_source` (the book's code from ``common``, highlighted) and
  :func:`expect` (a claim checked and printed as a sentence: ``✓ test accuracy 0.9719 ≥ 0.97``)

Each function draws on a Matplotlib ``Axes`` (a new figure if none is given) and returns the
``Figure``; it never calls ``plt.show()`` itself, so tests can inspect what it drew and notebooks
decide when to show it. Chapter-specific figures live beside their experiments.
"""
from __future__ import annotations

import inspect
import time
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from common.util import smooth_curve


#: The one colour map for MNIST digits in every notebook: dark ink on white paper, 0 -> white, 1 -> black.
DIGIT_CMAP = "gray_r"


def axes_for(ax: Axes | None, figsize: tuple[float, float] = (5, 3.5)) -> tuple[Figure, Axes]:
    """(figure, axes) to draw on: the given axes and its figure, or a new figure of ``figsize``."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_loss_curve(losses: Sequence[float], ax: Axes | None = None, smooth: int = 11, label: str = "loss",
                    logy: bool = False) -> Figure:
    """Per-iteration loss (thin, "per mini-batch") and its moving average over ``smooth`` iterations (thick)."""
    fig, ax = axes_for(ax)
    losses = np.asarray(losses, dtype=float)
    line, = ax.plot(losses, alpha=0.3, lw=0.8, label=f"{label}, per mini-batch")
    if smooth > 1 and losses.size >= smooth:
        ax.plot(smooth_curve(losses, smooth), color=line.get_color(), lw=1.8,
                label=f"{label}, moving average of {smooth}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return fig


def plot_accuracy_curves(train_acc: Sequence[float], test_acc: Sequence[float], ax: Axes | None = None,
                         title: str | None = None) -> Figure:
    """Train and test accuracy per epoch (epochs numbered from 1)."""
    fig, ax = axes_for(ax)
    epochs = np.arange(1, len(train_acc) + 1)
    ax.plot(epochs, train_acc, "o-", label="train")
    ax.plot(epochs, test_acc, "s--", label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.0)
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right")
    return fig


def show_digits(images: np.ndarray, titles: Sequence[str] | None = None, ncols: int = 10,
                size: float = 1.1) -> Figure:
    """A grid of grey-scale digits. images: (K, 784), (K, 28, 28) or (K, 1, 28, 28)."""
    images = np.asarray(images)
    k = len(images)
    side = int(round(np.sqrt(images[0].size)))
    ncols = max(1, min(ncols, k))
    nrows = int(np.ceil(k / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * (1.25 if titles else 1)),
                             squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < k:
            ax.imshow(images[i].reshape(side, side), cmap=DIGIT_CMAP, vmin=0, vmax=images.max() or 1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def plot_probabilities(probs: np.ndarray, true_label: int | None = None, ax: Axes | None = None,
                       title: str | None = None) -> Figure:
    """Bar chart of a probability vector (C,): the top class in orange; the true class shaded grey
    behind its bar, with a bold tick label (visible even when its probability is near 0)."""
    fig, ax = axes_for(ax, figsize=(4, 2.6))
    probs = np.asarray(probs, dtype=float)
    colors = ["tab:blue"] * probs.size
    colors[int(np.argmax(probs))] = "tab:orange"
    ax.bar(np.arange(probs.size), probs, color=colors)
    ax.set_xticks(np.arange(probs.size))
    if true_label is not None:
        true = int(true_label)
        ax.axvspan(true - 0.45, true + 0.45, color="0.88", zorder=0)
        ax.get_xticklabels()[true].set_fontweight("bold")
    ax.set_ylim(0, 1)
    ax.set_xlabel("class")
    ax.set_ylabel("probability")
    if title:
        ax.set_title(title)
    return fig


def slider_panel(func: Callable[..., Any], continuous_update: bool = True, **controls: Any):
    """Return an ``ipywidgets.interactive`` panel calling ``func(**values)`` and showing its figure.

    controls: ipywidgets abbreviations — ``(min, max, step)`` for a slider, a list for a dropdown, a
    bool for a checkbox, a fixed value with ``ipywidgets.fixed(v)`` — or widget objects.
    continuous_update=False re-runs only when a slider is released (use it for callbacks that train).
    """
    import ipywidgets as widgets

    def update(**kwargs: Any) -> None:
        result = func(**kwargs)
        if result is not None and not hasattr(result, "savefig"):
            print(result)
        plt.show()

    # ipywidgets reads the callback's signature: expose exactly the controlled parameters, with the
    # function's own defaults, so each slider starts where the plain call of the function does.
    defaults = {name: p.default for name, p in inspect.signature(func).parameters.items()}
    update.__signature__ = inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults.get(name, inspect.Parameter.empty))
        for name in controls])
    panel = widgets.interactive(update, **controls)
    if not continuous_update:
        for child in panel.children:
            if hasattr(child, "continuous_update"):
                child.continuous_update = False
    panel.layout.border = "1px solid #ddd"
    return panel


def log_slider(description: str, value: float, min_exp: float, max_exp: float, step: float = 0.25,
               readout_format: str = ".3g"):
    """A slider over 10**min_exp .. 10**max_exp (learning rates, weight scales, lambdas)."""
    import ipywidgets as widgets
    return widgets.FloatLogSlider(value=value, base=10, min=min_exp, max=max_exp, step=step,
                                  description=description, readout_format=readout_format,
                                  continuous_update=False)


def median_seconds(fn: Callable[[], Any], repeats: int = 5,
                   clock: Callable[[], float] = time.process_time) -> float:
    """Median time of ``fn()`` over ``repeats`` calls (the median ignores one-off hiccups).

    ``clock`` defaults to ``time.process_time``: the CPU time of this process, so other programs
    competing for a shared machine do not inflate the measurement. Pass ``time.perf_counter`` for
    wall-clock time.
    """
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return float(np.median(times))


def show_source(obj: Any) -> Any:
    """The source code of a function or class (e.g. ``common.layers.Affine``), syntax-highlighted.

    Returns an ``IPython.display.Code`` object: a notebook shows it highlighted, plain text shows
    the code itself. Used where the book writes code that the lab keeps in ``common``.
    """
    from IPython.display import Code

    return Code(inspect.getsource(obj), language="python")


_OPS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    ">=": ("≥", lambda a, b: a >= b), ">": (">", lambda a, b: a > b),
    "<=": ("≤", lambda a, b: a <= b), "<": ("<", lambda a, b: a < b),
    "==": ("=", lambda a, b: a == b),
}


class ClaimError(AssertionError):
    """A claim the notebook makes about its own results did not hold."""


def expect(label: str, value: Any, op: str, bound: Any, why: str = "", digits: int = 4) -> None:
    """Check a claim about a result and print it as a sentence: ``✓ label value ≥ bound``.

    ``op`` is one of ``>=``, ``>``, ``<=``, ``<``, ``==``. Numbers are printed to ``digits``
    significant digits. When the claim fails, raises :class:`ClaimError` with the same sentence,
    marked ✗, and ``why`` (what it means and what to try).
    """
    if op not in _OPS:
        raise ValueError(f"expect: op must be one of {list(_OPS)}, got {op!r}")
    symbol, holds = _OPS[op]

    def fmt(v: Any) -> str:
        return f"{v:.{digits}g}" if isinstance(v, (float, np.floating)) else str(v)

    sentence = f"{label} {fmt(value)} {symbol} {fmt(bound)}"
    if not holds(value, bound):
        raise ClaimError(f"✗ {sentence} does not hold." + (f" {why}" if why else ""))
    print(f"✓ {sentence}")
