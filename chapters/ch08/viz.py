"""Looking inside a deep CNN (book chapter 8): tables and figures for the chapter-8 notebook, computed
from a network's own layers through its one public walk, ``net.layer_outputs``.

- 8.1.1 :func:`layer_summary`, :func:`format_summary`   every layer's output shape, parameters and multiply-adds
- 8.1.1 :func:`predict_scores`, :func:`misclassified`, :func:`plot_misclassified_grid`,
  :func:`confusion_matrix`, :func:`plot_confusion_matrix`, :func:`top_confusions`   the digits the net gets wrong
- 8.1.3 :func:`receptive_fields`, :func:`depth_tradeoff`, :func:`plot_depth_tradeoff`   why stacks of 3x3 filters
- 8.2.2 :func:`cnn_param_count`   parameters of a VGG-style configuration (VGG-16: 138 million)
- 8.4.2 :func:`affine_as_convolution`, :func:`convolutionalize`   a fully connected layer is a convolution
  whose kernel is as large as its input (the idea behind fully convolutional networks)
- 8.4.1 :func:`ink_box`, :func:`corners_to_centre`, :func:`centre_to_corners`, :func:`iou`, :func:`plot_boxes`
  the two usual encodings of a detection box
- 8.1.2 :func:`accuracy_under_shift`   which networks keep their answers when digits move (the draw-a-digit panel)
- 8.4.1-8.4.2 :func:`digit_canvas`, :func:`window_probs`, :func:`detect_digits`, :func:`match_detections`,
  :func:`segment_digits`, :func:`plot_segmentation`   boxes and per-pixel masks for digits on a canvas,
  from the fully convolutional version of the trained network

Shapes follow the book: images (N, C, H, W), scores (N, C), labels (N,).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from chapters.canvas import class_probabilities, shift_digit
from chapters.figures import DIGIT_CMAP, axes_for
from common.backend import to_host
from common.functions import softmax
from common.layers import Affine, Convolution, Dropout, Pooling
from common.networks import Network


# ---------------------------------------------------------------------------------------------
# 8.1.1 The architecture, computed from the layers
# ---------------------------------------------------------------------------------------------
@dataclass
class LayerRow:
    """One line of an architecture table."""
    name: str                       # the network's key, e.g. "Conv1"
    kind: str                       # "conv 3x3, 16 filters, pad 1", "max pool 2x2", "ReLU", ...
    output_shape: tuple[int, ...]   # per sample: (C, H, W) or (D,)
    params: int                     # weights + biases (+ gamma, beta)
    macs: int                       # multiply-adds per sample (conv and affine layers only)


def _describe(layer: Any) -> str:
    """One line of the table: the layer's settings, or the book's class name (FastRelu is a Relu)."""
    if isinstance(layer, Convolution):
        fn, _, fh, fw = layer.W.shape
        return f"conv {fh}x{fw}, {fn} filters, pad {layer.pad}, stride {layer.stride}"
    if isinstance(layer, Pooling):
        return f"max pool {layer.pool_h}x{layer.pool_w}, stride {layer.stride}"
    if isinstance(layer, Affine):
        return f"affine {layer.W.shape[0]} -> {layer.W.shape[1]}"
    if isinstance(layer, Dropout):
        return f"dropout {layer.dropout_ratio:g}"
    book_class = next((c for c in type(layer).__mro__ if c.__module__ == Affine.__module__), type(layer))
    return book_class.__name__


def _param_count(layer: Any) -> int:
    """Weights + biases (+ gamma, beta) the layer holds."""
    return sum(int(getattr(layer, a).size) for a in ("W", "b", "gamma", "beta") if getattr(layer, a, None) is not None)


def _macs(layer: Any, out: np.ndarray) -> int:
    """Multiply-adds per sample of a conv or affine layer whose output is ``out`` (N, ...); 0 otherwise."""
    if isinstance(layer, Convolution):
        return int(np.prod(out.shape[1:])) * int(np.prod(layer.W.shape[1:]))
    if isinstance(layer, Affine):
        return int(layer.W.size)
    return 0


def layer_summary(net: Network, input_shape: tuple[int, ...]) -> list[LayerRow]:
    """Run one zero image (1, *input_shape) through ``net.layer_outputs`` and record each layer.

    Output shapes are *measured* (not worked out by hand), parameters are counted from the
    arrays the layer holds, and multiply-adds are
        conv:   FN * OH * OW  *  C * FH * FW   (each output value is a dot product of one patch)
        affine: D * M.
    """
    x = np.zeros((1, *input_shape), dtype=net.dtype)
    return [LayerRow(name, _describe(layer), tuple(int(s) for s in out.shape[1:]), _param_count(layer),
                     _macs(layer, out))
            for name, layer, out in net.layer_outputs(x)]


def format_summary(rows: Sequence[LayerRow], input_shape: tuple[int, ...] | None = None) -> str:
    """The rows as a fixed-width text table, with totals."""
    lines = [f"{'layer':<10}{'what':<38}{'output shape':>14}{'params':>10}{'mult-adds':>12}"]
    lines.append("-" * len(lines[0]))
    if input_shape is not None:
        lines.append(f"{'input':<10}{'':<38}{str(tuple(input_shape)):>14}{'':>10}{'':>12}")
    for r in rows:
        shape = str(r.output_shape)
        lines.append(f"{r.name:<10}{r.kind:<38}{shape:>14}{r.params:>10,}{r.macs:>12,}")
    lines.append("-" * len(lines[0]))
    total_p, total_m = sum(r.params for r in rows), sum(r.macs for r in rows)
    lines.append(f"{'total':<10}{'':<38}{'':>14}{total_p:>10,}{total_m:>12,}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# 8.1.1 What the network gets wrong
# ---------------------------------------------------------------------------------------------
def predict_scores(net: Network, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Test-mode scores (N, C) for all of x, computed in batches (one pass over the data)."""
    return np.concatenate([to_host(net.predict(x[i:i + batch_size], train_flg=False))
                           for i in range(0, len(x), batch_size)])


