
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


# ---------------------------------------------------------------------------------------------
# Slider panels (chapters.panels): values on the slider's grid, in-place redraws, coalescing, static text
# ---------------------------------------------------------------------------------------------
import io


def _recorder(calls):
    def f(a=0.5, b=2, fig=None):
        calls.append({"a": a, "b": b, "fig": fig})
        fig = fig or plt.figure(figsize=(3, 2))
        fig.clf()
        fig.add_subplot().plot([0, a], [0, b])
        print(f"a={a} b={b}")
        return fig
    return f


def test_snap_to_step_rounds_to_the_grid_in_the_steps_decimals():
    from chapters.panels import snap_to_step
    assert snap_to_step(0.1 * 6, -1.0, 0.1) == 0.6 and 0.1 * 6 != 0.6
    assert snap_to_step(-0.6000000000000001, -1.5, 0.1) == -0.6
    assert snap_to_step(0.57, 0.0, 0.05) == 0.55
    assert snap_to_step(130.00000000000003, 50.0, 10.0) == 130.0
    with pytest.raises(ValueError, match="step must be > 0"):
        snap_to_step(1.0, 0.0, 0.0)


def test_panel_passes_slider_values_rounded_to_the_step():
    """ch02's panel at w1 = w2 = 0.6, b = -0.6 is AND (1, 0 sits on the line); the browser's 0.6000000000000001
    used to make it OR."""
    from chapters.ch02 import plot_decision_line
    panel = slider_panel(plot_decision_line, w1=(-1.0, 1.0, 0.1), w2=(-1.0, 1.0, 0.1), b=(-1.5, 1.5, 0.1))
    panel.controls["w2"].value = 0.6
    panel.controls["b"].value = -0.6000000000000001
    panel.controls["w1"].value = 0.1 * 6                          # 0.6000000000000001, as a slider sends it
    assert panel.shown_values == {"w1": 0.6, "w2": 0.6, "b": -0.6}
    assert "gate: AND" in panel.status.value and "gate: OR" not in panel.status.value


def test_slider_defaults_lie_on_the_slider_grid():
    import ipywidgets as widgets
    gain = widgets.FloatLogSlider(value=5.0, base=10, min=-0.5, max=2.0, step=0.05, description="gain")
    calls = []

    def f(gain=5.0, x=0.55):
        calls.append((gain, x))
        return plt.figure(figsize=(2, 2))

    panel = slider_panel(f, gain=gain, x=(-1.0, 1.0, 0.1))
    exponent_steps = (np.log10(gain.value) - gain.min) / gain.step
    assert gain.value == 5.0 and abs(exponent_steps - round(exponent_steps)) < 1e-9
    assert -0.5 <= gain.min < -0.5 + 0.05 and 2.0 - 0.05 < gain.max <= 2.0
    x = panel.controls["x"]
    assert x.value == 0.55 and x.min == -0.95 and x.max == 0.95
    assert calls == [(5.0, 0.55)]
    gain.value = 10 ** (gain.min + round(exponent_steps) * gain.step)  # the browser's 4.999999999999999...
    x.value = 0.55000000000000004
    assert calls == [(5.0, 0.55)], "a value equal after rounding must not run the function again"
    slider = log_slider("lr", 0.03, -3, 0, step=0.25)
    steps = (np.log10(0.03) - slider.min) / 0.25
    assert slider.value == 0.03 and abs(steps - round(steps)) < 1e-9


def test_panel_shows_the_figure_in_place_and_closes_what_it_drew(monkeypatch):
    import chapters.panels
    # a busy machine can make a draw take over SLOW_SECONDS and switch the panel to on-release updates (tested
    # on its own below); here the panel must stay continuous whatever the load
    monkeypatch.setattr(chapters.panels, "SLOW_SECONDS", 60.0)
    calls = []
    open_before = plt.get_fignums()
    panel = slider_panel(_recorder(calls), a=(0.0, 2.0, 0.5), b=(1, 5))
    first = panel.png
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and bytes(panel.figure.value).startswith(b"data:image/png;base64,")
    from PIL import Image
    size = (panel.figure.width, panel.figure.height)
    assert size == tuple(str(n) for n in Image.open(io.BytesIO(first)).size)      # the img's size is pinned
    panel.controls["a"].value = 1.5
    assert panel.png != first and (panel.figure.width, panel.figure.height) == size
    assert "a=1.5 b=2" in panel.status.value
    panel.controls["b"].value = 3
    assert [c["fig"] is None for c in calls] == [True, False, False] and calls[1]["fig"] is calls[2]["fig"], \
        "a function with a fig parameter gets the figure it returned last time"
    assert plt.get_fignums() == open_before, "the panel's figures must not stay open in pyplot"
    assert panel.children[-2:] == (panel.status, panel.figure) and not panel.on_release


