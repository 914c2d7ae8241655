"""common.trainer: the training loop, its network contract, divergence and the checks before training (checkpoints: test_checkpoint.py)."""

import numpy as np
import pytest

from common.networks import MultiLayerNet, MultiLayerNetExtend, TwoLayerNet
from common.optimizer import SGD
from common.trainer import Trainer


@pytest.fixture(scope="module")
def mnist_subset():
    from dataset.mnist import load_mnist
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True)
    return x_train[:1000], t_train[:1000], x_test[:500], t_test[:500]


def test_trainer_lowers_loss_on_1000_mnist_images(mnist_subset):
    x_train, t_train, x_test, t_test = mnist_subset
    net = TwoLayerNet(784, 50, 10, weight_init_std="he", seed=0, dtype=np.float32)
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=5, mini_batch_size=100,
                      optimizer="sgd", optimizer_param={"lr": 0.2}, seed=0, progress=False)
    h = trainer.train()
    assert len(h.train_loss) == 5 * 10 and len(h.test_acc) == 5 == len(h.epoch_loss)
    assert h.epoch_loss[-1] < 0.5 * h.epoch_loss[0]
    assert h.train_loss[0] == pytest.approx(np.log(10), rel=0.05)      # at the start: about a uniform guess
    assert h.test_acc[-1] > 0.75
    assert all(p.dtype == np.float32 for p in net.params.values())


def test_trainer_shuffles_each_epoch_and_is_reproducible(mnist_subset):
    x_train, t_train, x_test, t_test = mnist_subset

    def run(seed):
        net = TwoLayerNet(784, 10, 10, seed=1)
        return Trainer(net, x_train[:300], t_train[:300], x_test[:100], t_test[:100], epochs=2,
                       mini_batch_size=64, optimizer=SGD(lr=0.1), seed=seed, progress=False).train()

    a, b, c = run(0), run(0), run(1)
    assert a.train_loss == b.train_loss
    assert a.train_loss != c.train_loss
    assert len(a.train_loss) == 2 * 5                   # ceil(300 / 64) = 5 batches per epoch


def test_trainer_evaluation_cap(mnist_subset):
    x_train, t_train, x_test, t_test = mnist_subset
    net = TwoLayerNet(784, 10, 10, seed=1)
    tr = Trainer(net, x_train, t_train, x_test, t_test, epochs=1, evaluate_sample_num_per_epoch=37,
                 progress=False)
    assert len(tr._eval_train) == 37 and len(tr._eval_test) == 37
    acc = tr.train().test_acc[0]
    assert acc * 37 == pytest.approx(round(acc * 37))  # an accuracy over exactly 37 samples


@pytest.mark.filterwarnings("ignore::common.networks.InputRangeWarning")    # x * 100 on purpose
def test_trainer_stops_loudly_when_loss_diverges():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((50, 4)) * 100, rng.integers(0, 3, 50)
    net = TwoLayerNet(4, 5, 3, weight_init_std=10.0, seed=0)
    tr = Trainer(net, x, t, x, t, epochs=50, mini_batch_size=10, optimizer="sgd",
                 optimizer_param={"lr": 1e6}, progress=False)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match=r"iteration \d+.*lr=1000000"):
        tr.train()


class BookStyleNet:
    """A network written the book's way: ``gradient`` and ``loss`` only, no ``loss_and_gradient``."""

    def __init__(self, seed: int = 0) -> None:
        self.inner = TwoLayerNet(784, 20, 10, weight_init_std="he", seed=seed, dtype=np.float32)
        self.params = self.inner.params
        self.loss_calls = 0

    def gradient(self, x, t):
        return self.inner.gradient(x, t)

    def loss(self, x, t):
        self.loss_calls += 1
        return self.inner.loss(x, t, train_flg=True)

    def accuracy(self, x, t):
        return self.inner.accuracy(x, t)


def test_trainer_trains_a_book_style_network_with_the_same_losses(mnist_subset):
    """Without loss_and_gradient the Trainer asks loss(x, t) at the same parameters: same history."""
    x_train, t_train, x_test, t_test = mnist_subset
    runs = []
    for net in (BookStyleNet(seed=0), TwoLayerNet(784, 20, 10, weight_init_std="he", seed=0, dtype=np.float32)):
        trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=2, mini_batch_size=100,
                          optimizer="sgd", optimizer_param={"lr": 0.2}, seed=0, progress=False)
        runs.append(trainer.train())
    assert runs[0].train_loss == runs[1].train_loss and runs[0].test_acc == runs[1].test_acc
    assert runs[0].train_loss[-1] < runs[0].train_loss[0]


