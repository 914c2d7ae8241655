"""A saved notebook reopens with its widgets, not with "Error displaying widget: model not found".

What a reader does: open a chapter, Run All, save (or let autosave do it), close it, come back later. A
widget's output in the notebook file names a model that lived in the kernel; the new kernel has none. Unless
JupyterLab saved the widgets' state with the notebook (``saveState`` of
``@jupyter-widgets/jupyterlab-manager:plugin``, turned on by the project's ``jupyter/overrides.json``), each
widget shows that error instead: chapter 4 showed it three times, once per slider panel.

The shared test server refuses every save, so this test runs a JupyterLab of its own on a scratch folder,
with the committed ``jupyter/overrides.json`` as its application settings (as ``make lab`` installs it into
the venv). The notebook is a small one made here with the lab's own widgets (two slider panels and, where
``chapters.canvas`` exists, the drawing canvas), so that the test does not wait for a chapter's training.
"""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from lab_driver import (ARTIFACTS, KERNEL_ENV, ROOT, VENV_PYTHON, LabServer, NotebookTab, free_port,
                        wait_for_status, write_private_jupyter_dirs)

pytestmark = pytest.mark.ui

NAME = "widgets_reopen.ipynb"
OVERRIDES = ROOT / "jupyter" / "overrides.json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

# What each code cell of the open notebook shows from the given one on: "shown" (a widget is drawn: ipywidgets
# controls or the drawing canvas), "failed" (the error placeholder) or "none" (nothing of either, yet).
_JS_WIDGET_CELLS = """(first) => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  return [...panel.querySelectorAll('.jp-CodeCell')].slice(first).map(cell => {
    const out = cell.querySelector('.jp-OutputArea');
    if (!out) return 'none';
    if (/Error displaying widget/.test(out.innerText || '')) return 'failed';
    return out.querySelector('.jupyter-widgets, canvas') ? 'shown' : 'none';
  });
}"""


