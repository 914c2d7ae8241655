"""Every layer's backward pass against central differences, in float64; plus dtype and shape contracts."""
import numpy as np
import pytest

from common.gradient import numerical_gradient, rel_error
from common.layers import (
    AddLayer,
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    MulLayer,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
)

TOL = 1e-6


def check_layer(layer, x, params=(), forward=None, seed=0):
    """Compare backward with numerical gradients of L = sum(forward(x) * R) for a fixed random R."""
    forward = forward or layer.forward
    rng = np.random.default_rng(seed)
    R = rng.standard_normal(forward(x).shape)
    loss = lambda _=None: float(np.sum(forward(x) * R))
    forward(x)
    dx = layer.backward(R.copy())
    assert dx.shape == x.shape
    assert rel_error(dx, numerical_gradient(loss, x)) < TOL
    for p, dname in params:
        forward(x)
        layer.backward(R.copy())
        grad = getattr(layer, dname)
        assert grad.shape == p.shape
        assert rel_error(grad, numerical_gradient(loss, p)) < TOL, dname


def test_mul_and_add_layers_book_apple_example():
    mul_apple, mul_tax = MulLayer(), MulLayer()
    price = mul_tax.forward(mul_apple.forward(100, 2), 1.1)
    assert price == pytest.approx(220)
    dapple_price, dtax = mul_tax.backward(1)
    dapple, dnum = mul_apple.backward(dapple_price)
    assert (dapple, dnum, dtax) == pytest.approx((2.2, 110, 200))
    add = AddLayer()
    assert add.forward(3.0, 4.0) == 7.0 and add.backward(2.0) == (2.0, 2.0)


@pytest.mark.parametrize("N", [1, 4])
def test_relu_and_sigmoid(N):
    rng = np.random.default_rng(N)
    x = rng.standard_normal((N, 6))
    x[np.abs(x) < 1e-3] = 0.5                    # stay away from relu's kink
    check_layer(Relu(), x)
    check_layer(Sigmoid(), x)


def test_relu_does_not_alias_input_or_dout():
    x = np.array([-1.0, 2.0])
    layer = Relu()
    out = layer.forward(x)
    assert out is not x and x.tolist() == [-1.0, 2.0]
    dout = np.array([5.0, 6.0])
    layer.backward(dout)
    assert dout.tolist() == [5.0, 6.0]


@pytest.mark.parametrize("x_shape", [(1, 5), (3, 5), (2, 1, 5, 1), (3, 5, 1)])
def test_affine_any_input_rank(x_shape):
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((5, 4)), rng.standard_normal(4)
    layer = Affine(W, b)
    x = rng.standard_normal(x_shape)
    check_layer(layer, x, params=[(W, "dW"), (b, "db")])


def test_affine_bias_gradient_is_sum_over_batch():
    W, b = np.zeros((2, 3)), np.zeros(3)
    layer = Affine(W, b)
    layer.forward(np.ones((4, 2)))
    layer.backward(np.ones((4, 3)))
    np.testing.assert_array_equal(layer.db, [4.0, 4.0, 4.0])


def test_affine_shape_errors_name_both_shapes():
    layer = Affine(np.zeros((5, 4)), np.zeros(4))
    with pytest.raises(ValueError, match=r"\(3, 6\).*\(5, 4\)"):
        layer.forward(np.zeros((3, 6)))
    layer.forward(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"\(3, 5\).*\(3, 4\)"):
        layer.backward(np.zeros((3, 5)))
    with pytest.raises(TypeError, match="floating-point"):
        layer.forward(np.zeros((3, 5), dtype=np.uint8))


@pytest.mark.parametrize("N", [1, 5])
@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss(N, one_hot):
    rng = np.random.default_rng(N)
    x = rng.standard_normal((N, 4))
    labels = rng.integers(0, 4, N)
    t = np.eye(4)[labels] if one_hot else labels
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward(1.0)
    num = numerical_gradient(lambda _: SoftmaxWithLoss().forward(x, t), x)
    assert rel_error(dx, num) < TOL


def test_softmax_with_loss_finite_for_huge_scores():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    layer = SoftmaxWithLoss()
    assert np.isfinite(layer.forward(x, np.array([1, 0])))
    assert np.all(np.isfinite(layer.backward()))


