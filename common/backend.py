"""Where the arrays live: NumPy on the CPU (the default) or CuPy on an NVIDIA GPU.

The one switch is the environment variable ``DLFS_DEVICE``, read once at import:

- unset or ``cpu``: ``np`` below *is* NumPy, and nothing else changes;
- ``gpu``: ``np`` is CuPy, NumPy's GPU twin with the same API. Layers, networks and optimizers
  then compute on the GPU unchanged. Data crosses between host and device only at the edges:
  mini-batches go in (:func:`to_device`, in ``Network.predict``), numbers come out (``float(loss)``,
  accuracies), and ``save_params`` copies to the host (:func:`to_host`).

The library modules write ``from common.backend import np`` where a textbook would write
``import numpy as np``; on the CPU that is literally the same module object.

Without CuPy, or without a GPU, ``DLFS_DEVICE=gpu`` fails at import with a message saying so —
never a silent fall-back to the CPU.
"""
from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy

_VALID = ("cpu", "gpu")


class BackendError(RuntimeError):
    """DLFS_DEVICE asks for something this machine cannot do."""


def select_backend(device: str | None = None) -> tuple[str, ModuleType]:
    """Return ``(device, array_module)`` for ``device`` (default: ``$DLFS_DEVICE`` or "cpu")."""
    device = (device if device is not None else os.environ.get("DLFS_DEVICE", "cpu")).strip().lower() or "cpu"
    if device not in _VALID:
        raise BackendError(f"DLFS_DEVICE={device!r} is not understood: use 'cpu' (default) or 'gpu'")
    if device == "cpu":
        return "cpu", numpy
    try:
        import cupy
    except ImportError as e:
        raise BackendError(
            "DLFS_DEVICE=gpu needs CuPy, which is not installed. Install the build matching your CUDA, "
            "e.g. `pip install cupy-cuda12x`, or unset DLFS_DEVICE to run on the CPU."
        ) from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:                      # CUDA driver missing or broken
        raise BackendError(f"DLFS_DEVICE=gpu: CuPy is installed but no usable GPU was found ({e}). "
                           f"Unset DLFS_DEVICE to run on the CPU.") from e
    if count < 1:
        raise BackendError("DLFS_DEVICE=gpu: CuPy is installed but reports no GPU. Unset DLFS_DEVICE to run on the CPU.")
    return "gpu", cupy


DEVICE, np = select_backend()
GPU = DEVICE == "gpu"


def to_device(a: Any) -> Any:
    """Host array (or anything array-like) -> an array of the active backend (a no-op on the CPU)."""
    return np.asarray(a) if GPU else a


def to_host(a: Any) -> numpy.ndarray:
    """Backend array -> a NumPy array on the host (a no-op on the CPU)."""
    return np.asnumpy(a) if GPU else numpy.asarray(a)


def as_strided(x: Any, shape: tuple[int, ...], strides: tuple[int, ...]) -> Any:
    """A read-only strided view (NumPy) or a strided view (CuPy, which has no read-only flag)."""
    if GPU:
        return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)
    return numpy.lib.stride_tricks.as_strided(x, shape=shape, strides=strides, writeable=False)
