"""Neural-network inference: activations, the output layer, and reading MNIST (book chapter 3).

Chapter 3 has no learning in it: the weights are given, and the network only *predicts*. This module
holds the chapter's figures and experiments:

- 3.2    :func:`plot_activations`, :func:`sigmoid_step_gap`  step, sigmoid (with a gain) and ReLU
- 3.5    :func:`softmax_with_temperature`, :func:`plot_softmax_temperature`  the output layer's softmax
- 3.6    :func:`build_mlp`, :func:`load_pretrained`  the book's 784-50-100-10 sigmoid network with our own weights
- 3.4, 3.6.1  :func:`forward`  the book's three-layer prediction, written out with ``np.dot``
- 3.6.2-3.6.3  :func:`accuracy_one_by_one`, :func:`accuracy_in_batches`  the loop, and the batched loop
- 3.6    :func:`plot_prediction`  one test image, its probabilities, predicted vs true;
  :func:`find_misclassified`, :func:`plot_misclassified`  the digits the network gets wrong

Parameters are passed as the dict ``params`` with keys ``W1, b1, W2, b2, W3, b3`` — the book's
``network`` dictionary, and exactly ``MultiLayerNet.params`` of the loaded network.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from chapters.figures import DIGIT_CMAP, plot_probabilities, show_digits
from common.config import WEIGHTS_DIR
from common.functions import relu, sigmoid, softmax, step_function
from common.networks import MultiLayerNet

#: The committed weights of the chapter-3 network (trained by ``scripts/train_ch03_mlp.py``).
WEIGHTS_PATH = WEIGHTS_DIR / "ch03_sigmoid_mlp.npz"

#: Layer sizes of the book's MNIST network in section 3.6: 784 inputs, hidden layers of 50 and 100, 10 classes.
MLP_SIZES = (784, 50, 100, 10)

Params = dict[str, np.ndarray]


# ---------------------------------------------------------------------------------------------
# 3.2 Activation functions
# ---------------------------------------------------------------------------------------------
def sigmoid_step_gap(gain: float, margin: float = 0.5) -> float:
    """Largest |sigmoid(gain * x) - step(x)| over all |x| >= margin.

    The gap is largest at |x| = margin, where it equals sigmoid(-gain * margin). As the gain grows it
    shrinks to 0: the step function is the limit of ever steeper sigmoids.
    """
    if gain <= 0 or margin <= 0:
        raise ValueError(f"sigmoid_step_gap: need gain > 0 and margin > 0, got {gain}, {margin}")
    return float(sigmoid(np.array(-gain * margin)))


def plot_activations(x_min: float = -6.0, x_max: float = 6.0, gain: float = 1.0) -> Figure:
    """Left: step, sigmoid and sigmoid(gain * x); right: ReLU, over x in [x_min, x_max].

    Prints one status line with the gain and how far the steep sigmoid still is from the step.
    """
    if not x_min < x_max:
        raise ValueError(f"plot_activations: need x_min < x_max, got {x_min}, {x_max}")
    x = np.linspace(x_min, x_max, 601)                         # (601,)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.3))
    ax1.plot(x, step_function(x), color="black", ls="--", label="step")
    ax1.plot(x, sigmoid(x), color="tab:blue", label="sigmoid(x)")
    if gain != 1.0:
        ax1.plot(x, sigmoid(gain * x), color="tab:orange", label=f"sigmoid({gain:.3g} x)")
    ax1.set_ylim(-0.1, 1.1)
    ax1.set_xlabel("x")
    ax1.set_ylabel("h(x)")
    ax1.set_title("step and sigmoid")
    ax1.legend(loc="upper left", fontsize=8)
    ax2.plot(x, relu(x), color="tab:green", label="ReLU = np.maximum(0, x)")
    ax2.set_xlabel("x")
    ax2.set_ylabel("h(x)")
    ax2.set_title("ReLU")
    ax2.legend(loc="upper left", fontsize=8)
    for ax in (ax1, ax2):
        ax.axhline(0, color="0.8", lw=0.8, zorder=0)
        ax.axvline(0, color="0.8", lw=0.8, zorder=0)
    fig.tight_layout()
    print(f"gain {gain:.3g}: |sigmoid(gain*x) - step(x)| <= {sigmoid_step_gap(gain):.4g} for |x| >= 0.5")
    return fig


# ---------------------------------------------------------------------------------------------
# 3.5 Output layer
# ---------------------------------------------------------------------------------------------
#: Fixed example scores for the temperature slider (10 classes, class 3 highest).
EXAMPLE_LOGITS = np.array([1.0, -0.5, 2.0, 3.2, 0.3, 2.6, -1.0, 0.0, 1.5, 0.8])


def softmax_with_temperature(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) over the last axis: (C,) -> (C,), or (N, C) -> (N, C).

    T = 1 is the ordinary softmax. T -> 0 puts all probability on the largest score (argmax);
    T -> infinity spreads it evenly (1/C each). The ranking of the classes never changes.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return softmax(np.asarray(logits, dtype=np.float64) / temperature)


def plot_softmax_temperature(temperature: float = 1.0, logits: np.ndarray = EXAMPLE_LOGITS) -> Figure:
    """Bar chart of softmax(logits / temperature); prints the top probability and the entropy."""
    logits = np.asarray(logits, dtype=np.float64)
    p = softmax_with_temperature(logits, temperature)
    fig = plot_probabilities(p, title=f"softmax(a / T), T = {temperature:.3g}")
    entropy = float(-np.sum(p * np.log(np.maximum(p, 1e-300))))
    top = int(np.argmax(p))
    print(f"T={temperature:.3g}: top class {top} with p={p[top]:.4f}, entropy {entropy:.4f} "
          f"(max {np.log(p.size):.4f})")
    return fig


# ---------------------------------------------------------------------------------------------
# 3.6 The MNIST network with our own trained weights
# ---------------------------------------------------------------------------------------------
def build_mlp(seed: int = 0, weight_init_std: float | str = "xavier", fast: bool = True) -> MultiLayerNet:
    """The book's 784-50-100-10 network: Affine-Sigmoid-Affine-Sigmoid-Affine (+ softmax), float32.

    fast: ``common.fast``'s layers (the default) or the book's (False); same parameters, same numbers.
    """
    return MultiLayerNet(MLP_SIZES[0], list(MLP_SIZES[1:-1]), MLP_SIZES[-1], activation="sigmoid",
                         weight_init_std=weight_init_std, dtype=np.float32, seed=seed, fast=fast)


def load_pretrained(path: str | os.PathLike = WEIGHTS_PATH) -> tuple[MultiLayerNet, dict]:
    """Build the chapter-3 network and load the committed weights into it.

    Returns (network, metadata); metadata is the training record stored inside the .npz (seed,
    epochs, optimizer, test accuracy, ...). Raises FileNotFoundError with the command that
    recreates the file when it is missing.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; recreate it with `make weights` "
                                f"(or python scripts/train_ch03_mlp.py)")
    net = build_mlp()
    metadata = net.load_params(path) or {}
    return net, metadata


