"""Chapter 6's multi-run experiments on an executor (chapters.ch06.parallel): the weight decay and dropout runs,
the Batch Normalization grid and the optimizer / initial weight comparisons give, on a process pool, exactly the
serial run's numbers (histories, losses, trained networks), and the view shows the same runs."""
import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from chapters.ch06 import experiments as ex
from chapters.ch06.parallel import RunRecorder, one_blas_thread
from chapters.executors import local_executor
from chapters.live import LiveTraining
from common.networks import MultiLayerNetExtend
from common.optimizer import make_optimizer
from toy_data import gaussian_blobs

# the grid's std 10 without BN diverges on purpose (its overflow is recorded as nan)
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


@pytest.fixture(scope="module")
def toy():
    """A learnable 4-class problem: 20-D Gaussian blobs, 120 train / 200 test samples."""
    return gaussian_blobs(120, 200)


@pytest.fixture(scope="module")
def wide():
    """The same kind of problem in 784 dimensions (MNIST's): products large enough for BLAS to use threads."""
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 1.0, (4, 784))
    t = rng.integers(0, 4, 320)
    x = (centres[t] + 2.0 * rng.standard_normal((320, 784))).astype(np.float32)
    return (x[:120], t[:120]), (x[120:], t[120:])


# key -> a run's own settings, as the notebook's weight decay and dropout cells pass them
RUNS = {("l2", 0.1): {"weight_decay_lambda": 0.1, "weight_decay_type": "l2"},
        ("l1", 0.01): {"weight_decay_lambda": 0.01, "weight_decay_type": "l1"},
        0.0: {"use_dropout": False},
        0.2: {"use_dropout": True, "dropout_ratio": 0.2}}
SHARED = {"hidden": (32, 32), "eval_samples": 50, "batch_size": 40}
EPOCHS = 4
BN = {"weight_scales": [10.0, 0.1, 0.001], "epochs": 3, "hidden": (32, 32, 32), "batch_size": 40}


def regularisation(toy, executor=None, view=None):
    (x, t), (xt, tt) = toy
    return ex.regularisation_runs(x, t, xt, tt, EPOCHS, RUNS, label=str, view=view, executor=executor, **SHARED)


def bn_grid(toy, executor=None, view=None):
    (x, t), (xt, tt) = toy
    return ex.bn_weight_scale_experiment(x, t, xt, tt, view=view, executor=executor, **BN)


def assert_same_runs(got, want):
    """Same keys in the same order, every History list and every parameter equal bit for bit."""
    assert list(got) == list(want)
    for key in want:
        (h, net), (h0, net0) = got[key], want[key]
        for name in ("train_loss", "epoch_loss", "train_acc", "test_acc"):
            assert np.array_equal(getattr(h, name), getattr(h0, name)), (key, name)
        assert type(net) is type(net0) and net.params.keys() == net0.params.keys()
        for p in net0.params:
            assert np.array_equal(net.params[p], net0.params[p]), (key, p)


def assert_same_grid(got, want):
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)        # nan (diverged) equals nan


def blas_threads():
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def view_runs(view):
    return [(r.label, r.total_iterations, r.iterations_per_epoch, r.epochs, list(r.losses), list(r.train_acc),
             list(r.test_acc)) for r in view.runs]


@pytest.fixture(scope="module")
def serial(toy):
    """The serial results (executor=None), each drawn into its own view, as the notebook did before."""
    with LiveTraining("weight decay", mode="text", show_runs="last", stoppable=False) as reg_view:
        reg = regularisation(toy, view=reg_view)
    with LiveTraining("BN", mode="text", show_runs="last", stoppable=False) as bn_view:
        bn = bn_grid(toy, view=bn_view)
    return reg, reg_view, bn, bn_view


def test_serial_runs_are_the_single_runs(toy, serial):
    (x, t), (xt, tt) = toy
    reg, reg_view, bn, _ = serial
    one_by_one = {key: ex.regularisation_run(x, t, xt, tt, EPOCHS, **SHARED, **own) for key, own in RUNS.items()}
    assert_same_runs(reg, one_by_one)
    assert_same_runs(regularisation(toy), one_by_one)                   # without a view: the same
    assert [r.label for r in reg_view.runs] == [str(key) for key in RUNS]
    assert reg[("l1", 0.01)][1].weight_decay_type == "l1" and "Dropout1" in reg[0.2][1].layers
    assert_same_grid(bn_grid(toy), bn)
    assert np.isnan(bn["plain_train"][0, -1]) and np.isnan(bn["plain_test"][0])   # std 10 without BN diverges
    assert np.isfinite(bn["bn_train"]).all()


@pytest.mark.parametrize("context", [None, "spawn"])
def test_runs_on_a_process_pool_equal_serial(toy, serial, context):
    reg, reg_view, bn, bn_view = serial
    with local_executor(2, context=context) as pool:
        with LiveTraining("weight decay", mode="text", show_runs="last", stoppable=False) as view:
            pooled = regularisation(toy, executor=pool, view=view)
        assert_same_runs(pooled, reg)
        # the view shows each finished run as the serial view drew it
        assert view_runs(view) == view_runs(reg_view)
        assert view.sentence.startswith(f"Finished {len(RUNS)} runs ")
        with LiveTraining("BN", mode="text", show_runs="last", stoppable=False) as view:
            pooled_bn = bn_grid(toy, executor=pool, view=view)
        assert_same_grid(pooled_bn, bn)
        assert view_runs(view) == view_runs(bn_view)                     # diverged runs: up to their last finite step
        assert_same_runs(regularisation(toy, executor=pool), reg)       # no view: the same numbers


