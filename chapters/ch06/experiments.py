"""The MNIST experiments of the chapter 6 notebook, as plain functions (book sections 6.1.8-6.5).

Each experiment returns plain data (arrays, dicts, ``History`` objects) and has a matching figure
function that returns a Matplotlib ``Figure``. The notebook runs the experiment once, draws it, and
checks what the text claims; slider callbacks read those stored results instead of retraining.

Book sections:

- 6.1.8, 6.2.4  iteration-budgeted training on random mini-batches: the optimizer and the initial
                weight comparisons on MNIST
- 6.2.2-6.2.3   hidden-layer activation histograms for several weight scales (in ``activations.py``,
                re-exported)
- 6.2, 6.3      per-layer statistics of a network: activation spread and gradient norms
- 6.3.2         Batch Normalization vs none across weight scales
- 6.4           overfitting, weight decay (L2, and L1 for comparison) and dropout runs
- 6.5           validation split, random search and random-vs-grid search (in ``search.py``, re-exported)

Every training experiment takes an optional ``view`` (a ``chapters.live.LiveTraining``): given one, each
run is drawn into it while it trains (one line per run), so a reader sees a long cell progress. The
results do not depend on it. :func:`optimizer_run` is one run of 6.1.8 (its control panel:
``chapters.training_panels.optimizer_panel``). The experiments of several runs (:func:`compare_optimizers`,
:func:`compare_weight_inits`, :func:`bn_weight_scale_experiment`, :func:`bn_scale_lr_grid`,
:func:`regularisation_runs`) also take an
``executor`` that trains the runs side by side, with the same results (see ``parallel.py``).
"""
from __future__ import annotations

import concurrent.futures
from typing import Any, Callable, Hashable, Iterator, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from chapters.ch06.parallel import map_runs, one_blas_thread, show_finished_run
from chapters.figures import axes_for
from chapters.live import LiveTraining, watch
from common.layers import Affine, BatchNormalization, Dropout
from common.networks import MultiLayerNet, MultiLayerNetExtend, init_scale
from common.optimizer import make_optimizer
from common.trainer import History, Trainer
from common.util import smooth_curve


# =============================================================================================
# Training for a fixed number of iterations (6.1.8, 6.2.4)
# =============================================================================================
def train_iterations(network: Any, optimizer: Any, x: np.ndarray, t: np.ndarray, iters: int,
                     batch_size: int = 128, seed: int = 0, view: LiveTraining | None = None) -> np.ndarray:
    """The book's loop: ``iters`` updates, each on a random mini-batch drawn with replacement.

    x: (N, D) inputs, t: (N,) labels. Returns the training loss of each mini-batch, shape (iters,), or
    fewer if ``view``'s Stop ended the loop early.
    """
    rng = np.random.default_rng(seed)
    losses = np.empty(iters)
    for i in range(iters):
        idx = rng.integers(0, len(x), size=batch_size)
        loss, grads = network.loss_and_gradient(x[idx], t[idx])
        optimizer.update(network.params, grads)
        losses[i] = float(loss)
        if not np.isfinite(losses[i]):
            raise FloatingPointError(f"train_iterations: loss became {losses[i]} at iteration {i}")
        if view is not None:
            view.record_loss(losses[i])
            if view.stop_requested:
                return losses[:i + 1]
    return losses


#: The book's optimizer settings for the MNIST comparison (lr only; the rest are defaults).
BOOK_MNIST_OPTIMIZERS: dict[str, tuple[str, dict]] = {
    "SGD": ("sgd", {"lr": 0.01}),
    "Momentum": ("momentum", {"lr": 0.01}),
    "AdaGrad": ("adagrad", {"lr": 0.01}),
    "Adam": ("adam", {"lr": 0.001}),
}


def _iterations_run(x: np.ndarray, t: np.ndarray, iters: int, hidden: Sequence[int], activation: str,
                    weight_init_std: float | str, optimizer: str, optimizer_param: dict, batch_size: int, seed: int,
                    dtype: Any, view: Any = None) -> np.ndarray:
    """One run of :func:`compare_optimizers` / :func:`compare_weight_inits`: a fresh net (seeded by ``seed``),
    ``iters`` updates of :func:`train_iterations`; returns its losses."""
    net = MultiLayerNet(x.shape[1], hidden, 10, activation=activation, weight_init_std=weight_init_std, dtype=dtype,
                        seed=seed)
    return train_iterations(net, make_optimizer(optimizer, **optimizer_param), x, t, iters, batch_size, seed, view)


