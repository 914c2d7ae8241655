import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from common.optimizer_viz import (BOOK_LRS, BOOK_START, f, grad_f, optimizer_explorer,  # noqa: E402
                                  optimizer_path, plot_gradient_field, plot_optimizer_paths)



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
    assert len(plot_gradient_field().axes[0].collections) >= 1
    fig = optimizer_explorer("adam", 0.3, 10, -5.0, 3.0)
    out = capsys.readouterr().out.strip()
    assert out.startswith("adam lr=0.3, 10 steps: f = ") and fig.axes[0].get_title() == out
    optimizer_explorer("sgd", 1e6, 300)
    assert capsys.readouterr().out.strip().endswith("diverged")
