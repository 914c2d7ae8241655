import numpy as np
import pytest

from common.backprop_lab import (AffineDxForX, AffineNoBias, gradient_check, median_seconds, rel_error,
                                 swap_affine_layers, time_gradients)
from common.networks import TwoLayerNet


def _data(n=5, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.integers(0, 3, size=n)


def test_rel_error():
    a = np.array([1.0, 2.0, 3.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(a, 2 * a) == pytest.approx(1 / 3)
    assert rel_error(a, np.zeros(3)) == pytest.approx(1.0)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_gradient_check_passes_for_the_real_network(activation):
    x, t = _data()
    net = TwoLayerNet(6, 4, 3, weight_init_std=0.5, activation=activation, seed=1)
    errors = gradient_check(net, x, t)
    assert set(errors) == {"W1", "b1", "W2", "b2"}
    assert max(errors.values()) < 1e-6


def test_planted_bugs_are_caught():
    x, t = _data()
    net = swap_affine_layers(TwoLayerNet(6, 4, 3, weight_init_std=0.5, seed=1), AffineDxForX)
    errors = gradient_check(net, x, t)
    assert errors["W1"] > 0.1 and errors["W2"] > 0.1 and errors["b2"] < 1e-6
    net = swap_affine_layers(TwoLayerNet(6, 4, 3, weight_init_std=0.5, seed=1), AffineNoBias)
    errors = gradient_check(net, x, t)
    assert errors["b1"] == pytest.approx(1.0) and errors["b2"] == pytest.approx(1.0)


def test_swap_keeps_the_parameter_arrays():
    net = TwoLayerNet(6, 4, 3, seed=0)
    W1 = net.params["W1"]
    swap_affine_layers(net, AffineNoBias)
    assert isinstance(net.layers["Affine1"], AffineNoBias) and net.layers["Affine1"].W is W1


def test_time_gradients_counts_forward_passes():
    x, t = _data()
    net = TwoLayerNet(6, 4, 3, seed=0)
    r = time_gradients(net, x, t, backprop_repeats=3)
    assert r["n_params"] == 6 * 4 + 4 + 4 * 3 + 3 and r["forward_passes"] == 2 * r["n_params"]
    assert r["numerical_s"] > 0 and r["backprop_s"] > 0 and r["ratio"] == r["numerical_s"] / r["backprop_s"]
    assert set(r["numerical"]) == set(net.params)
    assert median_seconds(lambda: None, 3) >= 0
