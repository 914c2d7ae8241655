import numpy as np
import pytest

from common.backprop_lab import gradient_check
from common.cnn_bugs import BUGS, BookConvolution, BookPooling, ReaderConvNet, layer_shapes
from common.layers import Convolution, Pooling
from common.networks import SimpleConvNet

SMALL = dict(input_dim=(1, 10, 10), conv_param=dict(filter_num=4, filter_size=3, pad=0, stride=1),
             hidden_size=10, output_size=3, weight_init_std=0.3, seed=0)


def _data():
    rng = np.random.default_rng(14)
    return rng.random((4, 1, 10, 10)), np.array([0, 1, 2, 1])


@pytest.mark.parametrize("stride,pad", [(1, 0), (1, 1), (2, 1)])
def test_book_convolution_equals_common(stride, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 9, 9))
    W, b = rng.standard_normal((5, 2, 3, 3)), rng.standard_normal(5)
    book, fast = BookConvolution(W, b, stride, pad), Convolution(W, b, stride, pad)
    out = book.forward(x)
    assert np.allclose(out, fast.forward(x))
    dout = rng.standard_normal(out.shape)
    assert np.allclose(book.backward(dout), fast.backward(dout))
    assert np.allclose(book.dW, fast.dW) and np.allclose(book.db, fast.db)


def test_filter_width_bug_crashes_unless_fn_equals_fw():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 12, 12))
    with pytest.raises(ValueError):
        BookConvolution(rng.standard_normal((30, 1, 5, 5)), np.zeros(30), reshape_by="width").forward(x)
    W3 = rng.standard_normal((3, 1, 3, 3))
    assert np.array_equal(BookConvolution(W3, np.zeros(3), reshape_by="width").forward(x),
                          BookConvolution(W3, np.zeros(3)).forward(x))
    with pytest.raises(ValueError):
        BookConvolution(W3, np.zeros(3), reshape_by="height")


def test_book_pooling_equals_common_and_mixed_axes_scrambles():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 8, 8))
    book, fast = BookPooling(2, 2), Pooling(2, 2)
    out = book.forward(x)
    assert np.array_equal(out, fast.forward(x))
    dout = rng.standard_normal(out.shape)
    assert np.array_equal(book.backward(dout), fast.backward(dout))
    bad = BookPooling(2, 2, mix_axes=True).forward(x)
    assert bad.shape == out.shape and not np.array_equal(bad, out)
    assert np.array_equal(np.sort(bad, axis=None), np.sort(out, axis=None))     # same values, wrong places
    one = x[:, :1]
    assert np.array_equal(BookPooling(2, 2, mix_axes=True).forward(one), BookPooling(2, 2).forward(one))


def test_reader_convnet_without_bug_is_simple_convnet():
    x, t = _data()
    ref, net = SimpleConvNet(**SMALL), ReaderConvNet(**SMALL)
    assert np.allclose(net.predict(x), ref.predict(x))
    g, gr = net.gradient(x, t), ref.gradient(x, t)
    assert all(np.allclose(g[k], gr[k]) for k in gr)
    assert max(gradient_check(net, x, t).values()) < 1e-6


def test_pool_reshape_bug_is_caught_by_gradient_check_below_the_pool():
    x, t = _data()
    err = gradient_check(ReaderConvNet(bug="pool_reshape", **SMALL), x, t)
    assert err["W1"] > 0.1 and err["b1"] > 0.1
    assert err["W2"] < 1e-6 and err["W3"] < 1e-6


def test_predict_return_and_wrong_dict_and_filter_width():
    x, _ = _data()
    assert ReaderConvNet(bug="predict_return", **SMALL).predict(x).shape == (4, 4, 8, 8)
    with pytest.raises(ValueError, match="not an integer"):
        ReaderConvNet(bug="wrong_dict", **SMALL).predict(x)
    with pytest.raises(ValueError):
        ReaderConvNet(bug="filter_width", **SMALL).predict(x)           # 4 filters, width 3
    with pytest.raises(ValueError, match="bug must be one of"):
        ReaderConvNet(bug="typo", **SMALL)
    assert len(BUGS) == 5


def test_layer_shapes_of_simple_convnet():
    shapes = layer_shapes(SimpleConvNet(seed=0), np.zeros((2, 1, 28, 28), np.float32))
    assert shapes == [("input", (2, 1, 28, 28)), ("Conv1", (2, 30, 24, 24)), ("Relu1", (2, 30, 24, 24)),
                      ("Pool1", (2, 30, 12, 12)), ("Affine2", (2, 100)), ("Relu2", (2, 100)), ("Affine3", (2, 10))]
