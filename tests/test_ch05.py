"""chapters.ch05: computational graphs, the planted Affine bugs, backprop timing and the PyTorch cross-check."""
import numpy as np
import pytest

from chapters.ch05 import (
    INSTALL_HINT,
    AffineDxForX,
    AffineNoBias,
    Edge,
    Node,
    apple_example,
    apple_orange_example,
    draw_graph,
    plot_apple_graph,
    plot_apple_orange_graph,
    plot_chain_rule_graph,
    plot_sigmoid_graph,
    sigmoid_graph_example,
    swap_affine_layers,
    time_gradients,
    torch_available,
    torch_version,
)
from common.gradient import gradient_check
from common.networks import MultiLayerNet, MultiLayerNetExtend, TwoLayerNet


def test_apple_example_book_numbers():
    v = apple_example(100, 2, 1.1)
    assert v["price"] == pytest.approx(220)
    assert (v["dapple"], v["dapple_num"], v["dtax"]) == pytest.approx((2.2, 110, 200))


def test_apple_orange_example_book_numbers():
    v = apple_orange_example(100, 2, 150, 3, 1.1)
    assert v["price"] == pytest.approx(715)
    got = (v["dapple_num"], v["dapple"], v["dorange"], v["dorange_num"], v["dtax"])
    assert got == pytest.approx((110, 2.2, 3.3, 165, 650))
    assert v["dapple_price"] == v["dorange_price"] == v["dall_price"]        # the add node copies dout


def _texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def test_apple_graph_writes_values_and_gradients(capsys):
    fig = plot_apple_graph()
    assert capsys.readouterr().out.strip() == "price 220 | d/d apple 2.2, d/d num 110, d/d tax 200"
    texts = _texts(fig)
    for label in ("100", "2", "200", "1.1", "220", "2.2", "110", "×"):
        assert label in texts
    red = [t.get_text() for t in fig.axes[0].texts if t.get_color() == "tab:red"]
    assert sorted(red) == sorted(["2.2", "110", "1.1", "200", "1"])
    # without backward: no red labels, and no gradients in the status line
    fig = plot_apple_graph(backward=False)
    assert not [t for t in fig.axes[0].texts if t.get_color() == "tab:red"]
    assert capsys.readouterr().out.strip() == "price 220"


def test_apple_orange_graph_and_sliders_change_status(capsys):
    fig = plot_apple_orange_graph()
    assert capsys.readouterr().out.startswith("price 715 | d/d apple 2.2, d/d orange 3.3, d/d tax 650")
    assert {"650", "715", "165", "3.3", "+"} <= set(_texts(fig))
    plot_apple_orange_graph(apple_num=4)
    assert capsys.readouterr().out.startswith("price 935 |")
    plot_apple_orange_graph(backward=False)
    assert capsys.readouterr().out.strip() == "price 715"


def test_draw_graph_and_chain_rule():
    fig = draw_graph({"a": Node(0, 0, text="a"), "f": Node(2, 0, op="exp")}, [Edge("a", "f", "1", "2.718")])
    assert {"a", "exp", "1", "2.718"} <= set(_texts(fig))
    fig = plot_chain_rule_graph(1.0, 2.0)
    assert "t = 3" in _texts(fig) and "2t = 6" in _texts(fig)


@pytest.mark.parametrize("x", [-3.0, 0.0, 1.0, 2.5])
def test_sigmoid_graph_node_by_node_matches_layer(x):
    from common.layers import Sigmoid
    v = sigmoid_graph_example(x, dout=1.0)
    layer = Sigmoid()
    assert v["y"] == pytest.approx(float(layer.forward(np.array([x]))[0]))
    assert v["dx"] == pytest.approx(float(layer.backward(np.ones(1))[0]))
    assert v["ds"] == pytest.approx(-v["y"] ** 2)                          # the "/" node: -1/s² = -y²


def test_sigmoid_graph_figure(capsys):
    fig = plot_sigmoid_graph(1.0)
    assert capsys.readouterr().out.strip() == "dL/dx through the nodes 0.1966 = y(1 - y) = 0.1966"
    assert {"exp", "/", "y = 0.7311"} <= set(_texts(fig))


