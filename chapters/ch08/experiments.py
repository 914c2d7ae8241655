"""Experiments of chapter 8 (book sections 8.1-8.5): skip connections, augmentation, noisy labels,
precision, speed, distributed training, GANs.

- 8.2.4 :class:`SkipMLP`, :func:`gradient_norm_profile`, :func:`plot_gradient_norms`
      a deep fully connected net with or without identity skips (ResNet's idea), written out
      forward and backward, and the size of each layer's weight gradient at initialisation
- 8.1.2 :func:`augmentation_experiment`   train a small CNN on few images with and without augmentation
- 8.1.1 :func:`label_noise_experiment`    labels that are coin flips cap any classifier at 50 %
- 8.3.4 :func:`cast_state`, :func:`layer_output_dtypes`, :func:`compare_precisions`   inference in float16
- 8.3.1 :func:`layer_times`, :func:`conv_share`   where inference time goes
- 8.3.2 :func:`throughput`, :func:`blas_threads`, :func:`unfolded_bytes`   batch size, threads, memory
- 8.3.3 :func:`data_parallel_gradient`, :func:`federated_average`   data-parallel and federated training
- 8.5.2 :func:`toy_gan_1d`                a generative adversarial network in one dimension
- 8.5.4 :func:`grid_q_learning`, :func:`grid_greedy_path`, :func:`format_grid_policy`   tabular Q-learning
      on a small grid world: the table that DQN replaces by a network
- 8.3.2 :func:`gpu_status`, :func:`gpu_inference_benchmark`   the optional CuPy backend

Forward passes through a network go through its one public walk, ``net.layer_outputs`` (or ``predict``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure, SubplotParams

from chapters.figures import figure_memo, plain_log_labels
from common.backend import BackendError, select_backend
from common.functions import relu, relu_grad, sigmoid, softmax
from common.layers import Convolution
from common.networks import MultiLayerNet, Network, SimpleConvNet
from common.optimizer import make_optimizer
from common.trainer import Trainer


# ---------------------------------------------------------------------------------------------
# 8.2.4 ResNet: a deep MLP with and without identity skips
# ---------------------------------------------------------------------------------------------
def _activation(name: str, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f(a), f'(a)) for the block activation."""
    if name == "sigmoid":
        f = sigmoid(a)
        return f, f * (1.0 - f)
    if name == "tanh":
        f = np.tanh(a)
        return f, 1.0 - f * f
    if name == "relu":
        return relu(a), relu_grad(a)
    raise ValueError(f"activation must be 'sigmoid', 'tanh' or 'relu', got {name!r}")


