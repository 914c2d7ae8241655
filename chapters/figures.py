"""Figure, slider, timing and exercise helpers shared by the notebooks (no chapter's code lives here).

- figures: :func:`axes_for`, :func:`plot_loss_curve`, :func:`plot_accuracy_curves`, :func:`show_digits`,
  :func:`plot_probabilities`
- sliders: :func:`slider_panel` (a plain function with sliders, its figure redrawn in place: the
  notebook calls the function once with its defaults, so the figure is saved and tested, then offers
  the panel), :func:`log_slider`, :func:`described` (a widget's sentence for static pages); they live
  in :mod:`chapters.panels`
- timing: :func:`median_seconds`
- reading and checking: :func:`show_source` (the book's code from ``common``, highlighted) and
  :func:`expect` (a claim checked and printed as a sentence: ``✓ test accuracy 0.9719 ≥ 0.97``)
- exercises: :class:`Exercise` (with :class:`Case`, :class:`Mistake`, :class:`Variant`), the machinery
  behind every chapter's ``check_*``: run the reader's function, recognise known mistakes, answer in
  English and Chinese

Each function draws on a Matplotlib ``Axes`` (a new figure if none is given) and returns the
``Figure``; it never calls ``plt.show()`` itself, so tests can inspect what it drew and notebooks
decide when to show it. Chapter-specific figures live beside their experiments.
"""
from __future__ import annotations

import copy
import inspect
import re
import time
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation

from common.util import smooth_curve

#: The one colour map for MNIST digits in every notebook: dark ink on white paper, 0 -> white, 1 -> black.
DIGIT_CMAP = "gray_r"


