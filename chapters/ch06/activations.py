"""Book sections 6.2.2-6.2.3: how the initial weight scale shapes the hidden layers' activations.

The book's experiment: 1,000 random inputs through 5 layers of 100 units with one activation (sigmoid,
tanh or ReLU) and weights drawn with one standard deviation (1, 0.01, Xavier's, He's); a histogram of
each layer's outputs. Here as plain functions (the activations, a figure, a table of spreads) and the
figure behind the notebook's slider panel. Part of the chapter 6 experiments; ``chapters.ch06.experiments``
re-exports it.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubplotParams

from chapters.figures import figure_memo
from common.functions import relu, sigmoid
from common.networks import init_scale

ACTIVATION_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": sigmoid, "tanh": np.tanh, "relu": relu,
}
#: Histogram ranges per activation (the values an activation can take that matter).
HIST_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, 3.0)}


def std_label(weight_init_std: float | str) -> str:
    """'std=0.01', 'Xavier', 'He' for the titles of figures and tables."""
    if isinstance(weight_init_std, str):
        return {"xavier": "Xavier", "he": "He"}.get(weight_init_std.lower(), weight_init_std)
    return f"std={weight_init_std:g}"


def hidden_activations(activation: str, weight_init_std: float | str, n_layers: int = 5, n_nodes: int = 100,
                       n_samples: int = 1000, seed: int = 0) -> np.ndarray:
    """Forward random Gaussian input through ``n_layers`` bias-free layers and keep every activation.

    weight_init_std: a number, "xavier" (1/sqrt(n)) or "he" (sqrt(2/n)) with n = n_nodes inputs.
    Returns shape (n_layers, n_samples, n_nodes): the outputs of layer 1 .. n_layers.
    """
    if activation not in ACTIVATION_FUNCTIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATION_FUNCTIONS)}, got {activation!r}")
    h = ACTIVATION_FUNCTIONS[activation]
    draws = _random_draws if seed is not None else _random_draws.__wrapped__    # seed None: new draws each call
    x, unit_weights = draws(n_layers, n_nodes, n_samples, seed)
    std = init_scale(weight_init_std, n_nodes)
    out = np.empty((n_layers, n_samples, n_nodes))
    for i, z in enumerate(unit_weights):
        x = h(x @ (std * z))
        out[i] = x
    return out


@functools.lru_cache(maxsize=8)
def _random_draws(n_layers: int, n_nodes: int, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The input (n_samples, n_nodes) and the std-1 weights (n_layers, n_nodes, n_nodes) of
    :func:`hidden_activations`, in the order it always drew them; kept (read-only), since a slider over the
    weight scale or the activation changes neither."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, n_nodes))
    weights = np.array([rng.standard_normal((n_nodes, n_nodes)) for _ in range(n_layers)]
                       ).reshape(n_layers, n_nodes, n_nodes)
    x.flags.writeable = weights.flags.writeable = False
    return x, weights


def _off_range_note(off: float, hi: float) -> str:
    """' (76.1% > 3)': the share of values beyond the axis, rounded *down* to 0.1 % so that 99.99 % never
    reads as 100 %; empty when at most 5 % of the values lie beyond it."""
    if off <= 0.05:
        return ""
    return f" ({np.floor(off * 1000) / 10:.1f}% > {hi:g})"


def _layer_histogram(acts: np.ndarray, activation: str, title: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(counts (30,), edges (31,), title) of one layer's activations (any shape) on the fixed range;
    ReLU's exact zeros left out, the share of values beyond the range added to the title."""
    lo, hi = HIST_RANGES[activation]
    vals = acts.ravel()
    if activation == "relu":
        vals = vals[vals > 0]
    counts, edges = np.histogram(vals, bins=30, range=(lo, hi))
    off = float(np.mean((vals < lo) | (vals > hi))) if vals.size else 0.0
    return counts, edges, title + _off_range_note(off, hi)


def _histogram_row(axes: Sequence[Axes], acts: np.ndarray, activation: str, row_label: str | None) -> list:
    """One histogram per layer on a fixed range; ReLU's exact zeros (the switched-off half) are left out
    so that the shape of the rest stays visible, and the share of values beyond the range goes in the title.
    Each histogram is one filled step outline (``ax.stairs``: one artist, drawn far faster than 30 bars);
    returns them, one per axes."""
    steps = []
    for i, ax in enumerate(axes):
        name = f"layer {i + 1}" if row_label is None or i > 0 else f"{row_label}: layer 1"
        counts, edges, title = _layer_histogram(acts[i], activation, name)
        steps.append(ax.stairs(counts, edges, fill=True, color="tab:blue"))
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
        ax.set_title(title, fontsize=8, y=1.0)         # y given: a fixed place, not one worked out at each draw
    return steps


def plot_activation_histograms(activation: str, stds: Sequence[float | str] = (1.0, 0.01, "xavier", "he"),
                               n_layers: int = 5, seed: int = 0) -> Figure:
    """A grid of histograms: one row per initial weight scale, one column per layer."""
    fig, axes = plt.subplots(len(stds), n_layers, figsize=(1.9 * n_layers, 1.35 * len(stds)), squeeze=False)
    for row, std in zip(axes, stds):
        _histogram_row(row, hidden_activations(activation, std, n_layers, seed=seed), activation, std_label(std))
    zeros = " (ReLU's zeros left out)" if activation == "relu" else ""
    fig.suptitle(f"{activation} activations, {n_layers} layers of 100 units{zeros}", fontsize=10)
    fig.supxlabel(f"{activation} output", fontsize=9)
    fig.supylabel("number of values", fontsize=9)
    fig.tight_layout()
    return fig


