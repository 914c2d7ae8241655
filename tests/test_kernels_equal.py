"""Every fast layer in common.fast equals its book parent in common.layers, in float64: forward, dx, dW, db.

Shapes are drawn at random (seeded), so the fast paths meet odd sizes, strides and paddings, not only
the book networks' shapes; the networks built with ``fast=True`` and ``fast=False`` agree as well.
"""
import numpy as np
import pytest

from common import fast, layers
from common.networks import DeepConvNet, MultiLayerNetExtend, SimpleConvNet, TwoLayerNet
from common.util import col2im, im2col


def random_conv_case(rng):
    """(x shape, W shape, stride, pad) with every size different and a valid output size."""
    while True:
        n, c, fn = rng.integers(1, 4), rng.integers(1, 6), rng.integers(1, 7)
        fh, fw = rng.integers(1, 5), rng.integers(1, 5)
        stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, min(fh, fw)))
        h, w = rng.integers(fh, 12), rng.integers(fw, 12)
        if (h + 2 * pad - fh) % stride == 0 and (w + 2 * pad - fw) % stride == 0:
            return (n, c, h, w), (fn, c, fh, fw), stride, pad


CONV_CASES = [random_conv_case(np.random.default_rng(seed)) for seed in range(12)] + [
    ((2, 1, 28, 28), (30, 1, 5, 5), 1, 0),       # SimpleConvNet's layer
    ((2, 16, 14, 14), (32, 16, 3, 3), 1, 1),     # DeepConvNet's third layer (channels-last)
    ((2, 32, 14, 14), (32, 32, 3, 3), 1, 2),     # DeepConvNet's fourth layer, pad 2 (channels-last)
    ((2, 64, 7, 7), (16, 64, 3, 3), 1, 1),
]


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_CASES)
def test_fast_convolution_equals_book(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(sum(x_shape) + sum(w_shape))
    x, W, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    book, quick = layers.Convolution(W, b, stride, pad), fast.FastConvolution(W, b, stride, pad)
    out = book.forward(x)
    np.testing.assert_allclose(quick.forward(x), out, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(quick.backward(dout), book.backward(dout), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(quick.dW, book.dW, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(quick.db, book.db, rtol=1e-12, atol=1e-12)
    assert quick.backward(dout, need_dx=False) is None           # the first layer's shortcut
    np.testing.assert_allclose(quick.dW, book.dW, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", CONV_CASES[:8])
def test_unfold_and_fold_are_im2col_and_col2im_transposed(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(x_shape)
    _, _, fh, fw = w_shape
    cols = fast.unfold(x, fh, fw, stride, pad)
    np.testing.assert_array_equal(cols, im2col(x, fh, fw, stride, pad).T)
    y = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(fast.fold(y, x.shape, fh, fw, stride, pad),
                               col2im(y.T, x.shape, fh, fw, stride, pad), rtol=1e-12, atol=1e-12)


POOL_CASES = [((3, 4, 8, 6), 2, 2, None, 0),     # the networks' pool: the fast path
              ((2, 3, 9, 9), 3, 3, None, 0),
              ((2, 2, 7, 7), 3, 3, 2, 0),        # overlapping windows: falls back to the book's path
              ((2, 2, 6, 6), 2, 2, None, 1),     # padding: falls back
              ((1, 5, 6, 3), 2, 1, None, 0)]     # non-square window: falls back


@pytest.mark.parametrize("x_shape, ph, pw, stride, pad", POOL_CASES)
def test_fast_pooling_equals_book(x_shape, ph, pw, stride, pad):
    rng = np.random.default_rng(4)
    x = np.maximum(0, rng.standard_normal(x_shape))               # ReLU output: ties at zero
    x[0, 0, :2, :2] = -1.0                                          # and a window of negatives
    book, quick = layers.Pooling(ph, pw, stride, pad), fast.FastPooling(ph, pw, stride, pad)
    out = book.forward(x)
    np.testing.assert_array_equal(quick.forward(x), out)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(quick.backward(dout), book.backward(dout))


def test_fast_relu_and_affine_equal_book():
    rng = np.random.default_rng(5)
    z = rng.standard_normal((5, 7))
    z[0, 0] = 0.0
    book, quick = layers.Relu(), fast.FastRelu()
    np.testing.assert_array_equal(quick.forward(z), book.forward(z))
    dz = rng.standard_normal(z.shape)
    np.testing.assert_array_equal(quick.backward(dz), book.backward(dz))
    assert not np.signbit(quick.backward(dz)[z <= 0]).any()       # zeros, not -0.0
    W, b, x = rng.standard_normal((6, 3)), rng.standard_normal(3), rng.standard_normal((4, 2, 3))
    book, quick = layers.Affine(W, b), fast.FastAffine(W, b)
    out = book.forward(x)
    np.testing.assert_array_equal(quick.forward(x), out)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(quick.backward(dout), book.backward(dout))
    assert quick.backward(dout, need_dx=False) is None
    np.testing.assert_array_equal(quick.dW, book.dW)
    np.testing.assert_array_equal(quick.db, book.db)


@pytest.mark.parametrize("make, shape", [
    (lambda fast_: SimpleConvNet(seed=0, fast=fast_), (3, 1, 28, 28)),
    (lambda fast_: DeepConvNet(seed=0, dropout_ratio=0.0, fast=fast_), (2, 1, 28, 28)),
    (lambda fast_: TwoLayerNet(784, 50, 10, seed=0, fast=fast_), (3, 784)),
    (lambda fast_: MultiLayerNetExtend(20, [8, 8], 4, use_batchnorm=True, weight_decay_lambda=0.1, seed=0,
                                       fast=fast_), (5, 20)),
])
def test_networks_fast_equal_book(make, shape):
    rng = np.random.default_rng(2)
    x, t = rng.random(shape), rng.integers(0, 4, shape[0])
    quick, book = make(True), make(False)
    assert isinstance(book.layers[next(k for k in book.layers if k.startswith(("Conv", "Affine")))],
                      (layers.Convolution, layers.Affine))
    assert any(type(layer).__module__.startswith("common.fast") for layer in quick.layers.values())
    assert not any(type(layer).__module__.startswith("common.fast") for layer in book.layers.values())
    np.testing.assert_allclose(quick.predict(x), book.predict(x), rtol=1e-10, atol=1e-12)
    g, gb = quick.gradient(x, t), book.gradient(x, t)
    for key in g:
        np.testing.assert_allclose(g[key], gb[key], rtol=1e-8, atol=1e-12, err_msg=key)


def test_saved_weights_load_into_either_layer_set(tmp_path):
    quick, book = SimpleConvNet(seed=0), SimpleConvNet(seed=1, fast=False)
    quick.save_params(tmp_path / "w.npz")
    book.load_params(tmp_path / "w.npz")
    x = np.random.default_rng(0).random((2, 1, 28, 28))
    np.testing.assert_allclose(book.predict(x), quick.predict(x), rtol=1e-10, atol=1e-12)
