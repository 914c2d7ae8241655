"""scripts/_training.py: what the weight-training scripts record, on fresh runs and on resumes."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import _training  # noqa: E402

from common.networks import TwoLayerNet  # noqa: E402


@pytest.fixture
def tiny_mnist(monkeypatch):
    """Replace MNIST by 200 + 50 random 4x4 'images' so that a script runs in well under a second."""
    rng = np.random.default_rng(0)
    x, t = rng.random((250, 1, 4, 4)).astype(np.float32), rng.integers(0, 10, 250)
    monkeypatch.setattr(_training, "load_mnist", lambda **kw: ((x[:200], t[:200]), (x[200:], t[200:])))


def run_script(monkeypatch, out, *args):
    monkeypatch.setattr(sys, "argv", ["train_tiny.py", "--out", str(out), *args])
    return _training.train_and_save("tiny", "a tiny test network", lambda seed: TwoLayerNet(16, 8, 10, seed=seed),
                                    epochs=2, checkpoint_every=3)


def record(out):
    return json.loads((out / "tiny.json").read_text())


def test_a_fresh_run_records_what_it_did(tiny_mnist, monkeypatch, tmp_path):
    run_script(monkeypatch, tmp_path, "--epochs", "1")
    meta = record(tmp_path)
    assert meta["epochs"] == 1 and meta["seed"] == 0 and len(meta["test_accuracy_per_epoch"]) == 1
    assert "resumed_at_iteration" not in meta


def test_rerun_with_another_seed_does_not_pass_off_the_old_run(tiny_mnist, monkeypatch, tmp_path):
    run_script(monkeypatch, tmp_path, "--epochs", "1")
    before = (tmp_path / "tiny.npz").read_bytes()
    with pytest.raises(ValueError, match=r"seed.*--fresh"):
        run_script(monkeypatch, tmp_path, "--epochs", "1", "--seed", "7")
    assert record(tmp_path)["seed"] == 0 and (tmp_path / "tiny.npz").read_bytes() == before
    run_script(monkeypatch, tmp_path, "--epochs", "1", "--seed", "7", "--fresh")    # the way to do it
    assert record(tmp_path)["seed"] == 7


@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--epochs", "-3"], ["--seed", "-1"]])
def test_nonsense_arguments_are_refused_before_anything_is_written(tiny_mnist, monkeypatch, tmp_path, capsys, bad):
    with pytest.raises(SystemExit):
        run_script(monkeypatch, tmp_path, *bad)
    assert bad[0] in capsys.readouterr().err
    assert not (tmp_path / "tiny.json").exists() and not (tmp_path / "tiny.npz").exists()


def test_a_resumed_run_is_recorded_as_resumed_with_its_real_epochs(tiny_mnist, monkeypatch, tmp_path):
    run_script(monkeypatch, tmp_path, "--epochs", "1")
    run_script(monkeypatch, tmp_path, "--epochs", "2")       # continues the finished 1-epoch run
    meta = record(tmp_path)
    assert meta["epochs"] == 2 and len(meta["test_accuracy_per_epoch"]) == 2
    assert meta["resumed_at_iteration"] == 2                 # 200 images in batches of 100: 2 per epoch
    with pytest.raises(ValueError, match=r"2 epochs.*epochs=1"):
        run_script(monkeypatch, tmp_path, "--epochs", "1")   # would record 1 epoch for a 2-epoch network
    assert record(tmp_path)["epochs"] == 2
