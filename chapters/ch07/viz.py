"""Chapter 7 figures and small experiments: convolution and pooling you can see.

- :func:`plot_network_structure`           7.1  Affine-ReLU chain vs Conv-ReLU-Pool chain
- :func:`plot_conv_blocks`                 7.2  convolution as blocks, (N, C, H, W) written on them
- :func:`convolution_playground`           7.2  an MNIST digit, a kernel, stride, padding -> feature map
- :func:`pool2d`, :func:`shift_images`,
  :func:`shift_change`, :func:`plot_shift_test`   7.3  what pooling buys: pooled features change less
- :func:`plot_im2col_patches`              7.4  colour-coded: one patch becomes one row
- :func:`plot_filters`, :func:`plot_filter_responses`, :func:`edge_energies`   7.6  filters and their responses
- :func:`receptive_field`, :func:`count_params`                                 7.5/7.7  sizes, computed
- :func:`conv_as_matrix`                   7.2  a convolution as a fully connected layer's (mostly zero) matrix

Figure functions return a ``Figure`` and never call ``plt.show()``; the slider callbacks also print a
one-line status text.
"""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Polygon, Rectangle

from chapters.figures import DIGIT_CMAP, figure_memo
from common.util import conv_output_size, im2col

# ---------------------------------------------------------------------------------------------
# Block diagrams
# ---------------------------------------------------------------------------------------------
_DX, _DY = 0.45, 0.3          # how far the depth axis (channels) recedes, per unit of depth


def _box(ax: Axes, x: float, y: float, w: float, h: float, d: float, color: str, label: str = "",
         below: str = "") -> None:
    """A cuboid: front face w x h at (x, y), receding by depth d (up and to the right)."""
    ox, oy = _DX * d, _DY * d
    kw = dict(facecolor=color, edgecolor="k", lw=0.8)
    ax.add_patch(Polygon([(x, y + h), (x + ox, y + h + oy), (x + w + ox, y + h + oy), (x + w, y + h)],
                         alpha=0.55, **kw))
    ax.add_patch(Polygon([(x + w, y), (x + w + ox, y + oy), (x + w + ox, y + h + oy), (x + w, y + h)],
                         alpha=0.75, **kw))
    ax.add_patch(Rectangle((x, y), w, h, alpha=0.9, **kw))
    if label:
        ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=8)
    if below:
        ax.text(x + (w + ox) / 2, y - 0.35, below, ha="center", va="top", fontsize=8)


def _scaled(n: int, unit: float, lo: float, hi: float) -> float:
    return float(np.clip(n * unit, lo, hi))


