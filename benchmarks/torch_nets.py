"""The same three networks in PyTorch (CPU), initialised from a ``common`` network's parameters.

Only imported when torch is installed (``pip install -e .[bench]``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _load(module: nn.Module, params: dict[str, np.ndarray], names: list[tuple[str, str]]) -> None:
    """Copy our W/b arrays in: conv weights share the (FN, C, FH, FW) layout, Linear weights are W.T."""
    with torch.no_grad():
        for (torch_name, ours), p in zip(names, [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]):
            W, b = params[f"W{ours}"], params[f"b{ours}"]
            p.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T if isinstance(p, nn.Linear) else W)))
            p.bias.copy_(torch.from_numpy(b))


def simple_convnet(params: dict[str, np.ndarray]) -> nn.Module:
    net = nn.Sequential(nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10))
    _load(net, params, [("0", "1"), ("4", "2"), ("6", "3")])
    return net


def deep_convnet(params: dict[str, np.ndarray]) -> nn.Module:
    layers: list[nn.Module] = []
    c = 1
    for i, (fn, pad) in enumerate(((16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1)), start=1):
        layers += [nn.Conv2d(c, fn, 3, padding=pad), nn.ReLU()]
        if i % 2 == 0:
            layers.append(nn.MaxPool2d(2))
        c = fn
    layers += [nn.Flatten(), nn.Linear(64 * 4 * 4, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, 10), nn.Dropout(0.5)]
    net = nn.Sequential(*layers)
    _load(net, params, [(str(i), str(i)) for i in range(1, 9)])
    return net


def two_layer_net(params: dict[str, np.ndarray]) -> nn.Module:
    net = nn.Sequential(nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 10))
    _load(net, params, [("0", "1"), ("2", "2")])
    return net


def train_step_fn(net: nn.Module, optimizer: torch.optim.Optimizer):
    loss_fn = nn.CrossEntropyLoss()

    def step(x: torch.Tensor, t: torch.Tensor) -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), t)
        loss.backward()
        optimizer.step()
        return float(loss.detach())
    return step
