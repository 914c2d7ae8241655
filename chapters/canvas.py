"""Draw a digit and watch the networks read it: a drawing canvas, MNIST-style preprocessing, live answers.

Three layers, usable one by one:

* ``to_mnist(drawing)`` — a drawing (strokes from the canvas, or a grey image) becomes a (28, 28) MNIST
  digit the way MNIST's own digits were made: ink anti-aliased in grey levels, cropped to its bounding
  box, scaled to fit a 20 × 20 box (aspect ratio kept), placed in a 28 × 28 field so that its centre of
  mass sits at the centre. Pure NumPy.
* ``DrawCanvas`` — a 280 × 280 canvas widget (anywidget; mouse, pen and touch) with Clear and Undo. Its
  ``strokes`` trait holds what was drawn: a list of strokes, each a list of [x, y] points in canvas pixels.
* ``digit_panel(models, ...)`` — canvas | the 28 × 28 digit the networks see | each network's softmax
  output, updated in place whenever a stroke ends. ``plot_digit_predictions`` draws the same figure for a
  fixed drawing (``EXAMPLE_SEVEN``), so a notebook read without a kernel still shows a result.

A "model" is any object with ``predict(x)`` returning class scores or probabilities (N, 10): the lab's
networks (``common.networks.Network``) get images (N, 1, 28, 28), other objects flat rows (N, 784).
"""
from __future__ import annotations

import html
import io
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import traitlets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from chapters.figures import DIGIT_CMAP
from common.backend import to_host
from common.functions import softmax
from common.networks import Network

CANVAS_SIZE = 280          # the canvas's side in pixels: ten screen pixels per MNIST pixel
PEN_WIDTH = 24.0           # canvas pixels: a digit drawn across most of the canvas gets MNIST's 2-3 px strokes
FIELD = 28                 # MNIST's image side
FIT = 20                   # the box the ink is scaled into
CENTRE = 14.0              # where MNIST puts the centre of mass: index 14 (mean over MNIST's training digits: 14.0)
N_CLASSES = 10

Stroke = Sequence[Sequence[float]]

# A "7" drawn by hand on the 280 x 280 canvas (x to the right, y down): the bar, then the slanted stem.
EXAMPLE_SEVEN: list[list[list[float]]] = [[
    [72.0, 70.0], [95.0, 66.0], [125.0, 63.0], [155.0, 61.0], [185.0, 60.0], [205.0, 61.0],
    [198.0, 80.0], [186.0, 104.0], [172.0, 132.0], [159.0, 161.0], [148.0, 190.0], [139.0, 216.0],
    [133.0, 236.0],
]]


# ---------------------------------------------------------------------------------------------
# Strokes -> image -> MNIST digit
# ---------------------------------------------------------------------------------------------
def _as_paths(strokes: Any) -> list[np.ndarray]:
    """Validate a list of strokes and return one (K, 2) float array of (x, y) points per stroke."""
    if isinstance(strokes, np.ndarray) or not isinstance(strokes, (list, tuple)):
        raise TypeError(f"strokes must be a list of strokes (each a list of [x, y] points), "
                        f"got {type(strokes).__name__}")
    if len(strokes) == 0:
        raise ValueError("the drawing is empty: draw a digit first")
    paths = []
    for i, stroke in enumerate(strokes):
        try:
            path = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"stroke {i} is not a list of [x, y] points: {str(stroke)[:60]}") from None
        if path.ndim != 2 or path.shape[0] == 0 or path.shape[1] != 2:
            raise ValueError(f"stroke {i} must be a non-empty list of [x, y] points, got shape {path.shape}")
        if not np.all(np.isfinite(path)):
            raise ValueError(f"stroke {i} holds NaN or infinite coordinates")
        paths.append(path)
    return paths


