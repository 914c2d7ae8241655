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


# ---- issue 18: non-finite parameters are never saved or loaded ----------------------------------
def test_save_params_refuses_nan_and_writes_nothing(tmp_path):
    net = TwoLayerNet(4, 3, 2, seed=0)
    net.params["b2"][1] = np.nan
    with pytest.raises(ValueError, match=r"'b2'.*NaN or inf"):
        net.save_params(tmp_path / "w.npz")
    assert not any(tmp_path.iterdir())                  # no weights file, no leftover .part


def test_load_params_refuses_inf_naming_file_and_key(tmp_path):
    net = TwoLayerNet(4, 3, 2, seed=0)
    bad = {k: v.copy() for k, v in net.params.items()}
    bad["W1"][2, 1] = np.inf
    np.savez(tmp_path / "diverged.npz", **bad)
    other = TwoLayerNet(4, 3, 2, seed=1)
    before = {k: v.copy() for k, v in other.params.items()}
    with pytest.raises(ValueError, match=r"diverged\.npz.*'W1'.*NaN or inf"):
        other.load_params(tmp_path / "diverged.npz")
    for k, v in before.items():                         # nothing was half-loaded
        np.testing.assert_array_equal(other.params[k], v)


def test_load_params_errors_name_the_file_and_never_suggest_pickle(tmp_path):
    net = TwoLayerNet(4, 3, 2, seed=0)
    (tmp_path / "notes.npz").write_text("not weights at all")
    with pytest.raises(ValueError) as info:
        net.load_params(tmp_path / "notes.npz")
    assert "notes.npz" in str(info.value) and "allow_pickle" not in str(info.value)
    np.savez(tmp_path / "meta.npz", **net.params, __metadata__=np.array("{not json"))
    with pytest.raises(ValueError, match=r"meta\.npz.*metadata"):
        net.load_params(tmp_path / "meta.npz")


def test_accuracy_refuses_target_rows_that_are_not_distributions():
    net = TwoLayerNet(4, 3, 2, seed=0)
    t = np.eye(2)[[0, 1, 1]]
    t[1] = [0.0, 0.0]
    with pytest.raises(ValueError, match=r"row 1\b"):
        net.accuracy(np.zeros((3, 4)), t)


# ---- issue 18: input far outside [0, 1] is warned about, once per network ------------------------
def _range_warnings(fn):
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [w for w in caught if type(w.message).__name__ == "InputRangeWarning"]


@pytest.fixture(scope="module")
def mnist_images():
    from dataset.mnist import load_mnist
    (x, t), _ = load_mnist(normalize=True, flatten=True)
    return x[:600], t[:600]


def test_pixels_times_255_warn_once_per_network(mnist_images):
    x, t = mnist_images
    raw = x * 255                                         # floats, but in [0, 255]
    net = TwoLayerNet(784, 20, 10, seed=0)

    def use():
        for k in range(3):
            net.predict(raw[k * 100:(k + 1) * 100])
        net.accuracy(raw, t)
        net.gradient(raw[:50], t[:50])
    caught = _range_warnings(use)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert issubclass(caught[0].category, UserWarning)
    msg = str(caught[0].message)
    assert "TwoLayerNet" in msg and "[0, 1]" in msg and "255" in msg
    chinese = msg.splitlines()[-1]                       # the same advice in Chinese, on its own line
    assert chinese.startswith("TwoLayerNet：") and "正规化" in chinese and "除以 255" in chinese
    assert len(_range_warnings(lambda: TwoLayerNet(784, 20, 10, seed=1).predict(raw[:10]))) == 1   # another net


def test_pixels_times_255_in_a_trainer_warn_once(mnist_images):
    from common.trainer import Trainer
    x, t = mnist_images
    net = TwoLayerNet(784, 20, 10, seed=0)

    def train():
        Trainer(net, x * 255, t, x[:100] * 255, t[:100], epochs=2, optimizer="sgd", optimizer_param={"lr": 1e-5},
                progress=False).train()
    assert len(_range_warnings(train)) == 1


