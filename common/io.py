"""Saving and loading safely: ``.npz`` arrays (never pickle) and small text files, written atomically.

A file is first written to a unique temporary name in the same folder, flushed to disk, and then
renamed over the target in one step (``os.replace``). A crash or a kill at any moment leaves either
the old file or the new one — never a half-written file that a later run would trust. The trainer's
checkpoints, the saved weights (with their ``.json`` records) and the MNIST cache all go through
:func:`atomic_write`.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np


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


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file into memory, refusing pickled objects."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
