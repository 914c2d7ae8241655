import json
import re

import numpy as np
import pytest

from chapters.ch03 import (
    EXAMPLE_LOGITS,
    MLP_SIZES,
    WEIGHTS_PATH,
    accuracy_in_batches,
    accuracy_one_by_one,
    build_mlp,
    find_misclassified,
    forward,
    load_pretrained,
    plot_activations,
    plot_misclassified,
    plot_prediction,
    plot_softmax_temperature,
    sigmoid_step_gap,
    softmax_with_temperature,
)
from chapters.figures import DIGIT_CMAP
from common.functions import sigmoid, softmax


@pytest.fixture(scope="module")
def toy():
    """A randomly initialised chapter-3 network and 60 random 'images' with labels."""
    net = build_mlp(seed=1, weight_init_std=0.5)
    rng = np.random.default_rng(0)
    x = rng.random((60, 784), dtype=np.float32)
    t = rng.integers(0, 10, size=60)
    return net, x, t


def test_sigmoid_step_gap_shrinks_with_gain():
    gaps = [sigmoid_step_gap(g) for g in (1, 5, 20, 100)]
    assert all(a > b for a, b in zip(gaps, gaps[1:]))
    assert gaps[0] == pytest.approx(float(sigmoid(np.array(-0.5))))
    assert gaps[-1] < 1e-20
    # the gap really bounds |sigmoid(gx) - step(x)| on |x| >= 0.5
    x = np.concatenate([np.linspace(-6, -0.5, 100), np.linspace(0.5, 6, 100)])
    assert np.max(np.abs(sigmoid(5 * x) - (x > 0))) == pytest.approx(sigmoid_step_gap(5))
    with pytest.raises(ValueError):
        sigmoid_step_gap(0)


def test_plot_activations_curves_and_status(capsys):
    fig = plot_activations(-3, 3, gain=10)
    out = capsys.readouterr().out.strip()
    assert out.startswith("gain 10:") and f"{sigmoid_step_gap(10):.4g}" in out
    left, right = fig.axes
    labels = [line.get_label() for line in left.get_lines()]
    assert labels[:3] == ["step", "sigmoid(x)", "sigmoid(10 x)"]
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in (left, right))     # every plot has axis labels
    relu_line = right.get_lines()[0]
    assert np.allclose(relu_line.get_ydata(), np.maximum(0, relu_line.get_xdata()))
    fig = plot_activations(gain=1.0)
    assert len(fig.axes[0].get_lines()) == 2 + 2          # step, sigmoid, and the two axis lines
    with pytest.raises(ValueError):
        plot_activations(2, 1)


def test_softmax_with_temperature_limits():
    a = EXAMPLE_LOGITS
    assert np.allclose(softmax_with_temperature(a, 1.0), softmax(a))
    cold, hot = softmax_with_temperature(a, 0.01), softmax_with_temperature(a, 1e4)
    assert cold[np.argmax(a)] > 0.999
    assert np.allclose(hot, 0.1, atol=1e-3)
    for T in (0.3, 1, 3):
        p = softmax_with_temperature(a, T)
        assert np.isclose(p.sum(), 1) and np.array_equal(np.argsort(p), np.argsort(a))
    batch = softmax_with_temperature(np.stack([a, -a]), 2.0)
    assert batch.shape == (2, 10) and np.allclose(batch.sum(axis=1), 1)
    with pytest.raises(ValueError):
        softmax_with_temperature(a, 0)


def test_plot_softmax_temperature_bars_and_status(capsys):
    fig = plot_softmax_temperature(0.5)
    heights = np.array([bar.get_height() for bar in fig.axes[0].patches])
    assert heights.shape == (10,) and np.isclose(heights.sum(), 1)
    assert np.allclose(heights, softmax_with_temperature(EXAMPLE_LOGITS, 0.5))
    out = capsys.readouterr().out
    assert out.startswith("T=0.5: top class 3 with p=")