def forward(params: Params, x: np.ndarray) -> np.ndarray:
    """The book's ``predict(network, x)``: two sigmoid layers, then softmax.

    x: one image (784,) or a batch (N, 784). Returns probabilities (10,) or (N, 10).
    ``np.dot`` handles both: (784,)·(784, 50) -> (50,) and (N, 784)·(784, 50) -> (N, 50).
    """
    a1 = np.dot(x, params["W1"]) + params["b1"]
    z1 = sigmoid(a1)
    a2 = np.dot(z1, params["W2"]) + params["b2"]
    z2 = sigmoid(a2)
    a3 = np.dot(z2, params["W3"]) + params["b3"]
    return softmax(a3)


def accuracy_one_by_one(params: Params, x: np.ndarray, t: np.ndarray) -> float:
    """Section 3.6.2: predict one image at a time, count the correct ones. x: (N, 784), t: (N,)."""
    accuracy_cnt = 0
    for i in range(len(x)):
        y = forward(params, x[i])          # (10,)
        p = np.argmax(y)                   # the index of the largest probability
        if p == t[i]:
            accuracy_cnt += 1
    return accuracy_cnt / len(x)


def accuracy_in_batches(params: Params, x: np.ndarray, t: np.ndarray, batch_size: int = 100) -> float:
    """Section 3.6.3: the same count, ``batch_size`` images per call. x: (N, 784), t: (N,)."""
    accuracy_cnt = 0
    for i in range(0, len(x), batch_size):
        y_batch = forward(params, x[i:i + batch_size])      # (batch_size, 10)
        p = np.argmax(y_batch, axis=1)                      # (batch_size,): one class per row
        accuracy_cnt += int(np.sum(p == t[i:i + batch_size]))
    return accuracy_cnt / len(x)


def plot_prediction(index: int, params: Params, images: np.ndarray, labels: np.ndarray) -> Figure:
    """Test image ``index`` (images: (N, 784)), the network's probabilities, predicted vs true.

    Prints a status line such as ``index 0: true 7, predicted 7 (p=0.9945)``.
    """
    index = int(index)
    if not 0 <= index < len(images):
        raise IndexError(f"index {index} out of range for {len(images)} images")
    probs = forward(params, images[index])                   # (10,)
    pred, true = int(np.argmax(probs)), int(labels[index])
    fig, (ax_img, ax_bar) = plt.subplots(1, 2, figsize=(7, 2.8), gridspec_kw={"width_ratios": [1, 1.6]})
    ax_img.imshow(images[index].reshape(28, 28), cmap=DIGIT_CMAP)
    ax_img.set_title(f"#{index}: true {true}")
    ax_img.axis("off")
    verdict = "correct" if pred == true else "WRONG"
    plot_probabilities(probs, true_label=true, ax=ax_bar, title=f"predicted {pred} ({verdict})")
    fig.tight_layout()
    print(f"index {index}: true {true}, predicted {pred} (p={probs[pred]:.4f})")
    return fig


def find_misclassified(params: Params, images: np.ndarray, labels: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the images the network gets wrong, its predictions there, and its confidence.

    Returns (indices (K,), predicted (K,), confidence (K,)), in index order; confidence is the
    probability the network gave to its (wrong) prediction.
    """
    probs = forward(params, images)                          # (N, 10)
    pred = np.argmax(probs, axis=1)
    wrong = np.flatnonzero(pred != np.asarray(labels))
    return wrong, pred[wrong], probs[wrong, pred[wrong]]


def plot_misclassified(params: Params, images: np.ndarray, labels: np.ndarray, n: int = 12,
                       ncols: int = 6) -> Figure:
    """A gallery of the first ``n`` misclassified images, titled "#index: true→predicted (confidence, 0.1 %)"."""
    wrong, pred, conf = find_misclassified(params, images, labels)
    wrong, pred, conf = wrong[:n], pred[:n], conf[:n]
    titles: Sequence[str] = [f"#{i}: {int(labels[i])}→{p} ({c:.1%})" for i, p, c in zip(wrong, pred, conf)]
    return show_digits(images[wrong], titles=titles, ncols=ncols, size=1.4)