# ---- divergence is never silent ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("lr", [10.0, 1e3, 1e6])
def test_trainer_stops_when_the_loss_explodes(mnist_subset, dtype, optimizer, lr):
    """lr 10, 1e3, 1e6 send the loss from ln(10) to 15-700 (the clamped log keeps it finite): stop early."""
    x_train, t_train, x_test, t_test = mnist_subset
    net = TwoLayerNet(784, 50, 10, dtype=dtype, seed=0)
    tr = Trainer(net, x_train, t_train, x_test, t_test, epochs=5, mini_batch_size=100, optimizer=optimizer,
                 optimizer_param={"lr": lr}, seed=0, progress=False)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError) as info:
        tr.train()
    msg = str(info.value)
    assert "diverged" in msg and f"iteration {tr.current_iter}" in msg and f"lr={lr}" in msg
    assert "smaller learning rate" in msg
    # and a Chinese line for the reader of the Chinese edition, with the same iteration and learning rate
    assert f"训练发散，在第 {tr.current_iter} 次迭代" in msg and f"lr={lr}）" in msg and "更小的学习率" in msg
    assert tr.epoch == 0 and tr.current_iter < 10            # stopped within a few iterations, not after 5 epochs


def test_trainer_divergence_check_can_be_switched_off(mnist_subset):
    x_train, t_train, x_test, t_test = mnist_subset
    net = TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0)
    tr = Trainer(net, x_train[:300], t_train[:300], x_test, t_test, epochs=2, optimizer="sgd",
                 optimizer_param={"lr": 1e3}, seed=0, progress=False, stop_on_divergence=False)
    with np.errstate(all="ignore"):
        h = tr.train()
    assert max(h.train_loss) > 50 and tr.epoch == 2           # for experiments that study divergence


@pytest.mark.parametrize("make, optimizer, lr", [
    # the book's settings
    (lambda: TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0), "sgd", 0.1),
    (lambda: MultiLayerNet(784, [100] * 6, 10, dtype=np.float32, seed=0), "sgd", 0.3),
    (lambda: TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0), "adam", 0.1),
    # std = 1 and 10: the loss starts far above ln(10) (60 to 600) and comes down
    (lambda: MultiLayerNet(784, [100] * 4, 10, weight_init_std=1.0, seed=0), "sgd", 0.01),
    (lambda: TwoLayerNet(784, 50, 10, weight_init_std=1.0, seed=0), "sgd", 0.1),
    (lambda: TwoLayerNet(784, 50, 10, weight_init_std=10.0, seed=0), "sgd", 0.1),
    # chapter 6's weight-scale experiment: std 1 with batch norm and a large learning rate
    (lambda: MultiLayerNetExtend(784, [100] * 5, 10, weight_init_std=1.0, use_batchnorm=True, dtype=np.float32,
                                 seed=0), "sgd", 1.0),
    # strong weight decay: the penalty alone starts at about 65 and shrinks
    (lambda: MultiLayerNet(784, [100] * 6, 10, weight_decay_lambda=0.1, dtype=np.float32, seed=0), "sgd", 0.01),
])
def test_trainer_healthy_runs_are_not_stopped(mnist_subset, make, optimizer, lr):
    x_train, t_train, x_test, t_test = mnist_subset
    tr = Trainer(make(), x_train, t_train, x_test, t_test, epochs=4, mini_batch_size=100, optimizer=optimizer,
                 optimizer_param={"lr": lr}, seed=0, progress=False)
    with np.errstate(all="ignore"):
        h = tr.train()
    assert tr.epoch == 4 and np.mean(h.train_loss[-10:]) < np.mean(h.train_loss[:5])


class _PoisonOnUpdate(SGD):
    """SGD whose n-th update turns a weight into NaN (a last step that blows up)."""

    def __init__(self, n, lr=0.1):
        super().__init__(lr=lr)
        self.n, self.calls = n, 0

    def update(self, params, grads):
        super().update(params, grads)
        self.calls += 1
        if self.calls == self.n:
            params["W2"][0, 0] = np.nan


def test_trainer_refuses_to_finish_with_nan_parameters(tmp_path):
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    net = TwoLayerNet(4, 5, 3, seed=0)
    ckpt = tmp_path / "run.npz"
    tr = Trainer(net, x, t, x, t, epochs=1, mini_batch_size=20, optimizer=_PoisonOnUpdate(n=2), progress=False,
                 checkpoint_path=ckpt)
    with pytest.raises(FloatingPointError, match=r"iteration 2\b.*'W2'"):
        tr.train()
    assert not ckpt.exists()                                   # nothing non-finite was checkpointed


