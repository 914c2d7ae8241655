"""A network's first layers, a part of the batch at a time: :class:`BatchParts`."""
from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

from common import config
from common.backend import np     # np is NumPy (or CuPy with DLFS_DEVICE=gpu)
from common.fast import _part, _run_in_threads, batch_parts
from common.fast.layers import FastConvolution, FastPooling, FastRelu

#: the layers that treat every sample on its own, with no randomness or batch statistics: a part of
#: the batch can go through them without the rest (Dropout and BatchNormalization cannot)
PER_SAMPLE = (FastConvolution, FastRelu, FastPooling)


def per_sample_prefix(layers: Sequence[Any]) -> int:
    """How many of the first layers are exactly :data:`PER_SAMPLE` classes (a subclass, such as a
    reader's own layer planted for an exercise, ends the run)."""
    count = 0
    for layer in layers:
        if type(layer) not in PER_SAMPLE:
            break
        count += 1
    return count


class BatchParts:
    """Run a network's first layers (``layers``, all :data:`PER_SAMPLE`) part by part: each part of the
    batch goes through *all* of them in one thread, and the threads take the next free part.

    Layer by layer, the threads would meet at the end of every layer (24 times a DeepConvNet step), and
    every layer would read its input back from wherever the previous one left it. A part of 12-13
    images instead stays with one thread (and its core's cache) from the first layer to the last, and
    the threads meet twice: after forward, and after backward. Each part has its own shallow copy of
    every layer (the copies share W and b, and keep their own x, mask and dW); backward adds the
    parts' dW and db up in part order and leaves the sums on the network's layers, where the network
    reads its gradients. The results equal the layer-by-layer pass up to float rounding (the sums run
    in another order), and are the same bits on any number of threads.
    """

    #: run a ReLU that comes just before a max-pooling layer after it instead (see :meth:`_order`)
    POOL_FIRST = True

    def __init__(self, layers: Sequence[Any], n: int) -> None:
        self.layers = list(layers)
        self.parts = batch_parts(n)
        self.copies = {a: [copy.copy(layer) for layer in self.layers] for a, _ in self.parts}
        self.order = self._order()

    def _order(self) -> list[int]:
        """The order the layers run in: as given, except that each ReLU directly followed by a
        max-pooling layer swaps places with it. The two commute: the largest of a window's rectified
        numbers is the rectified largest, max(relu(a), relu(b)) = relu(max(a, b)), and backward
        sends each window's gradient to the same pixel either way (to none when the window holds
        no positive number): the same bits, for finite numbers (a NaN in a window can send that
        window's gradient elsewhere; the loss is NaN then anyway). Pooling first leaves ReLU a
        quarter of the numbers, for 2x2 windows."""
        order = list(range(len(self.layers)))
        if not self.POOL_FIRST:
            return order
        i = 0
        while i < len(order) - 1:
            if type(self.layers[i]) is FastRelu and type(self.layers[i + 1]) is FastPooling:
                order[i], order[i + 1] = i + 1, i
                i += 2
            else:
                i += 1
        return order

    def _run(self, work: Callable[[int, int], Any]) -> list[Any]:
        def in_part(a: int, b: int) -> Any:
            _part.active = True
            try:
                return work(a, b)
            finally:
                _part.active = False

        threads = min(config.threads(), len(self.parts))
        if threads == 1:
            return [in_part(a, b) for a, b in self.parts]
        return _run_in_threads(in_part, self.parts, threads)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The last layer's output for the whole batch (the parts' outputs, stacked)."""
        def work(a: int, b: int) -> np.ndarray:
            h = x[a:b]
            for i in self.order:
                h = self.copies[a][i].forward(h)
            return h

        return np.concatenate(self._run(work))

    def backward(self, dout: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """dx for the whole batch (None with need_dx=False, which the first layer then skips); the
        parameter gradients, summed over the parts, are left on ``self.layers``."""
        def work(a: int, b: int) -> np.ndarray | None:
            d = dout[a:b]
            first, *rest = [self.copies[a][i] for i in self.order]
            for layer in reversed(rest):
                d = layer.backward(d)
            return first.backward(d, need_dx=False) if (not need_dx and isinstance(first, FastConvolution)) \
                else first.backward(d)

        dxs = self._run(work)
        for i, layer in enumerate(self.layers):
            if isinstance(layer, FastConvolution):
                grads = [self.copies[a][i] for a, _ in self.parts]
                dW, db = grads[0].dW, grads[0].db
                for g in grads[1:]:                      # in part order: the same sums on any thread count
                    dW, db = dW + g.dW, db + g.db
                layer.dW, layer.db = dW, db
        return np.concatenate(dxs) if need_dx else None