def rasterize(strokes: Sequence[Stroke], size: int = CANVAS_SIZE, pen_width: float = PEN_WIDTH) -> np.ndarray:
    """Draw strokes with a round pen, anti-aliased: (size, size) ink coverage in [0, 1], 1 = full ink.

    A pixel's value is the share of it the pen covers, approximated from the distance d between the
    pixel's centre and the stroke: clip(pen_width / 2 + 0.5 - d, 0, 1). Only the pixels near each
    segment are computed, so a stroke costs about (its length) x (pen width) pixels.
    """
    if pen_width <= 0:
        raise ValueError(f"pen_width must be positive, got {pen_width}")
    image = np.zeros((size, size))
    radius = pen_width / 2
    for path in _as_paths(strokes):
        starts, ends = (path[:-1], path[1:]) if len(path) > 1 else (path, path)
        for (ax, ay), (bx, by) in zip(starts, ends):
            x0, x1 = max(int(min(ax, bx) - radius - 1), 0), min(int(max(ax, bx) + radius + 2), size)
            y0, y1 = max(int(min(ay, by) - radius - 1), 0), min(int(max(ay, by) + radius + 2), size)
            if x0 >= x1 or y0 >= y1:
                continue
            px = np.arange(x0, x1) + 0.5 - ax                  # (w,) pixel centres relative to the start
            py = np.arange(y0, y1)[:, None] + 0.5 - ay         # (h, 1)
            dx, dy = bx - ax, by - ay
            length2 = dx * dx + dy * dy
            t = np.clip((px * dx + py * dy) / length2, 0.0, 1.0) if length2 > 0 else 0.0
            distance = np.hypot(px - t * dx, py - t * dy)      # (h, w) distance to the segment
            coverage = np.clip(radius + 0.5 - distance, 0.0, 1.0)
            np.maximum(image[y0:y1, x0:x1], coverage, out=image[y0:y1, x0:x1])
    return image


def _as_image(image: Any) -> np.ndarray:
    """Validate a grey image (H, W) with ink as high values in [0, 1]."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or min(image.shape) == 0:
        raise ValueError(f"expected a grey image (H, W) or a list of strokes, got an array of shape {image.shape}")
    if not np.all(np.isfinite(image)):
        raise ValueError("the image holds NaN or infinite values")
    if image.min() < 0 or image.max() > 1:
        raise ValueError(f"image values must lie in [0, 1] with ink high (got {image.min():.4g}..{image.max():.4g}; "
                         f"divide 0-255 pixels by 255)")
    return image


def _area_weights(n_in: int, scale: float, offset: float, n_out: int = FIELD) -> np.ndarray:
    """(n_out, n_in) resampling weights: input pixel j lands on [offset + j*scale, offset + (j+1)*scale)
    of the output axis; each output pixel [i, i+1) gets the length of its overlap with each input pixel.

    Applied on both axes this is area averaging: shrinking averages the covered pixels (anti-aliased),
    and the total ink is multiplied by scale**2, nothing is lost or invented.
    """
    low = offset + np.arange(n_in) * scale
    high = low + scale
    out = np.arange(n_out)[:, None]
    overlap = np.minimum(out + 1, high) - np.maximum(out, low)
    return np.where(overlap > 1e-9, overlap, 0.0)          # no specks of 1e-15 from rounding at the edges


def _place(crop: np.ndarray, scale: float, top: float, left: float) -> np.ndarray:
    """The (h, w) crop scaled by ``scale`` with its top-left corner at (top, left) of a 28 x 28 field."""
    rows = _area_weights(crop.shape[0], scale, top)
    cols = _area_weights(crop.shape[1], scale, left)
    return rows @ crop @ cols.T


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of an image's centre of mass, in pixel indices (pixel i has its centre at i)."""
    total = image.sum()
    if total <= 0:
        raise ValueError("the image has no ink, so it has no centre of mass")
    rows, cols = np.arange(image.shape[0]), np.arange(image.shape[1])
    return float(image.sum(axis=1) @ rows / total), float(image.sum(axis=0) @ cols / total)