def _iterations_runs(runs: dict[str, dict[str, Any]], view: LiveTraining | None,
                     executor: concurrent.futures.Executor | None) -> dict[str, np.ndarray]:
    """label -> losses of ``_iterations_run(**runs[label])``: here, one after the other, each drawn live into
    ``view``; or on ``executor``'s workers, ``view`` showing each as it comes back. One BLAS thread either way
    (see ``chapters.ch06.parallel``), so the curves are identical."""
    curves = {}
    if executor is None:
        with one_blas_thread():
            for label, run in runs.items():
                if view is not None:
                    view.start_run(label, run["iters"])
                curves[label] = _iterations_run(**run, view=view)
        return curves
    for (label, run), (losses, recorder) in zip(runs.items(), map_runs(_iterations_run, list(runs.values()),
                                                                       executor, record=True)):
        if view is not None:
            show_finished_run(view, label, recorder.history(), run["iters"])
        curves[label] = losses
    return curves


def compare_optimizers(x: np.ndarray, t: np.ndarray, iters: int,
                       optimizers: dict[str, tuple[str, dict]] | None = None,
                       hidden: Sequence[int] = (100, 100, 100, 100), batch_size: int = 128, seed: int = 0,
                       dtype: Any = np.float32, view: LiveTraining | None = None,
                       executor: concurrent.futures.Executor | None = None) -> dict[str, np.ndarray]:
    """Train one identical ReLU net (He init, same seed) per optimizer on the same mini-batches.

    optimizers: label -> (name, kwargs) for ``make_optimizer`` (default: the book's four).
    Returns label -> per-iteration losses, shape (iters,).
    executor: None trains the runs here, one after the other; an Executor
    (:func:`chapters.executors.local_executor`, ...) trains them side by side, with the same results.
    """
    optimizers = optimizers or BOOK_MNIST_OPTIMIZERS
    return _iterations_runs({label: {"x": x, "t": t, "iters": iters, "hidden": hidden, "activation": "relu",
                                     "weight_init_std": "he", "optimizer": name, "optimizer_param": kwargs,
                                     "batch_size": batch_size, "seed": seed, "dtype": dtype}
                             for label, (name, kwargs) in optimizers.items()}, view, executor)


