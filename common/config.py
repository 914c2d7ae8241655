"""The lab's one piece of global configuration, and seeding.

Quick mode
----------
``DLFS_QUICK=1`` in the environment shrinks training budgets (epochs, iterations, sample counts) so
that CI can run every notebook in a few minutes. It never changes *what* a cell asserts: a notebook
asks for a budget with :func:`budget` and checks the same claim in both modes.

``make test`` sets ``DLFS_QUICK=1``; ``make lab`` and ``make execute`` leave it unset (full budgets).

Seeding
-------
Every random draw in the lab goes through a ``numpy.random.Generator``. :func:`seed_everything`
seeds NumPy's legacy global generator too (so ``np.random.randn`` in a reader's own cell is
reproducible) and returns a fresh Generator to pass around explicitly.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

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


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python's and NumPy's global generators and return ``np.random.default_rng(seed)``."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed))
    return np.random.default_rng(int(seed))
