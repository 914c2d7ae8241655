import numpy as np
import pytest

from common.functions import (
    cross_entropy_error,
    identity_function,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    step_function,
    sum_squared_error,
)
from common.gradient import numerical_gradient


def test_step_function_values_and_int_dtype():
    out = step_function(np.array([-1.0, 0.0, 2.0]))
    assert out.tolist() == [0, 0, 1]
    assert np.issubdtype(out.dtype, np.integer)


def test_sigmoid_matches_formula_and_is_finite_at_extremes():
    x = np.linspace(-30, 30, 61)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
    with np.errstate(over="raise"):
        y = sigmoid(np.array([-1e4, 1e4]))
    assert y.tolist() == [0.0, 1.0]


def test_relu_is_elementwise_maximum_not_reduction():
    x = np.array([[-2.0, 3.0], [0.5, -0.1]])
    np.testing.assert_array_equal(relu(x), [[0, 3], [0.5, 0]])
    assert relu(x).shape == x.shape


@pytest.mark.parametrize("fn, grad", [(sigmoid, sigmoid_grad), (relu, relu_grad)])
def test_activation_gradients_match_numerical(fn, grad):
    x = np.array([-2.0, -0.3, 0.7, 1.9])          # avoid relu's kink at 0
    num = numerical_gradient(lambda v: float(np.sum(fn(v))), x.copy())
    np.testing.assert_allclose(grad(x), num, rtol=1e-6, atol=1e-9)


def test_identity():
    x = np.arange(3.0)
    assert identity_function(x) is x


@pytest.mark.parametrize("scale", [1.0, 1e4, -1e4])
def test_softmax_finite_and_rows_sum_to_one(scale):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(5, 7)) * scale
    y = softmax(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)
    # the 1-D case agrees with each row of the batch
    np.testing.assert_allclose(softmax(x[2]), y[2], rtol=1e-12)


def test_softmax_matches_definition_and_keeps_dtype():
    x = np.array([[0.3, 2.9, 4.0], [1.0, 1.0, 1.0]])
    e = np.exp(x)
    np.testing.assert_allclose(softmax(x), e / e.sum(axis=1, keepdims=True), rtol=1e-12)
    assert softmax(x.astype(np.float32)).dtype == np.float32


def test_cross_entropy_one_hot_equals_labels_batch_and_single():
    rng = np.random.default_rng(1)
    y = softmax(rng.standard_normal((6, 10)))
    labels = rng.integers(0, 10, 6)
    one_hot = np.eye(10)[labels]
    a, b = cross_entropy_error(y, labels), cross_entropy_error(y, one_hot)
    assert a == pytest.approx(b, rel=1e-12)
    assert a == pytest.approx(-np.mean(np.log(y[np.arange(6), labels])), rel=1e-9)
    # single sample: (C,) probabilities with a scalar label or a (C,) one-hot
    assert cross_entropy_error(y[0], labels[0]) == pytest.approx(cross_entropy_error(y[0], one_hot[0]), rel=1e-12)
    assert cross_entropy_error(y[0], labels[0]) == pytest.approx(-np.log(y[0, labels[0]]), rel=1e-9)


def test_cross_entropy_book_example_and_never_negative():
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    t = np.zeros(10); t[2] = 1
    assert cross_entropy_error(y, t) == pytest.approx(0.510825457099338, rel=1e-6)   # -log(0.6)
    assert cross_entropy_error(np.eye(3), np.arange(3)) == 0.0      # perfect prediction: zero, not negative


def test_cross_entropy_finite_for_zero_probabilities():
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert np.isfinite(cross_entropy_error(y, np.array([1, 0])))


def test_cross_entropy_rejects_mismatched_batch():
    with pytest.raises(ValueError, match="samples"):
        cross_entropy_error(np.full((3, 4), 0.25), np.array([0, 1]))


def test_sum_squared_error_book_example():
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    t = np.zeros(10); t[2] = 1
    assert sum_squared_error(y, t) == pytest.approx(0.0975, rel=1e-9)
    with pytest.raises(ValueError, match="shape"):
        sum_squared_error(y, t[:5])


# ---- issue 18: soft targets get the true cross-entropy; rows that are no distribution are refused ----
def test_cross_entropy_of_soft_targets_is_the_true_one():
    rng = np.random.default_rng(2)
    y = softmax(rng.standard_normal((4, 5)))
    t = softmax(rng.standard_normal((4, 5)))                        # soft rows (label smoothing, mixup, ...)
    assert cross_entropy_error(y, t) == pytest.approx(-np.sum(t * np.log(y)) / 4, rel=1e-12)
    assert cross_entropy_error(y[1], t[1]) == pytest.approx(-np.sum(t[1] * np.log(y[1])), rel=1e-12)
    # the argmax shortcut would give a different number
    assert cross_entropy_error(y, t) != pytest.approx(cross_entropy_error(y, t.argmax(axis=1)), rel=1e-3)


def test_cross_entropy_one_hot_rows_give_exactly_the_label_value():
    rng = np.random.default_rng(3)
    y = softmax(rng.standard_normal((7, 10)))
    labels = rng.integers(0, 10, 7)
    assert cross_entropy_error(y, np.eye(10)[labels]) == cross_entropy_error(y, labels)


@pytest.mark.parametrize("row, why", [
    ([0.0, 0.0, 0.0], "sum to 0"),                   # an all-zero row: a label outside the one-hot range
    ([0.5, 0.5, 0.5], "sum to 1.5"),
    ([1.5, -0.5, 0.0], "negative"),
    ([np.nan, 1.0, 0.0], "NaN"),
])
def test_cross_entropy_refuses_rows_that_are_not_distributions(row, why):
    t = np.array([[0.0, 1.0, 0.0], row, [1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=rf"row 1\b.*{why}"):
        cross_entropy_error(np.full((3, 3), 1 / 3), t)


def test_cross_entropy_refuses_scores_that_are_not_probabilities():
    """Hostile case: passing scores (no softmax) gave a meaningless, sometimes negative, loss."""
    scores = np.array([[2.0, -1.0, 0.5], [0.1, 3.0, -2.0]])
    with pytest.raises(ValueError, match=r"row 0.*softmax"):
        cross_entropy_error(scores, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"softmax"):
        cross_entropy_error(np.array([0.2, 0.2, 0.2]), 1)            # a single sample summing to 0.6
    assert cross_entropy_error(softmax(scores), np.array([0, 1])) > 0
