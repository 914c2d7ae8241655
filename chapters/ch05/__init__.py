"""The code behind the chapter 5 notebook (backpropagation).

Book sections:

- 5.1-5.4  computational graphs, the chain rule, the shopping examples: :func:`draw_graph` and the
           ``plot_*_graph`` figures; the numbers on them are *computed* by ``MulLayer`` / ``AddLayer``
           from ``common.layers`` (:func:`apple_example`, :func:`apple_orange_example`), so the drawing
           can never disagree with the code that the notebook asserts on.
- 5.7.3    the gradient check (``common.gradient.gradient_check``) against the reader's two Affine
           bugs, planted on purpose: :class:`AffineDxForX`, :class:`AffineNoBias`,
           :func:`swap_affine_layers`; and why backprop wins: :func:`time_gradients` (the measured
           speed-up next to the one the count of forward passes predicts).
- Q&A      does our backprop agree with a framework? :func:`compare_with_torch` (optional PyTorch).
- 5.7.4    the training run as a function of its batch size and learning rate, :func:`train_two_layer_net`
           (drawn live with ``view``; the control panel: ``chapters.training_panels.two_layer_net_panel``).

A graph is a set of nodes placed by hand on a grid and a list of edges. Every edge carries two
labels: the forward value above it (black, left to right) and the backward gradient below it (red,
right to left), exactly as the book's figures draw them.
"""
from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from chapters.figures import axes_for, median_seconds
from common.functions import labels_from_targets
from common.layers import AddLayer, Affine, MulLayer, Relu, Sigmoid
from common.networks import TwoLayerNet
from common.trainer import History, Trainer

FORWARD_COLOR = "black"
BACKWARD_COLOR = "tab:red"
NODE_RADIUS = 0.32


@dataclass
class Node:
    """A node at (x, y). ``op`` is drawn inside a circle ("×", "+", "exp"); an empty ``op`` marks a
    terminal: an input or output written as plain ``text`` with no circle."""
    x: float
    y: float
    op: str = ""
    text: str = ""


@dataclass
class Edge:
    """An arrow from node ``src`` to node ``dst`` with its forward value and backward gradient."""
    src: str
    dst: str
    forward: str = ""
    backward: str = ""


def _fmt(v: float) -> str:
    """Numbers as the book writes them: 220, 2.2, 110 (4 significant digits, no float noise)."""
    return f"{float(v):.4g}"


def _align(direction: np.ndarray) -> dict[str, str]:
    """Text alignment that puts a label on the side of its anchor that ``direction`` points to."""
    ha = "center" if abs(direction[0]) < 0.5 else ("left" if direction[0] > 0 else "right")
    va = "center" if abs(direction[1]) < 0.5 else ("bottom" if direction[1] > 0 else "top")
    return dict(ha=ha, va=va)