def misclassified(probs: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Indices of the wrong predictions, most confident mistakes first.

    probs: (N, C) probabilities (or scores); t: (N,) labels. Returns (K,) indices.
    """
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != t)
    order = np.argsort(-probs[wrong, pred[wrong]], kind="stable")
    return wrong[order]


def plot_misclassified_grid(images: np.ndarray, probs: np.ndarray, t: np.ndarray, indices: np.ndarray,
                            ncols: int = 10, size: float = 1.05) -> Figure:
    """A grid of the digits at ``indices``, each titled "true -> predicted" and the confidence.

    images: (N, 1, 28, 28) or (N, 784); probs: (N, C) softmax probabilities; t: (N,) labels.
    The title is red when the network was sure of its mistake (confidence >= 0.9), else grey-blue.
    """
    indices = np.asarray(indices)
    k = len(indices)
    ncols = max(1, min(ncols, k))
    nrows = max(1, int(np.ceil(k / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * 1.3 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), indices):
        p = int(probs[i].argmax())
        conf = float(probs[i, p])
        ax.imshow(np.asarray(images[i]).reshape(28, 28), cmap=DIGIT_CMAP, vmin=0, vmax=1)
        ax.set_title(f"{int(t[i])} -> {p}\n{conf:.2f}", fontsize=8,
                     color="tab:red" if conf >= 0.9 else "tab:blue")
    fig.suptitle("true -> predicted, confidence", fontsize=9)
    fig.tight_layout()
    return fig


def confusion_matrix(t: np.ndarray, pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """(n_classes, n_classes) counts: row = true class, column = predicted class."""
    t, pred = np.asarray(t, dtype=np.intp), np.asarray(pred, dtype=np.intp)
    if t.shape != pred.shape:
        raise ValueError(f"confusion_matrix: t has shape {t.shape}, pred has shape {pred.shape}")
    return np.bincount(t * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def top_confusions(cm: np.ndarray, k: int = 5) -> list[tuple[int, int, int]]:
    """The k largest off-diagonal cells as (true, predicted, count), largest first (ties: by position)."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:k]
    return [(int(i // cm.shape[1]), int(i % cm.shape[1]), int(off.flat[i])) for i in flat if off.flat[i] > 0]


def plot_confusion_matrix(cm: np.ndarray, title: str = "confusion matrix (errors coloured)") -> Figure:
    """Counts in every non-empty cell; colour shows the off-diagonal errors, so the few mistakes stand out.

    The diagonal (correct answers) is shaded light green with its count in bold; empty cells stay blank.
    """
    n = cm.shape[0]
    off = cm.astype(float)
    np.fill_diagonal(off, np.nan)
    top = max(1.0, float(np.nanmax(off)))
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    ax.imshow(np.where(np.eye(n, dtype=bool), 1.0, np.nan), cmap="Greens", vmin=0, vmax=6)   # diagonal shading
    im = ax.imshow(off, cmap="Reds", vmin=0, vmax=top)
    for i in range(n):
        for j in range(n):
            if i == j:
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=9, fontweight="bold",
                        color="darkgreen")
            elif cm[i, j]:
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=11,
                        color="white" if cm[i, j] > 0.6 * top else "black")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=11)
    fig.colorbar(im, ax=ax, fraction=0.046, label="number of errors")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# 8.1.3 Why deeper: receptive field and parameters; 8.2.2 VGG's size
# ---------------------------------------------------------------------------------------------
def receptive_fields(net: Network) -> list[tuple[str, int]]:
    """Receptive field (side, in input pixels) after each conv and pooling layer of ``net``.

    r starts at 1; a layer with kernel k adds (k - 1) * jump, where jump is the product of the
    strides below it (how far apart neighbouring units of this layer look in the input).
    Padding changes where a window sits, not how large it is.
    """
    r, jump, out = 1, 1, []
    for name, layer in net.layers.items():
        if isinstance(layer, Convolution):
            k, s = layer.W.shape[2], layer.stride
        elif isinstance(layer, Pooling):
            k, s = layer.pool_h, layer.stride
        else:
            continue
        r += (k - 1) * jump
        jump *= s
        out.append((name, r))
    return out


def depth_tradeoff(max_depth: int = 6, channels: int = 64) -> list[dict[str, int]]:
    """Stacks of n 3x3 convolutions against one big convolution with the same receptive field.

    For n = 1..max_depth, with ``channels`` channels in and out of every layer (biases ignored):
        receptive field    2n + 1
        stacked params     n * 9 * C^2              (n layers of 3x3)
        single params      (2n + 1)^2 * C^2         (one (2n+1)x(2n+1) layer)
        nonlinearities     n against 1
    """
    rows = []
    for n in range(1, max_depth + 1):
        rf = 2 * n + 1
        rows.append({"depth": n, "receptive_field": rf, "stacked_params": n * 9 * channels ** 2,
                     "single_params": rf * rf * channels ** 2, "nonlinearities": n})
    return rows


def plot_depth_tradeoff(max_depth: int = 6, channels: int = 64, net: Network | None = None) -> Figure:
    """Left: parameters of a 3x3 stack vs one large filter, per receptive field.
    Right (if ``net`` is given): how the receptive field of ``net`` grows layer by layer."""
    rows = depth_tradeoff(max_depth, channels)
    ncols = 2 if net is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 3.6), squeeze=False)
    ax = axes[0, 0]
    rf = [r["receptive_field"] for r in rows]
    ax.plot(rf, [r["stacked_params"] for r in rows], "o-", label="stack of 3x3 convs")
    ax.plot(rf, [r["single_params"] for r in rows], "s--", label="one large conv")
    ax.set_xlabel("receptive field (pixels)")
    ax.set_ylabel(f"parameters ({channels} channels)")
    ax.set_yscale("log")
    ax.set_xticks(rf)
    ax.legend()
    if net is not None:
        ax2 = axes[0, 1]
        fields = receptive_fields(net)
        ax2.bar(range(len(fields)), [r for _, r in fields],
                color=["tab:blue" if n.startswith("Conv") else "tab:orange" for n, _ in fields])
        ax2.axhline(28, color="gray", ls=":", label="image side (28)")
        ax2.set_xticks(range(len(fields)))
        ax2.set_xticklabels([n for n, _ in fields], rotation=45, fontsize=8)
        ax2.set_xlabel("layer of the network (conv blue, pool orange)")
        ax2.set_ylabel("receptive field (pixels)")
        ax2.legend(loc="upper left")
    fig.tight_layout()
    return fig


