"""common.fast's slices and threads: the same numbers however the batch is cut and however many
threads share it, both convolution layouts equal the book, and the machinery is safe to use
(errors come through, BLAS's thread setting is put back, a forked child gets a working pool)."""
import multiprocessing
import os

import numpy as np
import pytest

from common import config, fast, layers
from common.networks import DeepConvNet, SimpleConvNet, TwoLayerNet

LAYOUT_CASES = [
    ((7, 3, 9, 9), (5, 3, 3, 3), 1, 1),
    ((7, 3, 9, 9), (5, 3, 3, 3), 2, 1),          # stride 2: dx by fold, not by the flipped filters
    ((5, 4, 8, 8), (6, 4, 3, 3), 1, 2),          # pad 2, like DeepConvNet's fourth layer
    ((6, 1, 12, 12), (3, 1, 5, 5), 1, 0),        # one channel, like SimpleConvNet's layer
    ((9, 8, 6, 6), (4, 8, 3, 3), 1, 1),
]


@pytest.fixture
def small_slices(monkeypatch):
    """Slices of one or two images, so that every test batch is cut into several slices."""
    monkeypatch.setattr(fast, "SLICE_BYTES", 3000)


@pytest.mark.parametrize("layout", ["channels-first", "channels-last"])
@pytest.mark.parametrize("threads", ["1", "3"])
@pytest.mark.parametrize("x_shape, w_shape, stride, pad", LAYOUT_CASES)
def test_convolution_in_slices_equals_book(x_shape, w_shape, stride, pad, layout, threads, small_slices,
                                           monkeypatch):
    monkeypatch.setenv("DLFS_THREADS", threads)
    monkeypatch.setattr(fast.FastConvolution, "_channels_last", lambda self, shape: layout == "channels-last")
    rng = np.random.default_rng(sum(x_shape) + stride)
    x, W, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    book, quick = layers.Convolution(W, b, stride, pad), fast.FastConvolution(W, b, stride, pad)
    out = book.forward(x)
    assert len(fast.batch_slices(x_shape[0], 9 * x_shape[1] * out.shape[2] * out.shape[3] * 8)) > 1
    np.testing.assert_allclose(quick.forward(x), out, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(quick.backward(dout), book.backward(dout), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(quick.dW, book.dW, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(quick.db, book.db, rtol=1e-12, atol=1e-12)
    assert quick.dW.flags["C_CONTIGUOUS"] and quick.dW.shape == W.shape


def test_both_layouts_are_used_by_the_book_networks():
    """The rule picks channels-last for DeepConvNet's wider layers and channels-first for a one-channel input."""
    picks, x = {}, np.zeros((1, 1, 28, 28))
    for name, layer, out in DeepConvNet(seed=0).layer_outputs(x):
        if isinstance(layer, fast.FastConvolution):
            picks[name] = layer._channels_last(x.shape)          # x: this layer's input
        x = out
    assert picks == {"Conv1": False, "Conv2": False, "Conv3": True, "Conv4": True, "Conv5": True, "Conv6": True}
    assert SimpleConvNet(seed=0).layers["Conv1"]._channels_last((1, 1, 28, 28)) is False


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_pooling_relu_affine_in_slices_equal_book(threads, small_slices, monkeypatch):
    monkeypatch.setenv("DLFS_THREADS", threads)
    rng = np.random.default_rng(8)
    x = np.maximum(0, rng.standard_normal((9, 3, 8, 6)))                 # ties at zero
    book, quick = layers.Pooling(2, 2), fast.FastPooling(2, 2)
    out = book.forward(x)
    np.testing.assert_array_equal(quick.forward(x), out)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(quick.backward(dout), book.backward(dout))
    z = rng.standard_normal((11, 4, 5))
    book, quick = layers.Relu(), fast.FastRelu()
    np.testing.assert_array_equal(quick.forward(z), book.forward(z))
    np.testing.assert_array_equal(quick.mask, book.mask)
    np.testing.assert_array_equal(quick.backward(z), book.backward(z))
    W, b = rng.standard_normal((20, 7)), rng.standard_normal(7)
    book, quick = layers.Affine(W, b), fast.FastAffine(W, b)
    xa = rng.standard_normal((40, 4, 5))                                 # 216 bytes a sample: 4 slices
    np.testing.assert_allclose(quick.forward(xa), book.forward(xa), rtol=1e-13)
    da = rng.standard_normal((40, 7))
    np.testing.assert_allclose(quick.backward(da), book.backward(da), rtol=1e-13)
    np.testing.assert_allclose(quick.dW, book.dW, rtol=1e-12)
    np.testing.assert_allclose(quick.db, book.db, rtol=1e-12)


@pytest.mark.parametrize("threads", ["2", "3"])
def test_a_wide_affine_layer_shared_between_threads_equals_book(threads, monkeypatch):
    monkeypatch.setenv("DLFS_THREADS", threads)
    monkeypatch.setattr(fast.FastAffine, "WIDE", 1)
    rng = np.random.default_rng(9)
    W, b, x = rng.standard_normal((30, 7)), rng.standard_normal(7), rng.standard_normal((5, 3, 10))
    book, quick = layers.Affine(W, b), fast.FastAffine(W, b)
    with config.blas_single_threaded():                                 # as inside a convolutional network's pass
        out = quick.forward(x)
        dout = rng.standard_normal(out.shape)
        dx = quick.backward(dout)
    np.testing.assert_allclose(out, book.forward(x), rtol=1e-13)
    np.testing.assert_allclose(dx, book.backward(dout), rtol=1e-13)
    np.testing.assert_allclose(quick.dW, book.dW, rtol=1e-12)
    np.testing.assert_allclose(quick.db, book.db, rtol=1e-12)
    with config.blas_single_threaded():
        assert quick.backward(dout, need_dx=False) is None
    np.testing.assert_allclose(quick.dW, book.dW, rtol=1e-12)


def test_relu_lets_nan_through_as_the_book_does():
    x = np.array([[np.nan, -1.0, 2.0]])
    quick, book = fast.FastRelu(), layers.Relu()
    quick.forward(x), book.forward(x)
    np.testing.assert_array_equal(quick.backward(np.ones((1, 3))), book.backward(np.ones((1, 3))))


def test_gradient_is_bit_for_bit_the_same_on_any_thread_count(monkeypatch):
    """The slices depend on the batch, not on the threads, and partial sums are added in slice order; with
    one BLAS thread per product (as the fast layers' threads use), 1, 2 or 3 threads give the same bits."""
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(1)
    x, t = rng.random((40, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 40)
    grads = {}
    with threadpool_limits(limits=1, user_api="blas"):
        for threads in ("1", "2", "3"):
            monkeypatch.setenv("DLFS_THREADS", threads)
            for make in (lambda: DeepConvNet(dtype=np.float32, seed=0, dropout_ratio=0.0),
                         lambda: SimpleConvNet(dtype=np.float32, seed=0)):   # its Affine2 is shared by rows
                net = make()
                grads[threads, type(net).__name__] = net.gradient(x, t)
    for threads in ("2", "3"):
        for (th, name), g in grads.items():
            if th == threads:
                for key in g:
                    np.testing.assert_array_equal(g[key], grads["1", name][key], err_msg=f"{name} {key}, {threads} threads")


def test_a_convolutional_network_keeps_blas_on_one_thread_for_a_whole_pass(monkeypatch):
    """No product inside a pass runs on BLAS's own threads (they would spin and take the cores from the
    next layer's slices); an MLP's pass leaves BLAS as it is set."""
    from threadpoolctl import threadpool_limits
    monkeypatch.setenv("DLFS_THREADS", "2")
    seen = []
    with threadpool_limits(limits=2, user_api="blas"):
        for net in (SimpleConvNet(dtype=np.float32, seed=0), TwoLayerNet(784, 20, 10, dtype=np.float32, seed=0)):
            affine = net.layers["Affine2" if "Affine2" in net.layers and "Conv1" in net.layers else "Affine1"]
            forward = affine.forward
            monkeypatch.setattr(affine, "forward", lambda x, f=forward: (seen.append(config._blas_threads()), f(x))[1])
            x = np.zeros((4, 1, 28, 28) if "Conv1" in net.layers else (4, 784), dtype=np.float32)
            net.predict(x)
            assert config._blas_threads() == 2                     # the setting is back after the pass
    assert seen == [1, 2]


def test_batch_slices_cover_the_batch_in_order():
    assert fast.batch_slices(10, fast.SLICE_BYTES // 4) == [(0, 4), (4, 8), (8, 10)]
    assert fast.batch_slices(1, 10 ** 9) == [(0, 1)]
    assert fast.batch_slices(0, 8) == []


def test_a_slow_thread_takes_fewer_slices_and_the_results_stay_in_order(monkeypatch):
    """Slices go to whichever thread is free: while one thread is held up on its first slice, the
    other takes the rest; the results still come back in slice order."""
    import threading
    import time
    monkeypatch.setenv("DLFS_THREADS", "2")
    ran_by: dict[tuple[int, int], int] = {}

    def work(a, b):
        ran_by[(a, b)] = threading.get_ident()
        if a == 0:
            time.sleep(0.3)                                # whichever thread took the first slice stalls
        return (a, b)

    slices = fast.batch_slices(16, fast.SLICE_BYTES // 2)
    assert len(slices) == 8
    assert fast.over_batch(work, 16, fast.SLICE_BYTES // 2) == slices
    stalled = ran_by[slices[0]]
    assert len(set(ran_by.values())) == 2, ran_by                  # both threads worked
    assert sum(t == stalled for t in ran_by.values()) < 4, ran_by   # a fixed half each would be 4


def test_zeros_is_a_shared_read_only_buffer():
    z = fast.zeros((3, 4), np.float32)
    assert z.shape == (3, 4) and z.dtype == np.float32 and not z.any()
    with pytest.raises(ValueError):
        z[0, 0] = 1.0                                      # nobody may write into the shared zeros
    big = fast.zeros((1 << 17,), np.float64)               # grows on demand, per dtype
    assert big.size == 1 << 17 and not big.any() and big.dtype == np.float64


def test_an_error_in_a_worker_thread_reaches_the_caller(monkeypatch):
    monkeypatch.setenv("DLFS_THREADS", "2")

    def work(a, b):
        if a > 0:
            raise ArithmeticError(f"slice {a}:{b}")
        return a

    with pytest.raises(ArithmeticError, match="slice"):
        fast.over_batch(work, 8, fast.SLICE_BYTES // 2)


def test_blas_thread_setting_is_put_back(monkeypatch):
    pytest.importorskip("threadpoolctl")
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=2, user_api="blas"):
        before = config._blas_threads()
        monkeypatch.setenv("DLFS_THREADS", "2")
        seen = fast.over_batch(lambda a, b: config._blas_threads(), 8, fast.SLICE_BYTES // 2)
        assert set(seen) == {1}                            # one BLAS thread inside the threads' work
        assert config._blas_threads() == before            # and the setting back afterwards


def test_threads_setting(monkeypatch):
    monkeypatch.setenv("DLFS_THREADS", "3")
    assert config.threads() == 3
    monkeypatch.setenv("DLFS_THREADS", "two")
    with pytest.raises(ValueError, match="DLFS_THREADS must be a whole number"):
        config.threads()
    monkeypatch.delenv("DLFS_THREADS")
    assert 1 <= config.threads() <= config._cores()


def _child_gradient(queue):
    net = SimpleConvNet(dtype=np.float32, seed=0)
    x = np.random.default_rng(0).random((30, 1, 28, 28), dtype=np.float32)
    queue.put(float(net.gradient(x, np.arange(30) % 10)["W1"].sum()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_thread_pool(monkeypatch, small_slices):
    """After fork the parent's pool threads do not exist in the child: a stale pool would hang."""
    monkeypatch.setenv("DLFS_THREADS", "2")
    fast.over_batch(lambda a, b: None, 8, fast.SLICE_BYTES // 2)      # the parent now has a pool
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_gradient, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0, "the forked child hung or failed"
    expected = SimpleConvNet(dtype=np.float32, seed=0)
    x = np.random.default_rng(0).random((30, 1, 28, 28), dtype=np.float32)
    assert queue.get(timeout=5) == float(expected.gradient(x, np.arange(30) % 10)["W1"].sum())
