"""Training you can watch, and stop: a live figure of the loss and the accuracies, a Stop button, a status line.

In a notebook, one change turns a training cell into a watched one::

    history = trainer.train()        # before
    history = watch(trainer)         # after: the same History, drawn while it grows

Where it shows what (:func:`display_mode`, decided once per view):

- ``"live"``: in a Jupyter kernel that a Jupyter server started for a notebook (JupyterLab, Notebook 7;
  such kernels carry the environment variable ``JPY_SESSION_NAME``). One figure is redrawn in place —
  at most 4 times a second, and less often if drawing would take more than 1 % of the time — with a
  **Stop** button and a status line under it. When training ends (finished or stopped) the widgets are
  replaced by the final figure (``image/png``) and a sentence, so a saved notebook, GitHub and HTML
  exports show the result, not ``Button(...)``.
- ``"static"``: in a kernel nobody is watching (``jupyter nbconvert --execute``, nbval, papermill start
  kernels without ``JPY_SESSION_NAME``): nothing while training, then the same final figure and sentence.
- ``"text"``: outside a kernel (scripts, a terminal): a tqdm bar, then the sentence.

``DLFS_LIVE=1`` in the environment forces the live view in any kernel (e.g. an editor whose kernels lack
``JPY_SESSION_NAME``), ``DLFS_LIVE=0`` switches it off; ``mode=`` on a call overrides both.

How a click on Stop reaches a cell that is busy training: the kernel runs cells and widget messages on
one thread, so a click would normally wait for the cell to end. ipykernel 7 receives messages on its own
"shell channel" thread and asks each widget's comm there where to route them (``_reply_subshell_for``);
the Stop button's comm answers as usual and, if the message is a click, sets the stop flag on the way.
On ipykernel 6 the package ``jupyter-ui-poll`` lets the training loop process pending widget messages
between steps instead. Either way the trainer stops after its current step (``Trainer.stop``) and keeps
its parameters and history.

:class:`TrainingPanel` puts controls and a Train button in front of a training function; its runs
happen in a background thread, so the kernel stays free for clicks (and for other cells).
"""
from __future__ import annotations

import base64
import io
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from common.trainer import History, Trainer

MODES = ("live", "static", "text")
_STEPS = [1, 2, 5, 10]                     # tick spacings: 1, 2 or 5 times a power of ten
_ON, _OFF = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


# ---------------------------------------------------------------------------------------------
# Where are we running?
# ---------------------------------------------------------------------------------------------
def _kernel_shell() -> Any | None:
    """The IPython shell of a Jupyter kernel we run in, or None (a script, terminal IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def display_mode(mode: str | None = None) -> str:
    """``"live"``, ``"static"`` or ``"text"`` (the rule is in the module docstring). ``mode`` wins if given."""
    if mode is not None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES} or None, got {mode!r}")
        return mode
    if _kernel_shell() is None:
        return "text"
    setting = os.environ.get("DLFS_LIVE", "").strip().lower()
    if setting in _ON:
        return "live"
    if setting in _OFF:
        return "static"
    if setting:
        raise ValueError(f"DLFS_LIVE must be 1 or 0 (or unset), got {os.environ['DLFS_LIVE']!r}")
    return "live" if os.environ.get("JPY_SESSION_NAME") else "static"


# ---------------------------------------------------------------------------------------------
# The figure: loss per iteration (left), train and test accuracy per epoch (right)
# ---------------------------------------------------------------------------------------------
@dataclass
class Run:
    """One training run as the figure draws it. The lists may be a ``History``'s own (shared, not copied)."""
    label: str = ""
    total_iterations: int | None = None            # for the x-axis and the status line
    iterations_per_epoch: int | None = None
    epochs: int | None = None
    losses: list[float] = field(default_factory=list)       # one per iteration
    train_acc: list[float] = field(default_factory=list)    # one per epoch
    test_acc: list[float] = field(default_factory=list)     # one per epoch
    stopped: bool = False


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) that is >= value > 0:
    axis limits that change only now and then, so most redraws can reuse the drawn axes."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * power >= value * (1 - 1e-9))