class SkipMLP:
    """stem Affine -> ``depth`` blocks of width ``width`` -> head Affine -> softmax cross-entropy.

    Block l (l = 1..depth), with h_0 the stem's output (N, width):
        plain     h_l = f(h_{l-1} W_l + b_l)
        residual  h_l = h_{l-1} + s * f(h_{l-1} W_l + b_l)          (s = ``branch_scale``)
    The residual net has the *same* weights as the plain one for the same seed; only the identity
    path differs. Backward through a residual block:
        da_l      = dh_l * s * f'(a_l)
        dW_l      = h_{l-1}^T da_l,   db_l = sum_n da_l
        dh_{l-1}  = da_l W_l^T + dh_l          <- the "+ dh_l" is the skip: the gradient from above
                                                  reaches the layer below unchanged.
    Without the skip the last term is missing, and dh shrinks (or grows) by the factor
    |f'| * |W| at every block: exponentially in depth.

    Parameters: W0, b0 (stem, input_size x width), W1..W{depth}, b1.. (blocks),
    W{depth+1}, b{depth+1} (head, width x output_size). weight_init: "xavier" (std sqrt(1/fan_in))
    or "he" (sqrt(2/fan_in)).
    """

    def __init__(self, input_size: int, width: int, depth: int, output_size: int, activation: str = "sigmoid",
                 weight_init: str = "xavier", skip: bool = True, branch_scale: float = 1.0,
                 seed: int | None = 0) -> None:
        if depth < 1:
            raise ValueError(f"SkipMLP needs depth >= 1, got {depth}")
        if weight_init not in ("xavier", "he"):
            raise ValueError(f"weight_init must be 'xavier' or 'he', got {weight_init!r}")
        _activation(activation, np.zeros(1))                      # validate the name early
        self.depth, self.activation, self.skip, self.branch_scale = depth, activation, skip, branch_scale
        gain = 2.0 if weight_init == "he" else 1.0
        rng = np.random.default_rng(seed)
        sizes = [input_size] + [width] * (depth + 1) + [output_size]
        self.params: dict[str, np.ndarray] = {}
        for i in range(depth + 2):
            fan_in = sizes[i]
            self.params[f"W{i}"] = rng.standard_normal((fan_in, sizes[i + 1])) * np.sqrt(gain / fan_in)
            self.params[f"b{i}"] = np.zeros(sizes[i + 1])

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Scores (N, C), the block inputs h_0..h_{depth-1}... and the derivatives f'(a_l)."""
        p = self.params
        h = x @ p["W0"] + p["b0"]
        hs, dfs = [h], []
        for l in range(1, self.depth + 1):
            f, df = _activation(self.activation, h @ p[f"W{l}"] + p[f"b{l}"])
            h = h + self.branch_scale * f if self.skip else f
            hs.append(h)
            dfs.append(df)
        L = self.depth + 1
        return h @ p[f"W{L}"] + p[f"b{L}"], hs, dfs

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores (N, C)."""
        return self._forward(x)[0]

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        """Mean softmax cross-entropy for labels t (N,)."""
        y = softmax(self.predict(x))
        return float(-np.mean(np.log(y[np.arange(len(t)), t] + 1e-300)))

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Backpropagation: dL/dparam for every parameter (same keys as ``params``)."""
        return self._backward(x, t)[0]

    def _backward(self, x: np.ndarray, t: np.ndarray) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        """(gradients, [dL/dh_0, ..., dL/dh_depth]): the parameter gradients and the gradient that
        reaches every block's output along the backward path."""
        p = self.params
        scores, hs, dfs = self._forward(x)
        n = len(x)
        dy = softmax(scores)
        dy[np.arange(n), t] -= 1.0
        dy /= n                                                   # (N, C): d mean loss / d scores
        L = self.depth + 1
        grads = {f"W{L}": hs[-1].T @ dy, f"b{L}": dy.sum(axis=0)}
        dh = dy @ p[f"W{L}"].T
        dhs = [dh]
        for l in range(self.depth, 0, -1):
            da = dh * dfs[l - 1] * (self.branch_scale if self.skip else 1.0)
            grads[f"W{l}"], grads[f"b{l}"] = hs[l - 1].T @ da, da.sum(axis=0)
            dh = da @ p[f"W{l}"].T + (dh if self.skip else 0.0)
            dhs.append(dh)
        grads["W0"], grads["b0"] = x.T @ dh, dh.sum(axis=0)
        return grads, dhs[::-1]

    def block_factors(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """The three factors of dL/dW_l = h_{l-1}^T (dL/dh_l * s * f'(a_l)), block by block (l = 1..depth):

        "path"  ||dL/dh_l||      the gradient arriving from above along the backward path
        "input" ||h_{l-1}||      the block's input
        "slope" mean f'(a_l)     the activation's slope
        Each is a (depth,) array, bottom block first.
        """
        _, hs, dfs = self._forward(x)
        _, dhs = self._backward(x, t)
        return {"path": np.array([np.linalg.norm(dhs[l]) for l in range(1, self.depth + 1)]),
                "input": np.array([np.linalg.norm(hs[l - 1]) for l in range(1, self.depth + 1)]),
                "slope": np.array([float(np.mean(dfs[l - 1])) for l in range(1, self.depth + 1)])}

    def block_gradient_norms(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        """(depth,) Frobenius norm of dL/dW_l for the blocks l = 1..depth (bottom to top)."""
        g = self.gradient(x, t)
        return np.array([np.linalg.norm(g[f"W{l}"]) for l in range(1, self.depth + 1)])


def gradient_norm_profile(x: np.ndarray, t: np.ndarray, depth: int = 30, width: int = 64,
                          activation: str = "sigmoid", weight_init: str = "xavier", branch_scale: float = 1.0,
                          seed: int = 0, n_classes: int = 10) -> dict[str, np.ndarray]:
    """Per-block weight-gradient norms at initialisation: {"plain": (depth,), "residual": (depth,)}.

    x: (N, D) inputs, t: (N,) labels. Both nets start from identical weights (same seed).
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    net = SkipMLP(x.shape[1], width, depth, n_classes, activation=activation, weight_init=weight_init,
                  skip=False, branch_scale=branch_scale, seed=seed)
    out = {"plain": net.block_gradient_norms(x, t)}
    net.skip = True                          # the same weights (drawn once), now with the identity paths
    out["residual"] = net.block_gradient_norms(x, t)
    return out


def plot_gradient_norms(x: np.ndarray, t: np.ndarray, depth: int = 30, activation: str = "sigmoid",
                        weight_init: str = "xavier", branch_scale: float = 1.0, width: int = 64,
                        seed: int = 0, status: bool = False, fig: Figure | None = None) -> Figure:
    """Log-scale plot of each block's gradient norm, plain vs residual.

    status=True also prints a one-line status (for the slider panel): the ratio smallest / largest block
    gradient norm for each net (1 = all blocks alike), and the largest norm (a gradient in the millions
    means the signal has exploded).
    fig: a figure this function returned before (a slider panel passes it): its two curves, limits and
    title are updated in place, several times faster than a new figure.
    """
    prof = gradient_norm_profile(x, t, depth, width, activation, weight_init, branch_scale, seed)
    layers = np.arange(1, depth + 1)
    title = f"{depth} blocks, {activation}, {weight_init} init"
    memo = figure_memo(fig) if fig is not None else {}
    if "lines" in memo:
        ax = memo["ax"]
        for line, key in zip(memo["lines"], ("plain", "residual")):
            line.set_data(layers, prof[key])
        ax.set_title(title, fontsize=10)
        ax.relim()
        ax.autoscale_view()
        fig.subplots_adjust(**SubplotParams().to_dict())       # laid out from where a new figure starts,
        fig.tight_layout()                                     # for the new tick labels: the same layout
    else:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        lines = [ax.semilogy(layers, prof["plain"], "o-", ms=3, label="plain")[0],
                 ax.semilogy(layers, prof["residual"], "s-", ms=3, label="with identity skips")[0]]
        plain_log_labels(ax)              # 10⁻⁵ as text: mathtext labels made each redraw several times slower
        ax.set_xlabel("block (1 = nearest the input)")
        ax.set_ylabel("||dL/dW|| at initialisation")
        ax.set_title(title, fontsize=10)
        ax.legend()
        fig.tight_layout()
        figure_memo(fig).update(ax=ax, lines=lines)
    if status:
        ratio = {k: v.min() / v.max() for k, v in prof.items()}
        print(f"smallest/largest block gradient: plain {ratio['plain']:.2g}, residual {ratio['residual']:.2g}; "
              f"largest: plain {prof['plain'].max():.2g}, residual {prof['residual'].max():.2g}")
    return fig


# ---------------------------------------------------------------------------------------------
# 8.1.2 Data augmentation on a small budget
# ---------------------------------------------------------------------------------------------
def small_convnet(seed: int = 0) -> SimpleConvNet:
    """The augmentation experiment's network: SimpleConvNet with 16 5x5 filters, float32, He init."""
    return SimpleConvNet(conv_param={"filter_num": 16, "filter_size": 5, "pad": 0, "stride": 1}, hidden_size=100,
                         weight_init_std="he", dtype=np.float32, seed=seed)


def augmentation_experiment(x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray, t_test: np.ndarray,
                            x_test_moved: np.ndarray, augment: Callable[[np.ndarray, np.random.Generator], np.ndarray],
                            epochs: int, seed: int = 0, batch_size: int = 50, lr: float = 0.001,
                            view: Any = None) -> dict[str, dict[str, Any]]:
    """Train :func:`small_convnet` twice on the same images — without and with ``augment``.

    x_*: (N, 1, 28, 28). x_test_moved: the test images shifted/rotated (same labels t_test).
    view: an open ``chapters.live.LiveTraining`` that draws both runs as they train (None: train quietly).
    Returns {"plain": ..., "augmented": ...}, each with "history" (per-epoch accuracies),
    "train_acc" (on the un-augmented training images), "test_acc" and "moved_acc".
    """
    results = {}
    for key, aug in (("plain", None), ("augmented", augment)):
        net = small_convnet(seed)
        trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=epochs, mini_batch_size=batch_size,
                          optimizer="adam", optimizer_param={"lr": lr}, seed=seed, progress=False, augment=aug,
                          evaluate_sample_num_per_epoch=500)
        if view is None:
            history = trainer.train()
        else:
            from chapters.live import watch           # the live view is optional: imported only when asked for
            history = watch(trainer, view=view, label=key)
        results[key] = {"history": history, "train_acc": net.accuracy(x_train, t_train),
                        "test_acc": net.accuracy(x_test, t_test), "moved_acc": net.accuracy(x_test_moved, t_test)}
    return results


def plot_augmentation_results(results: dict[str, dict[str, Any]]) -> Figure:
    """Bars: train / test / moved-test accuracy for the plain and the augmented run."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    keys = ("train_acc", "test_acc", "moved_acc")
    names = ("training images", "test images", "shifted + rotated test")
    width = 0.38
    for i, run in enumerate(("plain", "augmented")):
        vals = [results[run][k] for k in keys]
        bars = ax.bar(np.arange(3) + (i - 0.5) * width, vals, width, label=run)
        for b, v in zip(bars, vals):
            ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v:.3f}", ha="center", fontsize=8)
    ax.set_xticks(np.arange(3))
    ax.set_xticklabels(names)
    ax.set_xlabel("images the network is tested on")
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("accuracy")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False, title="training")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# 8.1.1 Errors that come from the data: noisy labels
# ---------------------------------------------------------------------------------------------
def noisy_label_data(n: int, flip_prob: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points in 2-D (standard normal); the clean label is 1 where x0 + x1 > 0, and each label is
    flipped with probability ``flip_prob``. flip_prob = 0.5 makes the label a fair coin flip,
    independent of x. Returns x (n, 2) float64 and t (n,) int."""
    x = rng.standard_normal((n, 2))
    clean = (x.sum(axis=1) > 0).astype(np.intp)
    flip = rng.random(n) < flip_prob
    return x, np.where(flip, 1 - clean, clean)


def label_noise_experiment(flip_prob: float, n_train: int = 200, n_test: int = 4000, iters: int = 2000,
                           seed: int = 0) -> dict[str, float]:
    """Train a 2-100-100-2 ReLU MLP (Adam) on noisy labels and measure it on equally noisy test labels.

    Returns {"train_acc", "test_acc", "ceiling"}: ceiling = 1 - flip_prob for flip_prob <= 0.5, the
    accuracy of the *best possible* classifier (the clean rule itself) on such labels.
    """
    rng = np.random.default_rng(seed)
    x_tr, t_tr = noisy_label_data(n_train, flip_prob, rng)
    x_te, t_te = noisy_label_data(n_test, flip_prob, rng)
    net = MultiLayerNet(2, [100, 100], 2, seed=seed)
    opt = make_optimizer("adam", lr=0.01)
    for _ in range(iters):
        opt.update(net.params, net.gradient(x_tr, t_tr))
    return {"train_acc": net.accuracy(x_tr, t_tr), "test_acc": net.accuracy(x_te, t_te),
            "ceiling": 1.0 - min(flip_prob, 1.0 - flip_prob)}


# ---------------------------------------------------------------------------------------------
# 8.3.4 Lower precision: inference in float16
# ---------------------------------------------------------------------------------------------
def cast_state(state: dict[str, np.ndarray], dtype: Any) -> dict[str, np.ndarray]:
    """Every array of a state dict converted to ``dtype`` (new arrays)."""
    return {k: np.asarray(v).astype(dtype) for k, v in state.items()}


def layer_output_dtypes(net: Network, x: np.ndarray) -> list[tuple[str, str]]:
    """(layer name, dtype of its output) for a test-mode forward pass of ``x`` through ``net``.

    Evidence that a float16 network really computes in float16: every intermediate array is checked.
    ``net.layer_outputs`` first casts x to the network's dtype, as ``predict`` does.
    """
    return [(name, str(out.dtype)) for name, _layer, out in net.layer_outputs(x)]


def compare_precisions(net: Network, x: np.ndarray, t: np.ndarray,
                       dtypes: Sequence[Any] = (np.float64, np.float32, np.float16)) -> dict[str, dict[str, Any]]:
    """``net``'s weights cast to each dtype, and the same images scored in that precision.

    ``type(net)(dtype=...)`` must build the same architecture (true of DeepConvNet's defaults).
    The first dtype is the reference. Returns {dtype name: {"net": the network in that dtype,
    "scores": (N, C), "seconds": wall time of predict, "accuracy", "agree": fraction of argmax
    answers equal to the reference's, "max_error": max |score - reference score|,
    "max_rel_error": max_error / max |reference score|}}.
    """
    out: dict[str, dict[str, Any]] = {}
    ref = None
    for dtype in dtypes:
        net_d = type(net)(dtype=dtype)
        net_d.load_state_dict(cast_state(net.state_dict(), dtype))
        start = time.perf_counter()
        scores = net_d.predict(x, train_flg=False)
        seconds = time.perf_counter() - start
        if ref is None:
            ref = scores.astype(np.float64)
        err = float(np.max(np.abs(scores.astype(np.float64) - ref)))
        out[np.dtype(dtype).name] = {
            "net": net_d, "scores": scores, "seconds": seconds,
            "accuracy": float(np.mean(scores.argmax(axis=1) == t)),
            "agree": float(np.mean(scores.argmax(axis=1) == ref.argmax(axis=1))),
            "max_error": err, "max_rel_error": err / float(np.max(np.abs(ref)))}
    return out


# ---------------------------------------------------------------------------------------------
# 8.3.1 Where the time goes
# ---------------------------------------------------------------------------------------------
def blas_threads() -> int | None:
    """The number of threads NumPy's matrix-product library (BLAS) uses now, or None when it
    cannot be told (the optional package ``threadpoolctl`` reads it). NumPy's OpenBLAS uses one
    thread per core unless the environment variable ``OPENBLAS_NUM_THREADS`` says otherwise."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return max(counts) if counts else None


def throughput(net: Network, x: np.ndarray, batch_sizes: Sequence[int] = (1, 10, 100, 1000),
               min_images: int = 200, repeats: int = 2,
               clock: Callable[[], float] = time.process_time) -> dict[int, float]:
    """Images per second of test-mode ``net.predict`` for each batch size (best of ``repeats``).

    Each measurement predicts max(batch_size, min_images) images (at most len(x)) in batches.
    ``clock`` defaults to ``time.process_time``, the CPU time of this process (summed over its
    threads), so other programs competing for a shared machine do not distort the comparison;
    pass ``time.perf_counter`` for wall-clock time.
    """
    out = {}
    for bs in batch_sizes:
        n = min(len(x), max(bs, min_images))
        best = np.inf
        for _ in range(repeats):
            start = clock()
            for i in range(0, n, bs):
                net.predict(x[i:i + bs], train_flg=False)
            best = min(best, clock() - start)
        out[bs] = n / max(best, 1e-9)
    return out


def unfolded_bytes(net: Network, batch_size: int, input_shape: tuple[int, int, int] = (1, 28, 28)) -> dict[str, int]:
    """Bytes of each Convolution's unfolded input (im2col: C*FH*FW x N*OH*OW values) for a batch.

    {conv layer name: bytes}, in the network's dtype; the shapes are measured with one zero image.
    """
    itemsize = np.dtype(net.dtype).itemsize
    out = {}
    for name, layer, o in net.layer_outputs(np.zeros((1, *input_shape), dtype=net.dtype)):
        if isinstance(layer, Convolution):
            out[name] = int(np.prod(layer.W.shape[1:])) * batch_size * int(np.prod(o.shape[2:])) * itemsize
    return out


def plot_throughput(rates: dict[int, float], title: str | None = None,
                    ylabel: str = "images per CPU-second") -> Figure:
    """Images per second against batch size (log x axis, linear y axis from 0)."""
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    bs = sorted(rates)
    ax.semilogx(bs, [rates[b] for b in bs], "o-")
    ax.set_ylim(0, 1.1 * max(rates.values()))
    ax.set_xlabel("batch size (images per call)")
    ax.set_ylabel(ylabel)
    ax.set_xticks(bs)
    ax.set_xticklabels([str(b) for b in bs])
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def layer_times(net: Network, x: np.ndarray, repeats: int = 3,
                clock: Callable[[], float] = time.process_time) -> dict[str, float]:
    """Seconds spent in each layer's test-mode forward pass for the batch x (best of ``repeats``).

    A layer's time is the gap between two successive steps of ``net.layer_outputs``; the first
    layer's includes ``prepare_input`` (no copy when x already has the network's dtype).
    ``clock``: CPU time of this process by default (see :func:`throughput`).
    """
    best: dict[str, float] = {name: np.inf for name in net.layers}
    for _ in range(repeats):
        start = clock()
        for name, _layer, _out in net.layer_outputs(x):
            now = clock()
            best[name] = min(best[name], now - start)
            start = now
    return best


def conv_share(times: dict[str, float], net: Network) -> float:
    """Fraction of the total forward time spent in Convolution layers."""
    conv = sum(t for name, t in times.items() if isinstance(net.layers[name], Convolution))
    return conv / sum(times.values())


def plot_layer_times(times: dict[str, float], net: Network) -> Figure:
    """Horizontal bars of each layer's share of the forward time; conv layers in blue."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    names = list(times)
    total = sum(times.values())
    colors = ["tab:blue" if isinstance(net.layers[n], Convolution) else "tab:gray" for n in names]
    ax.barh(names[::-1], [100 * times[n] / total for n in names][::-1], color=colors[::-1])
    ax.set_xlabel("% of forward time")
    ax.set_ylabel("layer (convolutions in blue)")
    ax.set_title(f"convolution layers: {100 * conv_share(times, net):.0f} % of the time", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# 8.3.3 Distributed learning: data parallelism
# ---------------------------------------------------------------------------------------------
def _shard_gradient(net: Network, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """One worker's part of :func:`data_parallel_gradient` (module-level, so executors can pickle it)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1):
        return net.gradient(x, t)


def data_parallel_gradient(net: Network, x: np.ndarray, t: np.ndarray, n_workers: int,
                           executor: Any = None) -> dict[str, np.ndarray]:
    """The gradient of the mean loss computed as ``n_workers`` workers would: each takes an equal
    shard of the batch, computes its own gradient, and the results are averaged (an "all-reduce").

    For a network without randomness in training mode (no dropout) this equals net.gradient(x, t):
    the mean loss over N samples is the mean of the shards' mean losses when the shards are equal.
    executor: None computes the shards here, one after the other; a concurrent.futures.Executor
    (chapters.executors.local_executor(), a Dask client.get_executor()) has its workers compute them, each
    getting a pickled copy of ``net`` and its shard; the average is the same either way.
    """
    if len(x) % n_workers:
        raise ValueError(f"data_parallel_gradient: {len(x)} samples do not split into {n_workers} equal shards")
    xs, ts = np.split(x, n_workers), np.split(t, n_workers)
    shards = list((map if executor is None else executor.map)(_shard_gradient, [net] * n_workers, xs, ts))
    return {k: sum(g[k] for g in shards) / n_workers for k in shards[0]}


def federated_average(net: Network, shards: Sequence[tuple[np.ndarray, np.ndarray]], lr: float,
                      local_steps: int) -> dict[str, np.ndarray]:
    """One round of federated averaging (FedAvg) with plain SGD, leaving ``net`` unchanged.

    Every client starts from the current parameters, takes ``local_steps`` SGD steps on its own
    shard (x, t) — its data never leaves it — and sends back only its parameters; the server averages
    them (weighted by shard size). With one local step this is exactly one data-parallel SGD step;
    with more local steps the clients drift apart and the average is something else.
    Returns the averaged parameters (same keys as ``net.params``).
    """
    start = {k: v.copy() for k, v in net.params.items()}
    total = sum(len(x) for x, _ in shards)
    average = {k: np.zeros_like(v) for k, v in start.items()}
    try:
        for x, t in shards:
            for k in start:
                net.params[k][...] = start[k]                  # in place: the layers share these arrays
            for _ in range(local_steps):
                grads = net.gradient(x, t)
                for k in net.params:
                    net.params[k] -= lr * grads[k]
            for k in average:
                average[k] += net.params[k] * (len(x) / total)
    finally:
        for k in start:
            net.params[k][...] = start[k]
    return average


# ---------------------------------------------------------------------------------------------
# 8.5.2 Generating data: a GAN in one dimension
# ---------------------------------------------------------------------------------------------
def _quadratic_features(x: np.ndarray) -> np.ndarray:
    """(n,) -> (n, 3): x^2, x, 1 — the discriminator is logistic regression on these."""
    return np.stack([x * x, x, np.ones_like(x)], axis=1)


def toy_gan_1d(steps: int = 2000, d_steps: int = 5, lr_d: float = 0.2, lr_g: float = 0.02, real_mean: float = 3.0,
               real_std: float = 0.5, batch: int = 256, seed: int = 0) -> dict[str, np.ndarray]:
    """A generative adversarial network small enough to write out by hand.

    Real data: N(real_mean, real_std^2). Generator: G(z) = a z + b with z ~ N(0, 1), so it can match
    the data exactly with a = real_std, b = real_mean. Discriminator: D(x) = sigmoid(w0 x^2 + w1 x + w2),
    which can express the log-ratio of any two Gaussians — the best possible referee for this game.
    Each step: ``d_steps`` gradient *ascent* steps of D on mean log D(real) + mean log(1 - D(fake)),
    then one step of G on mean log D(G(z)) (the "non-saturating" generator loss).

    Returns {"a": (steps + 1,), "b": (steps + 1,), "w": (3,) final discriminator}. Sums are
    element-wise (no BLAS), so a seed gives the same path on every machine.
    """
    rng = np.random.default_rng(seed)
    a, b, w = 1.0, 0.0, np.zeros(3)
    path_a, path_b = [a], [b]
    for _ in range(steps):
        for _ in range(d_steps):
            fr = _quadratic_features(rng.normal(real_mean, real_std, batch))
            ff = _quadratic_features(a * rng.standard_normal(batch) + b)
            dr = 1.0 / (1.0 + np.exp(-(fr * w).sum(axis=1)))
            df = 1.0 / (1.0 + np.exp(-(ff * w).sum(axis=1)))
            # d/dw [log D(real)] = (1 - D) * features;  d/dw [log(1 - D(fake))] = -D * features
            w = w + lr_d * (((1 - dr)[:, None] * fr).mean(axis=0) - (df[:, None] * ff).mean(axis=0))
        z = rng.standard_normal(batch)
        x_fake = a * z + b
        df = 1.0 / (1.0 + np.exp(-(_quadratic_features(x_fake) * w).sum(axis=1)))
        dlogd_dx = (1 - df) * (2 * w[0] * x_fake + w[1])             # d log D(x) / dx at the fakes
        a, b = a + lr_g * float(np.mean(dlogd_dx * z)), b + lr_g * float(np.mean(dlogd_dx))
        path_a.append(a)
        path_b.append(b)
    return {"a": np.array(path_a), "b": np.array(path_b), "w": w}


def plot_toy_gan(runs: dict[str, dict[str, np.ndarray]], real_mean: float = 3.0, real_std: float = 0.5) -> Figure:
    """Left: the generator's (b, |a|) = (mean, std) during training for each run; right: final densities
    (a run's name up to its first " (" labels its curve)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    xs = np.linspace(real_mean - 4 * real_std - 1, real_mean + 4 * real_std + 1, 400)
    gauss = lambda m, s: np.exp(-0.5 * ((xs - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))   # noqa: E731
    axes[1].fill_between(xs, gauss(real_mean, real_std), alpha=0.3, color="gray", label="real data")
    for name, r in runs.items():
        line, = axes[0].plot(r["b"], np.abs(r["a"]), lw=1, label=name)
        axes[0].plot(r["b"][-1], abs(r["a"][-1]), "o", color=line.get_color())
        s = max(abs(r["a"][-1]), 0.03)
        short = name.split(" (")[0]
        axes[1].plot(xs, gauss(r["b"][-1], s), color=line.get_color(), label=f"{short}: std {abs(r['a'][-1]):.2f}")
    axes[0].plot(real_mean, real_std, "k*", ms=12, label="target")
    axes[0].set_xlabel("generator mean b")
    axes[0].set_ylabel("generator std |a|")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("x")
    axes[1].set_ylabel("density")
    axes[1].set_ylim(0, 2.5 / real_std)
    axes[1].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# 8.3.2 GPU: the optional CuPy backend
# ---------------------------------------------------------------------------------------------
def gpu_status() -> tuple[bool, str]:
    """(available, reason): can ``DLFS_DEVICE=gpu`` run here (CuPy installed and a GPU present)?"""
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False, ("CuPy is not installed (for an NVIDIA GPU: pip install cupy-cuda12x, matching your "
                       "CUDA version)")
    try:
        select_backend("gpu")
    except BackendError as e:
        return False, str(e).replace(" Unset DLFS_DEVICE to run on the CPU.", "")
    return True, "CuPy and a GPU are available"


_GPU_SCRIPT = """
import json, sys, time
import numpy
from common.backend import DEVICE, np
from common.networks import DeepConvNet
from dataset.mnist import load_mnist
weights, n, bs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
(_, _), (x, t) = load_mnist(normalize=True, flatten=False)
x, t = x[:n], t[:n]
net = DeepConvNet(dtype=numpy.float32)
net.load_params(weights)
net.accuracy(x[:bs], t[:bs], batch_size=bs)           # warm-up: compile kernels, allocate memory
np.cuda.Stream.null.synchronize()
start = time.perf_counter()
acc = net.accuracy(x, t, batch_size=bs)
np.cuda.Stream.null.synchronize()
print(json.dumps({"device": DEVICE, "accuracy": acc, "seconds": time.perf_counter() - start, "images": n}))
"""


def gpu_inference_benchmark(weights_path: str | os.PathLike, n_images: int = 10000, batch_size: int = 500,
                            timeout: float = 600) -> dict[str, Any]:
    """Time DeepConvNet inference on the GPU in a fresh process started with ``DLFS_DEVICE=gpu``.

    The backend is chosen once, at import, so the GPU run needs its own interpreter. Returns the
    child's JSON: device, accuracy, seconds, images. Raises RuntimeError if the child fails.
    """
    env = {**os.environ, "DLFS_DEVICE": "gpu"}
    proc = subprocess.run([sys.executable, "-c", _GPU_SCRIPT, str(weights_path), str(n_images), str(batch_size)],
                          env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"GPU benchmark failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


__all__ = ["SkipMLP", "gradient_norm_profile", "plot_gradient_norms", "small_convnet", "augmentation_experiment",
           "plot_augmentation_results", "noisy_label_data", "label_noise_experiment", "cast_state",
           "layer_output_dtypes", "compare_precisions", "blas_threads", "throughput",
           "unfolded_bytes", "plot_throughput", "layer_times", "conv_share", "plot_layer_times",
           "data_parallel_gradient", "federated_average", "toy_gan_1d", "plot_toy_gan", "gpu_status",
           "gpu_inference_benchmark"]
