"""The textbook baseline of ``make bench``: the book's layers from ``common.layers``, in float64.

These are the networks of ``common.networks`` built with ``fast=False`` — im2col + matrix product in
the book's layout, max pooling through im2col and argmax, ReLU by a boolean mask — and the dtype the
book uses (float64). It is the "before" column of ``make bench``; ``tests/test_kernels_equal.py``
checks that the fast layers compute the same numbers.
"""
from __future__ import annotations

import numpy as np

from common.networks import DeepConvNet, Network, SimpleConvNet, TwoLayerNet


def _with_params(net: Network, params: dict[str, np.ndarray]) -> Network:
    net.load_state_dict({k: np.asarray(v, dtype=np.float64) for k, v in params.items()}, source="textbook")
    return net


def simple_convnet(params: dict[str, np.ndarray]) -> Network:
    """conv(30, 5x5) - relu - pool - affine(100) - relu - affine(10) from given parameters, in float64."""
    return _with_params(SimpleConvNet(dtype=np.float64, fast=False), params)


def deep_convnet(params: dict[str, np.ndarray], seed: int = 0, dropout_ratio: float = 0.5) -> Network:
    """The book's DeepConvNet from given parameters, in float64."""
    return _with_params(DeepConvNet(dtype=np.float64, seed=seed, dropout_ratio=dropout_ratio, fast=False), params)


def two_layer_net(params: dict[str, np.ndarray]) -> Network:
    """TwoLayerNet(784, hidden, 10) with ReLU from given parameters, in float64."""
    d, h = params["W1"].shape
    return _with_params(TwoLayerNet(d, h, params["W2"].shape[1], fast=False), params)
