import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from common.deep_experiments import (SkipMLP, augmentation_experiment, cast_state, conv_share,  # noqa: E402
                                     data_parallel_gradient, federated_average, gpu_status, gradient_norm_profile, label_noise_experiment,
                                     layer_output_dtypes, layer_times, noisy_label_data, plot_augmentation_results,
                                     plot_gradient_norms, plot_layer_times, plot_throughput, plot_toy_gan,
                                     throughput, toy_gan_1d)
from common.gradient import numerical_gradient  # noqa: E402
from common.networks import DeepConvNet, MultiLayerNet  # noqa: E402



# ---- skip connections ----------------------------------------------------------------------
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_skip_mlp_gradient_matches_numerical(skip, activation):
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
    net = SkipMLP(4, 6, 3, 3, activation=activation, skip=skip, branch_scale=0.7, seed=1)
    grads = net.gradient(x, t)
    assert set(grads) == set(net.params)
    for key, p in net.params.items():
        num = numerical_gradient(lambda _: net.loss(x, t), p)
        np.testing.assert_allclose(grads[key], num, rtol=1e-5, atol=1e-8, err_msg=key)


def test_skip_mlp_same_weights_and_identity_path():
    plain = SkipMLP(4, 5, 3, 2, skip=False, seed=7)
    res = SkipMLP(4, 5, 3, 2, skip=True, branch_scale=0.0, seed=7)
    for k in plain.params:
        np.testing.assert_array_equal(plain.params[k], res.params[k])
    x = np.random.default_rng(1).standard_normal((3, 4))
    # with the branches switched off the residual net is stem -> head
    p = res.params
    np.testing.assert_allclose(res.predict(x), (x @ p["W0"] + p["b0"]) @ p["W4"] + p["b4"])
    with pytest.raises(ValueError):
        SkipMLP(4, 5, 3, 2, activation="swish")


def test_gradient_vanishes_in_plain_sigmoid_net_but_not_with_skips():
    rng = np.random.default_rng(0)
    x, t = rng.random((32, 20)), rng.integers(0, 10, 32)
    prof = gradient_norm_profile(x, t, depth=20, width=32)
    assert prof["plain"].shape == prof["residual"].shape == (20,)
    assert prof["plain"][0] / prof["plain"][-1] < 1e-6                    # exponential decay towards the input
    assert prof["residual"].min() / prof["residual"].max() > 0.01         # every block gets a usable gradient
    fig = plot_gradient_norms(x, t, depth=10, width=16)
    assert len(fig.axes[0].lines) == 2


# ---- augmentation ------------------------------------------------------------------------
def test_augmentation_experiment_calls_augment_and_reports():
    rng = np.random.default_rng(0)
    x = rng.random((60, 1, 28, 28)).astype(np.float32)
    t = rng.integers(0, 10, 60)
    calls = []

    def augment(xb, r):
        calls.append(len(xb))
        return xb[:, :, ::-1, :].copy()

    res = augmentation_experiment(x[:40], t[:40], x[40:], t[40:], x[40:, :, ::-1], augment, epochs=1, batch_size=20)
    assert calls == [20, 20]                                              # only the augmented run, every batch
    for run in ("plain", "augmented"):
        assert set(res[run]) == {"history", "train_acc", "test_acc", "moved_acc"}
        assert 0.0 <= res[run]["test_acc"] <= 1.0 and len(res[run]["history"].test_acc) == 1
    assert len(plot_augmentation_results(res).axes[0].patches) == 6


# ---- noisy labels ----------------------------------------------------------------------------
def test_noisy_label_data():
    rng = np.random.default_rng(0)
    x, t = noisy_label_data(2000, 0.0, rng)
    np.testing.assert_array_equal(t, (x.sum(axis=1) > 0).astype(int))
    x, t = noisy_label_data(20000, 0.5, rng)
    agree = np.mean(t == (x.sum(axis=1) > 0))
    assert abs(agree - 0.5) < 0.02                                        # a coin flip, whatever x is


