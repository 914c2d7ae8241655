"""The lab as readers use it: each notebook in JupyterLab in Chromium, Run All, and its sliders moved.

nbval runs the kernels headless; these tests go through the browser instead, so they also catch a widget
extension that does not load, a kernel that does not start from JupyterLab, and a slider whose callback
raises. Everything is read from the page (prompts, outputs, the sliders' readouts), and every wait is
for something to appear in it, never a fixed sleep.

Each notebook is run once per session (in quick mode); its slider tests reuse that tab.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab_driver import ARTIFACTS, ROOT, RUN_ALL_TIMEOUT_S, chapter_notebooks

pytestmark = pytest.mark.ui

NOTEBOOKS = [p.name for p in chapter_notebooks()]


def on(name: str):
    """Parametrize/mark helper: this test drives notebook ``name`` (keeps a notebook's tests together)."""
    return pytest.param(name, marks=pytest.mark.notebook(name), id=Path(name).stem)


def _format_errors(errors: list[dict]) -> str:
    return "\n\n".join(f"code cell #{e['cell'] + 1}:\n{e['text'][:1200]}" for e in errors)


# ---------------------------------------------------------------------------------------------
# a. Every notebook: opens, its kernel reaches Idle, Run All completes with no error output.
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [on(n) for n in NOTEBOOKS])
def test_notebook_runs_clean_in_jupyterlab(lab, name):
    tab, state = lab.executed(name)
    print(f"{name}: kernel idle after {tab.timings['open_to_idle_s']:.1f} s, "
          f"Run All {tab.timings['run_all_s']:.1f} s (bound {RUN_ALL_TIMEOUT_S:.0f} s), "
          f"{state['executed']}/{state['expected']} code cells executed")
    assert not state["errors"], f"error output in {name}:\n{_format_errors(state['errors'])}"
    assert state["executed"] == state["expected"], (
        f"Run All executed {state['executed']} of {state['expected']} non-blank code cells of {name}")


# ---------------------------------------------------------------------------------------------
# b. Chapter 2: the w1/w2/b sliders of plot_decision_line change the gate and re-render the figure.
# ---------------------------------------------------------------------------------------------
CH02 = "ch02_perceptron.ipynb"
CH02_START = (0.5, 0.5, -0.7, "AND")           # the panel's initial w1, w2, b and the gate they make
# (slider, key, presses, readout afterwards, gate afterwards); each move changes the gate, and every
# point stays at least 0.1 away from the line, so float rounding cannot flip an output.
CH02_MOVES = [
    ("b", "ArrowRight", 3, "-0.40", "OR"),       # (0.5, 0.5, -0.4): one input is enough
    ("w1", "ArrowLeft", 3, "0.20", "none"),      # (0.2, 0.5, -0.4): only x2 matters -> no named gate
    ("w2", "ArrowLeft", 2, "0.30", "AND"),       # (0.2, 0.3, -0.4): both inputs needed again
]


def test_ch02_moves_are_what_the_library_says():
    """The expectations above, checked against chapters.ch02 itself (no browser)."""
    from chapters.ch02 import match_gate, perceptron_outputs
    w = dict(zip(("w1", "w2", "b"), CH02_START[:3]))
    assert match_gate(perceptron_outputs(*w.values())) == CH02_START[3]
    for slider, key, presses, readout, gate in CH02_MOVES:
        w[slider] = float(readout)
        assert match_gate(perceptron_outputs(w["w1"], w["w2"], w["b"])) == gate, (slider, readout)


@pytest.mark.skipif(CH02 not in NOTEBOOKS, reason=f"{CH02} does not exist")
@pytest.mark.parametrize("name", [on(CH02)])
def test_ch02_sliders_change_the_gate_and_the_figure(lab, name):
    tab, _ = lab.executed(name)
    panel = tab.slider_panel(("w1", "w2", "b"))
    assert panel.count() == 1, f"expected one slider panel with w1, w2, b in {name}, found {panel.count()}"
    shown = tab.rendered(panel)
    assert re.search(rf"^gate: {CH02_START[3]}$", shown["text"], re.M), shown["text"]
    assert shown["src"], "the panel shows no figure"
    for slider, key, presses, readout, gate in CH02_MOVES:
        handle, value = tab.slider(panel, slider)
        after = tab.move(panel, handle, key, presses, rf"^gate: {gate}$")
        assert re.search(rf"^gate: {gate}$", after["text"], re.M), (
            f"after {presses}x {key} on {slider}: expected 'gate: {gate}', the panel shows:\n{after['text']}")
        assert tab.readout(value) == readout, f"{slider} readout after {presses}x {key}"
        assert after["digest"] != shown["digest"], f"figure not re-rendered after moving {slider}"
        assert after["figures"] == 1, f"the panel shows {after['figures']} figures after moving {slider}"
        shown = after
    # A screenshot of a passing run, kept on purpose (test-artifacts/ui/ is git-ignored).
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "ch02_sliders_after_moves.png"
    tab.wait_idle(60)
    panel.scroll_into_view_if_needed()
    tab.page.screenshot(path=str(shot))
    print(f"screenshot: {shot.relative_to(ROOT)}")


# ---------------------------------------------------------------------------------------------
# c. Chapter 3: the MNIST index slider changes the digit shown and the prediction text.
# ---------------------------------------------------------------------------------------------
CH03 = "ch03_neural_networks.ipynb"
STATUS_CH03 = r"^index (\d+): true (\d), predicted (\d) \(p=([\d.]+)\)$"


