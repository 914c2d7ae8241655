"""The DLFS_DEVICE switch, tested on the CPU with NumPy standing in for CuPy (no GPU on CI)."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from common.backend import BackendError, select_backend

FAKE_CUPY = textwrap.dedent('''
    """A stand-in for CuPy: NumPy underneath, but "device" arrays are a subclass that refuses to mix
    with plain host arrays in any ufunc (as real CuPy refuses), and every crossing is counted."""
    import numpy as _np
    import types as _types

    COUNTS = {"asarray": 0, "asnumpy": 0}
    DEVICES = int(__import__("os").environ.get("FAKE_CUPY_DEVICES", "1"))

    class DeviceArray(_np.ndarray):
        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            for a in inputs:
                if type(a) is _np.ndarray and a.ndim > 0:
                    raise TypeError(f"host array {a.shape} mixed with a device array in {ufunc.__name__}")
            plain = [a.view(_np.ndarray) if isinstance(a, DeviceArray) else a for a in inputs]
            if "out" in kwargs:
                kwargs["out"] = tuple(o.view(_np.ndarray) for o in kwargs["out"])
            return _wrap(getattr(ufunc, method)(*plain, **kwargs))

    def _wrap(r):
        if isinstance(r, _np.ndarray) and not isinstance(r, DeviceArray):
            return r.view(DeviceArray)
        if isinstance(r, tuple):
            return tuple(_wrap(x) for x in r)
        return r

    def asarray(a, *args, **kwargs):
        if isinstance(a, DeviceArray):
            return a if not args and not kwargs else _wrap(_np.asarray(a, *args, **kwargs))
        COUNTS["asarray"] += 1
        return _wrap(_np.asarray(a, *args, **kwargs))

    def asnumpy(a):
        COUNTS["asnumpy"] += 1
        return _np.array(a).view(_np.ndarray)

    class _Runtime:
        @staticmethod
        def getDeviceCount():
            return DEVICES


    def _device_only(fn, name):
        def call(*a, **k):
            for x in list(a) + list(k.values()):
                if type(x) is _np.ndarray and x.ndim > 0:
                    raise TypeError(f"cupy.{name} got a host array {x.shape}: transfer it with asarray first")
            return _wrap(fn(*a, **k))
        return call

    def __getattr__(name):
        obj = getattr(_np, name)
        if callable(obj) and not isinstance(obj, type):
            return _device_only(obj, name)
        return obj

    cuda = _types.SimpleNamespace(runtime=_Runtime())
    lib = _types.SimpleNamespace(stride_tricks=_types.SimpleNamespace(
        as_strided=_device_only(_np.lib.stride_tricks.as_strided, "as_strided")))
''')

SCRIPT = textwrap.dedent('''
    import json, sys
    import numpy
    import common.backend as B
    import common.fast
    common.fast.PARTS = 1          # whole batches on the CPU too, as on the GPU (no BatchParts): the same sums
    from common.networks import SimpleConvNet
    from common.optimizer import Adam
    rng = numpy.random.default_rng(0)
    x = rng.random((8, 1, 12, 12)).astype(numpy.float32)
    t = rng.integers(0, 10, 8)
    net = SimpleConvNet((1, 12, 12), {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 1}, hidden_size=10,
                        dtype=numpy.float32, seed=0)
    opt = Adam(lr=0.01)
    import cupy
    before = dict(cupy.COUNTS) if B.GPU else None
    for _ in range(3):
        opt.update(net.params, net.gradient(x, t))
    steps = dict(cupy.COUNTS) if B.GPU else None
    loss = net.loss(x, t)
    acc = net.accuracy(x, t)
    from common.networks import DeepConvNet, MultiLayerNetExtend
    deep = DeepConvNet((1, 12, 12), hidden_size=8, dtype=numpy.float32, seed=1)
    mlp = MultiLayerNetExtend(144, [10, 10], 10, use_batchnorm=True, use_dropout=True, dtype=numpy.float32, seed=2)
    for other, xin in ((deep, x), (mlp, x.reshape(8, -1))):
        o = Adam(lr=0.01)
        for _ in range(2):
            o.update(other.params, other.gradient(xin, t))
        loss += other.loss(xin, t)
    print(json.dumps({"device": B.DEVICE, "loss": loss, "acc": acc, "before": before, "after": steps,
                      "W1": B.to_host(net.params["W1"]).ravel()[:5].tolist()}))
''')


def run(tmp_path, env_extra):
    fake = tmp_path / "fake"
    fake.mkdir(exist_ok=True)
    (fake / "cupy.py").write_text(FAKE_CUPY)
    env = {**os.environ, "PYTHONPATH": str(fake), **env_extra}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    return out


def test_cpu_is_plain_numpy():
    import numpy
    assert select_backend("cpu") == ("cpu", numpy)
    assert select_backend("") == ("cpu", numpy)


def test_unknown_device_is_refused():
    with pytest.raises(BackendError, match="'tpu'.*cpu.*gpu"):
        select_backend("tpu")


def test_gpu_without_cupy_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)          # makes `import cupy` raise ImportError
    with pytest.raises(BackendError, match="needs CuPy.*not installed"):
        select_backend("gpu")


def test_gpu_without_a_device_says_so(tmp_path):
    out = run(tmp_path, {"DLFS_DEVICE": "gpu", "FAKE_CUPY_DEVICES": "0"})
    assert out.returncode != 0 and "reports no GPU" in out.stderr


def test_fake_gpu_trains_identically_and_crosses_only_at_the_edges(tmp_path):
    cpu = run(tmp_path, {"DLFS_DEVICE": "cpu"})
    gpu = run(tmp_path, {"DLFS_DEVICE": "gpu"})
    assert cpu.returncode == 0, cpu.stderr
    assert gpu.returncode == 0, gpu.stderr
    c, g = json.loads(cpu.stdout), json.loads(gpu.stdout)
    assert (c["device"], g["device"]) == ("cpu", "gpu")
    assert c["loss"] == g["loss"] and c["acc"] == g["acc"] and c["W1"] == g["W1"]
    # per training step: the input batch and the labels go in; nothing comes back
    crossings = g["after"]["asarray"] - g["before"]["asarray"]
    assert crossings <= 3 * 2, f"{crossings} host->device transfers in 3 steps"
    assert g["after"]["asnumpy"] == g["before"]["asnumpy"]


TRAINER_SCRIPT = textwrap.dedent('''
    import sys, tempfile, os
    import numpy
    import common.backend as B
    from common.networks import MultiLayerNetExtend
    from common.trainer import Trainer
    assert B.GPU
    rng = numpy.random.default_rng(0)
    x = rng.random((60, 12)).astype(numpy.float32)
    t = rng.integers(0, 3, 60)
    d = tempfile.mkdtemp()
    def make(resume):
        net = MultiLayerNetExtend(12, [8], 3, use_batchnorm=True, dtype=numpy.float32, seed=0)
        return net, Trainer(net, x, t, x[:20], numpy.eye(3)[t[:20]], epochs=2, mini_batch_size=20, optimizer="adam",
                            optimizer_param={"lr": 0.01}, progress=False, checkpoint_path=os.path.join(d, "c.npz"),
                            checkpoint_every=2, resume=resume)
    net, tr = make(False)
    tr.train()
    net2, tr2 = make(True)
    assert tr2.epoch == 2
    net.save_params(os.path.join(d, "w.npz"))
    net2.load_params(os.path.join(d, "w.npz"))
    print("ok", tr.history.test_acc)
''')


def test_fake_gpu_runs_the_trainer_with_checkpoints(tmp_path):
    """Hostile case: the Trainer's checks (targets, divergence, finite parameters, checkpoints) on device arrays."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "cupy.py").write_text(FAKE_CUPY)
    env = {**os.environ, "PYTHONPATH": str(fake), "DLFS_DEVICE": "gpu"}
    out = subprocess.run([sys.executable, "-c", TRAINER_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stderr[-3000:]