def plot_conv_blocks(C: int = 3, H: int = 7, W: int = 7, FN: int = 1, FH: int = 3, FW: int = 3,
                     stride: int = 1, pad: int = 0, N: int | None = None, bias: bool = True) -> Figure:
    """Convolution drawn as blocks: input (C, H, W) * FN filters (C, FH, FW) [+ bias (FN, 1, 1)] -> (FN, OH, OW).

    Depth is the channel axis. With ``N`` given, every block is labelled with its batch shape
    (N, C, H, W) — the batch is a 4th axis the figure cannot draw, so it is written on.
    The output size is computed with ``conv_output_size`` (it raises if the windows do not tile).
    """
    OH, OW = conv_output_size(H, FH, stride, pad), conv_output_size(W, FW, stride, pad)
    fig, ax = plt.subplots(figsize=(8.5, 2.8))
    u = 0.22
    cursor = 0.0
    top = 1.0                                    # highest point drawn, for the y-limits

    def block(c: int, h: int, w: int, color: str, shape: str, name: str) -> None:
        nonlocal cursor, top
        bw, bh, bd = _scaled(w, u, 0.4, 3.0), _scaled(h, u, 0.4, 3.0), _scaled(c, 0.6, 0.3, 2.5)
        top = max(top, bh + _DY * bd)
        _box(ax, cursor, 0.0, bw, bh, bd, color, below=f"{name}\n{shape}")
        cursor += bw + _DX * bd + 0.5

    def sign(s: str) -> None:
        nonlocal cursor
        ax.text(cursor + 0.1, 0.8, s, fontsize=16, ha="center", va="center")
        cursor += 0.8

    block(C, H, W, "tab:blue", f"({C}, {H}, {W})" if N is None else f"({N}, {C}, {H}, {W})", "input")
    sign("⊛")
    fshape = f"({FN}, {C}, {FH}, {FW})"
    copies = min(FN, 3)                          # a bank of FN filters: up to 3 offset copies drawn
    start = cursor
    for k in range(copies):
        cursor = start + 0.2 * (copies - 1 - k)
        last = k == copies - 1
        block(C, FH, FW, "tab:orange", fshape if last else "", ("filter" if FN == 1 else f"{FN} filters") if last else "")
    cursor += 0.2 * (copies - 1) if copies > 1 else 0.0
    sign("→")
    out_shape = f"({FN}, {OH}, {OW})" if N is None else f"({N}, {FN}, {OH}, {OW})"
    if bias:
        block(FN, OH, OW, "tab:green", out_shape, "")
        sign("+")
        block(FN, 1, 1, "tab:purple", f"({FN}, 1, 1)", "bias")
        sign("→")
    block(FN, OH, OW, "tab:green", out_shape, "output")
    title = f"stride {stride}, pad {pad}:  OH = ({H} + 2·{pad} − {FH}) / {stride} + 1 = {OH}"
    if N is not None:
        title = f"batch of N = {N}; " + title
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-0.3, cursor)
    ax.set_ylim(-1.3, top + 0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


def plot_network_structure() -> Figure:
    """7.1: the fully connected chain of chapters 3-6 against the book's CNN chain."""
    fc = ["Affine", "ReLU", "Affine", "ReLU", "Affine", "ReLU", "Affine", "Softmax"]
    cnn = ["Conv", "ReLU", "Pooling", "Conv", "ReLU", "Pooling", "Conv", "ReLU", "Affine", "ReLU", "Affine",
           "Softmax"]
    colors = {"Affine": "#9ecae1", "ReLU": "#fdd0a2", "Softmax": "#c7e9c0", "Conv": "#fc9272", "Pooling": "#bcbddc"}
    fig, ax = plt.subplots(figsize=(9.5, 2.4))
    for row, (name, chain) in enumerate([("fully connected (ch. 3-6)", fc), ("CNN (ch. 7)", cnn)]):
        y = 1.2 - row * 1.2
        ax.text(-0.2, y + 0.3, name, ha="right", va="center", fontsize=9)
        for k, layer in enumerate(chain):
            ax.add_patch(Rectangle((k * 0.8, y), 0.7, 0.6, facecolor=colors[layer], edgecolor="k", lw=0.7))
            ax.text(k * 0.8 + 0.35, y + 0.3, layer, ha="center", va="center", fontsize=7, rotation=90 if len(layer) > 5 else 0)
            if k:
                ax.annotate("", (k * 0.8, y + 0.3), (k * 0.8 - 0.1, y + 0.3), arrowprops=dict(arrowstyle="->", lw=0.7))
    ax.set_xlim(-3.2, len(cnn) * 0.8)
    ax.set_ylim(-0.2, 2.0)
    ax.axis("off")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# The convolution playground
# ---------------------------------------------------------------------------------------------
KERNELS: dict[str, np.ndarray] = {
    "vertical edge": np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]),     # Sobel, d/dx
    "horizontal edge": np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]),   # Sobel, d/dy
    "blur": np.full((3, 3), 1.0 / 9.0),
    "sharpen": np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]),
    "identity": np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
}
CUSTOM = "custom (edit below)"


def parse_kernel(text: str) -> np.ndarray:
    """'1 0 -1; 2 0 -2; 1 0 -1' (rows split by ';' or newlines, numbers by spaces or commas) -> (FH, FW)."""
    rows = [r.replace(",", " ").split() for r in text.replace("\n", ";").split(";") if r.strip()]
    if not rows or len({len(r) for r in rows}) != 1:
        raise ValueError(f"kernel text {text!r}: need rows of equal length, e.g. '0 -1 0; -1 5 -1; 0 -1 0'")
    return np.array([[float(v) for v in r] for r in rows])


def output_size_text(size: int, filter_size: int, stride: int, pad: int) -> tuple[int, str]:
    """The formula OH = (H + 2P - FH) / S + 1, evaluated; returns (output size used, text).

    When the division is not exact the text says so, and the size is rounded down — the last
    window, which would hang over the edge, is dropped (``conv_output_size`` refuses instead).
    """
    span = size + 2 * pad - filter_size
    expr = f"({size} + 2*{pad} - {filter_size})/{stride} + 1"
    if span < 0:
        return 0, f"{expr}: the filter is larger than the padded input"
    if span % stride:
        used = span // stride + 1
        return used, (f"{expr} = {span / stride + 1:.4g}, not an integer: the last window is dropped, "
                      f"{used} (conv_output_size would raise)")
    return span // stride + 1, f"{expr} = {span // stride + 1}"


