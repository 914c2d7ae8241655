"""Perceptrons as logic gates, and what they can build (book chapter 2).

A perceptron with two inputs fires (outputs 1) when the weighted sum of its inputs plus a bias is
positive:

    y = 1  if  w1*x1 + w2*x2 + b > 0
    y = 0  otherwise

Geometrically, ``w1*x1 + w2*x2 + b = 0`` is a straight line in the (x1, x2) plane; the perceptron
answers 1 on one side of the line and 0 on the other. That single fact explains the whole chapter:
AND, NAND and OR can each be cut off by one line, XOR cannot, and stacking perceptrons in layers
removes the limit — far enough to add binary numbers like a computer does (section 2.6).

Book sections, in the order of the notebook:

- 2.2-2.3  the gates as perceptrons: :func:`perceptron`, :func:`AND`, :func:`NAND`, :func:`OR`,
  :func:`truth_table`, :func:`match_gate`, :func:`plot_decision_line`
- 2.4      the limit of one line: :func:`find_separating_lines`, :func:`plot_xor_regions`
- 2.5      the two-layer perceptron: :func:`XOR`, :func:`plot_xor_network`
- 2.6      from NAND to a computer: :func:`half_adder`, :func:`full_adder`, :func:`ripple_carry_add`

Every gate here works element-wise: ``x1`` and ``x2`` may be single bits (0/1) *or* NumPy arrays
of bits of the same shape, so one call can evaluate a gate — or a whole adder — on many inputs.
"""
from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from chapters.figures import Case, Exercise, Mistake, axes_for

#: The four input pairs in the book's truth-table order: (x1, x2) = (0,0), (1,0), (0,1), (1,1). Shape (4, 2).
INPUTS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])

#: The book's weights and bias (w1, w2, b) for each gate; many other choices work as well.
GATE_PARAMS: dict[str, tuple[float, float, float]] = {
    "AND": (0.5, 0.5, -0.7),
    "NAND": (-0.5, -0.5, 0.7),
    "OR": (0.5, 0.5, -0.2),
}

#: Target outputs over :data:`INPUTS` for each gate, shape (4,) each.
TRUTH_TABLES: dict[str, tuple[int, int, int, int]] = {
    "AND": (0, 0, 0, 1),
    "NAND": (1, 1, 1, 0),
    "OR": (0, 1, 1, 1),
    "XOR": (0, 1, 1, 0),
}


# ---------------------------------------------------------------------------------------------
# 2.2-2.3 One perceptron, and the three gates
# ---------------------------------------------------------------------------------------------
def perceptron(x1: ArrayLike, x2: ArrayLike, w1: float, w2: float, b: float) -> int | np.ndarray:
    """Output of one perceptron: 1 where w1*x1 + w2*x2 + b > 0, else 0.

    x1, x2: bits (0 or 1), or integer arrays of bits of one shape (...).
    Returns a Python ``int`` for scalar inputs, an integer array of shape (...) otherwise.
    """
    total = w1 * np.asarray(x1) + w2 * np.asarray(x2) + b
    y = (total > 0).astype(int)
    return int(y) if y.ndim == 0 else y


def AND(x1: ArrayLike, x2: ArrayLike) -> int | np.ndarray:
    """1 only when both inputs are 1. Element-wise on arrays of bits."""
    return perceptron(x1, x2, *GATE_PARAMS["AND"])


def NAND(x1: ArrayLike, x2: ArrayLike) -> int | np.ndarray:
    """NOT AND: 0 only when both inputs are 1 (AND's weights and bias with the sign flipped)."""
    return perceptron(x1, x2, *GATE_PARAMS["NAND"])


def OR(x1: ArrayLike, x2: ArrayLike) -> int | np.ndarray:
    """1 when at least one input is 1."""
    return perceptron(x1, x2, *GATE_PARAMS["OR"])


