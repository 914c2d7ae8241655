"""Backprop gradients of every network against numerical gradients (float64), dtype and save/load."""
import numpy as np
import pytest
from gradcheck import numerical_at, sample_indices

from common.gradient import rel_error
from common.layers import Dropout
from common.networks import DeepConvNet, MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, TwoLayerNet, init_scale

TOL = 1e-5


def reset_dropout(net, seed=7):
    for layer in net.layers.values():
        if isinstance(layer, Dropout):
            layer.rng = np.random.default_rng(seed)


def check_network(net, x, t, k=12, seed=0):
    """Backprop vs central differences on up to k entries of every parameter."""
    rng = np.random.default_rng(seed)
    reset_dropout(net)
    grads = net.gradient(x, t)
    assert set(grads) == set(net.params)

    def loss():
        reset_dropout(net)
        return net.loss(x, t, train_flg=True)

    for key, p in net.params.items():
        assert grads[key].shape == p.shape and grads[key].dtype == p.dtype
        idx = sample_indices(p.shape, k, rng)
        num = numerical_at(loss, p, idx)
        ana = np.array([grads[key][i] for i in idx])
        assert rel_error(ana, num) < TOL, f"{key}: {ana} vs {num}"


def data(shape, n_classes, N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, *shape)), rng.integers(0, n_classes, N)


@pytest.mark.parametrize("N", [1, 3])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_two_layer_net(N, activation):
    net = TwoLayerNet(6, 5, 4, weight_init_std=0.5, activation=activation, seed=1)
    check_network(net, *data((6,), 4, N), k=100)


def test_two_layer_net_full_numerical_gradient_method():
    net = TwoLayerNet(4, 3, 3, weight_init_std=0.5, seed=2)
    x, t = data((4,), 3, 5)
    g, n = net.gradient(x, t), net.numerical_gradient(x, t)
    for key in g:
        assert rel_error(g[key], n[key]) < TOL


@pytest.mark.parametrize("N", [1, 4])
def test_multi_layer_net_with_weight_decay(N):
    net = MultiLayerNet(7, [6, 5, 4], 3, activation="relu", weight_decay_lambda=0.3, seed=3)
    check_network(net, *data((7,), 3, N), k=50)


def test_multi_layer_net_with_l1_weight_decay():
    net = MultiLayerNet(7, [6], 3, weight_decay_lambda=0.2, weight_decay_type="l1", seed=3)
    check_network(net, *data((7,), 3, 4), k=50)
    W = net.params["W1"]
    assert net._weight_decay_loss() == pytest.approx(0.2 * (np.abs(W).sum() + np.abs(net.params["W2"]).sum()))


@pytest.mark.parametrize("N", [2, 5])
def test_multi_layer_net_extend_batchnorm_dropout(N):
    net = MultiLayerNetExtend(7, [6, 5], 3, activation="sigmoid", weight_init_std="xavier", use_batchnorm=True,
                              use_dropout=True, dropout_ratio=0.3, weight_decay_lambda=0.1, seed=4)
    assert {"gamma1", "beta1", "gamma2", "beta2"} <= set(net.params)
    check_network(net, *data((7,), 3, N), k=50)