@pytest.mark.parametrize("mode", ["book", "inverted"])
def test_dropout_gradient_and_expectation(mode):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 8))
    layer = Dropout(0.4, mode=mode)

    def forward(v):
        layer.rng = np.random.default_rng(42)     # the same mask on every call
        return layer.forward(v, train_flg=True)

    check_layer(layer, x, forward=forward)
    # the expected training output equals the test output
    big = np.ones((200, 500))
    layer.rng = np.random.default_rng(1)
    train_mean = layer.forward(big, train_flg=True).mean()
    test_mean = layer.forward(big, train_flg=False).mean()
    expected = 0.6 if mode == "book" else 1.0
    assert test_mean == pytest.approx(expected)
    assert train_mean == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("shape", [(6, 4), (1, 4, 2, 3), (3, 4, 2, 3)])
def test_batchnorm_gradient(shape):
    rng = np.random.default_rng(0)
    C = shape[1]
    gamma, beta = rng.uniform(0.5, 1.5, C), rng.standard_normal(C)
    layer = BatchNormalization(gamma, beta)
    x = rng.standard_normal(shape) * 3 + 1
    check_layer(layer, x, params=[(gamma, "dgamma"), (beta, "dbeta")],
                forward=lambda v: layer.forward(v, train_flg=True))


def test_batchnorm_modes_and_running_statistics():
    rng = np.random.default_rng(0)
    layer = BatchNormalization(np.ones(3), np.zeros(3), momentum=0.0)
    x = rng.standard_normal((50, 3)) * 2 + 5
    out = layer.forward(x, train_flg=True)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1, rtol=1e-5)
    np.testing.assert_allclose(layer.running_mean, x.mean(axis=0))
    # test mode uses the running statistics: a single sample gives the same as in the batch
    np.testing.assert_allclose(layer.forward(x[:1], train_flg=False), out[:1], rtol=1e-5)


CONV_CASES = [  # (N, C, H, W, FN, FH, stride, pad)
    (1, 1, 5, 5, 2, 3, 1, 0),
    (2, 3, 5, 5, 4, 3, 1, 1),
    (2, 2, 7, 7, 3, 3, 2, 0),
    (1, 2, 6, 6, 2, 2, 2, 1),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_gradient(case):
    n, c, h, w, fn, fh, s, p = case
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((fn, c, fh, fh)), rng.standard_normal(fn)
    layer = Convolution(W, b, stride=s, pad=p)
    x = rng.standard_normal((n, c, h, w))
    check_layer(layer, x, params=[(W, "dW"), (b, "db")])


def test_convolution_matches_direct_sum_and_one_bias_per_filter():
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out = Convolution(W, b, stride=1, pad=0).forward(x)
    direct = np.zeros((2, 4, 3, 3))
    for i in range(3):
        for j in range(3):
            direct[:, :, i, j] = np.einsum("nchw,fchw->nf", x[:, :, i:i + 3, j:j + 3], W) + b
    np.testing.assert_allclose(out, direct, rtol=1e-12)


def test_convolution_channel_mismatch_is_named():
    layer = Convolution(np.zeros((4, 3, 3, 3)), np.zeros(4))
    with pytest.raises(ValueError, match=r"\(2, 1, 5, 5\).*\(4, 3, 3, 3\)"):
        layer.forward(np.zeros((2, 1, 5, 5)))


POOL_CASES = [  # (N, C, H, W, pool, stride, pad)
    (1, 1, 4, 4, 2, 2, 0),
    (2, 3, 6, 6, 2, 2, 0),
    (2, 2, 5, 5, 3, 1, 0),
    (1, 2, 6, 6, 3, 3, 0),
    (2, 1, 4, 4, 2, 2, 1),
]


@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_gradient(case):
    n, c, h, w, ph, s, p = case
    x = np.random.default_rng(0).permutation(n * c * h * w).reshape(n, c, h, w) / 7.0 - 3.0  # distinct values
    check_layer(Pooling(ph, ph, stride=s, pad=p), x)


def test_pooling_values_and_padding_never_wins():
    x = -np.arange(16.0).reshape(1, 1, 4, 4) - 1          # all negative
    out = Pooling(2, 2, stride=2).forward(x)
    np.testing.assert_array_equal(out[0, 0], [[-1, -3], [-9, -11]])
    padded = Pooling(2, 2, stride=2, pad=1).forward(x)
    assert np.all(padded < 0)                              # zero padding would have produced 0s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_preserve_dtype(dtype):
    rng = np.random.default_rng(0)
    x4 = rng.standard_normal((2, 3, 6, 6)).astype(dtype)
    conv = Convolution(rng.standard_normal((4, 3, 3, 3)).astype(dtype), np.zeros(4, dtype), pad=1)
    pool = Pooling(2, 2)
    aff = Affine(rng.standard_normal((36, 5)).astype(dtype), np.zeros(5, dtype))
    bn = BatchNormalization(np.ones(4, dtype), np.zeros(4, dtype))
    drop = Dropout(0.5, mode="inverted", rng=0)
    loss = SoftmaxWithLoss()
    h = conv.forward(x4)
    h = bn.forward(h, True)
    h = Relu().forward(h)
    h = pool.forward(h)
    h = Sigmoid().forward(h)
    h = drop.forward(h, True)
    h2 = h.reshape(2, 4, 9)[:, 0, :]                       # (2, 9) -> pad to 36 features
    h2 = np.concatenate([h2] * 4, axis=1)
    s = aff.forward(h2)
    assert s.dtype == dtype
    loss.forward(s, np.array([1, 2]))
    d = loss.backward()
    assert d.dtype == dtype
    d = aff.backward(d)
    assert d.dtype == dtype and aff.dW.dtype == dtype and aff.db.dtype == dtype
    d = drop.backward(h)
    assert d.dtype == dtype
    d = pool.backward(np.ones((2, 4, 3, 3), dtype))
    assert d.dtype == dtype
    d = bn.backward(d)
    assert d.dtype == dtype and bn.dgamma.dtype == dtype
    d = conv.backward(d)
    assert d.dtype == dtype and conv.dW.dtype == dtype and conv.db.dtype == dtype


# ---- issue 18: soft targets and rows that are not probability vectors ---------------------------
def test_softmax_with_loss_soft_targets_true_loss_and_gradient():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4))
    t = np.array([[0.7, 0.1, 0.1, 0.1], [0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]])
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    y = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.sum(t * np.log(y)) / 3, rel=1e-12)
    dx = layer.backward(1.0)
    np.testing.assert_allclose(dx, (y - t) / 3, rtol=1e-12)
    num = numerical_gradient(lambda _: SoftmaxWithLoss().forward(x, t), x)
    assert rel_error(dx, num) < TOL