def XOR(x1: ArrayLike, x2: ArrayLike) -> int | np.ndarray:
    """1 when exactly one input is 1: a two-layer perceptron, AND(NAND(x1, x2), OR(x1, x2))."""
    s1 = NAND(x1, x2)
    s2 = OR(x1, x2)
    return AND(s1, s2)


def truth_table(gate: Callable[[int, int], int]) -> np.ndarray:
    """Outputs of ``gate(x1, x2)`` over :data:`INPUTS`, shape (4,), as integers."""
    return np.array([gate(int(x1), int(x2)) for x1, x2 in INPUTS], dtype=int)


def perceptron_outputs(w1: float, w2: float, b: float) -> np.ndarray:
    """Outputs of the perceptron (w1, w2, b) over :data:`INPUTS`, shape (4,)."""
    return perceptron(INPUTS[:, 0], INPUTS[:, 1], w1, w2, b)


def match_gate(outputs: Sequence[int], names: Sequence[str] = ("AND", "NAND", "OR")) -> str:
    """Name of the gate whose truth table equals ``outputs`` (shape (4,)), or ``"none"``."""
    outputs = tuple(int(v) for v in outputs)
    for name in names:
        if TRUTH_TABLES[name] == outputs:
            return name
    return "none"


# ---------------------------------------------------------------------------------------------
# 2.4 Why one line cannot do XOR: search a grid of (w1, w2, b)
# ---------------------------------------------------------------------------------------------
def find_separating_lines(target: Sequence[int], steps: int = 10) -> np.ndarray:
    """Every (w1, w2, b) on a grid whose perceptron reproduces ``target`` over :data:`INPUTS`.

    target: desired outputs, shape (4,), e.g. ``TRUTH_TABLES["AND"]``.
    steps: grid points per unit. The grid for each of w1, w2 and b is k / steps for the integers
        k = -steps, ..., steps: by default -1.0, -0.9, ..., 1.0 (21 values, 21**3 = 9261 candidates).
    Returns an array of shape (K, 3), one row (w1, w2, b) per solution; K = 0 when no line works.

    The search runs on the integers k, so every weighted sum is exact. That matters for lines through
    an input point: there the sum is exactly 0, which does not fire (the rule is "> 0"). In floating
    point, 0.1 + 0.2 - 0.3 is 5.6e-17, not 0, and such ties would be decided by rounding (a float search
    finds 224 AND lines instead of 220). The integers are divided by ``steps`` only at the end.

    All candidates are tested at once: ``totals`` below has shape (G**3, 4), G = 2 * steps + 1, the
    weighted sum (times ``steps``) of every candidate at every input.
    """
    target = np.asarray(target, dtype=int)
    if target.shape != (4,):
        raise ValueError(f"target must list 4 outputs (one per input pair), got shape {target.shape}")
    k = np.arange(-steps, steps + 1)                                 # (G,) integers
    w1, w2, b = (g.ravel() for g in np.meshgrid(k, k, k, indexing="ij"))
    candidates = np.stack([w1, w2, b], axis=1)                       # (G**3, 3), integers
    totals = candidates[:, :2] @ INPUTS.T + candidates[:, 2:3]      # (G**3, 2) @ (2, 4) + (G**3, 1), exact
    fires = (totals > 0).astype(int)                                 # (G**3, 4)
    ok = np.all(fires == target, axis=1)
    return candidates[ok] / steps


# ---------------------------------------------------------------------------------------------
# 2.6 From NAND to a computer: adders
# ---------------------------------------------------------------------------------------------
def half_adder(a: ArrayLike, b: ArrayLike) -> tuple[int | np.ndarray, int | np.ndarray]:
    """Add two bits: returns (sum, carry) = (XOR(a, b), AND(a, b)). 4 perceptrons."""
    return XOR(a, b), AND(a, b)


def full_adder(a: ArrayLike, b: ArrayLike, carry_in: ArrayLike) -> tuple[int | np.ndarray, int | np.ndarray]:
    """Add three bits: returns (sum, carry_out). Two half adders and an OR: 9 perceptrons.

    The carry out is 1 when either half adder produced a carry (they never both do).
    """
    s1, c1 = half_adder(a, b)
    s, c2 = half_adder(s1, carry_in)
    return s, OR(c1, c2)


