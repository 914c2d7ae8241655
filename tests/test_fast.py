"""common.fast beyond equality with the book (tests/test_kernels_equal.py): adjointness, dtypes, ties."""
import numpy as np
import pytest

from common.fast import FastAffine, FastConvolution, FastPooling, FastRelu, fold, unfold
from common.layers import Pooling

CASES = [(2, 3, 7, 7, 3, 3, 1, 1), (1, 2, 6, 8, 2, 4, 2, 0), (3, 1, 9, 9, 3, 3, 3, 0), (1, 2, 6, 6, 4, 4, 1, 2)]


@pytest.mark.parametrize("case", CASES)
def test_fold_is_the_adjoint_of_unfold(case):
    """<unfold(x), y> == <x, fold(y)>: what makes fold the right backward for unfold."""
    n, c, h, w, fh, fw, s, p = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, c, h, w))
    u = unfold(x, fh, fw, s, p)
    y = rng.standard_normal(u.shape)
    assert np.sum(u * y) == pytest.approx(np.sum(x * fold(y, x.shape, fh, fw, s, p)), rel=1e-12)


def test_fold_names_a_shape_mismatch():
    with pytest.raises(ValueError, match="fold: cols has shape"):
        fold(np.zeros((5, 4)), (1, 1, 4, 4), 3, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_layers_keep_the_dtype(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6)).astype(dtype)
    conv = FastConvolution(rng.standard_normal((4, 3, 3, 3)).astype(dtype), np.zeros(4, dtype), pad=1)
    relu, pool = FastRelu(), FastPooling(2, 2)
    aff = FastAffine(rng.standard_normal((36, 5)).astype(dtype), np.zeros(5, dtype))
    out = aff.forward(pool.forward(relu.forward(conv.forward(x))))
    assert out.dtype == dtype
    d = relu.backward(pool.backward(aff.backward(np.ones_like(out))))
    assert d.dtype == dtype
    assert conv.backward(d).dtype == dtype and conv.dW.dtype == dtype and aff.dW.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_pooling_sends_a_tied_window_gradient_to_one_position(dtype):
    rng = np.random.default_rng(0)
    x = np.maximum(0, rng.standard_normal((3, 4, 8, 6))).astype(dtype)   # ReLU output: many tied zeros
    x[0, 0, :2, :2] = 1.0                                                 # an all-equal window
    fast, book = FastPooling(2, 2), Pooling(2, 2)
    np.testing.assert_array_equal(fast.forward(x), book.forward(x))
    dout = rng.standard_normal((3, 4, 4, 3)).astype(dtype)
    dx = fast.backward(dout)
    np.testing.assert_array_equal(dx, book.backward(dout))
    assert dx[0, 0, :2, :2].tolist() == [[dout[0, 0, 0, 0], 0], [0, 0]]   # first maximum only
    np.testing.assert_allclose(dx.reshape(3, 4, 4, 2, 3, 2).sum(axis=(3, 5)), dout, rtol=1e-6)