def draw_graph(nodes: dict[str, Node], edges: Sequence[Edge], ax: Axes | None = None, backward: bool = True,
               title: str | None = None) -> Figure:
    """Draw a computational graph on ``ax`` (a new figure if None) and return the Figure.

    nodes: name -> Node; edges: arrows between node names. Forward labels go above each edge;
    with ``backward=True`` a red arrow runs below each edge in the opposite direction, labelled with
    the gradient of the final output with respect to the value on that edge.
    """
    xs = [n.x for n in nodes.values()]
    ys = [n.y for n in nodes.values()]

    def margin(y: float, label_below: bool) -> float:
        """Room beyond the top (bottom) row: 0.6 for a horizontal edge there whose label sits outside
        (forward above, backward below), else 0.25 for a terminal's text."""
        outside = [(e.backward and backward) if label_below else e.forward
                   for e in edges if nodes[e.src].y == nodes[e.dst].y == y]
        return 0.6 if any(outside) else 0.25

    y_low, y_high = min(ys) - margin(min(ys), True), max(ys) + margin(max(ys), False)
    new_figure = ax is None
    width, height = 0.95 * (max(xs) - min(xs) + 1.4), 0.95 * (y_high - y_low) + (0.35 if title else 0.1)
    fig, ax = axes_for(ax, figsize=(width, height))
    if new_figure:
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - (0.3 if title else 0.05) / fig.get_figheight())
    for node in nodes.values():
        if node.op:
            ax.add_patch(plt.Circle((node.x, node.y), NODE_RADIUS, fill=False, lw=1.5))
            ax.text(node.x, node.y, node.op, ha="center", va="center", fontsize=12)
        elif node.text:
            ax.text(node.x, node.y, node.text, ha="center", va="center", fontsize=10)
    for edge in edges:
        a, b = nodes[edge.src], nodes[edge.dst]
        p, q = np.array([a.x, a.y], float), np.array([b.x, b.y], float)
        d = q - p
        u = d / float(np.hypot(*d))
        start = p + u * (NODE_RADIUS if a.op else 0.3 + 0.25 * abs(u[0]))
        end = q - u * (NODE_RADIUS if b.op else 0.3 + 0.25 * abs(u[0]))
        ax.annotate("", xy=end, xytext=start,
                    arrowprops=dict(arrowstyle="-|>", color=FORWARD_COLOR, lw=1.2, shrinkA=0, shrinkB=0))
        normal = np.array([-u[1], u[0]])                     # perpendicular to the edge
        if normal[1] < -1e-9 or (abs(normal[1]) < 1e-9 and normal[0] > 0):
            normal = -normal                                 # forward label above (or left of) the edge
        mid = (start + end) / 2
        if edge.forward:
            ax.text(*(mid + 0.12 * normal), edge.forward, color=FORWARD_COLOR, fontsize=10, **_align(normal))
        if backward and edge.backward:
            off = -0.12 * normal
            ax.annotate("", xy=start + off + 0.08 * u, xytext=end + off - 0.08 * u,
                        arrowprops=dict(arrowstyle="-|>", color=BACKWARD_COLOR, lw=1.0, shrinkA=0, shrinkB=0))
            ax.text(*(mid - 0.2 * normal), edge.backward, color=BACKWARD_COLOR, fontsize=10, **_align(-normal))
    ax.set_aspect("equal")
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(y_low, y_high)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------------
# 5.1 / 5.3 / 5.4 The shopping examples, computed with MulLayer and AddLayer
# ---------------------------------------------------------------------------------------------
def apple_example(apple: float = 100.0, apple_num: float = 2, tax: float = 1.1) -> dict[str, float]:
    """Buy ``apple_num`` apples at ``apple`` each, then add ``tax``: forward and backward with layers.

    Returns the forward values (``apple_price``, ``price``) and the gradients of the price with
    respect to every input and intermediate (``dapple``, ``dapple_num``, ``dtax``, ``dapple_price``).
    The book's numbers: price 220; dapple 2.2, dapple_num 110, dtax 200.
    """
    mul_apple, mul_tax = MulLayer(), MulLayer()
    apple_price = mul_apple.forward(apple, apple_num)
    price = mul_tax.forward(apple_price, tax)
    dapple_price, dtax = mul_tax.backward(1.0)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    return dict(apple_price=apple_price, price=price, dprice=1.0, dapple_price=dapple_price, dtax=dtax,
                dapple=dapple, dapple_num=dapple_num)


def apple_orange_example(apple: float = 100.0, apple_num: float = 2, orange: float = 150.0,
                         orange_num: float = 3, tax: float = 1.1) -> dict[str, float]:
    """Apples and oranges, summed, then taxed: forward and backward with Mul/Add layers.

    The book's numbers: price 715; dapple_num 110, dapple 2.2, dorange 3.3, dorange_num 165, dtax 650.
    """
    mul_apple, mul_orange, add_fruit, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    apple_price = mul_apple.forward(apple, apple_num)
    orange_price = mul_orange.forward(orange, orange_num)
    all_price = add_fruit.forward(apple_price, orange_price)
    price = mul_tax.forward(all_price, tax)
    dall_price, dtax = mul_tax.backward(1.0)
    dapple_price, dorange_price = add_fruit.backward(dall_price)
    dorange, dorange_num = mul_orange.backward(dorange_price)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    return dict(apple_price=apple_price, orange_price=orange_price, all_price=all_price, price=price, dprice=1.0,
                dall_price=dall_price, dtax=dtax, dapple_price=dapple_price, dorange_price=dorange_price,
                dapple=dapple, dapple_num=dapple_num, dorange=dorange, dorange_num=dorange_num)


