"""The draw-a-digit panel in JupyterLab: draw with the mouse on the canvas, read the networks' answers.

Chapter 8's panel is used (three networks and the shift sliders). After Run All, a "1" (one vertical
stroke) and a "7" (the bar, then the stem) are drawn with Playwright's mouse, exactly as a reader drags;
the answers are read from the panel's text ("SimpleConvNet: 7 (1.00)"). A screenshot of the panel is saved
to test-artifacts/ui/ch08_canvas.png.
"""
from __future__ import annotations

import re

import pytest
from lab_driver import ARTIFACTS

pytestmark = pytest.mark.ui

CH08 = "ch08_deep_learning.ipynb"
CANVAS_SIZE = 280
# (x, y) in canvas pixels, as a reader would draw them
STROKE_ONE = [[(146, 42), (144, 80), (141, 125), (138, 170), (135, 212), (133, 238)]]
STROKE_SEVEN = [[(60, 58), (110, 55), (160, 53), (212, 52)],
                [(212, 52), (196, 90), (178, 130), (160, 172), (146, 210), (138, 240)]]
ANSWER = re.compile(r"^SimpleConvNet: (\d) \((\d\.\d\d)\)", re.MULTILINE)
UPDATE_TIMEOUT_MS = 60_000


def test_the_drawings_are_what_the_library_reads():
    """The strokes below, through chapters.canvas with the committed weights (no browser): 1 and 7."""
    import numpy as np

    from chapters.canvas import class_probabilities, to_mnist
    from common.config import WEIGHTS_DIR
    from common.networks import SimpleConvNet

    net = SimpleConvNet(dtype=np.float32)
    net.load_params(WEIGHTS_DIR / "simple_convnet.npz")
    for strokes, digit in [(STROKE_ONE, 1), (STROKE_SEVEN, 7)]:
        assert int(np.argmax(class_probabilities(net, to_mnist(strokes)))) == digit


def _answers_text(panel) -> list[str]:
    return panel.locator(".dlfs-answer, .dlfs-timing").all_inner_texts()


def _wait_for_text(tab, panel, pattern: str) -> str:
    """Wait until the panel's answer lines match ``pattern`` (multiline regex); return their text."""
    handle = panel.element_handle()
    tab.page.wait_for_function(
        """([el, pattern]) => {
            const lines = [...el.querySelectorAll('.dlfs-answer, .dlfs-timing')].map(e => e.innerText.trim());
            return new RegExp(pattern, 'm').test(lines.join('\\n'));
        }""", arg=[handle, pattern], timeout=UPDATE_TIMEOUT_MS)
    return "\n".join(line.strip() for line in _answers_text(panel))


def _draw(tab, canvas, strokes) -> None:
    """Drag the mouse along each stroke: press at its first point, move through the rest, release."""
    box = canvas.bounding_box()
    scale_x, scale_y = box["width"] / CANVAS_SIZE, box["height"] / CANVAS_SIZE
    mouse = tab.page.mouse
    for stroke in strokes:
        points = [(box["x"] + x * scale_x, box["y"] + y * scale_y) for x, y in stroke]
        mouse.move(*points[0])
        mouse.down()
        for point in points[1:]:
            mouse.move(*point, steps=6)
        mouse.up()


def _clear(tab, panel) -> None:
    panel.locator("button.dlfs-draw-clear").click()
    _wait_for_text(tab, panel, r"^Draw a digit")


@pytest.mark.notebook(CH08)
def test_ch08_canvas_reads_a_drawn_one_and_seven(lab):
    tab, state = lab.executed(CH08)
    assert not state["errors"], f"Run All of {CH08} showed errors: {state['errors'][:1]}"
    panel = tab.page.locator(".dlfs-digit-panel")
    assert panel.count() == 1, f"expected one draw-a-digit panel in {CH08}, found {panel.count()}"
    canvas = panel.locator("canvas.dlfs-draw-canvas")
    canvas.scroll_into_view_if_needed()
    canvas.wait_for()

    read = {}
    for name, strokes in [("one", STROKE_ONE), ("seven", STROKE_SEVEN)]:
        _clear(tab, panel)
        _draw(tab, canvas, strokes)
        count = f"{len(strokes)} stroke" + "s" * (len(strokes) != 1)
        text = _wait_for_text(tab, panel, rf"^{count}, answered in \d+ ms")
        match = ANSWER.search(text)
        assert match, f"no SimpleConvNet answer in the panel after drawing a {name}:\n{text}"
        read[name] = (int(match.group(1)), float(match.group(2)))
        assert re.search(r"^DeepConvNet: \d \(", text, re.MULTILINE) and re.search(r"^MLP \(ch\. 3\): \d \(", text, re.MULTILINE), text
    print("SimpleConvNet read:", read)
    assert read["one"][0] == 1, f"the drawn 1 was read as {read['one']}"
    assert read["seven"][0] == 7, f"the drawn 7 was read as {read['seven']}"

    # The shift control: dx two steps right, by keyboard as a reader would; every line reports the moved digit.
    dx_row = panel.locator(".widget-slider").filter(has=tab.page.locator(".widget-label", has_text="dx (right)"))
    handle = dx_row.locator(".noUi-handle")
    handle.focus()
    for _ in range(2):
        handle.press("ArrowRight")
    text = _wait_for_text(tab, panel, r"^SimpleConvNet: 7 \(\d\.\d\d\); shifted 2 px right: \d \(\d\.\d\d\), "
                                      r"(keeps|changes) its answer")
    assert text.count("shifted 2 px right") == 3, text

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "ch08_canvas.png"
    panel.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
