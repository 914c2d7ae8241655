"""Chapter 7.4-7.5: the book-layout Convolution and Pooling, and the reader's four bugs, planted on purpose.

``common.layers`` computes the convolution in a transposed layout (``unfold``) for speed; the two
classes here follow the book's im2col layout line by line, so the reader's bugs can be planted
exactly where they made them:

- :class:`BookConvolution` ``reshape_by="width"``: ``W.reshape(FW, -1)`` where the filter count FN
  belongs. A matrix-product shape error — unless FN == FW, when the two reshapes coincide and the
  bug hides. Test layers with every size different.
- :class:`BookPooling` ``mix_axes=True``: the pooled column (one value per (n, i, j, c)) reshaped
  straight to (N, C, OH, OW), skipping the transpose. Right shape, scrambled values; invisible with
  one channel. A gradient check catches it (backward is the correct one, so the two disagree).
- :class:`ReaderConvNet` ``bug="predict_return"``: ``return x`` indented inside the loop over layers,
  so predict stops after the first layer; ``bug="wrong_dict"``: the convolution's stride and pad
  read from the pooling parameters.

:func:`layer_shapes` runs a network layer by layer and records every output shape: the shape
assert that finds most of these.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from common.layers import BatchNormalization, Dropout
from common.networks import SimpleConvNet
from common.util import col2im, conv_output_size, im2col

BUGS = (None, "filter_width", "pool_reshape", "predict_return", "wrong_dict")


class BookConvolution:
    """Convolution in the book's layout: (N*OH*OW, C*FH*FW) @ (C*FH*FW, FN).

    W: (FN, C, FH, FW), b: (FN,); x: (N, C, H, W) -> (N, FN, OH, OW).
    reshape_by: "count" (correct, ``W.reshape(FN, -1)``) or "width" (the reader's bug, ``W.reshape(FW, -1)``).
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0, reshape_by: str = "count") -> None:
        if reshape_by not in ("count", "width"):
            raise ValueError(f"reshape_by must be 'count' or 'width', got {reshape_by!r}")
        self.W, self.b, self.stride, self.pad, self.reshape_by = W, b, stride, pad, reshape_by
        self.x_shape: tuple[int, ...] | None = None
        self.col = self.col_W = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        FN, C, FH, FW = self.W.shape
        N, _, H, W = x.shape
        out_h = conv_output_size(H, FH, self.stride, self.pad)
        out_w = conv_output_size(W, FW, self.stride, self.pad)
        col = im2col(x, FH, FW, self.stride, self.pad)                         # (N*OH*OW, C*FH*FW)
        rows = FN if self.reshape_by == "count" else FW                         # the bug: FW
        col_W = self.W.reshape(rows, -1).T                                      # (C*FH*FW, FN)
        out = col @ col_W + self.b                                              # (N*OH*OW, FN)
        self.x_shape, self.col, self.col_W = x.shape, col, col_W
        return out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)          # (N, FN, OH, OW)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        FN, C, FH, FW = self.W.shape
        d = dout.transpose(0, 2, 3, 1).reshape(-1, FN)                         # (N*OH*OW, FN)
        self.db = d.sum(axis=0)
        self.dW = (self.col.T @ d).T.reshape(FN, C, FH, FW)
        dcol = d @ self.col_W.T                                                 # (N*OH*OW, C*FH*FW)
        return col2im(dcol, self.x_shape, FH, FW, self.stride, self.pad)