def cnn_param_count(config: Sequence[int | str], in_channels: int = 3, image_size: int = 224,
                    fc_sizes: Sequence[int] = (4096, 4096, 1000), kernel: int = 3) -> dict[str, int]:
    """Parameters of a VGG-style network written as a list: an int is a ``kernel`` x ``kernel`` conv
    (pad 1, so the size is kept) with that many filters, "M" a 2x2 max pool (halves the size); then
    fully connected layers of ``fc_sizes``. Weights and biases are counted.

    Returns {"conv": ..., "fc": ..., "total": ..., "final_side": ...}. VGG-16 (the D configuration)
    gives 138,357,544 parameters.
    """
    c, side, conv = in_channels, image_size, 0
    for item in config:
        if item == "M":
            side //= 2
        else:
            conv += int(item) * c * kernel * kernel + int(item)
            c = int(item)
    fc, d = 0, c * side * side
    for m in fc_sizes:
        fc += d * m + m
        d = m
    return {"conv": conv, "fc": fc, "total": conv + fc, "final_side": side}


#: VGG-16's convolutional part (Simonyan and Zisserman's configuration D).
VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


# ---------------------------------------------------------------------------------------------
# 8.4.2 A fully connected layer is a convolution (fully convolutional networks for segmentation)
# ---------------------------------------------------------------------------------------------
def affine_as_convolution(affine: Affine, input_shape: tuple[int, int, int]) -> Convolution:
    """The Convolution that computes exactly what ``affine`` computes on (N, C, H, W) input.

    Affine flattens each sample to D = C*H*W values and forms x @ W, W: (D, M). Output unit m is
    the dot product of the whole input with column m — a filter of shape (C, H, W) applied at the
    one position where it fits. So W.T reshaped to (M, C, H, W) is a bank of M full-size filters,
    and the convolution's output is (N, M, 1, 1): the affine output with two extra axes of size 1.
    """
    C, H, W = input_shape
    D, M = affine.W.shape
    if D != C * H * W:
        raise ValueError(f"affine_as_convolution: W has {D} rows but the input (C, H, W) = {input_shape} "
                         f"has {C * H * W} values")
    filters = affine.W.T.reshape(M, C, H, W).copy()                  # a new, contiguous array
    return Convolution(filters, affine.b.copy(), stride=1, pad=0)