def _count(n: int, noun: str) -> str:
    """``1 epoch``, ``20 epochs``, ``12,000 iterations``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _envelope(x: np.ndarray, y: np.ndarray, buckets: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """A long noisy curve (N,) as the lowest and highest value of each of ``buckets`` stretches: the same
    band on screen, drawn from 2 x ``buckets`` points instead of N (a frame stays cheap as the run grows)."""
    if y.size <= 2 * buckets:
        return x, y
    size = -(-y.size // buckets)
    whole = y.size // size * size
    y_b = y[:whole].reshape(-1, size)
    xs = np.repeat(x[:whole:size], 2)
    ys = np.column_stack([y_b.min(axis=1), y_b.max(axis=1)]).ravel()
    return np.concatenate([xs, x[whole:]]), np.concatenate([ys, y[whole:]])


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average over ``window`` values (shorter at the start), same length as ``values``."""
    if window <= 1 or values.size < 2:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, values.size + 1), window)
    return (sums[1:] - sums[np.maximum(np.arange(1, values.size + 1) - window, 0)]) / counts


class TrainingFigure:
    """A Matplotlib figure (not pyplot's: nothing is shown by itself) that is redrawn from its runs.

    loss_axis: ``"iteration"`` or ``"epoch"`` (iterations / iterations per epoch: runs with different batch
    sizes line up). loss_scale: ``"linear"`` or ``"log"``. accuracy: draw the accuracy panel.
    show_runs: ``"all"`` or ``"last"`` (only the newest run's lines: a long search stays readable).
    """

    def __init__(self, title: str = "", loss_axis: str = "iteration", loss_scale: str = "linear",
                 accuracy: bool = True, show_runs: str = "all", size: tuple[float, float] = (9.0, 3.0),
                 dpi: int = 80) -> None:
        for name, value, allowed in (("loss_axis", loss_axis, ("iteration", "epoch")),
                                     ("show_runs", show_runs, ("all", "last")),
                                     ("loss_scale", loss_scale, ("linear", "log"))):
            if value not in allowed:
                raise ValueError(f"TrainingFigure: {name} must be one of {allowed}, got {value!r}")
        self.loss_axis, self.loss_scale, self.show_runs = loss_axis, loss_scale, show_runs
        width = size[0] if accuracy else size[0] * 0.6
        self.figure = Figure(figsize=(width, size[1]), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        self._background: Any = None           # the drawn axes without the lines, while the limits stay
        self._drawn_limits: tuple | None = None
        self._limits = (0.0, 0.0, 1.0)          # loss axis low and top (0: nothing drawn yet), accuracy low
        self.full_draws = 0                      # frames that had to draw the axes too (limits changed)
        if accuracy:
            self.ax_loss, self.ax_acc = self.figure.subplots(1, 2, gridspec_kw={"width_ratios": (3, 2)})
        else:
            self.ax_loss, self.ax_acc = self.figure.subplots(), None
        self.figure.subplots_adjust(left=0.08 if accuracy else 0.13, right=0.96 if accuracy else 0.94, bottom=0.17,
                                    top=0.85, wspace=0.25)   # room for the last tick label on the right
        self.figure.suptitle(title, fontsize=10)
        # Few ticks and no subplot titles: the axes are drawn (text is most of the cost) once or twice a run.
        self.ax_loss.set(xlabel=loss_axis, ylabel="loss per mini-batch", yscale=loss_scale)
        self.ax_loss.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=_STEPS, integer=loss_axis == "iteration"))
        if loss_scale == "linear":
            self.ax_loss.yaxis.set_major_locator(MaxNLocator(nbins=4, steps=_STEPS))
        if self.ax_acc is not None:
            self.ax_acc.set(xlabel="epoch", ylabel="accuracy: test ●, train - -")
            self.ax_acc.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=_STEPS, integer=True))
            self.ax_acc.yaxis.set_major_locator(MaxNLocator(nbins=4, steps=_STEPS))
        self.runs: list[Run] = []
        self._lines: list[dict[str, Any]] = []

    @property
    def size_px(self) -> tuple[int, int]:
        w, h = self.figure.get_size_inches() * self.figure.dpi
        return int(round(w)), int(round(h))

    def add_run(self, run: Run) -> None:
        if self.show_runs == "last":
            for lines in self._lines:
                for line in lines.values():
                    line.remove()
            self.runs, self._lines, self._limits = [], [], (0.0, 0.0, 1.0)
        color = f"C{len(self.runs) % 10}"
        # animated: left out of a full draw, drawn on top of the saved background by frame()
        lines = {"raw": self.ax_loss.plot([], [], color=color, lw=0.6, alpha=0.3, animated=True)[0],
                 "smooth": self.ax_loss.plot([], [], color=color, lw=1.6, ms=4, label=run.label or None,
                                            animated=True)[0]}
        if self.ax_acc is not None:
            lines["test"] = self.ax_acc.plot([], [], "o-", color=color, ms=3, lw=1.4, animated=True)[0]
            lines["train"] = self.ax_acc.plot([], [], "--", color=color, lw=1.2, animated=True)[0]
        self.runs.append(run)
        self._lines.append(lines)
        if run.label:
            self.ax_loss.legend(loc="best", fontsize=7, framealpha=0.8)   # where it hides the fewest curves
        self._drawn_limits = None

    def refresh(self) -> tuple:
        """Copy the runs' numbers into the lines and set the axes' limits (no drawing yet); returns the limits."""
        loss_top, loss_low, x_max, epochs_max, acc_low = 0.0, math.inf, 1.0, 1, 1.0
        for run, lines in zip(self.runs, self._lines):
            losses = np.asarray(run.losses, dtype=float)
            per_x = run.iterations_per_epoch if self.loss_axis == "epoch" and run.iterations_per_epoch else 1
            x = np.arange(1, losses.size + 1) / per_x
            smooth = _smooth(losses, max(1, min(200, losses.size // 40)))
            lines["raw"].set_data(*_envelope(x, losses))
            lines["smooth"].set_data(x, smooth)
            lines["smooth"].set_marker("o" if losses.size <= 50 else "")  # few, slow iterations: mark each
            finite = losses[np.isfinite(losses)]
            if finite.size:                  # the top ignores a rare spike, so the curve is not flattened
                loss_top = max(loss_top, float(np.percentile(finite, 99.5)), float(np.nanmax(smooth)))
                positive = finite[finite > 0]
                loss_low = min(loss_low, float(positive.min())) if positive.size else loss_low
            x_max = max(x_max, (run.total_iterations or losses.size) / per_x)
            if self.ax_acc is not None:
                lines["test"].set_data(np.arange(1, len(run.test_acc) + 1), run.test_acc)
                lines["train"].set_data(np.arange(1, len(run.train_acc) + 1), run.train_acc)
                epochs_max = max(epochs_max, run.epochs or 0, len(run.test_acc), len(run.train_acc))
                acc_low = min([acc_low, *run.test_acc, *run.train_acc])
        # Limits only ever widen while the runs last: a falling loss keeps its axes, so nearly every frame
        # reuses the drawn background (see frame()) and the picture does not jump.
        old_low, old_top, old_acc = self._limits
        if self.loss_scale == "log" and math.isfinite(loss_low) and loss_top > 0:
            low, top = 10.0 ** math.floor(math.log10(loss_low)), 10.0 ** math.ceil(math.log10(loss_top))
        else:
            low, top = 0.0, _nice_ceiling(loss_top * 1.15) if loss_top > 0 else 0.0   # room for early noise
        low, top = (low, top) if old_top == 0 else (min(low, old_low), max(top, old_top))
        acc_low = min(old_acc, 0.9, math.floor(acc_low * 10) / 10)
        self._limits = (low, top, acc_low)
        self.ax_loss.set_xlim(0, x_max)
        self.ax_loss.set_ylim(low if top > 0 else (0.01 if self.loss_scale == "log" else 0.0), top if top > 0 else 1.0)
        limits = (self.ax_loss.get_xlim(), self.ax_loss.get_ylim())
        if self.ax_acc is not None:
            self.ax_acc.set_xlim(0.5, epochs_max + 0.5)
            self.ax_acc.set_ylim(acc_low, 1.0)
            limits += (self.ax_acc.get_xlim(), self.ax_acc.get_ylim())
        return limits

    def frame(self) -> bytes:
        """A live frame as PNG bytes: the axes are drawn again only when their limits changed; otherwise the
        saved background is restored and only the lines are drawn on it (a few ms instead of ~100)."""
        from PIL import Image
        limits = self.refresh()
        if limits != self._drawn_limits or self._background is None:
            self.full_draws += 1
            self.canvas.draw()
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
            self._drawn_limits = limits
        else:
            self.canvas.restore_region(self._background)
        for lines in self._lines:
            for line in lines.values():
                line.axes.draw_artist(line)
        buffer = io.BytesIO()
        Image.frombuffer("RGBA", self.canvas.get_width_height(), self.canvas.buffer_rgba()).save(
            buffer, format="png", compress_level=1)
        return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Stop: a click that reaches a busy kernel
# ---------------------------------------------------------------------------------------------
def _is_click(data: Any) -> bool:
    return isinstance(data, dict) and data.get("method") == "custom" and \
        isinstance(data.get("content"), dict) and data["content"].get("event") == "click"


def _listen_on_shell_channel(button: Any, on_click: Callable[[], None]) -> bool:
    """Make a click on ``button`` call ``on_click`` on ipykernel 7's shell-channel thread (see the module
    docstring); False if this kernel has no such thread or its comm no routing hook."""
    shell = _kernel_shell()
    comm = getattr(button, "comm", None)
    route = getattr(comm, "_reply_subshell_for", None)
    if shell is None or getattr(shell.kernel, "shell_channel_thread", None) is None or not callable(route):
        return False

    def route_and_notice(data: Any, default: Any) -> Any:
        if _is_click(data):
            on_click()
        return route(data, default)

    comm._reply_subshell_for = route_and_notice
    return True


def _ui_poller() -> tuple[Callable[[int], Any], Any] | None:
    """(poll, context) from jupyter-ui-poll where it works (ipykernel 6: ``kernel.do_one_iteration``)."""
    shell = _kernel_shell()
    if shell is None or not hasattr(shell.kernel, "do_one_iteration"):
        return None
    try:
        from jupyter_ui_poll import ui_events
    except ImportError:
        return None
    context = ui_events()
    return context.__enter__(), context


# ---------------------------------------------------------------------------------------------
# The view: figure + Stop + status, in one of the three modes
# ---------------------------------------------------------------------------------------------
class LiveTraining:
    """What a reader watches while one or more runs train (``watch`` makes one; loops may use it directly).

    A hand-written loop (``total_iterations`` etc. given here start the first run, see :meth:`start_run`)::

        view = LiveTraining("my loop", total_iterations=1000)
        for i in range(1000):
            ...                                   # one update, giving `loss`
            view.record_loss(loss)
            if view.stop_requested:
                break
        view.finish()

    title: above the figure. mode: see :func:`display_mode`. stoppable: show the Stop button (a
    comparison of several runs is better left whole: interrupt the kernel to abandon it).
    max_fps, render_share: redraw at most ``max_fps`` times a second, and spend at most ``render_share`` of the
    time since the start drawing (the first frame, which draws the axes once, aside).
    Figure options (loss_axis, loss_scale, accuracy, show_runs) as in :class:`TrainingFigure`.
    widgets: (image, status, stop button) of a :class:`TrainingPanel` to draw into instead of a new output.
    """

    def __init__(self, title: str = "", *, mode: str | None = None, stoppable: bool = True,
                 loss_axis: str = "iteration", loss_scale: str = "linear", accuracy: bool = True,
                 show_runs: str = "all", max_fps: float = 4.0, render_share: float = 0.01,
                 widgets: tuple[Any, Any, Any] | None = None, total_iterations: int | None = None,
                 iterations_per_epoch: int | None = None, epochs: int | None = None) -> None:
        self.title = title
        self.mode = "live" if widgets is not None else display_mode(mode)
        self.figure = TrainingFigure(title, loss_axis, loss_scale, accuracy, show_runs)
        self.min_interval, self.render_share = 1.0 / max_fps, render_share
        self.stoppable = stoppable
        self.runs: list[Run] = []
        self.renders, self.render_seconds = 0, 0.0
        self.frame_times: list[float] = []       # when each live frame was started (perf_counter seconds)
        self.stop_requested = False
        self.finished = False
        self.sentence = ""
        self._start = time.perf_counter()
        self._next_render = self._next_poll = self._next_status = 0.0
        self._first_frame_seconds = 0.0
        self._bar = self._poller = self._handle = None
        self._embedded = widgets is not None
        if self.mode == "live":
            self._build_widgets(widgets)
        if total_iterations is not None:
            self.start_run("", total_iterations, iterations_per_epoch, epochs)

    # -- widgets --------------------------------------------------------------------------------
    def _build_widgets(self, widgets: tuple[Any, Any, Any] | None) -> None:
        import ipywidgets as w
        from IPython.display import display
        width, height = self.figure.size_px
        if widgets is None:
            self.image = w.Image(format="png", layout=w.Layout(width=f"{width}px", height=f"{height}px"))
            self.status = w.Label(layout=w.Layout(height="28px"))
            self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger",
                                        tooltip="end training after the current step, keeping what it learnt")
            self.box = w.VBox([self.image, w.HBox([self.stop_button, self.status])])
            self._widgets = [self.box, *self.box.children, self.stop_button, self.status]
        else:
            self.image, self.status, self.stop_button = widgets
        self.stop_button.disabled = not self.stoppable
        self.stop_button.layout.visibility = "visible" if self.stoppable else "hidden"
        if self.stoppable and not self._embedded:          # a panel passes its own Stop clicks on
            self.stop_button.on_click(lambda _button: self.request_stop())
            if not _listen_on_shell_channel(self.stop_button, self._note_stop):
                self._poller = _ui_poller()
                if self._poller is None:
                    self.stop_button.disabled = True
                    self.stop_button.tooltip = "this ipykernel cannot pass a click to a busy cell: interrupt the kernel"
        self.status.value = "starting…"         # the first frame comes with the first iteration
        if not self._embedded:
            self._handle = display(self.box, display_id=True)

    def request_stop(self) -> None:
        """End training after the current step (what the Stop button does)."""
        self.stop_requested = True
        if self.mode == "live":
            self.stop_button.disabled, self.stop_button.description = True, "Stopping…"

    def _note_stop(self) -> None:
        """The click as the shell-channel thread sees it: only the flag (the next tick updates the button)."""
        self.stop_requested = True

    # -- recording ------------------------------------------------------------------------------
    def start_run(self, label: str = "", total_iterations: int | None = None, iterations_per_epoch: int | None = None,
                  epochs: int | None = None, history: History | None = None) -> Run:
        """A new run (a new line in the figure); with ``history``, the run reads that History's lists."""
        run = Run(label, total_iterations, iterations_per_epoch, epochs)
        if history is not None:
            run.losses, run.train_acc, run.test_acc = history.train_loss, history.train_acc, history.test_acc
        self.runs.append(run)
        self.figure.add_run(run)
        if self.mode == "text":
            from tqdm.std import tqdm
            if self._bar is not None:
                self._bar.close()
            self._bar = tqdm(total=total_iterations, desc=label or self.title or "training", unit="it", leave=False)
        self.tick(force=True)
        return run

    @property
    def run(self) -> Run:
        if not self.runs:
            self.start_run()
        return self.runs[-1]

    def record_loss(self, loss: float) -> None:
        """One iteration's loss, for the current run."""
        self.run.losses.append(float(loss))
        self.tick()

    def record_epoch(self, train_acc: float | None = None, test_acc: float | None = None) -> None:
        """One epoch's accuracies, for the current run (either may be None)."""
        if train_acc is not None:
            self.run.train_acc.append(float(train_acc))
        if test_acc is not None:
            self.run.test_acc.append(float(test_acc))
        self.tick()

    def tick(self, force: bool = False) -> None:
        """Called after each step: every 0.1 s (or now, if ``force``) pass on clicks (ipykernel 6) and move the
        bar; redraw when due. Never more often than the limits allow, so the cost stays a small share."""
        now = time.perf_counter()
        if now < self._next_poll and not force:
            return
        self._next_poll = now + 0.1
        if self._poller is not None:
            self._poller[0](10)
        if self.stop_requested and self.mode == "live" and not self.stop_button.disabled:
            self.request_stop()
        if self._bar is not None:
            self._bar.update(len(self.run.losses) - self._bar.n)
        run = self.runs[-1] if self.runs else None
        if self.mode == "live" and now >= self._next_render and run and (run.losses or run.train_acc):
            self._render(now)                  # (the first frame waits for numbers: its axes then stay)
        elif self.mode == "live" and now >= self._next_status:     # the status line alone is cheap: 4 times a second
            self.status.value = self.status_line()
            self._next_status = now + self.min_interval

    def _render(self, now: float) -> None:
        png = self.figure.frame()
        self.image.value = png
        self.status.value = self.status_line()
        cost = time.perf_counter() - now
        self.frame_times.append(now)
        self.renders += 1
        self.render_seconds += cost
        if self.renders == 1:
            self._first_frame_seconds = cost    # a fixed cost (the axes drawn once), outside the budget
        # the next frame when both allow: min_interval after this one, and drawing within render_share of the time
        budget_reached = self._start + (self.render_seconds - self._first_frame_seconds) / self.render_share
        self._next_render = max(now + self.min_interval, budget_reached)

    def status_line(self) -> str:
        """E.g. ``run 2 (batch 100) · iteration 1,234 of 6,000 · epoch 3 of 10 · loss 0.213 · test accuracy 0.951``
        (then the seconds so far)."""
        if not self.runs:
            return "starting…"
        run, parts = self.runs[-1], []
        if len(self.runs) > 1 or run.label:
            parts.append(f"run {len(self.runs)}" + (f" ({run.label})" if run.label else ""))
        total = f" of {run.total_iterations:,}" if run.total_iterations else ""
        parts.append(f"iteration {len(run.losses):,}{total}")
        if run.epochs:
            parts.append(f"epoch {len(run.test_acc) or len(run.train_acc)} of {run.epochs}")
        if run.losses:
            parts.append(f"loss {np.mean(run.losses[-20:]):.3g}")
        if run.test_acc:
            parts.append(f"test accuracy {run.test_acc[-1]:.3f}")
        parts.append(f"{time.perf_counter() - self._start:.1f} s")
        return " · ".join(parts)

    # -- the end --------------------------------------------------------------------------------
    def default_sentence(self) -> str:
        """What happened, as a sentence: finished or stopped, how far, how long, the final accuracies."""
        seconds = time.perf_counter() - self._start
        runs = [r for r in self.runs if r.losses or r.test_acc]
        if not runs:
            return "Nothing was trained."
        last = runs[-1]
        done = len(last.losses)
        if self.stop_requested or last.stopped:
            where = f" in run {len(runs)} ({last.label})" if len(self.runs) > 1 else ""
            total = f" of {last.total_iterations:,}" if last.total_iterations else ""
            return f"Stopped{where} after iteration {done:,}{total}; parameters and history kept."
        if len(runs) > 1:
            iterations = _count(sum(len(r.losses) for r in runs), "iteration")
            return f"Finished {len(runs)} runs ({iterations}) in {seconds:.3g} s."
        what = f"{_count(len(last.test_acc), 'epoch')} ({_count(done, 'iteration')})" if last.test_acc else \
            _count(done, "iteration")
        accs = "".join(f", {name} accuracy {acc[-1]:.4g}" for name, acc in (("train", last.train_acc),
                                                                           ("test", last.test_acc)) if acc)
        loss = f"; last loss {last.losses[-1]:.4g}" if last.losses and not last.test_acc else ""
        return f"Finished {what} in {seconds:.3g} s{accs}{loss}."

    def finish(self, sentence: str | None = None) -> str:
        """Replace the live widgets by the final figure and ``sentence`` (default: :meth:`default_sentence`).

        Idempotent; returns the sentence. In text mode the sentence is printed under the closed bar. A view
        that shows only the last run (``show_runs="last"``: a progress view over many runs) ends with the
        sentence alone: a figure of the last run would misrepresent them all.
        """
        if self.finished:
            return self.sentence
        self.finished = True
        self.sentence = sentence or self.default_sentence()
        if self._poller is not None:
            self._poller[1].__exit__(None, None, None)
            self._poller = None
        if self._bar is not None:
            self._bar.close()
        if self.mode == "text":
            print(self.sentence)
            return self.sentence
        drawing = time.perf_counter()
        png = self.figure.frame()              # the same picture as a full draw, without redrawing unchanged axes
        self.renders += 1
        self.render_seconds += time.perf_counter() - drawing
        if self._embedded:
            self.image.value, self.status.value = png, self.sentence
            self.stop_button.disabled = True
            return self.sentence
        from IPython.display import display
        sentence_only = self.figure.show_runs == "last"
        bundle = {"text/plain": self.sentence} if sentence_only else {
            "image/png": base64.b64encode(png).decode("ascii"), "text/plain": f"<figure: {self.title or 'training'}>"}
        if self._handle is not None:
            self._handle.update(bundle, raw=True)
            for widget in self._widgets:       # nothing is left behind in the kernel or the saved notebook
                widget.close()
        elif not sentence_only:
            display(bundle, raw=True)
        if not (sentence_only and self._handle is not None):
            print(self.sentence)
        return self.sentence

    def __enter__(self) -> "LiveTraining":
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.finish()
        elif isinstance(exc, KeyboardInterrupt):
            self.finish(f"Interrupted after iteration {len(self.run.losses):,}; the parameters are as they were then.")
        else:
            self.finish(f"Ended by an error after iteration {len(self.run.losses):,}: {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------------------------
# Watching a Trainer
# ---------------------------------------------------------------------------------------------
def watch(trainer: Trainer, title: str | None = None, *, view: LiveTraining | None = None, label: str = "",
          mode: str | None = None, stoppable: bool = True, **figure_options: Any) -> History:
    """Run ``trainer.train()`` while drawing it; return its :class:`~common.trainer.History`.

    Stop ends training after the current step: the network keeps its parameters, the History its numbers
    (``history.stopped`` is then True), and ``watch(trainer)`` again continues where it stopped.
    title: above the figure (default: the network's class and the optimizer). view: an open
    :class:`LiveTraining` to add this run to (several runs in one figure; the caller finishes it);
    label: this run's name in that figure. mode, stoppable, figure_options: as in :class:`LiveTraining`.
    """
    if not isinstance(trainer, Trainer):
        raise TypeError(f"watch: expected a common.trainer.Trainer, got {type(trainer).__name__}")
    if title is None:
        title = f"{type(trainer.network).__name__}, {type(trainer.optimizer).__name__} " \
                f"lr {getattr(trainer.optimizer, 'lr', '?')}, batch {trainer.batch_size}"
    own_view = view is None
    if own_view:
        view = LiveTraining(title, mode=mode, stoppable=stoppable, **figure_options)
    run = view.start_run(label, trainer.epochs * trainer.iter_per_epoch, trainer.iter_per_epoch, trainer.epochs,
                         history=trainer.history)

    def on_iteration(trainer_: Trainer, iteration: int, loss: float) -> None:
        if view.stop_requested:
            trainer_.stop()
        view.tick()

    def on_epoch(trainer_: Trainer) -> None:
        view.tick()

    if view.stop_requested:                          # Stop pressed during an earlier run of this view
        trainer.stop()
    trainer.iteration_callbacks.append(on_iteration)
    trainer.epoch_callbacks.append(on_epoch)
    progress, trainer.progress = trainer.progress, False      # the view shows the progress
    try:
        history = trainer.train()
        # train() may have started a new History when resuming from a checkpoint: follow it
        run.losses, run.train_acc, run.test_acc = history.train_loss, history.train_acc, history.test_acc
        run.stopped = history.stopped
    except BaseException as exc:
        if own_view:
            view.__exit__(type(exc), exc, exc.__traceback__)
        raise
    finally:
        trainer.progress = progress
        trainer.iteration_callbacks.remove(on_iteration)
        trainer.epoch_callbacks.remove(on_epoch)
    if own_view:
        view.finish()
    return history


# ---------------------------------------------------------------------------------------------
# Training experiments as controls
# ---------------------------------------------------------------------------------------------
class TrainingPanel:
    """Controls, a Train button and a live figure in front of ``train(view, **settings) -> str | None``.

    controls: name -> an ipywidgets control (its ``description`` is shown); the function gets their values.
    Training runs on a click only, in a background thread (the kernel stays free for the Stop click);
    while it runs, Train and the controls are disabled, so no stale run can queue up. The function
    returns a sentence for the status line (or None for the view's own). ``describe(settings)`` says
    what a run would do, as a sentence: the panel's text for static pages (GitHub, HTML) is
    "Training panel: <describe(defaults)>. Press Train in a running notebook to train it yourself."
    """

    def __init__(self, train: Callable[..., str | None], controls: dict[str, Any], title: str,
                 describe: Callable[[dict[str, Any]], str], **view_options: Any) -> None:
        import ipywidgets as w
        self.train_function, self.controls, self.title, self.describe = train, controls, title, describe
        self.view_options = view_options
        self.view: LiveTraining | None = None
        self.runs_started = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.button = w.Button(description="Train", icon="play", button_style="primary")
        self.button.on_click(lambda _button: self.start())
        size = TrainingFigure(accuracy=view_options.get("accuracy", True)).size_px
        self.image = w.Image(format="png", layout=w.Layout(width=f"{size[0]}px", height=f"{size[1]}px"))
        self.status = w.Label(value=f"{describe(self.settings())}. Press Train.", layout=w.Layout(height="28px"))
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger", disabled=True)
        self.stop_button.on_click(self._stop_clicked)
        self.widget = w.VBox([w.HBox([*controls.values(), self.button]), self.image,
                              w.HBox([self.stop_button, self.status])])

    def settings(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def __repr__(self) -> str:
        return (f"Training panel: {self.describe(self.settings())}. "
                f"Press Train in a running notebook to train it yourself.")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        from chapters.panels import _with_sentence      # text/plain and an HTML copy, as the slider panels do
        return _with_sentence(self.widget._repr_mimebundle_(**kwargs), repr(self))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _stop_clicked(self, _button: Any) -> None:
        """Stop the run going on. A click can arrive after a short run has ended (the browser still showed
        Stop enabled): it then changes nothing."""
        view = self.view
        if view is not None and self.running and not view.finished:
            view.request_stop()

    def start(self) -> bool:
        """Start a run with the controls' values (what Train does); False if one is still running."""
        with self._lock:
            if self.running:
                return False
            settings = self.settings()
            # the view exists before the thread starts, so that no Stop click can come too early to count
            self.view = LiveTraining(self.title, widgets=(self.image, self.status, self.stop_button),
                                     **self.view_options)
            self.runs_started += 1
            for control in (*self.controls.values(), self.button):
                control.disabled = True
            self.stop_button.description, self.stop_button.disabled = "Stop", False
            self._thread = threading.Thread(target=self._run, args=(settings,), daemon=True, name="training panel")
            self._thread.start()
            return True

    def _run(self, settings: dict[str, Any]) -> None:
        try:
            sentence = self.train_function(self.view, **settings)
            self.view.finish(sentence)
        except Exception as exc:                       # shown in the panel: a thread has no cell to raise into
            self.status.value = f"Training failed: {type(exc).__name__}: {exc}"
        finally:
            for control in (*self.controls.values(), self.button):
                control.disabled = False
            self.stop_button.description, self.stop_button.disabled = "Stop", True   # no longer "Stopping…"

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current run (if any) has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
