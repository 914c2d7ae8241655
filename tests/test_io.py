"""common.io: atomic writes (never a half-written file) and pickle-free loading."""
import numpy as np
import pytest

from common.io import atomic_savez, atomic_write, atomic_write_text, load_npz


def test_savez_round_trip_and_no_leftovers(tmp_path):
    path = atomic_savez(tmp_path / "sub" / "a.npz", {"w": np.arange(6.0).reshape(2, 3), "n": np.array(3)})
    assert path.is_file() and sorted(p.name for p in path.parent.iterdir()) == ["a.npz"]
    back = load_npz(path)
    np.testing.assert_array_equal(back["w"], np.arange(6.0).reshape(2, 3))
    assert int(back["n"]) == 3


def test_a_failed_write_keeps_the_old_file_and_leaves_no_part(tmp_path):
    path = atomic_write_text(tmp_path / "record.json", "old\n")

    def write_then_fail(f):
        f.write(b"half of the new conte")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, write_then_fail)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_object_arrays_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(TypeError, match="'bad' is an object array"):
        atomic_savez(tmp_path / "a.npz", {"ok": np.zeros(2), "bad": np.array([{"a": 1}], dtype=object)})
    assert not any(tmp_path.iterdir())


def test_load_npz_refuses_pickled_arrays(tmp_path):
    np.savez(tmp_path / "p.npz", obj=np.array([{"a": 1}], dtype=object))     # written the unsafe way
    with pytest.raises(ValueError, match="pickle"):
        load_npz(tmp_path / "p.npz")


def test_written_files_are_readable_by_everyone(tmp_path):
    path = atomic_write_text(tmp_path / "t.txt", "中文 ok")
    assert path.stat().st_mode & 0o444 == 0o444 and path.read_text(encoding="utf-8") == "中文 ok"
