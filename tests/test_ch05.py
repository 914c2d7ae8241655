import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from common.graphs import (Edge, Node, apple_example, apple_orange_example, draw_graph,  # noqa: E402
                           plot_apple_graph, plot_apple_orange_graph, plot_chain_rule_graph)



def test_apple_example_book_numbers():
    v = apple_example(100, 2, 1.1)
    assert v["price"] == pytest.approx(220)
    assert (v["dapple"], v["dapple_num"], v["dtax"]) == pytest.approx((2.2, 110, 200))


def test_apple_orange_example_book_numbers():
    v = apple_orange_example(100, 2, 150, 3, 1.1)
    assert v["price"] == pytest.approx(715)
    got = (v["dapple_num"], v["dapple"], v["dorange"], v["dorange_num"], v["dtax"])
    assert got == pytest.approx((110, 2.2, 3.3, 165, 650))
    assert v["dapple_price"] == v["dorange_price"] == v["dall_price"]        # the add node copies dout


def _texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def test_apple_graph_writes_values_and_gradients(capsys):
    fig = plot_apple_graph()
    assert capsys.readouterr().out.strip() == "price 220 | d/d apple 2.2, d/d num 110, d/d tax 200"
    texts = _texts(fig)
    for label in ("100", "2", "200", "1.1", "220", "2.2", "110", "×"):
        assert label in texts
    red = [t.get_text() for t in fig.axes[0].texts if t.get_color() == "tab:red"]
    assert sorted(red) == sorted(["2.2", "110", "1.1", "200", "1"])
    # without backward: no red labels
    fig = plot_apple_graph(backward=False)
    assert not [t for t in fig.axes[0].texts if t.get_color() == "tab:red"]


def test_apple_orange_graph_and_sliders_change_status(capsys):
    fig = plot_apple_orange_graph()
    assert capsys.readouterr().out.startswith("price 715 | d/d apple 2.2, d/d orange 3.3, d/d tax 650")
    assert {"650", "715", "165", "3.3", "+"} <= set(_texts(fig))
    plot_apple_orange_graph(apple_num=4)
    assert capsys.readouterr().out.startswith("price 935 |")


def test_draw_graph_and_chain_rule():
    fig = draw_graph({"a": Node(0, 0, text="a"), "f": Node(2, 0, op="exp")}, [Edge("a", "f", "1", "2.718")])
    assert {"a", "exp", "1", "2.718"} <= set(_texts(fig))
    fig = plot_chain_rule_graph(1.0, 2.0)
    assert "t = 3" in _texts(fig) and "2t = 6" in _texts(fig)
