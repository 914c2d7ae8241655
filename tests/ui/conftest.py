"""Fixtures of the browser tests (``make test-ui``; ``make test`` runs them after the other tests).

* ``lab_server`` (session): JupyterLab from ``.venv`` on 127.0.0.1, random port and token, quick mode in
  its kernels; stopped at the end, and the session fails if any of its processes outlives it.
* ``browser_context`` (session): the system Chromium driven by Playwright, with a fresh profile.
* ``lab`` (per test): opens notebooks in tabs; Run All of a notebook is done once per session and the
  executed tab is reused by the slider tests of that notebook (tests are ordered so that they follow it).

Without Chromium or Playwright the browser tests skip and say why; with ``DLFS_UI_REQUIRED=1`` (set by
``.ci/run``) they fail instead, so CI cannot pass without having run them. When a test fails, a screenshot
and the page's console log are saved under test-artifacts/ui/<test>/ and their paths are printed.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from lab_driver import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, VENV_PYTHON, LabServer, NotebookTab

UI_DIR = Path(__file__).resolve().parent
REQUIRED = os.environ.get("DLFS_UI_REQUIRED", "").strip().lower() in {"1", "true", "yes", "on"}


def pytest_configure(config):
    config.addinivalue_line("markers", "ui: browser/JupyterLab tests under tests/ui (make test-ui)")
    config.addinivalue_line("markers", "notebook(name): the notebook a UI test drives (orders the tests)")
    config._ui_artifacts = []


@pytest.hookimpl(tryfirst=True)                 # before -m ui / -m "not ui" selects on the marker
def pytest_collection_modifyitems(config, items):
    """Mark everything under tests/ui as ``ui``; run each notebook's tests together, Run All first,
    so that one executed tab (one kernel) at a time serves them."""
    ui_items = [it for it in items if UI_DIR in Path(str(it.path)).resolve().parents]
    for it in ui_items:
        it.add_marker(pytest.mark.ui)

    def key(it):
        m = it.get_closest_marker("notebook")
        if m is None:
            return ("", 0)
        return (m.args[0], 0 if getattr(it, "originalname", "") == "test_notebook_runs_clean_in_jupyterlab" else 1)

    if ui_items:
        first, ui_ids = items.index(ui_items[0]), {id(it) for it in ui_items}
        others = [it for it in items if id(it) not in ui_ids]
        items[:] = others[:first] + sorted(ui_items, key=key) + others[first:]


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (DLFS_UI_REQUIRED=1: the UI tests must run here)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    if not VENV_PYTHON.exists():
        _unavailable(f"{VENV_PYTHON} is missing: create the project's venv first (make venv)")
    server = LabServer(home=tmp_path_factory.mktemp("jupyterlab"))
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    yield server
    strays = server.stop()
    assert not strays, "processes outlived the JupyterLab session (killed now):\n" + "\n".join(strays)


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("browser tests share one JupyterLab and one Chromium: run them in one process "
                    "(make test-ui), not under pytest-xdist")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Python package playwright is not installed (it is in pyproject.toml: make venv)")
    if not CHROMIUM.exists():
        _unavailable(f"Chromium not found at {CHROMIUM} (Debian/Ubuntu: apt-get install -y chromium; "
                     "elsewhere set DLFS_CHROMIUM=/path/to/chromium)")
    pw = sync_playwright().start()
    try:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
    except Exception:
        pw.stop()
        raise
    yield context
    context.close()
    pw.stop()


class Lab:
    """What a test uses: ``executed(name)`` → (tab, state) of a notebook after Run All, once per session."""

    def __init__(self, server: LabServer, context, cache: dict, item):
        self.server, self.context, self.cache, self.item = server, context, cache, item
        item._ui_tabs = []

    def executed(self, name: str):
        cached = self.cache.get(name)
        if isinstance(cached, Exception):
            pytest.fail(f"{name} did not finish Run All earlier in this session: {cached}", pytrace=False)
        if cached is not None:
            self.item._ui_tabs.append(cached[0])
            return cached
        close_tabs(self.cache)                   # one notebook (one kernel) at a time
        tab = NotebookTab.open(self.server, self.context, name)
        self.item._ui_tabs.append(tab)
        try:
            state = tab.run_all()
        except Exception as e:
            self.cache[name] = e
            raise
        self.cache[name] = (tab, state)
        return tab, state


def close_tabs(cache: dict) -> None:
    for name in list(cache):
        entry = cache.pop(name)
        if isinstance(entry, tuple):
            entry[0].close()


@pytest.fixture(scope="session")
def executed_tabs(browser_context, lab_server):
    cache: dict = {}
    yield cache
    close_tabs(cache)


@pytest.fixture
def lab(browser_context, lab_server, executed_tabs, request):
    return Lab(lab_server, browser_context, executed_tabs, request.node)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure: screenshot + console log of every tab the test used, paths printed with the failure."""
    outcome = yield
    rep = outcome.get_result()
    tabs = getattr(item, "_ui_tabs", None)
    if rep.failed and rep.when in ("setup", "call") and tabs:
        folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", item.nodeid.split("::", 1)[-1]).strip("_")
        shutil.rmtree(folder, ignore_errors=True)
        paths = [p for tab in tabs for p in tab.save_artifacts(folder)]
        server_log = ARTIFACTS / "jupyterlab-server.log"
        lines = [str(p.relative_to(ROOT)) for p in paths] + [f"{server_log.relative_to(ROOT)} (server log)"]
        rep.sections.append(("UI failure artefacts", "\n".join(lines)))
        item.config._ui_artifacts.append((item.nodeid, str(folder.relative_to(ROOT))))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if getattr(config, "_ui_artifacts", None):
        terminalreporter.section("UI failure artefacts (screenshot + console log)")
        for nodeid, folder in config._ui_artifacts:
            terminalreporter.write_line(f"{folder}/   <- {nodeid}")