class BookPooling:
    """Max pooling in the book's layout: im2col, one row per (n, i, j, c) window, max along the row.

    x: (N, C, H, W) -> (N, C, OH, OW). mix_axes=True is the reader's bug: the (N*OH*OW*C,) maxima
    are reshaped to (N, C, OH, OW) directly instead of to (N, OH, OW, C) and then transposed.
    Backward is always the correct one.
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int | None = None, pad: int = 0,
                 mix_axes: bool = False) -> None:
        self.pool_h, self.pool_w = pool_h, pool_w
        self.stride = pool_h if stride is None else stride
        self.pad, self.mix_axes = pad, mix_axes
        self.x_shape: tuple[int, ...] | None = None
        self.arg_max: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        N, C, H, W = x.shape
        out_h = conv_output_size(H, self.pool_h, self.stride, self.pad)
        out_w = conv_output_size(W, self.pool_w, self.stride, self.pad)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad).reshape(-1, self.pool_h * self.pool_w)
        self.arg_max = np.argmax(col, axis=1)
        out = col[np.arange(len(col)), self.arg_max]                            # (N*OH*OW*C,), c fastest
        self.x_shape = x.shape
        if self.mix_axes:
            return out.reshape(N, C, out_h, out_w)                              # the bug
        return out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        N, C, H, W = self.x_shape
        size = self.pool_h * self.pool_w
        d = dout.transpose(0, 2, 3, 1).ravel()                                  # the same (n, i, j, c) order
        dmax = np.zeros((d.size, size), dtype=dout.dtype)
        dmax[np.arange(d.size), self.arg_max] = d
        dcol = dmax.reshape(-1, C * size)                                       # (N*OH*OW, C*PH*PW)
        return col2im(dcol, self.x_shape, self.pool_h, self.pool_w, self.stride, self.pad)


class ReaderConvNet(SimpleConvNet):
    """SimpleConvNet built the book's way (:class:`BookConvolution`, :class:`BookPooling`), with one bug planted.

    bug: None, "filter_width", "pool_reshape", "predict_return" or "wrong_dict" (see the module
    docstring). pool_param: {"pool_size": 2, "stride": 2, "pad": 0} by default. Other arguments as
    :class:`common.networks.SimpleConvNet`; the parameters are identical to a SimpleConvNet with the
    same seed, so ``ReaderConvNet(bug=None)`` computes exactly what SimpleConvNet computes.
    """

    def __init__(self, input_dim: tuple[int, int, int] = (1, 28, 28), conv_param: dict | None = None,
                 pool_param: dict | None = None, hidden_size: int = 100, output_size: int = 10,
                 weight_init_std: float | str = 0.01, dtype: Any = np.float64, seed: int | None = None,
                 bug: str | None = None) -> None:
        if bug not in BUGS:
            raise ValueError(f"bug must be one of {BUGS}, got {bug!r}")
        super().__init__(input_dim, conv_param, hidden_size, output_size, weight_init_std, dtype, seed)
        self.bug = bug
        cp = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1, **(conv_param or {})}
        pp = {"pool_size": 2, "stride": 2, "pad": 0, **(pool_param or {})}
        src = pp if bug == "wrong_dict" else cp                                 # the bug: the pool's dict
        conv = BookConvolution(self.params["W1"], self.params["b1"], stride=src["stride"], pad=src["pad"],
                               reshape_by="width" if bug == "filter_width" else "count")
        self.layers["Conv1"] = conv
        self._grad_source["W1"], self._grad_source["b1"] = (conv, "dW"), (conv, "db")
        self.layers["Pool1"] = BookPooling(pp["pool_size"], pp["pool_size"], pp["stride"], pp["pad"],
                                           mix_axes=bug == "pool_reshape")

    def predict(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        if self.bug != "predict_return":
            return super().predict(x, train_flg)
        x = self._as_input(x)
        for layer in self.layers.values():
            x = layer.forward(x)
            return x                                                            # the bug: inside the loop
        return x


def layer_shapes(net: Any, x: np.ndarray) -> list[tuple[str, tuple[int, ...]]]:
    """Run ``x`` through ``net.layers`` one by one; return [(layer name, output shape), ...].

    The first entry is ("input", x.shape). Uses test-mode forward for Dropout / BatchNorm.
    """
    shapes = [("input", tuple(x.shape))]
    x = net._as_input(x)
    for name, layer in net.layers.items():
        x = layer.forward(x, False) if isinstance(layer, (Dropout, BatchNormalization)) else layer.forward(x)
        shapes.append((name, tuple(x.shape)))
    return shapes
