"""Helpers for the browser tests: a JupyterLab server of our own, and a notebook tab driven by Playwright.

Everything here reads what a reader would see — the DOM of JupyterLab in Chromium — never the kernel
directly. The server runs from the project's ``.venv`` with private config/data/runtime folders, so a
reader's own JupyterLab settings cannot change what the tests see, and it refuses every save, so a test
run can never overwrite a committed notebook.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = Path(os.environ.get("DLFS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: How long Run All of one notebook may take in quick mode (seconds); DLFS_UI_RUN_TIMEOUT overrides it.
RUN_ALL_TIMEOUT_S = float(os.environ.get("DLFS_UI_RUN_TIMEOUT", "420"))
#: How long a slider move may take to re-render its figure (seconds).
RENDER_TIMEOUT_S = 60.0

# The kernels run as `make test` runs the notebooks: quick budgets, one BLAS thread.
KERNEL_ENV = {"DLFS_QUICK": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# JupyterLab settings for the test profile: no autosave (the notebooks are re-run, not edited), every
# cell attached to the DOM (so all prompts and outputs can be read), no news/update toasts.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}

# A server-side guard: any save through the server is answered 403, so nothing the browser does can
# rewrite a file of the repository (autosave is off as well; this makes it certain). The checkpoint
# JupyterLab makes when it opens a notebook goes to the test's own folder, not to notebooks/.
READ_ONLY_CONFIG = '''\
from tornado.web import HTTPError


def refuse_save(model, path, contents_manager, **kwargs):
    raise HTTPError(403, f"the UI tests never save files (refused: {path})")


c.FileContentsManager.pre_save_hook = refuse_save
c.FileCheckpoints.root_dir = CHECKPOINTS
'''


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def chapter_notebooks() -> list[Path]:
    """The chapter notebooks as `make test` sees them: notebooks/ch*.ipynb, sorted."""
    return sorted(NOTEBOOK_DIR.glob("ch*.ipynb"))


def code_cells_to_run(notebook: Path) -> int:
    """How many code cells of the saved notebook show an execution prompt after Run All: non-blank
    source (JupyterLab skips blank ones) and not collapsed (a collapsed input, such as an exercise's
    solution, runs but shows no ``[n]:`` prompt to count)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return sum(1 for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()
               and not c.get("metadata", {}).get("jupyter", {}).get("source_hidden", False))


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose command line contains ``text`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if text in cmd:
            found.append((int(entry.name), cmd))
    return found


def processes_in_group(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes whose process group is ``pgid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()       # state, ppid, pgrp, ...
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def http_get(url: str, token: str, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_request(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for_status(base_url: str, token: str, proc: subprocess.Popen, log: Path, timeout: float) -> dict:
    """Poll ``/api/status`` until the server answers 200; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode} before serving; log: {log}\n"
                               + log.read_text(errors="replace")[-3000:])
        try:
            status, body = http_get(f"{base_url}/api/status", token, timeout=2)
            if status == 200:
                return json.loads(body)
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"JupyterLab did not answer /api/status within {timeout:.0f} s; log: {log}")


def stop_process_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
    """Send ``sig`` to the process group led by ``proc`` and wait (up to ``timeout`` s in all) for the
    leader and every other member to exit — `make` may return before the server it started has finished
    shutting its kernels down. Whatever is still there then is SIGKILLed.

    Returns proc's exit code, or None if it had to be killed.
    """
    deadline = time.monotonic() + timeout
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    rc = proc.poll()
    while processes_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = processes_in_group(proc.pid)
    kill_all(left)
    if rc is None:
        proc.wait(timeout=10)
    return rc if not left else None


def write_private_jupyter_dirs(home: Path) -> dict[str, str]:
    """Config, data, runtime and IPython folders under ``home``; returns the env vars naming them."""
    dirs = {name: home / name for name in ("config", "data", "runtime", "ipython")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    return {"JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "IPYTHONDIR": str(dirs["ipython"])}


@dataclass
class LabServer:
    """A JupyterLab started from .venv on 127.0.0.1 with a random port and token (see ``start``)."""
    home: Path
    port: int = 0
    token: str = ""
    proc: subprocess.Popen | None = None
    log: Path = ARTIFACTS / "jupyterlab-server.log"
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime_dir(self) -> str:
        return self.env["JUPYTER_RUNTIME_DIR"]

    def start(self, timeout: float = 120.0) -> None:
        self.port, self.token = free_port(), secrets.token_hex(24)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "JPY_"))}
        env.update(KERNEL_ENV)
        env.update(write_private_jupyter_dirs(self.home))
        (self.home / "checkpoints").mkdir(exist_ok=True)
        (Path(env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.py").write_text(
            READ_ONLY_CONFIG.replace("CHECKPOINTS", repr(str(self.home / "checkpoints"))))
        settings = self.home / "lab-settings"
        for rel, values in LAB_SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(values))
        self.env = env
        cmd = [str(VENV_PYTHON), "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={ROOT}", f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={self.home / 'workspaces'}"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_status(self.url, self.token, self.proc, self.log, timeout)
        # The guard works: saving a new file is refused, and nothing is written.
        probe = "notebooks/ui-test-save-probe.txt"
        status, _ = self.api("PUT", f"/api/contents/{probe}", {"type": "file", "format": "text", "content": "x"})
        if status != 403 or (ROOT / probe).exists():
            (ROOT / probe).unlink(missing_ok=True)
            self.stop()
            raise RuntimeError(f"the test server accepted a save (HTTP {status}); its read-only guard failed")

    def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        status, raw = http_request(method, f"{self.url}{path}", self.token, body)
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw

    def shutdown_sessions(self, path: str | None = None) -> None:
        """Shut down the kernel sessions of ``path`` (relative to the repo), or all of them."""
        status, sessions = self.api("GET", "/api/sessions")
        for s in sessions if status == 200 else []:
            if path is None or s.get("path") == path:
                self.api("DELETE", f"/api/sessions/{s['id']}")

    def stop(self) -> list[str]:
        """Stop the server (SIGTERM: it shuts its kernels down), then find and kill any stray process.

        Returns a description of every process that was still alive afterwards (empty when clean).
        """
        strays: list[str] = []
        if self.proc is None:
            return strays
        self.shutdown_sessions()
        rc = stop_process_group(self.proc, signal.SIGTERM)
        if rc is None:
            strays.append(f"jupyter lab (pid {self.proc.pid}) ignored SIGTERM and was killed")
        leftovers = processes_mentioning(self.runtime_dir)        # kernels: ipykernel_launcher -f RUNTIME/...
        if leftovers:
            strays += [f"pid {pid}: {cmd}" for pid, cmd in leftovers]
            kill_all([pid for pid, _ in leftovers])
        self.proc = None
        return strays


def start_make_lab(target: str, home: Path, *make_vars: str, env: dict[str, str] | None = None,
                   log: Path | None = None, timeout: float = 300.0) -> LabServer:
    """Run ``make TARGET`` (``lab``, ``lab-zh``) for real and wait until its JupyterLab answers.

    The target's own command line is used unchanged; the port, the token and "open no browser" reach
    JupyterLab through Jupyter's environment variables and a private config folder under ``home``
    (so the reader's own Jupyter settings are neither read nor touched), and that config adds the
    read-only guard of :class:`LabServer`. ``make_vars`` are passed on (``NAME=value``); ``env`` adds
    to the environment. Returns a :class:`LabServer` for it: ``stop()`` ends make, JupyterLab and its
    kernels. Allows ``timeout`` seconds: the first run may (re)build .venv.
    """
    port, token = free_port(), secrets.token_hex(24)
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "JPY_", "MAKE", "MFLAGS"))}
    run_env.update(env or {})
    run_env.update(write_private_jupyter_dirs(home))
    run_env.update(JUPYTER_PORT=str(port), JUPYTER_PORT_RETRIES="0", JUPYTER_TOKEN=token)
    (home / "checkpoints").mkdir(exist_ok=True)
    (home / "config" / "jupyter_server_config.py").write_text(
        READ_ONLY_CONFIG.replace("CHECKPOINTS", repr(str(home / "checkpoints")))
        + "c.ServerApp.open_browser = False\n")
    log = log or ARTIFACTS / f"make-{target}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(["make", "--no-print-directory", target, *make_vars], cwd=ROOT, env=run_env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = LabServer(home=home, port=port, token=token, proc=proc, log=log, env=run_env)
    try:
        wait_for_status(server.url, token, proc, log, timeout)
    except Exception:
        server.stop()
        raise
    return server


# ---------------------------------------------------------------------------------------------
# One notebook in one browser tab
# ---------------------------------------------------------------------------------------------
# An error as JupyterLab shows it: IPython's traceback, rendered with the stderr mime type (so it is
# looked for in stderr outputs only; a cell may legitimately *print* "TypeError: ..." to stdout) ...
ERROR_PATTERN = r"Traceback \(most recent call last\)|^\s*(\w+\.)*\w*(Error|Exception|Interrupt|Exit)(:|$)"
# ... and, in any output, what JupyterLab shows when a widget cannot be displayed: an error placeholder,
# or the widget's plain-text repr (no widget renderer: the jupyterlab_widgets extension is missing).
DISPLAY_FAILURE_PATTERN = r"Error displaying widget|Failed to display|^interactive\(children="

_JS_RUN_STATE = """([errPattern, failPattern]) => {
  const err = new RegExp(errPattern, 'm'), fail = new RegExp(failPattern, 'm');
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const prompts = [...panel.querySelectorAll('.jp-CodeCell > .jp-Cell-inputWrapper .jp-InputPrompt')]
      .map(p => p.textContent.trim());
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const errors = [];
  panel.querySelectorAll('.jp-CodeCell').forEach((cell, i) => {
    cell.querySelectorAll('.jp-OutputArea-output').forEach(out => {
      const text = out.innerText || '';
      const stderr = out.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr';
      if ((stderr && err.test(text)) || fail.test(text)) errors.push({cell: i, text: text.slice(0, 2000)});
    });
  });
  return {
    codeCells: prompts.length,
    executed: prompts.filter(p => /^\\[\\d+\\]/.test(p)).length,
    running: prompts.filter(p => p.includes('*')).length,
    status: indicator ? indicator.getAttribute('data-status') : null,
    errors: errors,
  };
}"""
_PATTERNS = [ERROR_PATTERN, DISPLAY_FAILURE_PATTERN]


# -- slider panels, as the page shows them -----------------------------------------------------
# A slider panel shows a status text (what its function printed) and a figure (its last <img>), in either
# layout: an ipywidgets Output holding both (ipywidgets.interactive), or a status element
# (.dlfs-panel-status) above an Image widget (chapters.panels).
_JS_PANEL_VIEW = """(el) => {
  const imgs = el.querySelectorAll('img');
  const img = imgs.length ? imgs[imgs.length - 1] : null;
  const status = el.querySelector('.dlfs-panel-status') || el.querySelector('.widget-output');
  const box = img ? img.getBoundingClientRect() : null;
  // visible: a picture is painted (while a new src loads, the img keeps painting the old one: the spec's
  // "pending request"); loaded: the picture of the current src is.
  const visible = !!img && img.naturalWidth > 0 && box.height > 0 && box.width > 0;
  return {img: img, src: img ? img.src : null, text: status ? status.textContent : '',
          visible: visible, loaded: visible && img.complete};
}"""

_JS_CONTROL_LABELS = """el => [...el.querySelectorAll('.widget-label')]
    .map(l => l.textContent.trim()).filter(t => t.length > 0)"""

_JS_FIGURE_DIGEST = """async el => {
  const imgs = el.querySelectorAll('img');
  if (!imgs.length) return null;
  const bytes = new Uint8Array(await (await fetch(imgs[imgs.length - 1].src)).arrayBuffer());
  let h = 0x811c9dc5;                                   // FNV-1a, 32 bits
  for (let i = 0; i < bytes.length; i++) { h ^= bytes[i]; h = Math.imul(h, 0x01000193) >>> 0; }
  return bytes.length + ':' + h.toString(16);
}"""

# Sample the panel in every animation frame from the key press on: is a loaded figure visible, how tall is
# the panel, when does the status text change, when is a new figure (new element or new src) loaded.
_JS_PROBE_START = """(el, settleFrames) => {
  const view = """ + _JS_PANEL_VIEW + """;
  const v0 = view(el);
  const p = {startImg: v0.img, startSrc: v0.src, startText: v0.text, t0: null, frames: 0, blank: 0,
             minH: Infinity, maxH: -Infinity, texts: [], figureAt: null, after: 0, finished: false};
  el.__dlfsProbe = p;
  document.addEventListener('keydown', ev => { if (p.t0 === null) p.t0 = performance.now(); },
                            {capture: true, once: true});
  const tick = () => {
    if (p.finished) return;
    const now = performance.now();
    if (p.t0 !== null) {
      const v = view(el);
      const h = el.getBoundingClientRect().height;
      p.frames += 1;
      if (!v.visible) {
        p.blank += 1;
        if (!p.blankSeen) p.blankSeen = {atMs: now - p.t0, img: !!v.img, newImg: v.img !== p.startImg,
          naturalWidth: v.img ? v.img.naturalWidth : null, complete: v.img ? v.img.complete : null,
          height: v.img ? v.img.getBoundingClientRect().height : null, newSrc: v.src !== p.startSrc};
      }
      p.minH = Math.min(p.minH, h); p.maxH = Math.max(p.maxH, h);
      if (!p.texts.length || p.texts[p.texts.length - 1].text !== v.text) p.texts.push({text: v.text, at: now});
      if (p.figureAt === null && v.loaded && (v.img !== p.startImg || v.src !== p.startSrc)) p.figureAt = now;
      if (p.figureAt !== null && ++p.after > settleFrames) { p.finished = true; return; }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

_JS_PROBE_RESULT = """el => {
  const p = el.__dlfsProbe;
  p.finished = true;                                    // stops the sampling if it timed out
  const last = p.texts.length ? p.texts[p.texts.length - 1] : null;
  return {latency_ms: p.figureAt === null || p.t0 === null ? null : p.figureAt - p.t0,
          blank_frames: p.blank, height_jump_px: p.frames ? p.maxH - p.minH : 0, frames: p.frames,
          text_lead_ms: p.figureAt === null || !last || last.text === p.startText ? null : p.figureAt - last.at,
          text: last ? last.text : p.startText, blank_seen: p.blankSeen || null};
}"""


@dataclass
class NotebookTab:
    """A notebook opened in its own JupyterLab tab (own workspace, so no other tab is restored)."""
    server: LabServer
    page: object                     # playwright.sync_api.Page
    name: str
    console: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"notebooks/{self.name}"

    @classmethod
    def open(cls, server: LabServer, context, name: str, timeout_s: float = 120.0) -> "NotebookTab":
        page = context.new_page()
        tab = cls(server, page, name)
        page.on("console", lambda m: tab.console.append(f"[{m.type}] {m.text}"))
        page.on("pageerror", lambda e: tab.console.append(f"[pageerror] {e}"))
        page.set_default_timeout(timeout_s * 1000)
        t0 = time.monotonic()
        workspace = f"ui-{Path(name).stem}-{secrets.token_hex(4)}"
        page.goto(f"{server.url}/lab/workspaces/{workspace}/tree/{tab.path}?token={server.token}")
        page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for()
        tab.wait_idle(timeout_s)
        tab.timings["open_to_idle_s"] = time.monotonic() - t0
        return tab

    @property
    def panel(self):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")

    def wait_idle(self, timeout_s: float) -> None:
        """The kernel of this notebook reports Idle: toolbar indicator and status bar ("… | Idle")."""
        self.panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
            timeout=timeout_s * 1000)
        self.page.locator(".jp-StatusBar-Widget").get_by_text(re.compile(r"\|\s*Idle")).first.wait_for(
            timeout=timeout_s * 1000)

    def menu(self, menu: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).click()
        self.page.locator(".lm-Menu-content .lm-Menu-itemLabel",
                          has_text=re.compile(f"^{re.escape(item)}$")).click()

    def state(self) -> dict:
        return self.page.evaluate(_JS_RUN_STATE, _PATTERNS)

    def run_all(self, timeout_s: float = RUN_ALL_TIMEOUT_S) -> dict:
        """Clear all outputs, then Run → Run All Cells, and wait until the run ends.

        The run has ended when no prompt shows ``[*]``, the kernel is idle, and either every non-blank
        code cell has an execution number or an error is shown (JupyterLab stops Run All at an error).
        Returns the final state: counts of code cells / executed cells and the error outputs.
        """
        self.menu("Edit", "Clear Outputs of All Cells")
        self.page.wait_for_function(f"() => ({_JS_RUN_STATE})({json.dumps(_PATTERNS)}).executed === 0")
        expected = code_cells_to_run(NOTEBOOK_DIR / self.name)
        t0 = time.monotonic()
        self.menu("Run", "Run All Cells")
        done = f"""() => {{
            const s = ({_JS_RUN_STATE})({json.dumps(_PATTERNS)});
            return s && s.running === 0 && s.status === 'idle' && (s.executed >= {expected} || s.errors.length > 0);
        }}"""
        try:
            self.page.wait_for_function(done, timeout=timeout_s * 1000, polling=500)
        finally:
            self.timings["run_all_s"] = time.monotonic() - t0
        state = self.state()
        state["expected"] = expected
        return state

    # -- sliders ------------------------------------------------------------------------------
    def slider_panel(self, labels: tuple[str, ...]):
        """The ``slider_panel`` (an ipywidgets ``interactive``) whose controls carry all of ``labels``."""
        panel = self.page.locator(".widget-interact")
        for label in labels:
            panel = panel.filter(has=self.page.locator(".widget-label", has_text=re.compile(f"^{re.escape(label)}$")))
        return panel

    def slider(self, panel, label: str):
        """(handle, readout) of the slider called ``label`` inside ``panel``."""
        row = panel.locator(".widget-slider").filter(
            has=self.page.locator(".widget-label", has_text=re.compile(f"^{re.escape(label)}$")))
        return row.locator(".noUi-handle"), row.locator(".widget-readout")

    def rendered(self, panel, timeout_s: float = RENDER_TIMEOUT_S) -> dict:
        """What the panel shows, once it shows a loaded figure (or an error): its status ``text`` (what the
        function printed), the ``src`` and ``digest`` (of the bytes) of its figure, and how many ``figures``
        it shows. The figure's current ``src`` is marked as seen, so that :meth:`wait_for_render` can tell
        a newly rendered figure (a new element or a new ``src``) even if the picture is the same."""
        js = """([el, errPattern, failPattern]) => {
            const v = (""" + _JS_PANEL_VIEW + """)(el);
            return v.loaded || new RegExp(errPattern, 'm').test(v.text) || new RegExp(failPattern, 'm').test(v.text);
        }"""
        self.page.wait_for_function(js, arg=[panel.element_handle(), *_PATTERNS], timeout=timeout_s * 1000)
        shown = panel.evaluate("""el => {
            const imgs = [...el.querySelectorAll('img')];
            imgs.forEach(img => { img.dataset.uiSeen = img.src; });
            const status = el.querySelector('.dlfs-panel-status') || el.querySelector('.widget-output');
            return {text: status ? status.innerText : '', src: imgs.length ? imgs[imgs.length - 1].src : null,
                    figures: imgs.length};
        }""")
        shown["digest"] = self.figure_digest(panel)
        return shown

    @staticmethod
    def readout(value) -> str:
        """A slider's readout as text, with the typographic minus (U+2212) ipywidgets shows made ASCII."""
        return value.inner_text().strip().replace("\u2212", "-")

    def move(self, panel, handle, key: str, times: int, status_regex: str,
             timeout_s: float = RENDER_TIMEOUT_S) -> dict:
        """Move a slider with the keyboard, as a reader would: focus its handle and press ``key``
        ``times`` times, waiting after each press for the re-render it causes; the last render must show
        a status line matching ``status_regex``. Returns the final render (see :meth:`rendered`).

        One press at a time, so that no re-render is still pending when this returns.
        """
        handle.scroll_into_view_if_needed()
        handle.focus()
        shown = self.rendered(panel, timeout_s)
        for i in range(times):
            handle.press(key)
            shown = self.wait_for_render(panel, status_regex if i == times - 1 else "", timeout_s)
        return shown

    def wait_for_render(self, panel, status_regex: str, timeout_s: float = RENDER_TIMEOUT_S) -> dict:
        """Wait for the render marker: a newly rendered, loaded figure (an ``img`` whose ``src``
        :meth:`rendered` has not seen) and a status line matching ``status_regex`` — or an error shown in
        the panel. Returns what is rendered then (see :meth:`rendered`).

        Both layouts work: the ``interactive`` one prints its status, then shows a new ``img``; the
        ``chapters.panels`` one swaps the ``src`` of its one ``img``, then its status text.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        js = """([el, pattern, errPattern, failPattern]) => {
            const v = (""" + _JS_PANEL_VIEW + """)(el);
            if (new RegExp(errPattern, 'm').test(v.text) || new RegExp(failPattern, 'm').test(v.text)) return true;
            const status = el.querySelector('.dlfs-panel-status') || el.querySelector('.widget-output');
            const text = status ? status.innerText : '';
            return v.loaded && v.img.dataset.uiSeen !== v.img.src && new RegExp(pattern, 'm').test(text);
        }"""
        try:
            self.page.wait_for_function(js, arg=[panel.element_handle(), status_regex, *_PATTERNS],
                                        timeout=timeout_s * 1000, polling="raf")
        except PlaywrightTimeout:
            now = panel.evaluate("""el => {const imgs = el.querySelectorAll('img'); const last = imgs[imgs.length - 1];
                const status = el.querySelector('.dlfs-panel-status') || el.querySelector('.widget-output');
                return {text: status ? status.innerText : '', fresh: !!last && last.dataset.uiSeen !== last.src}; }""")
            raise AssertionError(
                f"no re-render within {timeout_s:.0f} s: expected a new figure and /{status_regex}/ "
                f"(new figure: {'yes' if now['fresh'] else 'no'}); the panel shows:\n{now['text']}") from None
        return self.rendered(panel)

    # -- slider latency: what a reader sees between a key press and the new figure ---------------
    def slider_panels(self) -> list:
        """Every slider panel of the notebook (a ``slider_panel`` with at least one slider), in page order."""
        panels = self.page.locator(".widget-interact").filter(has=self.page.locator(".noUi-handle"))
        return [panels.nth(i) for i in range(panels.count())]

    def slider_labels(self, panel) -> list[str]:
        """The labels of ``panel``'s sliders, in order (dropdowns, check boxes and text fields left out)."""
        return panel.locator(".widget-slider").evaluate_all(
            "rows => rows.map(r => (r.querySelector('.widget-label') || {textContent: ''}).textContent.trim())")

    def control_labels(self, panel) -> list[str]:
        """The labels of all of ``panel``'s controls (sliders, dropdowns, ...), in order."""
        return panel.evaluate(_JS_CONTROL_LABELS)

    def figure_digest(self, panel) -> str | None:
        """A digest of the bytes of the figure ``panel`` shows (its last ``img``), or None if it shows none:
        equal digests mean the same picture, whatever element or URL shows it."""
        return panel.evaluate(_JS_FIGURE_DIGEST)

    def press_and_watch(self, panel, handle, key: str, timeout_s: float = 30.0, settle_frames: int = 6) -> dict:
        """Press ``key`` on a slider ``handle`` and watch ``panel`` frame by frame (``requestAnimationFrame``)
        until a new figure is on the page and ``settle_frames`` more frames have passed.

        Returns ``latency_ms`` (key down to the first frame showing the new, loaded figure; None if none
        came within ``timeout_s``), ``blank_frames`` (frames without a visible loaded figure),
        ``height_jump_px`` (max - min panel height over the frames), ``text_lead_ms`` (how long the
        final status text was on the page before the figure; negative: after it), ``frames``.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        panel.evaluate(_JS_PROBE_START, settle_frames)
        handle.press(key)
        try:
            self.page.wait_for_function("el => el.__dlfsProbe && el.__dlfsProbe.finished",
                                        arg=panel.element_handle(), timeout=timeout_s * 1000, polling=50)
        except PlaywrightTimeout:
            pass
        return panel.evaluate(_JS_PROBE_RESULT)

    def close(self) -> None:
        """Close the tab without saving and shut its kernel down."""
        try:
            self.page.close()
        finally:
            self.server.shutdown_sessions(self.path)

    def save_artifacts(self, folder: Path) -> list[Path]:
        """Screenshot of the tab and its console log under ``folder``; returns the paths written."""
        folder.mkdir(parents=True, exist_ok=True)
        stem = Path(self.name).stem
        shot, log = folder / f"{stem}.png", folder / f"{stem}.console.log"
        written = []
        try:
            self.page.screenshot(path=str(shot), timeout=15000)
            written.append(shot)
        except Exception as e:                    # a crashed page still gets its console log saved
            self.console.append(f"[screenshot failed] {e}")
        log.write_text("\n".join(self.console) + "\n", encoding="utf-8")
        written.append(log)
        return written