def plot_apple_graph(apple: float = 100.0, apple_num: int = 2, tax: float = 1.1, backward: bool = True) -> Figure:
    """The book's figure 5-2 / 5-5: apples -> ×num -> ×tax -> price, with gradients in red.

    Prints the status line ``price 220 | d/d apple 2.2, d/d num 110, d/d tax 200`` (with
    ``backward=False`` only ``price 220``: the forward-only figure comes before derivatives do).
    """
    v = apple_example(apple, apple_num, tax)
    nodes = {
        "apple": Node(0, 1, text="apple"), "num": Node(2, -0.4, text="apple num"),
        "mul1": Node(2, 1, op="×"), "tax": Node(4.3, -0.4, text="tax"), "mul2": Node(4.3, 1, op="×"),
        "out": Node(6.1, 1, text="price"),
    }
    edges = [
        Edge("apple", "mul1", _fmt(apple), _fmt(v["dapple"])),
        Edge("num", "mul1", _fmt(apple_num), _fmt(v["dapple_num"])),
        Edge("mul1", "mul2", _fmt(v["apple_price"]), _fmt(v["dapple_price"])),
        Edge("tax", "mul2", _fmt(tax), _fmt(v["dtax"])),
        Edge("mul2", "out", _fmt(v["price"]), _fmt(v["dprice"])),
    ]
    fig = draw_graph(nodes, edges, backward=backward,
                     title="forward values (black) and d price / d value (red)" if backward else "forward values")
    gradients = (f" | d/d apple {_fmt(v['dapple'])}, d/d num {_fmt(v['dapple_num'])}, d/d tax {_fmt(v['dtax'])}"
                 if backward else "")
    print(f"price {_fmt(v['price'])}{gradients}")
    return fig


def plot_apple_orange_graph(apple: float = 100.0, apple_num: int = 2, orange: float = 150.0, orange_num: int = 3,
                            tax: float = 1.1, backward: bool = True) -> Figure:
    """The book's figure 5-17: apples and oranges, an add node, then tax, with gradients in red.

    Prints ``price 715 | d/d apple 2.2, d/d orange 3.3, d/d tax 650`` (``price 715`` alone with ``backward=False``).
    """
    v = apple_orange_example(apple, apple_num, orange, orange_num, tax)
    nodes = {
        "apple": Node(0, 2, text="apple"), "anum": Node(2, 3.4, text="apple num"),
        "orange": Node(0, -0.6, text="orange"), "onum": Node(2, -2.0, text="orange num"),
        "mul_a": Node(2, 2, op="×"), "mul_o": Node(2, -0.6, op="×"), "add": Node(4.3, 0.7, op="+"),
        "tax": Node(6.6, -0.7, text="tax"), "mul_t": Node(6.6, 0.7, op="×"), "out": Node(8.4, 0.7, text="price"),
    }
    edges = [
        Edge("apple", "mul_a", _fmt(apple), _fmt(v["dapple"])),
        Edge("anum", "mul_a", _fmt(apple_num), _fmt(v["dapple_num"])),
        Edge("orange", "mul_o", _fmt(orange), _fmt(v["dorange"])),
        Edge("onum", "mul_o", _fmt(orange_num), _fmt(v["dorange_num"])),
        Edge("mul_a", "add", _fmt(v["apple_price"]), _fmt(v["dapple_price"])),
        Edge("mul_o", "add", _fmt(v["orange_price"]), _fmt(v["dorange_price"])),
        Edge("add", "mul_t", _fmt(v["all_price"]), _fmt(v["dall_price"])),
        Edge("tax", "mul_t", _fmt(tax), _fmt(v["dtax"])),
        Edge("mul_t", "out", _fmt(v["price"]), _fmt(v["dprice"])),
    ]
    fig = draw_graph(nodes, edges, backward=backward, title="apples and oranges")
    gradients = (f" | d/d apple {_fmt(v['dapple'])}, d/d orange {_fmt(v['dorange'])}, d/d tax {_fmt(v['dtax'])}"
                 if backward else "")
    print(f"price {_fmt(v['price'])}{gradients}")
    return fig