def activation_histogram_explorer(activation: str = "sigmoid", std: float = 0.01, n_layers: int = 5,
                                  fig: Figure | None = None) -> Figure:
    """Slider callback: histograms of the 5 layers for one activation and one weight std.

    Prints a status line such as ``sigmoid, std=0.01: layer-5 activations have spread 0.002008``
    (the standard deviation of the last layer's outputs: ~0 means every unit says the same).
    fig: a figure this function returned before (the slider panel passes it): updated in place. Only the
    histograms, their titles and the status line are drawn again, over a saved picture of the rest
    (blitting), and the figure is left drawn and not stale, so the panel shows it without a full redraw;
    a full draw (``savefig``) shows the same. A new activation also moves the axes' range and labels.
    """
    acts = hidden_activations(activation, std, n_layers)
    n = acts.shape[2]
    status = (f"{activation}, std={std:.3g} (Xavier {1 / np.sqrt(n):.3g}, He {np.sqrt(2 / n):.3g}): "
              f"layer-{n_layers} activations have spread {acts[-1].std():.4g}")
    memo = figure_memo(fig) if fig is not None else {}
    if memo.get("n_layers") == n_layers:
        hists = [_layer_histogram(acts[i], activation, f"layer {i + 1}") for i in range(n_layers)]
        _update_histogram_explorer(fig, memo, activation, hists, status)
    else:
        fig, axes = plt.subplots(1, n_layers, figsize=(1.9 * n_layers, 2.4))
        steps = _histogram_row(axes, acts, activation, None)
        suptitle = fig.suptitle(status, fontsize=9)
        fig.supxlabel(f"{activation} output", fontsize=9)
        fig.supylabel("number of values", fontsize=9)
        fig.tight_layout()
        figure_memo(fig).update(n_layers=n_layers, activation=activation, axes=list(axes), steps=steps,
                                suptitle=suptitle, background=None)
    print(status)
    return fig


def _update_histogram_explorer(fig: Figure, memo: dict, activation: str, hists: list, status: str) -> None:
    """The panel path of :func:`activation_histogram_explorer`: new counts, titles and status, drawn over
    a saved picture of everything else (axes, ticks, labels: what ``std`` does not change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    axes, steps = memo["axes"], memo["steps"]
    for ax, step, (counts, edges, title) in zip(axes, steps, hists):
        step.set_data(values=counts, edges=edges)
        peak = max(int(counts.max()), 1)
        ax.set_ylim(0, peak + peak * 0.05)              # what autoscale gives (5 % margin), without its search
        ax.set_title(title, fontsize=8, y=1.0)
    memo["suptitle"].set_text(status)
    if memo["activation"] != activation:                     # another range: new limits, ticks, label, layout
        for ax in axes:
            ax.relim()
            ax.autoscale_view(scaley=False)
        fig.supxlabel(f"{activation} output", fontsize=9)
        fig.subplots_adjust(**SubplotParams().to_dict())   # from where a new figure starts
        fig.tight_layout()
        memo.update(activation=activation, background=None)
    if not isinstance(fig.canvas, FigureCanvasAgg):          # no pixels to blit into: a full draw shows it
        return
    canvas = fig.canvas
    # drawn in the order a full draw uses: the fill, the bottom spine over it (the only one it touches: the
    # limits leave 5 % margins), the title; the ticks point outwards, clear of the fill
    changing = [(ax, artist) for ax, step in zip(axes, steps) for artist in (step, ax.spines["bottom"], ax.title)]
    size = (fig.dpi, tuple(fig.bbox.size))
    if memo["background"] is None or memo["background"][0] != size:
        hidden = [artist for _, artist in changing] + [memo["suptitle"]]
        for artist in hidden:
            artist.set_visible(False)
        canvas.draw()
        memo["background"] = (size, canvas.copy_from_bbox(fig.bbox))
        for artist in hidden:
            artist.set_visible(True)
    canvas.restore_region(memo["background"][1])
    for ax, artist in changing:
        ax.draw_artist(artist)
    fig.draw_artist(memo["suptitle"])
    fig.stale = False                                        # drawn: what the panel shows as it is


def activation_spread_table(activations: Sequence[str] = ("sigmoid", "tanh", "relu"),
                            stds: Sequence[float | str] = (1.0, 0.01, "xavier", "he"),
                            n_layers: int = 5) -> dict[str, dict[str, np.ndarray]]:
    """activation -> std label -> standard deviation of each layer's outputs, shape (n_layers,)."""
    return {a: {std_label(s): hidden_activations(a, s, n_layers).std(axis=(1, 2)) for s in stds}
            for a in activations}


def spread_across_inputs(activation: str, weight_init_std: float | str, n_layers: int = 5) -> np.ndarray:
    """How much each layer's output still depends on the input, shape (n_layers,).

    For every unit, the standard deviation of its output over the inputs; then the mean over the
    units. A histogram pools all units, so it can look well spread even when every unit gives
    (almost) the same value for every input, each unit its own: this number then is ~0.
    """
    return hidden_activations(activation, weight_init_std, n_layers).std(axis=1).mean(axis=1)