def compare_weight_inits(x: np.ndarray, t: np.ndarray, iters: int, inits: dict[str, float | str] | None = None,
                         hidden: Sequence[int] = (100, 100, 100, 100), activation: str = "relu",
                         lr: float = 0.01, batch_size: int = 128, seed: int = 0,
                         dtype: Any = np.float32, view: LiveTraining | None = None,
                         executor: concurrent.futures.Executor | None = None,
                         reuse: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The book's 6.2.4: the same net and SGD(lr), one run per initial weight scale.

    inits: label -> weight_init_std (a number, "xavier" or "he"). Returns label -> losses (iters,), in the
    order of ``inits``.
    executor: as in :func:`compare_optimizers`.
    reuse: label -> the losses of a run already trained in exactly this setting, taken as they are instead of
    training it again. With the defaults, "He" is :func:`compare_optimizers`' "SGD" run (He init, SGD with
    lr 0.01, the same seed, net and mini-batches). Only the label and the length can be checked here: that
    the setting is the same is the caller's word (retrain a few iterations and compare, as ch06 does).
    """
    inits = inits or {"std=0.01": 0.01, "Xavier": "xavier", "He": "he"}
    reuse = dict(reuse or {})
    for label, losses in reuse.items():
        if label not in inits:
            raise ValueError(f"compare_weight_inits: reuse names {label!r}, which is not one of the runs "
                             f"{list(inits)}")
        if np.shape(losses) != (iters,):
            raise ValueError(f"compare_weight_inits: the losses reused for {label!r} have shape "
                             f"{np.shape(losses)}, not ({iters},) for iters={iters}")
    trained = _iterations_runs({label: {"x": x, "t": t, "iters": iters, "hidden": hidden, "activation": activation,
                                        "weight_init_std": std, "optimizer": "sgd", "optimizer_param": {"lr": lr},
                                        "batch_size": batch_size, "seed": seed, "dtype": dtype}
                                for label, std in inits.items() if label not in reuse}, view, executor)
    return {label: (np.asarray(reuse[label]) if label in reuse else trained[label]) for label in inits}


def final_loss(losses: np.ndarray, last: int = 100) -> float:
    """Mean of the last ``last`` mini-batch losses: a less noisy 'final loss' than the last value."""
    losses = np.asarray(losses)
    return float(np.mean(losses[-min(last, len(losses)):]))


def plot_loss_comparison(curves: dict[str, np.ndarray], smooth: int = 31, title: str | None = None,
                         ylim: tuple[float, float] | None = (0, 2.5), ax: Axes | None = None) -> Figure:
    """Smoothed per-iteration loss curves, one per label."""
    fig, ax = axes_for(ax, figsize=(6, 3.6))
    markers = "osDv^<>"
    for k, (label, losses) in enumerate(curves.items()):
        w = min(smooth, len(losses) - (1 - len(losses) % 2)) if len(losses) > 2 else 1
        y = smooth_curve(losses, max(1, w))
        ax.plot(y, label=label, marker=markers[k % len(markers)], markevery=max(1, len(y) // 10), ms=4)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if ylim:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.legend()
    return fig


def optimizer_run(x: np.ndarray, t: np.ndarray, optimizer: str = "sgd", lr: float = 0.01, iters: int = 2000,
                  hidden: Sequence[int] = (100, 100, 100, 100), batch_size: int = 128, seed: int = 0,
                  dtype: Any = np.float32, view: LiveTraining | None = None) -> np.ndarray:
    """6.1.8 for one optimizer: the net and mini-batches of :func:`compare_optimizers`, ``iters`` updates.

    optimizer: a name from ``common.optimizer`` ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam").
    Returns the loss of each mini-batch, shape (iters,) (fewer if ``view``'s Stop ended it). One BLAS thread,
    as the comparison's runs, so the losses equal those of the comparison's run with that optimizer.
    """
    if view is not None:
        view.start_run(f"{optimizer}, lr {lr:.3g}", iters)
    with one_blas_thread():
        return _iterations_run(x, t, iters, hidden, "relu", "he", optimizer, {"lr": lr}, batch_size, seed, dtype, view)


# =============================================================================================
# 6.2 Hidden-layer activations for different initial weight scales: in chapters/ch06/activations.py
# (re-exported here for ``ex.hidden_activations`` etc.)
# =============================================================================================
from chapters.ch06.activations import (ACTIVATION_FUNCTIONS, HIST_RANGES,  # noqa: E402,F401
                                       activation_histogram_explorer, activation_spread_table,
                                       hidden_activations, plot_activation_histograms, spread_across_inputs,
                                       std_label)


# =============================================================================================
# Per-layer statistics of a network (6.2, 6.3)
# =============================================================================================
def affine_output_stds(network: Any, x: np.ndarray, train_flg: bool = True) -> list[float]:
    """Standard deviation of what enters each activation: the output of each Affine (after BN, if any).

    x: (N, D) inputs. One value per Affine layer, in order; the last one (the scores) is included.
    """
    walk = [(layer, h) for _name, layer, h in network.layer_outputs(x, train_flg)]
    following = [layer for layer, _h in walk[1:]] + [None]
    return [float(np.std(h)) for (layer, h), nxt in zip(walk, following)
            if isinstance(layer, BatchNormalization)
            or (isinstance(layer, Affine) and not isinstance(nxt, BatchNormalization))]


def weight_gradient_norms(network: Any, x: np.ndarray, t: np.ndarray) -> list[float]:
    """Norm ||dL/dW_i|| of each weight matrix W1, W2, ... for one batch (x, t)."""
    grads = network.gradient(x, t)
    keys = sorted((k for k in grads if k.startswith("W")), key=lambda k: int(k[1:]))
    return [float(np.linalg.norm(grads[k])) for k in keys]


# =============================================================================================
# 6.3.2 Batch Normalization across weight scales
# =============================================================================================
def train_epochs(network: Any, optimizer: Any, x: np.ndarray, t: np.ndarray, epochs: int,
                 batch_size: int = 100, seed: int = 0, view: LiveTraining | None = None) -> np.ndarray:
    """Epochs of shuffled mini-batches; returns the training accuracy after each epoch, shape (epochs,).

    A run whose loss overflows (inf or nan, e.g. a deep net without BN started with std = 1) is
    stopped; its remaining epochs are recorded as nan ("diverged") instead of raising.
    """
    rng = np.random.default_rng(seed)
    acc = np.full(epochs, np.nan)
    for e in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            with np.errstate(over="ignore", invalid="ignore"):
                loss, grads = network.loss_and_gradient(x[idx], t[idx])
            if not np.isfinite(loss) or not all(np.all(np.isfinite(g)) for g in grads.values()):
                return acc
            optimizer.update(network.params, grads)
            if view is not None:
                view.record_loss(loss)
        acc[e] = network.accuracy(x, t)
        if view is not None:
            view.record_epoch(train_acc=acc[e])
    return acc


def _bn_run(x_train: np.ndarray, t_train: np.ndarray, scale: float, use_bn: bool, epochs: int,
            hidden: Sequence[int], lr: float, batch_size: int, seed: int, dtype: Any,
            last_layer_std: float | str | None, view: Any = None) -> tuple[np.ndarray, MultiLayerNetExtend]:
    """One run of :func:`bn_weight_scale_experiment`: (train accuracy per epoch, trained network)."""
    net = MultiLayerNetExtend(x_train.shape[1], hidden, 10, weight_init_std=float(scale),
                              use_batchnorm=use_bn, dtype=dtype, seed=seed)
    if last_layer_std is not None:
        W = net.params[f"W{len(hidden) + 1}"]
        W[...] = W / scale * init_scale(last_layer_std, W.shape[0])
    return train_epochs(net, make_optimizer("sgd", lr=lr), x_train, t_train, epochs, batch_size, seed, view), net


def bn_weight_scale_experiment(x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray, t_test: np.ndarray,
                               weight_scales: Sequence[float], epochs: int = 20,
                               hidden: Sequence[int] = (100, 100, 100, 100, 100), lr: float = 0.01,
                               batch_size: int = 100, seed: int = 0, dtype: Any = np.float32,
                               last_layer_std: float | str | None = None,
                               view: LiveTraining | None = None,
                               executor: concurrent.futures.Executor | None = None) -> dict[str, np.ndarray]:
    """The book's figure 6-19: SGD(lr) with and without BN, one pair of runs per weight scale.

    Every weight matrix starts with std = scale, except the output layer's when ``last_layer_std``
    is given (used to test where the remaining dependence on the scale comes from).
    Returns {"scales": (S,), "bn_train": (S, epochs), "plain_train": (S, epochs),
    "bn_test": (S,), "plain_test": (S,)}: train accuracy per epoch (nan after a divergence),
    test accuracy at the end (nan if diverged).
    executor: None trains the runs here, one after the other (``view`` draws each as it trains); an Executor
    (:func:`chapters.executors.local_executor`, a Dask ``client.get_executor()``) trains them on its workers,
    one task per run (see ``chapters.ch06.parallel``), and ``view`` shows each finished run as it comes back.
    Every run is seeded by ``seed`` and trains with one BLAS thread either way, and the test accuracy is
    measured here (the test set does not travel), so the results are identical either way.
    """
    res = {"scales": np.asarray(weight_scales, dtype=float)}
    for key in ("bn", "plain"):
        res[f"{key}_train"] = np.zeros((len(weight_scales), epochs))
        res[f"{key}_test"] = np.zeros(len(weight_scales))
    runs = [(s, key, {"x_train": x_train, "t_train": t_train, "scale": scale, "use_bn": use_bn, "epochs": epochs,
                      "hidden": hidden, "lr": lr, "batch_size": batch_size, "seed": seed, "dtype": dtype,
                      "last_layer_std": last_layer_std})
            for s, scale in enumerate(weight_scales) for key, use_bn in (("bn", True), ("plain", False))]
    iters = -(-len(x_train) // batch_size)

    def label(run: dict[str, Any]) -> str:
        return f"W std {run['scale']:.2g}, {'with' if run['use_bn'] else 'without'} BN"

    def serial() -> Iterator[tuple[tuple[np.ndarray, MultiLayerNetExtend], None]]:
        for _s, _key, run in runs:
            if view is not None:
                view.start_run(label(run), epochs * iters, iters, epochs)
            yield _bn_run(**run, view=view), None

    outcomes = serial() if executor is None else map_runs(_bn_run, [run for *_, run in runs], executor, record=True)
    with one_blas_thread():                  # the serial runs and every test accuracy: as on a worker
        for (s, key, run), ((acc, net), recorder) in zip(runs, outcomes):
            if recorder is not None and view is not None:
                show_finished_run(view, label(run), recorder.history(), epochs * iters, iters, epochs)
            res[f"{key}_train"][s] = acc
            res[f"{key}_test"][s] = net.accuracy(x_test, t_test) if np.isfinite(acc[-1]) else np.nan
    return res


def _bn_lr_run(x_train: np.ndarray, t_train: np.ndarray, scale: float, lr: float, epochs: int,
               hidden: Sequence[int], seed: int, dtype: Any, view: Any = None) -> tuple[np.ndarray, float]:
    """One cell of :func:`bn_scale_lr_grid`: (train accuracy per epoch, how far W1 moved relative to its start)."""
    net = MultiLayerNetExtend(x_train.shape[1], hidden, 10, weight_init_std=float(scale), use_batchnorm=True,
                              dtype=dtype, seed=seed)
    W1_start = net.params["W1"].copy()
    acc = train_epochs(net, make_optimizer("sgd", lr=lr), x_train, t_train, epochs, seed=seed, view=view)
    moved = float(np.linalg.norm(net.params["W1"] - W1_start) / np.linalg.norm(W1_start))
    return acc, moved


def bn_scale_lr_grid(x_train: np.ndarray, t_train: np.ndarray, scales: Sequence[float], lrs: Sequence[float],
                     epochs: int = 20, hidden: Sequence[int] = (100, 100, 100, 100, 100), seed: int = 0,
                     dtype: Any = np.float32, view: LiveTraining | None = None,
                     executor: concurrent.futures.Executor | None = None) -> dict[tuple[float, float], tuple[float, float]]:
    """The BN network trained by SGD from every initial weight scale with every learning rate.

    Returns (scale, lr) -> (final train accuracy, ||W1 - W1_start|| / ||W1_start||), in the order scale by
    scale, lr by lr. executor: as in :func:`bn_weight_scale_experiment` (one task per run, one BLAS
    thread either way, so the numbers are identical either way).
    """
    cells = [(float(scale), float(lr)) for scale in scales for lr in lrs]
    runs = [{"x_train": x_train, "t_train": t_train, "scale": scale, "lr": lr, "epochs": epochs, "hidden": hidden,
             "seed": seed, "dtype": dtype} for scale, lr in cells]
    iters = -(-len(x_train) // 100)                # train_epochs' batches of 100

    def serial() -> Iterator[tuple[tuple[np.ndarray, float], None]]:
        with one_blas_thread():
            for (scale, lr), run in zip(cells, runs):
                if view is not None:
                    view.start_run(f"std {scale:g}, lr {lr:g}", epochs * iters, iters, epochs)
                yield _bn_lr_run(**run, view=view), None

    outcomes = serial() if executor is None else map_runs(_bn_lr_run, runs, executor, record=True)
    table = {}
    for (scale, lr), ((acc, moved), recorder) in zip(cells, outcomes):
        if recorder is not None and view is not None:
            show_finished_run(view, f"std {scale:g}, lr {lr:g}", recorder.history(), epochs * iters, iters, epochs)
        table[(scale, lr)] = (float(acc[-1]), moved)
    return table


def plot_bn_grid(res: dict[str, np.ndarray], ncols: int = 4) -> Figure:
    """One small panel per weight scale: training accuracy per epoch with BN (solid) and without (dashed)."""
    scales = res["scales"]
    nrows = int(np.ceil(len(scales) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 1.7 * nrows), sharex=True, sharey=True,
                             squeeze=False)
    epochs = np.arange(1, res["bn_train"].shape[1] + 1)
    for k, ax in enumerate(axes.ravel()):
        if k >= len(scales):
            ax.axis("off")
            continue
        ax.plot(epochs, res["bn_train"][k], color="tab:blue", lw=1.5, label="with BN")
        ax.plot(epochs, res["plain_train"][k], "--", color="tab:orange", lw=1.5, label="without BN")
        diverged = " (no BN: diverged)" if np.isnan(res["plain_train"][k, -1]) else ""
        ax.set_title(f"W std = {scales[k]:.2g}{diverged}", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.supxlabel("epoch", fontsize=9)
    fig.supylabel("train accuracy", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=8, frameon=False)
    return fig


# =============================================================================================
# 6.4 Overfitting, weight decay, dropout
# =============================================================================================
def regularisation_run(x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray, t_test: np.ndarray,
                       epochs: int, hidden: Sequence[int] = (100,) * 6, lr: float = 0.01,
                       weight_decay_lambda: float = 0.0, weight_decay_type: str = "l2",
                       use_dropout: bool = False, dropout_ratio: float = 0.5, dropout_mode: str = "book",
                       eval_samples: int | None = 1000, batch_size: int = 100, seed: int = 0,
                       dtype: Any = np.float32, view: LiveTraining | None = None,
                       label: str = "") -> tuple[History, MultiLayerNetExtend]:
    """The book's 6.4 setting: a 7-layer ReLU net (He init) trained by SGD on a small training set.

    Accuracies are measured once per epoch on at most ``eval_samples`` samples of each set.
    Returns (history, trained network).
    """
    net = MultiLayerNetExtend(x_train.shape[1], hidden, 10, weight_decay_lambda=weight_decay_lambda,
                              weight_decay_type=weight_decay_type, use_dropout=use_dropout,
                              dropout_ratio=dropout_ratio, dropout_mode=dropout_mode, dtype=dtype, seed=seed)
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=epochs, mini_batch_size=batch_size,
                      optimizer="sgd", optimizer_param={"lr": lr}, evaluate_sample_num_per_epoch=eval_samples,
                      seed=seed, progress=False)
    return (trainer.train() if view is None else watch(trainer, view=view, label=label)), net


def regularisation_runs(x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray, t_test: np.ndarray,
                        epochs: int, runs: dict[Hashable, dict[str, Any]], label: Callable[[Any], str] = str,
                        view: LiveTraining | None = None, executor: concurrent.futures.Executor | None = None,
                        **shared: Any) -> dict[Hashable, tuple[History, MultiLayerNetExtend]]:
    """Several :func:`regularisation_run` s on the same data. runs: key -> that run's own keyword arguments
    (e.g. ``{("l2", 0.1): {"weight_decay_type": "l2", "weight_decay_lambda": 0.1}}``); shared: the ones they
    all take (eval_samples, hidden, lr, seed, ...); label(key): the run's name in ``view``.
    Returns key -> (history, trained network), in the order of ``runs``.

    executor: None trains the runs here, one after the other (``view`` draws each as it trains); an Executor
    (:func:`chapters.executors.local_executor`, a Dask ``client.get_executor()``) trains them on its workers,
    one task per run (see ``chapters.ch06.parallel``), and ``view`` shows each finished run as it comes back,
    its network with it. Each run is seeded by its ``seed`` (default 0) and trains with one BLAS thread either
    way, so the results are identical either way.
    """
    if executor is None:
        with one_blas_thread():
            return {key: regularisation_run(x_train, t_train, x_test, t_test, epochs, **shared, **own, view=view,
                                            label=label(key)) for key, own in runs.items()}
    specs = [{"x_train": x_train, "t_train": t_train, "x_test": x_test, "t_test": t_test, "epochs": epochs,
              **shared, **own} for own in runs.values()]
    results = {}
    for key, spec, (history, net) in zip(runs, specs, map_runs(regularisation_run, specs, executor)):
        if view is not None:
            batch = min(spec.get("batch_size", 100), len(x_train))         # regularisation_run's default
            iters = -(-len(x_train) // batch)
            show_finished_run(view, label(key), history, epochs * iters, iters, epochs)
        results[key] = history, net
    return results


def gap(history: History, last: int = 10) -> float:
    """Train minus test accuracy, averaged over the last ``last`` epochs."""
    k = min(last, len(history.train_acc))
    return float(np.mean(history.train_acc[-k:]) - np.mean(history.test_acc[-k:]))


def plot_history(history: History, title: str | None = None, ax: Axes | None = None) -> Figure:
    """Train (solid) and test (dashed) accuracy per epoch."""
    fig, ax = axes_for(ax, figsize=(5, 3.2))
    epochs = np.arange(1, len(history.train_acc) + 1)
    ax.plot(epochs, history.train_acc, label="train", color="tab:blue")
    ax.plot(epochs, history.test_acc, "--", label="test", color="tab:orange")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def _show_run(results: dict[Any, History], key: Any, label: str) -> Figure:
    """Draw the precomputed run ``results[key]`` titled with its status line, and print that line.

    train and test are the final accuracies; the gap is :func:`gap`, averaged over the last 10 epochs
    (the same number as in the notebook's tables), hence "gap (last 10 ep.)".
    """
    if key not in results:
        raise KeyError(f"no precomputed run for {label} ({key!r}); have {sorted(results)}")
    h = results[key]
    status = (f"{label}: train {h.train_acc[-1]:.3f}, test {h.test_acc[-1]:.3f}, "
              f"gap (last 10 ep.) {gap(h):.3f}")
    fig = plot_history(h, status)
    print(status)
    return fig


def show_weight_decay_run(results: dict[tuple[str, float], History], penalty: str = "l2",
                          lam: float = 0.1) -> Figure:
    """Slider callback over precomputed runs: results[(penalty, lam)] is a History.

    Prints e.g. ``L2, lambda=0.1: train 0.903, test 0.711, gap (last 10 ep.) 0.199``.
    """
    return _show_run(results, (penalty, lam), f"{penalty.upper()}, lambda={lam:g}")


def show_dropout_run(results: dict[float, History], ratio: float = 0.2) -> Figure:
    """Slider callback over precomputed runs: results[ratio] is a History (ratio 0: no dropout).

    Prints e.g. ``dropout ratio=0.1: train 0.983, test 0.741, gap (last 10 ep.) 0.244``.
    """
    return _show_run(results, ratio, f"dropout ratio={ratio:g}")


def plot_weight_histograms(networks: dict[str, Any], key: str = "W2", bins: int = 81,
                           xlim: float = 0.4) -> Figure:
    """Histograms of one weight matrix (default the first hidden-to-hidden W2) per labelled network."""
    fig, axes = plt.subplots(1, len(networks), figsize=(3.2 * len(networks), 2.6), sharey=True, squeeze=False)
    for ax, (label, net) in zip(axes[0], networks.items()):
        w = np.asarray(net.params[key], dtype=float).ravel()
        ax.hist(w, bins=bins, range=(-xlim, xlim), color="tab:blue")
        ax.set_title(f"{label}\n|W|<0.01: {np.mean(np.abs(w) < 0.01):.0%}", fontsize=9)
        ax.set_xlabel(f"weight value ({key})", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("number of weights", fontsize=8)
    fig.tight_layout()
    return fig


def dropout_expectation(x: np.ndarray, ratio: float, mode: str, n_masks: int = 2000,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Average a Dropout layer's training output over ``n_masks`` masks, and give its test output.

    x: (N, D). Returns (mean training-mode output, test-mode output), both (N, D). The two agree
    (up to sampling noise) in both modes: that is the point of either scaling rule.
    """
    layer = Dropout(ratio, mode=mode, rng=seed)
    total = np.zeros_like(x, dtype=np.float64)
    for _ in range(n_masks):
        total += layer.forward(x, train_flg=True)
    return total / n_masks, layer.forward(x, train_flg=False)


# =============================================================================================
# 6.5 Hyperparameter search: in chapters/ch06/search.py (re-exported here for ``ex.random_search`` etc.)
# =============================================================================================
from chapters.ch06.search import (format_trials, grid_points, grid_vs_random, log_uniform,  # noqa: E402,F401
                                  narrowed_range, one_param_objective, plot_grid_vs_random, plot_search_scatter,
                                  random_points, random_search, retrain_trial, split_validation, top_trials)
