import numpy as np
import pytest

from common.gradient import gradient_check, gradient_descent, numerical_diff, numerical_gradient, rel_error
from common.networks import TwoLayerNet


def test_numerical_diff_central_difference():
    f = lambda x: 0.01 * x ** 2 + 0.1 * x
    assert numerical_diff(f, 5.0) == pytest.approx(0.2, abs=1e-9)
    assert numerical_diff(f, 10.0) == pytest.approx(0.3, abs=1e-9)


@pytest.mark.parametrize("shape", [(2,), (3, 4), (2, 3, 2, 2)])
def test_numerical_gradient_any_shape(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    before = x.copy()
    g = numerical_gradient(lambda v: float(np.sum(v ** 3)), x)
    assert g.shape == shape and g.dtype == x.dtype
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(x, before)        # restored exactly


def test_numerical_gradient_of_function_reading_a_closure():
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = np.array([0.5, -1.0])
    g = numerical_gradient(lambda _: float(np.sum(x @ W)), W)
    np.testing.assert_allclose(g, np.outer(x, np.ones(2)), atol=1e-8)


def test_numerical_gradient_rejects_integer_arrays_with_reason():
    with pytest.raises(TypeError, match="floating-point.*int"):
        numerical_gradient(lambda v: float(np.sum(v ** 2)), np.array([3, 4]))


def test_gradient_descent_does_not_mutate_start_and_returns_path():
    f = lambda v: float(v[0] ** 2 + v[1] ** 2)
    init = np.array([-3.0, 4.0])
    x, path = gradient_descent(f, init, lr=0.1, step_num=100, return_path=True)
    np.testing.assert_array_equal(init, [-3.0, 4.0])
    assert path.shape == (101, 2)
    np.testing.assert_array_equal(path[0], init)
    np.testing.assert_allclose(x, 0, atol=1e-8)
    np.testing.assert_array_equal(path[-1], x)


def test_gradient_descent_rejects_integer_start():
    with pytest.raises(TypeError):
        gradient_descent(lambda v: float(np.sum(v ** 2)), np.array([-3, 4]))


def test_rel_error():
    a = np.array([1.0, 2.0, 3.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(a, 2 * a) == pytest.approx(1 / 3)
    assert rel_error(a, np.zeros(3)) == pytest.approx(1.0)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_gradient_check_passes_for_the_real_network(activation):
    rng = np.random.default_rng(0)
    x, t = rng.random((5, 6)), rng.integers(0, 3, size=5)
    net = TwoLayerNet(6, 4, 3, weight_init_std=0.5, activation=activation, seed=1)
    errors = gradient_check(net, x, t)
    assert set(errors) == {"W1", "b1", "W2", "b2"}
    assert max(errors.values()) < 1e-6
