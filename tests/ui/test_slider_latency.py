"""Every slider of every slider panel, moved in the browser: how long until the new figure, and does it flicker.

For each chapter notebook (after Run All, quick mode), every slider of every panel gets ``PRESSES`` keyboard
steps, one at a time, as a reader would press them. For each press the page itself is sampled in every
animation frame (``requestAnimationFrame``, see ``NotebookTab.press_and_watch``): the time from key down
to the first frame showing the new, loaded figure; frames without a visible figure (blank); how much the
panel's height changed in between (layout jump); how long the final status text was shown before the
figure (text ahead of the picture).

Asserted: every press brings a new figure (no press is lost), and each slider's presses change the
picture itself (its bytes), so each panel really redraws. Reported, not asserted (the numbers depend on
the machine): the latency table (notebook, panel, slider, median ms, max ms, flicker count), printed and
written to test-artifacts/ui/slider_latency.md.
"""
from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path

import pytest

from lab_driver import ARTIFACTS, ERROR_PATTERN, ROOT, chapter_notebooks

pytestmark = pytest.mark.ui

NOTEBOOKS = [p.name for p in chapter_notebooks()]
PRESSES = 5                    # keyboard steps per slider
PRESS_TIMEOUT_S = 45.0         # a press whose figure has not come by then is lost
JUMP_PX = 2.0                  # a height change above this is a layout jump
REPORT = ARTIFACTS / "slider_latency.md"


def on(name: str):
    return pytest.param(name, marks=pytest.mark.notebook(name), id=Path(name).stem)


@pytest.fixture(scope="session")
def latency_rows():
    """Rows of the latency table, one per slider; written out at the end of the session (the conftest runs
    each notebook's tests together, so this module's tests are interleaved with other modules')."""
    rows: list[dict] = []
    started = time.strftime("%Y-%m-%d %H:%M")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    yield rows
    if rows:
        text = latency_table(rows, f"{started}, load average {load:.2f} at start, "
                                   f"DLFS_QUICK={os.environ.get('DLFS_QUICK', '')!r}")
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(text, encoding="utf-8")
        print("\n" + text + f"\n(written to {REPORT.relative_to(ROOT)})")


def _flickered(press: dict) -> bool:
    return press["blank_frames"] > 0 or press["height_jump_px"] > JUMP_PX