# ---- issue 18: arguments are checked before training, not after an epoch ------------------------
def _small():
    rng = np.random.default_rng(0)
    return rng.random((30, 4)), rng.integers(0, 3, 30)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(epochs=2.5), r"epochs must be a whole number.*2\.5"),
    (dict(epochs=True), r"epochs must be a whole number.*True"),
    (dict(epochs=-1), r"epochs must be a whole number >= 0.*-1"),
    (dict(mini_batch_size=0), r"mini_batch_size must be a whole number >= 1.*0"),
    (dict(mini_batch_size=10.0), r"mini_batch_size must be a whole number"),
    (dict(optimizer_param={"lr": -0.1}), r"lr must be a positive number"),
    (dict(optimizer_param={"lr": "0.1"}), r"lr must be a number"),
    (dict(optimizer="momentum", optimizer_param={"lr": 0.1, "momentum": 1.0}), r"momentum must be in \[0, 1\)"),
    (dict(evaluate_sample_num_per_epoch=0), r"evaluate_sample_num_per_epoch must be None or a whole number >= 1"),
    (dict(checkpoint_every=0), r"checkpoint_every must be None or a whole number >= 1"),          # hostile
    (dict(seed=-1), r"seed must be None or a whole number >= 0"),                                 # hostile
    (dict(optimizer=SGD), r"optimizer.*class.*SGD\(lr="),                                          # hostile
    (dict(optimizer=SGD(lr=0.1), optimizer_param={"lr": 0.5}), r"optimizer_param.*ignored|optimizer_param.*name"),  # hostile
])
def test_trainer_refuses_nonsense_arguments(kwargs, pattern):
    x, t = _small()
    with pytest.raises((ValueError, TypeError), match=pattern):
        Trainer(TwoLayerNet(4, 5, 3, seed=0), x, t, x, t, progress=False, **kwargs)


@pytest.mark.parametrize("which", ["test", "train"])
def test_trainer_refuses_an_empty_data_set_before_training(which):
    x, t = _small()
    data = (x[:0], t[:0], x, t) if which == "train" else (x, t, x[:0], t[:0])
    with pytest.raises(ValueError, match=rf"{which}ing set is empty|{which} set is empty"):
        Trainer(TwoLayerNet(4, 5, 3, seed=0), *data, epochs=1, progress=False)


def test_trainer_checks_the_targets_against_the_network_before_training():
    """Hostile case: a test label the network cannot output used to fail only at the end of epoch 1."""
    x, t = _small()
    t_test = t.copy()
    t_test[7] = 3                                      # the network has 3 outputs: labels 0, 1, 2
    with pytest.raises(ValueError, match=r"t_test.*labels must lie in \[0, 3\)"):
        Trainer(TwoLayerNet(4, 5, 3, seed=0), x, t, x, t_test, epochs=1, progress=False)
    t_rows = np.eye(3)[t]
    t_rows[4] = 0.0
    with pytest.raises(ValueError, match=r"t_train.*row 4\b"):
        Trainer(TwoLayerNet(4, 5, 3, seed=0), x, t_rows, x, t, epochs=1, progress=False)


def test_trainer_refuses_non_finite_training_data_before_training():
    """Hostile case: one NaN pixel in sample 25 of 30 used to surface only when its batch came up."""
    x, t = _small()
    x[25, 1] = np.nan
    with pytest.raises(ValueError, match=r"x_train holds 1 NaN or inf"):
        Trainer(TwoLayerNet(4, 5, 3, seed=0), x, t, x[:10], t[:10], epochs=1, progress=False)


def test_trainer_resume_without_a_checkpoint_path_is_refused():
    """Hostile case: resume=True without checkpoint_path silently started afresh."""
    x, t = _small()
    with pytest.raises(ValueError, match="resume=True needs a checkpoint_path"):
        Trainer(TwoLayerNet(4, 5, 3, seed=0), x, t, x, t, epochs=1, progress=False, resume=True)


def test_trainer_trains_on_soft_targets_with_the_true_loss():
    """Label smoothing: the recorded loss is the soft cross-entropy, accuracy uses the most probable class."""
    x, t = _small()
    soft = np.full((30, 3), 0.05)
    soft[np.arange(30), t] = 0.9
    net = TwoLayerNet(4, 5, 3, seed=0)
    h = Trainer(net, x, soft, x, t, epochs=1, mini_batch_size=30, optimizer="sgd", optimizer_param={"lr": 0.1},
                progress=False).train()
    ref = TwoLayerNet(4, 5, 3, seed=0)
    y = np.exp(ref.predict(x)) / np.exp(ref.predict(x)).sum(axis=1, keepdims=True)
    assert h.train_loss[0] == pytest.approx(-np.sum(soft * np.log(y)) / 30, rel=1e-10)


