
import numpy as np
import pytest

from chapters.ch04 import (
    DIFF_FUNCTIONS,
    difference_errors,
    function_2,
    plot_descent_path,
    plot_diff_error,
    plot_gradient_field,
    plot_loss_vs_accuracy,
    plot_single_image_runs,
    softmax_table,
    threshold_loss_and_accuracy,
    toy_threshold_data,
    train_single_image,
)
from common.functions import softmax
from common.gradient import gradient_descent, numerical_gradient
from common.networks import TwoLayerNet


def test_accuracy_is_a_staircase_and_loss_is_smooth():
    x, t = toy_threshold_data(24, seed=0)
    c = np.linspace(-3, 3, 2001)
    acc, loss = threshold_loss_and_accuracy(c, x, t)
    # accuracy only takes values k/24 and changes at most once per data point
    assert np.allclose(acc * 24, np.round(acc * 24))
    assert np.count_nonzero(np.diff(acc)) <= 24
    # loss: no jumps, and its minimum is near the best accuracy
    assert np.max(np.abs(np.diff(loss))) < 0.01
    assert acc[np.argmin(loss)] >= acc.max() - 2 / 24


def test_plot_loss_vs_accuracy_status_line(capsys):
    fig = plot_loss_vs_accuracy(c=-1.5)
    out = capsys.readouterr().out
    assert out.startswith("c = -1.5: accuracy") and "(slope 0)" in out
    assert len(fig.axes) == 2


def test_difference_errors_truncation_and_rounding():
    f, df = DIFF_FUNCTIONS["sin(x)"]
    hs = np.array([1e-1, 1e-2, 1e-4, 1e-12, 1e-50])
    fwd, cen = difference_errors(f, float(df(1.0)), 1.0, hs)
    assert fwd[1] == pytest.approx(fwd[0] / 10, rel=0.1)          # forward: error ~ h
    assert cen[1] == pytest.approx(cen[0] / 100, rel=0.1)         # central: error ~ h^2
    assert cen[2] < 1e-8 < fwd[2]                                 # h = 1e-4: central far better
    assert cen[3] > cen[2]                                        # tiny h: rounding takes over
    assert fwd[4] == pytest.approx(np.cos(1.0))                   # 1 + 1e-50 == 1: derivative 0


def test_plot_diff_error_prints_status(capsys):
    plot_diff_error(-4.0, "exp(x)", 1.0)
    assert capsys.readouterr().out.startswith("exp(x) at x = 1, h = 1e-04: forward error")


def test_best_central_h_for_sin_is_a_few_times_1e6(capsys):
    # the notebook says: best central h is "a few times 1e-6", and h = 1e-4 is a little larger
    plot_diff_error(-4.0, "sin(x)", 1.0)
    out = capsys.readouterr().out
    best_h = float(out.rsplit("at h = ", 1)[1])
    assert 1e-6 < best_h < 1e-5
    f, df = DIFF_FUNCTIONS["sin(x)"]
    _, cen = difference_errors(f, float(df(1.0)), 1.0, np.array([1e-4, best_h]))
    assert cen[1] < cen[0] < 1e-9


def test_gradient_descent_with_lr_10_freezes_where_x_plus_h_rounds_to_x():
    # the notebook's 4.4.1 claim: with the numerical gradient, lr = 10 does not reach 1e128; x
    # stops moving once x +- h == x in float64, where the numerical gradient is exactly 0
    _, path = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=10.0, step_num=100, return_path=True)
    moved = np.any(path[1:] != path[:-1], axis=1)
    last = int(np.flatnonzero(moved)[-1]) + 1
    assert last < 20
    stuck = path[last]
    assert np.all(stuck + 1e-4 == stuck) and np.all(stuck - 1e-4 == stuck)
    assert np.all(np.spacing(np.abs(stuck)) > 2e-4) and np.abs(stuck).max() < 1e15
    assert np.array_equal(numerical_gradient(function_2, stuck.copy()), [0.0, 0.0])


def test_gradient_field_arrows_point_to_the_minimum():
    fig = plot_gradient_field(function_2, lim=2.0, n=5)
    q = fig.axes[0].collections[0]
    offsets, U, V = q.get_offsets(), q.U, q.V
    # -grad f = -2x: arrow and position point in opposite directions
    dots = offsets[:, 0] * U + offsets[:, 1] * V
    assert np.all(dots <= 1e-9)
    assert np.allclose(U, -2 * offsets[:, 0], atol=1e-6)


def test_descent_path_converges_or_diverges(capsys):
    plot_descent_path(lr=0.1, step_num=100, x0=-3.0, x1=4.0)
    out = capsys.readouterr().out
    assert out.startswith("lr = 0.1, 100 steps: end") and "diverged" not in out
    plot_descent_path(lr=1.5, step_num=10)
    assert "(diverged)" in capsys.readouterr().out
    plot_descent_path(lr=1e-4, step_num=10)
    assert "f = 24.9" in capsys.readouterr().out                  # barely moved from f = 25


def test_train_single_image_learns_the_label():
    rng = np.random.default_rng(0)
    x = rng.random(20)
    run = train_single_image(x, 3, hidden_size=8, activation="relu", lr=0.5, steps=40, seed=1)
    assert run.losses.shape == (41,) and run.probs.shape == (41, 10)
    assert run.losses[-1] < run.losses[0] / 5
    assert run.predictions[-1] == 3 and run.first_correct_step is not None
    assert np.allclose(run.probs.sum(axis=1), 1.0)
    assert softmax_table(run, 3).count("\n") == 3
    # step 0 is the untrained network: the same loss and probabilities as a fresh TwoLayerNet gives
    net = TwoLayerNet(20, 8, 10, weight_init_std=0.01, activation="relu", seed=1)
    assert run.losses[0] == pytest.approx(net.loss(x[None, :], np.array([3])))
    assert np.allclose(run.probs[0], softmax(net.predict(x[None, :]))[0])
    fig = plot_single_image_runs({"a": run, "b": run})
    assert len(fig.axes[0].get_lines()) == 2 and fig.axes[0].get_yscale() == "log"


def test_train_single_image_records_hidden_outputs():
    # the notebook prints the hidden-output ranges: sigmoid outputs stay inside (0, 1), ReLU's are >= 0
    x = np.random.default_rng(0).random(20)
    for activation in ("sigmoid", "relu"):
        run = train_single_image(x, 3, hidden_size=8, activation=activation, lr=0.5, steps=5, seed=1)
        assert run.hidden.shape == (6, 8)
        net = TwoLayerNet(20, 8, 10, weight_init_std=0.01, activation=activation, seed=1)
        step0 = {name: out for name, _layer, out in net.layer_outputs(x[None, :])}["Activation1"][0]
        assert np.allclose(run.hidden[0], step0)
        assert np.all(run.hidden >= 0) and (activation == "relu" or np.all(run.hidden < 1))


def test_large_initial_weights_start_confidently_wrong():
    # the reader's run: N(0, 1) weights (no * 0.01) give a near-certain wrong start, and it still learns
    x = np.random.default_rng(0).random(784)
    runs = [train_single_image(x, 5, hidden_size=100, lr=0.01, steps=80, seed=s, weight_init_std=1.0)
            for s in range(4)]
    small = train_single_image(x, 5, hidden_size=100, lr=0.01, steps=80, seed=0)
    assert abs(small.losses[0] - np.log(10)) < 0.1
    assert np.median([r.losses[0] for r in runs]) > 3 * small.losses[0]
    assert all(r.predictions[-1] == 5 for r in runs)
