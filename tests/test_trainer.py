"""common.trainer: the training loop, its network contract, divergence, checkpoints and resuming."""
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from common.networks import MultiLayerNetExtend, TwoLayerNet
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


SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from common.networks import MultiLayerNetExtend
    from common.trainer import Trainer

    def make(path, resume, slow):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((240, 12)).astype(np.float32)
        t = (x[:, :3].sum(axis=1) > 0).astype(int) + (x[:, 3] > 1)
        net = MultiLayerNetExtend(12, [16, 16], 3, use_batchnorm=True, use_dropout=True, dropout_ratio=0.2,
                                  dtype=np.float32, seed=1)
        tr = Trainer(net, x, t, x[:60], t[:60], epochs=4, mini_batch_size=20, optimizer="adam",
                     optimizer_param={"lr": 0.01}, seed=2, progress=False, checkpoint_path=path,
                     checkpoint_every=3, resume=resume)
        if slow:                                   # give the parent time to kill us mid-run
            step = tr.train_step
            def slow_step(*a):
                time.sleep(0.02)
                return step(*a)
            tr.train_step = slow_step
        return net, tr

    if __name__ == "__main__":
        path, resume, slow, out = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1", sys.argv[4]
        net, tr = make(path, resume, slow)
        tr.train()
        np.savez(out, train_loss=np.array(tr.history.train_loss), test_acc=np.array(tr.history.test_acc),
                 **net.state_dict())
""")


@pytest.fixture
def script(tmp_path):
    p = tmp_path / "run_training.py"
    p.write_text(SCRIPT)
    return p


def run(script, ckpt, resume, slow, out):
    return subprocess.Popen([sys.executable, str(script), str(ckpt), "1" if resume else "0", "1" if slow else "0",
                             str(out)])


def test_killed_and_resumed_run_matches_uninterrupted(script, tmp_path):
    ref_out, out = tmp_path / "ref.npz", tmp_path / "resumed.npz"
    assert run(script, tmp_path / "ref_ckpt.npz", False, False, ref_out).wait(timeout=120) == 0

    ckpt = tmp_path / "ckpt.npz"
    proc = run(script, ckpt, False, True, out)
    deadline = time.time() + 60
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.01)
    assert ckpt.exists(), "no checkpoint was written"
    time.sleep(0.35)                                   # somewhere in the middle of an epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and not out.exists()

    with np.load(ckpt) as f:                           # the checkpoint on disk is complete and readable
        done = len(f["train_loss"])
    assert 0 < done < 48, f"expected an interrupted run, checkpoint has {done} of 48 iterations"

    assert run(script, ckpt, True, False, out).wait(timeout=120) == 0
    assert not list(tmp_path.glob("*.part"))           # a kill mid-write leaves a temp file; resuming sweeps it
    with np.load(ref_out) as a, np.load(out) as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _toy(seed_data=0):
    rng = np.random.default_rng(seed_data)
    x = rng.standard_normal((100, 6))
    t = (x[:, 0] > 0).astype(int)
    return x, t


def _trainer(path, resume, epochs=3, optimizer="momentum"):
    x, t = _toy()
    net = MultiLayerNetExtend(6, [8], 2, use_dropout=True, dropout_ratio=0.3, seed=5)
    return net, Trainer(net, x, t, x, t, epochs=epochs, mini_batch_size=16, optimizer=optimizer,
                        optimizer_param={"lr": 0.05}, seed=9, progress=False, checkpoint_path=path,
                        checkpoint_every=4, resume=resume)


def test_resume_from_every_checkpoint_in_process(tmp_path):
    ref_net, ref = _trainer(tmp_path / "ref.npz", False)
    ref.train()
    # interrupt by an exception after k steps, for several k, then resume
    for k in (4, 7, 14):
        path = tmp_path / f"ck{k}.npz"
        net, tr = _trainer(path, False)
        original = tr.train_step
        calls = {"n": 0}

        def failing(*a, _orig=original):
            calls["n"] += 1
            if calls["n"] > k:
                raise KeyboardInterrupt
            return _orig(*a)
        tr.train_step = failing
        with pytest.raises(KeyboardInterrupt):
            tr.train()
        net2, tr2 = _trainer(path, True)
        # checkpoints fall every 4 iterations and at each epoch's end (7 iterations per epoch)
        last_checkpoint = max(m for m in range(1, k + 1) if m % 4 == 0 or m % 7 == 0)
        assert tr2.current_iter == last_checkpoint
        tr2.train()
        for key in ref_net.params:
            np.testing.assert_array_equal(net2.params[key], ref_net.params[key], err_msg=f"k={k} {key}")
        assert tr2.history.train_loss == ref.history.train_loss
        assert tr2.history.test_acc == ref.history.test_acc


def test_checkpoint_mismatch_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    _, tr = _trainer(path, False, epochs=1)
    tr.train()
    with pytest.raises(ValueError, match="Momentum.*Adam|checkpoint was made with"):
        _trainer(path, True, optimizer="adam")
