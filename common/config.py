"""The lab's one piece of global configuration, and seeding.

Quick mode
----------
``DLFS_QUICK=1`` in the environment shrinks training budgets (epochs, iterations, sample counts) so
that CI can run every notebook in a few minutes. It never changes *what* a cell asserts: a notebook
asks for a budget with :func:`budget` and checks the same claim in both modes.

``make test`` sets ``DLFS_QUICK=1``; ``make lab`` and ``make execute`` leave it unset (full budgets).

Threads
-------
The fast layers (:mod:`common.fast`) split a mini-batch into slices and work on them in several
threads at once (NumPy lets go of Python's lock inside copies, ufuncs and matrix products).
:func:`threads` says how many: ``DLFS_THREADS`` if set, otherwise as many as BLAS may use (its own
setting: ``OPENBLAS_NUM_THREADS``, or a ``threadpoolctl`` limit such as the process pools'
one-thread workers), never more than the cores. ``DLFS_THREADS=1`` computes everything in the
calling thread.

Seeding
-------
Every random draw in the lab goes through a ``numpy.random.Generator``. :func:`seed_everything`
seeds NumPy's legacy global generator too (so ``np.random.randn`` in a reader's own cell is
reproducible) and returns a fresh Generator to pass around explicitly.
"""
from __future__ import annotations

import os
import random
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TypeVar

import numpy as np

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}

#: The repository root, and the folder of committed trained weights (``.npz`` + metadata ``.json``).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = PROJECT_ROOT / "weights"


def is_quick() -> bool:
    """True when ``DLFS_QUICK`` is set to 1/true/yes/on (read each time, so tests can toggle it)."""
    return os.environ.get("DLFS_QUICK", "").strip().lower() in _TRUE


def budget(full: T, quick: T) -> T:
    """Return ``quick`` in quick mode, ``full`` otherwise.

    >>> epochs = budget(full=20, quick=2)
    """
    return quick if is_quick() else full


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_blas_controller = None


def _blas_threads() -> int:
    """Threads BLAS is allowed right now (0 if threadpoolctl cannot tell)."""
    global _blas_controller
    try:
        if _blas_controller is None:
            from threadpoolctl import ThreadpoolController
            _blas_controller = ThreadpoolController().select(user_api="blas")
        return min((lib.num_threads for lib in _blas_controller.lib_controllers), default=0)
    except Exception:                                   # threadpoolctl missing or unable to read the library
        return 0


_blas_lock = threading.Lock()
_blas_users = 0                                          # blocks inside blas_single_threaded right now
_blas_saved: list[int] = []


@contextmanager
def blas_single_threaded() -> Iterator[None]:
    """Within the block BLAS uses one thread (the caller's): for matrix products run side by side in
    :func:`threads` threads, which would otherwise each start BLAS's own threads and crowd the cores.

    Safe when several threads enter at once: the first to enter sets one thread, the last to leave
    puts the previous setting back.
    """
    global _blas_users, _blas_saved
    _blas_threads()                                      # load the controller once
    libs = [] if _blas_controller is None else _blas_controller.lib_controllers
    with _blas_lock:
        if _blas_users == 0:
            _blas_saved = [lib.num_threads for lib in libs]
            for lib in libs:
                lib.set_num_threads(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                for lib, n in zip(libs, _blas_saved):
                    lib.set_num_threads(n)


def blas_held() -> bool:
    """True inside :func:`blas_single_threaded` (in any thread)."""
    return _blas_users > 0


def threads() -> int:
    """How many threads :mod:`common.fast` splits a mini-batch over (see "Threads" above); at least 1."""
    value = os.environ.get("DLFS_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"DLFS_THREADS must be a whole number of at least 1, got {value!r}")
        return int(value)
    # inside blas_single_threaded, what counts is the setting the caller had before
    blas = min(_blas_saved, default=0) if _blas_users > 0 else _blas_threads()
    return max(1, min(_cores(), blas if blas > 0 else _cores()))


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python's and NumPy's global generators and return ``np.random.default_rng(seed)``."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed))
    return np.random.default_rng(int(seed))