def test_panel_shows_an_error_and_keeps_the_last_figure():
    def f(x=1.0):
        if x < 0:
            raise ValueError(f"x must be >= 0, got {x}")
        return plt.figure(figsize=(2, 2))

    panel = slider_panel(f, x=(-1.0, 1.0, 0.5))
    shown = panel.png
    panel.controls["x"].value = -0.5
    assert "ValueError: x must be &gt;= 0, got -0.5" in panel.status.value
    assert panel.png == shown


def test_panel_coalesces_changes_that_arrive_while_it_is_busy():
    """In the kernel, changes come through the event loop: those that arrive before the panel's next run
    (a held key, presses made while it ran) give one run with the latest values, not one run each."""
    import asyncio
    calls = []
    panel_box = {}

    def slow(a=0.0):
        calls.append(a)
        if a == 0.1 and "panel" in panel_box:        # while this run is busy, three more presses arrive
            for v in (0.2, 0.3, 0.4):
                panel_box["panel"].controls["a"].value = v
        return plt.figure(figsize=(2, 2))

    async def reader():
        panel = panel_box["panel"] = slider_panel(slow, a=(0.0, 1.0, 0.1))
        for v in (0.05, 0.1):                         # two quick presses: the first is never run
            panel.controls["a"].value = v
        await asyncio.sleep(0.3)
        return panel

    panel = asyncio.run(reader())
    assert calls == [0.0, 0.1, 0.4] and panel.shown_values == {"a": 0.4}


def test_panel_on_release_says_working_and_its_static_text_names_the_controls():
    calls = []
    panel = slider_panel(_recorder(calls), continuous_update=False, a=(0.0, 2.0, 0.5), b=[1, 2, 3])
    assert panel.on_release and panel.state in panel.children
    assert not panel.controls["a"].continuous_update
    states = []
    panel.state.observe(lambda change: states.append(change["new"]), names="value")
    panel.controls["b"].value = 3
    assert states == ["working…", "&nbsp;"]
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == ("Slider: a; menu or field: b — move them to redraw the figure; the one above "
                                    "shows the starting values (run the notebook's cells first).")
    single = slider_panel(_recorder(calls), a=(0.0, 2.0, 0.5))._repr_mimebundle_()["text/plain"]
    assert single.startswith("Slider: a — move it to redraw the figure;"), single


def test_described_gives_any_widget_a_sentence():
    import ipywidgets as widgets
    from chapters.figures import described
    box = described(widgets.VBox([widgets.Button(description="go")]), "A button: press it (run the cells first).")
    bundle = box._repr_mimebundle_()
    assert bundle["text/plain"] == "A button: press it (run the cells first)."
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == box.model_id
    from IPython.core.formatters import DisplayFormatter
    data, _ = DisplayFormatter().format(box)
    assert data["text/plain"] == "A button: press it (run the cells first)."
    with pytest.raises(ValueError, match="sentence is empty"):
        described(widgets.Button(), "  ")


def test_panel_switches_to_redraw_on_release_when_its_function_is_slow():
    import time as clock

    def burn(seconds):
        end = clock.process_time() + seconds
        while clock.process_time() < end:
            pass

    def f(a=0.0):
        burn(0.35)
        return plt.figure(figsize=(2, 2))

    panel = slider_panel(f, a=(0.0, 1.0, 0.5))
    assert not panel.on_release and panel.controls["a"].continuous_update, "the first, cold run does not count"
    before = panel.children
    assert panel.state in before and panel.state.value == "&nbsp;"      # the state line's place is kept from the start
    panel.controls["a"].value = 0.5
    assert panel.on_release and not panel.controls["a"].continuous_update
    assert panel.children == before, "the switch must not add a line (the figure would jump down on that press)"


def test_plain_log_formatter_writes_powers_of_ten_as_text():
    from chapters.figures import PlainLogFormatter, plain_log_labels
    fig, ax = plt.subplots()
    ax.semilogy([1, 2], [1e-5, 3e-5])
    plain_log_labels(ax)
    fig.canvas.draw()
    majors = [t.get_text() for t in ax.yaxis.get_majorticklabels()]
    minors = [t.get_text() for t in ax.yaxis.get_minorticklabels() if t.get_text()]
    assert "10⁻⁵" in majors and not any("$" in t for t in majors + minors)
    assert "2×10⁻⁶" in minors
    assert PlainLogFormatter()(1000.0) == "10³"
    plt.close(fig)
