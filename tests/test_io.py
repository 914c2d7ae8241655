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


# ---- issue 18: every unreadable file is named, with what to do, and no unsafe advice -------------
def _good_npz(p):
    np.savez(p, W1=np.arange(1000.0), b1=np.zeros(3))
    return p.read_bytes()


def _zip_with_member(p, data):
    import zipfile
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("W1.npy", data)


BAD_FILES = {
    "text": lambda p: p.write_text("these are not weights\n"),
    "pickle": lambda p: p.write_bytes(b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x02W1\x94K\x01s."),
    "empty": lambda p: p.write_bytes(b""),
    "first_half": lambda p: p.write_bytes(_good_npz(p)[: len(_good_npz(p)) // 2]),
    "cut_end": lambda p: p.write_bytes(_good_npz(p)[:-10]),
    "flipped_byte": lambda p: p.write_bytes(bytes(b ^ 0xFF if i == 200 else b for i, b in enumerate(_good_npz(p)))),
    "single_npy": lambda p: (np.save(p.with_suffix(".npy"), np.zeros(3)), p.with_suffix(".npy").rename(p)),
    "member_not_an_array": lambda p: _zip_with_member(p, b"garbage"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_unreadable_npz_errors_name_the_file_and_what_to_do(tmp_path, kind):
    path = tmp_path / f"{kind}.npz"
    BAD_FILES[kind](path)
    with pytest.raises(ValueError) as info:
        load_npz(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    assert "allow_pickle" not in msg and "pickle.load" not in msg and "unsafe" not in msg, msg
    assert "re-create" in msg.lower(), msg


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_npz(tmp_path / "nowhere.npz")