def latency_table(rows: list[dict], when: str) -> str:
    """The report: one Markdown row per slider, then totals."""
    lines = [f"# Slider latency ({when})", "",
             f"{PRESSES} keyboard steps per slider; latency = key down to the first frame showing the new figure. "
             f"Flicker = presses with a blank frame or a height change over {JUMP_PX:g} px.", "",
             "| notebook | panel | slider | median ms | max ms | flicker | blank frames | max jump px "
             "| text ahead ms (max) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lat = [p["latency_ms"] for p in r["presses"] if p["latency_ms"] is not None]
        leads = [p["text_lead_ms"] for p in r["presses"] if p["text_lead_ms"] is not None]
        lost = len(r["presses"]) - len(lat)
        cells = [r["notebook"], r["panel"], r["slider"],
                 f"{statistics.median(lat):.0f}" if lat else "—", f"{max(lat):.0f}" if lat else "—",
                 f"{sum(map(_flickered, r['presses']))}" + (f" ({lost} lost)" if lost else ""),
                 str(sum(p["blank_frames"] for p in r["presses"])),
                 f"{max(p['height_jump_px'] for p in r['presses']):.0f}",
                 f"{max(leads):.0f}" if leads else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    medians = [statistics.median(ms) for r in rows
               if (ms := [p["latency_ms"] for p in r["presses"] if p["latency_ms"] is not None])]
    presses = [p for r in rows for p in r["presses"]]
    lines += ["", f"{len(rows)} sliders: median over 150 ms: {sum(m > 150 for m in medians)}, "
                  f"over 300 ms: {sum(m > 300 for m in medians)}; "
                  f"presses with flicker: {sum(map(_flickered, presses))} of {len(presses)}; "
                  f"lost presses: {sum(p['latency_ms'] is None for p in presses)}.", ""]
    return "\n".join(lines)


def _direction(handle, previous: str) -> str:
    """Keep moving the way we went, turning back at either end of the slider."""
    now, lo, hi = (float(handle.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax"))
    if previous == "ArrowRight" and now >= hi:
        return "ArrowLeft"
    if previous == "ArrowLeft" and now <= lo:
        return "ArrowRight"
    return previous


@pytest.mark.parametrize("name", [on(n) for n in NOTEBOOKS])
def test_every_slider_redraws_its_panel(lab, name, latency_rows):
    tab, state = lab.executed(name)
    assert not state["errors"], f"{name} has error output after Run All; fix that first"
    panels = tab.slider_panels()
    if not panels:
        pytest.skip(f"{name} has no slider panel")
    problems = []
    for panel in panels:
        panel_name = ", ".join(tab.control_labels(panel))
        for label in tab.slider_labels(panel):
            if not label:
                problems.append(f"{panel_name}: a slider without a label")
                continue
            handle, _ = tab.slider(panel, label)
            handle.scroll_into_view_if_needed()
            key = "ArrowLeft" if float(handle.get_attribute("aria-valuenow")) >= float(
                handle.get_attribute("aria-valuemax")) else "ArrowRight"
            before = tab.figure_digest(panel)
            presses = []
            for _ in range(PRESSES):
                key = _direction(handle, key)
                presses.append(tab.press_and_watch(panel, handle, key, timeout_s=PRESS_TIMEOUT_S))
            after = tab.figure_digest(panel)
            latency_rows.append({"notebook": name.split("_")[0], "panel": panel_name, "slider": label,
                                 "presses": presses})
            lost = sum(p["latency_ms"] is None for p in presses)
            last_text = presses[-1]["text"]
            if re.search(ERROR_PATTERN, last_text, re.M):
                problems.append(f"{panel_name} / {label}: the panel shows an error:\n{last_text[:800]}")
            if lost:
                problems.append(f"{panel_name} / {label}: {lost} of {PRESSES} presses brought no new figure "
                                f"within {PRESS_TIMEOUT_S:.0f} s")
            if before is None or after == before:
                problems.append(f"{panel_name} / {label}: the figure did not change after {PRESSES} presses")
    assert not problems, f"{name}:\n" + "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# Presses faster than the panel can draw: one run with the latest values, not one run per press
# ---------------------------------------------------------------------------------------------
CH04 = next((n for n in NOTEBOOKS if n.startswith("ch04_")), None)
_JS_COUNT_RENDERS = """el => {
  const img = el.querySelector('.dlfs-panel-figure') || el.querySelector('img');
  const state = el.querySelector('.dlfs-panel-state');
  const seen = {renders: 0, working: 0};
  el.__dlfsRenders = seen;
  new MutationObserver(() => { seen.renders += 1; }).observe(img, {attributes: true, attributeFilter: ['src']});
  if (state) new MutationObserver(() => { if (/working/.test(state.textContent)) seen.working += 1; })
      .observe(state, {childList: true, subtree: true, characterData: true});
}"""


@pytest.mark.skipif(CH04 is None, reason="no ch04 notebook")
@pytest.mark.parametrize("name", [on(CH04)] if CH04 else [])
def test_rapid_presses_are_coalesced(lab, name):
    """Six presses at once on the descent panel (it redraws on release): the panel says ``working…``,
    draws at most three times (not once per press, one after the other), and ends on the last value."""
    tab, _ = lab.executed(name)
    panel = tab.slider_panel(("lr", "step_num", "x0", "x1"))
    assert panel.count() == 1, f"expected one descent panel in {name}, found {panel.count()}"
    handle, value = tab.slider(panel, "step_num")
    handle.scroll_into_view_if_needed()
    start = int(tab.readout(value))
    key, sign = ("ArrowLeft", -1) if start > 50 else ("ArrowRight", 1)
    tab.rendered(panel)
    panel.evaluate(_JS_COUNT_RENDERS)
    # six presses in one go (one browser task): all reach the kernel while the first one is being drawn
    handle.evaluate("""(el, key) => { el.focus(); for (let i = 0; i < 6; i++) el.dispatchEvent(
        new KeyboardEvent('keydown', {key: key, code: key, bubbles: true, cancelable: true})); }""", key)
    target = start + 6 * sign
    tab.page.wait_for_function(
        """([el, target]) => { const s = el.querySelector('.dlfs-panel-status');
             return s && new RegExp(`, ${target} steps: `).test(s.textContent)
                    && !/working/.test((el.querySelector('.dlfs-panel-state') || {textContent: ''}).textContent); }""",
        arg=[panel.element_handle(), target], timeout=60_000)
    counts = panel.evaluate("el => el.__dlfsRenders")
    print(f"6 presses at once: {counts['renders']} figure(s) drawn, 'working…' shown {counts['working']} time(s)")
    assert int(tab.readout(value)) == target
    assert 1 <= counts["renders"] <= 3, f"{counts['renders']} figures drawn for 6 quick presses (coalescing broken?)"
    assert counts["working"] >= 1, "the panel never said working…"