def start_saving_server(home: Path, root: Path, app_settings: Path) -> LabServer:
    """JupyterLab on ``root`` that may save (unlike the shared test server), private config/data/runtime
    under ``home``, ``app_settings`` as its application settings folder (where overrides.json is read)."""
    port, token = free_port(), secrets.token_hex(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "JPY_"))}
    env.update(KERNEL_ENV)
    env.update(write_private_jupyter_dirs(home))
    # Test-only user setting: every cell attached to the DOM, so that all outputs can be counted.
    user = home / "user-settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(json.dumps({"windowingMode": "none"}))
    cmd = [str(VENV_PYTHON), "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--LabApp.app_settings_dir={app_settings}", f"--LabApp.user_settings_dir={home / 'user-settings'}",
           f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = ARTIFACTS / "widget-state-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    server = LabServer(home=home, port=port, token=token, proc=proc, log=log, env=env)
    try:
        wait_for_status(server.url, token, proc, log, timeout=120)
    except Exception:
        server.stop()
        raise
    return server


def wait_for_save(path: Path, before_ns: int, timeout_s: float = 60.0) -> dict:
    """The notebook as the server saved it, once a save that began after ``before_ns`` (mtime) has finished.

    jupyter_server does not write by rename: it copies the old file to ``.~name``, truncates and rewrites
    ``name`` in place, then deletes the copy. A reader that looks as soon as the mtime moves can see an empty
    or half-written file, so this waits until the copy is gone and the file parses as a whole notebook."""
    backup = path.with_name(".~" + path.name)
    deadline = time.monotonic() + timeout_s
    last_error = "the file's mtime did not change"
    while time.monotonic() < deadline:
        if path.stat().st_mtime_ns != before_ns and not backup.exists():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:          # caught between truncation and the last write
                last_error = f"the file did not parse: {exc}"
        time.sleep(0.2)
    raise AssertionError(f"the notebook was not saved within {timeout_s:.0f} s ({last_error})")


def saved_widgets(nb: dict) -> tuple[list[str], dict]:
    """(model ids of the notebook's widget outputs, the widget state saved in its metadata)."""
    views = [out["data"][WIDGET_VIEW]["model_id"] for cell in nb["cells"] if cell["cell_type"] == "code"
             for out in cell.get("outputs", []) if WIDGET_VIEW in out.get("data", {})]
    state = nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return views, state


def test_the_project_settings_keep_widget_state():
    settings = json.loads(OVERRIDES.read_text(encoding="utf-8"))
    assert settings["@jupyter-widgets/jupyterlab-manager:plugin"] == {"saveState": True}
    schema = (VENV_PYTHON.parents[1] / "share" / "jupyter" / "labextensions" / "@jupyter-widgets" /
              "jupyterlab-manager" / "schemas" / "@jupyter-widgets" / "jupyterlab-manager" / "plugin.json")
    if schema.exists():                      # the setting is the widget manager's own (id and name)
        assert "saveState" in json.loads(schema.read_text(encoding="utf-8"))["properties"]


WIDGET_CELLS = [
    "import numpy as np\nimport matplotlib.pyplot as plt\nfrom chapters.figures import slider_panel",
    "def wave(freq=1.0, kind='sin'):\n"
    "    x = np.linspace(0, 1, 200)\n"
    "    plt.figure(figsize=(3, 2))\n"
    "    plt.plot(x, getattr(np, kind)(2 * np.pi * freq * x))\n"
    "    return f'{kind}, frequency {freq}'",
    "slider_panel(wave, freq=(0.5, 3.0, 0.5))",
    "slider_panel(wave, kind=['sin', 'cos'])",
]
FIRST_WIDGET = 2                 # the cells from this one on each show one widget
if importlib.util.find_spec("chapters.canvas") is not None:
    WIDGET_CELLS.append("from chapters.canvas import DrawCanvas\nDrawCanvas()")


def widget_cells(tab: NotebookTab, settled: bool = True, timeout_s: float = 60.0) -> list[str]:
    """What the widget cells show (see _JS_WIDGET_CELLS), once none of them is still empty."""
    if settled:
        tab.page.wait_for_function(f"() => {{ const s = ({_JS_WIDGET_CELLS})({FIRST_WIDGET}); "
                                   "return s && s.length && !s.includes('none'); }", timeout=timeout_s * 1000)
    return tab.page.evaluate(_JS_WIDGET_CELLS, FIRST_WIDGET)


def run_all(tab: NotebookTab, code_cells: int, timeout_s: float = 120.0) -> dict:
    """Run ▸ Run All Cells and wait until every code cell has run (or an error shows)."""
    tab.menu("Run", "Run All Cells")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = tab.state()
        if state and state["running"] == 0 and state["status"] == "idle" and (
                state["executed"] >= code_cells or state["errors"]):
            return state
        time.sleep(0.25)
    raise AssertionError(f"Run All did not finish within {timeout_s:.0f} s: {tab.state()}")


def test_saved_notebook_reopens_with_its_widgets(browser_context, tmp_path):
    root = tmp_path / "root"
    (root / "notebooks").mkdir(parents=True)
    notebook = root / "notebooks" / NAME
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in WIDGET_CELLS],
                                            metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                     "display_name": "Python 3"}}), notebook)
    app_settings = tmp_path / "app-settings"
    app_settings.mkdir()
    shutil.copy(OVERRIDES, app_settings / "overrides.json")
    server = start_saving_server(tmp_path / "jupyter", root, app_settings)
    tabs = []
    try:
        # 1. Open, Run All: the widgets come alive in this kernel.
        tab = NotebookTab.open(server, browser_context, NAME)
        tabs.append(tab)
        state = run_all(tab, len(WIDGET_CELLS))
        assert not state["errors"] and state["executed"] == len(WIDGET_CELLS), state
        n_widgets = len(WIDGET_CELLS) - FIRST_WIDGET
        assert widget_cells(tab) == ["shown"] * n_widgets

        # 2. Save, as Ctrl+S or autosave would, and check what went into the file.
        before = notebook.stat().st_mtime_ns
        tab.menu("File", "Save Notebook")
        views, saved_state = saved_widgets(wait_for_save(notebook, before))
        assert len(views) == n_widgets, views
        missing = [v for v in views if v not in saved_state]         # asserted after the reader's view

        # 3. Close it and shut its kernel down, then reopen: a new kernel, which has none of those models.
        tab.close()
        tabs.remove(tab)
        tab = NotebookTab.open(server, browser_context, NAME)
        tabs.append(tab)
        reopened = widget_cells(tab)
        tab.page.screenshot(path=str(ARTIFACTS / "widget_state_reopened.png"))
        print(f"reopened after save: {reopened.count('shown')} of {n_widgets} widgets shown, "
              f"'Error displaying widget' {reopened.count('failed')} times")
        assert reopened == ["shown"] * n_widgets, reopened
        assert not missing, f"widget outputs saved without their models' state: {missing}"
    finally:
        for t in tabs:
            t.close()
        strays = server.stop()
    assert not strays, strays