def conv2d(image: np.ndarray, kernel: np.ndarray, stride: int = 1, pad: int = 0) -> np.ndarray:
    """One channel, one filter: (H, W) * (FH, FW) -> (OH, OW), via ``common.util.im2col``.

    Cross-correlation as in the book (the kernel is not flipped). If the windows do not tile the
    padded input, the rows/columns that cannot hold a whole last window are cut off first.
    """
    FH, FW = kernel.shape
    H, W = image.shape
    oh, _ = output_size_text(H, FH, stride, pad)
    ow, _ = output_size_text(W, FW, stride, pad)
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d: a {FH}x{FW} kernel does not fit a {H}x{W} image with pad {pad}")
    img = np.pad(np.asarray(image, dtype=np.float64), pad)
    img = img[: (oh - 1) * stride + FH, : (ow - 1) * stride + FW]          # drop what no window covers
    col = im2col(img[None, None], FH, FW, stride, 0)                         # (OH*OW, FH*FW)
    return (col @ kernel.ravel()).reshape(oh, ow)


def _as_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    side = int(round(np.sqrt(images[0].size)))
    return images.reshape(len(images), side, side)


def convolution_playground(images: np.ndarray, index: int = 0, kernel: str = "vertical edge", stride: int = 1,
                           pad: int = 0, custom: str = "0 -1 0; -1 5 -1; 0 -1 0") -> Figure:
    """Convolve digit ``images[index]`` with a kernel; show input (padding shaded), kernel, feature map.

    images: (K, 784), (K, 28, 28) or (K, 1, 28, 28). kernel: a name in ``KERNELS`` or ``CUSTOM``
    (then ``custom`` is parsed by :func:`parse_kernel`). Prints the status line, e.g.
    ``kernel: vertical edge 3x3 | stride 1, pad 0`` and, below it, ``OH = OW = (28 + 2*0 - 3)/1 + 1 = 26``.
    """
    img = _as_images(images)[index].astype(np.float64)
    try:
        k = parse_kernel(custom) if kernel == CUSTOM else KERNELS[kernel]
    except ValueError as err:
        k, kernel = KERNELS["identity"], f"identity (custom kernel not understood: {err})"
    FH, FW = k.shape
    out = conv2d(img, k, stride, pad)
    _, text = output_size_text(img.shape[0], FH, stride, pad)

    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), gridspec_kw=dict(width_ratios=[1, 0.7, 1]))
    padded = np.pad(img, pad)
    axes[0].imshow(padded, cmap=DIGIT_CMAP, vmin=0, vmax=1)
    if pad:
        n = padded.shape[0]
        axes[0].add_patch(Rectangle((pad - 0.5, pad - 0.5), n - 2 * pad, n - 2 * pad, fill=False, ec="tab:blue", lw=1))
    for j in range(min(3, out.shape[1])):        # the first three windows along the top row
        axes[0].add_patch(Rectangle((j * stride - 0.5, -0.5), FW, FH, fill=False, ec=f"C{j + 1}", lw=1.5))
    axes[0].set_title(f"input {padded.shape[0]}x{padded.shape[1]} (pad {pad})", fontsize=9)
    lim = max(np.abs(k).max(), 1e-12)
    axes[1].imshow(k, cmap="RdBu_r", vmin=-lim, vmax=lim)
    for (r, c), v in np.ndenumerate(k):
        axes[1].text(c, r, f"{v:.2g}", ha="center", va="center", fontsize=8,
                     color="w" if abs(v) > 0.6 * lim else "k")
    axes[1].set_title(f"kernel {FH}x{FW}", fontsize=9)
    vmax = max(np.abs(out).max(), 1e-12)
    axes[2].imshow(out, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    axes[2].set_title(f"output {out.shape[0]}x{out.shape[1]} (red +, blue -)", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    # Two lines, always: a long output-size note then never widens the line past the panel.
    print(f"kernel: {kernel} {FH}x{FW} | stride {stride}, pad {pad}\nOH = OW = {text}")
    return fig


# ---------------------------------------------------------------------------------------------
# 7.3 Pooling and small shifts
# ---------------------------------------------------------------------------------------------
def pool2d(x: np.ndarray, size: int = 2, mode: str = "max") -> np.ndarray:
    """Non-overlapping size x size pooling of (N, C, H, W) -> (N, C, H/size, W/size); mode 'max' or 'average'."""
    N, C, H, W = x.shape
    if H % size or W % size:
        raise ValueError(f"pool2d: {H}x{W} is not a multiple of the window {size}")
    blocks = x.reshape(N, C, H // size, size, W // size, size)
    if mode == "max":
        return blocks.max(axis=(3, 5))
    if mode == "average":
        return blocks.mean(axis=(3, 5))
    raise ValueError(f"pool2d: mode must be 'max' or 'average', got {mode!r}")


def shift_images(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift (..., H, W) images by dy rows (down) and dx columns (right), filling with zeros."""
    H, W = x.shape[-2:]
    out = np.zeros_like(x)
    src_y, dst_y = (slice(0, H - dy), slice(dy, H)) if dy >= 0 else (slice(-dy, H), slice(0, H + dy))
    src_x, dst_x = (slice(0, W - dx), slice(dx, W)) if dx >= 0 else (slice(-dx, W), slice(0, W + dx))
    out[..., dst_y, dst_x] = x[..., src_y, src_x]
    return out


def relative_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over the batch of ||a_n - b_n|| / ||a_n||, for feature maps a, b of shape (N, ...)."""
    a2, b2 = a.reshape(len(a), -1), b.reshape(len(b), -1)
    norms = np.maximum(np.linalg.norm(a2, axis=1), 1e-12)
    return float(np.mean(np.linalg.norm(a2 - b2, axis=1) / norms))


def shift_change(x: np.ndarray, dy: int, dx: int, size: int = 2) -> dict[str, float]:
    """How much a shift by (dy, dx) changes the pixels, the max-pooled and the average-pooled maps.

    x: (N, C, H, W). Returns {"pixels": ..., "max pool": ..., "average pool": ...}, each the mean
    relative change (:func:`relative_change`) between the map of x and the map of the shifted x.
    """
    xs = shift_images(x, dy, dx)
    return {"pixels": relative_change(x, xs),
            "max pool": relative_change(pool2d(x, size, "max"), pool2d(xs, size, "max")),
            "average pool": relative_change(pool2d(x, size, "average"), pool2d(xs, size, "average"))}


def plot_shift_test(images: np.ndarray, index: int = 0, dy: int = 0, dx: int = 1, size: int = 2,
                    fig: Figure | None = None) -> Figure:
    """A digit and its shifted copy, before and after size x size max pooling, with the differences.

    Prints e.g. ``shift (0, 1), 2x2 max pool: pixels change 0.63, pooled features 0.49``.
    fig: a figure this function returned before (the slider panel passes it): its six pictures and
    titles are updated in place and drawn over a saved picture of the rest (blitting), far faster than a
    new figure.
    """
    img = _as_images(images)[index][None, None].astype(np.float64)
    sh = shift_images(img, dy, dx)
    p, ps = pool2d(img, size), pool2d(sh, size)
    rows = [(img, sh, "pixels"), (p, ps, f"{size}x{size} max pool")]
    panels = []                                   # (row, column, picture (h, w), title, colour map)
    for r, (a, b, name) in enumerate(rows):
        change = f"|difference|, relative change {relative_change(a, b):.2f}"
        shown = [(a[0, 0], f"original, {name}", DIGIT_CMAP), (b[0, 0], f"shifted ({dy}, {dx})", DIGIT_CMAP),
                 (np.abs(a - b)[0, 0], change, "Reds")]
        panels += [(r, c, m, title, cmap) for c, (m, title, cmap) in enumerate(shown)]
    memo = figure_memo(fig) if fig is not None else {}
    if memo.get("key") == (img.shape, size):
        for r, c, m, title, _ in panels:
            memo["pictures"][r][c].set_data(m)
            if memo["axes"][r, c].get_title() != title:
                memo["axes"][r, c].set_title(title, fontsize=9, y=1.0)
        _blit_shift_test(fig, memo, (dy, dx))
    else:
        # nearest: what "auto" picks for pictures this enlarged, without working it out at each draw; and the
        # titles at a given height, y=1.0, where they sit anyway (over axes with no ticks), instead of one
        # worked out from the axes' tick boxes at each draw (that took most of a redraw)
        fig, axes = plt.subplots(2, 3, figsize=(7, 4.6))
        pictures = [[None] * 3, [None] * 3]
        for r, c, m, title, cmap in panels:
            pictures[r][c] = axes[r, c].imshow(m, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            axes[r, c].set_title(title, fontsize=9, y=1.0)
            axes[r, c].axis("off")
        fig.tight_layout()
        figure_memo(fig).update(key=(img.shape, size), axes=axes, pictures=pictures)
    print(f"shift ({dy}, {dx}), {size}x{size} max pool: pixels change {relative_change(img, sh):.2f}, "
          f"pooled features {relative_change(p, ps):.2f}")
    return fig


def _blit_shift_test(fig: Figure, memo: dict, shift: tuple[int, int]) -> None:
    """The panel path's drawing for :func:`plot_shift_test`: the six pictures and the two |difference| titles
    over a saved picture of the rest (the other titles change only with the shift), leaving ``fig`` drawn
    and not stale (what the panel shows as it is); a full draw (``savefig``) draws the same."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):          # no pixels to blit into: a full draw shows it
        return
    canvas, axes = fig.canvas, memo["axes"]
    changing = ([(axes[r, c], memo["pictures"][r][c]) for r in range(2) for c in range(3)]
                + [(axes[r, 2], axes[r, 2].title) for r in range(2)])
    key = (shift, fig.dpi, tuple(fig.bbox.size))
    if memo.get("background", (None, None))[0] != key:
        for _, artist in changing:
            artist.set_visible(False)
        canvas.draw()
        memo["background"] = (key, canvas.copy_from_bbox(fig.bbox))
        for _, artist in changing:
            artist.set_visible(True)
    canvas.restore_region(memo["background"][1])
    for ax, artist in changing:
        ax.draw_artist(artist)
    fig.stale = False


# ---------------------------------------------------------------------------------------------
# 7.4 One patch becomes one row
# ---------------------------------------------------------------------------------------------
def plot_im2col_patches(patch: int = 1, H: int = 4, W: int = 4, C: int = 2, FH: int = 3, FW: int = 3,
                        stride: int = 1, pad: int = 0, fig: Figure | None = None) -> Figure:
    """Colour-coded im2col: every patch of a small (1, C, H, W) image and its row in the matrix.

    Pixels are named by channel letter and position (a0..a15 in channel a, b0..b15 in channel b).
    Each patch gets a colour; ``patch`` (row number) is drawn solid, the others faint. The matrix
    on the right is exactly ``im2col`` of the image of pixel numbers. Prints e.g.
    ``patch 1 = row 1 of col (4, 18): a1 a2 a3 a5 a6 a7 a9 a10 a11 | b1 ...``.
    A ``patch`` beyond the last row is clamped to the last row.
    fig: a figure this function returned before for the same image and kernel (the slider panel passes
    it): only the highlight moves — drawn over a saved picture of the rest, so that the ~300 names are
    not drawn again.
    """
    OH, OW = conv_output_size(H, FH, stride, pad), conv_output_size(W, FW, stride, pad)
    n_rows = OH * OW
    if patch < 0:
        raise ValueError(f"patch must be >= 0, got {patch}")
    patch = min(patch, n_rows - 1)
    ids = np.arange(C * H * W, dtype=np.float64).reshape(1, C, H, W) + 1      # +1: 0 marks padding
    col = np.rint(im2col(ids, FH, FW, stride, pad)).astype(int) - 1          # (OH*OW, C*FH*FW); -1 = pad
    letters = "abcdefgh"

    def name(v: int) -> str:
        return "0" if v < 0 else f"{letters[v // (H * W)]}{v % (H * W)}"

    colors = plt.get_cmap("tab10")
    layout = (H, W, C, FH, FW, stride, pad)
    memo = figure_memo(fig) if fig is not None else {}
    if memo.get("layout") == layout:
        _move_im2col_highlight(fig, memo, patch, col, name)
    else:
        # the image(s) on top, the matrix below at full width: about half an inch per column, so the
        # 9-point names stay readable when the notebook scales the figure to its column width
        n_cols = C * FH * FW
        cell = 0.45
        side = 0.36 * (max(H, W) + 2 * pad)
        matrix_h = 0.34 * n_rows
        fig = plt.figure(figsize=(cell * n_cols + 1.2, side + matrix_h + 1.8))
        grid = fig.add_gridspec(2, 2 * C, height_ratios=[side, matrix_h])
        axes = [fig.add_subplot(grid[0, 2 * c:2 * c + 2]) for c in range(C)] + [fig.add_subplot(grid[1, :])]
        rects: list[list[Rectangle]] = []
        for c in range(C):
            ax = axes[c]
            ax.set_xlim(-0.5 - pad, W - 0.5 + pad)
            ax.set_ylim(H - 0.5 + pad, -0.5 - pad)
            ax.add_patch(Rectangle((-0.5, -0.5), W, H, fill=False, ec="k", lw=0.8))
            for y in range(H):
                for x in range(W):
                    ax.text(x, y, name(c * H * W + y * W + x), ha="center", va="center", fontsize=9)
            rects.append([ax.add_patch(Rectangle((0, 0), 1, 1, **_patch_style(r, r == patch)))
                          for r in range(n_rows)])
            for r, rect in enumerate(rects[c]):
                _place_patch(rect, r, r == patch, OW, FH, FW, stride, pad)
            ax.set_title(f"channel {letters[c]}", fontsize=10)
            ax.set_aspect("equal")
            ax.axis("off")
        ax = axes[C]
        ax.set_xlim(-0.5, col.shape[1] - 0.5)
        ax.set_ylim(n_rows - 0.5, -0.5)
        bands, cells = [], []
        for r in range(n_rows):
            bands.append(ax.add_patch(Rectangle((-0.5, r - 0.5), col.shape[1], 1, fc=colors(r % 10),
                                                alpha=0.45 if r == patch else 0.12, ec="none")))
            cells.append([ax.text(k, r, name(col[r, k]), ha="center", va="center", fontsize=9,
                                  fontweight="bold" if r == patch else "normal") for k in range(col.shape[1])])
        for c in range(1, C):
            ax.axvline(c * FH * FW - 0.5, color="k", lw=0.8)
        ax.set_yticks(range(n_rows))
        ax.tick_params(axis="y", labelsize=9)
        ax.set_ylabel("row = patch number", fontsize=10)
        ax.set_xticks([c * FH * FW + (FH * FW - 1) / 2 for c in range(C)], [f"channel {letters[c]}" for c in range(C)],
                      fontsize=9)
        ax.tick_params(axis="x", length=0)
        ax.set_xlabel(f"column = channel, then kernel row, then kernel column ({FH}x{FW} per channel)", fontsize=10)
        ax.set_title(f"col = im2col(x): shape {col.shape}, one row per patch", fontsize=10)
        fig.tight_layout()
        figure_memo(fig).update(layout=layout, patch=patch, axes=axes, rects=rects, bands=bands, cells=cells,
                                OW=OW)
    row = [name(v) for v in col[patch]]
    per_channel = " | ".join(" ".join(row[c * FH * FW:(c + 1) * FH * FW]) for c in range(C))
    print(f"patch {patch} = row {patch} of col {col.shape}: {per_channel}")
    return fig


def _patch_style(r: int, solid: bool) -> dict:
    """Rectangle properties of patch ``r``: solid (the chosen patch) or faint (the others)."""
    color = plt.get_cmap("tab10")(r % 10)
    return dict(fill=solid, alpha=0.3 if solid else 0.8, fc=color, ec=color, lw=2 if solid else 0.8,
                ls="-" if solid else ":")


def _place_patch(rect: Rectangle, r: int, solid: bool, OW: int, FH: int, FW: int, stride: int, pad: int) -> None:
    """Put ``rect`` over the input pixels of patch ``r`` (faint ones inset a little, so neighbours show)."""
    i, j = divmod(r, OW)
    inset = 0.0 if solid else 0.06
    rect.set_xy((j * stride - pad - 0.5 + inset, i * stride - pad - 0.5 + inset))
    rect.set_width(FW - 2 * inset)
    rect.set_height(FH - 2 * inset)


def _move_im2col_highlight(fig: Figure, memo: dict, patch: int, col: np.ndarray, name) -> None:
    """The panel path of :func:`plot_im2col_patches`: draw the highlight of ``patch`` over a saved picture
    of everything else (matplotlib's blitting), leaving ``fig`` drawn and not stale."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    H, W, C, FH, FW, stride, pad = memo["layout"]
    OW, axes = memo["OW"], memo["axes"]
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    if "background" not in memo:
        # once: every patch faint, every row plain; save that picture, and make the highlight's artists
        old = memo["patch"]
        for c in range(C):
            memo["rects"][c][old].update(_patch_style(old, False))
            _place_patch(memo["rects"][c][old], old, False, OW, FH, FW, stride, pad)
        memo["bands"][old].set_alpha(0.12)
        for text in memo["cells"][old]:
            text.set_fontweight("normal")
        memo["solid"] = [axes[c].add_patch(Rectangle((0, 0), 1, 1, animated=True)) for c in range(C)]
        memo["names"] = [[axes[c].text(0, 0, "", ha="center", va="center", fontsize=9, animated=True)
                          for _ in range(FH * FW)] for c in range(C)]
        # over the faint band (alpha 0.12) this gives the chosen row's 0.45: 1 - 0.88 * (1 - 0.375) = 0.45
        memo["band"] = axes[C].add_patch(Rectangle((-0.5, 0), col.shape[1], 1, alpha=0.375, ec="none",
                                                   animated=True))
        memo["bold"] = [axes[C].text(k, 0, "", ha="center", va="center", fontsize=9, fontweight="bold",
                                     animated=True) for k in range(col.shape[1])]
        canvas.draw()                                         # animated artists are left out of it
        memo["background"] = canvas.copy_from_bbox(fig.bbox)
    canvas.restore_region(memo["background"])
    i, j = divmod(patch, OW)
    for c in range(C):
        rect = memo["solid"][c]
        rect.update(_patch_style(patch, True))
        _place_patch(rect, patch, True, OW, FH, FW, stride, pad)
        axes[c].draw_artist(rect)
        for n, text in enumerate(memo["names"][c]):          # the names under the patch, over its fill
            y, x = i * stride - pad + n // FW, j * stride - pad + n % FW
            if 0 <= y < H and 0 <= x < W:
                text.set_position((x, y))
                text.set_text(name(c * H * W + y * W + x))
                axes[c].draw_artist(text)
    band = memo["band"]
    band.set_y(patch - 0.5)
    band.set_facecolor(plt.get_cmap("tab10")(patch % 10))
    axes[C].draw_artist(band)
    for k, text in enumerate(memo["bold"]):
        text.set_position((k, patch))
        text.set_text(name(col[patch, k]))
        axes[C].draw_artist(text)
    memo["patch"] = patch


# ---------------------------------------------------------------------------------------------
# 7.6 Filters and what they respond to
# ---------------------------------------------------------------------------------------------
def _mosaic(tiles: np.ndarray, ncols: int, gap: int = 1, fill: float = np.nan) -> np.ndarray:
    """Arrange K tiles (K, h, w) in a grid with ``ncols`` columns and ``gap`` pixels of ``fill`` between them."""
    K, h, w = tiles.shape
    nrows = int(np.ceil(K / ncols))
    out = np.full((nrows * (h + gap) - gap, ncols * (w + gap) - gap), fill)
    for k in range(K):
        r, c = divmod(k, ncols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[k]
    return out


def _per_tile_minmax(tiles: np.ndarray) -> np.ndarray:
    lo = tiles.min(axis=(1, 2), keepdims=True)
    span = tiles.max(axis=(1, 2), keepdims=True) - lo
    return (tiles - lo) / np.where(span > 0, span, 1.0)


def plot_filters(W: np.ndarray, title: str = "", ncols: int = 10, size: float = 0.8) -> Figure:
    """First-layer filters W (FN, 1, FH, FW) as grey images, each scaled to its own min..max.

    Each filter's number is written in black *above* its tile (in a blank band left between the rows),
    so it stays readable on dark and light filters alike.
    """
    W = np.asarray(W, dtype=np.float64)
    FN, _, FH, FW = W.shape
    ncols = min(ncols, FN)
    nrows = int(np.ceil(FN / ncols))
    label_rows = max(2, int(np.ceil(FH / 2.5)))                 # blank pixel rows above each row of tiles
    tiles = _per_tile_minmax(W[:, 0])
    mosaic = np.full((nrows * (FH + label_rows), ncols * (FW + 1) - 1), np.nan)
    for k in range(FN):
        r, c = divmod(k, ncols)
        top = r * (FH + label_rows) + label_rows
        mosaic[top:top + FH, c * (FW + 1):c * (FW + 1) + FW] = tiles[k]
    width = size * ncols
    fig, ax = plt.subplots(figsize=(width, width * mosaic.shape[0] / mosaic.shape[1] + (0.4 if title else 0.1)))
    cmap = plt.get_cmap("gray").with_extremes(bad="white")
    ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    for k in range(FN):
        r, c = divmod(k, ncols)
        top = r * (FH + label_rows) + label_rows
        ax.text(c * (FW + 1) + (FW - 1) / 2, top - 0.6, str(k), fontsize=7, color="black", ha="center", va="bottom")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def filter_responses(W: np.ndarray, b: np.ndarray, image: np.ndarray, stride: int = 1, pad: int = 0,
                     relu: bool = True) -> np.ndarray:
    """Feature maps of one (H, W) image under filters W (FN, 1, FH, FW) and biases b (FN,): (FN, OH, OW)."""
    maps = np.stack([conv2d(image, W[k, 0].astype(np.float64), stride, pad) + float(b[k]) for k in range(len(W))])
    return np.maximum(maps, 0) if relu else maps


def plot_filter_responses(W: np.ndarray, b: np.ndarray, image: np.ndarray, ncols: int = 10, relu: bool = True,
                          size: float = 0.9) -> Figure:
    """The filters (top mosaic) and their feature maps on ``image`` (H, W) (bottom mosaic, same grid place).

    Feature maps are after ReLU by default and share one colour scale, so a dark map means a weak response.
    """
    maps = filter_responses(W, b, image, relu=relu)
    FN = len(W)
    ncols = min(ncols, FN)
    top = _mosaic(_per_tile_minmax(np.asarray(W[:, 0], dtype=np.float64)), ncols)
    bottom = _mosaic(maps, ncols, gap=2)
    width = size * ncols
    fig, axes = plt.subplots(2, 1, figsize=(width, width * (top.shape[0] / top.shape[1] + bottom.shape[0] / bottom.shape[1]) + 0.7))
    axes[0].imshow(top, cmap=plt.get_cmap("gray").with_extremes(bad="white"), vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_title("filters", fontsize=9)
    axes[1].imshow(bottom, cmap=plt.get_cmap("inferno").with_extremes(bad="white"), vmin=0, vmax=maps.max() or 1.0)
    axes[1].set_title("their feature maps on the image" + (" (after ReLU)" if relu else ""), fontsize=9)
    h = maps.shape[1]
    for k in range(FN):
        r, c = divmod(k, ncols)
        axes[1].text(c * (h + 2) + 0.5, r * (h + 2) + 0.5, str(k), fontsize=6, color="w", va="top")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def square_image(size: int = 28, lo: int = 7, hi: int = 21) -> np.ndarray:
    """A white square on black: two vertical and two horizontal edges, and flat regions."""
    img = np.zeros((size, size))
    img[lo:hi, lo:hi] = 1.0
    return img


def edge_energies(W: np.ndarray, b: np.ndarray, size: int = 28, lo: int = 7, hi: int = 21) -> np.ndarray:
    """Mean |response| of each filter near the vertical edges, the horizontal edges and in flat regions.

    The test image is :func:`square_image`. Responses are the raw (pre-ReLU) feature maps minus the
    bias, so a constant offset does not count as "responding". Returns (FN, 3): columns
    [vertical edges, horizontal edges, flat]. Flat = the square's interior and the far background.
    """
    FH = W.shape[2]
    maps = filter_responses(W, np.zeros(len(W)), square_image(size, lo, hi), relu=False)    # (FN, OH, OW)
    OH = maps.shape[1]
    # output (i, j) sees input rows i..i+FH-1: a window "contains" an edge if it straddles it
    rows = np.arange(OH)
    straddles = lambda e: (rows < e) & (rows + FH > e)                                     # noqa: E731
    inside = (rows >= lo) & (rows + FH <= hi)
    away = (rows + FH <= lo - 1) | (rows >= hi + 1)
    along = inside                                                                          # not near the corners
    v_mask = (along[:, None]) & (straddles(lo) | straddles(hi))[None, :]
    h_mask = (straddles(lo) | straddles(hi))[:, None] & along[None, :]
    flat = (inside[:, None] & inside[None, :]) | (away[:, None] & away[None, :])
    a = np.abs(maps)
    return np.stack([a[:, v_mask].mean(axis=1), a[:, h_mask].mean(axis=1), a[:, flat].mean(axis=1)], axis=1)


# ---------------------------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------------------------
def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Side of the input region one output unit sees, for a stack of (kernel, stride) layers.

    r = 1; for each layer: r += (kernel - 1) * (product of the strides of the layers below it).
    conv 5x5 -> 5; then 2x2 pool stride 2 -> 6; two 3x3 convs -> 5; three -> 7.
    """
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump *= s
    return r


def count_params(net: Any) -> dict[str, int]:
    """Number of values in each parameter array of a network (``net.params``), plus 'total'."""
    counts = {k: int(np.asarray(v).size) for k, v in net.params.items()}
    counts["total"] = sum(counts.values())
    return counts


def conv_as_matrix(W: np.ndarray, input_shape: tuple[int, int, int], stride: int = 1, pad: int = 0) -> np.ndarray:
    """A convolution written as a fully connected layer's weight matrix M (C·H·W, FN·OH·OW).

    For x (N, C, H, W): ``x.reshape(N, -1) @ M`` equals ``Convolution(W, 0).forward(x).reshape(N, -1)``.
    Entry M[(c, y, x), (k, i, j)] is W[k, c, y - i·stride + pad, x - j·stride + pad] when that offset lies
    inside the FH × FW filter, and 0 otherwise: each column holds one filter, placed at one position.
    Built with a loop over the FH × FW kernel offsets, like the book's im2col.
    """
    W = np.asarray(W)
    FN, C, FH, FW = W.shape
    C_in, H, Wd = input_shape
    if C_in != C:
        raise ValueError(f"conv_as_matrix: the filters have {C} channels but the input has {C_in}")
    OH, OW = conv_output_size(H, FH, stride, pad), conv_output_size(Wd, FW, stride, pad)
    M = np.zeros((C, H + 2 * pad, Wd + 2 * pad, FN, OH, OW), dtype=W.dtype)      # rows on the padded grid
    ii, jj = np.meshgrid(np.arange(OH), np.arange(OW), indexing="ij")
    for u in range(FH):
        for v in range(FW):
            M[:, ii * stride + u, jj * stride + v, :, ii, jj] = W[:, :, u, v].T     # (OH, OW, C, FN) <- (C, FN)
    return M[:, pad:pad + H, pad:pad + Wd].reshape(C * H * Wd, FN * OH * OW)         # padding rows meet zeros: drop
