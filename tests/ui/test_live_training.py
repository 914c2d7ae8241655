"""Live training in JupyterLab: a watched cell draws its figure while it trains, its Stop button ends the cell
early, the network keeps what it learnt, and the widgets give way to a static figure and a sentence.

Everything is done as a reader would: chapter 5 is run (Run All, once per session, shared with the other
tests of that notebook), then new cells are typed at its end and run, and the buttons are clicked. The
Stop click has to reach a kernel that is busy running the cell (see chapters/live.py for how it does).
A screenshot of the figure in mid-run is kept in test-artifacts/ui/live_training.png.
"""
from __future__ import annotations

import re
import time

import pytest

from lab_driver import ARTIFACTS, ROOT

pytestmark = pytest.mark.ui

CH05 = "ch05_backprop.ipynb"
TRAIN_CELL = """\
live_net = TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0)
live_trainer = Trainer(live_net, x_train, t_train, x_test, t_test, epochs=30, mini_batch_size=100,
                       optimizer="sgd", optimizer_param={"lr": 0.1}, evaluate_sample_num_per_epoch=1000,
                       seed=0, progress=False)
w1_before = live_net.params["W1"].copy()
live_history = watch(live_trainer, "browser test: press Stop")"""
CHECK_CELL = """\
print(f"W1 changed: {bool(np.any(live_net.params['W1'] != w1_before))}; stopped: {live_history.stopped}; "
      f"iterations: {live_trainer.current_iter} of {live_trainer.epochs * live_trainer.iter_per_epoch}")"""
STOPPED = re.compile(r"Stopped after iteration ([\d,]+) of 18,000; parameters and history kept\.")


def run_new_cell(tab, code: str):
    """Add a code cell at the end of the notebook, type ``code`` into it and run it (Shift+Enter).
    Returns the cell's locator; the cell may still be running."""
    cells = tab.panel.locator(".jp-Notebook .jp-Cell")
    count = cells.count()
    cells.nth(count - 1).locator(".jp-InputPrompt").first.click()
    tab.page.keyboard.press("Escape")
    tab.page.keyboard.press("b")                                   # command mode: insert a cell below
    tab.page.wait_for_function(f"() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
                               f".jp-Notebook .jp-Cell').length > {count}")
    cell = cells.nth(count)
    tab.page.keyboard.press("Enter")                               # edit mode
    tab.page.keyboard.insert_text(code)
    tab.page.keyboard.press("Shift+Enter")
    return cell


def wait_until_done(tab, cell, timeout_s: float) -> str:
    """Wait until ``cell`` shows an execution number (it has ended); return its prompt."""
    prompt = cell.locator(".jp-InputPrompt").first
    tab.page.wait_for_function("el => /^\\[\\d+\\]/.test(el.textContent.trim())", arg=prompt.element_handle(),
                               timeout=timeout_s * 1000, polling=200)
    return prompt.inner_text().strip()


@pytest.mark.notebook(CH05)
def test_watched_cell_stops_on_click_and_keeps_what_it_learnt(lab):
    tab, state = lab.executed(CH05)
    assert not state["errors"], f"{CH05} did not run clean: {state['errors'][:1]}"
    cell = run_new_cell(tab, TRAIN_CELL)
    output = cell.locator(".jp-OutputArea")
    stop = output.locator("button", has_text="Stop")
    stop.wait_for(timeout=60_000)
    status = output.locator(".widget-label")
    tab.page.wait_for_function(                                   # a few epochs done, and frames drawn
        "([status, img]) => /epoch ([4-9]|\\d\\d) of/.test(status.textContent) && img && img.naturalWidth > 0",
        arg=[status.element_handle(), output.locator(".widget-image").element_handle()], timeout=120_000)
    time.sleep(2.0)                                               # a few more frames
    shown = status.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "live_training.png"
    cell.screenshot(path=str(shot))
    print(f"screenshot: {shot.relative_to(ROOT)}; status then: {shown}")
    assert "[*]" in cell.locator(".jp-InputPrompt").first.inner_text(), "the cell ended before Stop was pressed"

    stop.click()
    clicked = time.monotonic()
    wait_until_done(tab, cell, 60)
    ended_after = time.monotonic() - clicked
    tab.wait_idle(60)
    text = output.inner_text()
    found = STOPPED.search(text)
    assert found, f"no 'Stopped after iteration …' sentence; the cell shows:\n{text}"
    assert ended_after < 30, f"the cell ended {ended_after:.1f} s after Stop"
    assert output.locator("button").count() == 0, "the widgets were not replaced after training ended"
    assert output.locator("img").count() == 1, "the final figure is missing"

    check = run_new_cell(tab, CHECK_CELL)
    wait_until_done(tab, check, 60)
    result = check.locator(".jp-OutputArea").inner_text()
    m = re.search(r"W1 changed: (\w+); stopped: (\w+); iterations: (\d+) of (\d+)", result)
    assert m, f"unexpected output of the check cell:\n{result}"
    assert m.group(1, 2) == ("True", "True"), result
    assert int(m.group(3)) == int(found.group(1).replace(",", "")) < int(m.group(4)), result


@pytest.mark.notebook(CH05)
def test_training_panel_trains_on_click_and_stops(lab):
    tab, _ = lab.executed(CH05)
    train = tab.panel.locator(".jupyter-widgets button", has_text="Train")
    assert train.count() == 1, f"expected one Train button (two_layer_net_panel) in {CH05}, found {train.count()}"
    panel = tab.panel.locator(".widget-vbox").filter(has=tab.page.locator("button", has_text="Train")).last
    status = panel.locator(".widget-label").last
    # the smallest batch size: the longest run (12,000 updates in the notebook's 2 quick epochs, some 2 s;
    # at batch 100 a run is over in under a second, before a click on Stop can arrive)
    panel.locator("select").select_option("10")
    train.scroll_into_view_if_needed()
    train.click()
    tab.page.wait_for_function("el => /iteration [1-9]/.test(el.textContent)", arg=status.element_handle(),
                               timeout=60_000)
    assert train.is_disabled(), "Train must be disabled while a run is going on"
    panel.locator("button", has_text="Stop").click()
    tab.page.wait_for_function("el => /^Stopped after iteration [\\d,]+ of [\\d,]+; parameters and history kept/"
                               ".test(el.textContent)", arg=status.element_handle(), timeout=60_000)
    tab.page.wait_for_function("el => !el.disabled", arg=train.element_handle(), timeout=30_000)
