"""chapters.ch06: the optimizers' paths on f(x, y) = x**2/20 + y**2, and the MNIST experiments' functions."""
import numpy as np
import pytest

from chapters.ch06 import activations
from chapters.ch06 import experiments as ex
from chapters.ch06.optimizer_paths import (
    BOOK_LRS,
    BOOK_START,
    f,
    grad_f,
    optimizer_explorer,
    optimizer_path,
    plot_optimizer_paths,
    plot_valley_gradient_field,
)
from common.networks import MultiLayerNetExtend
from common.optimizer import make_optimizer
from toy_data import gaussian_blobs


# ---- optimizer_paths (6.1) -------------------------------------------------------------------
def test_gradient_matches_central_differences():
    x, y, h = 3.0, -1.5, 1e-5
    gx, gy = grad_f(x, y)
    assert gx == pytest.approx((f(x + h, y) - f(x - h, y)) / (2 * h))
    assert gy == pytest.approx((f(x, y + h) - f(x, y - h)) / (2 * h))


def test_path_shape_start_and_zero_steps():
    path = optimizer_path("adam", steps=30)
    assert path.shape == (31, 2) and tuple(path[0]) == BOOK_START
    assert optimizer_path("sgd", steps=0).shape == (1, 2)
    with pytest.raises(ValueError):
        optimizer_path("sgd", steps=-1)


def test_sgd_zigzags_across_the_valley():
    # with lr = 0.95 the y-update is y <- (1 - 2 * 0.95) y = -0.9 y: the sign flips every step
    y = optimizer_path("sgd", 0.95, steps=6)[:, 1]
    assert np.all(np.sign(y[1:]) == -np.sign(y[:-1]))
    assert np.allclose(y[1:] / y[:-1], -0.9)


def test_every_optimizer_goes_downhill_with_the_book_rates():
    f0 = f(*BOOK_START)
    for name in BOOK_LRS:
        end = optimizer_path(name)[-1]
        assert f(*end) < 0.05 * f0, name


def test_momentum_overshoots_the_minimum_where_adagrad_does_not():
    mom = optimizer_path("momentum")[:, 0]
    ada = optimizer_path("adagrad")[:, 0]
    assert mom.max() > 0.5          # the ball rolls past x = 0
    assert ada.max() < 0            # AdaGrad creeps up from the left