def test_forward_single_and_batch_agree_with_network(toy):
    net, x, _ = toy
    y_batch = forward(net.params, x)
    assert y_batch.shape == (60, 10) and np.allclose(y_batch.sum(axis=1), 1, atol=1e-5)
    y_one = forward(net.params, x[7])
    assert y_one.shape == (10,) and np.allclose(y_one, y_batch[7], atol=1e-6)
    assert np.allclose(y_batch, softmax(net.predict(x)), atol=1e-6)


def test_loop_and_batched_accuracy_agree(toy):
    net, x, t = toy
    a_loop = accuracy_one_by_one(net.params, x, t)
    for bs in (1, 7, 100):
        assert accuracy_in_batches(net.params, x, t, batch_size=bs) == a_loop
    assert a_loop == net.accuracy(x, t)
    # with the true answers set to the network's own predictions, accuracy is 1
    assert accuracy_in_batches(net.params, x, np.argmax(forward(net.params, x), axis=1)) == 1.0


def test_misclassified_and_prediction_figures(toy, capsys):
    net, x, t = toy
    wrong, pred, conf = find_misclassified(net.params, x, t)
    assert len(wrong) == round((1 - accuracy_one_by_one(net.params, x, t)) * len(x))
    assert np.all(pred != t[wrong]) and np.all((conf > 0.1) & (conf <= 1))
    fig = plot_misclassified(net.params, x, t, n=5, ncols=5)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == min(5, len(wrong)) and titles[0].startswith(f"#{wrong[0]}: {t[wrong[0]]}→{pred[0]}")
    fig = plot_prediction(3, net.params, x, t)
    assert fig.axes[0].get_images()[0].get_cmap().name == DIGIT_CMAP      # the lab's one colour map for digits
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(r"index 3: true \d, predicted \d \(p=\d\.\d{4}\)", line)
    assert f"true {t[3]}," in line
    with pytest.raises(IndexError):
        plot_prediction(60, net.params, x, t)


def test_build_mlp_is_the_books_784_50_100_10_sigmoid_network():
    net = build_mlp(seed=0)
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (784, 50), "b1": (50,), "W2": (50, 100), "b2": (100,), "W3": (100, 10), "b3": (10,)}
    assert MLP_SIZES == (784, 50, 100, 10)
    assert all(v.dtype == np.float32 for v in net.params.values())
    assert [type(layer).__name__ for layer in net.layers.values()].count("Sigmoid") == 2


def test_pretrained_weights_and_metadata():
    _, meta = load_pretrained()
    for key in ("seed", "epochs", "optimizer", "lr", "batch_size", "data", "test_accuracy", "seconds", "numpy"):
        assert key in meta, key
    assert meta["test_accuracy"] >= 0.93
    with open(WEIGHTS_PATH.with_suffix(".json")) as f:
        assert json.load(f) == meta               # the readable record and the one inside the .npz agree


def test_pretrained_weights_load_into_fast_and_book_layers_alike():
    net, _ = load_pretrained()                            # common.networks' default: common.fast layers
    book = build_mlp(fast=False)
    book.load_params(WEIGHTS_PATH)
    assert net.params.keys() == book.params.keys()
    assert all(np.array_equal(net.params[k], book.params[k]) for k in net.params)
    x = np.random.default_rng(0).random((32, 784), dtype=np.float32)
    assert np.allclose(net.predict(x), book.predict(x), atol=1e-5)
    assert np.allclose(forward(net.params, x), softmax(net.predict(x)), atol=1e-6)


def test_pretrained_weights_reach_the_bar_on_mnist():
    from dataset.mnist import load_mnist
    _, (x_test, t_test) = load_mnist(normalize=True, flatten=True)
    net, meta = load_pretrained()
    acc = accuracy_in_batches(net.params, x_test, t_test)
    assert acc >= 0.93
    assert acc == pytest.approx(meta["test_accuracy"], abs=2e-4)


def test_load_pretrained_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="make weights"):
        load_pretrained(tmp_path / "nope.npz")