def _data(n=5, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.integers(0, 3, size=n)


def test_planted_bugs_are_caught():
    x, t = _data()
    net = swap_affine_layers(TwoLayerNet(6, 4, 3, weight_init_std=0.5, seed=1), AffineDxForX)
    errors = gradient_check(net, x, t)
    assert errors["W1"] > 0.1 and errors["W2"] > 0.1 and errors["b2"] < 1e-6
    net = swap_affine_layers(TwoLayerNet(6, 4, 3, weight_init_std=0.5, seed=1), AffineNoBias)
    errors = gradient_check(net, x, t)
    assert errors["b1"] == pytest.approx(1.0) and errors["b2"] == pytest.approx(1.0)


@pytest.mark.parametrize("fast", [True, False])
def test_swap_keeps_the_parameter_arrays_and_the_layer_order(fast):
    net = TwoLayerNet(6, 4, 3, seed=0, fast=fast)
    W1, order = net.params["W1"], list(net.layers)
    swap_affine_layers(net, AffineNoBias)
    assert list(net.layers) == order
    assert isinstance(net.layers["Affine1"], AffineNoBias) and net.layers["Affine1"].W is W1
    x, t = _data()
    assert net.gradient(x, t)["W1"] is net.layers["Affine1"].dW          # read from the planted layer


def test_a_planted_bug_changes_the_gradient_not_the_loss():
    x, t = _data()
    good = TwoLayerNet(6, 4, 3, weight_init_std=0.5, seed=1)
    bad = swap_affine_layers(TwoLayerNet(6, 4, 3, weight_init_std=0.5, seed=1), AffineDxForX)
    (loss_good, g_good), (loss_bad, g_bad) = good.loss_and_gradient(x, t), bad.loss_and_gradient(x, t)
    assert loss_bad == loss_good                                            # forward is untouched
    assert np.array_equal(g_bad["b2"], g_good["b2"]) and not np.allclose(g_bad["W2"], g_good["W2"])


def test_time_gradients_counts_forward_passes():
    x, t = _data()
    net = TwoLayerNet(6, 4, 3, seed=0)
    r = time_gradients(net, x, t, repeats=3)
    assert r["n_params"] == 6 * 4 + 4 + 4 * 3 + 3 and r["forward_passes"] == 2 * r["n_params"]
    assert r["numerical_s"] > 0 and r["backprop_s"] > 0 and r["forward_s"] > 0
    assert r["ratio"] == r["numerical_s"] / r["backprop_s"]
    assert r["backprop_in_forward_passes"] == pytest.approx(r["backprop_s"] / r["forward_s"])
    assert r["predicted_ratio"] == pytest.approx(r["forward_passes"] * r["forward_s"] / r["backprop_s"])
    assert set(r["numerical"]) == set(net.params)


def test_time_gradients_prediction_matches_measurement():
    """The count of forward passes predicts the measured speed-up (the claim the notebook prints)."""
    rng = np.random.default_rng(0)
    x, t = rng.random((3, 100)), rng.integers(0, 10, size=3)
    agreement = []
    for _ in range(3):                       # a timing on a busy machine can be off once; not three times
        r = time_gradients(TwoLayerNet(100, 30, 10, seed=0, fast=False), x, t, repeats=31)
        agreement.append(r["ratio"] / r["predicted_ratio"])
        if 0.5 <= agreement[-1] <= 2:
            break
    assert 0.5 <= agreement[-1] <= 2, agreement


def test_install_hint_and_probe():
    assert "pip install" in INSTALL_HINT
    assert isinstance(torch_available(), bool)
    if torch_available():
        assert torch_version()[0].isdigit()
    else:
        with pytest.raises(ImportError, match="pip install"):
            torch_version()


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_same_loss_and_gradients_as_torch(activation):
    pytest.importorskip("torch")
    from chapters.ch05 import compare_with_torch
    rng = np.random.default_rng(0)
    x, t = rng.random((8, 12)), rng.integers(0, 5, size=8)
    net = TwoLayerNet(12, 7, 5, weight_init_std=0.3, activation=activation, seed=0)
    diffs = compare_with_torch(net, x, t)
    assert set(diffs) == {"loss", "W1", "b1", "W2", "b2"}
    assert max(diffs.values()) < 1e-10
    deep = MultiLayerNet(12, [6, 6], 5, seed=0)
    assert max(compare_with_torch(deep, x, np.eye(5)[t]).values()) < 1e-10


def test_torch_comparison_refuses_layers_it_cannot_mirror():
    pytest.importorskip("torch")
    from chapters.ch05 import compare_with_torch
    rng = np.random.default_rng(0)
    x, t = rng.random((8, 12)), rng.integers(0, 5, size=8)
    with pytest.raises(TypeError, match="BatchNorm1"):
        compare_with_torch(MultiLayerNetExtend(12, [6], 5, use_batchnorm=True, seed=0), x, t)