def plot_chain_rule_graph(x: float = 1.0, y: float = 2.0) -> Figure:
    """z = (x + y)^2 as two nodes, t = x + y and z = t^2, with the chain rule on the edges.

    Backward: dz/dz = 1 -> dz/dt = 2t -> dz/dx = dz/dt * dt/dx = 2t * 1 (and the same for y).
    """
    t = x + y
    nodes = {"x": Node(0, 0.4, text="x"), "y": Node(2, -1.0, text="y"), "add": Node(2, 0.4, op="+"),
             "sq": Node(4.6, 0.4, op="**2"), "z": Node(6.6, 0.4, text="z")}
    edges = [Edge("x", "add", f"x = {_fmt(x)}", f"2t·1 = {_fmt(2 * t)}"),
             Edge("y", "add", f"y = {_fmt(y)}", f"2t·1 = {_fmt(2 * t)}"),
             Edge("add", "sq", f"t = {_fmt(t)}", f"2t = {_fmt(2 * t)}"),
             Edge("sq", "z", f"z = {_fmt(t ** 2)}", "1")]
    return draw_graph(nodes, edges, title="z = (x + y)²: the chain rule, node by node")


def sigmoid_graph_example(x: float = 1.0, dout: float = 1.0) -> dict[str, float]:
    """y = 1 / (1 + exp(-x)) as the book's four nodes (×-1, exp, +1, /), forward and backward by hand.

    Backward, from dL/dy = ``dout``: the "/" node (y = 1/s) multiplies by -1/s² = -y²; "+1" passes it
    on; "exp" multiplies by exp(-x); "×-1" by -1. Returns the forward values (``a`` = -x, ``e`` =
    exp(-x), ``s`` = 1 + e, ``y``) and the gradient on every edge (``ds``, ``de``, ``da``, ``dx``);
    ``dx`` equals dout · y(1 - y).
    """
    a = -x
    e = float(np.exp(a))
    s = 1.0 + e
    y = 1.0 / s
    ds = dout * (-1.0 / s ** 2)            # "/" node: d(1/s)/ds = -1/s² = -y²
    de = ds * 1.0                          # "+1" node passes the gradient through
    da = de * e                            # "exp" node: d exp(a)/da = exp(a)
    dx = da * -1.0                         # "×-1" node
    return dict(x=x, a=a, e=e, s=s, y=y, dy=dout, ds=ds, de=de, da=da, dx=dx)


def plot_sigmoid_graph(x: float = 1.0) -> Figure:
    """The book's figure 5-19: sigmoid as ×-1 -> exp -> +1 -> /, with the gradient on every edge (dL/dy = 1).

    Each red label gives the node's local rule and its value. Prints ``dL/dx through the nodes ... =
    y(1 - y) ...``.
    """
    v = sigmoid_graph_example(x)
    nodes = {"x": Node(0, 1, text="x"), "neg": Node(1.9, 1, op="×"), "m1": Node(1.9, -0.3, text="-1"),
             "exp": Node(4.2, 1, op="exp"), "add": Node(6.5, 1, op="+"), "one": Node(6.5, -0.3, text="1"),
             "div": Node(8.8, 1, op="/"), "y": Node(10.6, 1, text="y")}
    edges = [Edge("x", "neg", f"x = {_fmt(x)}", f"·(-1) → {_fmt(v['dx'])}"),
             Edge("m1", "neg"),
             Edge("neg", "exp", f"-x = {_fmt(v['a'])}", f"·exp(-x) → {_fmt(v['da'])}"),
             Edge("exp", "add", f"exp(-x) = {_fmt(v['e'])}", f"·1 → {_fmt(v['de'])}"),
             Edge("one", "add"),
             Edge("add", "div", f"s = {_fmt(v['s'])}", f"·(-1/s²) → {_fmt(v['ds'])}"),
             Edge("div", "y", f"y = {_fmt(v['y'])}", "1")]
    fig = draw_graph(nodes, edges, title="sigmoid, node by node: forward (black), dL/d value with dL/dy = 1 (red)")
    print(f"dL/dx through the nodes {_fmt(v['dx'])} = y(1 - y) = {_fmt(v['y'] * (1 - v['y']))}")
    return fig


