"""Each fast kernel in common equals the straightforward textbook version (benchmarks/textbook.py), in float64."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import textbook  # noqa: E402

from common.layers import Convolution, Pooling, Relu  # noqa: E402
from common.networks import DeepConvNet, SimpleConvNet, TwoLayerNet  # noqa: E402
from common.util import col2im, im2col  # noqa: E402


@pytest.mark.parametrize("case", [(2, 3, 7, 7, 3, 1, 1), (2, 16, 14, 14, 3, 1, 2), (3, 1, 28, 28, 5, 1, 0),
                                  (2, 2, 9, 9, 3, 2, 0)])
def test_im2col_col2im_and_convolution_equal_textbook(case):
    n, c, h, fn, f, s, p = case[0], case[1], case[2], 4, case[4], case[5], case[6]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, h))
    np.testing.assert_allclose(im2col(x, f, f, s, p), textbook.im2col(x, f, f, s, p), rtol=0, atol=0)
    col = rng.standard_normal(im2col(x, f, f, s, p).shape)
    np.testing.assert_allclose(col2im(col, x.shape, f, f, s, p), textbook.col2im(col, x.shape, f, f, s, p), rtol=1e-12)
    W, b = rng.standard_normal((fn, c, f, f)), rng.standard_normal(fn)
    fast, slow = Convolution(W, b, s, p), textbook.Conv(W.copy(), b.copy(), s, p)
    out = fast.forward(x)
    np.testing.assert_allclose(out, slow.forward(x), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(fast.backward(dout), slow.backward(dout), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.dW, slow.dW, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(fast.db, slow.db, rtol=1e-12)


def test_pooling_and_relu_equal_textbook():
    rng = np.random.default_rng(1)
    x = np.maximum(0, rng.standard_normal((4, 6, 8, 8)))      # ties at zero
    fast, slow = Pooling(2, 2, stride=2), textbook.Pool(2, 2, stride=2)
    np.testing.assert_array_equal(fast.forward(x), slow.forward(x))
    d = rng.standard_normal((4, 6, 4, 4))
    np.testing.assert_array_equal(fast.backward(d), slow.backward(d))
    r, tr = Relu(), textbook.Relu()
    z = rng.standard_normal((5, 7))
    np.testing.assert_array_equal(r.forward(z), tr.forward(z))
    np.testing.assert_array_equal(r.backward(z), tr.backward(z))
    assert not np.signbit(r.backward(z)[z <= 0]).any()        # zeros, not -0.0


@pytest.mark.parametrize("make, build, shape", [
    (lambda: SimpleConvNet(seed=0), textbook.simple_convnet, (3, 1, 28, 28)),
    (lambda: DeepConvNet(seed=0, dropout_ratio=0.0), lambda p: textbook.deep_convnet(p, dropout_ratio=0.0),
     (2, 1, 28, 28)),
    (lambda: TwoLayerNet(784, 50, 10, seed=0), textbook.two_layer_net, (3, 784)),
])
def test_networks_equal_textbook(make, build, shape):
    rng = np.random.default_rng(2)
    x, t = rng.random(shape), rng.integers(0, 10, shape[0])
    net = make()
    ref = build({k: v.copy() for k, v in net.params.items()})
    np.testing.assert_allclose(net.predict(x), ref.predict(x), rtol=1e-10, atol=1e-12)
    g, gr = net.gradient(x, t), ref.gradient(x, t)
    for key in g:
        np.testing.assert_allclose(g[key], gr[key], rtol=1e-8, atol=1e-12, err_msg=key)
