"""The book's networks: TwoLayerNet (4.5, 5.7), MultiLayerNet(Extend) (6.1-6.4), SimpleConvNet (7.5),
DeepConvNet (8.1).

Every network here is a plain stack of layers topped by ``SoftmaxWithLoss`` and offers the same
methods, as in the book:

- ``predict(x, train_flg=False)``  scores (N, C) — softmax is not needed to pick a class
- ``loss(x, t, train_flg=False)``  mean cross-entropy (+ weight decay, if any)
- ``accuracy(x, t)``               fraction of correct predictions, in batches
- ``gradient(x, t)``               backpropagation: dict of dL/dparam, same keys as ``params``
- ``loss_and_gradient(x, t)``      both at once (what the Trainer calls)
- ``layer_outputs(x, train_flg)``  predict one layer at a time: yields (name, layer, output)
- ``numerical_gradient(x, t)``     the slow check of ``gradient`` (chapter 4's method)
- ``save_params(path)`` / ``load_params(path)``  ``.npz`` files, never pickle

Each method takes ``x`` and recomputes from it: no hidden cache of a previous forward pass that
could silently go stale.

``params`` maps names ("W1", "b1", "gamma1", ...) to the *same* arrays the layers use, so an
optimizer that updates ``params`` in place updates the layers too.

Layers: ``fast=True`` (the default) builds the network from ``common.fast``'s layers; ``fast=False``
from the book's layers in ``common.layers``. Both compute the same numbers and save the same keys,
so weights move freely between them.

Networks hold a ``dtype`` (float64 by default, as the book; float32 for fast training) and cast
float input to it. Integer input is refused with a ``TypeError``: images must be normalised first.
Input holding NaN or inf, or an empty batch, is refused with a ``ValueError``. Input far outside the
normalised range (more than 1 % of the values beyond +-``input_limit``, 10 by default: pixels 0-255,
say) gets one :class:`InputRangeWarning` per network: such input trains to chance accuracy.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy

from common import config
from common.backend import GPU, np, to_device, to_host     # np is NumPy (or CuPy with DLFS_DEVICE=gpu)
from common.fast import (BatchParts, FastAffine, FastConvolution, FastPooling, FastRelu, batch_parts,
                         per_sample_prefix)
from common.functions import labels_from_targets
from common.gradient import numerical_gradient as _numerical_gradient
from common.io import atomic_savez, load_npz, require_finite
from common.layers import (Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid,
                           SoftmaxWithLoss)
from common.util import conv_output_size

#: the layer classes a network is built from: the book's (``fast=False``) or common.fast's (the default)
BOOK_LAYERS = {"Affine": Affine, "Convolution": Convolution, "Pooling": Pooling, "relu": Relu, "sigmoid": Sigmoid}
FAST_LAYERS = {**BOOK_LAYERS, "Affine": FastAffine, "Convolution": FastConvolution, "Pooling": FastPooling,
               "relu": FastRelu}
ACTIVATIONS = ("relu", "sigmoid")
METADATA_KEY = "__metadata__"


def init_scale(weight_init_std: float | str, fan_in: int) -> float:
    """Standard deviation of the initial weights for a layer with ``fan_in`` inputs.

    A number is used as is (the book's 0.01). ``"he"``/``"relu"``: sqrt(2 / fan_in), keeps ReLU
    activations from shrinking layer by layer. ``"xavier"``/``"sigmoid"``: sqrt(1 / fan_in).
    """
    if isinstance(weight_init_std, str):
        name = weight_init_std.lower()
        if name in ("he", "relu"):
            return float(numpy.sqrt(2.0 / fan_in))
        if name in ("xavier", "sigmoid", "tanh"):
            return float(numpy.sqrt(1.0 / fan_in))
        raise ValueError(f"unknown weight_init_std {weight_init_std!r}: use a number, 'he' or 'xavier'")
    return float(weight_init_std)


def _layer_forward(layer: Any, x: np.ndarray, train_flg: bool) -> np.ndarray:
    """One layer's forward: Dropout and BatchNormalization take the train flag, every other layer only x."""
    if isinstance(layer, (Dropout, BatchNormalization)):
        return layer.forward(x, train_flg)
    return layer.forward(x)


@functools.lru_cache(maxsize=None)
def _backward_can_skip_dx(layer_type: type) -> bool:
    """Whether a layer class's backward takes ``need_dx`` (common.fast's do). Asked once per class:
    reading a signature costs more than a small layer's whole backward."""
    return "need_dx" in inspect.signature(layer_type.backward).parameters


class InputRangeWarning(UserWarning):
    """The input lies far outside the normalised range the networks are trained on (MNIST in [0, 1])."""


class Network:
    """Shared machinery: a list of named layers, a loss layer, parameter bookkeeping and I/O."""

    #: input values beyond +-input_limit (in more than 1 % of a batch) trigger one InputRangeWarning; None: never
    input_limit: float | None = 10.0

    def __init__(self, dtype: Any = np.float64, seed: int | None = None, weight_decay_lambda: float = 0.0,
                 weight_decay_type: str = "l2", fast: bool = True) -> None:
        if weight_decay_type not in ("l2", "l1"):
            raise ValueError(f"weight_decay_type must be 'l2' or 'l1', got {weight_decay_type!r}")
        self.weight_decay_type = weight_decay_type
        self.dtype = numpy.dtype(dtype)
        if not numpy.issubdtype(self.dtype, numpy.floating):
            raise TypeError(f"network dtype must be a floating type, got {self.dtype}")
        self.rng = numpy.random.default_rng(seed)     # host generator: initial weights, dropout masks
        self.weight_decay_lambda = weight_decay_lambda
        self.params: dict[str, np.ndarray] = {}
        self.layers: dict[str, Any] = {}
        self.last_layer = SoftmaxWithLoss()
        # the book's layers (fast=False) or their faster twins in common.fast (same numbers, same keys)
        self.layer_classes = FAST_LAYERS if fast else BOOK_LAYERS
        # param name -> (layer, name of the gradient attribute on that layer)
        self._grad_source: dict[str, tuple[Any, str]] = {}
        self._warned_input_range = False

    # ---- building -----------------------------------------------------------------------------
    def _weights(self, shape: tuple[int, ...], std: float) -> np.ndarray:
        return to_device((std * self.rng.standard_normal(shape)).astype(self.dtype))

    @staticmethod
    def _check_size(what: str, n: Any) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)) or n < 1:
            raise ValueError(f"{what} must be a whole number of at least 1, got {n!r}")

    def _add_affine(self, i: int, n_in: int, n_out: int, std: float) -> None:
        self._check_size(f"Affine{i}: the input size", n_in)
        self._check_size(f"Affine{i}: the output size", n_out)
        W, b = self._weights((n_in, n_out), std), np.zeros(n_out, dtype=self.dtype)
        self.params[f"W{i}"], self.params[f"b{i}"] = W, b
        layer = self.layer_classes["Affine"](W, b)
        self.layers[f"Affine{i}"] = layer
        self._grad_source[f"W{i}"], self._grad_source[f"b{i}"] = (layer, "dW"), (layer, "db")

    def _add_conv(self, i: int, n_channels: int, filter_num: int, filter_size: int, stride: int, pad: int,
                  std: float) -> None:
        self._check_size(f"Conv{i}: filter_num", filter_num)
        W = self._weights((filter_num, n_channels, filter_size, filter_size), std)
        b = np.zeros(filter_num, dtype=self.dtype)
        self.params[f"W{i}"], self.params[f"b{i}"] = W, b
        layer = self.layer_classes["Convolution"](W, b, stride=stride, pad=pad)
        self.layers[f"Conv{i}"] = layer
        self._grad_source[f"W{i}"], self._grad_source[f"b{i}"] = (layer, "dW"), (layer, "db")

    def _add_batchnorm(self, i: int, size: int) -> None:
        gamma, beta = np.ones(size, dtype=self.dtype), np.zeros(size, dtype=self.dtype)
        self.params[f"gamma{i}"], self.params[f"beta{i}"] = gamma, beta
        layer = BatchNormalization(gamma, beta)
        self.layers[f"BatchNorm{i}"] = layer
        self._grad_source[f"gamma{i}"], self._grad_source[f"beta{i}"] = (layer, "dgamma"), (layer, "dbeta")

    def _activation(self, name: str) -> Any:
        if name not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {name!r}")
        return self.layer_classes[name]()

    def _pooling(self) -> Any:
        return self.layer_classes["Pooling"](2, 2, stride=2)

    # ---- forward / backward -------------------------------------------------------------------
    def prepare_input(self, x: np.ndarray) -> np.ndarray:
        """The array the first layer receives: on the active device, in the network's dtype.

        Integer input is refused (``TypeError``): images must be normalised to floats first.
        """
        x = to_device(x)                                   # the host -> device edge (no-op on the CPU)
        if not numpy.issubdtype(x.dtype, numpy.floating):
            raise TypeError(f"{type(self).__name__} needs floating-point input, got dtype {x.dtype}; "
                            f"load MNIST with normalize=True or convert with x.astype(np.float32) / 255")
        self._check_input_values(x)
        return x.astype(self.dtype, copy=False)

    def _check_input_values(self, x: np.ndarray) -> None:
        """Refuse an empty batch or NaN/inf input; warn (once per network) about input far outside [0, 1]."""
        name = type(self).__name__
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError(f"{name}: the batch is empty (input shape {x.shape}); pass at least one sample")
        high, low = float(x.max()), float(x.min())        # two passes, no temporary array
        largest = max(high, -low)
        if not numpy.isfinite(high - low):
            bad = int(x.size - np.count_nonzero(np.isfinite(x)))
            raise ValueError(f"{name}: the input holds {bad} NaN or inf values; check how it was loaded or computed")
        limit = self.input_limit
        if limit is None or largest <= limit or getattr(self, "_warned_input_range", False):
            return
        outside = float(np.mean(np.abs(x) > limit))
        if outside > 0.01:
            self._warned_input_range = True
            warnings.warn(f"{name}: {outside:.0%} of the input values lie outside [-{limit:g}, {limit:g}] (largest "
                          f"{largest:.4g}). The networks expect normalised input, like MNIST in [0, 1] "
                          f"(load_mnist(normalize=True)); pixels of 0-255 train to chance accuracy. Divide by 255 "
                          f"or standardise the input (or set net.input_limit = None to silence this).\n"
                          f"{name}：{outside:.0%} 的输入值超出了 [-{limit:g}, {limit:g}]（最大 {largest:.4g}）。"
                          f"网络需要正规化的输入，例如 [0, 1] 范围内的 MNIST（load_mnist(normalize=True)）；"
                          f"直接输入 0～255 的像素值，训练的识别精度只会停留在随机猜测的水平。请除以 255 或做标准化"
                          f"（或设置 net.input_limit = None 关闭此提醒）。",
                          InputRangeWarning, stacklevel=4)

    def layer_outputs(self, x: np.ndarray, train_flg: bool = False) -> Iterator[tuple[str, Any, np.ndarray]]:
        """Run x through the layers one at a time, yielding (name, layer, output) after each.

        This is :meth:`predict` with a look inside: shapes, activations and per-layer timings all
        come from this one walk. ``train_flg`` switches Dropout and BatchNorm to training mode.
        """
        x = self.prepare_input(x)
        for name, layer in self.layers.items():
            x = _layer_forward(layer, x, train_flg)
            yield name, layer, x

    def _blas_for_a_pass(self) -> Any:
        """The context a whole forward or backward pass runs in.

        common.fast's convolutions share their slices of the batch between ``config.threads()``
        threads, each using BLAS on one thread. A network that has them keeps BLAS on one thread for
        the whole pass: a matrix product on BLAS's own threads (a small Affine layer's) leaves them
        spinning for a while afterwards, taking the cores from the next layer's slices. Other
        networks leave BLAS as it is set.
        """
        if config.threads() > 1 and any(isinstance(layer, FastConvolution) for layer in self.layers.values()):
            return config.blas_single_threaded()
        return contextlib.nullcontext()

    def _split(self, n: int) -> tuple[BatchParts | None, list[Any]]:
        """The first layers as :class:`common.fast.BatchParts` (each part of the batch through all of
        them in one thread) when they are common.fast's convolution, ReLU and pooling layers, and the
        layers after them; (None, every layer) for other networks, small batches and the GPU.

        Used where nobody steps backward through the layers by hand (:meth:`loss_and_gradient`,
        :meth:`accuracy`): the parts run on copies of those layers, so the network's own layers keep
        no inputs or masks from such a pass (their dW and db are set, summed over the parts)."""
        layers = list(self.layers.values())
        k = 0 if GPU else per_sample_prefix(layers)
        if k == 0 or len(batch_parts(n)) < 2:
            return None, layers
        return BatchParts(layers[:k], n), layers[k:]

    def _forward(self, x: np.ndarray, train_flg: bool) -> tuple[np.ndarray, BatchParts | None, list[Any]]:
        """Scores for x, and what backward needs: the parts (or None) and the layers run after them."""
        x = self.prepare_input(x)
        parts, rest = self._split(len(x))
        if parts is not None:
            x = parts.forward(x)
        for layer in rest:
            x = _layer_forward(layer, x, train_flg)
        return x, parts, rest

    def predict(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        """Scores (N, C) for input x: the output of the last layer of :meth:`layer_outputs`. Every layer
        runs on the whole batch and keeps what its backward needs, so a reader can call the layers'
        ``backward`` by hand afterwards (chapter 7 does)."""
        with self._blas_for_a_pass():
            for _name, _layer, x in self.layer_outputs(x, train_flg):
                pass
        return x

    def _weight_decay_loss(self) -> float:
        """L2: (lambda / 2) * sum ||W||^2 (the book's weight decay); L1: lambda * sum |W|. Biases are exempt."""
        if not self.weight_decay_lambda:
            return 0.0
        weights = [W for k, W in self.params.items() if k.startswith("W")]
        # Summed in float64 whatever W's dtype. dtype=np.float64 converts inside the ufunc: one new
        # array per W (its squares), not a float64 copy of W and then another for the squares.
        if self.weight_decay_type == "l1":
            return self.weight_decay_lambda * sum(float(np.abs(W, dtype=np.float64).sum()) for W in weights)
        return 0.5 * self.weight_decay_lambda * sum(float(np.square(W, dtype=np.float64).sum()) for W in weights)

    def loss(self, x: np.ndarray, t: np.ndarray, train_flg: bool = False) -> float:
        """Mean cross-entropy over the batch, plus the weight-decay penalty when it is on."""
        scores = self.predict(x, train_flg)
        return self.last_layer.forward(scores, t) + self._weight_decay_loss()

    def accuracy(self, x: np.ndarray, t: np.ndarray, batch_size: int = 256) -> float:
        """Fraction of samples whose highest score is the target class (t: labels or one-hot)."""
        if len(x) != len(t):
            raise ValueError(f"accuracy: x has {len(x)} samples but t has {len(t)}")
        if len(x) == 0:
            raise ValueError("accuracy: x is empty; the accuracy of no samples is undefined")
        if not isinstance(batch_size, (int, numpy.integer)) or batch_size < 1:
            raise ValueError(f"accuracy: batch_size must be a whole number >= 1, got {batch_size!r}")
        correct = 0
        for start in range(0, len(x), batch_size):
            with self._blas_for_a_pass():                       # part by part when it can (_split)
                scores = self._forward(x[start:start + batch_size], train_flg=False)[0]
            labels = labels_from_targets(t[start:start + batch_size], scores.shape[1])
            correct += int(np.sum(scores.argmax(axis=1) == labels))
        return correct / len(x)

    def loss_and_gradient(self, x: np.ndarray, t: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Backpropagation: one forward pass (training mode) and one backward pass.

        Returns the mini-batch loss (weight-decay penalty included) at the current parameters, and
        a dict of dL/dparam with the same keys as ``params``. The Trainer uses this, so the loss it
        records is the one the gradient was computed for, at no extra forward pass.
        """
        with self._blas_for_a_pass():
            scores, parts, rest = self._forward(x, train_flg=True)
            loss = self.last_layer.forward(scores, t) + self._weight_decay_loss()
            dout = self.last_layer.backward(1.0)
            if parts is None:
                first, *rest = rest
            for layer in reversed(rest):
                dout = layer.backward(dout)
            # Nobody uses the gradient w.r.t. the input images, so a first layer that can skip it
            # (common.fast's) does, as frameworks do; the book's layers compute it anyway.
            if parts is not None:
                parts.backward(dout, need_dx=False)          # the parts' dW and db, summed onto the layers
            elif _backward_can_skip_dx(type(first)):
                first.backward(dout, need_dx=False)
            else:
                first.backward(dout)
        grads = {}
        for key in self.params:
            layer, attr = self._grad_source[key]
            g = getattr(layer, attr)
            if self.weight_decay_lambda and key.startswith("W"):
                W = self.params[key]
                if self.weight_decay_type == "l1":
                    g = g + self.weight_decay_lambda * np.sign(W)          # d/dW of lambda |W| (0 at W = 0)
                else:
                    g = g + self.weight_decay_lambda * W                   # d/dW of (lambda/2) ||W||^2
            grads[key] = g
        return loss, grads

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """dL/dparam for every parameter, by backpropagation (the book's ``gradient``)."""
        return self.loss_and_gradient(x, t)[1]

    def replace_layer(self, name: str, layer: Any) -> Any:
        """Put ``layer`` in place of ``self.layers[name]``, keeping the layer order.

        Its parameter gradients (dW/db, dgamma/dbeta) are read from the new layer from now on.
        Used to plant a reader's buggy layer into a working network. Returns the old layer.
        """
        old = self.layers[name]
        self.layers[name] = layer
        for key, (owner, attr) in self._grad_source.items():
            if owner is old:
                self._grad_source[key] = (layer, attr)
        return old

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Central-difference gradient of the training-mode loss for every parameter (slow!)."""
        def loss_of_params(_: np.ndarray) -> float:
            return self.loss(x, t, train_flg=True)
        return {key: _numerical_gradient(loss_of_params, p) for key, p in self.params.items()}

    # ---- saving and loading -------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Every array that defines the trained network: ``params`` plus batch norm's running statistics."""
        state = dict(self.params)
        for name, layer in self.layers.items():
            if isinstance(layer, BatchNormalization):
                i = name.removeprefix("BatchNorm")
                if layer.running_mean is None:          # not run yet: the statistics start at zero
                    size = layer.gamma.shape[0]
                    layer.running_mean = np.zeros(size, dtype=self.dtype)
                    layer.running_var = np.zeros(size, dtype=self.dtype)
                state[f"running_mean{i}"] = layer.running_mean
                state[f"running_var{i}"] = layer.running_var
        return state

    def load_state_dict(self, stored: dict[str, np.ndarray], source: str = "state") -> None:
        """Copy arrays into this network in place, after checking names, shapes and dtypes.

        Raises ``ValueError`` naming the first mismatch, or the first array holding NaN or inf
        (``source`` names the file in the message). Nothing is copied unless everything fits.
        """
        expected = self.state_dict()
        missing, extra = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
        if any(key.startswith("param/") for key in extra):
            raise ValueError(f"{source}: this is a Trainer checkpoint, not a weights file; continue training from "
                             f"it with Trainer(..., checkpoint_path=..., resume=True), or save weights with save_params")
        if missing or extra:
            raise ValueError(f"{source}: parameter names do not match {type(self).__name__}: "
                             f"missing {missing}, unexpected {extra}")
        for key, arr in stored.items():
            if arr.shape != expected[key].shape:
                raise ValueError(f"{source}: {key!r} has shape {arr.shape}, the network expects {expected[key].shape}")
            if arr.dtype != expected[key].dtype:
                raise ValueError(f"{source}: {key!r} has dtype {arr.dtype}, the network uses {expected[key].dtype}; "
                                 f"build the network with dtype=np.{arr.dtype}")
        require_finite(stored, source)
        for key, arr in stored.items():
            expected[key][...] = to_device(arr)         # in place: the layers keep their references

    def save_params(self, path: str | os.PathLike, metadata: dict | None = None) -> Path:
        """Write every parameter to an ``.npz`` file atomically (temp file + rename).

        ``metadata`` (JSON-serialisable: seed, epochs, accuracy, ...) is stored as a JSON string,
        so reading it needs no pickle either. Parameters holding NaN or inf are refused (nothing is written).
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        arrays = {k: to_host(v) for k, v in self.state_dict().items()}
        require_finite(arrays, f"{path}: refusing to save")
        if metadata is not None:
            arrays[METADATA_KEY] = numpy.array(_json_text(metadata, path))
        return atomic_savez(path, arrays)

    def load_params(self, path: str | os.PathLike) -> dict | None:
        """Load parameters saved by :meth:`save_params` into this network, in place.

        Checks that the file has exactly the expected keys, shapes and dtype, and raises a
        ``ValueError`` naming the first mismatch. Returns the stored metadata (or None).
        """
        stored = load_npz(path)
        metadata = _read_json(stored.pop(METADATA_KEY), path, "metadata") if METADATA_KEY in stored else None
        self.load_state_dict(stored, source=str(path))
        return metadata


def _json_text(metadata: dict, path: Path) -> str:
    """``metadata`` as JSON, with NumPy numbers and arrays turned into Python ones."""
    def plain(value: Any) -> Any:
        if isinstance(value, (numpy.generic, numpy.ndarray)):
            return value.tolist()
        if isinstance(value, Path):
            return str(value)
        raise TypeError(f"{path}: metadata value {value!r} of type {type(value).__name__} cannot be stored as JSON")
    for key, value in metadata.items():
        try:
            json.dumps(value, default=plain)
        except TypeError as e:
            raise TypeError(f"{path}: metadata {key!r}: {type(value).__name__} cannot be stored as JSON ({e}); "
                            f"store numbers, strings, lists or dicts. Nothing was written.") from None
    return json.dumps(metadata, sort_keys=True, default=plain)


def _read_json(value: numpy.ndarray, path: str | os.PathLike, what: str) -> Any:
    """The JSON text stored in an ``.npz`` member, or a ValueError naming the file."""
    try:
        return json.loads(str(value))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: its {what} is not valid JSON ({e}); re-create the file") from None


class TwoLayerNet(Network):
    """input -> Affine1 -> activation -> Affine2 -> SoftmaxWithLoss (chapters 4-5).

    The book's MNIST setting is TwoLayerNet(784, 50, 10) with weights ~ N(0, 0.01^2).
    ``activation``: "relu" (chapter 5) or "sigmoid" (chapter 4).
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, weight_init_std: float | str = 0.01,
                 activation: str = "relu", dtype: Any = np.float64, seed: int | None = None,
                 fast: bool = True) -> None:
        super().__init__(dtype=dtype, seed=seed, fast=fast)
        activation_layer = self._activation(activation)
        self._add_affine(1, input_size, hidden_size, init_scale(weight_init_std, input_size))
        self.layers["Activation1"] = activation_layer
        self._add_affine(2, hidden_size, output_size, init_scale(weight_init_std, hidden_size))


class MultiLayerNet(Network):
    """A fully connected net with any number of hidden layers (chapter 6).

    hidden_size_list: e.g. [100, 100, 100, 100] for the book's 5-layer experiments.
    weight_init_std: a number, "he" (default for ReLU) or "xavier" (for sigmoid/tanh).
    weight_decay_lambda: penalty strength on the weights (not the biases);
    weight_decay_type: "l2" — (lambda / 2) * sum ||W||^2, the book's weight decay — or "l1" — lambda * sum |W|.
    """

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int,
                 activation: str = "relu", weight_init_std: float | str = "he", weight_decay_lambda: float = 0.0,
                 dtype: Any = np.float64, seed: int | None = None,
                 use_dropout: bool = False, dropout_ratio: float = 0.5, dropout_mode: str = "book",
                 use_batchnorm: bool = False, weight_decay_type: str = "l2", fast: bool = True) -> None:
        super().__init__(dtype=dtype, seed=seed, weight_decay_lambda=weight_decay_lambda,
                         weight_decay_type=weight_decay_type, fast=fast)
        self._activation(activation)                    # fail early on an unknown name
        self.hidden_size_list = list(hidden_size_list)
        sizes = [input_size, *self.hidden_size_list, output_size]
        for i in range(1, len(sizes)):
            self._add_affine(i, sizes[i - 1], sizes[i], init_scale(weight_init_std, sizes[i - 1]))
            if i == len(sizes) - 1:
                break                                   # the last Affine feeds SoftmaxWithLoss directly
            if use_batchnorm:
                self._add_batchnorm(i, sizes[i])
            self.layers[f"Activation{i}"] = self._activation(activation)
            if use_dropout:
                self.layers[f"Dropout{i}"] = Dropout(dropout_ratio, mode=dropout_mode, rng=self.rng)


class MultiLayerNetExtend(MultiLayerNet):
    """MultiLayerNet with the book's section 6.3-6.4 switches: Dropout and Batch Normalization.

    Layer order per hidden layer: Affine -> [BatchNorm] -> activation -> [Dropout].
    The dropout ratio and weight-decay lambda are *network* arguments because they are
    experiment settings; the behaviour they control lives in the layers (Dropout) and the loss.
    """

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int,
                 activation: str = "relu", weight_init_std: float | str = "he", weight_decay_lambda: float = 0.0,
                 use_dropout: bool = False, dropout_ratio: float = 0.5, use_batchnorm: bool = False,
                 dropout_mode: str = "book", weight_decay_type: str = "l2", dtype: Any = np.float64,
                 seed: int | None = None, fast: bool = True) -> None:
        super().__init__(input_size, hidden_size_list, output_size, activation=activation,
                         weight_init_std=weight_init_std, weight_decay_lambda=weight_decay_lambda,
                         dtype=dtype, seed=seed, use_dropout=use_dropout, dropout_ratio=dropout_ratio,
                         dropout_mode=dropout_mode, use_batchnorm=use_batchnorm,
                         weight_decay_type=weight_decay_type, fast=fast)


