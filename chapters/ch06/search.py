"""Book section 6.5, hyperparameter validation: a validation split, random search (on any executor), and
random vs grid search. Part of the chapter 6 experiments; ``chapters.ch06.experiments`` re-exports it.

:func:`random_search` takes an optional ``concurrent.futures.Executor`` (a local process pool from
:func:`chapters.executors.local_executor`, or a Dask cluster's ``client.get_executor()``): every trial is seeded
on its own, so the results equal the serial run's.
"""
from __future__ import annotations

import concurrent.futures
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from chapters.ch06.parallel import one_blas_thread
from chapters.live import LiveTraining, watch
from common.networks import MultiLayerNet
from common.trainer import History, Trainer


# =============================================================================================
# 6.5 Hyperparameter search
# =============================================================================================
def split_validation(x: np.ndarray, t: np.ndarray, validation_rate: float = 0.2, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle the *training* data and cut off a validation part (the test set is never touched).

    Returns (train_idx, val_idx): disjoint index arrays into x / t, val of size round(rate * N).
    """
    if len(x) != len(t):
        raise ValueError(f"split_validation: x has {len(x)} samples, t has {len(t)}")
    if not 0 < validation_rate < 1:
        raise ValueError(f"validation_rate must be in (0, 1), got {validation_rate}")
    perm = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(validation_rate * len(x)))
    return perm[n_val:], perm[:n_val]


def log_uniform(rng: np.random.Generator, low_exp: float, high_exp: float, size: int | None = None
                ) -> float | np.ndarray:
    """10 ** U(low_exp, high_exp): every decade between the bounds is equally likely."""
    return 10.0 ** rng.uniform(low_exp, high_exp, size)


def _search_trial(spec: dict[str, Any]) -> tuple[dict[str, float], History]:
    """One trial of :func:`random_search`, in whichever process runs it (module-level, so it pickles by name).

    One BLAS thread, so n workers use n cores; the network and the Trainer's shuffling are seeded by
    ``spec["seed"]``, so a trial gives the same numbers in any process. Returns (result row, History).
    """
    with one_blas_thread():
        trainer = _trial_trainer(*spec["data"], spec["lr"], spec["weight_decay"], spec["seed"], spec["epochs"],
                                 spec["hidden"], spec["batch_size"], spec["dtype"])
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                h = trainer.train()
            val_acc, train_acc, diverged = h.test_acc[-1], h.train_acc[-1], False
        except FloatingPointError:
            val_acc, train_acc, diverged = 0.0, 0.0, True
    row = {"lr": spec["lr"], "weight_decay": spec["weight_decay"], "val_acc": val_acc, "train_acc": train_acc,
           "diverged": diverged, "seed": spec["seed"]}
    return row, trainer.history


def _trial_trainer(x_train: np.ndarray, t_train: np.ndarray, x_val: np.ndarray, t_val: np.ndarray, lr: float,
                   weight_decay: float, seed: int, epochs: int, hidden: Sequence[int], batch_size: int,
                   dtype: Any) -> Trainer:
    """The network and Trainer of one search trial (SGD; accuracies on the validation set every epoch)."""
    net = MultiLayerNet(x_train.shape[1], hidden, 10, weight_decay_lambda=weight_decay, dtype=dtype, seed=seed)
    return Trainer(net, x_train, t_train, x_val, t_val, epochs=epochs, mini_batch_size=batch_size,
                   optimizer="sgd", optimizer_param={"lr": lr}, seed=seed, progress=False)


def retrain_trial(x_train: np.ndarray, t_train: np.ndarray, x_val: np.ndarray, t_val: np.ndarray,
                  trial: dict[str, Any], epochs: int, hidden: Sequence[int] = (100,) * 6, batch_size: int = 100,
                  dtype: Any = np.float32) -> tuple[MultiLayerNet, History]:
    """Train one row of :func:`random_search` again (its lr, weight decay and seed; the other settings as the
    search had them), with one BLAS thread as a trial: the same network the trial trained, whose validation
    accuracy (``history.test_acc[-1]``) is the row's ``val_acc``. Returns (network, history); the test set
    is left for the caller to use once."""
    with one_blas_thread():
        trainer = _trial_trainer(x_train, t_train, x_val, t_val, trial["lr"], trial["weight_decay"], trial["seed"],
                                 epochs, hidden, batch_size, dtype)
        return trainer.network, trainer.train()


def random_search(x_train: np.ndarray, t_train: np.ndarray, x_val: np.ndarray, t_val: np.ndarray,
                  n_trials: int, epochs: int, lr_exp: tuple[float, float] = (-6, -2),
                  wd_exp: tuple[float, float] = (-8, -4), hidden: Sequence[int] = (100,) * 6,
                  batch_size: int = 100, seed: int = 0, dtype: Any = np.float32,
                  view: LiveTraining | None = None,
                  executor: concurrent.futures.Executor | None = None) -> list[dict[str, float]]:
    """The book's 6.5.3: sample lr and weight decay log-uniformly, train briefly, score on validation.

    Returns one dict per trial: lr, weight_decay, val_acc (last epoch), train_acc (last epoch),
    diverged (True if the loss overflowed; its accuracies are then recorded as 0), seed (the trial's:
    :func:`retrain_trial` trains the same network again).
    executor: None trains the trials here, one after the other (``view`` then draws each as it trains); an
    Executor (:func:`chapters.executors.local_executor`, a Dask ``client.get_executor()``) trains them on its
    workers, and ``view`` shows each finished trial as its result comes back. Every (lr, weight_decay) is
    drawn here first, in the same order, and trial k is seeded by seed + k, so the rows are identical
    either way.
    """
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_trials):
        lr = float(log_uniform(rng, *lr_exp))
        draws.append((lr, float(log_uniform(rng, *wd_exp))))
    data = (x_train, t_train, x_val, t_val)
    specs = [{"data": data, "lr": lr, "weight_decay": wd, "seed": seed + k, "hidden": tuple(hidden),
              "epochs": epochs, "batch_size": batch_size, "dtype": dtype} for k, (lr, wd) in enumerate(draws)]
    label = "trial {} of {}: lr {:.2g}, weight decay {:.2g}".format
    if executor is None and view is not None:          # as before: each trial drawn live while it trains
        trials = []
        for k, (lr, wd) in enumerate(draws):
            trainer = _trial_trainer(x_train, t_train, x_val, t_val, lr, wd, seed + k, epochs, hidden, batch_size,
                                     dtype)
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    h = watch(trainer, view=view, label=label(k + 1, n_trials, lr, wd))
                val_acc, train_acc, diverged = h.test_acc[-1], h.train_acc[-1], False
            except FloatingPointError:
                val_acc, train_acc, diverged = 0.0, 0.0, True
            trials.append({"lr": lr, "weight_decay": wd, "val_acc": val_acc, "train_acc": train_acc,
                           "diverged": diverged, "seed": seed + k})
        return trials
    # One task per trial (x_train etc. travel with each: ~2 ms of pickling for the notebook's 400 x 784
    # float32 against seconds of training, see benchmarks/search_executor.py), so a free worker takes the
    # next trial and the workers stay evenly busy. Results come back in trial order.
    results = (executor.map if executor is not None else map)(_search_trial, specs)
    trials = []
    for k, (row, history) in enumerate(results):
        if view is not None:
            iters = -(-len(x_train) // batch_size)     # Trainer's iter_per_epoch
            view.start_run(label(k + 1, n_trials, row["lr"], row["weight_decay"]), epochs * iters, iters, epochs,
                           history=history)
            view.tick(force=True)
        trials.append(row)
    return trials


def top_trials(trials: list[dict[str, float]], k: int = 5) -> list[dict[str, float]]:
    """The k trials with the best validation accuracy, best first."""
    return sorted(trials, key=lambda r: -r["val_acc"])[:k]


def format_trials(trials: list[dict[str, float]]) -> str:
    """A small text table: rank, val acc, train acc, lr, weight decay."""
    lines = [f"{'rank':>4}  {'val acc':>7}  {'train acc':>9}  {'lr':>9}  {'weight decay':>12}"]
    for i, r in enumerate(trials, 1):
        lines.append(f"{i:>4}  {r['val_acc']:>7.3f}  {r['train_acc']:>9.3f}  {r['lr']:>9.3g}  "
                     f"{r['weight_decay']:>12.3g}")
    return "\n".join(lines)


def narrowed_range(trials: list[dict[str, float]], k: int = 5) -> dict[str, tuple[float, float]]:
    """log10 range (min, max) of lr and weight decay among the top-k trials: the next round's range."""
    best = top_trials(trials, k)
    return {key: (float(np.log10(min(r[key] for r in best))), float(np.log10(max(r[key] for r in best))))
            for key in ("lr", "weight_decay")}


def plot_search_scatter(trials: list[dict[str, float]], k: int = 5) -> Figure:
    """Each trial at (lr, weight decay) on log axes, coloured by validation accuracy; top-k circled."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    lr = np.array([r["lr"] for r in trials])
    wd = np.array([r["weight_decay"] for r in trials])
    acc = np.array([r["val_acc"] for r in trials])
    sc = ax.scatter(lr, wd, c=acc, cmap="viridis", vmin=0, vmax=1, s=30)
    best = top_trials(trials, k)
    ax.scatter([r["lr"] for r in best], [r["weight_decay"] for r in best], s=120, facecolors="none",
               edgecolors="red", label=f"top {k}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("weight decay")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), fontsize=8, frameon=False)
    fig.colorbar(sc, ax=ax, label="validation accuracy")
    fig.tight_layout()
    return fig


def one_param_objective(a: np.ndarray | float, b: np.ndarray | float, a_best: float = 0.37,
                        width: float = 0.06) -> np.ndarray | float:
    """A 'validation score' on [0, 1]^2 in which only ``a`` matters: a narrow bump at a_best; b is ignored."""
    return np.exp(-0.5 * ((np.asarray(a) - a_best) / width) ** 2) + 0.0 * np.asarray(b)


def grid_points(n_trials: int) -> np.ndarray:
    """A sqrt(n) x sqrt(n) grid on [0, 1]^2 (cell centres), shape (n_trials, 2). n_trials must be square."""
    m = int(round(np.sqrt(n_trials)))
    if m * m != n_trials:
        raise ValueError(f"grid_points: n_trials must be a square number, got {n_trials}")
    g = (np.arange(m) + 0.5) / m
    A, B = np.meshgrid(g, g)
    return np.column_stack([A.ravel(), B.ravel()])


def random_points(n_trials: int, rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """n_trials points uniform on [0, 1]^2, shape (n_trials, 2)."""
    return np.random.default_rng(rng).random((n_trials, 2))        # a Generator passes through as is


def grid_vs_random(n_trials: int = 9, repeats: int = 1000, width: float = 0.06,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Best score found by grid and by random search with the same budget, over many problems.

    Each repeat draws a new position a_best ~ U(0, 1) of the bump (the searcher does not know it).
    Returns {"grid": (repeats,), "random": (repeats,)} best objective values found.
    """
    rng = np.random.default_rng(seed)
    grid = grid_points(n_trials)
    best = {"grid": np.empty(repeats), "random": np.empty(repeats)}
    for r in range(repeats):
        a_best = rng.random()
        pts = random_points(n_trials, rng)
        best["grid"][r] = one_param_objective(grid[:, 0], grid[:, 1], a_best, width).max()
        best["random"][r] = one_param_objective(pts[:, 0], pts[:, 1], a_best, width).max()
    return best


def plot_grid_vs_random(n_trials: int = 9, a_best: float = 0.37, width: float = 0.06, seed: int = 0) -> Figure:
    """Bergstra & Bengio's picture: the same budget as a grid and at random, with the score along a on top."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    aa = np.linspace(0, 1, 400)
    for ax, (name, pts) in zip(axes, (("grid", grid_points(n_trials)), ("random", random_points(n_trials, seed)))):
        score = one_param_objective(pts[:, 0], pts[:, 1], a_best, width)
        ax.plot(aa, 1.05 + 0.4 * one_param_objective(aa, 0, a_best, width), color="tab:green")
        ax.vlines(pts[:, 0], 1.0, 1.05 + 0.4 * score, colors="tab:red", lw=0.8)
        ax.scatter(pts[:, 0], pts[:, 1], c="tab:red", s=25)
        ax.axhline(1.0, color="0.6", lw=0.8)
        ax.text(0.99, 1.48, "validation score (a only)", ha="right", va="top", fontsize=7, color="tab:green")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.5)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])          # the band above 1 is the score, not b
        ax.set_xlabel("a (important)")
        ax.set_ylabel("b (unimportant)")
        ax.set_title(f"{name}: {len(np.unique(np.round(pts[:, 0], 9)))} distinct values of a, best {score.max():.3f}",
                     fontsize=9)
    fig.tight_layout()
    return fig