def to_mnist(drawing: Any, pen_width: float = PEN_WIDTH, canvas_size: int = CANVAS_SIZE) -> np.ndarray:
    """A drawing as an MNIST digit: (28, 28) float32 in [0, 1], ink high (white on black, like MNIST).

    drawing: a list of strokes from the canvas (each a list of [x, y] points in pixels of a
    canvas_size x canvas_size canvas, drawn with a pen_width pen), or a grey image (H, W) in [0, 1].
    The MNIST recipe: rasterise anti-aliased; crop to the ink's bounding box; scale it (area averaging,
    so the grey levels stay) so that its longer side is 20 px, keeping the aspect ratio; place it in a
    28 x 28 field and move it by whole pixels so its centre of mass is at (14, 14) — as far as the
    20 x 20 box can move without leaving the field.

    Raises ValueError for an empty drawing ("draw a digit first") or an image of the wrong shape.
    """
    image = _as_image(drawing) if isinstance(drawing, np.ndarray) else rasterize(drawing, canvas_size, pen_width)
    rows, cols = np.flatnonzero(image.max(axis=1) > 0), np.flatnonzero(image.max(axis=0) > 0)
    if rows.size == 0:
        raise ValueError("the drawing is empty: draw a digit first")
    crop = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    height, width = crop.shape
    scale = FIT / max(height, width)
    margin = (FIELD - FIT) / 2
    top = margin + (FIT - height * scale) / 2
    left = margin + (FIT - width * scale) / 2
    cy, cx = centre_of_mass(_place(crop, scale, top, left))
    eps = 1e-9                                     # rounding slack, so a box that fits exactly is not refused
    dy = np.clip(np.floor(CENTRE - cy + 0.5), np.ceil(-top - eps), np.floor(FIELD - top - height * scale + eps))
    dx = np.clip(np.floor(CENTRE - cx + 0.5), np.ceil(-left - eps), np.floor(FIELD - left - width * scale + eps))
    digit = _place(crop, scale, top + dy, left + dx)
    return np.clip(digit, 0.0, 1.0).astype(np.float32)


def shift_digit(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move (..., H, W) images dy pixels down and dx pixels right (negative: up, left); the pixels that
    come in are 0 (no ink) and the ink pushed past the border is lost. Same shape and dtype."""
    image = np.asarray(image)
    if image.ndim < 2:
        raise ValueError(f"shift_digit needs images (..., H, W), got shape {image.shape}")
    if int(dy) != dy or int(dx) != dx:
        raise ValueError(f"shifts are whole pixels, got dy={dy}, dx={dx}")
    height, width = image.shape[-2:]
    dy, dx = int(dy), int(dx)
    out = np.zeros_like(image)
    if abs(dy) >= height or abs(dx) >= width:
        return out
    out[..., max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        image[..., max(-dy, 0):height - max(dy, 0), max(-dx, 0):width - max(dx, 0)]
    return out


# ---------------------------------------------------------------------------------------------
# Networks' answers
# ---------------------------------------------------------------------------------------------
def _model_input(model: Any, digits: np.ndarray) -> np.ndarray:
    """(N, 28, 28) digits as the model wants them: (N, 1, 28, 28) for the lab's networks, else (N, 784)."""
    return digits[:, None] if isinstance(model, Network) else digits.reshape(len(digits), -1)


def _probabilities(outputs: Any, n: int, name: str) -> np.ndarray:
    outputs = np.asarray(to_host(outputs), dtype=np.float64)
    if outputs.shape != (n, N_CLASSES):
        raise ValueError(f"{name}.predict returned shape {outputs.shape}; expected ({n}, {N_CLASSES}) class scores")
    already = np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-5)
    return outputs if already else softmax(outputs)


def _as_digits(digits: np.ndarray) -> np.ndarray:
    digits = np.asarray(digits, dtype=np.float32)
    batch = digits if digits.ndim == 3 else digits[None]
    if batch.shape[1:] != (FIELD, FIELD):
        raise ValueError(f"expected digits (28, 28) or (N, 28, 28), got shape {digits.shape}")
    return batch


def class_probabilities(model: Any, digits: np.ndarray) -> np.ndarray:
    """The model's class probabilities for digits (28, 28) -> (10,), or (N, 28, 28) -> (N, 10).

    ``model.predict`` may return scores (softmax is applied) or probabilities (rows already >= 0
    and summing to 1 are taken as they are).
    """
    batch = _as_digits(digits)
    probs = _probabilities(model.predict(_model_input(model, batch)), len(batch), type(model).__name__)
    return probs if np.ndim(digits) == 3 else probs[0]


