"""Executors for running independent experiments (search trials, gradient shards) side by side.

Anything in ``chapters`` that takes ``executor=`` accepts a :class:`concurrent.futures.Executor`: the one from
:func:`local_executor` (this machine's cores), ``distributed.Client(...).get_executor()`` (a Dask cluster), or
None (in this process, one after the other). The work is sent as module-level functions, importable in a fresh
interpreter, so it runs under the "spawn" and "forkserver" start methods as well as under Linux's "fork".
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

__all__ = ["cpu_count", "local_executor"]


def cpu_count() -> int:
    """Cores this process may use (its CPU affinity where the OS tells it), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def local_executor(max_workers: int | None = None, context: str | None = None) -> ProcessPoolExecutor:
    """A process pool over this machine's cores, to use as a context manager in a notebook cell::

        with local_executor() as pool:
            trials = random_search(..., executor=pool)

    max_workers: default :func:`cpu_count`. context: a multiprocessing start method ("spawn", "fork",
    "forkserver"); default Python's own for this platform. Each task limits itself to one BLAS thread, so
    n workers use n cores.
    """
    n = cpu_count() if max_workers is None else int(max_workers)
    if n < 1:
        raise ValueError(f"local_executor: max_workers must be at least 1, got {max_workers}")
    ctx = multiprocessing.get_context(context) if context is not None else None
    return ProcessPoolExecutor(max_workers=n, mp_context=ctx)