def to_bits(n: ArrayLike, n_bits: int) -> np.ndarray:
    """Binary digits of the non-negative integer(s) n, least significant first.

    n: an int, or an integer array of shape (...). Returns shape (n_bits,) or (n_bits, ...).
    """
    n = np.asarray(n)
    if np.any(n < 0) or np.any(n >= 2 ** n_bits):
        raise ValueError(f"to_bits: values must lie in [0, 2**{n_bits}) = [0, {2 ** n_bits})")
    shifts = np.arange(n_bits).reshape((n_bits,) + (1,) * n.ndim)
    return (n >> shifts) & 1


def from_bits(bits: ArrayLike) -> int | np.ndarray:
    """Inverse of :func:`to_bits`: bits of shape (k,) or (k, ...), least significant first."""
    bits = np.asarray(bits)
    weights = (2 ** np.arange(bits.shape[0])).reshape((bits.shape[0],) + (1,) * (bits.ndim - 1))
    value = np.sum(bits * weights, axis=0)
    return int(value) if np.ndim(value) == 0 else value


def ripple_carry_add(x: ArrayLike, y: ArrayLike, n_bits: int = 8) -> int | np.ndarray:
    """Add non-negative integers x and y (each < 2**n_bits) with n_bits full adders made of perceptrons.

    x, y: ints, or integer arrays of one shape (...): every pair is added at once.
    Returns x + y (an int, or an array of shape (...)); the final carry is bit n_bits of the result,
    so nothing overflows. The carry "ripples" from the lowest bit to the highest, as in a real circuit.
    """
    xb, yb = to_bits(x, n_bits), to_bits(y, n_bits)
    carry = np.zeros_like(xb[0])
    out = []
    for i in range(n_bits):
        s, carry = full_adder(xb[i], yb[i], carry)
        out.append(s)
    out.append(carry)
    return from_bits(np.array(out))


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
def _draw_line(ax: Axes, w1: float, w2: float, b: float, lim: tuple[float, float], **kwargs) -> None:
    """Draw w1*x1 + w2*x2 + b = 0 on ax, if it is a line at all (w1, w2 not both 0)."""
    xs = np.array(lim)
    if w2 != 0:
        ax.plot(xs, -(w1 * xs + b) / w2, **kwargs)
    elif w1 != 0:
        ax.axvline(-b / w1, **kwargs)


def _setup_plane(ax: Axes, lim: tuple[float, float]) -> None:
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_xticks([0, 1])
    ax.set_yticks([0, 1])


def plot_decision_line(w1: float = 0.5, w2: float = 0.5, b: float = -0.7, ax: Axes | None = None) -> Figure:
    """The perceptron (w1, w2, b) as a line over the four input points; prints its truth table.

    Shaded orange: the half-plane where it outputs 1; blue: where it outputs 0. Filled dots are the
    inputs it maps to 1, open dots those it maps to 0. Printed: the truth table, then a status line
    ``gate: AND`` / ``NAND`` / ``OR`` / ``none`` naming the gate it implements.
    """
    fig, ax = axes_for(ax, figsize=(4, 4))
    lim = (-0.5, 1.5)
    grid = np.linspace(*lim, 201)
    g1, g2 = np.meshgrid(grid, grid)                                     # (201, 201) each
    region = (w1 * g1 + w2 * g2 + b > 0).astype(float)
    ax.contourf(g1, g2, region, levels=[-0.5, 0.5, 1.5], colors=["tab:blue", "tab:orange"], alpha=0.18)
    _draw_line(ax, w1, w2, b, lim, color="black", lw=1.5)

    outputs = perceptron_outputs(w1, w2, b)
    for (x1, x2), y in zip(INPUTS, outputs):
        ax.plot(x1, x2, "o", ms=12, mec="black", mfc="tab:orange" if y else "white")
        # each label sits on the side away from the square's centre, where the book's lines pass
        ax.annotate(f"y={y}", (x1, x2), xytext=(8 if x1 else -8, 8 if x2 else -14), textcoords="offset points",
                    ha="left" if x1 else "right")
    gate = match_gate(outputs)
    ax.set_title(f"$w_1$={w1:.2g}, $w_2$={w2:.2g}, $b$={b:.2g}: {gate}")
    _setup_plane(ax, lim)

    print("x1 x2 | y")
    for (x1, x2), y in zip(INPUTS, outputs):
        print(f" {x1}  {x2} | {y}")
    print(f"gate: {gate}")
    return fig


