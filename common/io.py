"""Saving and loading safely: ``.npz`` arrays (never pickle) and small text files, written atomically.

A file is first written to a unique temporary name in the same folder, flushed to disk, and then
renamed over the target in one step (``os.replace``). A crash or a kill at any moment leaves either
the old file or the new one — never a half-written file that a later run would trust. The trainer's
checkpoints, the saved weights (with their ``.json`` records) and the MNIST cache all go through
:func:`atomic_write`.

:class:`FileLock` keeps two training runs from sharing one checkpoint.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np


class FileInUse(RuntimeError):
    """Another process (or another object in this one) holds the lock on a file."""


class FileLock:
    """An exclusive, non-blocking lock on ``path`` (a small lock file holding the owner's process id).

    It uses the operating system's file locks, which end with the process: a killed run never leaves
    a stale lock. The lock file itself stays (deleting it would let two runs lock two different files).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; True on success."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock_fd(fd)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        """The process id written by the current holder, as text ("?" if unknown)."""
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self._fd is not None:
            _unlock_fd(self._fd)
            os.close(self._fd)
            self._fd = None


if os.name == "nt":                                    # pragma: no cover - Windows
    import msvcrt

    def _lock_fd(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Create ``path`` atomically: ``write(f)`` fills a temporary file, which then replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)                 # mkstemp creates owner-only files; weights are for everyone
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def atomic_savez(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` (an ``.npz`` file) atomically; returns the path."""
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"atomic_savez: {key!r} is an object array, which would need pickle")
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def require_finite(arrays: dict[str, np.ndarray], source: str) -> None:
    """Refuse arrays holding NaN or inf (weights of a diverged run), naming ``source`` and the first such key."""
    for key, value in arrays.items():
        value = np.asarray(value)
        if np.issubdtype(value.dtype, np.inexact):
            bad = int(value.size - np.count_nonzero(np.isfinite(value)))
            if bad:
                raise ValueError(f"{source}: {key!r} holds {bad} NaN or inf values (of {value.size}): these are the "
                                 f"weights of a diverged run, which would make every prediction meaningless. "
                                 f"Retrain with a smaller learning rate, or use another weights file.")


class UnreadableFile(ValueError):
    """A file that is not a complete ``.npz`` archive of plain arrays; the message names it and what to do."""


def _unreadable(path: Path, problem: str) -> UnreadableFile:
    return UnreadableFile(f"{path}: {problem}. Re-create it (re-run what saved it: the training script, "
                          f"the notebook cell), or check that the path names the file you meant.")


def _not_a_zip(path: Path) -> UnreadableFile:
    """Say what a file that is not a zip archive most likely is."""
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        return _unreadable(path, "the file is empty (0 bytes), perhaps from a copy or a disk that failed")
    if head.startswith(b"\x93NUMPY"):
        return _unreadable(path, "this is a single array in .npy format, not an .npz archive of named arrays")
    if head[:1] == b"\x80":
        return _unreadable(path, "this is a Python pickle, not an .npz archive; pickles are never loaded here, "
                                 "because loading one can run any code it contains")
    return _unreadable(path, "not a complete .npz archive: the file is truncated or corrupt, or not an .npz "
                             "file at all")


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file into memory, refusing pickled objects.

    A file that is not a complete archive of plain arrays (empty, truncated, corrupt, a lone ``.npy``,
    a pickle, an object array) raises :class:`UnreadableFile` (a ``ValueError``) naming the file and
    what to do. A missing file raises ``FileNotFoundError``, which names it too.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):                     # also opens the file: a missing one raises here
        raise _not_a_zip(path)
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                arrays[key] = data[key]
                if not isinstance(arrays[key], np.ndarray):
                    raise _unreadable(path, f"the member {key!r} is not a NumPy array")
    except UnreadableFile:
        raise
    except ValueError as e:                              # NumPy's refusal of object arrays
        if "allow_pickle" not in str(e) and "pickle" not in str(e):
            raise _unreadable(path, f"a member cannot be read as an array ({e})") from None
        raise _unreadable(path, f"the member {key!r} is an object array, which only pickle could read; pickle "
                                f"is never used here (loading one can run any code). Save plain numeric arrays "
                                f"instead") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise _unreadable(path, f"the archive is corrupt ({e})") from None
    return arrays
