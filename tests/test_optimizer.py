import numpy as np
import pytest

from common.optimizer import OPTIMIZERS, SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop, make_optimizer


def f(x, y):
    return x ** 2 / 20.0 + y ** 2


def df(x, y):
    return x / 10.0, 2.0 * y


# learning rates of the book's figure 6-8 (and comparable ones for the two it does not show)
SETTINGS = [(SGD, 0.95), (Momentum, 0.1), (Nesterov, 0.1), (AdaGrad, 1.5), (RMSprop, 0.1), (Adam, 0.3)]


@pytest.mark.parametrize("cls, lr", SETTINGS)
def test_each_optimizer_lowers_f_from_book_start(cls, lr):
    params = {"x": np.array(-7.0), "y": np.array(2.0)}
    x_ref, y_ref = params["x"], params["y"]
    opt = cls(lr=lr)
    start = f(-7.0, 2.0)
    for _ in range(30):
        gx, gy = df(params["x"], params["y"])
        opt.update(params, {"x": np.array(gx), "y": np.array(gy)})
    end = f(float(params["x"]), float(params["y"]))
    assert end < 0.1 * start, f"{cls.__name__}: {start} -> {end}"
    # updated in place: the very same array objects (layers hold references to them)
    assert params["x"] is x_ref and params["y"] is y_ref


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizers_keep_shape_dtype_identity(name, dtype):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4)).astype(dtype)
    params = {"W": W}
    opt = make_optimizer(name, lr=0.01)
    for _ in range(3):
        opt.update(params, {"W": rng.standard_normal((3, 4)).astype(dtype)})
    assert params["W"] is W and W.shape == (3, 4) and W.dtype == dtype


def test_adam_first_step_is_lr_times_sign():
    # with bias correction the first Adam step is lr * g / (|g| + eps) ~ lr * sign(g)
    p = {"w": np.array([1.0, -1.0, 1.0])}
    Adam(lr=0.1).update(p, {"w": np.array([0.5, -3.0, 1e-3])})
    np.testing.assert_allclose(p["w"], [0.9, -0.9, 0.9], rtol=1e-4)


def test_momentum_matches_hand_computation():
    p = {"w": np.array([1.0])}
    opt = Momentum(lr=0.1, momentum=0.9)
    opt.update(p, {"w": np.array([1.0])})      # v = -0.1, w = 0.9
    opt.update(p, {"w": np.array([1.0])})      # v = -0.09 - 0.1 = -0.19, w = 0.71
    np.testing.assert_allclose(p["w"], [0.71])


def test_adagrad_eps_outside_sqrt():
    p = {"w": np.array([0.0])}
    AdaGrad(lr=1.0, eps=1e-7).update(p, {"w": np.array([2.0])})
    np.testing.assert_allclose(p["w"], [-2.0 / (2.0 + 1e-7)])


def test_optimizer_errors():
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("adamw")
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        SGD().update({"w": np.zeros(3)}, {"w": np.zeros(2)})
    with pytest.raises(KeyError, match="b"):
        SGD().update({"w": np.zeros(3), "b": np.zeros(1)}, {"w": np.zeros(3)})


# ---- issue 18: nonsense hyperparameters are refused with a clear message -------------------------
@pytest.mark.parametrize("name, kwargs, pattern", [
    ("sgd", {"lr": -0.1}, r"SGD: lr must be a positive number.*-0\.1"),
    ("sgd", {"lr": 0.0}, r"SGD: lr must be a positive number"),
    ("adam", {"lr": "0.1"}, r"Adam: lr must be a number.*'0\.1'"),
    ("sgd", {"lr": float("nan")}, r"SGD: lr must be a positive number.*nan"),
    ("sgd", {"lr": True}, r"SGD: lr must be a number.*True"),
    ("momentum", {"lr": 0.1, "momentum": 1.0}, r"Momentum: momentum must be in \[0, 1\).*1\.0"),
    ("momentum", {"lr": 0.1, "momentum": 1.5}, r"Momentum: momentum must be in \[0, 1\)"),
    ("nesterov", {"lr": 0.1, "momentum": -0.1}, r"Nesterov: momentum must be in \[0, 1\)"),
    ("adam", {"lr": 0.1, "beta1": 1.0}, r"Adam: beta1 must be in \[0, 1\)"),
    ("adam", {"lr": 0.1, "beta2": 1.0}, r"Adam: beta2 must be in \[0, 1\)"),
    ("rmsprop", {"lr": 0.1, "decay_rate": 1.2}, r"RMSprop: decay_rate must be in \[0, 1\)"),
    ("adagrad", {"lr": 0.1, "eps": -1e-7}, r"AdaGrad: eps must be a non-negative number"),
])
def test_nonsense_hyperparameters_are_refused(name, kwargs, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        make_optimizer(name, **kwargs)


def test_numpy_scalars_are_fine_hyperparameters():
    opt = SGD(lr=np.float32(0.1))
    p = {"w": np.ones(2, dtype=np.float32)}
    opt.update(p, {"w": np.ones(2, dtype=np.float32)})
    assert p["w"].dtype == np.float32
    Momentum(lr=np.float64(0.01), momentum=np.float64(0.9))