def test_coin_flip_labels_cap_accuracy_at_half():
    res = label_noise_experiment(0.5, n_train=100, n_test=2000, iters=400)
    assert res["ceiling"] == 0.5
    assert res["train_acc"] > 0.8                                         # it memorises the coin flips ...
    assert abs(res["test_acc"] - 0.5) < 0.05                              # ... and learns nothing


# ---- precision and speed ------------------------------------------------------------------------
def test_float16_network_computes_in_float16():
    net = DeepConvNet(dtype=np.float32, seed=0)
    net16 = DeepConvNet(dtype=np.float16, seed=1)
    state = cast_state(net.state_dict(), np.float16)
    assert all(v.dtype == np.float16 for v in state.values())
    net16.load_state_dict(state)
    x = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    dtypes = layer_output_dtypes(net16, x)
    assert [n for n, _ in dtypes] == list(net16.layers) and {d for _, d in dtypes} == {"float16"}
    s16, s32 = net16.predict(x), net.predict(x)
    assert s16.dtype == np.float16
    np.testing.assert_allclose(s16.astype(np.float32), s32, atol=0.05 * np.abs(s32).max() + 1e-3)


def test_throughput_and_layer_times():
    net = DeepConvNet(dtype=np.float32, seed=0)
    x = np.random.default_rng(0).random((16, 1, 28, 28)).astype(np.float32)
    rates = throughput(net, x, batch_sizes=(1, 8), min_images=8, repeats=1)
    assert set(rates) == {1, 8} and all(r > 0 for r in rates.values())
    times = layer_times(net, x, repeats=1)
    assert list(times) == list(net.layers) and all(t >= 0 for t in times.values())
    assert 0.0 < conv_share(times, net) <= 1.0
    assert plot_layer_times(times, net).axes and plot_throughput(rates).axes


def test_data_parallel_gradient_equals_full_batch_gradient():
    net = MultiLayerNet(6, [5, 4], 3, seed=0)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((12, 6)), rng.integers(0, 3, 12)
    full = net.gradient(x, t)
    for workers in (2, 3, 4):
        par = data_parallel_gradient(net, x, t, workers)
        for k in full:
            np.testing.assert_allclose(par[k], full[k], rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError):
        data_parallel_gradient(net, x, t, 5)


def test_federated_average_one_local_step_is_one_sgd_step():
    net = MultiLayerNet(6, [5], 3, seed=0)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((12, 6)), rng.integers(0, 3, 12)
    before = {k: v.copy() for k, v in net.params.items()}
    shards = list(zip(np.split(x, 3), np.split(t, 3)))
    avg1 = federated_average(net, shards, lr=0.1, local_steps=1)
    for k in before:                                                      # net itself is untouched
        np.testing.assert_array_equal(net.params[k], before[k])
    full = net.gradient(x, t)
    for k in before:
        np.testing.assert_allclose(avg1[k], before[k] - 0.1 * full[k], rtol=1e-10, atol=1e-14)
    avg5 = federated_average(net, shards, lr=0.1, local_steps=5)
    assert any(not np.allclose(avg5[k], avg1[k]) for k in avg1)


# ---- GAN -----------------------------------------------------------------------------------
def test_toy_gan_learns_the_data_distribution_and_is_reproducible():
    run = toy_gan_1d(steps=2000)
    assert run["a"].shape == (2001,)
    assert abs(run["b"][-1] - 3.0) < 0.2 and abs(abs(run["a"][-1]) - 0.5) < 0.15
    again = toy_gan_1d(steps=50)
    np.testing.assert_array_equal(again["b"], run["b"][:51])
    weak = toy_gan_1d(steps=2000, d_steps=1, lr_d=0.05)                  # a slow referee: mode collapse
    assert abs(weak["a"][-1]) < 0.1
    assert len(plot_toy_gan({"balanced": run, "weak": weak}).axes) == 2


# ---- GPU ---------------------------------------------------------------------------------
def test_gpu_status_explains_itself():
    available, reason = gpu_status()
    assert isinstance(available, bool) and reason
    try:
        import cupy  # noqa: F401
    except ImportError:
        assert not available and "CuPy" in reason