class SimpleConvNet(Network):
    """conv - relu - pool - affine - relu - affine - softmax (chapter 7).

    input_dim: (C, H, W), MNIST is (1, 28, 28).
    conv_param: filter_num, filter_size, pad, stride (the book: 30, 5, 0, 1).
    The pool is 2x2 with stride 2, so the conv output's height and width must be even.
    """

    def __init__(self, input_dim: tuple[int, int, int] = (1, 28, 28), conv_param: dict | None = None,
                 hidden_size: int = 100, output_size: int = 10, weight_init_std: float | str = 0.01,
                 dtype: Any = np.float64, seed: int | None = None, fast: bool = True) -> None:
        super().__init__(dtype=dtype, seed=seed, fast=fast)
        cp = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1, **(conv_param or {})}
        C, H, W = input_dim
        fn, fs = cp["filter_num"], cp["filter_size"]
        conv_h = conv_output_size(H, fs, cp["stride"], cp["pad"])
        conv_w = conv_output_size(W, fs, cp["stride"], cp["pad"])
        pool_h, pool_w = conv_output_size(conv_h, 2, 2), conv_output_size(conv_w, 2, 2)
        pool_output_size = fn * pool_h * pool_w
        self._add_conv(1, C, fn, fs, cp["stride"], cp["pad"], init_scale(weight_init_std, C * fs * fs))
        self.layers["Relu1"] = self._activation("relu")
        self.layers["Pool1"] = self._pooling()
        self._add_affine(2, pool_output_size, hidden_size, init_scale(weight_init_std, pool_output_size))
        self.layers["Relu2"] = self._activation("relu")
        self._add_affine(3, hidden_size, output_size, init_scale(weight_init_std, hidden_size))


