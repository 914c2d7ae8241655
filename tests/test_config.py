"""common.config: the quick-mode switch and seeding."""
import numpy as np
import pytest

from common.config import PROJECT_ROOT, WEIGHTS_DIR, budget, is_quick, seed_everything


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


def test_project_paths_point_into_the_repository():
    assert (PROJECT_ROOT / "common" / "config.py").is_file()
    assert WEIGHTS_DIR == PROJECT_ROOT / "weights"
