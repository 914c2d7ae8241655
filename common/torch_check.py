"""Check our NumPy networks against PyTorch's autograd (optional: needs ``torch``).

Install it with ``pip install -e .[bench]`` (or ``pip install torch``); nothing else in the lab needs it.
:func:`compare_with_torch` rebuilds the same network from the same weight arrays in PyTorch,
computes the loss and, with ``loss.backward()``, every parameter's gradient, and reports the largest
absolute difference from our ``loss`` and ``gradient``.
"""
from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from common.functions import labels_from_targets
from common.layers import Affine, Relu, Sigmoid

INSTALL_HINT = "pip install -e .[bench]   (or: pip install torch)"


def torch_available() -> bool:
    """True when ``import torch`` would succeed (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def compare_with_torch(net: Any, x: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """Largest |ours - torch| for the loss and for each parameter's gradient, in float64.

    net: a network made of ``Affine``, ``Relu`` and ``Sigmoid`` layers topped by SoftmaxWithLoss
         (TwoLayerNet, or MultiLayerNet without dropout / batch norm); parameters W1, b1, W2, ...
    x: (N, D) inputs; t: (N,) labels or (N, C) one-hot.
    Returns {"loss": |loss difference|, "W1": max |dW1 difference|, ...}.
    Raises ImportError (with the install command) when torch is missing.
    """
    try:
        import torch
    except ImportError as err:                                   # pragma: no cover - depends on the env
        raise ImportError(f"compare_with_torch needs PyTorch: {INSTALL_HINT}") from err

    ours_grads = net.gradient(x, t)                              # also runs the forward pass
    ours_loss = net.loss(x, t, train_flg=True)
    params = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for k, v in net.params.items()}
    h = torch.tensor(np.asarray(x, dtype=np.float64).reshape(len(x), -1))
    for name, layer in net.layers.items():
        if isinstance(layer, Affine):
            i = name.removeprefix("Affine")
            h = h @ params[f"W{i}"] + params[f"b{i}"]
        elif isinstance(layer, Relu):
            h = torch.relu(h)
        elif isinstance(layer, Sigmoid):
            h = torch.sigmoid(h)
        else:
            raise TypeError(f"compare_with_torch: no PyTorch counterpart for layer {name} ({type(layer).__name__})")
    labels = torch.tensor(labels_from_targets(np.asarray(t), h.shape[1]).astype(np.int64))
    loss = torch.nn.functional.cross_entropy(h, labels)         # softmax + mean cross-entropy
    loss.backward()
    result = {"loss": abs(float(loss.detach()) - ours_loss)}
    for key, p in params.items():
        result[key] = float(np.max(np.abs(p.grad.numpy() - np.asarray(ours_grads[key], dtype=np.float64))))
    return result