def test_softmax_with_loss_refuses_an_all_zero_target_row():
    t = np.eye(4)[[0, 1, 2]]
    t[2] = 0.0                                        # e.g. np.eye(4)[label] with a label that was meant to be 4
    with pytest.raises(ValueError, match=r"row 2\b.*sum to 0"):
        SoftmaxWithLoss().forward(np.zeros((3, 4)), t)


# ---- issue 18: an empty batch (N = 0) gets a clear error everywhere --------------------------------
@pytest.mark.parametrize("make, x", [
    (lambda: Affine(np.zeros((5, 4)), np.zeros(4)), np.zeros((0, 5))),
    (lambda: Convolution(np.zeros((2, 1, 3, 3)), np.zeros(2)), np.zeros((0, 1, 5, 5))),
    (lambda: Pooling(2, 2), np.zeros((0, 1, 4, 4))),
    (lambda: BatchNormalization(np.ones(3), np.zeros(3)), np.zeros((0, 3))),
], ids=["Affine", "Convolution", "Pooling", "BatchNormalization"])
def test_layers_refuse_an_empty_batch(make, x):
    with pytest.raises(ValueError, match=r"empty.*\(0, "):
        make().forward(x)


def test_softmax_with_loss_refuses_an_empty_batch():
    with pytest.raises(ValueError, match="empty"):
        SoftmaxWithLoss().forward(np.zeros((0, 3)), np.zeros(0, dtype=int))


def test_softmax_with_loss_column_of_labels_gets_a_hint():
    """Hostile case: labels shaped (N, 1) were reported as '1 columns' of one-hot targets, with no hint."""
    with pytest.raises(ValueError, match=r"ravel"):
        SoftmaxWithLoss().forward(np.zeros((3, 2)), np.array([[0], [1], [1]]))


def test_softmax_with_loss_bool_labels_are_0_and_1():
    """Hostile case, handled well already: boolean labels act as the classes 0 and 1."""
    x = np.random.default_rng(5).standard_normal((4, 2))
    as_bool = SoftmaxWithLoss().forward(x, np.array([True, False, False, True]))
    assert as_bool == SoftmaxWithLoss().forward(x, np.array([1, 0, 0, 1]))