def plot_xor_regions(ax: Axes | None = None) -> Figure:
    """XOR's four points and the two lines of its first layer (NAND and OR).

    The region where XOR outputs 1 is the band between the lines — where NAND *and* OR fire — a
    shape no single straight line can cut out.
    """
    fig, ax = axes_for(ax, figsize=(4, 4))
    lim = (-0.5, 1.5)
    grid = np.linspace(*lim, 201)
    g1, g2 = np.meshgrid(grid, grid)
    band = perceptron(g1, g2, *GATE_PARAMS["NAND"]) & perceptron(g1, g2, *GATE_PARAMS["OR"])   # (201, 201)
    ax.contourf(g1, g2, band.astype(float), levels=[-0.5, 0.5, 1.5], colors=["tab:blue", "tab:orange"], alpha=0.18)
    _draw_line(ax, *GATE_PARAMS["NAND"], lim, color="tab:red", lw=1.5, label="NAND line")
    _draw_line(ax, *GATE_PARAMS["OR"], lim, color="tab:green", lw=1.5, ls="--", label="OR line")
    for (x1, x2), y in zip(INPUTS, TRUTH_TABLES["XOR"]):
        ax.plot(x1, x2, "o", ms=12, mec="black", mfc="tab:orange" if y else "white")
    ax.set_title("XOR = AND(NAND, OR)")
    ax.legend(loc="upper right", fontsize=8)
    _setup_plane(ax, lim)
    return fig


def plot_xor_network(ax: Axes | None = None) -> Figure:
    """Diagram of the two-layer perceptron for XOR: x1, x2 -> s1 (NAND), s2 (OR) -> y (AND)."""
    fig, ax = axes_for(ax, figsize=(5, 3))
    nodes = {"$x_1$": (0, 1.5), "$x_2$": (0, 0.5), "$s_1$\nNAND": (1, 1.5), "$s_2$\nOR": (1, 0.5), "$y$\nAND": (2, 1.0)}
    edges = [("$x_1$", "$s_1$\nNAND"), ("$x_1$", "$s_2$\nOR"), ("$x_2$", "$s_1$\nNAND"), ("$x_2$", "$s_2$\nOR"),
             ("$s_1$\nNAND", "$y$\nAND"), ("$s_2$\nOR", "$y$\nAND")]
    r = 0.22
    for a, c in edges:
        (xa, ya), (xc, yc) = nodes[a], nodes[c]
        d = np.hypot(xc - xa, yc - ya)
        ux, uy = (xc - xa) / d, (yc - ya) / d
        ax.annotate("", xy=(xc - r * ux, yc - r * uy), xytext=(xa + r * ux, ya + r * uy),
                    arrowprops=dict(arrowstyle="->", color="0.3"))
    for name, (x, y) in nodes.items():
        ax.add_patch(plt.Circle((x, y), r, facecolor="white", edgecolor="black"))
        ax.text(x, y, name, ha="center", va="center", fontsize=9)
    for x, label in zip((0, 1, 2), ("layer 0", "layer 1", "layer 2")):
        ax.text(x, 0.0, label, ha="center", fontsize=9, color="0.4")
    ax.set_xlim(-0.5, 2.5)
    ax.set_ylim(-0.2, 2.0)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