def test_figures_and_status_line(capsys):
    fig = plot_optimizer_paths(("sgd", "momentum", "adagrad", "adam", "rmsprop"), ncols=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 5 and titles[0].startswith("SGD (lr=0.95)")
    assert len(plot_valley_gradient_field().axes[0].collections) >= 1
    fig = optimizer_explorer("adam", 0.3, 10, -5.0, 3.0)
    out = capsys.readouterr().out.strip()
    assert out.startswith("adam lr=0.3, 10 steps: f = ") and fig.axes[0].get_title() == out
    optimizer_explorer("sgd", 1e6, 300)
    assert capsys.readouterr().out.strip().endswith("diverged")


# ---- experiments (6.1.8-6.5) ----------------------------------------------------------------
@pytest.fixture(scope="module")
def toy():
    """A learnable 4-class problem: 20-D Gaussian blobs, 400 train / 200 test samples."""
    return gaussian_blobs(400, 200)


# ---- iteration-budgeted training -----------------------------------------------------------------
def test_train_iterations_lowers_the_loss(toy):
    (x, t), _ = toy
    net = MultiLayerNetExtend(20, [16, 16], 10, dtype=np.float32, seed=0)
    losses = ex.train_iterations(net, make_optimizer("adam", lr=0.01), x, t, 150, batch_size=32)
    assert losses.shape == (150,) and ex.final_loss(losses, 20) < 0.5 * losses[:5].mean()
    # losses[0] is the loss of the first mini-batch at the initial parameters (before the update)
    first = np.random.default_rng(0).integers(0, len(x), size=32)
    fresh = MultiLayerNetExtend(20, [16, 16], 10, dtype=np.float32, seed=0)
    assert losses[0] == pytest.approx(fresh.loss(x[first], t[first], train_flg=True), rel=1e-6)


def test_compare_optimizers_and_inits_share_the_setting(toy):
    (x, t), _ = toy
    curves = ex.compare_optimizers(x, t, 60, hidden=(16, 16), batch_size=32)
    assert list(curves) == ["SGD", "Momentum", "AdaGrad", "Adam"]
    assert all(c.shape == (60,) for c in curves.values())
    # same seed, same first mini-batch, same initial network: identical first loss
    assert len({round(float(c[0]), 6) for c in curves.values()}) == 1
    inits = ex.compare_weight_inits(x, t, 60, hidden=(16, 16, 16, 16), batch_size=32)
    assert list(inits) == ["std=0.01", "Xavier", "He"]
    assert ex.final_loss(inits["He"], 20) < ex.final_loss(inits["std=0.01"], 20)
    fig = ex.plot_loss_comparison(curves, smooth=7)
    assert len(fig.axes[0].get_lines()) == 4


# ---- activation histograms -------------------------------------------------------------------
def test_hidden_activations_shape_and_the_books_findings():
    acts = ex.hidden_activations("sigmoid", 1.0, n_layers=5, n_samples=200)
    assert acts.shape == (5, 200, 100)
    assert np.mean((acts[-1] < 0.05) | (acts[-1] > 0.95)) > 0.5          # std 1: saturated at 0 and 1
    small = ex.hidden_activations("sigmoid", 0.01, n_samples=200)[-1]
    assert abs(small.mean() - 0.5) < 0.02 and small.std(axis=0).max() < 1e-3     # every sample: ~0.5
    tanh = ex.hidden_activations("tanh", "xavier", n_samples=200).std(axis=(1, 2))
    assert 0.2 < tanh[-1] < 0.8                                             # Xavier keeps a spread
    relu_he = ex.hidden_activations("relu", "he", n_samples=200).std(axis=(1, 2))
    relu_small = ex.hidden_activations("relu", 0.01, n_samples=200).std(axis=(1, 2))
    assert 0.5 < relu_he[-1] / relu_he[0] < 2 and relu_small[-1] < 1e-4
    with pytest.raises(ValueError):
        ex.hidden_activations("softplus", 1.0)


def test_spread_across_inputs_sees_what_the_histogram_hides():
    # sigmoid + Xavier: the histogram stays wide (units differ), but each unit barely depends on the input
    pooled = ex.activation_spread_table(("sigmoid",), ("xavier",))["sigmoid"]["Xavier"]
    per_input = ex.spread_across_inputs("sigmoid", "xavier")
    assert per_input.shape == (5,) and pooled[-1] > 0.1 and per_input[-1] < 0.01
    assert np.all(per_input[1:] < per_input[:-1] / 3)               # about 4-fold per layer (slope 1/4)
    tanh = ex.spread_across_inputs("tanh", "xavier")
    assert np.allclose(tanh, ex.activation_spread_table(("tanh",), ("xavier",))["tanh"]["Xavier"], rtol=0.02)


def test_histogram_figures_and_explorer_status(capsys):
    fig = ex.plot_activation_histograms("tanh", stds=(1.0, "xavier"), n_layers=3)
    assert len(fig.axes) == 6 and fig.get_supxlabel() == "tanh output" and fig.get_supylabel()
    ex.activation_histogram_explorer("relu", 0.01)
    out = capsys.readouterr().out
    assert out.startswith("relu, std=0.01 (Xavier 0.1, He 0.141)") and "layer-5" in out
    table = ex.activation_spread_table(("relu",), (0.01, "he"), n_layers=2)
    assert set(table["relu"]) == {"std=0.01", "He"} and table["relu"]["He"].shape == (2,)
    assert ex.std_label(0.01) == "std=0.01" and ex.std_label("xavier") == "Xavier"


def test_histogram_explorer_updates_its_figure_in_place(capsys):
    def content(f):
        return ([ax.patches[0].get_data().values.tolist() for ax in f.axes], [ax.get_title() for ax in f.axes],
                [ax.get_xlim() + ax.get_ylim() for ax in f.axes], f.get_suptitle(), f.get_supxlabel(),
                f.subplotpars.to_dict())

    fig = ex.activation_histogram_explorer("sigmoid", 0.01)
    fig.canvas.draw()                                         # as the panel shows it
    before = content(fig)
    for activation, std in [("sigmoid", 1.0), ("sigmoid", 0.3), ("tanh", 0.1), ("relu", 0.25)]:
        again = ex.activation_histogram_explorer(activation, std, fig=fig)
        assert again is fig and len(fig.axes) == 5
        assert content(fig) == content(ex.activation_histogram_explorer(activation, std))   # what a new one shows
        assert not fig.stale                                  # drawn (blitted): the panel shows it as it is
        blitted = np.asarray(fig.canvas.buffer_rgba()).copy()
        fig.canvas.draw()                                     # a full draw (savefig) draws the same picture
        assert np.array_equal(blitted, np.asarray(fig.canvas.buffer_rgba()))
    assert content(fig) != before and fig.get_supxlabel() == "relu output"
    assert capsys.readouterr().out.splitlines()[-1].startswith("relu, std=0.25")


def test_hidden_activations_keep_their_random_draws_across_calls():
    a = ex.hidden_activations("tanh", 0.5, n_layers=3, n_samples=50)
    b = ex.hidden_activations("tanh", 0.5, n_layers=3, n_samples=50)
    assert np.array_equal(a, b) and a is not b
    a[:] = 0                                                  # the caller's copy: the kept draws stay put
    rng = np.random.default_rng(0)                            # the book's order: the input, then W1, W2, W3
    x = rng.standard_normal((50, 100))
    for _ in range(3):
        x = np.tanh(x @ (0.5 * rng.standard_normal((100, 100))))
    assert np.array_equal(ex.hidden_activations("tanh", 0.5, n_layers=3, n_samples=50)[-1], x)


def test_histogram_titles_give_the_share_beyond_the_axis_rounded_down():
    titles = [ax.get_title() for ax in ex.plot_activation_histograms("relu", stds=(1.0,), n_layers=5).axes]
    assert titles[0].startswith("std=1: layer 1 (") and titles[0].endswith("% > 3)")
    assert titles[-1] == "layer 5 (99.9% > 3)"              # 99.99 %: never shown as 100 %
    assert activations._off_range_note(0.04, 3) == "" and activations._off_range_note(1.0, 3) == " (100.0% > 3)"


# ---- per-layer statistics, BN ----------------------------------------------------------------
def test_bn_keeps_layer_outputs_at_unit_spread(toy):
    (x, t), _ = toy
    plain = MultiLayerNetExtend(20, [32] * 4, 10, weight_init_std=0.01, dtype=np.float64, seed=0)
    bn = MultiLayerNetExtend(20, [32] * 4, 10, weight_init_std=0.01, use_batchnorm=True, dtype=np.float64, seed=0)
    s_plain, s_bn = ex.affine_output_stds(plain, x), ex.affine_output_stds(bn, x)
    assert len(s_plain) == len(s_bn) == 5
    assert s_plain[3] < 1e-5 and all(abs(s - 1) < 0.01 for s in s_bn[:4])
    assert s_plain[-1] == pytest.approx(float(np.std(plain.predict(x))))     # the last one: the scores
    first_affine = x.astype(np.float64) @ plain.params["W1"] + plain.params["b1"]
    assert s_plain[0] == pytest.approx(float(np.std(first_affine)))
    g_plain, g_bn = ex.weight_gradient_norms(plain, x, t), ex.weight_gradient_norms(bn, x, t)
    assert len(g_plain) == 5 and g_bn[0] > 1000 * g_plain[0]


def test_train_epochs_reports_divergence_as_nan(toy):
    (x, t), _ = toy
    net = MultiLayerNetExtend(20, [32] * 5, 10, weight_init_std=30.0, dtype=np.float32, seed=0)
    acc = ex.train_epochs(net, make_optimizer("sgd", lr=0.01), x, t, 3)
    assert acc.shape == (3,) and np.isnan(acc).all()


def test_bn_weight_scale_experiment_shapes_and_grid(toy):
    (x, t), (xt, tt) = toy
    res = ex.bn_weight_scale_experiment(x, t, xt, tt, [0.1, 0.001], epochs=3, hidden=(16, 16, 16))
    assert res["bn_train"].shape == (2, 3) and res["plain_test"].shape == (2,)
    assert res["bn_train"][1, -1] > res["plain_train"][1, -1]      # tiny scale: only BN learns
    last = ex.bn_weight_scale_experiment(x, t, xt, tt, [0.001], epochs=1, hidden=(16,), last_layer_std="he")
    assert last["bn_train"].shape == (1, 1)
    fig = ex.plot_bn_grid(res, ncols=2)
    assert len(fig.axes) == 2 and len(fig.legends) == 1 and not fig.axes[0].get_legend()   # legend off the panels


# ---- regularisation ----------------------------------------------------------------------------
def test_regularisation_run_and_callbacks(toy, capsys):
    (x, t), (xt, tt) = toy
    h, net = ex.regularisation_run(x[:60], t[:60], xt, tt, epochs=5, hidden=(16, 16), eval_samples=50,
                                   weight_decay_lambda=0.01, weight_decay_type="l1")
    assert len(h.train_acc) == 5 and net.weight_decay_type == "l1"
    assert ex.gap(h) == pytest.approx(np.mean(h.train_acc[-5:]) - np.mean(h.test_acc[-5:]))
    ex.show_weight_decay_run({("l1", 0.01): h}, "l1", 0.01)
    out = capsys.readouterr().out
    assert out.startswith("L1, lambda=0.01: train ") and out.strip().endswith(f"gap (last 10 ep.) {ex.gap(h):.3f}")
    ex.show_dropout_run({0.0: h}, 0.0)
    assert capsys.readouterr().out.startswith("dropout ratio=0: train ")
    with pytest.raises(KeyError):
        ex.show_dropout_run({0.0: h}, 0.5)
    fig = ex.plot_weight_histograms({"a": net, "b": net})
    assert len(fig.axes) == 2 and fig.axes[0].get_ylabel() and fig.axes[1].get_xlabel()


def test_dropout_modes_have_the_same_expectation():
    x = np.random.default_rng(1).random((4, 50))
    for mode in ("book", "inverted"):
        mean_train, test = ex.dropout_expectation(x, 0.3, mode, n_masks=4000)
        assert np.allclose(mean_train, test, atol=0.05), mode
    assert np.allclose(ex.dropout_expectation(x, 0.3, "book", 10)[1], 0.7 * x)
    assert np.allclose(ex.dropout_expectation(x, 0.3, "inverted", 10)[1], x)


# ---- hyperparameter search ---------------------------------------------------------------------
def test_split_validation_is_disjoint_and_covers_the_training_set():
    x, t = np.zeros((50, 3)), np.arange(50)
    tr, va = ex.split_validation(x, t, 0.2, seed=0)
    assert len(va) == 10 and len(tr) == 40
    assert set(tr).isdisjoint(va) and set(tr) | set(va) == set(range(50))
    with pytest.raises(ValueError):
        ex.split_validation(x, t, 1.5)


def test_log_uniform_covers_every_decade():
    v = ex.log_uniform(np.random.default_rng(0), -6, -2, 4000)
    assert v.min() >= 1e-6 and v.max() <= 1e-2
    counts = np.histogram(np.log10(v), bins=4, range=(-6, -2))[0]
    assert counts.min() > 800


def test_random_search_table_and_narrowing(toy):
    (x, t), _ = toy
    trials = ex.random_search(x[:200], t[:200], x[200:260], t[200:260], n_trials=4, epochs=2, hidden=(16,))
    assert len(trials) == 4 and set(trials[0]) == {"lr", "weight_decay", "val_acc", "train_acc", "diverged", "seed"}
    assert [r["seed"] for r in trials] == [0, 1, 2, 3]                  # trial k is seeded by seed + k
    wild = ex.random_search(x[:100], t[:100], x[200:260], t[200:260], n_trials=1, epochs=2, hidden=(16,),
                            lr_exp=(30, 30))                   # lr = 1e30: overflows, recorded, no exception
    assert wild[0]["diverged"] and wild[0]["val_acc"] == 0.0
    best = ex.top_trials(trials, 2)
    assert best[0]["val_acc"] >= best[1]["val_acc"] >= min(r["val_acc"] for r in trials)
    rng_ = ex.narrowed_range(trials, 2)
    assert -6 <= rng_["lr"][0] <= rng_["lr"][1] <= -2
    assert len(ex.format_trials(best).splitlines()) == 3
    assert len(ex.plot_search_scatter(trials, 2).axes) == 2       # the plot and its colour bar


def test_random_beats_grid_when_one_parameter_matters():
    assert ex.one_param_objective(0.37, 0.0) == pytest.approx(1.0)
    assert ex.one_param_objective(0.5, 0.1) == ex.one_param_objective(0.5, 0.9)
    grid = ex.grid_points(9)
    assert grid.shape == (9, 2) and len(np.unique(grid[:, 0])) == 3
    with pytest.raises(ValueError):
        ex.grid_points(10)
    res = ex.grid_vs_random(9, repeats=400)
    assert res["random"].mean() > res["grid"].mean() + 0.1
    fig = ex.plot_grid_vs_random()
    assert len(fig.axes) == 2 and max(fig.axes[0].get_yticks()) == 1.0    # the score band above 1 has no b ticks


def test_compare_weight_inits_reuses_the_sgd_run_of_compare_optimizers(toy):
    # He init with SGD at lr 0.01 is compare_optimizers' "SGD" run: trained once, the curve is reused
    (x, t), _ = toy
    setting = {"hidden": (16, 16, 16, 16), "batch_size": 32}
    sgd = ex.compare_optimizers(x, t, 40, optimizers={"SGD": ex.BOOK_MNIST_OPTIMIZERS["SGD"]}, **setting)["SGD"]
    trained = ex.compare_weight_inits(x, t, 40, **setting)
    np.testing.assert_array_equal(trained["He"], sgd)                      # the same run, bit for bit
    reused = ex.compare_weight_inits(x, t, 40, reuse={"He": sgd}, **setting)
    assert list(reused) == ["std=0.01", "Xavier", "He"]                    # the order of inits, not of training
    for label in trained:
        np.testing.assert_array_equal(reused[label], trained[label])
    with pytest.raises(ValueError, match="not one of the runs"):
        ex.compare_weight_inits(x, t, 40, reuse={"he": sgd}, **setting)
    with pytest.raises(ValueError, match=r"shape \(39,\)"):
        ex.compare_weight_inits(x, t, 40, reuse={"He": sgd[:-1]}, **setting)
