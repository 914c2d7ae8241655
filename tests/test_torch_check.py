import numpy as np
import pytest

from common.networks import MultiLayerNet, TwoLayerNet
from common.torch_check import INSTALL_HINT, torch_available


def test_install_hint_and_probe():
    assert "pip install" in INSTALL_HINT
    assert isinstance(torch_available(), bool)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_same_loss_and_gradients_as_torch(activation):
    pytest.importorskip("torch")
    from common.torch_check import compare_with_torch
    rng = np.random.default_rng(0)
    x, t = rng.random((8, 12)), rng.integers(0, 5, size=8)
    net = TwoLayerNet(12, 7, 5, weight_init_std=0.3, activation=activation, seed=0)
    diffs = compare_with_torch(net, x, t)
    assert set(diffs) == {"loss", "W1", "b1", "W2", "b2"}
    assert max(diffs.values()) < 1e-10
    deep = MultiLayerNet(12, [6, 6], 5, seed=0)
    assert max(compare_with_torch(deep, x, np.eye(5)[t]).values()) < 1e-10