@pytest.mark.parametrize("N", [1, 3])
@pytest.mark.parametrize("conv_param", [
    {"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 2},
    {"filter_num": 2, "filter_size": 5, "pad": 2, "stride": 1},
])
def test_simple_conv_net(N, conv_param):
    net = SimpleConvNet((2, 9, 9) if conv_param["stride"] == 2 else (2, 8, 8), conv_param, hidden_size=6,
                        output_size=4, weight_init_std=0.3, seed=5)
    shape = (2, 9, 9) if conv_param["stride"] == 2 else (2, 8, 8)
    check_network(net, *data(shape, 4, N))


@pytest.mark.parametrize("N", [1, 2])
def test_deep_conv_net(N):
    net = DeepConvNet(input_dim=(1, 12, 12), hidden_size=8, output_size=4, seed=6)
    check_network(net, *data((1, 12, 12), 4, N), k=6)


def test_deep_conv_net_book_shapes():
    net = DeepConvNet(dtype=np.float32, seed=0)
    assert net.params["W7"].shape == (64 * 4 * 4, 50)
    assert [net.params[f"W{i}"].shape[0] for i in range(1, 7)] == [16, 16, 32, 32, 64, 64]
    # by hand: weights 9*16 + 144*16 + 144*32 + 288*32 + 288*64 + 576*64 + 1024*50 + 50*10 = 123,268
    #          biases  16 + 16 + 32 + 32 + 64 + 64 + 50 + 10 = 284
    assert sum(p.size for p in net.params.values()) == 123_552
    assert np.std(net.params["W1"]) == pytest.approx(init_scale("he", 9), rel=0.2)


@pytest.mark.parametrize("make", [
    lambda dt: TwoLayerNet(784, 20, 10, dtype=dt, seed=0),
    lambda dt: MultiLayerNetExtend(784, [20, 20], 10, use_batchnorm=True, use_dropout=True, dtype=dt, seed=0),
    lambda dt: SimpleConvNet(dtype=dt, seed=0),
    lambda dt: DeepConvNet(dtype=dt, seed=0),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_networks_preserve_dtype(make, dtype):
    net = make(dtype)
    x = np.random.default_rng(0).random((2, 1, 28, 28))          # float64 input is cast to the net's dtype
    if not isinstance(net, (SimpleConvNet, DeepConvNet)):
        x = x.reshape(2, 784)
    assert net.predict(x).dtype == dtype
    grads = net.gradient(x, np.array([3, 7]))
    assert all(g.dtype == dtype for g in grads.values())
    assert all(p.dtype == dtype for p in net.params.values())


def test_integer_input_is_refused():
    net = TwoLayerNet(4, 3, 2)
    with pytest.raises(TypeError, match="normalize"):
        net.predict(np.zeros((1, 4), dtype=np.uint8))


def test_accuracy_labels_and_one_hot():
    net = TwoLayerNet(4, 3, 2, seed=0)
    x = np.random.default_rng(1).standard_normal((9, 4))
    pred = net.predict(x).argmax(axis=1)
    assert net.accuracy(x, pred, batch_size=4) == 1.0
    assert net.accuracy(x, np.eye(2)[1 - pred]) == 0.0


def test_save_load_round_trip_with_metadata(tmp_path):
    net = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, seed=0)
    x, t = data((6,), 3, 8)
    net.gradient(x, t)                                  # populates batchnorm running statistics
    path = net.save_params(tmp_path / "w.npz", metadata={"seed": 0, "epochs": 1})
    other = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, seed=99)
    refs = {k: v for k, v in other.params.items()}
    meta = other.load_params(path)
    assert meta == {"seed": 0, "epochs": 1}
    for k in net.params:
        np.testing.assert_array_equal(other.params[k], net.params[k])
        assert other.params[k] is refs[k]               # loaded in place: the layers still see them
    np.testing.assert_array_equal(other.predict(x), net.predict(x))
    assert not list(tmp_path.glob("*.part"))
    with np.load(path, allow_pickle=False) as f:        # readable without pickle
        assert "W1" in f.files


def test_load_params_errors(tmp_path):
    net = TwoLayerNet(4, 3, 2, seed=0)
    good = {k: v for k, v in net.params.items()}
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in good.items() if k != "b2"})
    np.savez(tmp_path / "shape.npz", **{**good, "W1": np.zeros((3, 4))})
    np.savez(tmp_path / "dtype.npz", **{**good, "W1": good["W1"].astype(np.float32)})
    with pytest.raises(ValueError, match="missing.*b2"):
        net.load_params(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match=r"W1.*\(3, 4\).*\(4, 3\)"):
        net.load_params(tmp_path / "shape.npz")
    with pytest.raises(ValueError, match="W1.*float32.*float64"):
        net.load_params(tmp_path / "dtype.npz")
