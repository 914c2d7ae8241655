"""Property tests (hypothesis): for random shapes, strides, paddings and dtypes, every layer keeps its contract.

Bounded (few examples, small arrays, no deadline) so the whole file runs in seconds.
"""
import numpy as np
import pytest
from gradcheck import numerical_at, sample_indices
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.fast import fold, unfold
from common.functions import cross_entropy_error, softmax
from common.gradient import rel_error
from common.layers import Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid, SoftmaxWithLoss
from common.optimizer import OPTIMIZERS, make_optimizer
from common.util import col2im, conv_output_size, im2col

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def conv_case(draw):
    f = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    pad = draw(st.integers(0, 2))
    out = draw(st.integers(1, 4))
    size = (out - 1) * stride + f - 2 * pad           # chosen so the windows tile exactly
    if size < 1:
        size, pad = (out - 1) * stride + f, 0
    n, c, fn = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return n, c, size, fn, f, stride, pad


def check_grad(loss, x, analytic, rng, k=8, tol=1e-6):
    idx = sample_indices(x.shape, k, rng)
    num = numerical_at(loss, x, idx)
    assert rel_error(np.array([analytic[i] for i in idx]), num) < tol


@FAST
@given(conv_case(), dtypes, st.integers(0, 2 ** 16))
def test_convolution_shape_dtype_gradient_adjoint(case, dtype, seed):
    n, c, size, fn, f, stride, pad = case
    rng = np.random.default_rng(seed)
    oh = conv_output_size(size, f, stride, pad)
    x = rng.standard_normal((n, c, size, size)).astype(dtype)
    W, b = rng.standard_normal((fn, c, f, f)).astype(dtype), rng.standard_normal(fn).astype(dtype)
    layer = Convolution(W, b, stride, pad)
    out = layer.forward(x)
    assert out.shape == (n, fn, oh, oh) and out.dtype == dtype
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = layer.backward(dout)
    assert dx.shape == x.shape and dx.dtype == dtype and layer.dW.dtype == dtype
    # float64 gradient check
    x64, W64, b64, d64 = (a.astype(np.float64) for a in (x, W, b, dout))
    l64 = Convolution(W64, b64, stride, pad)
    l64.forward(x64)
    dx64 = l64.backward(d64)
    loss = lambda: float(np.sum(Convolution(W64, b64, stride, pad).forward(x64) * d64))
    check_grad(loss, x64, dx64, rng)
    check_grad(loss, W64, l64.dW, rng)
    # im2col/col2im and unfold/fold are adjoint pairs
    col = im2col(x64, f, f, stride, pad)
    y = rng.standard_normal(col.shape)
    assert np.sum(col * y) == pytest.approx(np.sum(x64 * col2im(y, x64.shape, f, f, stride, pad)), rel=1e-9, abs=1e-9)
    u = unfold(x64, f, f, stride, pad)
    assert np.sum(u * y.T) == pytest.approx(np.sum(x64 * fold(y.T, x64.shape, f, f, stride, pad)), rel=1e-9, abs=1e-9)


@FAST
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), dtypes,
       st.integers(0, 2 ** 16))
def test_pooling_shape_dtype_gradient(n, c, pool, out, pad, dtype, seed):
    pad = min(pad, pool - 1)
    size = out * pool - 2 * pad
    if size < 1:
        size, pad = out * pool, 0
    rng = np.random.default_rng(seed)
    x = rng.permutation(n * c * size * size).reshape(n, c, size, size).astype(dtype)   # distinct values
    layer = Pooling(pool, pool, stride=pool, pad=pad)
    y = layer.forward(x)
    assert y.shape == (n, c, out, out) and y.dtype == dtype
    x64 = x.astype(np.float64)
    d = rng.standard_normal(y.shape)
    l64 = Pooling(pool, pool, stride=pool, pad=pad)
    l64.forward(x64)
    dx = l64.backward(d)
    assert dx.shape == x.shape
    check_grad(lambda: float(np.sum(Pooling(pool, pool, stride=pool, pad=pad).forward(x64) * d)), x64, dx, rng,
               tol=1e-5)


@FAST
@given(st.integers(1, 4), st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(1, 5), dtypes,
       st.integers(0, 2 ** 16))
def test_affine_any_rank(n, feature_shape, m, dtype, seed):
    rng = np.random.default_rng(seed)
    d = int(np.prod(feature_shape))
    x = rng.standard_normal((n, *feature_shape)).astype(dtype)
    W, b = rng.standard_normal((d, m)).astype(dtype), rng.standard_normal(m).astype(dtype)
    layer = Affine(W, b)
    y = layer.forward(x)
    assert y.shape == (n, m) and y.dtype == dtype
    dx = layer.backward(np.ones((n, m), dtype))
    assert dx.shape == x.shape and dx.dtype == dtype and layer.db.shape == (m,)
    with pytest.raises(ValueError, match=str((d + 1, m)).replace("(", r"\(").replace(")", r"\)")):
        Affine(rng.standard_normal((d + 1, m)), np.zeros(m)).forward(x.astype(np.float64))


@FAST
@given(st.integers(2, 6), st.integers(1, 4), st.booleans(), dtypes, st.integers(0, 2 ** 16))
def test_elementwise_layers_and_batchnorm(n, d, spatial, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = (n, d, 2, 3) if spatial else (n, d)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    for layer in (Relu(), Sigmoid(), Dropout(0.3, rng=seed), Dropout(0.3, mode="inverted", rng=seed)):
        y = layer.forward(x)
        assert y.shape == x.shape and y.dtype == dtype
        assert layer.backward(np.ones_like(y)).dtype == dtype
    bn = BatchNormalization(np.ones(d, dtype), np.zeros(d, dtype))
    y = bn.forward(x, train_flg=True)
    assert y.shape == x.shape and y.dtype == dtype and bn.backward(np.ones_like(y)).dtype == dtype
    assert bn.forward(x, train_flg=False).dtype == dtype


@FAST
@given(st.integers(1, 5), st.integers(2, 6), st.floats(-1e4, 1e4), st.integers(0, 2 ** 16))
def test_softmax_and_losses_finite_for_huge_logits(n, c, scale, seed):
    rng = np.random.default_rng(seed)
    logits = rng.uniform(-1, 1, (n, c)) * scale
    logits[0, 0] = scale                                  # hit the extreme exactly
    p = softmax(logits)
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=1), 1)
    labels = rng.integers(0, c, n)
    one_hot = np.eye(c)[labels]                           # targets full of zeros
    ce = cross_entropy_error(p, labels)
    assert np.isfinite(ce) and ce >= 0
    assert ce == pytest.approx(cross_entropy_error(p, one_hot))
    layer = SoftmaxWithLoss()
    assert np.isfinite(layer.forward(logits, one_hot)) and np.all(np.isfinite(layer.backward()))


@FAST
@given(st.sampled_from(sorted(OPTIMIZERS)), dtypes, st.lists(st.integers(1, 4), min_size=1, max_size=3),
       st.integers(0, 2 ** 16))
def test_optimizers_keep_shape_dtype_identity(name, dtype, shape, seed):
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal(shape).astype(dtype), "b": rng.standard_normal(shape[-1]).astype(dtype)}
    refs = dict(params)
    opt = make_optimizer(name, lr=0.01)
    for _ in range(3):
        opt.update(params, {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()})
    for k in params:
        assert params[k] is refs[k] and params[k].dtype == dtype and params[k].shape == refs[k].shape