# ---------------------------------------------------------------------------------------------
# Exercises (练习): check_nand, check_xor, check_half_adder
# ---------------------------------------------------------------------------------------------
# Each checker runs the reader's gate on the four input pairs, compares with the reference and, when
# the answer is wrong, says which known mistake it is (the reader's own np.array(x1, x2) among them);
# most are recognised by their truth table.


_BITS = ((0, 0), (1, 0), (0, 1), (1, 1))
_GATE_CASES = tuple(Case(f"x1={a}, x2={b}", (a, b)) for a, b in _BITS)
_GATE_RESULT = ("y", "the output", "输出")                 # what a gate returns: recorded as "y"


def _gate(w1: float, w2: float, b: float):
    """A two-input perceptron with fixed weights and bias: 1 where w1*x1 + w2*x2 + b > 0, else 0."""
    def gate(x1, x2):
        x = np.array([x1, x2])
        w = np.array([w1, w2])
        return int(np.sum(w * x) + b > 0)
    return gate


_AND, _NAND, _OR = _gate(0.5, 0.5, -0.7), _gate(-0.5, -0.5, 0.7), _gate(0.5, 0.5, -0.2)


def _table(records) -> tuple[int, ...] | None:
    """The outputs over the four input pairs as (y00, y10, y01, y11), or None if any is not a 0/1."""
    out = []
    for r in records:
        try:
            y = int(np.asarray(r["y"]).item())
        except Exception:                                  # noqa: BLE001 - an error, an array, ...
            return None
        if y not in (0, 1):
            return None
        out.append(y)
    return tuple(out)


#: Truth tables over _BITS, (y00, y10, y01, y11): the gates a wrong answer turns out to be.
_AND_TABLE, _NAND_TABLE, _OR_TABLE, _NOR_TABLE = (0, 0, 0, 1), (1, 1, 1, 0), (0, 1, 1, 1), (1, 0, 0, 0)
_XOR_TABLE, _XNOR_TABLE, _ONES_TABLE, _ZEROS_TABLE = (0, 1, 1, 0), (1, 0, 0, 1), (1, 1, 1, 1), (0, 0, 0, 0)


def _outputs_are(table: tuple[int, ...], en: str, zh: str) -> Mistake:
    """A mistake recognised by the answer's truth table, e.g. a NAND that turns out to be AND."""
    return Mistake(en, zh, test=lambda got, ref: _table(got) == table)


# -- 1. NAND ---------------------------------------------------------------------------------------
def _nand_array_args(x1, x2):
    x = np.array(x1, x2)                    # the reader's line: x2 is taken as the dtype
    w = np.array([-0.5, -0.5])
    return int(np.sum(w * x) + 0.7 > 0)