def convolutionalize(net: Network, input_shape: tuple[int, int, int]) -> Network:
    """A network with ``net``'s layers in order, every Affine replaced by its equivalent Convolution.

    The first Affine becomes a conv with a kernel as large as its input feature map, later ones
    1x1 convs; the other layers are ``net``'s own (shared, not copied). The result contains no fully
    connected layer, so it accepts images *larger* than ``input_shape`` and its ``predict`` returns
    a map of scores (N, C, OH, OW): the original network applied at every position of a sliding
    window, in one pass (the idea behind fully convolutional networks for segmentation and detection).
    Each Affine's input shape is measured by one zero image (1, *input_shape) through ``net``.
    """
    fcn = Network(dtype=net.dtype)
    shape = tuple(input_shape)                                   # input of the current layer, per sample
    for name, layer, out in net.layer_outputs(np.zeros((1, *input_shape), dtype=net.dtype)):
        if isinstance(layer, Affine):
            layer = affine_as_convolution(layer, shape if len(shape) == 3 else (*shape, 1, 1))
        fcn.layers[name] = layer
        shape = out.shape[1:]
    return fcn


# ---------------------------------------------------------------------------------------------
# 8.4.1 Object detection: two ways to write a box
# ---------------------------------------------------------------------------------------------
def ink_box(image: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """Bounding box (x1, y1, x2, y2) of the pixels brighter than ``threshold`` in a (H, W) image.

    Pixel units, x to the right and y downwards, x2/y2 exclusive (a 1-pixel box has x2 = x1 + 1).
    """
    ys, xs = np.nonzero(np.asarray(image) > threshold)
    if ys.size == 0:
        raise ValueError("ink_box: no pixel above the threshold")
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)