DEEP_CONV_PARAMS = (
    # (filter_num, filter_size, pad, stride); a 2x2 max pool follows layers 2, 4 and 6
    (16, 3, 1, 1), (16, 3, 1, 1),
    (32, 3, 1, 1), (32, 3, 2, 1),
    (64, 3, 1, 1), (64, 3, 1, 1),
)


class DeepConvNet(Network):
    """The book's VGG-like network of section 8.1 (about 99.4 % on MNIST).

        conv-relu-conv-relu-pool - conv-relu-conv-relu-pool - conv-relu-conv-relu-pool
        - affine-relu-dropout - affine-dropout - softmax

    3x3 filters throughout, He initialisation, dropout 0.5 on the two affine layers.
    Shapes for MNIST: 28 -> 28 -> 28 -> 14 -> 14 -> 16 (pad 2) -> 8 -> 8 -> 8 -> 4; 64*4*4 = 1024 -> 50 -> 10.
    """

    def __init__(self, input_dim: tuple[int, int, int] = (1, 28, 28),
                 conv_params: Sequence[tuple[int, int, int, int]] = DEEP_CONV_PARAMS,
                 hidden_size: int = 50, output_size: int = 10, dropout_ratio: float = 0.5,
                 dropout_mode: str = "book", dtype: Any = np.float64, seed: int | None = None,
                 fast: bool = True) -> None:
        super().__init__(dtype=dtype, seed=seed, fast=fast)
        if len(conv_params) != 6:
            raise ValueError(f"DeepConvNet has 6 conv layers; got {len(conv_params)} conv_params")
        C, H, W = input_dim
        for i, (fn, fs, pad, stride) in enumerate(conv_params, start=1):
            self._add_conv(i, C, fn, fs, stride, pad, init_scale("he", C * fs * fs))
            self.layers[f"Relu{i}"] = self._activation("relu")
            H, W, C = conv_output_size(H, fs, stride, pad), conv_output_size(W, fs, stride, pad), fn
            if i % 2 == 0:
                self.layers[f"Pool{i // 2}"] = self._pooling()
                H, W = conv_output_size(H, 2, 2), conv_output_size(W, 2, 2)
        flat = C * H * W
        self._add_affine(7, flat, hidden_size, init_scale("he", flat))
        self.layers["Relu7"] = self._activation("relu")
        self.layers["Dropout7"] = Dropout(dropout_ratio, mode=dropout_mode, rng=self.rng)
        self._add_affine(8, hidden_size, output_size, init_scale("he", hidden_size))
        self.layers["Dropout8"] = Dropout(dropout_ratio, mode=dropout_mode, rng=self.rng)
