"""Experiments on an executor (issue #17): a process pool or a Dask cluster gives the serial run's numbers."""
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from chapters.ch06 import experiments as ex
from chapters.ch08.experiments import data_parallel_gradient
from chapters.executors import cpu_count, local_executor
from common.networks import MultiLayerNet


def _toy(n=300, d=20, seed=0):
    """Ten classes, each a shifted Gaussian blob: a small net learns something in one epoch."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 10, n)
    centres = rng.standard_normal((10, d)) * 2.0
    x = (centres[t] + rng.standard_normal((n, d))).astype(np.float32)
    return x[:240], t[:240], x[240:], t[240:]


SEARCH = {"n_trials": 5, "epochs": 1, "lr_exp": (-3, 1), "wd_exp": (-8, -4), "hidden": (16, 16), "batch_size": 40,
          "seed": 3}


@pytest.fixture(scope="module")
def serial():
    data = _toy()
    return data, ex.random_search(*data, **SEARCH)


def test_serial_search_draws_distinct_trials(serial):
    _, trials = serial
    assert len(trials) == SEARCH["n_trials"]
    assert len({r["lr"] for r in trials}) == SEARCH["n_trials"]
    # Training happened: some trial is better than chance (0.1) on validation.
    assert max(r["val_acc"] for r in trials) > 0.2


@pytest.mark.parametrize("context", ["spawn", "fork"])
def test_random_search_on_a_process_pool_equals_serial(serial, context):
    data, trials = serial
    with local_executor(2, context=context) as pool:
        pooled = ex.random_search(*data, **SEARCH, executor=pool)
    assert pooled == trials                            # same order, floats equal exactly


def test_a_retrained_trial_is_the_network_the_trial_trained(serial):
    """6.5.3 tests the winner: retraining its row repeats the trial's run loss for loss (its seed included)."""
    data, trials = serial

    class View:                                        # keeps each trial's History (as random_search hands it on)
        histories = []

        def start_run(self, label, total, per_epoch, epochs, history=None):
            self.histories.append(history)

        def tick(self, force=False):
            pass

    with local_executor(2) as pool:
        assert ex.random_search(*data, **SEARCH, executor=pool, view=View()) == trials
    for k in (int(np.argmax([r["val_acc"] for r in trials])), 0):
        row = trials[k]
        net, history = ex.retrain_trial(*data, row, SEARCH["epochs"], hidden=SEARCH["hidden"],
                                        batch_size=SEARCH["batch_size"])
        assert history.train_loss == View.histories[k].train_loss and history.test_acc[-1] == row["val_acc"]
        assert net.accuracy(data[2], data[3]) == row["val_acc"]
        _, other_seed = ex.retrain_trial(*data, {**row, "seed": row["seed"] + 1}, SEARCH["epochs"],
                                         hidden=SEARCH["hidden"], batch_size=SEARCH["batch_size"])
        assert other_seed.train_loss != history.train_loss            # so the seed is what makes it the same run


def test_data_parallel_gradient_on_a_process_pool_equals_serial():
    net = MultiLayerNet(6, [5, 4], 3, seed=0)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((12, 6)), rng.integers(0, 3, 12)
    with ProcessPoolExecutor(2) as pool:
        for workers in (2, 3):
            serial = data_parallel_gradient(net, x, t, workers)
            pooled = data_parallel_gradient(net, x, t, workers, executor=pool)
            assert serial.keys() == pooled.keys()
            for k in serial:
                np.testing.assert_array_equal(pooled[k], serial[k])
    full = net.gradient(x, t)
    for k in full:
        np.testing.assert_allclose(pooled[k], full[k], rtol=1e-10, atol=1e-14)


def test_local_executor_defaults_to_the_cores():
    with local_executor() as pool:
        assert pool._max_workers == cpu_count() >= 1
    with pytest.raises(ValueError):
        local_executor(0)


def test_random_search_on_a_dask_cluster_equals_serial(serial):
    distributed = pytest.importorskip("distributed")
    data, trials = serial
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        pooled = ex.random_search(*data, **SEARCH, executor=client.get_executor())
        assert len(client.scheduler_info()["workers"]) == 2
    assert pooled == trials


def test_random_search_with_a_view_replays_pooled_trials():
    data = _toy()

    class View:                                        # the part of LiveTraining that random_search uses
        def __init__(self):
            self.runs = []

        def start_run(self, label, total, per_epoch, epochs, history=None):
            self.runs.append((label, total, per_epoch, epochs, history))

        def tick(self, force=False):
            pass

    view = View()
    with local_executor(2) as pool:
        trials = ex.random_search(*data, **SEARCH, executor=pool, view=view)
    assert [r[0] for r in view.runs] == [f"trial {k + 1} of 5: lr {r['lr']:.2g}, weight decay {r['weight_decay']:.2g}"
                                         for k, r in enumerate(trials)]
    assert all(r[1:4] == (6, 6, 1) for r in view.runs)
    assert all(len(r[4].train_loss) == 6 or trials[k]["diverged"] for k, r in enumerate(view.runs))