def _probabilities_and_maps(model: Any, batch: np.ndarray, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """One forward pass of a Network: (N, 10) probabilities and the output of ``layer`` (N, K, h, w)."""
    maps = None
    for name, _, out in model.layer_outputs(_model_input(model, batch)):
        if name == layer:
            maps = to_host(out)
    if maps is None:
        raise ValueError(f"{type(model).__name__} has no layer {layer!r}; its layers: {list(model.layers)}")
    return _probabilities(out, len(batch), type(model).__name__), np.asarray(maps, dtype=np.float64)


def _check_models(models: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(models, Mapping) or len(models) == 0:
        raise ValueError("models must be a non-empty dict {name: model}, e.g. {'SimpleConvNet': net}")
    for name, model in models.items():
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"models[{name!r}] has no predict(x) method (got {type(model).__name__})")
    return dict(models)


def mosaic(tiles: np.ndarray, ncols: int = 6, gap: int = 2) -> np.ndarray:
    """K tiles (K, h, w) in a grid of ``ncols`` columns, ``gap`` NaN pixels between them (drawn blank)."""
    count, h, w = tiles.shape
    nrows = -(-count // ncols)
    out = np.full((nrows * (h + gap) - gap, ncols * (w + gap) - gap), np.nan)
    for k in range(count):
        r, c = divmod(k, ncols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[k]
    return out


# ---------------------------------------------------------------------------------------------
# One figure, redrawn in place
# ---------------------------------------------------------------------------------------------
class ResultFigure:
    """The digit the networks see, a bar chart of each network's probabilities and, optionally, a
    mosaic of feature maps, as one figure whose artists are updated in place (``show``).

    With ``drawing=True`` a first panel shows the drawing itself (for the static figure; the live
    panel has the canvas for that).
    """

    def __init__(self, names: Sequence[str], figure: Figure, maps_shape: tuple[int, int, int] | None = None,
                 drawing: bool = False, canvas_size: int = CANVAS_SIZE, maps_title: str = "feature maps"):
        self.figure, self.names = figure, list(names)
        widths = [1.0] * drawing + [1.0] + [1.15] * len(self.names) + [1.5] * (maps_shape is not None)
        height = figure.get_figheight()                    # room in inches for two title lines and the x labels
        grid = figure.add_gridspec(1, len(widths), width_ratios=widths, left=0.045, right=0.99, top=1 - 0.58 / height,
                                   bottom=0.377 / height, wspace=0.35)
        axes = [figure.add_subplot(grid[0, i]) for i in range(len(widths))]
        self.drawing_image = None
        if drawing:
            ax = axes.pop(0)
            self.drawing_image = ax.imshow(np.zeros((canvas_size, canvas_size)), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title("the drawing", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        ax = axes.pop(0)
        self.digit_image = ax.imshow(np.zeros((FIELD, FIELD)), cmap=DIGIT_CMAP, vmin=0, vmax=1)
        self.sees = "what the network sees" if len(self.names) == 1 else "what the networks see"
        self.digit_title = ax.set_title(self.sees, fontsize=9)
        ax.set_xticks([0, 14, 27])
        ax.set_yticks([0, 14, 27])
        ax.tick_params(labelsize=7)
        self.bars, self.bar_titles = {}, {}
        for name in self.names:
            ax = axes.pop(0)
            self.bars[name] = ax.bar(np.arange(N_CLASSES), np.zeros(N_CLASSES), color="tab:blue")
            ax.set_ylim(0, 1.02)
            ax.set_xticks(np.arange(N_CLASSES))
            ax.tick_params(labelsize=7)
            ax.set_xlabel("digit", fontsize=8)
            self.bar_titles[name] = ax.set_title(name, fontsize=9)
        self.maps_image = None
        if maps_shape is not None:
            ax = axes.pop(0)
            cmap = plt.get_cmap("inferno").with_extremes(bad="white")
            self.maps_image = ax.imshow(mosaic(np.zeros(maps_shape)), cmap=cmap, vmin=0, vmax=1)
            ax.set_title(maps_title, fontsize=9)
            ax.axis("off")

    def show(self, digit: np.ndarray | None, probs: Mapping[str, np.ndarray] | None = None,
             maps: np.ndarray | None = None, drawing: np.ndarray | None = None, digit_title: str = "") -> None:
        """Put new data into the artists; ``digit=None`` blanks the figure (nothing drawn yet)."""
        blank = digit is None
        self.digit_image.set_data(np.zeros((FIELD, FIELD)) if blank else digit)
        self.digit_title.set_text(digit_title or ("nothing drawn yet" if blank else self.sees))
        for name in self.names:
            p = np.zeros(N_CLASSES) if blank else probs[name]
            top = int(np.argmax(p))
            for k, (bar, value) in enumerate(zip(self.bars[name], p)):
                bar.set_height(value)
                bar.set_color("tab:orange" if k == top and not blank else "tab:blue")
            self.bar_titles[name].set_text(name if blank else f"{name}: {top} ({p[top]:.2f})")
        if self.maps_image is not None:
            tiles = np.zeros(self.maps_image.get_array().shape) if blank else mosaic(maps)
            self.maps_image.set_data(tiles)
            self.maps_image.set_clim(0, max(float(np.nanmax(tiles)), 1e-6))
        if self.drawing_image is not None and drawing is not None:
            self.drawing_image.set_data(drawing)

    def _dynamic_artists(self) -> list[Any]:
        artists = [self.digit_image, self.digit_title, *self.bar_titles.values()]
        artists += [bar for bars in self.bars.values() for bar in bars]
        return artists + [a for a in (self.maps_image, self.drawing_image) if a is not None]

    def png(self) -> bytes:
        """The figure as PNG bytes, drawn fast: the static parts (axes, ticks, labels) are drawn once
        and kept as a background; each call pastes it and draws only the artists that change."""
        if not hasattr(self, "_background"):
            for artist in self._dynamic_artists():
                artist.set_animated(True)
            self._agg = FigureCanvasAgg(self.figure)
            self._agg.draw()
            self._background = self._agg.copy_from_bbox(self.figure.bbox)
        self._agg.restore_region(self._background)
        for artist in self._dynamic_artists():
            self.figure.draw_artist(artist)
        buffer = io.BytesIO()
        plt.imsave(buffer, np.asarray(self._agg.buffer_rgba()), format="png", pil_kwargs={"compress_level": 1})
        return buffer.getvalue()


def _figure_size(n_models: int, maps: bool, drawing: bool, height: float = 2.9) -> tuple[float, float]:
    """Inches: a column per picture and per bar chart; the live panel's is as tall as its canvas."""
    return (2.0 * (1 + drawing) + (2.1 if drawing else 1.9) * n_models + 2.6 * maps + 0.2, height)


def _answer(name: str, p: np.ndarray) -> str:
    top = int(np.argmax(p))
    return f"{name}: {top} ({p[top]:.2f})"


def _shift_words(dy: int, dx: int) -> str:
    parts = [f"{abs(dx)} px {'right' if dx > 0 else 'left'}"] * (dx != 0)
    parts += [f"{abs(dy)} px {'down' if dy > 0 else 'up'}"] * (dy != 0)
    return ", ".join(parts) or "not shifted"


def analyse(drawing: Any, models: Mapping[str, Any], feature_layer: tuple[str, str] | None = None,
            dy: int = 0, dx: int = 0) -> dict[str, Any]:
    """Everything the panel shows for one drawing: the digit (28, 28), the shifted digit, each model's
    probabilities for both ``{"plain": (10,), "shifted": (10,)}`` and the feature maps (K, h, w) of
    ``feature_layer = (model name, layer name)`` on the shifted digit (None without it)."""
    models = _check_models(models)
    digit = to_mnist(drawing)
    shifted = shift_digit(digit, dy, dx)
    batch = np.stack([digit, shifted]) if (dy, dx) != (0, 0) else digit[None]
    probs, maps = {}, None
    for name, model in models.items():
        if feature_layer is not None and feature_layer[0] == name:
            p, layer_maps = _probabilities_and_maps(model, batch, feature_layer[1])
            maps = np.maximum(layer_maps[-1], 0)
        else:
            p = class_probabilities(model, batch)
        probs[name] = {"plain": p[0], "shifted": p[-1]}
    if feature_layer is not None and feature_layer[0] not in models:
        raise ValueError(f"feature_layer names model {feature_layer[0]!r}, which is not among {list(models)}")
    return {"digit": digit, "shifted": shifted, "probs": probs, "maps": maps}


def plot_digit_predictions(drawing: Any, models: Mapping[str, Any], feature_layer: tuple[str, str] | None = None,
                           canvas_size: int = CANVAS_SIZE) -> Figure:
    """The live panel's picture for a fixed drawing (e.g. ``EXAMPLE_SEVEN``), as an ordinary figure:
    the drawing, the 28 x 28 digit, each model's probabilities (and feature maps)."""
    result = analyse(drawing, models, feature_layer)
    n_maps = result["maps"].shape if result["maps"] is not None else None
    fig = plt.figure(figsize=_figure_size(len(models), n_maps is not None, drawing=True))
    view = ResultFigure(list(models), fig, n_maps, drawing=True, canvas_size=canvas_size,
                        maps_title=f"feature maps ({feature_layer[1]})" if feature_layer else "")
    raster = rasterize(drawing, canvas_size) if not isinstance(drawing, np.ndarray) else drawing
    view.show(result["digit"], {k: v["plain"] for k, v in result["probs"].items()}, result["maps"], raster)
    return fig


# ---------------------------------------------------------------------------------------------
# The widgets
# ---------------------------------------------------------------------------------------------
def _with_plain_text(bundle: Any, text: str) -> Any:
    """A widget's mime bundle with its text/plain (what a reader without a kernel sees) replaced by ``text``."""
    from chapters.panels import _with_sentence      # text/plain and an HTML copy, as the slider panels do
    if isinstance(bundle, tuple):
        return (_with_sentence(bundle[0], text),) + tuple(bundle[1:])
    return _with_sentence(bundle, text) if isinstance(bundle, dict) else bundle


class DrawCanvas(anywidget.AnyWidget):
    """A square canvas to draw on with mouse, pen or finger, with Clear and Undo buttons.

    ``strokes``: list of strokes, each a list of [x, y] points in canvas pixels; it changes once per
    finished stroke (pointer up), on Clear and on Undo, and setting it from Python redraws the canvas.
    """
    _esm = Path(__file__).with_name("canvas.js")
    strokes = traitlets.List().tag(sync=True)
    size = traitlets.Int(CANVAS_SIZE).tag(sync=True)
    pen_width = traitlets.Float(PEN_WIDTH).tag(sync=True)

    plain_text = ("Draw-a-digit canvas: live only with a running kernel in JupyterLab. The figure of the fixed "
                  "example drawing above shows what it does.")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return _with_plain_text(super()._repr_mimebundle_(**kwargs), self.plain_text)


class DigitPanel(widgets.VBox):
    """Canvas | what the networks see + their probabilities (+ feature maps) | one answer line per network.

    Recomputed whenever the canvas's strokes change: ``to_mnist``, every model's ``predict``, and the
    figure's artists updated and rendered into one ``ipywidgets.Image`` (no new figure, no flicker).
    With ``shift=True``, dx/dy sliders move the digit before the networks see it, and each answer line
    says whether the network keeps the answer it gives for the unshifted digit.
    ``last_seconds`` is how long the last update took (preprocessing + predictions + redraw).
    """
    plain_text = DrawCanvas.plain_text

    def __init__(self, models: Mapping[str, Any], feature_layer: tuple[str, str] | None = None,
                 shift: bool = False, max_shift: int = 6, dpi: float = 80.0, **kwargs: Any):
        self.models = _check_models(models)
        if feature_layer is not None and feature_layer[0] not in self.models:
            raise ValueError(f"feature_layer names model {feature_layer[0]!r}, which is not among {list(self.models)}")
        self.feature_layer, self.dpi, self.last_seconds = feature_layer, dpi, None
        maps_shape = None
        if feature_layer is not None:                 # the maps' shape, from one pass on a blank digit
            model = self.models[feature_layer[0]]
            blank = np.zeros((1, FIELD, FIELD), np.float32)
            maps_shape = _probabilities_and_maps(model, blank, feature_layer[1])[1][0].shape
        self.canvas = DrawCanvas()
        size = _figure_size(len(self.models), maps_shape is not None, drawing=False, height=CANVAS_SIZE / dpi)
        self.figure = Figure(figsize=size, dpi=dpi)
        self.view = ResultFigure(list(self.models), self.figure, maps_shape,
                                 maps_title=f"feature maps ({feature_layer[1]})" if feature_layer else "")
        self.picture = widgets.Image(format="png", value=self.view.png())
        self.answers = widgets.HTML(layout=widgets.Layout(margin="0 0 0 8px"))
        slider = {"min": -max_shift, "max": max_shift, "value": 0, "continuous_update": False,
                  "layout": widgets.Layout(width="260px")}
        self.dx = widgets.IntSlider(description="dx (right)", **slider)
        self.dy = widgets.IntSlider(description="dy (down)", **slider)
        rows = [widgets.HBox([self.canvas, self.picture], layout=widgets.Layout(flex_flow="row wrap",
                                                                                 align_items="center"))]
        if shift:
            rows.append(widgets.HBox([self.dx, self.dy]))
        super().__init__(rows + [self.answers], **kwargs)
        self.add_class("dlfs-digit-panel")
        self.shift = shift
        self.canvas.observe(lambda _change: self.update(), names="strokes")
        for control in (self.dx, self.dy):
            control.observe(lambda _change: self.update(), names="value")
        self.update()

    def update(self) -> None:
        """Recompute everything from the canvas's strokes and the shift sliders."""
        started = time.perf_counter()
        strokes = self.canvas.strokes
        if not strokes:
            self.view.show(None)
            self.picture.value = self.view.png()
            self.answers.value = "<div class='dlfs-answer'>Draw a digit in the box: one stroke or several. " \
                                 "Clear starts again.</div>"
            return
        dy, dx = (self.dy.value, self.dx.value) if self.shift else (0, 0)
        try:
            result = analyse(strokes, self.models, self.feature_layer, dy, dx)
        except ValueError as error:
            self.answers.value = f"<div class='dlfs-answer'>{html.escape(str(error))}</div>"
            return
        shifted = (dy, dx) != (0, 0)
        title = f"{self.view.sees}\n(shifted {_shift_words(dy, dx)})" if shifted else ""
        self.view.show(result["shifted"], {k: v["shifted"] for k, v in result["probs"].items()}, result["maps"],
                       digit_title=title)
        self.picture.value = self.view.png()
        self.last_seconds = time.perf_counter() - started
        lines = []
        for name, p in result["probs"].items():
            line = _answer(name, p["plain"])
            if shifted:
                kept = np.argmax(p["shifted"]) == np.argmax(p["plain"])
                line += (f"; shifted {_shift_words(dy, dx)}: {int(np.argmax(p['shifted']))} "
                         f"({p['shifted'].max():.2f}), {'keeps its answer' if kept else 'changes its answer'}")
            lines.append(f"<div class='dlfs-answer'>{html.escape(line)}</div>")
        count = f"{len(strokes)} stroke" + "s" * (len(strokes) != 1)
        lines.append(f"<div class='dlfs-timing' style='color:#666'>{count}, answered in "
                     f"{1000 * self.last_seconds:.0f} ms (preparing the digit, the networks, the picture)</div>")
        self.answers.value = "".join(lines)

    def draw(self, strokes: Sequence[Stroke]) -> None:
        """Put strokes on the canvas from Python (as if drawn); the panel updates."""
        self.canvas.strokes = [list(map(list, stroke)) for stroke in strokes]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return _with_plain_text(super()._repr_mimebundle_(**kwargs), self.plain_text)


def digit_panel(models: Mapping[str, Any], feature_layer: tuple[str, str] | None = None,
                shift: bool = False) -> DigitPanel:
    """The live draw-a-digit panel for ``models`` = {name: object with predict(x)}, e.g.
    ``digit_panel({"TwoLayerNet": network})``. feature_layer = (model name, layer name) adds that
    layer's feature maps (ReLU applied), e.g. ("SimpleConvNet", "Relu1"); shift=True adds dx/dy sliders."""
    return DigitPanel(models, feature_layer=feature_layer, shift=shift)
