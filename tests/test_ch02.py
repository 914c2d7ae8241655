
import numpy as np
import pytest

from chapters.ch02 import (
    AND,
    GATE_PARAMS,
    INPUTS,
    NAND,
    OR,
    TRUTH_TABLES,
    XOR,
    find_separating_lines,
    from_bits,
    full_adder,
    half_adder,
    match_gate,
    perceptron,
    perceptron_outputs,
    plot_decision_line,
    plot_xor_network,
    plot_xor_regions,
    ripple_carry_add,
    to_bits,
    truth_table,
)


@pytest.mark.parametrize("gate", [AND, NAND, OR, XOR])
def test_gates_match_their_truth_tables(gate):
    assert truth_table(gate).tolist() == list(TRUTH_TABLES[gate.__name__])


def test_perceptron_returns_int_for_bits_and_arrays_for_arrays():
    y = perceptron(1, 1, 0.5, 0.5, -0.7)
    assert y == 1 and isinstance(y, int)
    out = perceptron(INPUTS[:, 0], INPUTS[:, 1], 0.5, 0.5, -0.7)
    assert out.shape == (4,) and out.tolist() == [0, 0, 0, 1]
    # the threshold is strict: a sum of exactly 0 does not fire
    assert perceptron(1, 0, 1.0, 1.0, -1.0) == 0


def test_gates_are_elementwise_on_arrays():
    a = np.array([[0, 1], [1, 0]])
    b = np.array([[0, 1], [1, 1]])
    assert XOR(a, b).tolist() == [[0, 0], [0, 1]]
    assert NAND(a, b).tolist() == [[1, 0], [0, 1]]


def test_match_gate_names_gates_and_none():
    for name, params in GATE_PARAMS.items():
        assert match_gate(perceptron_outputs(*params)) == name
    assert match_gate(TRUTH_TABLES["XOR"]) == "none"
    assert match_gate([0, 0, 0, 0]) == "none"
    # OR with a different bias still is OR
    assert match_gate(perceptron_outputs(1.0, 1.0, -0.5)) == "OR"


def test_grid_search_finds_and_but_no_xor():
    and_lines = find_separating_lines(TRUTH_TABLES["AND"])
    assert and_lines.shape[1] == 3 and len(and_lines) > 0
    for w1, w2, b in and_lines:
        # checked in exact integer tenths: a float sum can put a tie (exactly 0) on either side
        k1, k2, kb = (round(v * 10) for v in (w1, w2, b))
        assert [int(k1 * x1 + k2 * x2 + kb > 0) for x1, x2 in INPUTS] == [0, 0, 0, 1]
    assert any(np.allclose(row, GATE_PARAMS["AND"]) for row in and_lines)
    assert find_separating_lines(TRUTH_TABLES["XOR"]).shape == (0, 3)
    # XNOR (the complement) is not linearly separable either; NOR is
    assert len(find_separating_lines([1, 0, 0, 1])) == 0
    assert len(find_separating_lines([1, 0, 0, 0])) > 0
    with pytest.raises(ValueError):
        find_separating_lines([0, 1, 1])


def test_grid_search_counts_are_exact():
    """Exact counts on the 21**3 grid: ties (a line through an input point) output 0, as the rule says."""
    counts = {name: len(find_separating_lines(table)) for name, table in TRUTH_TABLES.items()}
    assert counts == {"AND": 220, "NAND": 165, "OR": 385, "XOR": 0}
    # (0.1, 0.2, -0.3) puts (1, 1) exactly on the line: sum 0, no fire, so it is not AND ...
    assert not any(np.allclose(row, (0.1, 0.2, -0.3)) for row in find_separating_lines(TRUTH_TABLES["AND"]))
    # ... although floats make that sum 5.6e-17 > 0
    assert 0.1 + 0.2 - 0.3 > 0
    # rows are the grid's tenths, nothing in between; a finer grid finds more lines
    lines = find_separating_lines(TRUTH_TABLES["OR"])
    assert np.array_equal(lines, np.round(lines * 10) / 10) and np.abs(lines).max() == 1.0
    assert len(find_separating_lines(TRUTH_TABLES["AND"], steps=20)) > 220


def test_half_and_full_adder_truth_tables():
    for a in (0, 1):
        for b in (0, 1):
            assert half_adder(a, b) == ((a + b) % 2, (a + b) // 2)
            for c in (0, 1):
                assert full_adder(a, b, c) == ((a + b + c) % 2, (a + b + c) // 2)


def test_bits_round_trip():
    assert to_bits(6, 4).tolist() == [0, 1, 1, 0]
    n = np.arange(256)
    assert to_bits(n, 8).shape == (8, 256)
    assert np.array_equal(from_bits(to_bits(n, 8)), n)
    assert from_bits([1, 0, 1]) == 5
    with pytest.raises(ValueError):
        to_bits(256, 8)


def test_ripple_carry_adder_matches_plus_on_every_8_bit_pair():
    x, y = np.meshgrid(np.arange(256), np.arange(256))
    assert np.array_equal(ripple_carry_add(x, y, n_bits=8), x + y)
    assert ripple_carry_add(255, 255) == 510
    assert ripple_carry_add(13, 29, n_bits=6) == 42


def test_plot_decision_line_prints_table_and_gate(capsys):
    fig = plot_decision_line(0.5, 0.5, -0.2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "x1 x2 | y"
    assert out[1:5] == [" 0  0 | 0", " 1  0 | 1", " 0  1 | 1", " 1  1 | 1"]
    assert out[-1] == "gate: OR"
    ax = fig.axes[0]
    assert "OR" in ax.get_title()
    # the drawn line passes through the points where w1*x1 + w2*x2 + b = 0
    line = ax.get_lines()[0]
    xs, ys = line.get_xdata(), line.get_ydata()
    assert np.allclose(0.5 * xs + 0.5 * ys - 0.2, 0)


def test_plot_decision_line_labels_sit_away_from_the_centre(capsys):
    """The y= labels point outwards from (0.5, 0.5), so the book's AND/NAND/OR lines do not cross them."""
    for params in GATE_PARAMS.values():
        ax = plot_decision_line(*params).axes[0]
        labels = [t for t in ax.texts if t.get_text().startswith("y=")]
        assert len(labels) == 4
        for t in labels:
            (x1, x2), (dx, dy) = t.xy, t.get_position()
            assert dx * (x1 - 0.5) > 0 and dy * (x2 - 0.5) > 0, (params, t.xy, (dx, dy))
    capsys.readouterr()


def test_plot_decision_line_handles_degenerate_weights(capsys):
    plot_decision_line(0.0, 0.0, -0.1)
    assert capsys.readouterr().out.splitlines()[-1] == "gate: none"
    plot_decision_line(-1.0, -1.0, 1.5)
    assert capsys.readouterr().out.splitlines()[-1] == "gate: NAND"


def test_xor_figures_draw():
    fig = plot_xor_regions()
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "NAND line" in labels and "OR line" in labels
    fig = plot_xor_network()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("NAND" in t for t in texts) and any("AND" == t.split("\n")[-1] for t in texts)