def axes_for(ax: Axes | None, figsize: tuple[float, float] = (5, 3.5)) -> tuple[Figure, Axes]:
    """(figure, axes) to draw on: the given axes and its figure, or a new figure of ``figsize``."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_loss_curve(losses: Sequence[float], ax: Axes | None = None, smooth: int = 11, label: str = "loss",
                    logy: bool = False) -> Figure:
    """Per-iteration loss (thin, "per mini-batch") and its moving average over ``smooth`` iterations (thick)."""
    fig, ax = axes_for(ax)
    losses = np.asarray(losses, dtype=float)
    line, = ax.plot(losses, alpha=0.3, lw=0.8, label=f"{label}, per mini-batch")
    if smooth > 1 and losses.size >= smooth:
        ax.plot(smooth_curve(losses, smooth), color=line.get_color(), lw=1.8,
                label=f"{label}, moving average of {smooth}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return fig


def plot_accuracy_curves(train_acc: Sequence[float], test_acc: Sequence[float], ax: Axes | None = None,
                         title: str | None = None) -> Figure:
    """Train and test accuracy per epoch (epochs numbered from 1)."""
    fig, ax = axes_for(ax)
    epochs = np.arange(1, len(train_acc) + 1)
    ax.plot(epochs, train_acc, "o-", label="train")
    ax.plot(epochs, test_acc, "s--", label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.0)
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right")
    return fig


def show_digits(images: np.ndarray, titles: Sequence[str] | None = None, ncols: int = 10,
                size: float = 1.1) -> Figure:
    """A grid of grey-scale digits. images: (K, 784), (K, 28, 28) or (K, 1, 28, 28)."""
    images = np.asarray(images)
    k = len(images)
    side = int(round(np.sqrt(images[0].size)))
    ncols = max(1, min(ncols, k))
    nrows = int(np.ceil(k / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * (1.25 if titles else 1)),
                             squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < k:
            ax.imshow(images[i].reshape(side, side), cmap=DIGIT_CMAP, vmin=0, vmax=images.max() or 1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def plot_probabilities(probs: np.ndarray, true_label: int | None = None, ax: Axes | None = None,
                       title: str | None = None) -> Figure:
    """Bar chart of a probability vector (C,): the top class in orange; the true class shaded grey
    behind its bar, with a bold tick label (visible even when its probability is near 0)."""
    fig, ax = axes_for(ax, figsize=(4, 2.6))
    probs = np.asarray(probs, dtype=float)
    colors = ["tab:blue"] * probs.size
    colors[int(np.argmax(probs))] = "tab:orange"
    ax.bar(np.arange(probs.size), probs, color=colors)
    ax.set_xticks(np.arange(probs.size))
    if true_label is not None:
        true = int(true_label)
        ax.axvspan(true - 0.45, true + 0.45, color="0.88", zorder=0)
        ax.get_xticklabels()[true].set_fontweight("bold")
    ax.set_ylim(0, 1)
    ax.set_xlabel("class")
    ax.set_ylabel("probability")
    if title:
        ax.set_title(title)
    return fig


def slider_panel(func: Callable[..., Any], continuous_update: bool = True, **controls: Any):
    """A panel of controls over ``func`` that redraws its figure in place: see :func:`chapters.panels.slider_panel`.

    ``slider_panel(plot_decision_line, w1=(-1.0, 1.0, 0.1), ...)``; continuous_update=False redraws on release
    (for callbacks that train).
    """
    from chapters.panels import slider_panel as panel

    return panel(func, continuous_update, **controls)


def log_slider(description: str, value: float, min_exp: float, max_exp: float, step: float = 0.25,
               readout_format: str = ".3g"):
    """A slider over 10**min_exp .. 10**max_exp (learning rates, weight scales, lambdas): see
    :func:`chapters.panels.log_slider`."""
    from chapters.panels import log_slider as slider

    return slider(description, value, min_exp, max_exp, step, readout_format)


def described(widget: Any, sentence: str) -> Any:
    """Give ``widget`` the sentence static pages show in its place: see :func:`chapters.panels.described`."""
    from chapters.panels import described as describe

    return describe(widget, sentence)


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


class PlainLogFormatter(LogFormatterSciNotation):
    """Log-axis tick labels like ``10⁻⁵`` and ``2×10⁻⁶`` in plain Unicode text instead of mathtext.

    The same labels as matplotlib's default, but without the mathtext parser, which takes milliseconds
    per new label: a log axis whose range moves with a slider (new exponents each time) redraws several
    times faster. Use it as ``ax.yaxis.set_major_formatter(PlainLogFormatter())`` (and the minor one).
    """

    def __call__(self, x: float, pos: int | None = None) -> str:
        label = super().__call__(x, pos)
        match = re.fullmatch(r"\$\\mathdefault\{(?:([\d.]+)\\times)?([\d.]+)\^\{(-?\d+)\}\}\$", label)
        if not match:
            return label.replace("$\\mathdefault{", "").replace("}$", "") if label.startswith("$") else label
        factor, base, exponent = match.groups()
        return f"{factor + '×' if factor else ''}{base}{exponent.translate(_SUPERSCRIPT)}"


def plain_log_labels(ax: Axes, axis: str = "y") -> None:
    """Give a log ``axis`` ("x", "y" or "both") of ``ax`` :class:`PlainLogFormatter` labels, major and minor."""
    for name in ("x", "y") if axis == "both" else (axis,):
        target = ax.xaxis if name == "x" else ax.yaxis
        target.set_major_formatter(PlainLogFormatter())
        target.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))


_FIGURE_MEMOS: "weakref.WeakKeyDictionary[Figure, dict]" = weakref.WeakKeyDictionary()


def figure_memo(fig: Figure) -> dict:
    """A dict that lives as long as ``fig`` does: where a function's panel path keeps the artists it updates.

    A panel passes a function the figure it returned last time (``fig=...``, see :func:`slider_panel`); the
    function finds its artists here (``memo = figure_memo(fig); memo.get("key") == (what the layout
    depends on)``) and updates them instead of drawing a new figure.
    """
    return _FIGURE_MEMOS.setdefault(fig, {})


def median_seconds(fn: Callable[[], Any], repeats: int = 5,
                   clock: Callable[[], float] = time.process_time) -> float:
    """Median time of ``fn()`` over ``repeats`` calls (the median ignores one-off hiccups).

    ``clock`` defaults to ``time.process_time``: the CPU time of this process, so other programs
    competing for a shared machine do not inflate the measurement. Pass ``time.perf_counter`` for
    wall-clock time.
    """
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return float(np.median(times))


def show_source(obj: Any) -> Any:
    """The source code of a function or class (e.g. ``common.layers.Affine``), syntax-highlighted.

    Returns an ``IPython.display.Code`` object: a notebook shows it highlighted, plain text shows
    the code itself. Used where the book writes code that the lab keeps in ``common``.
    """
    from IPython.display import Code

    return Code(inspect.getsource(obj), language="python")


_OPS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    ">=": ("≥", lambda a, b: a >= b), ">": (">", lambda a, b: a > b),
    "<=": ("≤", lambda a, b: a <= b), "<": ("<", lambda a, b: a < b),
    "==": ("=", lambda a, b: a == b),
}


class ClaimError(AssertionError):
    """A claim the notebook makes about its own results did not hold."""


def expect(label: str, value: Any, op: str, bound: Any, why: str = "", digits: int = 4) -> None:
    """Check a claim about a result and print it as a sentence: ``✓ label value ≥ bound``.

    ``op`` is one of ``>=``, ``>``, ``<=``, ``<``, ``==``. Numbers are printed to ``digits``
    significant digits. When the claim fails, raises :class:`ClaimError` with the same sentence,
    marked ✗, and ``why`` (what it means and what to try).
    """
    if op not in _OPS:
        raise ValueError(f"expect: op must be one of {list(_OPS)}, got {op!r}")
    symbol, holds = _OPS[op]

    def fmt(v: Any) -> str:
        return f"{v:.{digits}g}" if isinstance(v, (float, np.floating)) else str(v)

    sentence = f"{label} {fmt(value)} {symbol} {fmt(bound)}"
    if not holds(value, bound):
        raise ClaimError(f"✗ {sentence} does not hold." + (f" {why}" if why else ""))
    print(f"✓ {sentence}")


# ---------------------------------------------------------------------------------------------
# Exercises that answer back (练习): the checkers' shared machinery
# ---------------------------------------------------------------------------------------------


class NotDone(Exception):
    """The reader's answer is still the stub: it raised NotImplementedError, or returned None / ``...``
    (``returned_none`` is then True: a stub with ``...`` or ``pass``, or a forgotten ``return``)."""

    def __init__(self, returned_none: bool = False) -> None:
        super().__init__()
        self.returned_none = returned_none


@dataclass(frozen=True)
class Raised:
    """An exception that a run raised, kept as its type and message (what a reader sees)."""

    type: str
    message: str

    @classmethod
    def of(cls, exc: BaseException) -> "Raised":
        return cls(type(exc).__name__, str(exc))

    @property
    def key(self) -> tuple[str, str]:
        """Type and first line, with the shapes it names in sorted order: the same bug on the same case
        raises the same key, whichever operand the code happened to write first."""
        msg = self.message.splitlines()[0] if self.message else ""
        shapes = iter(sorted(re.findall(r"\([\d,\s]*\)", msg)))
        return self.type, re.sub(r"\([\d,\s]*\)", lambda _: next(shapes), msg)

    def __str__(self) -> str:
        first = self.message.splitlines()[0] if self.message else ""
        return f"{self.type}: {first[:160]}"


_MISSING = object()     # a component that a run never reached (it raised first)


def _snapshot(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(v) for v in value)
    return value


class Record(dict):
    """What one run of an answer on one case produced, component by component (arrays copied)."""

    def put(self, key: str, value: Any) -> Any:
        """Record ``value`` (a copy of it) as component ``key``; returns value unchanged."""
        self[key] = _snapshot(value)
        return value

    def result(self, key: str, value: Any) -> Any:
        """Like :meth:`put`, for a value the answer *returned*: None or ``...`` means the stub is unfinished."""
        if value is None or value is Ellipsis:
            raise NotDone(returned_none=True)
        return self.put(key, value)


def same(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """Do two recorded values agree? Arrays: same shape and allclose (NaN equals NaN); errors: same key."""
    if isinstance(a, Raised) or isinstance(b, Raised):
        return isinstance(a, Raised) and isinstance(b, Raised) and a.key == b.key
    if a is _MISSING or b is _MISSING or a is None or b is None:
        return a is b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, rtol, atol) for x, y in zip(a, b))
    try:
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape:
            return False
        if x.dtype.kind in "biuf" and y.dtype.kind in "biuf":
            return bool(np.allclose(x.astype(np.float64), y.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True))
        return bool(np.array_equal(x, y))
    except Exception:                                   # noqa: BLE001 - values that cannot be compared differ
        return False


def one_line(value: Any) -> str:
    """A value on one line for a message: arrays with their shape, errors as ``Type: message``."""
    if value is _MISSING:
        return "— (not reached)"
    if isinstance(value, Raised):
        return f"an error, {value}"
    if isinstance(value, tuple):
        return "(" + ", ".join(one_line(v) for v in value) + ")"
    if isinstance(value, np.ndarray) or isinstance(value, list):
        arr = np.asarray(value)
        if arr.ndim == 0:
            return one_line(arr.item())
        text = np.array2string(arr, precision=4, separator=", ", threshold=20, edgeitems=2,
                               max_line_width=10_000, suppress_small=True)
        text = re.sub(r"\s+([,\]])", r"\1", re.sub(r"\[\s+", "[", " ".join(text.split())))
        return f"{text} (shape {arr.shape}{', dtype ' + str(arr.dtype) if arr.dtype.kind == 'b' else ''})"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return repr(value)


def say(mark: str, en: str, zh: str) -> None:
    """Print one piece of feedback: the English line, and the Chinese line under it."""
    print(f"{mark} {en}\n  {mark} {zh}")


@dataclass(frozen=True)
class Case:
    """One input to try an answer on. ``label`` names it in messages; ``args`` are deep-copied for every run."""

    label: str
    args: tuple = ()


@dataclass(frozen=True)
class Mistake:
    """A wrong answer that a checker recognises, and what to tell the reader about it.

    Recognised in one of three ways:

    - ``wrong``: planted wrong versions (the reader's bug, written out). The answer matches one when it
      agrees with it on every (case, component) where that version differs from the reference.
    - ``test(got, ref)``: a test on the answer's and the reference's records (lists of :class:`Record`,
      one per case) that returns what this mistake explains: case indices, (case, component) pairs, or
      True for everything; empty or False when it is not this mistake.
    - ``source``: a regular expression that the answer's source code matches — a latent bug that no
      case can show, e.g. ``if self.v == None`` on a dict.

    Every matched mistake prints its message, unless what it explains was already explained by an
    earlier one; what no mistake explains gets the generic message (which case, expected vs got).
    """

    en: str
    zh: str
    wrong: tuple = ()
    test: Callable[[list, list], Any] | None = None
    source: str | None = None

    @classmethod
    def planted(cls, wrong: Callable | tuple[Callable, ...], en: str, zh: str) -> "Mistake":
        """The commonest mistake, recognised by its planted wrong version(s) alone: the reader's bug written
        out (one callable, or a tuple of them), then what to tell the reader, in English and in Chinese —
        ``Mistake.planted(_relu_in_place, "Your relu changed ...", "你的 relu ...")``."""
        return cls(en, zh, wrong=wrong if isinstance(wrong, tuple) else (wrong,))


@dataclass(frozen=True)
class Variant:
    """Another correct answer that differs from the reference (accepted, with a note)."""

    version: Callable
    en: str
    zh: str


@dataclass
class Exercise:
    """An exercise's checker: run the reader's answer on ``cases``, compare with ``reference``, diagnose.

    observe(rec, answer, *case.args) runs the answer on one case and records what matters in ``rec``
    (its result, its side effects: an input changed in place, an array object not updated, ...).
    ``labels`` names the recorded components in messages: {key: (English, 中文)}.
    """

    name: str
    zh: str
    reference: Callable
    observe: Callable[..., None]
    cases: Sequence[Case]
    mistakes: Sequence[Mistake] = ()
    variants: Sequence[Variant] = ()
    labels: dict = field(default_factory=dict)
    rtol: float = 1e-5
    atol: float = 1e-8
    seed: int = 0
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def returning(cls, name: str, zh: str, reference: Callable, result: tuple[str, str, str],
                  cases: Sequence[Case], **options: Any) -> "Exercise":
        """An exercise whose answer only returns something: ``answer(*case.args)`` is recorded as component
        ``key`` and named (English, 中文) in messages, where ``result = (key, English, 中文)``."""
        key, en, zh_label = result

        def observe(rec: Record, answer: Callable, *args: Any) -> None:
            rec.result(key, answer(*args))
        return cls(name, zh, reference, observe, cases, labels={key: (en, zh_label)}, **options)

    @staticmethod
    def after_call(name: str) -> dict[str, tuple[str, str]]:
        """The label of an input recorded after the call as ``<name>_after`` (one that must stay unchanged)."""
        return {f"{name}_after": (f"your {name} after the call", f"调用后的 {name}")}

    # -- running ---------------------------------------------------------------------------
    def run(self, answer: Callable) -> list[Record]:
        """Records of ``answer`` on every case. Raises :class:`NotDone` for an unfinished stub."""
        records = []
        state = np.random.get_state()
        try:
            for case in self.cases:
                rec = Record()
                np.random.seed(self.seed)                 # answers that draw random numbers see the same ones
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")      # overflow in exp, log(0): the records show them
                    try:
                        self.observe(rec, answer, *copy.deepcopy(case.args))
                    except NotDone:
                        raise
                    except NotImplementedError:
                        raise NotDone from None
                    except Exception as exc:             # noqa: BLE001 - a reader's error is a result
                        rec["error"] = Raised.of(exc)
                records.append(rec)
        finally:
            np.random.set_state(state)                   # leave the reader's random state alone
        return records

    def _records_of(self, version: Callable) -> list[Record]:
        key = id(version)
        if key not in self._cache:
            self._cache[key] = (version, self.run(version))
        return self._cache[key][1]

    def _differences(self, got: list[Record], want: list[Record]) -> list[tuple[int, str]]:
        pairs = []
        for i, (g, w) in enumerate(zip(got, want)):
            keys = list(w) + [k for k in g if k not in w]
            pairs += [(i, k) for k in keys if not same(g.get(k, _MISSING), w.get(k, _MISSING), self.rtol, self.atol)]
        return pairs

    @staticmethod
    def _source(answer: Callable) -> str:
        parts = [answer] if not isinstance(answer, type) else [v for v in vars(answer).values() if callable(v)]
        text = []
        for part in parts:
            try:
                text.append(inspect.getsource(part))
            except (OSError, TypeError):
                pass
        return "\n".join(text)

    # -- the public checker ------------------------------------------------------------------
    def checker(self, stub: Callable) -> Callable[..., bool]:
        """Decorator that makes a chapter's public ``check_*`` function from a body-less declaration::

            @_RELU_EX.checker
            def check_relu(fn) -> bool:
                \"\"\"Exercise 3.2: ...\"\"\"

        The declaration gives the name, the parameter, the docstring and the module (what the notebooks,
        ``help()`` and ``inspect.signature`` show); calling the result runs :meth:`check` on the one answer."""
        signature = inspect.signature(stub)

        def check(*args: Any, **kwargs: Any) -> bool:
            (answer,) = signature.bind(*args, **kwargs).arguments.values()
            return self.check(answer)

        for attr in ("__module__", "__name__", "__qualname__", "__doc__", "__annotations__"):
            setattr(check, attr, getattr(stub, attr))
        check.__wrapped__ = stub                          # inspect.signature(check_relu) is (fn) -> bool
        return check

    # -- the verdict -------------------------------------------------------------------------
    def check(self, answer: Callable) -> bool:
        """Print ✓, "not done yet", or what is wrong (English and 中文); return True only when correct."""
        if not callable(answer):
            raise TypeError(f"check: pass your function or class itself (e.g. check_x(my_x)), "
                            f"not {type(answer).__name__} {answer!r}")
        try:
            got = self.run(answer)
        except NotDone as stub:
            if stub.returned_none:
                say("…", f"{self.name}: not done yet — your code returns None (still a stub, or a `return` "
                         f"missing?).",
                    f"{self.zh}：还没有完成——你的代码返回了 None（还没写完，还是漏了 return？）。")
            else:
                say("…", f"{self.name}: not done yet — replace `raise NotImplementedError` with your code, "
                         f"then run this cell again.",
                    f"{self.zh}：还没有完成——请把 raise NotImplementedError 换成你的代码，再运行这个单元格。")
            return False
        ref = self._records_of(self.reference)
        wrong = self._differences(got, ref)
        source = self._source(answer) if any(m.source for m in self.mistakes) else ""

        if not wrong:
            hints = [m for m in self.mistakes if m.source and re.search(m.source, source)]
            if not hints:
                say("✓", f"{self.name}: correct on all {len(self.cases)} cases.",
                    f"{self.zh}：全部 {len(self.cases)} 个测试用例都正确。")
                return True
            for m in hints:
                say("✗", m.en, m.zh)
            return False
        for v in self.variants:
            if not self._differences(got, self._records_of(v.version)):
                say("✓", f"{self.name}: correct on all {len(self.cases)} cases. {v.en}",
                    f"{self.zh}：全部 {len(self.cases)} 个测试用例都正确。{v.zh}")
                return True

        explained: set[tuple[int, str]] = set()
        for m in self.mistakes:
            hit: set[tuple[int, str]] = set()
            for version in m.wrong:
                planted = self._records_of(version)
                diff = self._differences(planted, ref)
                if diff and all(same(got[i].get(k, _MISSING), planted[i].get(k, _MISSING), self.rtol, self.atol)
                                for i, k in diff):
                    hit = set(diff)
                    break
            if not hit and m.test is not None:
                try:
                    cases = m.test(got, ref)
                except Exception:                        # noqa: BLE001 - a test that cannot read the records: no match
                    cases = False
                if cases is True:
                    hit = set(wrong)
                elif cases:
                    cases = set(cases)
                    hit = {(i, k) for i, k in wrong if i in cases or (i, k) in cases}
            if not hit and m.source and re.search(m.source, source):
                hit = {("source", "")}
            if hit and not hit <= explained:            # a message only for something not yet explained
                say("✗", m.en, m.zh)
                explained |= hit
        rest = [p for p in wrong if p not in explained]
        if rest:
            self._generic(rest, got, ref)
        return False

    def _generic(self, rest: list[tuple[int, str]], got: list[Record], ref: list[Record]) -> None:
        i = rest[0][0]
        keys = [k for j, k in rest if j == i]
        case = self.cases[i]
        where_en = f"{self.name}: case {i + 1} of {len(self.cases)} ({case.label})"
        where_zh = f"{self.zh}：第 {i + 1} 个测试用例（{case.label}）"
        if "error" in keys:
            say("✗", f"{where_en} raised {got[i]['error']}.",
                f"{where_zh}报错了：{got[i]['error']}。")
            return
        k = keys[0]
        en, zh = self.labels.get(k, (k, k))
        say("✗", f"{where_en}: {en} should be {one_line(ref[i].get(k, _MISSING))}, "
                 f"yours is {one_line(got[i].get(k, _MISSING))}.",
            f"{where_zh}：{zh}与参考答案不同（期望值和你的结果见上一行）。")
