
import matplotlib.pyplot as plt
import numpy as np
import pytest

from chapters.figures import (
    ClaimError,
    expect,
    log_slider,
    median_seconds,
    plot_accuracy_curves,
    plot_loss_curve,
    plot_probabilities,
    show_digits,
    show_source,
    slider_panel,
)


def test_plot_loss_curve_raw_and_smoothed():
    fig = plot_loss_curve(np.linspace(2, 0.1, 100))
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and len(lines[1].get_ydata()) == 100
    assert fig.axes[0].get_xlabel() == "iteration"


def test_plot_accuracy_curves_epochs_from_one():
    fig = plot_accuracy_curves([0.5, 0.8, 0.9], [0.4, 0.7, 0.85])
    train, test = fig.axes[0].get_lines()
    assert list(train.get_xdata()) == [1, 2, 3] and list(test.get_ydata()) == [0.4, 0.7, 0.85]


def test_show_digits_grid_and_titles():
    fig = show_digits(np.random.default_rng(0).random((12, 784)), titles=[str(i) for i in range(12)], ncols=5)
    assert len(fig.axes) == 15
    assert [ax.get_title() for ax in fig.axes[:3]] == ["0", "1", "2"]


def test_plot_probabilities_marks_prediction_and_truth():
    p = np.full(10, 0.02); p[3] = 0.82
    fig = plot_probabilities(p, true_label=5)
    ax = fig.axes[0]
    bars = [patch for patch in ax.patches if patch.get_height() in p]
    assert len(bars) == 10 and bars[3].get_facecolor() != bars[0].get_facecolor()
    shades = [patch for patch in ax.patches if patch not in bars]        # the true class, shaded behind
    assert len(shades) == 1 and shades[0].get_x() < 5 < shades[0].get_x() + shades[0].get_width()
    weights = [label.get_fontweight() for label in ax.get_xticklabels()]
    assert weights[5] == "bold" and weights.count("bold") == 1


def test_slider_panel_calls_the_plain_function():
    calls = []

    def f(a=1.0, b=2):
        calls.append((a, b))
        fig, ax = plt.subplots()
        ax.plot([a, b])
        return fig

    panel = slider_panel(f, continuous_update=False, a=(0.0, 2.0, 0.5), b=(1, 5))
    sliders = [c for c in panel.children if hasattr(c, "continuous_update")]
    assert len(sliders) == 2 and not any(s.continuous_update for s in sliders)
    sliders[0].value = 1.5
    assert calls[-1] == (1.5, sliders[1].value)
    assert log_slider("lr", 0.01, -4, 0).value == pytest.approx(0.01)


def test_slider_panel_starts_at_the_function_defaults():
    def g(x0=-3.0, steps=20):
        return f"x0={x0}, steps={steps}"

    panel = slider_panel(g, x0=(-5.0, 5.0, 0.5), steps=(1, 100, 1))
    values = {c.description: c.value for c in panel.children if hasattr(c, "description") and c.description}
    assert values == {"x0": -3.0, "steps": 20}
    # other parameters (fixed with functools.partial, array defaults, ...) never become controls
    import functools
    h = functools.partial(lambda index=0, images=None: f"{index} of {len(images)}", images=np.zeros((5, 2)))
    panel = slider_panel(h, index=(0, 4, 1))
    assert [c.description for c in panel.children if hasattr(c, "description") and c.description] == ["index"]


def test_median_seconds_is_the_median_of_the_clock_readings():
    ticks = iter([0.0, 1.0, 1.0, 4.0, 4.0, 4.5])          # three calls lasting 1.0, 3.0 and 0.5
    assert median_seconds(lambda: None, repeats=3, clock=lambda: next(ticks)) == 1.0


def test_expect_prints_the_claim_and_raises_with_the_reason(capsys):
    expect("test accuracy", 0.97192, ">=", 0.97)
    assert capsys.readouterr().out == "✓ test accuracy 0.9719 ≥ 0.97\n"
    expect("epochs", 20, "==", 20)
    assert capsys.readouterr().out == "✓ epochs 20 = 20\n"
    with pytest.raises(ClaimError, match=r"✗ final loss 0.5 < 0.3 does not hold\. Try a larger lr\."):
        expect("final loss", 0.5, "<", 0.3, why="Try a larger lr.")
    with pytest.raises(ValueError, match="op must be one of"):
        expect("x", 1, "=>", 0)


def test_show_source_gives_the_code_of_common():
    from common.layers import Affine
    code = show_source(Affine)
    assert "class Affine:" in code.data and "def backward" in code.data
    assert "class Affine:" in repr(code) or "class Affine:" in code._repr_html_()
