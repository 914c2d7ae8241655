"""common.fast.BatchParts and the channels-last hand-over: a network's first layers run part by part
(each part of the batch through all of them in one thread), ReLU after max-pooling, activations kept
channels-last from one layer to the next. None of it may change what the network computes."""
import numpy as np
import pytest

from common import config, fast, layers
from common.networks import DeepConvNet, SimpleConvNet


def as_channels_last(a: np.ndarray) -> np.ndarray:
    """The same (N, C, H, W) numbers, stored channels-last."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def batch(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28)), rng.integers(0, 10, n)


# ---- the cut -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cores, parts", [(1, 4), (2, 4), (3, 6), (4, 4), (6, 6), (8, 8)])
def test_every_core_gets_the_same_number_of_parts(cores, parts, monkeypatch):
    monkeypatch.setattr(config, "_cores", lambda: cores)
    cut = fast.batch_parts(100)
    assert len(cut) == parts
    assert cut[0][0] == 0 and cut[-1][1] == 100
    assert all(b == c for (_, b), (c, _) in zip(cut, cut[1:]))                  # consecutive, no gaps
    assert max(b - a for a, b in cut) - min(b - a for a, b in cut) <= 1         # nearly equal


def test_small_batches_get_fewer_parts_and_parts_1_switches_them_off(monkeypatch):
    monkeypatch.setattr(config, "_cores", lambda: 2)
    assert fast.batch_parts(9) == [(0, 4), (4, 9)]                              # at least MIN_PART each
    assert fast.batch_parts(3) == [(0, 3)]
    monkeypatch.setattr(fast, "PARTS", 1)
    assert fast.batch_parts(100) == [(0, 100)]


def test_the_prefix_is_the_fast_per_sample_layers_and_a_planted_layer_ends_it():
    net = DeepConvNet(seed=0)
    names = list(net.layers)
    k = fast.per_sample_prefix(list(net.layers.values()))
    assert k == 15 and names[k - 1] == "Pool3" and names[k] == "Affine7"       # all 15 conv/ReLU/pool layers

    class MyRelu(fast.FastRelu):                                                # a reader's own layer
        pass
    net.replace_layer("Relu2", MyRelu())
    assert fast.per_sample_prefix(list(net.layers.values())) == names.index("Relu2")
    assert fast.per_sample_prefix(list(DeepConvNet(seed=0, fast=False).layers.values())) == 0


# ---- the same numbers ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [8, 13, 24])                                    # 2 parts of 4; uneven parts
@pytest.mark.parametrize("make", [lambda: DeepConvNet(seed=0, dropout_ratio=0.0),
                                  lambda: SimpleConvNet(seed=0)], ids=["DeepConvNet", "SimpleConvNet"])
def test_parts_give_the_layer_by_layer_gradient(make, n, monkeypatch):
    x, t = batch(n)
    monkeypatch.setattr(fast, "PARTS", 1)
    whole = make()
    loss_whole, g_whole = whole.loss_and_gradient(x, t)
    scores_whole = whole.predict(x)
    monkeypatch.setattr(fast, "PARTS", 4)
    parted = make()
    assert len(parted._split(len(x))[0].parts) == min(4, n // fast.MIN_PART)
    loss_parts, g_parts = parted.loss_and_gradient(x, t)
    assert loss_parts == pytest.approx(loss_whole, rel=1e-13)
    for key in g_whole:
        np.testing.assert_allclose(g_parts[key], g_whole[key], rtol=1e-10, atol=1e-13, err_msg=key)
    scores_parts = parted._forward(x, train_flg=False)[0]
    np.testing.assert_allclose(scores_parts, scores_whole, rtol=1e-12, atol=1e-14)
    labels = scores_whole.argmax(axis=1)
    assert parted.accuracy(x, labels) == 1.0                    # accuracy runs in parts, same predictions


def test_parts_give_the_book_networks_gradient():
    x, t = batch(16, seed=3)
    fast_net, book_net = DeepConvNet(seed=0, dropout_ratio=0.0), DeepConvNet(seed=0, dropout_ratio=0.0, fast=False)
    assert fast_net._split(len(x))[0] is not None
    g_fast, g_book = fast_net.gradient(x, t), book_net.gradient(x, t)
    for key in g_book:
        np.testing.assert_allclose(g_fast[key], g_book[key], rtol=1e-9, atol=1e-12, err_msg=key)


def test_pooling_before_relu_gives_the_same_bits(monkeypatch):
    """max(relu(a), relu(b)) == relu(max(a, b)), and backward picks the same pixel, or none when a window
    holds no positive number; the negative biases make sure many windows hold none."""
    x, t = batch(16, seed=5)
    grads, scores = {}, {}
    for pool_first in (False, True):
        monkeypatch.setattr(fast.BatchParts, "POOL_FIRST", pool_first)
        net = DeepConvNet(seed=0, dropout_ratio=0.0)
        for i in (2, 4, 6):
            net.params[f"b{i}"][::2] = -0.3                     # half the filters mostly negative
        parts, _ = net._split(len(x))
        assert parts.order != list(range(len(parts.layers))) if pool_first else parts.order == sorted(parts.order)
        grads[pool_first], scores[pool_first] = net.gradient(x, t), net._forward(x, False)[0]
    relu_in = dict((name, out) for name, _, out in net.layer_outputs(x))["Conv2"]
    windows = relu_in.reshape(16, 16, 14, 2, 14, 2).max(axis=(3, 5))
    assert (windows <= 0).mean() > 0.1                          # windows with no positive number exist
    np.testing.assert_array_equal(scores[True], scores[False])
    for key in grads[False]:
        assert grads[True][key].tobytes() == grads[False][key].tobytes(), key


def test_the_gradient_lands_on_the_networks_own_layers(monkeypatch):
    """The parts work on copies; the summed dW and db are left on the layers the network reads."""
    x, t = batch(12)
    net = DeepConvNet(seed=0, dropout_ratio=0.0)
    assert net._split(len(x))[0] is not None
    net.gradient(x, t)
    conv1, conv6 = net.layers["Conv1"], net.layers["Conv6"]
    monkeypatch.setattr(fast, "PARTS", 1)
    whole = DeepConvNet(seed=0, dropout_ratio=0.0).gradient(x, t)
    np.testing.assert_allclose(conv1.dW, whole["W1"], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(conv6.db, whole["b6"], rtol=1e-10, atol=1e-13)


def test_predict_leaves_every_layer_ready_for_a_backward_by_hand():
    """predict runs the network's own layers on the whole batch (no parts), so stepping backward through
    them afterwards, as chapter 7 does, works for any batch size."""
    x, _ = batch(12)
    net = DeepConvNet(seed=0, dropout_ratio=0.0)
    net.gradient(*batch(16, seed=1))                            # an earlier pass in parts, another batch size
    scores = net.predict(x, train_flg=True)                     # (dropout 0: its masks keep everything)
    dout = np.ones_like(scores)
    for layer in reversed(list(net.layers.values())):
        dout = layer.backward(dout)
    assert dout.shape == x.shape


# ---- channels-last between layers ------------------------------------------------------------------
def test_wide_convolutions_hand_on_channels_last_and_relu_and_pooling_keep_it():
    x, _ = batch(2)
    layout = {name: fast.is_channels_last(out) for name, _, out in DeepConvNet(seed=0).layer_outputs(x)}
    assert not layout["Conv1"] and not layout["Conv2"] and not layout["Pool1"]
    for name in ("Conv3", "Relu3", "Conv4", "Relu4", "Pool2", "Conv5", "Conv6", "Relu6", "Pool3"):
        assert layout[name], name


@pytest.mark.parametrize("pad", [0, 1])
@pytest.mark.parametrize("threads", ["1", "3"])
@pytest.mark.parametrize("layout", ["channels-first", "channels-last"])
def test_convolution_takes_channels_last_input_and_gradient(layout, threads, pad, monkeypatch):
    monkeypatch.setenv("DLFS_THREADS", threads)
    monkeypatch.setattr(fast, "SLICE_BYTES", 3000)                              # several slices
    monkeypatch.setattr(fast.FastConvolution, "_channels_last", lambda self, shape: layout == "channels-last")
    rng = np.random.default_rng(11)
    x, W, b = rng.standard_normal((5, 4, 8, 8)), rng.standard_normal((6, 4, 3, 3)), rng.standard_normal(6)
    book, quick = layers.Convolution(W, b, 1, pad), fast.FastConvolution(W, b, 1, pad)
    out = book.forward(x)
    got = quick.forward(as_channels_last(x))
    assert fast.is_channels_last(got) == (layout == "channels-last")
    np.testing.assert_allclose(got, out, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(quick.backward(as_channels_last(dout)), book.backward(dout), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(quick.dW, book.dW, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(quick.db, book.db, rtol=1e-12, atol=1e-12)
    assert quick.dW.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("threads", ["1", "3"])
def test_relu_and_pooling_take_channels_last_and_give_it_back(threads, monkeypatch):
    monkeypatch.setenv("DLFS_THREADS", threads)
    monkeypatch.setattr(fast, "SLICE_BYTES", 1000)
    rng = np.random.default_rng(12)
    x = np.maximum(0, rng.standard_normal((7, 5, 8, 6)))                     # ties at zero for pooling
    for book, quick in ((layers.Pooling(2, 2), fast.FastPooling(2, 2)), (layers.Relu(), fast.FastRelu())):
        out = book.forward(x)
        got = quick.forward(as_channels_last(x))
        assert fast.is_channels_last(got)
        np.testing.assert_array_equal(got, out)
        dout = rng.standard_normal(out.shape)
        dx = quick.backward(as_channels_last(dout))
        assert fast.is_channels_last(dx)
        np.testing.assert_array_equal(dx, book.backward(dout))
        np.testing.assert_array_equal(quick.backward(dout), book.backward(dout))   # either layout of dout


def test_is_channels_last():
    a = np.zeros((2, 3, 4, 5))
    assert not fast.is_channels_last(a)
    assert fast.is_channels_last(as_channels_last(a))
    assert fast.is_channels_last(as_channels_last(a)[1:2])                     # one image of it
    assert not fast.is_channels_last(a.transpose(0, 1, 3, 2))                  # some other order
    assert not fast.is_channels_last(np.zeros((2, 3)))
    for shape in ((2, 1, 4, 5), (2, 3, 1, 1), (1, 3, 4, 5)):                   # one channel, one pixel, one image
        b = np.zeros(shape)
        assert not fast.is_channels_last(b)                                    # plain: the same memory either way
        assert fast.empty_images(shape, b.dtype, like=as_channels_last(b)).shape == shape


def test_a_training_step_reuses_freed_memory_instead_of_faulting_it_back_in():
    """With glibc told to keep freed memory (fast.keep_freed_memory, at import), a DeepConvNet step gets
    its arrays from the heap: a few page faults a step, not the thousands of a heap handed back and
    taken again every step."""
    resource = pytest.importorskip("resource")
    if not fast.keep_freed_memory():
        pytest.skip("not glibc: malloc's thresholds cannot be set here")
    from common.optimizer import Adam
    x, t = batch(100)
    net, opt = DeepConvNet(dtype=np.float32, seed=0), Adam(lr=0.001)
    x = x.astype(np.float32)
    for _ in range(3):                                       # the first steps grow the heap
        opt.update(net.params, net.gradient(x, t))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        opt.update(net.params, net.gradient(x, t))
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3
    assert faults < 400, f"{faults:.0f} page faults a step"