def test_trainer_checks_the_test_inputs_fit_the_network_before_training():
    """Hostile case: test images of the wrong size used to fail only at the end of the first epoch."""
    x, t = _small()
    with pytest.raises(ValueError, match=r"x_test.*\(1, 5\).*\(4, 5\)|x_test"):
        Trainer(TwoLayerNet(4, 5, 3, seed=0), x, t, np.ones((10, 5)), t[:10], epochs=1, progress=False)


# ---- watching and stopping (the hook chapters.live.watch uses) ------------------------------------
def _tiny_trainer(epochs=3, **kwargs):
    """300 MNIST-like random samples in batches of 50: 6 updates per epoch."""
    rng = np.random.default_rng(0)
    x, t = rng.random((300, 20)), rng.integers(0, 4, 300)
    net = TwoLayerNet(20, 8, 4, seed=0)
    return Trainer(net, x, t, x[:60], t[:60], epochs=epochs, mini_batch_size=50, optimizer=SGD(lr=0.1),
                   seed=0, progress=False, **kwargs)


def test_trainer_calls_iteration_and_epoch_callbacks_in_order():
    events = []
    tr = _tiny_trainer(on_iteration=lambda trainer, it, loss: events.append(("it", it, loss)),
                       on_epoch_end=lambda trainer: events.append(("epoch", trainer.epoch,
                                                                   trainer.history.test_acc[-1])))
    tr.iteration_callbacks.append(lambda trainer, it, loss: events.append(("second", it)))
    h = tr.train()
    its = [e for e in events if e[0] == "it"]
    assert [e[1] for e in its] == list(range(1, 19))                 # 3 epochs x 6 updates, counted from 1
    assert [e[2] for e in its] == h.train_loss                       # the loss of each update, as recorded
    assert [e[1] for e in events if e[0] == "second"] == list(range(1, 19))
    epochs = [e for e in events if e[0] == "epoch"]
    assert [e[1] for e in epochs] == [1, 2, 3] and [e[2] for e in epochs] == h.test_acc
    assert events.index(("epoch", 1, h.test_acc[0])) == 12           # after update 6 (and its 'second'), before 7
    assert h.stopped is False


def test_trainer_stop_ends_after_the_current_update_and_keeps_everything():
    tr = _tiny_trainer(epochs=3)
    before = {k: v.copy() for k, v in tr.network.params.items()}
    tr.iteration_callbacks.append(lambda trainer, it, loss: trainer.stop() if it == 8 else None)
    h = tr.train()
    assert h is tr.history and h.stopped is True
    assert tr.current_iter == 8 and len(h.train_loss) == 8
    assert len(h.train_acc) == len(h.test_acc) == len(h.epoch_loss) == 1      # epoch 2 unfinished: no evaluation
    assert tr.epoch == 1 and tr.stop_requested is False                               # the request was used up
    assert any(not np.array_equal(before[k], v) for k, v in tr.network.params.items())
    # train() again continues where it stopped, and ends exactly where an uninterrupted run ends
    h2 = tr.train()
    full = _tiny_trainer(epochs=3).train()
    assert h2.stopped is False and tr.current_iter == 18
    assert h2.train_loss == full.train_loss and h2.test_acc == full.test_acc


def test_trainer_stop_from_another_thread_is_honoured(tmp_path):
    import threading
    tr = _tiny_trainer(epochs=200, checkpoint_path=tmp_path / "run.npz")
    started = threading.Event()
    tr.iteration_callbacks.append(lambda trainer, it, loss: started.set())
    stopper = threading.Thread(target=lambda: (started.wait(10), tr.stop()))
    stopper.start()
    h = tr.train()
    stopper.join()
    assert h.stopped is True and 1 <= tr.current_iter < 200 * 6
    resumed = _tiny_trainer(epochs=200, checkpoint_path=tmp_path / "run.npz", resume=True)
    assert resumed.current_iter == tr.current_iter                    # the stop wrote a checkpoint
    assert resumed.history.train_loss == h.train_loss


def test_trainer_stop_at_an_epochs_last_update_evaluates_that_epoch():
    tr = _tiny_trainer(epochs=3)
    tr.iteration_callbacks.append(lambda trainer, it, loss: trainer.stop() if it == 6 else None)
    h = tr.train()
    assert h.stopped is True and tr.current_iter == 6 and len(h.test_acc) == 1 == tr.epoch


def test_trainer_stop_during_the_last_update_is_a_finished_run():
    tr = _tiny_trainer(epochs=2)
    tr.iteration_callbacks.append(lambda trainer, it, loss: trainer.stop() if it == 12 else None)
    h = tr.train()
    assert h.stopped is False and len(h.test_acc) == 2