_NAND_EX = Exercise.returning(
    "NAND", "与非门 NAND", _NAND, _GATE_RESULT, _GATE_CASES,
    mistakes=(
        Mistake.planted(
            _nand_array_args,
            "np.array(x1, x2) makes an array of x1 alone and reads x2 as a dtype (hence 'Cannot interpret "
            "… as a data type'): put both inputs in one list, np.array([x1, x2]).",
            "np.array(x1, x2) 只把 x1 变成数组，x2 被当成了 dtype（所以报错 Cannot interpret … as a data "
            "type）：应把两个输入放进一个列表，np.array([x1, x2])。"),
        _outputs_are(
            _AND_TABLE,
            "Your outputs (0, 0, 0, 1) are AND's truth table: NAND is NOT AND — flip the signs of both "
            "weights and the bias (the book: w = [-0.5, -0.5], b = 0.7).",
            "你的输出 (0, 0, 0, 1) 是与门（AND）的真值表：与非门是“与”的否定——把两个权重和偏置的符号都反过来"
            "（书中：w = [-0.5, -0.5]，b = 0.7）。"),
        _outputs_are(
            _NOR_TABLE,
            "Your outputs (1, 0, 0, 0) are NOR's: the bias is too small, so a single input of 1 already "
            "pulls the sum to 0 or below — NAND must stay 1 until both inputs are 1 "
            "(e.g. w = -0.5, -0.5, b = 0.7).",
            "你的输出 (1, 0, 0, 0) 是或非门（NOR）的：偏置太小，只要有一个输入为 1，加权和就 ≤ 0——与非门要到"
            "两个输入都为 1 时才输出 0（例如 w = -0.5, -0.5，b = 0.7）。"),
        _outputs_are(
            _ONES_TABLE,
            "Your gate outputs 1 for every input: the bias outweighs both weights together — at x1 = x2 = 1 "
            "the sum w1 + w2 + b must be ≤ 0 (e.g. w = -0.5, -0.5, b = 0.7).",
            "你的门对所有输入都输出 1：偏置比两个权重加起来还大——当 x1 = x2 = 1 时，w1 + w2 + b 必须 ≤ 0"
            "（例如 w = -0.5, -0.5，b = 0.7）。"),
        _outputs_are(
            _ZEROS_TABLE,
            "Your gate outputs 0 for every input: at (0, 0) the sum is just the bias b, and NAND must fire "
            "there — b has to be positive (e.g. b = 0.7).",
            "你的门对所有输入都输出 0：在 (0, 0) 处加权和就是偏置 b，而与非门在这里要输出 1——b 必须为正"
            "（例如 b = 0.7）。"),
    ))


@_NAND_EX.checker
def check_nand(nand) -> bool:
    """Exercise 2.1: ``nand(x1, x2)`` -> 0 or 1, a perceptron with weights and a bias (NAND). Prints the verdict."""


# -- 2. XOR from gates -----------------------------------------------------------------------------
def _xor_reference(x1, x2):
    return _AND(_NAND(x1, x2), _OR(x1, x2))


_ALL_TABLES = {(a, b, c, d) for a in (0, 1) for b in (0, 1) for c in (0, 1) for d in (0, 1)}
_SEPARABLE = _ALL_TABLES - {_XOR_TABLE, _XNOR_TABLE}           # all but XOR and XNOR: one line does them

_XOR_EX = Exercise.returning(
    "XOR", "异或门 XOR", _xor_reference, _GATE_RESULT, _GATE_CASES,
    mistakes=(
        _outputs_are(
            _OR_TABLE,
            "Your outputs (0, 1, 1, 1) are OR's: XOR is OR *except* when both inputs are 1 — combine OR with "
            "NAND through AND: XOR = AND(NAND(x1, x2), OR(x1, x2)).",
            "你的输出 (0, 1, 1, 1) 是或门（OR）的：异或门就是“或”，但两个输入都为 1 时除外——再用与门把它和与非门"
            "组合起来：XOR = AND(NAND(x1, x2), OR(x1, x2))。"),
        _outputs_are(
            _NAND_TABLE,
            "Your outputs (1, 1, 1, 0) are NAND's: XOR must also be 0 at (0, 0) — combine NAND with OR "
            "through AND: XOR = AND(NAND(x1, x2), OR(x1, x2)).",
            "你的输出 (1, 1, 1, 0) 是与非门（NAND）的：异或门在 (0, 0) 处也应输出 0——再用与门把它和或门组合"
            "起来：XOR = AND(NAND(x1, x2), OR(x1, x2))。"),
        _outputs_are(
            _XNOR_TABLE,
            "Your outputs (1, 0, 0, 1) are XNOR, the exact opposite of XOR: the gate of the second layer must "
            "be AND — XOR = AND(NAND(x1, x2), OR(x1, x2)).",
            "你的输出 (1, 0, 0, 1) 是同或（XNOR），正好与异或相反：第 2 层的门必须是与门——"
            "XOR = AND(NAND(x1, x2), OR(x1, x2))。"),
        _outputs_are(
            _ONES_TABLE,
            "Your outputs are all 1: check the wiring — layer 1 is s1 = NAND(x1, x2) and s2 = OR(x1, x2), "
            "layer 2 is AND(s1, s2).",
            "你的输出全是 1：检查一下连接——第 1 层是 s1 = NAND(x1, x2) 和 s2 = OR(x1, x2)，第 2 层是 AND(s1, s2)。"),
        Mistake("Your outputs can be separated by one straight line — all that a single perceptron (one gate) can "
                "do; XOR cannot (section 2.4): it needs two layers, AND(NAND(x1, x2), OR(x1, x2)).",
                "你的输出可以用一条直线分开——这正是单层感知机（一个门）所能做的；异或做不到（2.4 节）：需要两层，"
                "AND(NAND(x1, x2), OR(x1, x2))。",
                test=lambda got, ref: _table(got) in _SEPARABLE - {_OR_TABLE, _NAND_TABLE, _ONES_TABLE}),
    ))


