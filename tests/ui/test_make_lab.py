"""`make lab` itself: it starts, serves one notebook per chapter, and Ctrl-C stops it and its kernels; in the
browser it opens the start page, with the project's JupyterLab settings (jupyter/overrides.json) in force.

The real target runs, unchanged; the port, the token and "do not open a browser" reach it through
Jupyter's own environment variables and a private config folder, so the reader's settings are untouched.
"""
from __future__ import annotations

import json
import os
import pty
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from jupyter_client import BlockingKernelClient

from lab_driver import (ARTIFACTS, NOTEBOOK_DIR, ROOT, VENV_PYTHON, chapter_notebooks, free_port, http_get,
                        http_request, port_is_open, processes_mentioning, start_make_lab, stop_process_group,
                        wait_for_status, write_private_jupyter_dirs)

pytestmark = pytest.mark.ui

START_PAGE = "00_start_here.ipynb"
START_URL = f"/lab/tree/notebooks/{START_PAGE}"
OVERRIDES = ROOT / "jupyter" / "overrides.json"
INSTALLED_OVERRIDES = VENV_PYTHON.parents[1] / "share" / "jupyter" / "lab" / "settings" / "overrides.json"


def wait_until(condition, timeout: float) -> bool:
    """Poll ``condition()`` every 0.1 s until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_serves_the_chapters_and_stops_cleanly(tmp_path):
    port, token = free_port(), secrets.token_hex(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "JPY_", "MAKE", "MFLAGS"))}
    env.pop("DLFS_QUICK", None)                       # make lab is what a reader runs: full mode
    env.update(write_private_jupyter_dirs(tmp_path))
    env.update(JUPYTER_PORT=str(port), JUPYTER_PORT_RETRIES="0", JUPYTER_TOKEN=token)
    (tmp_path / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"open_browser": False}}))
    log = ARTIFACTS / "make-lab.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # As in a terminal: make and jupyter form one process group, and stdin is a tty (without one,
    # jupyter treats Ctrl-C as a crash, not as a request to shut down).
    tty, tty_slave = pty.openpty()
    with open(log, "wb") as out:
        proc = subprocess.Popen(["make", "--no-print-directory", "lab"], cwd=ROOT, env=env, stdin=tty_slave,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    os.close(tty_slave)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_status(base, token, proc, log, timeout=300)     # may first (re)build .venv

        # The notebooks listing: one notebook per chapter, exactly those on disk.
        status, body = http_get(f"{base}/api/contents/notebooks", token)
        assert status == 200, body[:500]
        listed = sorted(item["name"] for item in json.loads(body)["content"]
                        if item["type"] == "notebook" and re.match(r"ch\d\d_", item["name"]))
        assert listed == [p.name for p in chapter_notebooks()]
        chapters = [name[:4] for name in listed]
        assert listed and len(chapters) == len(set(chapters)), f"more than one notebook per chapter: {listed}"

        # make lab opens the start page (LabApp.default_url): "/" lands on notebooks/00_start_here.ipynb.
        req = urllib.request.Request(f"{base}/", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            landed, page = resp.url, resp.read()
        assert landed == f"{base}{START_URL}" and b"JupyterLab" in page, landed

        # A kernel, so that stopping has something to shut down.
        status, kernel = http_request("POST", f"{base}/api/kernels", token, {"name": "python3"})
        assert status == 201, kernel[:500]
        connection = Path(env["JUPYTER_RUNTIME_DIR"]) / f"kernel-{json.loads(kernel)['id']}.json"
        assert wait_until(connection.exists, 60), f"no connection file {connection}"
        client = BlockingKernelClient(connection_file=str(connection))
        client.load_connection_file()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=120)                    # the kernel answers: fully started
        finally:
            client.stop_channels()
        assert processes_mentioning(env["JUPYTER_RUNTIME_DIR"]), "no kernel process"
    finally:
        # Ctrl-C in the terminal sends SIGINT to the whole foreground group (make and jupyter); JupyterLab
        # asks "Shut down this Jupyter server (y/[n])?" and a second Ctrl-C skips the confirmation.
        t0 = time.monotonic()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            asked = wait_until(lambda: "Shut down this Jupyter server" in log.read_text(errors="replace"), 20)
            if asked and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        rc = stop_process_group(proc, signal.SIGINT, timeout=60)
        stop_s = time.monotonic() - t0
        os.close(tty)
        kernels = processes_mentioning(env["JUPYTER_RUNTIME_DIR"])
        for pid, _ in kernels:
            os.kill(pid, signal.SIGKILL)

    text = log.read_text(errors="replace")
    assert rc is not None, f"make lab (or the server it started) did not stop within 60 s of Ctrl-C; log: {log}"
    assert not kernels, f"kernels outlived make lab: {kernels}"
    assert not port_is_open(port), f"port {port} still open after make lab stopped"
    assert re.search(r"Shutting down 1 kernel", text), f"no kernel shutdown in the log: {log}"
    print(f"make lab stopped {stop_s:.1f} s after Ctrl-C (make exit status {rc})")


# Each file browser row's name: its full width and the width it is given (both in CSS pixels).
_JS_LISTING = """() => [...document.querySelectorAll('.jp-FileBrowser .jp-DirListing-item')].map(row => {
  const text = row.querySelector('.jp-DirListing-itemText');
  return {name: text.textContent.trim(), full: text.scrollWidth, shown: text.clientWidth,
          rowRight: row.getBoundingClientRect().right, textRight: text.getBoundingClientRect().right};
})"""


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_opens_the_start_page(tmp_path, browser_context):
    """A newcomer's first screen: the start page (no Launcher), no news pop-up, the notebooks listed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    server = start_make_lab("lab", tmp_path / "jupyter", log=ARTIFACTS / "make-lab-start-page.log")
    page = browser_context.new_page()
    try:
        # make copied the project's settings into the venv, where JupyterLab reads them.
        assert INSTALLED_OVERRIDES.read_bytes() == OVERRIDES.read_bytes(), (
            f"{INSTALLED_OVERRIDES} differs from {OVERRIDES}")

        page.goto(f"{server.url}/?token={server.token}")
        page.wait_for_url(f"**{START_URL}", timeout=60_000)
        notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        notebook.locator(".jp-RenderedMarkdown h1", has_text="Start here").wait_for(timeout=60_000)
        tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab").all_inner_texts()
        assert [t.strip() for t in tabs] == [START_PAGE], f"main area tabs: {tabs}"
        assert page.locator(".jp-Launcher").count() == 0, "the Launcher is open"
        # The app has restored its layout and the start page's kernel is ready: JupyterLab asks its news
        # question (when it asks) just after restoring, so give it a few seconds to show up, and it must not.
        notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)
        try:
            page.locator(".Toastify__toast").first.wait_for(timeout=5_000)
            popped = page.locator(".Toastify__toast").all_inner_texts()
        except PlaywrightTimeout:
            popped = []
        assert not popped, f"a pop-up appeared: {popped}"

        # The file browser shows notebooks/, with no Modified column: the names get the whole sidebar.
        browser = page.locator(".jp-FileBrowser")
        browser.locator(".jp-DirListing-item", has_text=START_PAGE).wait_for(timeout=30_000)
        crumbs = browser.locator(".jp-BreadCrumbs").inner_text()
        assert crumbs.strip().strip("/").strip() == "notebooks", crumbs
        headers = [h.strip() for h in browser.locator(".jp-DirListing-headerItem").all_inner_texts()]
        assert headers == ["Name"], f"file browser columns: {headers}"
        rows = page.evaluate(_JS_LISTING)
        on_disk = {p.name for p in NOTEBOOK_DIR.glob("*.ipynb")}
        listed = {r["name"] for r in rows}
        assert on_disk <= listed, f"not listed: {sorted(on_disk - listed)}"
        cut_rows = [r for r in rows if r["name"] in on_disk and r["full"] > r["shown"]]
        for r in cut_rows:                               # a long name runs to the row's right edge
            assert r["rowRight"] - r["textRight"] < 16, r
        cut = [f"{r['name']} ({r['full']} px in {r['shown']} px)" for r in cut_rows]
        assert START_PAGE not in " ".join(cut), cut
        page.screenshot(path=str(ARTIFACTS / "start_page.png"))
        print(f"file browser: {len(on_disk) - len(cut)} of {len(on_disk)} notebook names in full"
              + (f"; cut at JupyterLab's default sidebar width: {', '.join(cut)}" if cut else ""))

        # The chapter links of the start page open the chapters in JupyterLab.
        notebook.locator(".jp-RenderedMarkdown a", has_text="Perceptron").first.click()
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="ch02_perceptron.ipynb").wait_for(timeout=30_000)
    finally:
        page.close()
        strays = server.stop()
    assert not strays, strays