@pytest.mark.skipif(CH03 not in NOTEBOOKS, reason=f"{CH03} does not exist")
@pytest.mark.parametrize("name", [on(CH03)])
def test_ch03_index_slider_changes_digit_and_prediction(lab, name):
    from dataset.mnist import load_mnist
    (_, _), (_, t_test) = load_mnist()
    tab, _ = lab.executed(name)
    panel = tab.slider_panel(("index",))
    assert panel.count() == 1, f"expected one panel with an 'index' slider in {name}, found {panel.count()}"
    shown = tab.rendered(panel)
    first = re.search(STATUS_CH03, shown["text"], re.M)
    assert first and first.group(1) == "0" and int(first.group(2)) == t_test[0], shown["text"]
    handle, value = tab.slider(panel, "index")
    for index in (1, 2):
        after = tab.move(panel, handle, "ArrowRight", 1, rf"^index {index}: true \d, predicted \d")
        assert after["figures"] == 1, f"the panel shows {after['figures']} figures for index {index}"
        m = re.search(STATUS_CH03, after["text"], re.M)
        assert m, f"no status line for index {index}; the panel shows:\n{after['text']}"
        assert int(m.group(2)) == t_test[index], f"index {index}: shows true {m.group(2)}, MNIST says {t_test[index]}"
        assert tab.readout(value) == str(index)
        assert after["digest"] != shown["digest"], f"digit/figure not re-rendered for index {index}"
        before = re.search(STATUS_CH03, shown["text"], re.M)
        assert m.group(3, 4) != before.group(3, 4), "the prediction text did not change"
        shown = after


# ---------------------------------------------------------------------------------------------
# d. One slider per later chapter, as the chapters land. Add an entry when a chapter gets sliders;
#    a later chapter without an entry still gets its first slider moved (any re-render counts).
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SliderCase:
    chapter: str                 # notebook name prefix, e.g. "ch04"
    panel: tuple[str, ...]       # control labels that identify the slider_panel
    slider: str                  # the slider to move ...
    key: str                     # ... with ArrowLeft / ArrowRight ...
    presses: int                 # ... this many times (the other way if the start leaves no room);
                                 # its readout must move by presses x step
    step: float
    status: str                  # regex the status line must match afterwards; {value} = the new readout


# A slider starts at the function's default, or where the notebook's widget puts it; the cases read the
# start from the page, so a notebook may change it.
LATER_SLIDERS = [
    SliderCase("ch04", ("lr", "step_num", "x0", "x1"), "x0", "ArrowLeft", 6, 0.5,           # plot_descent_path
               r"^lr = 0\.1, \d+ steps: end \("),
    SliderCase("ch05", ("apple", "apple_num", "tax"), "apple_num", "ArrowRight", 1, 1,      # plot_apple_graph
               r"^price [\d.]+ \| d/d apple [\d.]+, d/d num [\d.]+, d/d tax [\d.]+$"),
    SliderCase("ch06", ("optimizer", "lr", "steps", "x0", "y0"), "steps", "ArrowLeft", 5, 1,  # optimizer_explorer
               r"^sgd lr=0\.1, {value} steps: "),
    SliderCase("ch07", ("index", "kernel", "stride", "pad"), "stride", "ArrowRight", 1, 1,  # convolution_playground
               r"^kernel: .+ \| stride {value}, pad \d+\nOH = OW = "),
]
LATER = [n for n in NOTEBOOKS if re.match(r"ch(\d+)_", n) and int(re.match(r"ch(\d+)_", n).group(1)) >= 4]


@pytest.mark.parametrize("name", [on(n) for n in LATER])
def test_later_chapter_slider_rerenders(lab, name):
    case = next((c for c in LATER_SLIDERS if name.startswith(c.chapter + "_")), None)
    tab, _ = lab.executed(name)
    if case is None:                        # no entry yet: the first slider of the first slider panel
        panels = tab.page.locator(".widget-interact").filter(has=tab.page.locator(".noUi-handle"))
        if panels.count() == 0:
            pytest.skip(f"{name} has no slider panel")
        panel = panels.first
        handle = panel.locator(".noUi-handle").first
        at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
        key, presses = ("ArrowLeft" if at_max else "ArrowRight"), 1
        status = ""
    else:
        panel = tab.slider_panel(case.panel)
        assert panel.count() == 1, f"expected one slider panel with {case.panel} in {name}, found {panel.count()}"
        handle, value = tab.slider(panel, case.slider)
        presses, sign = case.presses, (1 if case.key == "ArrowRight" else -1)
        lo, hi = (float(handle.get_attribute(a)) for a in ("aria-valuemin", "aria-valuemax"))
        start = float(tab.readout(value))
        if not lo <= start + sign * presses * case.step <= hi:    # no room that way from this start
            sign = -sign
        key, target = ("ArrowRight" if sign > 0 else "ArrowLeft"), start + sign * presses * case.step
        shown_value = f"{target:g}"
        status = case.status.replace("{value}", re.escape(shown_value))
    shown = tab.rendered(panel)
    assert shown["src"], f"the slider panel of {name} shows no figure"
    after = tab.move(panel, handle, key, presses, status)
    hint = "" if case else f" (add a SliderCase for {name[:4]} to LATER_SLIDERS)"
    assert after["digest"] != shown["digest"], (
        f"the figure did not change after {presses}x {key}{hint}:\n{after['text']}")
    assert after["text"] != shown["text"], f"the status text did not change after {presses}x {key}{hint}"
    if case is not None:
        assert re.search(status, after["text"], re.M), (
            f"after {presses}x {key} on {case.slider}: expected /{status}/, the panel shows:\n{after['text']}")
        assert float(tab.readout(value)) == pytest.approx(target), f"{case.slider} readout"
        assert after["figures"] == 1, f"the panel shows {after['figures']} figures"
