"""Sections 7.4-7.5: the reader's bugs, as they wrote them, planted on purpose into the book's own code.

The reader's notes (stride and pad "accepted but ignored everywhere, only stride=1, pad=0 for now"):

- their im2col fills ``col = np.zeros((N, C, out_h, out_w, FH, FW))`` by looping over the output
  positions, then ``col.reshape(N * C * out_h * out_w, FH * FW)``: one row per (image, *channel*,
  position), so the channels sit in the rows -> :func:`reader_im2col`,
  :class:`ChannelRowsConvolution` (``np.dot(col, col_W)`` only works when C = 1);
- ``Convolution.forward``: ``col_W = self.W.reshape(FN, C * FH * FW).T`` (correct), then
  ``out.reshape(N, out_h, out_w, FW).transpose(0, 3, 1, 2)``: FW where FN belongs
  -> :class:`FilterWidthConvolution` (a reshape error, unless FN == FW);
- ``Pooling.forward`` over their own im2col, whose rows come in (n, c, i, j) order:
  ``out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)``, the book's line for the book's
  (n, i, j, c) order -> :class:`ChannelRowsPooling` (right shape, values moved between channels and
  positions whenever C > 1);
- pooling with stride 1 (``out_h = H - pool_h + 1``; in the network
  ``pool_output_size = conv_output_size - 2 + 1``) -> :class:`StrideOnePooling`,
  ``ReaderConvNet(bug="pool_stride_1")`` (a 23 x 23 map instead of 12 x 12, and nothing crashes);
- ``SimpleConvNet.__init__``: ``Convolution(self.params['W1'], self.params['b1'],
  self.params['stride'], self.params['pad'])`` -> ``ReaderConvNet(bug="params_key")`` (a KeyError:
  stride and pad live in ``conv_param``, not in ``params``);
- ``SimpleConvNet.predict`` returning inside its loop over the layers -> ``bug="predict_return"``.

Each buggy layer subclasses the book's layer in ``common.layers`` and overrides only ``forward``
(backward stays the book's); :class:`ReaderConvNet` is a ``SimpleConvNet(fast=False)`` — the book's
layers — with one bug planted. :func:`layer_shapes` records every layer's output shape: the shape
assert that finds several of them.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from common.layers import Convolution, Pooling
from common.networks import SimpleConvNet, init_scale
from common.util import conv_output_size, im2col

BUGS = (None, "channel_rows_im2col", "filter_width", "channel_rows_pool", "pool_stride_1", "params_key",
        "predict_return")


def reader_im2col(input_data: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The reader's im2col: a loop over the output positions, channels in the rows.

    input_data: (N, C, H, W) -> col: (N * C * OH * OW, FH * FW), rows in (n, c, i, j) order: one
    row per window of one channel. ``stride`` and ``pad`` are accepted but ignored (always 1 and 0),
    as in their notes, so OH = H - FH + 1. With C = 1 this is the book's im2col; with C > 1 the
    book's row holds all C channels' windows side by side, this one splits them over C rows.
    """
    N, C, H, W = input_data.shape
    out_h, out_w = H - filter_h + 1, W - filter_w + 1
    col = np.zeros((N, C, out_h, out_w, filter_h, filter_w), dtype=input_data.dtype)
    for i in range(out_h):
        for j in range(out_w):
            col[:, :, i, j, :, :] = input_data[:, :, i:i + filter_h, j:j + filter_w]
    return col.reshape(N * C * out_h * out_w, filter_h * filter_w)


class ChannelRowsConvolution(Convolution):
    """:class:`common.layers.Convolution` built on :func:`reader_im2col` (channels in the rows).

    x: (N, C, H, W), W: (FN, C, FH, FW). With C = 1 the result is the book's; with C > 1 ``np.dot``
    of col (N*C*OH*OW, FH*FW) with col_W (C*FH*FW, FN) raises a ``ValueError`` ("not aligned").
    Stride 1 and pad 0 only, like the reader's im2col.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        FN, C, FH, FW = self.W.shape
        N, _, H, W = x.shape
        out_h, out_w = H - FH + 1, W - FW + 1

        col = reader_im2col(x, FH, FW, self.stride, self.pad)     # (N*C*OH*OW, FH*FW): channels in rows
        col_W = self.W.reshape(FN, C * FH * FW).T                 # (C*FH*FW, FN)
        out = np.dot(col, col_W) + self.b                         # raises unless C == 1
        out = out.reshape(N, out_h, out_w, FN).transpose(0, 3, 1, 2)

        self.x, self.col, self.col_W = x, col, col_W
        return out


class FilterWidthConvolution(Convolution):
    """:class:`common.layers.Convolution` with the reader's bug: the output reshaped by FW, not FN.

    ``col_W = W.reshape(FN, C*FH*FW).T`` is right; ``out.reshape(N, OH, OW, FW)`` is not. out has
    N*OH*OW*FN values, so the reshape raises a ``ValueError`` ("cannot reshape array of size ...")
    unless FN == FW — and then it is the correct layer, and the bug waits for another filter count.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        FN, C, FH, FW = self.W.shape
        N, _, H, W = x.shape
        out_h = conv_output_size(H, FH, self.stride, self.pad)
        out_w = conv_output_size(W, FW, self.stride, self.pad)

        col = im2col(x, FH, FW, self.stride, self.pad)            # (N*OH*OW, C*FH*FW)
        col_W = self.W.reshape(FN, C * FH * FW).T                 # (C*FH*FW, FN): correct
        out = np.dot(col, col_W) + self.b                         # (N*OH*OW, FN)
        out = out.reshape(N, out_h, out_w, FW).transpose(0, 3, 1, 2)   # the bug: FW where FN belongs

        self.x, self.col, self.col_W = x, col, col_W
        return out