@pytest.mark.parametrize("transform", [
    lambda x: x,                                          # normalised MNIST, [0, 1]
    lambda x: (x - x.mean()) / x.std(),                   # standardised: about [-0.4, 2.8]
    lambda x: x * 2 - 1,                                  # [-1, 1]
    lambda x: np.random.default_rng(0).standard_normal(x.shape) * 3,   # a few units either way
])
def test_normalised_or_standardised_input_does_not_warn(mnist_images, transform):
    x, t = mnist_images
    net = TwoLayerNet(784, 20, 10, seed=0)
    assert _range_warnings(lambda: (net.accuracy(transform(x), t), net.gradient(transform(x[:50]), t[:50]))) == []


# ---- issue 18: empty batches, NaN input -------------------------------------------------------------
@pytest.mark.parametrize("call", ["predict", "loss", "accuracy", "gradient"])
def test_networks_refuse_an_empty_batch(call):
    net = TwoLayerNet(4, 3, 2, seed=0)
    x, t = np.zeros((0, 4)), np.zeros(0, dtype=int)
    args = (x,) if call == "predict" else (x, t)
    with pytest.raises(ValueError, match="empty"):
        getattr(net, call)(*args)


def test_functions_cross_entropy_refuses_an_empty_batch():
    from common.functions import cross_entropy_error
    with pytest.raises(ValueError, match="empty"):
        cross_entropy_error(np.zeros((0, 3)), np.zeros(0, dtype=int))


def test_nan_input_is_refused_not_predicted_as_class_0():
    """Hostile case: a NaN pixel makes every score NaN, and argmax of NaNs is class 0."""
    net = TwoLayerNet(4, 3, 2, seed=0)
    x = np.ones((3, 4))
    x[1, 2] = np.nan
    for call in (lambda: net.predict(x), lambda: net.accuracy(x, np.array([1, 1, 1]))):
        with pytest.raises(ValueError, match="1 NaN or inf"):
            call()


def test_accuracy_refuses_batch_size_zero():
    """Hostile case: batch_size=0 raised 'range() arg 3 must not be zero'."""
    with pytest.raises(ValueError, match="batch_size"):
        TwoLayerNet(4, 3, 2, seed=0).accuracy(np.ones((3, 4)), np.array([0, 1, 1]), batch_size=0)


def test_save_params_accepts_numpy_numbers_in_metadata(tmp_path):
    """Hostile case: np.float32 accuracies in the metadata raised 'float32 is not JSON serializable'."""
    net = TwoLayerNet(4, 3, 2, seed=0)
    meta = {"test_accuracy": np.float32(0.9), "per_epoch": np.array([0.5, 0.75]), "epochs": np.int64(3)}
    back = TwoLayerNet(4, 3, 2, seed=1).load_params(net.save_params(tmp_path / "w.npz", metadata=meta))
    assert back == {"test_accuracy": pytest.approx(0.9), "per_epoch": [0.5, 0.75], "epochs": 3}
    with pytest.raises(TypeError, match=r"w2\.npz.*metadata.*'net'.*TwoLayerNet"):
        net.save_params(tmp_path / "w2.npz", metadata={"net": net})
    assert not (tmp_path / "w2.npz").exists()


def test_load_params_on_a_checkpoint_says_what_it_is(tmp_path):
    """Hostile case: a Trainer checkpoint passed to load_params listed a dozen 'unexpected' keys."""
    from common.trainer import Trainer
    rng = np.random.default_rng(0)
    x, t = rng.random((20, 4)), rng.integers(0, 2, 20)
    net = TwoLayerNet(4, 3, 2, seed=0)
    Trainer(net, x, t, x, t, epochs=1, progress=False, checkpoint_path=tmp_path / "ck.npz").train()
    with pytest.raises(ValueError, match=r"ck\.npz.*Trainer checkpoint.*resume=True"):
        TwoLayerNet(4, 3, 2).load_params(tmp_path / "ck.npz")


@pytest.mark.parametrize("make", [
    lambda: TwoLayerNet(784, 0, 10),
    lambda: MultiLayerNet(784, [100, 0], 10),
    lambda: TwoLayerNet(784, 50, 0),
    lambda: SimpleConvNet(conv_param={"filter_num": 0, "filter_size": 5, "pad": 0, "stride": 1}),
])
def test_layers_without_units_are_refused(make):
    """Hostile case: a hidden layer of size 0 built a network whose scores never change (loss ln 10 forever)."""
    with pytest.raises(ValueError, match="at least 1"):
        make()