def corners_to_centre(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) boxes (x1, y1, x2, y2) -> (cx, cy, w, h)."""
    b = np.asarray(boxes, dtype=float)
    x1, y1, x2, y2 = np.moveaxis(b, -1, 0)
    return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=-1)


def centre_to_corners(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) boxes (cx, cy, w, h) -> (x1, y1, x2, y2)."""
    b = np.asarray(boxes, dtype=float)
    cx, cy, w, h = np.moveaxis(b, -1, 0)
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def decode_centre_log_size(raw: np.ndarray) -> np.ndarray:
    """(..., 4) raw network outputs (cx, cy, log w, log h) -> corners; always a valid box (w, h > 0)."""
    raw = np.asarray(raw, dtype=float)
    return centre_to_corners(np.concatenate([raw[..., :2], np.exp(raw[..., 2:])], axis=-1))


def valid_box(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) corner boxes -> (...,) True where x2 > x1 and y2 > y1."""
    b = np.asarray(boxes, dtype=float)
    return (b[..., 2] > b[..., 0]) & (b[..., 3] > b[..., 1])


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of corner boxes a and b, (..., 4) each (broadcast) -> (...,)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    area = lambda c: (c[..., 2] - c[..., 0]) * (c[..., 3] - c[..., 1])   # noqa: E731
    return inter / (area(a) + area(b) - inter)


def place_digits(images: np.ndarray, positions: Sequence[tuple[int, int]], size: tuple[int, int] = (64, 96)
                 ) -> np.ndarray:
    """Paste 28x28 digits into an empty (H, W) canvas with their top-left corners at (y, x) positions."""
    canvas = np.zeros(size, dtype=float)
    for img, (y, x) in zip(images, positions):
        patch = np.asarray(img, dtype=float).reshape(28, 28)
        canvas[y:y + 28, x:x + 28] = np.maximum(canvas[y:y + 28, x:x + 28], patch)
    return canvas


def plot_boxes(canvas: np.ndarray, boxes: np.ndarray, labels: Sequence[str], ax: Any = None) -> Figure:
    """Draw corner boxes (K, 4) with a label each on a grey-scale canvas."""
    fig, ax = axes_for(ax, figsize=(5, 3.6))
    ax.imshow(canvas, cmap=DIGIT_CMAP, vmin=0, vmax=1)
    for (x1, y1, x2, y2), text in zip(np.asarray(boxes, dtype=float), labels):
        # pixel i covers [i - 0.5, i + 0.5] in imshow coordinates
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, lw=1.5, color="tab:red"))
        ax.text(x1 - 0.5, y1 - 1.5, text, color="tab:red", fontsize=9)
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels, downwards)")
    return fig


def softmax_probs(scores: np.ndarray) -> np.ndarray:
    """Softmax in float64 of (N, C) scores (so float16/32 scores give comparable probabilities)."""
    return softmax(np.asarray(scores, dtype=np.float64))


# ---------------------------------------------------------------------------------------------
# 8.4.1-8.4.2 Detection and segmentation at MNIST scale, with the fully convolutional network
# ---------------------------------------------------------------------------------------------
def digit_canvas(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n_digits: int = 4,
                 size: tuple[int, int] = (76, 132)) -> dict[str, np.ndarray]:
    """A blank (H, W) canvas with ``n_digits`` random test digits pasted at random, non-overlapping places.

    images: (N, 1, 28, 28) or (N, 28, 28), labels: (N,). Returns {"canvas": (H, W), "boxes": (K, 4) the
    28x28 squares as corners (x1, y1, x2, y2), "labels": (K,), "pixels": (H, W) the true digit of every
    inked pixel (ink > 0.1), -1 elsewhere}.
    """
    H, W = size
    pick = rng.choice(len(images), n_digits, replace=False)
    where: list[tuple[int, int]] = []
    for _ in range(10000):
        if len(where) == n_digits:
            break
        y, x = int(rng.integers(0, H - 27)), int(rng.integers(0, W - 27))
        if all(abs(y - a) >= 28 or abs(x - b) >= 28 for a, b in where):
            where.append((y, x))
    else:
        raise ValueError(f"digit_canvas: {n_digits} digits do not fit on a {size} canvas")
    digits = np.asarray(images)[pick].reshape(n_digits, 28, 28)
    canvas = place_digits(digits, where, size=size)
    pixels = np.full(size, -1, dtype=int)
    for img, t, (y, x) in zip(digits, np.asarray(labels)[pick], where):
        pixels[y:y + 28, x:x + 28][img > 0.1] = t
    boxes = np.array([[x, y, x + 28, y + 28] for y, x in where], dtype=float)
    return {"canvas": canvas, "boxes": boxes, "labels": np.asarray(labels)[pick].astype(int), "pixels": pixels}


def window_probs(fcn: Network, canvas: np.ndarray, step: int = 4, stride: int = 8, window: int = 28) -> np.ndarray:
    """Class probabilities of every ``window``x``window`` crop of a (H, W) canvas, top-lefts ``step`` apart.

    The fully convolutional network answers for windows ``stride`` pixels apart (its three 2x2 pools);
    running it on the canvas shifted by 0, step, 2*step, ... pixels fills the positions in between.
    Returns (nI, nJ, C): entry [i, j] belongs to the window with top-left (y, x) = (step*i, step*j).
    """
    if stride % step:
        raise ValueError(f"window_probs: step {step} must divide the network's stride {stride}")
    canvas = np.asarray(canvas)
    H, W = canvas.shape
    n_i, n_j = (H - window) // step + 1, (W - window) // step + 1
    probs = None
    for dy in range(0, stride, step):
        for dx in range(0, stride, step):
            h, w = (H - dy - window) // stride * stride + window, (W - dx - window) // stride * stride + window
            if h < window or w < window:
                continue
            scores = to_host(fcn.predict(canvas[None, None, dy:dy + h, dx:dx + w].astype(fcn.dtype)))[0]
            C, oh, ow = scores.shape
            if probs is None:
                probs = np.zeros((n_i, n_j, C))
            p = softmax_probs(np.moveaxis(scores, 0, -1).reshape(-1, C)).reshape(oh, ow, C)
            probs[dy // step::stride // step, dx // step::stride // step] = p
    return probs


def detect_digits(probs: np.ndarray, canvas: np.ndarray, step: int = 4, window: int = 28, threshold: float = 0.99,
                  overlap: float = 0.3, ink: float = 0.1) -> dict[str, Any]:
    """Boxes from a map of window probabilities (:func:`window_probs`): a sliding-window detector.

    1. keep the windows whose top class has probability >= ``threshold``;
    2. keep those whose one-pixel frame is blank (ink <= ``ink``): the classifier has no "nothing here"
       class, so a window that cuts through a digit must be ruled out by hand;
    3. non-maximum suppression: most confident first, drop every window whose IoU with a kept one
       exceeds ``overlap``.
    Returns {"boxes": (K, 4) window corners, "labels": (K,), "scores": (K,), "counts": windows left
    after each stage}.
    """
    canvas = np.asarray(canvas)
    conf, cls = probs.max(axis=-1), probs.argmax(axis=-1)
    counts = {"windows": conf.size, "confident": int(np.sum(conf >= threshold))}
    candidates = []
    for i, j in zip(*np.nonzero(conf >= threshold)):
        y, x = step * i, step * j
        w = canvas[y:y + window, x:x + window]
        if max(w[0].max(), w[-1].max(), w[:, 0].max(), w[:, -1].max()) <= ink:
            candidates.append((conf[i, j], int(cls[i, j]), np.array([x, y, x + window, y + window], dtype=float)))
    counts["whole digit"] = len(candidates)
    kept: list[tuple[float, int, np.ndarray]] = []
    for c in sorted(candidates, key=lambda c: -c[0]):
        if all(iou(c[2], k[2]) <= overlap for k in kept):
            kept.append(c)
    counts["after suppression"] = len(kept)
    return {"boxes": np.array([k[2] for k in kept]).reshape(-1, 4), "labels": np.array([k[1] for k in kept], dtype=int),
            "scores": np.array([k[0] for k in kept]), "counts": counts}


def match_detections(found: dict[str, Any], boxes: np.ndarray, labels: np.ndarray, min_iou: float = 0.5
                     ) -> dict[str, int]:
    """Score detections against the true boxes: {"hits" (right place, right digit), "wrong digit",
    "missed", "false"} — a detection matches the unmatched true box it overlaps most, if IoU >= min_iou."""
    matched: set[int] = set()
    out = {"hits": 0, "wrong digit": 0, "missed": 0, "false": 0}
    for box, label in zip(found["boxes"], found["labels"]):
        overlaps = [iou(box, b) if k not in matched else 0.0 for k, b in enumerate(boxes)]
        k = int(np.argmax(overlaps)) if overlaps else -1
        if k >= 0 and overlaps[k] >= min_iou:
            matched.add(k)
            out["hits" if label == labels[k] else "wrong digit"] += 1
        else:
            out["false"] += 1
    out["missed"] = len(boxes) - len(matched)
    return out


def segment_digits(probs: np.ndarray, canvas: np.ndarray, step: int = 4, window: int = 28, ink: float = 0.1
                   ) -> np.ndarray:
    """Per-pixel digit labels (H, W) from a map of window probabilities; -1 = background.

    Every window adds its class probabilities to each of the window x window pixels it covers — a
    transposed convolution of the probability map with an all-ones window x window kernel and stride
    ``step``, which enlarges the map back to the canvas size — and each pixel takes the class with the
    largest sum. The classifier has no background class, so background is decided by the ink alone:
    pixels not brighter than ``ink`` get -1.
    """
    canvas = np.asarray(canvas)
    votes = np.zeros((*canvas.shape, probs.shape[-1]))
    for i in range(probs.shape[0]):
        for j in range(probs.shape[1]):
            votes[step * i:step * i + window, step * j:step * j + window] += probs[i, j]
    return np.where(canvas > ink, votes.argmax(axis=-1), -1)


def plot_segmentation(labels: np.ndarray, ax: Any = None, truth: np.ndarray | None = None) -> Figure:
    """Per-pixel labels (H, W) (-1 = background) in ten colours, with a legend; pixels whose label
    differs from ``truth`` are drawn black."""
    fig, ax = axes_for(ax, figsize=(5, 3.6))
    cmap = plt.get_cmap("tab10")
    image = np.ones((*labels.shape, 3))
    for digit in range(10):
        image[labels == digit] = cmap(digit)[:3]
    wrong = (labels != truth) & (truth >= 0) if truth is not None else np.zeros(labels.shape, dtype=bool)
    image[wrong] = 0.0
    ax.imshow(image, interpolation="nearest")
    for digit in sorted(set(np.unique(labels[~wrong])) - {-1}):
        ax.plot([], [], "s", color=cmap(digit), label=str(digit))
    if wrong.any():
        ax.plot([], [], "s", color="black", label="wrong")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="digit", title_fontsize=7)
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels, downwards)")
    return fig


def accuracy_under_shift(models: dict[str, Any], images: np.ndarray, labels: np.ndarray,
                         shifts: Sequence[tuple[int, int]], batch_size: int = 250) -> dict[str, list[float]]:
    """Accuracy of each model on ``images`` (N, 28, 28) or (N, 1, 28, 28) moved by each (dy, dx) of
    ``shifts`` (zeros come in at the border): {name: [accuracy per shift]}. ``models`` are the
    draw-a-digit panel's {name: object with predict}; the images go through in batches of batch_size."""
    images = np.asarray(images).reshape(len(images), 28, 28)
    labels = np.asarray(labels)
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {labels.shape}")
    table: dict[str, list[float]] = {}
    for name, model in models.items():
        table[name] = []
        for dy, dx in shifts:
            moved = shift_digit(images, dy, dx)
            pred = np.concatenate([class_probabilities(model, moved[i:i + batch_size]).argmax(axis=1)
                                   for i in range(0, len(moved), batch_size)])
            table[name].append(float(np.mean(pred == labels)))
    return table