class ChannelRowsPooling(Pooling):
    """:class:`common.layers.Pooling` with the reader's reshape over the reader's row order.

    The windows come one channel per row, (n, c, i, j) order (their im2col; here with the stride
    honoured, so that this is the only bug), but the maxima are reshaped as if they came in the book's
    (n, i, j, c) order: ``out.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)``. Right shape; values
    moved between channels and positions whenever C > 1; exact when C == 1. Backward is the book's,
    which reads the windows in the book's order, so forward and backward disagree.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        N, C, OH, OW = self.output_shape(x.shape)
        H, W = x.shape[2:]

        # one row per window of one channel, rows in (n, c, i, j) order, as the reader's im2col makes them
        col = im2col(self._padded(x).reshape(N * C, 1, H + 2 * self.pad, W + 2 * self.pad),
                     self.pool_h, self.pool_w, self.stride, 0)               # (N*C*OH*OW, PH*PW)
        col = col.reshape(-1, self.pool_h * self.pool_w)

        arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)                                            # (N*C*OH*OW,): (n, c, i, j)
        out = out.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)                # the bug: (n, i, j, c) assumed

        self.x, self.arg_max = x, arg_max
        return out


class StrideOnePooling(Pooling):
    """:class:`common.layers.Pooling` that accepts ``stride`` and ``pad`` but ignores them: always 1 and 0.

    x: (N, C, H, W) -> (N, C, H - pool_h + 1, W - pool_w + 1): a 2x2 pool of a 24 x 24 map gives
    23 x 23 instead of 12 x 12. Forward and backward agree (it is a correct pooling, only not the
    one asked for), so nothing crashes and a gradient check passes; a shape assert catches it.
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int | None = None, pad: int = 0) -> None:
        super().__init__(pool_h, pool_w, stride=1, pad=0)                   # the bug: stride, pad ignored
        self.requested_stride = pool_h if stride is None else stride
        self.requested_pad = pad


class ReaderConvNet(SimpleConvNet):
    """SimpleConvNet built from the book's layers (``fast=False``), with one of the reader's bugs planted.

    bug: one of ``BUGS`` (see the module docstring). Other arguments as
    :class:`common.networks.SimpleConvNet`; with ``bug=None`` (or a bug that leaves the parameters
    alone) the parameters are those of a SimpleConvNet with the same seed. ``bug="params_key"``
    raises ``KeyError: 'stride'`` here, in the constructor, as the reader's code does.
    """

    def __init__(self, input_dim: tuple[int, int, int] = (1, 28, 28), conv_param: dict | None = None,
                 hidden_size: int = 100, output_size: int = 10, weight_init_std: float | str = 0.01,
                 dtype: Any = np.float64, seed: int | None = None, bug: str | None = None) -> None:
        if bug not in BUGS:
            raise ValueError(f"bug must be one of {BUGS}, got {bug!r}")
        super().__init__(input_dim, conv_param, hidden_size, output_size, weight_init_std, dtype, seed,
                         fast=False)
        self.bug = bug
        cp = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1, **(conv_param or {})}
        W1, b1 = self.params["W1"], self.params["b1"]
        if bug == "channel_rows_im2col":
            self.replace_layer("Conv1", ChannelRowsConvolution(W1, b1, cp["stride"], cp["pad"]))
        elif bug == "filter_width":
            self.replace_layer("Conv1", FilterWidthConvolution(W1, b1, cp["stride"], cp["pad"]))
        elif bug == "params_key":
            # the reader's line: stride and pad looked up in params, where only W1, b1, ... live
            self.replace_layer("Conv1", Convolution(self.params["W1"], self.params["b1"],
                                                    self.params["stride"], self.params["pad"]))
        elif bug == "channel_rows_pool":
            self.replace_layer("Pool1", ChannelRowsPooling(2, 2, stride=2))
        elif bug == "pool_stride_1":
            conv_output_size_ = conv_output_size(input_dim[1], cp["filter_size"], cp["stride"], cp["pad"])
            pool_output_size = conv_output_size_ - 2 + 1                   # the reader's "pool 2x2, stride 1"
            n_in = cp["filter_num"] * pool_output_size * pool_output_size
            self.replace_layer("Pool1", StrideOnePooling(2, 2, stride=2))
            self._add_affine(2, n_in, hidden_size, init_scale(weight_init_std, n_in))   # W2 sized to match

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
