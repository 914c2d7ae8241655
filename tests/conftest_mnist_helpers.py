"""Helpers for tests/test_mnist_loader.py: tiny synthetic MNIST, a local HTTP server, fake wheels.

Everything here works offline. The synthetic data set has the real file names and idx layout but
only a few images, and comes with its own MD5 table, which the tests inject into the loader in
place of the real one.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import threading
import time
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from dataset import mnist, sources

# --------------------------------------------------------------------------------------------
# Synthetic MNIST
# --------------------------------------------------------------------------------------------


@dataclass
class SyntheticMnist:
    """A tiny MNIST: the arrays, their idx files (raw and gzipped) and the MD5 table."""

    arrays: dict[str, np.ndarray]  # x_train (n, 784), t_train (n,), x_test, t_test; uint8
    raw: dict[str, bytes]  # file name -> uncompressed idx bytes
    gz: dict[str, bytes]  # file name -> gzipped idx bytes
    md5: dict[str, str]  # file name -> MD5 of the uncompressed bytes
    sizes: dict[str, int]  # file name -> size of the uncompressed bytes
    pins: dict[str, tuple[int, str]]  # file name -> (size, MD5) of the .gz, as a mirror is pinned


def make_synthetic(n_train: int = 20, n_test: int = 10, seed: int = 0) -> SyntheticMnist:
    """Random images and labels, written as idx files byte by byte (independently of mnist.py)."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, size=(n_train, 784), dtype=np.uint8),
        "t_train": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, size=(n_test, 784), dtype=np.uint8),
        "t_test": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    raw = {}
    for key, name in mnist.FILE_NAMES.items():
        data = arrays[key]
        if data.ndim == 2:
            header = struct.pack(">IIII", 2051, data.shape[0], 28, 28)
        else:
            header = struct.pack(">II", 2049, data.shape[0])
        raw[name] = header + data.tobytes()
    gz = {name: gzip.compress(data) for name, data in raw.items()}
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in raw.items()}
    return SyntheticMnist(arrays=arrays, raw=raw, gz=gz, md5=md5,
                          sizes={name: len(data) for name, data in raw.items()}, pins=pins_of(gz))


def pins_of(gz: dict[str, bytes]) -> dict[str, tuple[int, str]]:
    """How a mirror serving these ``.gz`` files is pinned: name -> (size, MD5)."""
    return {name: (len(data), hashlib.md5(data).hexdigest()) for name, data in gz.items()}