@_XOR_EX.checker
def check_xor(xor) -> bool:
    """Exercise 2.2: ``xor(x1, x2)`` -> 0 or 1, built from the gates NAND, OR and AND. Prints the verdict."""


# -- 3. Half adder ---------------------------------------------------------------------------------
def _half_adder_reference(a, b):
    return _xor_reference(a, b), _AND(a, b)


def _column(records, key: str) -> tuple[int, ...] | None:
    """One output bit over the four input pairs, e.g. the carry column, or None if any is missing."""
    try:
        return tuple(int(np.asarray(r[key]).item()) for r in records)
    except Exception:                                      # noqa: BLE001
        return None


def _observe_adder(rec, adder, a, b):
    out = rec.result("out", adder(a, b))
    s, c = out                                             # a pair (sum, carry)
    rec.put("sum", s)
    rec.put("carry", c)
    del rec["out"]                                         # compared bit by bit from here on


_HALF_ADDER_EX = Exercise(
    "half adder", "半加器", _half_adder_reference, _observe_adder,
    tuple(Case(f"a={a}, b={b}", (a, b)) for a, b in _BITS),
    labels={"out": ("the pair (sum, carry)", "返回的 (和, 进位)"), "sum": ("the sum bit", "和位"),
            "carry": ("the carry bit", "进位")},
    mistakes=(
        Mistake("You return (carry, sum): a half adder returns the sum bit first — (s, c) = (XOR(a, b), AND(a, b)).",
                "你返回的是 (进位, 和)：半加器先返回和位——(s, c) = (XOR(a, b), AND(a, b))。",
                test=lambda got, ref: _column(got, "sum") == _AND_TABLE and _column(got, "carry") == _XOR_TABLE),
        Mistake("Your carry is OR(a, b): there is a carry only when both bits are 1 (1 + 1 = 10 in binary) — "
                "carry = AND(a, b).",
                "你的进位是 OR(a, b)：只有两个位都是 1 时才有进位（二进制 1 + 1 = 10）——进位 = AND(a, b)。",
                test=lambda got, ref: [(i, "carry") for i in range(4)] if _column(got, "carry") == _OR_TABLE else []),
        Mistake("Your sum bit is OR(a, b): 1 + 1 gives the sum bit 0 (and a carry of 1) — sum = XOR(a, b).",
                "你的和位是 OR(a, b)：1 + 1 的和位是 0（进位为 1）——和 = XOR(a, b)。",
                test=lambda got, ref: [(i, "sum") for i in range(4)] if _column(got, "sum") == _OR_TABLE else []),
        Mistake("Return both bits, as a pair: return s, c (a tuple, sum first).",
                "要把两个位作为一对返回：return s, c（一个元组，和在前）。",
                test=lambda got, ref: [i for i, r in enumerate(got) if "out" in r and "sum" not in r]),
    ))


@_HALF_ADDER_EX.checker
def check_half_adder(half_adder_fn) -> bool:
    """Exercise 2.3: ``half_adder_fn(a, b)`` -> (sum, carry) of two bits, from XOR and AND. Prints the verdict."""
