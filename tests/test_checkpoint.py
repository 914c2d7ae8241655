"""Resumable training: a run interrupted at any point and resumed ends exactly where an uninterrupted one does."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from common.networks import MultiLayerNetExtend
from common.trainer import Trainer

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


REPO = Path(__file__).resolve().parents[1]


def run(script, ckpt, resume, slow, out):
    return subprocess.Popen([sys.executable, str(script), str(ckpt), "1" if resume else "0", "1" if slow else "0",
                             str(out)], env={**os.environ, "PYTHONPATH": str(REPO)})    # this checkout's common


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


# ---- issue 18: a resume with different settings refuses, naming the setting ---------------------
def _resumable(path, x, t, lr=0.05, seed=9, epochs=2, optimizer="momentum"):
    net = MultiLayerNetExtend(6, [8], 2, seed=5)
    return Trainer(net, x, t, x[:20], t[:20], epochs=epochs, mini_batch_size=16, optimizer=optimizer,
                   optimizer_param={"lr": lr}, seed=seed, progress=False, checkpoint_path=path, resume=True)


@pytest.mark.parametrize("change, setting", [
    (dict(lr=0.5), "lr"),
    (dict(seed=7), "seed"),
])
def test_resume_with_changed_setting_is_refused(tmp_path, change, setting):
    x, t = _toy()
    path = tmp_path / "c.npz"
    _resumable(path, x, t).train()
    with pytest.raises(ValueError, match=rf"c\.npz.*\b{setting}\b.*--fresh|c\.npz.*\b{setting}\b.*resume=False"):
        _resumable(path, x, t, **change)


def test_resume_on_a_smaller_training_set_is_refused(tmp_path):
    x, t = _toy()
    path = tmp_path / "c.npz"
    tr = _resumable(path, x, t, epochs=3)
    tr.train_step = _interrupt_after(tr, 10)                 # mid-way through epoch 2 (7 iterations per epoch)
    with pytest.raises(KeyboardInterrupt):
        tr.train()
    with pytest.raises(ValueError, match=r"training set.*100.*80"):
        _resumable(path, x[:80], t[:80], epochs=3)


def test_resume_with_fewer_epochs_than_done_is_refused_and_more_epochs_continue(tmp_path):
    x, t = _toy()
    path = tmp_path / "c.npz"
    _resumable(path, x, t, epochs=2).train()
    with pytest.raises(ValueError, match=r"2 epochs.*epochs=1"):
        _resumable(path, x, t, epochs=1)
    tr = _resumable(path, x, t, epochs=3)
    assert tr.epoch == 2
    assert len(tr.train().test_acc) == 3                     # one more epoch, history continued


def _interrupt_after(tr, k):
    step, calls = tr.train_step, {"n": 0}

    def interrupted(*a):
        calls["n"] += 1
        if calls["n"] > k:
            raise KeyboardInterrupt
        return step(*a)
    return interrupted


def test_corrupt_or_foreign_checkpoints_are_named(tmp_path):
    x, t = _toy()
    path = tmp_path / "c.npz"
    _resumable(path, x, t, epochs=1).train()
    path.write_bytes(path.read_bytes()[:100])                   # truncated (a disk that filled up, a bad copy)
    with pytest.raises(ValueError, match=r"c\.npz.*(truncated|corrupt).*resume=False"):
        _resumable(path, x, t, epochs=1)
    weights = tmp_path / "w.npz"
    MultiLayerNetExtend(6, [8], 2, seed=5).save_params(weights)
    with pytest.raises(ValueError, match=r"w\.npz.*not a Trainer checkpoint"):
        _resumable(weights, x, t, epochs=1)


# ---- issue 18: two trainers on one checkpoint path -----------------------------------------------
def test_a_second_trainer_on_the_same_checkpoint_is_refused_and_the_first_survives(tmp_path, monkeypatch):
    """The second trainer appears while the first is writing its checkpoint (its .part is on disk)."""
    import common.io
    x, t = _toy()
    path = tmp_path / "c.npz"
    first = _resumable(path, x, t, epochs=2)
    real_savez, seen = np.savez, {}

    def savez_and_meet_a_second_trainer(f, **arrays):
        real_savez(f, **arrays)
        if "second" not in seen:                               # once, mid-write of the first checkpoint
            seen["parts"] = [p.name for p in tmp_path.glob("*.part")]
            try:
                seen["second"] = _resumable(path, x, t, epochs=2)
                seen["second"].train()
            except RuntimeError as e:
                seen["second"] = e
    monkeypatch.setattr(common.io.np, "savez", savez_and_meet_a_second_trainer)
    first.train()                                              # the first run finishes
    assert seen["parts"], "the first checkpoint was not being written through a .part file"
    assert isinstance(seen["second"], RuntimeError), "the second trainer was not refused"
    assert str(path) in str(seen["second"]) and "another training run" in str(seen["second"])
    assert first.epoch == 2 and not list(tmp_path.glob("*.part"))


LOCK_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from common.networks import TwoLayerNet
    from common.trainer import Trainer
    path, slow = sys.argv[1], sys.argv[2] == "1"
    rng = np.random.default_rng(0)
    x, t = rng.random((200, 6)), rng.integers(0, 2, 200)
    tr = Trainer(TwoLayerNet(6, 8, 2, seed=0), x, t, x, t, epochs=3, mini_batch_size=10, optimizer="sgd",
                 optimizer_param={"lr": 0.1}, progress=False, checkpoint_path=path, checkpoint_every=1, resume=True)
    if slow:
        step = tr.train_step
        tr.train_step = lambda *a: (time.sleep(0.05), step(*a))[1]
    tr.train()
    print("finished", tr.epoch)
""")


def test_two_processes_on_one_checkpoint(tmp_path):
    script = tmp_path / "lock_run.py"
    script.write_text(LOCK_SCRIPT)
    path = tmp_path / "c.npz"
    env = {**os.environ, "PYTHONPATH": str(REPO)}               # this checkout's common, not an installed one
    first = subprocess.Popen([sys.executable, str(script), str(path), "1"], stdout=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while not path.exists() and time.time() < deadline:
        time.sleep(0.01)
    second = subprocess.run([sys.executable, str(script), str(path), "0"], capture_output=True, text=True, timeout=120,
                            env=env)
    assert second.returncode != 0 and "another training run" in second.stderr and str(path) in second.stderr
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 0 and "finished 3" in out


def test_a_resumed_run_remembers_how_low_its_loss_was(tmp_path):
    """Hostile case: a run resumed after its loss exploded is still stopped (its lowest loss is restored)."""
    x, t = _toy()
    path = tmp_path / "c.npz"
    tr = _resumable(path, x, t, epochs=3)
    tr.train()                                                 # a healthy run, losses around 0.7 and below
    h = tr.history
    h.train_loss[-5:] = [40.0] * 5                             # as if the last iterations had exploded
    tr.save_checkpoint()
    resumed = _resumable(path, x, t, epochs=4)
    with pytest.raises(FloatingPointError, match=r"diverged at iteration 22\b"):
        resumed.train()                                        # an uninterrupted run would have stopped too