def write_gz_folder(folder: Path, gz: dict[str, bytes]) -> Path:
    """Write ``<name>.gz`` files into ``folder`` (created) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in gz.items():
        (folder / f"{name}.gz").write_bytes(data)
    return folder


def assert_same_arrays(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(actual) == sorted(expected)
    for key in expected:
        assert actual[key].dtype == np.uint8, key
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)


# --------------------------------------------------------------------------------------------
# A local HTTP server that can misbehave
# --------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: "FileServer._Server"

    def do_GET(self) -> None:  # noqa: N802 (the name http.server wants)
        self.server.requests.append(self.path)
        if self.server.delay:
            time.sleep(self.server.delay)
        if self.server.mode == "stall":  # accept, read the request, never answer
            self.server.stop_event.wait(timeout=30)
            self.close_connection = True
            return
        body = self.server.files.get(self.path.rsplit("/", 1)[-1])
        if self.server.mode == "slowheaders":  # a status line, then a header that never ends
            self._trickle(b"HTTP/1.0 200 OK\r\nX-Drip: " + b"x" * 60000)
            return
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        if self.server.mode != "nolength":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.mode in ("nolength", "drip"):
            self._trickle(body)
            return
        if self.server.mode == "drop":  # promise the full length, then hang up halfway
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _trickle(self, body: bytes) -> None:
        """"nolength": the body, then junk until JUNK_BYTES are sent or the client hangs up.
        "drip" and "slowheaders": one byte every DRIP_INTERVAL s, for at most DRIP_FOR s.
        ``sent`` counts the bytes sent."""
        server = self.server
        if server.mode == "nolength":
            junk = b"\xff" * (JUNK_BYTES - len(body))
            data, step, pause, stop_at = body + junk, 1 << 16, 0.0, None
        else:
            data, step, pause, stop_at = body, 1, DRIP_INTERVAL, time.monotonic() + DRIP_FOR
        try:
            for start in range(0, len(data), step):
                if server.stop_event.is_set() or (stop_at and time.monotonic() > stop_at):
                    break
                self.wfile.write(data[start:start + step])
                self.wfile.flush()
                server.sent += len(data[start:start + step])
                if pause:
                    time.sleep(pause)
        except OSError:  # the client hung up: what it should do
            pass
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


JUNK_BYTES = 64 << 20  # "nolength" mode: how much a body without a length grows, at most
DRIP_INTERVAL, DRIP_FOR = 0.05, 4.0  # "drip" mode: one byte every 0.05 s, for at most 4 s


class FileServer:
    """Serve ``files`` (name -> bytes) at ``http://127.0.0.1:<random port>/<name>``.

    mode: "ok" serves the files, "drop" sends a Content-Length and closes the connection after
    half of the body, "stall" never answers, "nolength" sends no Content-Length and follows the
    body with up to 64 MB of junk, "drip" sends its body one byte every 0.05 s, "slowheaders"
    its headers. ``delay`` seconds are waited before each answer. ``requests`` records every
    requested path, ``sent`` the bytes sent in the "nolength", "drip" and "slowheaders" modes.
    """

    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        files: dict[str, bytes]
        mode: str
        delay: float
        requests: list[str]
        sent: int
        stop_event: threading.Event

    def __init__(self, files: dict[str, bytes], mode: str = "ok", delay: float = 0.0) -> None:
        assert mode in ("ok", "drop", "stall", "nolength", "drip", "slowheaders")
        self._server = self._Server(("127.0.0.1", 0), _Handler)
        self._server.files = dict(files)
        self._server.mode = mode
        self._server.delay = delay
        self._server.requests = []
        self._server.sent = 0
        self._server.stop_event = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/mnist/"

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    @property
    def sent(self) -> int:
        return self._server.sent

    def stop(self) -> None:
        self._server.stop_event.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def gz_files(gz: dict[str, bytes]) -> dict[str, bytes]:
    """``{name: bytes}`` -> ``{name.gz: bytes}``, the names a server serves."""
    return {f"{name}.gz": data for name, data in gz.items()}


# --------------------------------------------------------------------------------------------
# Python-2 style pickles and fake wheels
# --------------------------------------------------------------------------------------------


class Py2StylePickler(pickle._Pickler):  # the pure-Python pickler, whose dispatch table we extend
    """Pickle like Python 2 did: ``bytes`` become plain 8-bit strings (BINSTRING).

    Python 3 pickles ``bytes`` at protocol 2 as a call to ``_codecs.encode``, a global the MNIST
    unpickler (rightly) refuses; the real ``mnist.pkl`` was written by Python 2, where NumPy's
    array data was a ``str``. This pickler reproduces that.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes_as_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes_as_str


def py2_style_pickle(obj: object, reconstruct_module: str = "numpy.core.multiarray") -> bytes:
    """Protocol-2 pickle of ``obj`` as Python 2 + NumPy 1 wrote it.

    ``reconstruct_module`` is the module named for ``_reconstruct``: the old ``numpy.core...``
    (as in the real wheel) or the NumPy 2 ``numpy._core...``.
    """
    buffer = io.BytesIO()
    Py2StylePickler(buffer, protocol=2).dump(obj)
    data = buffer.getvalue()
    # A GLOBAL instruction is "c<module>\n<name>\n": plain text, so the module can be swapped.
    for current in (b"numpy._core.multiarray", b"numpy.core.multiarray"):
        data = data.replace(b"c" + current + b"\n_reconstruct\n",
                            b"c" + reconstruct_module.encode() + b"\n_reconstruct\n")
    return data


def mnist_pkl_contents(synthetic: SyntheticMnist, n_validation: int = 5) -> tuple:
    """``(train, validation, test)`` like the classic mnist.pkl: float32 byte / 256, int64 labels.

    The last ``n_validation`` training examples become the validation split.
    """
    def as_float(images: np.ndarray) -> np.ndarray:
        return images.astype(np.float32) / np.float32(256)

    x, t = synthetic.arrays["x_train"], synthetic.arrays["t_train"].astype(np.int64)
    cut = x.shape[0] - n_validation
    return (
        (as_float(x[:cut]), t[:cut]),
        (as_float(x[cut:]), t[cut:]),
        (as_float(synthetic.arrays["x_test"]), synthetic.arrays["t_test"].astype(np.int64)),
    )


def write_wheel(path: Path, pickle_bytes: bytes) -> Path:
    """A minimal wheel-shaped zip holding ``mnist/data/mnist.pkl.gz``."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mnist/__init__.py", "")
        archive.writestr(sources.WHEEL_MEMBER, gzip.compress(pickle_bytes))
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
