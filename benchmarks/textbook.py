"""The textbook baseline: convolutional networks as the book's chapter 7 describes them, written by us.

Deliberately straightforward, as a reader would first write it: float64 everywhere; ``im2col`` fills
a zero-initialised 6-D buffer (N, C, FH, FW, OH, OW) with one loop over the kernel offsets and then
transposes it; max pooling goes through ``im2col`` and ``argmax``; every layer keeps its own copies.
It is the "before" column of ``make bench`` and the reference that the fast kernels in ``common``
are tested against.
"""
from __future__ import annotations

import numpy as np


def im2col(x: np.ndarray, fh: int, fw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, fh, fw, oh, ow))
    for y in range(fh):
        y_max = y + stride * oh
        for x_ in range(fw):
            x_max = x_ + stride * ow
            col[:, :, y, x_, :, :] = img[:, :, y:y_max:stride, x_:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def col2im(col: np.ndarray, shape: tuple, fh: int, fw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    n, c, h, w = shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    col6 = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1))
    for y in range(fh):
        y_max = y + stride * oh
        for x_ in range(fw):
            x_max = x_ + stride * ow
            img[:, :, y:y_max:stride, x_:x_max:stride] += col6[:, :, y, x_, :, :]
    return img[:, :, pad:h + pad, pad:w + pad]


class Conv:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x):
        fn, c, fh, fw = self.W.shape
        n, _, h, w = x.shape
        oh, ow = (h + 2 * self.pad - fh) // self.stride + 1, (w + 2 * self.pad - fw) // self.stride + 1
        self.x, self.col = x, im2col(x, fh, fw, self.stride, self.pad)
        self.col_W = self.W.reshape(fn, -1).T
        out = self.col @ self.col_W + self.b
        return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)

    def backward(self, dout):
        fn, c, fh, fw = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = dout.sum(axis=0)
        self.dW = (self.col.T @ dout).transpose(1, 0).reshape(fn, c, fh, fw)
        return col2im(dout @ self.col_W.T, self.x.shape, fh, fw, self.stride, self.pad)


class Pool:
    def __init__(self, ph, pw, stride=2):
        self.ph, self.pw, self.stride = ph, pw, stride

    def forward(self, x):
        n, c, h, w = x.shape
        oh, ow = (h - self.ph) // self.stride + 1, (w - self.pw) // self.stride + 1
        col = im2col(x, self.ph, self.pw, self.stride).reshape(-1, self.ph * self.pw)
        self.x, self.arg_max = x, col.argmax(axis=1)
        return col.max(axis=1).reshape(n, oh, ow, c).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        size = self.ph * self.pw
        dmax = np.zeros((dout.size, size))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(dout.shape + (size,)).reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x.shape, self.ph, self.pw, self.stride)


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout):
        self.dW, self.db = self.x.T @ dout, dout.sum(axis=0)
        return (dout @ self.W.T).reshape(self.shape)


class Dropout:
    def __init__(self, ratio, rng):
        self.ratio, self.rng = ratio, rng

    def forward(self, x, train):
        if train:
            self.mask = self.rng.random(x.shape) > self.ratio
            return x * self.mask
        return x * (1.0 - self.ratio)

    def backward(self, dout):
        return dout * self.mask


class SoftmaxWithLoss:
    def forward(self, x, t):
        x = x - x.max(axis=1, keepdims=True)
        self.y = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
        self.t = t
        n = x.shape[0]
        return -np.sum(np.log(self.y[np.arange(n), t] + 1e-7)) / n

    def backward(self):
        n = self.y.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


class Net:
    """A stack of (name, layer, param names) with the book's gradient()."""

    def __init__(self):
        self.params, self.layers, self.owner = {}, [], {}
        self.last = SoftmaxWithLoss()

    def predict(self, x, train=False):
        for layer in self.layers:
            x = layer.forward(x, train) if isinstance(layer, Dropout) else layer.forward(x)
        return x

    def gradient(self, x, t):
        self.last.forward(self.predict(x, True), t)
        d = self.last.backward()
        for layer in reversed(self.layers):
            d = layer.backward(d)
        return {k: getattr(layer, "dW" if k.startswith("W") else "db") for k, layer in self.owner.items()}

    def add(self, layer, i=None):
        if i is not None:
            self.params[f"W{i}"], self.params[f"b{i}"] = layer.W, layer.b
            self.owner[f"W{i}"] = self.owner[f"b{i}"] = layer
        self.layers.append(layer)


def simple_convnet(params: dict[str, np.ndarray]) -> Net:
    """conv(30, 5x5) - relu - pool - affine(100) - relu - affine(10), from given float64 parameters."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    net = Net()
    net.add(Conv(p["W1"], p["b1"]), 1); net.add(Relu()); net.add(Pool(2, 2))
    net.add(Affine(p["W2"], p["b2"]), 2); net.add(Relu())
    net.add(Affine(p["W3"], p["b3"]), 3)
    return net


def deep_convnet(params: dict[str, np.ndarray], seed: int = 0, dropout_ratio: float = 0.5) -> Net:
    """The book's DeepConvNet from given parameters (pads 1, 1, 1, 2, 1, 1)."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    rng = np.random.default_rng(seed)
    net = Net()
    for i, pad in enumerate((1, 1, 1, 2, 1, 1), start=1):
        net.add(Conv(p[f"W{i}"], p[f"b{i}"], 1, pad), i)
        net.add(Relu())
        if i % 2 == 0:
            net.add(Pool(2, 2))
    net.add(Affine(p["W7"], p["b7"]), 7); net.add(Relu()); net.add(Dropout(dropout_ratio, rng))
    net.add(Affine(p["W8"], p["b8"]), 8); net.add(Dropout(dropout_ratio, rng))
    return net


def two_layer_net(params: dict[str, np.ndarray]) -> Net:
    p = {k: v.astype(np.float64) for k, v in params.items()}
    net = Net()
    net.add(Affine(p["W1"], p["b1"]), 1); net.add(Relu()); net.add(Affine(p["W2"], p["b2"]), 2)
    return net


class Adam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.b1, self.b2, self.it, self.m, self.v = lr, beta1, beta2, 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m = {k: np.zeros_like(v) for k, v in params.items()}
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.it += 1
        lr_t = self.lr * np.sqrt(1.0 - self.b2 ** self.it) / (1.0 - self.b1 ** self.it)
        for k in params:
            self.m[k] += (1 - self.b1) * (grads[k] - self.m[k])
            self.v[k] += (1 - self.b2) * (grads[k] ** 2 - self.v[k])
            params[k] -= lr_t * self.m[k] / (np.sqrt(self.v[k]) + 1e-7)


class SGD:
    def __init__(self, lr=0.1):
        self.lr = lr

    def update(self, params, grads):
        for k in params:
            params[k] -= self.lr * grads[k]
