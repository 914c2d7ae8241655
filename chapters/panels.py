"""Slider panels that keep up with the reader, and widgets that describe themselves on static pages.

- :func:`slider_panel` — a chapter function with sliders: ``slider_panel(plot_decision_line, w1=(-1.0, 1.0,
  0.1), ...)``. The panel (a :class:`SliderPanel`) calls ``func(**values)`` and shows the figure it returns
  in place: one ``ipywidgets.Image`` whose picture is swapped (no blank frame, no layout jump), the
  function's printout above it. Values reach the function rounded to the slider's step. Changes that arrive
  while the function runs are coalesced: only the latest values run next. A panel whose function is slow
  (``continuous_update=False``, or a run after the first over :data:`SLOW_SECONDS` of CPU time) redraws
  when a slider is released and says ``working…`` while it runs.
- :func:`log_slider` — a slider over powers of ten.
- :func:`described` — give any widget a sentence that static pages (GitHub, nbconvert, a notebook opened
  without running it) show in its place, instead of ``VBox(children=(...``.
- :func:`snap_to_step`, :func:`slider_value`, :func:`put_default_on_grid` — the rounding rules, exposed for tests.

A function can offer a faster panel path: if it has a parameter ``fig``, the panel passes the figure it
returned last time (``None`` the first time) and the function may update its artists instead of building
a new figure (``chapters.figures.figure_memo(fig)`` keeps them). Called without ``fig``, such a function
still returns a new Figure (what the notebooks save). A function that blits (draws its changes itself onto
the figure's Agg canvas and leaves the figure not stale) is shown as drawn, without a full redraw.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import inspect
import io
import math
import re
import time
import traceback
from decimal import Decimal
from typing import Any, Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

#: Resolution of a panel's figure (dots per inch): that of the notebooks' inline figures.
PANEL_DPI = 100
#: A run slower than this (CPU seconds; the first, cold run not counted) makes its panel redraw on release and
#: say ``working…``.
SLOW_SECONDS = 0.3
#: How long (seconds) a panel waits after a change before it runs, so that changes already on their way
#: (a held key, a drag, presses made while the last run was busy) are coalesced into one run.
COALESCE_SECONDS = {True: 0.04, False: 0.005}         # {redraws on release: ..., redraws live: ...}
#: Blank space kept around what a figure draws (inches): it lets labels grow a little without being cut.
CROP_PAD_INCHES = 0.15

_WORKING = "working…"
_STATUS_STYLE = "margin: 0; white-space: pre; overflow-x: auto; font-size: 0.92em; line-height: 1.3"


# ---------------------------------------------------------------------------------------------
# Widgets that say what they are on a static page
# ---------------------------------------------------------------------------------------------
def _with_sentence(bundle: dict | None, sentence: str) -> dict | None:
    if bundle is None:
        return None
    bundle = dict(bundle)
    bundle["text/plain"] = sentence
    bundle["text/html"] = f"<p><em>{html.escape(sentence)}</em></p>"
    return bundle


def described(widget: Any, sentence: str) -> Any:
    """Give ``widget`` the sentence that pages without a live kernel show in its place; returns the widget.

    JupyterLab still shows the live widget (its view is the same); the saved notebook's ``text/plain`` and
    ``text/html`` outputs become ``sentence`` (GitHub, ``nbconvert`` without widget state, a notebook opened
    without running it), instead of the widget's repr (``VBox(children=(...``). Use it on the object a cell
    displays, e.g. the last line ``described(canvas, "A drawing canvas: draw a digit ... (run the cells
    first).")``; it works on any ``ipywidgets`` widget, boxes included.
    """
    sentence = str(sentence).strip()
    if not sentence:
        raise ValueError("described: the sentence is empty; say what the widget does and how to use it")
    plain = type(widget)._repr_mimebundle_
    widget._repr_mimebundle_ = lambda **kwargs: _with_sentence(plain(widget, **kwargs), sentence)
    widget.static_sentence = sentence
    return widget


# ---------------------------------------------------------------------------------------------
# Values on the slider's grid
# ---------------------------------------------------------------------------------------------
def _decimals(x: float) -> int:
    """Decimal places of a number as written (0.05 -> 2, 0.5 -> 1, 10.0 -> 0, 1e-05 -> 5)."""
    exponent = Decimal(f"{x:.12g}").normalize().as_tuple().exponent
    return max(0, -int(exponent))


def snap_to_step(value: float, start: float, step: float) -> float:
    """``value`` on the grid ``start + k * step``, in the decimal places of start and step.

    ``snap_to_step(0.6000000000000001, -1.0, 0.1) == 0.6``; ``snap_to_step(0.57, 0.0, 0.05) == 0.55``.
    """
    if not step > 0:
        raise ValueError(f"snap_to_step: step must be > 0, got {step!r}")
    k = round((value - start) / step)
    return round(start + k * step, max(_decimals(step), _decimals(start)))


def _significant(readout_format: str, fallback: int = 3) -> int:
    match = re.fullmatch(r"[^.]*\.(\d+)[eEfgG%]?", readout_format or "")
    return int(match.group(1)) if match else fallback


def slider_value(widget: Any) -> Any:
    """The value of a control as the panel's function sees it: a float slider's value rounded to its step
    (in the step's decimal places), a log slider's to its grid of exponents and the significant digits of
    its readout; anything else unchanged."""
    import ipywidgets as widgets

    value = widget.value
    if isinstance(widget, widgets.FloatLogSlider):
        exponent = snap_to_step(math.log(value, widget.base), widget.min, widget.step) if value > 0 else widget.min
        return float(f"{widget.base ** exponent:.{_significant(widget.readout_format)}g}")
    if isinstance(widget, widgets.FloatSlider):
        return snap_to_step(value, widget.min, widget.step)
    if isinstance(widget, widgets.FloatRangeSlider):
        return tuple(snap_to_step(v, widget.min, widget.step) for v in value)
    return value


def put_default_on_grid(widget: Any) -> None:
    """Move a slider's grid (its min, and its max with it) so that its current value lies on it.

    The browser's slider can only stand on ``min + k * step``: a value off that grid is snapped there when
    the panel is drawn, and the snapped value comes back as a change (the function runs again, with a
    value the author did not choose). The author's value is kept; the grid moves by less than a step,
    inside the original range.
    """
    if isinstance(widget, widgets.FloatLogSlider):
        if widget.value <= 0:
            return
        position, to_value = math.log(widget.value, widget.base), None
    elif isinstance(widget, (widgets.FloatSlider, widgets.IntSlider)):
        position, to_value = widget.value, type(widget.value)
    else:
        return
    lo, hi, step = widget.min, widget.max, widget.step
    k = (position - lo) / step
    if abs(k - round(k)) < 1e-9:
        if to_value is float:
            widget.value = snap_to_step(widget.value, lo, step)      # 0.6000000000000001 -> 0.6
        return
    new_lo = position - math.floor(k) * step
    new_hi = new_lo + math.floor((hi - new_lo) / step + 1e-9) * step
    if to_value is float:
        digits = max(_decimals(step), _decimals(position))
        new_lo, new_hi = round(new_lo, digits), round(new_hi, digits)
    elif to_value is int:
        new_lo, new_hi = int(new_lo), int(new_hi)
    widget.min, widget.max = new_lo, new_hi          # lo <= value <= hi: the value is never clamped


# ---------------------------------------------------------------------------------------------
# The figure as a picture
# ---------------------------------------------------------------------------------------------
class _Picture:
    """Turns figures into PNG bytes of a stable size: one draw, cropped to what the first figure of that
    size drew (plus :data:`CROP_PAD_INCHES`), so that the picture does not change size from one value to
    the next (``bbox_inches="tight"`` would draw twice and move the picture by a pixel or two each time)."""

    def __init__(self, dpi: int = PANEL_DPI) -> None:
        self.dpi = dpi
        self._crop: dict[tuple, tuple[str, Any]] = {}

    def png(self, fig: Figure) -> tuple[bytes, int, int]:
        """(PNG bytes, width, height) of ``fig``."""
        from PIL import Image

        if fig.dpi != self.dpi:
            fig.set_dpi(self.dpi)
        drawn = isinstance(fig.canvas, FigureCanvasAgg) and getattr(fig.canvas, "renderer", None) is not None
        canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
        key = (tuple(np.round(fig.get_size_inches(), 4)), self.dpi)
        if key not in self._crop:
            canvas.draw()
            self._crop[key] = self._crop_of(fig, canvas)
        how, box = self._crop[key]
        if how == "crop" and (fig.stale or not drawn):
            canvas.draw()                    # drawn and not stale: the function drew it (blitting): keep that
        if how == "savefig":                 # it draws outside the figure: let savefig place it (one draw)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=self.dpi, bbox_inches=box, pil_kwargs={"compress_level": 1})
            data = buf.getvalue()
            with Image.open(io.BytesIO(data)) as im:
                return data, im.width, im.height
        top, bottom, left, right = box
        rgba = np.asarray(canvas.buffer_rgba())[top:bottom, left:right]
        opaque = fig.get_facecolor()[3] >= 1.0
        image = Image.fromarray(np.ascontiguousarray(rgba[..., :3] if opaque else rgba))
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), image.width, image.height

    def _crop_of(self, fig: Figure, canvas: FigureCanvasAgg) -> tuple[str, Any]:
        drawn = fig.get_tightbbox(canvas.get_renderer())                                 # inches
        tight = drawn.padded(CROP_PAD_INCHES)
        w, h = fig.get_size_inches()
        inside = drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= w + 0.01 and drawn.y1 <= h + 0.01
        if not inside:
            return "savefig", Bbox.from_extents(tight.x0, tight.y0, tight.x1, tight.y1)
        height_px, width_px = int(round(h * self.dpi)), int(round(w * self.dpi))
        left = max(0, int(math.floor(tight.x0 * self.dpi)))
        right = min(width_px, int(math.ceil(tight.x1 * self.dpi)))
        top = max(0, height_px - int(math.ceil(tight.y1 * self.dpi)))
        bottom = min(height_px, height_px - int(math.floor(tight.y0 * self.dpi)))
        return "crop", (top, bottom, left, right)


# ---------------------------------------------------------------------------------------------
# The panel
# ---------------------------------------------------------------------------------------------
def _call_later(delay: float, callback: Callable[[], None]):
    """Schedule ``callback`` on the running event loop (the kernel's); None when there is none."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop.call_later(delay, callback)


def _is_slider(widget: Any) -> bool:
    return "Slider" in type(widget).__name__


def _sentence_for(controls: dict[str, Any]) -> str:
    sliders = [name for name, w in controls.items() if _is_slider(w)]
    others = [name for name, w in controls.items() if not _is_slider(w)]
    parts = ([f"{'Sliders' if len(sliders) > 1 else 'Slider'}: {', '.join(sliders)}"] if sliders else []) + \
            ([f"{'menus and fields' if len(others) > 1 else 'menu or field'}: {', '.join(others)}"] if others else [])
    text = "; ".join(parts)
    them = "them" if len(controls) > 1 else "it"
    return (f"{text[0].upper()}{text[1:]} — move {them} to redraw the figure; the one above shows the starting "
            f"values (run the notebook's cells first).")


class SliderPanel(widgets.VBox):
    """A chapter function with its controls, redrawn in place (see the module docstring).

    children: the controls (in the order given), a one-line state (``working…`` while a slow run, or any
    run of a panel that redraws on release, is on; otherwise empty, its height kept), the function's
    printout (``.dlfs-panel-status``) and its figure (an ``ipywidgets.Image``, ``.dlfs-panel-figure``).
    ``values()`` are the values the function sees next; ``shown_values`` those of the figure on show;
    ``last_seconds`` how long its last run took (wall clock), ``last_cpu_seconds`` how much CPU time.
    """

    def __init__(self, func: Callable[..., Any], controls: dict[str, Any], fixed_values: dict[str, Any],
                 on_release: bool, sentence: str) -> None:
        self.func, self.controls, self.fixed_values = func, controls, fixed_values
        self.status = widgets.HTML(layout=widgets.Layout(margin="2px 0 0 0", width="100%"))
        self.status.add_class("dlfs-panel-status")
        # format "url" with a data: URL, not "png": the browser loads a data: URL at once when the src
        # changes (a blob: URL, what "png" makes, can leave the picture blank for a frame)
        self.figure = widgets.Image(format="url", layout=widgets.Layout(max_width="100%", height="auto"))
        self.figure.add_class("dlfs-panel-figure")
        self.state = widgets.HTML("&nbsp;", layout=widgets.Layout(height="1.4em", margin="0"))
        self.state.add_class("dlfs-panel-state")
        self.shown_values: dict[str, Any] | None = None
        self.on_release = False                           # set below, or later by a slow run
        self.last_seconds = self.last_cpu_seconds = 0.0
        self.runs = 0
        self._picture = _Picture()
        self._fig: Figure | None = None
        self._redraws_into = "fig" in inspect.signature(func).parameters and "fig" not in controls
        self._timer = None
        self._dirty = False
        # the state line is there from the start, empty, so that a panel switching to on-release (below)
        # gains no line: its figure does not jump down by a line's height on that press
        super().__init__(children=list(controls.values()) + [self.state, self.status, self.figure])
        self.add_class("widget-interact")
        self.add_class("dlfs-panel")
        self.layout.border = "1px solid #ddd"
        self.static_sentence = sentence
        self._render(self.values())                       # the first figure, while the cell runs
        if on_release:
            self._redraw_on_release()
        for widget in controls.values():
            widget.observe(self._changed, names="value")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        return _with_sentence(super()._repr_mimebundle_(**kwargs), self.static_sentence)

    def _redraw_on_release(self) -> None:
        """From now on: sliders send their value when released, and a ``working…`` line shows each run."""
        self.on_release = True
        for widget in self.controls.values():
            if hasattr(widget, "continuous_update"):
                widget.continuous_update = False

    @property
    def png(self) -> bytes:
        """The PNG bytes of the figure on show (empty before the first figure)."""
        value = bytes(self.figure.value)
        return base64.b64decode(value.split(b",", 1)[1]) if value.startswith(b"data:") else value

    def values(self) -> dict[str, Any]:
        """The controls' values as the function sees them (rounded to their steps)."""
        return {name: slider_value(widget) for name, widget in self.controls.items()}

    # -- coalescing -----------------------------------------------------------------------------
    def _changed(self, change: dict) -> None:
        self._dirty = True
        if self._timer is None:
            self._timer = _call_later(COALESCE_SECONDS[self.on_release], self._flush)
            if self._timer is None:            # no event loop (plain Python): redraw now
                self._flush()

    def _flush(self) -> None:
        self._timer = None
        if self._dirty:
            self._dirty = False
            self._render(self.values())

    # -- one run ----------------------------------------------------------------------------------
    def _render(self, values: dict[str, Any]) -> None:
        if values == self.shown_values:
            return
        busy = self.on_release or self.last_seconds > SLOW_SECONDS
        if busy:
            self.state.value = _WORKING
        printed = io.StringIO()
        before = set(plt.get_fignums())
        start, cpu_start = time.perf_counter(), time.process_time()
        png = None
        try:
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                kwargs = {**values, **self.fixed_values}
                if self._redraws_into:
                    kwargs["fig"] = self._fig
                result = self.func(**kwargs)
                fig = result if isinstance(result, Figure) else None
                new = [plt.figure(n) for n in sorted(set(plt.get_fignums()) - before)]
                if fig is None and new:
                    fig = new[-1]                # drawn with pyplot, not returned
                for number in set(plt.get_fignums()) - before:
                    plt.close(number)            # pyplot forgets them (no inline copy); before the picture
                if result is not None and fig is None:
                    print(result)
                if fig is not None:
                    png = self._picture.png(fig)
                self._fig = fig if self._redraws_into else None
        except Exception as exc:                 # noqa: BLE001 - the reader's values may be out of range
            printed.write("".join(traceback.format_exception_only(type(exc), exc)))
        finally:
            for number in set(plt.get_fignums()) - before:
                plt.close(number)
        self.last_seconds = time.perf_counter() - start
        self.last_cpu_seconds = time.process_time() - cpu_start
        self.runs += 1
        self.shown_values = values
        if png is not None:
            data, width, height = png
            with self.figure.hold_sync():
                self.figure.value = b"data:image/png;base64," + base64.b64encode(data)
                if self.figure.width != str(width) or self.figure.height != str(height):
                    self.figure.width, self.figure.height = str(width), str(height)
        text = printed.getvalue().rstrip("\n")
        self.status.value = f'<pre style="{_STATUS_STYLE}">{html.escape(text) if text else "&nbsp;"}</pre>'
        if busy:
            self.state.value = "&nbsp;"
        if self.runs > 1 and not self.on_release and self.last_cpu_seconds > SLOW_SECONDS:
            self._redraw_on_release()


def slider_panel(func: Callable[..., Any], continuous_update: bool = True, **controls: Any):
    """A panel of controls over ``func``: every change calls ``func(**values)`` and shows its figure in place.

    controls: ipywidgets abbreviations — ``(min, max, step)`` for a slider, a list for a dropdown, a bool
    for a checkbox, ``ipywidgets.fixed(v)`` for a fixed argument — or widget objects. A slider made from
    an abbreviation starts at the function's default. continuous_update=False: redraw when a slider is
    released (for functions that train); a panel whose function turns out to take over
    :data:`SLOW_SECONDS` of CPU time (the first, cold run not counted) switches to that.
    Returns a :class:`SliderPanel` (an ``ipywidgets.VBox``).
    """
    if not callable(func):
        raise TypeError(f"slider_panel: func must be a function, got {type(func).__name__}")
    parameters = inspect.signature(func).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [name for name in controls if name not in parameters and not takes_any]
    if unknown:
        raise TypeError(f"slider_panel: {getattr(func, '__name__', func)!r} has no parameter "
                        f"{', '.join(unknown)} (it takes {', '.join(parameters)})")
    live: dict[str, Any] = {}
    fixed_values: dict[str, Any] = {}
    for name, abbrev in controls.items():
        if isinstance(abbrev, widgets.fixed):
            fixed_values[name] = abbrev.value
            continue
        default = parameters[name].default if name in parameters else inspect.Parameter.empty
        widget = widgets.interactive.widget_from_abbrev(
            abbrev, widgets.interaction.empty if default is inspect.Parameter.empty else default)
        if widget is None or isinstance(widget, widgets.fixed):
            raise ValueError(f"slider_panel: cannot make a control for {name} from {abbrev!r}")
        if not getattr(widget, "description", ""):
            widget.description = name
        if not continuous_update and hasattr(widget, "continuous_update"):
            widget.continuous_update = False
        put_default_on_grid(widget)
        live[name] = widget
    return SliderPanel(func, live, fixed_values, on_release=not continuous_update,
                        sentence=_sentence_for(live))


def log_slider(description: str, value: float, min_exp: float, max_exp: float, step: float = 0.25,
               readout_format: str = ".3g"):
    """A slider over 10**min_exp .. 10**max_exp (learning rates, weight scales, lambdas), redrawing on
    release; its grid of exponents passes through ``value`` (see :func:`put_default_on_grid`)."""
    if not value > 0:
        raise ValueError(f"log_slider {description!r}: value must be > 0, got {value!r}")
    if not min_exp < max_exp:
        raise ValueError(f"log_slider {description!r}: need min_exp < max_exp, got {min_exp}, {max_exp}")
    slider = widgets.FloatLogSlider(value=value, base=10, min=min_exp, max=max_exp, step=step,
                                    description=description, readout_format=readout_format,
                                    continuous_update=False)
    put_default_on_grid(slider)
    return slider
