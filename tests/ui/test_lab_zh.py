"""`make lab-zh`: the Chinese edition in a JupyterLab whose menus are Chinese.

The real target runs (``lab_driver.start_make_lab``). It must open on notebooks/zh/, show JupyterLab's
menus in Chinese, keep its locale in a settings folder of the project's own (the reader's global
JupyterLab settings untouched), and run a Chinese notebook clean from 运行 → 运行所有单元格. A screenshot of
that notebook is kept as test-artifacts/ui/zh_notebook.png, and the page is checked to draw Chinese
characters as real glyphs, not as the empty boxes of a missing font.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from lab_driver import ARTIFACTS, KERNEL_ENV, LAB_SETTINGS, ROOT, NotebookTab, http_get, start_make_lab

pytestmark = pytest.mark.ui

NOTEBOOK = "zh/ch02_perceptron.ipynb"
LOCALE_SETTING = "@jupyterlab/translation-extension/plugin.jupyterlab-settings"
# The menu bar as jupyterlab-language-pack-zh-CN labels it (File, Edit, View, Run, Kernel).
MENUS_ZH = ["文件", "编辑", "查看", "运行", "内核"]
# The labels NotebookTab.run_all clicks, in Chinese.
LABELS_ZH = {"Edit": "编辑", "Run": "运行", "Clear Outputs of All Cells": "清除所有单元格的输出",
             "Run All Cells": "运行所有单元格"}
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


class ChineseNotebookTab(NotebookTab):
    """A notebook tab in the Chinese interface: menus and the status bar's kernel state are Chinese."""

    def menu(self, menu: str, item: str) -> None:
        super().menu(LABELS_ZH[menu], LABELS_ZH[item])

    def wait_idle(self, timeout_s: float) -> None:
        self.panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
            timeout=timeout_s * 1000)
        self.page.locator(".jp-StatusBar-Widget").get_by_text(re.compile(r"\|\s*空闲")).first.wait_for(
            timeout=timeout_s * 1000)


# Draw two different Chinese characters in the font the notebook's first heading uses: a missing font
# draws every character as the same empty box, so two identical drawings mean boxes, not characters.
_JS_GLYPHS_DIFFER = """([a, b]) => {
  const h = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedMarkdown h1');
  const font = getComputedStyle(h || document.body).font;
  const draw = ch => {
    const c = document.createElement('canvas'); c.width = 64; c.height = 64;
    const g = c.getContext('2d'); g.font = font.replace(/\\d+(\\.\\d+)?px/, '40px'); g.fillText(ch, 4, 48);
    return Array.from(g.getImageData(0, 0, 64, 64).data).join(',');
  };
  const blank = Array(64 * 64 * 4).fill(0).join(',');
  const da = draw(a), db = draw(b);
  return {font: font, differ: da !== db, drawn: da !== blank && db !== blank};
}"""


def test_language_pack_and_setting_exist():
    """The locale setting lab-zh writes is the one JupyterLab's translation plugin reads, and the pack
    that supplies zh_CN is installed in the project's environment."""
    schema = ROOT / ".venv" / "share" / "jupyter" / "lab" / "schemas" / Path(LOCALE_SETTING).parent / "plugin.json"
    assert "locale" in json.loads(schema.read_text(encoding="utf-8"))["properties"], schema
    packs = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c",
                            "import jupyterlab_language_pack_zh_CN, sys; print(jupyterlab_language_pack_zh_CN.__file__)"],
                           capture_output=True, text=True)
    assert packs.returncode == 0, "jupyterlab-language-pack-zh-CN is not installed in .venv: " + packs.stderr[-500:]


@needs_make
def test_lab_zh_keeps_its_locale_in_the_project():
    """make lab-zh writes zh_CN into a settings folder inside the project and points JupyterLab at it;
    nothing in the reader's own ~/.jupyter is named."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    plan = subprocess.run(["make", "-n", "--no-print-directory", "lab-zh"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    commands = plan.stdout.replace("\\\n", " ").splitlines()          # continued lines joined
    lab_line = next(line for line in commands if "jupyter lab" in line)
    folder = Path(re.search(r'--LabApp\.user_settings_dir="([^"]+)"', lab_line).group(1))
    assert folder.is_absolute() and ROOT in folder.parents, folder
    assert re.search(r"--LabApp\.default_url=/lab/tree/notebooks/zh\b", lab_line), lab_line
    write = next(line for line in commands if "zh_CN" in line)
    assert write.startswith("""echo '{"locale": "zh_CN"}' > """), write
    assert (ROOT / write.split(" > ", 1)[1].strip('"')).resolve() == (folder / LOCALE_SETTING).resolve(), write
    assert "/.jupyter/" not in plan.stdout and "~/" not in plan.stdout


@pytest.fixture
def lab_zh(browser_context, tmp_path):
    """``make lab-zh`` running, with the test's own settings folder (autosave off, every cell in the DOM,
    as for the other browser tests), into which make writes its locale as into its default folder.
    Yields (server, settings folder, tabs); the tabs are closed and the server stopped afterwards."""
    settings = tmp_path / "lab-settings"
    for rel, values in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(values))
    server = start_make_lab("lab-zh", tmp_path, f"ZH_SETTINGS={settings}", env=KERNEL_ENV)
    tabs: list[NotebookTab] = []
    try:
        yield server, settings, tabs
    finally:
        for tab in tabs:
            tab.close()
        strays = server.stop()
    assert not strays, "processes outlived make lab-zh:\n" + "\n".join(strays)


@needs_make
def test_make_lab_zh_is_chinese_and_runs_a_chinese_notebook(lab_zh, browser_context, request):
    server, settings, tabs = lab_zh
    assert json.loads((settings / LOCALE_SETTING).read_text()) == {"locale": "zh_CN"}

    # It opens on the Chinese edition: notebooks/zh/ (or its start page).
    req = urllib.request.Request(f"{server.url}/", headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        landed = resp.url
    assert landed.startswith(f"{server.url}/lab/tree/notebooks/zh"), landed
    status, body = http_get(f"{server.url}/lab/api/translations/zh_CN", server.token, timeout=30)
    assert status == 200, body[:300]
    assert json.loads(body)["data"]["jupyterlab"]["Run All Cells"] == ["运行所有单元格"]

    tab = ChineseNotebookTab.open(server, browser_context, NOTEBOOK)
    tabs.append(tab)
    request.node._ui_tabs = [tab]                       # screenshot + console log if this test fails
    menus = [t.strip() for t in tab.page.locator(".lm-MenuBar-itemLabel").all_inner_texts()]
    assert all(m in menus for m in MENUS_ZH), f"the menu bar is not Chinese: {menus}"
    assert "File" not in menus and "Kernel" not in menus, menus

    state = tab.run_all()
    assert not state["errors"], "errors in the Chinese notebook:\n" + "\n---\n".join(
        f"cell {e['cell']}: {e['text']}" for e in state["errors"])
    assert state["expected"] > 0 and state["executed"] >= state["expected"], state

    tab.page.locator(".jp-RenderedMarkdown h1").first.scroll_into_view_if_needed()
    shot = ARTIFACTS / "zh_notebook.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(shot))
    glyphs = tab.page.evaluate(_JS_GLYPHS_DIFFER, ["第", "章"])
    assert glyphs["drawn"] and glyphs["differ"], (
        f"Chinese characters are drawn as boxes in font {glyphs['font']!r}: no CJK font is installed "
        "(Debian: apt-get install fonts-noto-cjk)")