def test_a_caller_with_several_blas_threads_gets_the_same_runs(wide, monkeypatch):
    """OpenBLAS's products of 784-wide rows can differ in the last bits between one thread and two: the serial
    runs too train with one thread, so a caller with two gets the pool's numbers. (DLFS_THREADS=1: the fast
    layers then compute with BLAS as it is set, rather than on one BLAS thread of their own.)"""
    monkeypatch.setenv("DLFS_THREADS", "1")
    views = [LiveTraining("BN", mode="text", show_runs="last", stoppable=False) for _ in range(3)]
    reg, bn = regularisation(wide), bn_grid(wide, view=views[0])
    with threadpool_limits(limits=2):
        assert_same_runs(regularisation(wide), reg)
        assert_same_grid(bn_grid(wide, view=views[1]), bn)
        with local_executor(2) as pool:
            assert_same_runs(regularisation(wide, executor=pool), reg)
            assert_same_grid(bn_grid(wide, executor=pool, view=views[2]), bn)
        before = blas_threads()
        with one_blas_thread():
            assert blas_threads() == {1}
        assert blas_threads() == before                          # put back
    assert view_runs(views[1]) == view_runs(views[2]) == view_runs(views[0])       # every loss, bit for bit


def test_a_recorder_keeps_what_a_view_draws(toy):
    (x, t), _ = toy
    recorder, view = RunRecorder(), LiveTraining("one run", mode="text", total_iterations=9, epochs=3)
    accs = [ex.train_epochs(MultiLayerNetExtend(20, [16], 10, dtype=np.float32, seed=0), make_optimizer("sgd", lr=0.1),
                            x, t, 3, batch_size=40, view=v) for v in (recorder, view)]
    history = recorder.history()
    assert np.array_equal(accs[0], accs[1]) and history.train_acc == view.run.train_acc == list(accs[0])
    assert history.train_loss == view.run.losses and len(history.train_loss) == 9
    assert not recorder.stop_requested


def test_the_optimizer_and_initial_weight_comparisons_on_a_process_pool_equal_serial(wide, monkeypatch):
    monkeypatch.setenv("DLFS_THREADS", "1")          # the fast layers compute with BLAS as set (see above)
    (x, t), _ = wide
    setting = {"hidden": (64, 64), "batch_size": 64}       # products big enough for two BLAS threads
    with threadpool_limits(limits=2):            # the serial runs, too, train with one BLAS thread
        optimizers = ex.compare_optimizers(x, t, 30, **setting)
        inits = ex.compare_weight_inits(x, t, 30, **setting)
        alone = ex.optimizer_run(x, t, "adam", 0.001, iters=30, **setting)
        with local_executor(2) as pool, LiveTraining("6.1.8", mode="text", stoppable=False) as view:
            pooled = ex.compare_optimizers(x, t, 30, view=view, executor=pool, **setting)
            pooled_inits = ex.compare_weight_inits(x, t, 30, executor=pool, **setting)
    for got, want in ((pooled, optimizers), (pooled_inits, inits)):
        assert list(got) == list(want) and all(np.array_equal(got[k], want[k]) for k in want)
    assert np.array_equal(alone, optimizers["Adam"])                  # 6.1.8's panel reruns the comparison's run
    assert [(r.label, r.total_iterations, r.losses) for r in view.runs] == \
        [(label, 30, list(losses)) for label, losses in optimizers.items()]


def test_the_bn_scale_and_learning_rate_grid_on_a_process_pool_equals_a_hand_loop(toy):
    """6.3.2's Q&A grid: each (scale, lr) cell is the BN network trained as one would by hand."""
    (x, t), _ = toy
    scales, lrs, hidden = (1.0, 0.01), (0.01, 1.0), (32, 32)
    by_hand = {}
    for scale in scales:
        for lr in lrs:
            net = MultiLayerNetExtend(20, hidden, 10, weight_init_std=scale, use_batchnorm=True, dtype=np.float32,
                                      seed=0)
            W1 = net.params["W1"].copy()
            acc = ex.train_epochs(net, make_optimizer("sgd", lr=lr), x, t, 3)
            by_hand[(scale, lr)] = (float(acc[-1]), float(np.linalg.norm(net.params["W1"] - W1) / np.linalg.norm(W1)))
    serial_view = LiveTraining("grid", mode="text", show_runs="last", stoppable=False)
    serial = ex.bn_scale_lr_grid(x, t, scales, lrs, epochs=3, hidden=hidden, view=serial_view)
    with local_executor(2) as pool, LiveTraining("grid", mode="text", show_runs="last", stoppable=False) as view:
        pooled = ex.bn_scale_lr_grid(x, t, scales, lrs, epochs=3, hidden=hidden, view=view, executor=pool)
    serial_view.finish()
    assert list(serial) == list(pooled) == list(by_hand) == [(1.0, 0.01), (1.0, 1.0), (0.01, 0.01), (0.01, 1.0)]
    assert serial == pooled == by_hand
    assert by_hand[(1.0, 0.01)][1] < by_hand[(0.01, 0.01)][1]         # std 1 moves W1 less, relatively
    assert view_runs(view) == view_runs(serial_view) and [r.label for r in view.runs][0] == "std 1, lr 0.01"
