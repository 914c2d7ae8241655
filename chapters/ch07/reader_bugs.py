"""Sections 7.4.3-7.5: the reader's four bugs, planted on purpose into the book's own layers.

``common.layers.Convolution`` and ``common.layers.Pooling`` are the book's im2col layers, line for
line. Each buggy layer here subclasses one of them and overrides only the line the reader got wrong:

- :class:`FilterWidthConvolution`: ``W.reshape(FW, -1)`` where the filter count FN belongs. A
  matrix-product shape error — unless FN == FW, when the two reshapes coincide and the bug hides.
  Test layers with every size different.
- :class:`PoolReshapePooling`: the pooled maxima (one per (n, i, j, c) window) reshaped straight to
  (N, C, OH, OW), skipping the transpose. Right shape, scrambled values; invisible with one
  channel. A gradient check catches it (backward is the correct one, so the two disagree).
- :class:`ReaderConvNet` plants one of them into a book-layer SimpleConvNet, or one of two
  network-level bugs: ``bug="predict_return"``, ``return x`` indented inside the loop over layers,
  so predict stops after the first layer; ``bug="wrong_dict"``, the convolution's stride and pad
  read from the pooling parameters.

:func:`layer_shapes` records every layer's output shape: the shape assert that finds most of these.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from common.layers import Convolution, Pooling
from common.networks import SimpleConvNet
from common.util import conv_output_size, im2col

BUGS = (None, "filter_width", "pool_reshape", "predict_return", "wrong_dict")

#: SimpleConvNet's pooling parameters: the dict the "wrong_dict" bug reads the convolution's stride and pad from
POOL_PARAM = {"pool_size": 2, "stride": 2, "pad": 0}


class FilterWidthConvolution(Convolution):
    """:class:`common.layers.Convolution` with the reader's bug: the filters reshaped by their width FW.

    W: (FN, C, FH, FW); x: (N, C, H, W) -> (N, FN, OH, OW) only when FN == FW; otherwise the
    matrix product raises a ``ValueError`` naming the two sizes that disagree.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        FH, FW = self.W.shape[2:]
        N, _, H, W = x.shape
        out_h = conv_output_size(H, FH, self.stride, self.pad)
        out_w = conv_output_size(W, FW, self.stride, self.pad)

        col = im2col(x, FH, FW, self.stride, self.pad)        # (N*OH*OW, C*FH*FW)
        col_W = self.W.reshape(FW, -1).T                      # the bug: FW where FN belongs
        out = col @ col_W + self.b                            # raises unless FN == FW
        out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)

        self.x, self.col, self.col_W = x, col, col_W
        return out


class PoolReshapePooling(Pooling):
    """:class:`common.layers.Pooling` with the reader's bug: the maxima reshaped to (N, C, OH, OW) directly.

    x: (N, C, H, W) -> (N, C, OH, OW), the right shape, but the (N*OH*OW*C,) maxima come in
    (n, i, j, c) order, so without the transpose channels and positions are mixed up. Backward is
    the parent's correct one.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        N, C, OH, OW = self.output_shape(x.shape)

        col = im2col(self._padded(x), self.pool_h, self.pool_w, self.stride, 0)
        col = col.reshape(-1, self.pool_h * self.pool_w)                           # (N*OH*OW*C, PH*PW)

        arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)                                                  # (N*OH*OW*C,)
        out = out.reshape(N, C, OH, OW)                                            # the bug: no transpose

        self.x, self.arg_max = x, arg_max
        return out


class ReaderConvNet(SimpleConvNet):
    """SimpleConvNet built from the book's layers (``fast=False``), with one of the reader's bugs planted.

    bug: None, "filter_width", "pool_reshape", "predict_return" or "wrong_dict" (see the module
    docstring). Other arguments as :class:`common.networks.SimpleConvNet`; the parameters are those
    of a SimpleConvNet with the same seed, so ``ReaderConvNet(bug=None)`` computes what it computes.
    """

    def __init__(self, input_dim: tuple[int, int, int] = (1, 28, 28), conv_param: dict | None = None,
                 hidden_size: int = 100, output_size: int = 10, weight_init_std: float | str = 0.01,
                 dtype: Any = np.float64, seed: int | None = None, bug: str | None = None) -> None:
        if bug not in BUGS:
            raise ValueError(f"bug must be one of {BUGS}, got {bug!r}")
        super().__init__(input_dim, conv_param, hidden_size, output_size, weight_init_std, dtype, seed,
                         fast=False)
        self.bug = bug
        W1, b1 = self.params["W1"], self.params["b1"]
        conv = self.layers["Conv1"]
        if bug == "filter_width":
            self.replace_layer("Conv1", FilterWidthConvolution(W1, b1, stride=conv.stride, pad=conv.pad))
        elif bug == "wrong_dict":                                               # the bug: the pool's dict
            self.replace_layer("Conv1", Convolution(W1, b1, stride=POOL_PARAM["stride"], pad=POOL_PARAM["pad"]))
        elif bug == "pool_reshape":
            pool = self.layers["Pool1"]
            self.replace_layer("Pool1", PoolReshapePooling(pool.pool_h, pool.pool_w, pool.stride, pool.pad))

    def predict(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        if self.bug != "predict_return":
            return super().predict(x, train_flg)
        x = self.prepare_input(x)
        for layer in self.layers.values():
            x = layer.forward(x)
            return x                                                            # the bug: inside the loop
        return x


def layer_shapes(net: Any, x: np.ndarray) -> list[tuple[str, tuple[int, ...]]]:
    """Run x (N, ...) through ``net`` in test mode; return [(layer name, output shape), ...].

    The first entry is ("input", x.shape); the others come from ``net.layer_outputs``.
    """
    return [("input", tuple(x.shape))] + [(name, tuple(out.shape)) for name, _, out in net.layer_outputs(x)]