# ---------------------------------------------------------------------------------------------
# The reader's bugs, planted on purpose
# ---------------------------------------------------------------------------------------------
class AffineDxForX(Affine):
    """BUG: dW is computed from the wrong variable — the gradient dx instead of the input x.

    ``dW = dx.T @ dout`` has the right shape (D, M) whenever x and dx do, so nothing crashes; the
    values are simply wrong (and tiny, since dx is small). Training with it stalls.
    """

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = dout @ self.W.T
        self.dW = dx.T @ dout          # should be self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dx.reshape(self.original_x_shape)


class AffineNoBias(Affine):
    """BUG: the forward pass forgets "+ b"; backward still reports db = sum(dout).

    The loss no longer depends on b, so the numerical gradient for b is exactly 0 while backprop
    claims otherwise: the gradient check flags b1 and b2 with relative error 1.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W                 # should be self.x @ self.W + self.b


def swap_affine_layers(net: Any, layer_cls: type[Affine]) -> Any:
    """Replace every ``Affine`` layer of ``net`` by ``layer_cls(W, b)`` on the *same* parameter arrays.

    ``net.gradient`` then reads the new layers' dW/db (``Network.replace_layer``). Returns ``net``.
    """
    for name, layer in list(net.layers.items()):
        if isinstance(layer, Affine):
            net.replace_layer(name, layer_cls(layer.W, layer.b))
    return net


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------
def time_gradients(net: Any, x: np.ndarray, t: np.ndarray, repeats: int = 21,
                   clock: Callable[[], float] = time.process_time) -> dict[str, Any]:
    """Time one numerical gradient, and (the median of) backprop gradients and forward passes, on one batch.

    All three are measured with the same ``clock`` (CPU time of this process by default, see
    :func:`median_seconds`). ``net`` needs ``params``, ``loss(x, t)``, ``gradient(x, t)`` and
    ``numerical_gradient(x, t)`` (the book's TwoLayerNet has them, so does every network in common).

    Returns a dict with
      numerical_s, backprop_s, forward_s   seconds for one numerical gradient, one backprop gradient,
                                           one forward pass (the loss);
      ratio                                measured speed-up, numerical_s / backprop_s;
      n_params, forward_passes             parameters, and 2 * n_params: the central difference nudges
                                           each parameter up and down, each nudge a full forward pass;
      backprop_in_forward_passes           backprop_s / forward_s: what one forward + backward costs here;
      predicted_ratio                      forward_passes / backprop_in_forward_passes: the speed-up the
                                           count predicts on this machine;
      numerical                            the numerical gradient itself, to reuse for a check.
    """
    start = clock()
    numerical = net.numerical_gradient(x, t)
    numerical_s = clock() - start
    backprop_s = median_seconds(lambda: net.gradient(x, t), repeats, clock)
    forward_s = median_seconds(lambda: net.loss(x, t), repeats, clock)
    n_params = int(sum(p.size for p in net.params.values()))
    in_forward_passes = backprop_s / forward_s
    return dict(numerical_s=numerical_s, backprop_s=backprop_s, forward_s=forward_s, ratio=numerical_s / backprop_s,
                n_params=n_params, forward_passes=2 * n_params, backprop_in_forward_passes=in_forward_passes,
                predicted_ratio=2 * n_params / in_forward_passes, numerical=numerical)


INSTALL_HINT = "pip install -e .[bench]   (or: pip install torch)"


def torch_available() -> bool:
    """True when ``import torch`` would succeed (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def torch_version() -> str:
    """PyTorch's version string; raises ImportError (with the install command) when torch is missing."""
    try:
        import torch
    except ImportError as err:                                   # pragma: no cover - depends on the env
        raise ImportError(f"PyTorch is not installed: {INSTALL_HINT}") from err
    return str(torch.__version__)


def compare_with_torch(net: Any, x: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """Largest |ours - torch| for the loss and for each parameter's gradient, in float64.

    net: a network made of ``Affine``, ``Relu`` and ``Sigmoid`` layers topped by SoftmaxWithLoss
         (TwoLayerNet, or MultiLayerNet without dropout / batch norm); parameters W1, b1, W2, ...
    x: (N, D) inputs; t: (N,) labels or (N, C) one-hot.
    Returns {"loss": |loss difference|, "W1": max |dW1 difference|, ...}.
    Raises ImportError (with the install command) when torch is missing.
    """
    try:
        import torch
    except ImportError as err:                                   # pragma: no cover - depends on the env
        raise ImportError(f"compare_with_torch needs PyTorch: {INSTALL_HINT}") from err

    ours_loss, ours_grads = net.loss_and_gradient(x, t)          # training mode, as torch's graph below
    params = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for k, v in net.params.items()}
    h = torch.tensor(np.asarray(x, dtype=np.float64).reshape(len(x), -1))
    for name, layer in net.layers.items():
        if isinstance(layer, Affine):
            i = name.removeprefix("Affine")
            h = h @ params[f"W{i}"] + params[f"b{i}"]
        elif isinstance(layer, Relu):
            h = torch.relu(h)
        elif isinstance(layer, Sigmoid):
            h = torch.sigmoid(h)
        else:
            raise TypeError(f"compare_with_torch: no PyTorch counterpart for layer {name} ({type(layer).__name__})")
    labels = torch.tensor(labels_from_targets(np.asarray(t), h.shape[1]).astype(np.int64))
    loss = torch.nn.functional.cross_entropy(h, labels)         # softmax + mean cross-entropy
    loss.backward()
    result = {"loss": abs(float(loss.detach()) - ours_loss)}
    for key, p in params.items():
        result[key] = float(np.max(np.abs(p.grad.numpy() - np.asarray(ours_grads[key], dtype=np.float64))))
    return result


# =============================================================================================
# 5.7.4 The training run as a control
# =============================================================================================
def train_two_layer_net(x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray, t_test: np.ndarray,
                        batch_size: int = 100, lr: float = 0.1, epochs: int = 5, hidden_size: int = 50, seed: int = 0,
                        view: Any = None) -> tuple[History, TwoLayerNet]:
    """5.7.4's run with another batch size or learning rate: TwoLayerNet(784, hidden_size, 10) in float32,
    SGD, accuracies on up to 10,000 images of each set after every epoch; the same seed, the same run.

    x_*: (N, 784) images, t_*: (N,) labels or (N, 10) one-hot. view: a ``chapters.live.LiveTraining`` to
    draw the run into (its Stop ends the run early; the history says so). Returns (history, network).
    """
    from chapters.live import watch
    net = TwoLayerNet(x_train.shape[1], hidden_size, 10, dtype=np.float32, seed=seed)
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=epochs, mini_batch_size=batch_size,
                      optimizer="sgd", optimizer_param={"lr": lr}, evaluate_sample_num_per_epoch=10_000,
                      seed=seed, progress=False)
    history = trainer.train() if view is None else watch(trainer, view=view, label=f"batch {batch_size}, lr {lr:.3g}")
    return history, net


# the exercises live in their own module; they are part of this chapter's interface
from chapters.ch05.exercises import check_affine_layer, check_relu_layer, check_softmax_with_loss  # noqa: E402,F401
