import numpy as np
import pytest

from common.config import budget, is_quick, seed_everything
from common.networks import TwoLayerNet
from common.optimizers import SGD
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


def test_quick_mode_switch(monkeypatch):
    monkeypatch.setenv("DLFS_QUICK", "1")
    assert is_quick() and budget(full=20, quick=2) == 2
    monkeypatch.setenv("DLFS_QUICK", "0")
    assert not is_quick() and budget(full=20, quick=2) == 20
    monkeypatch.delenv("DLFS_QUICK")
    assert budget(full=20, quick=2) == 20


def test_seed_everything():
    a = seed_everything(3)
    first = np.random.rand()
    b = seed_everything(3)
    assert np.random.rand() == first
    assert a.random() == b.random()
    with pytest.raises(ValueError):
        seed_everything(-1)
