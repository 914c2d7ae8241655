"""A mini-batch training loop: the book's Trainer (section 6.x, ``common/trainer.py`` there), rewritten.

The network contract: ``params`` (dict of arrays), ``loss_and_gradient(x, t)`` — or the book's
``gradient(x, t)`` and ``loss(x, t)`` —, ``accuracy(x, t)``, and for checkpoints ``state_dict()`` /
``load_state_dict(...)``.

One epoch = one pass over the shuffled training set in mini-batches. After each epoch the
network is evaluated on (at most ``evaluate_sample_num_per_epoch`` samples of) the training and
test sets. Evaluating the *full* sets after every iteration is what makes a 600-sample experiment
take minutes instead of seconds: evaluation, not learning, dominates.

Checkpoints: with ``checkpoint_path`` set, the trainer saves everything a run depends on — the
parameters (and batch-norm statistics), the optimizer's state, the random generators' states,
the current epoch's shuffling order and the history — every ``checkpoint_every`` iterations and at
each epoch's end, atomically (temp file + rename, so a kill never leaves a half-written file).
``resume=True`` continues from it, and reaches exactly the parameters an uninterrupted run would.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm.auto import tqdm

from common.io import atomic_savez, load_npz
from common.optimizer import make_optimizer


@dataclass
class History:
    """What a training run records. Lists grow as training proceeds."""
    train_loss: list[float] = field(default_factory=list)   # one value per iteration (mini-batch)
    epoch_loss: list[float] = field(default_factory=list)   # mean mini-batch loss of each epoch
    train_acc: list[float] = field(default_factory=list)    # one value per epoch
    test_acc: list[float] = field(default_factory=list)     # one value per epoch
    seconds: float = 0.0                                    # wall time of train()

    def as_dict(self) -> dict[str, Any]:
        return {"train_loss": self.train_loss, "epoch_loss": self.epoch_loss, "train_acc": self.train_acc,
                "test_acc": self.test_acc, "seconds": self.seconds}


def _optimizer_state(optimizer: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split an optimizer's attributes into arrays (dicts of arrays: velocities, moments) and scalars."""
    arrays, scalars = {}, {}
    for name, value in vars(optimizer).items():
        if isinstance(value, dict):
            for key, arr in value.items():
                arrays[f"opt/{name}/{key}"] = arr
            scalars[name] = "__dict__"
        elif value is None or isinstance(value, (int, float, str, bool)):
            scalars[name] = value
        else:
            raise TypeError(f"cannot checkpoint optimizer attribute {name!r} of type {type(value).__name__}")
    return arrays, scalars


class Trainer:
    """Train ``network`` with mini-batch gradient descent.

    x_train: (N, ...) float; t_train: (N,) labels or (N, C) one-hot; likewise the test set.
    optimizer: a name from ``common.optimizer.OPTIMIZERS`` (with ``optimizer_param``) or an
               optimizer object.
    evaluate_sample_num_per_epoch: evaluate accuracies on this many samples (None: all of them).
    seed: seeds the per-epoch shuffling and the evaluation subset.
    progress: show a tqdm progress bar (one line, updated in place).
    augment: optional ``augment(x_batch, rng) -> x_batch`` applied to every training mini-batch
             (e.g. ``chapters.ch08.augment.shift_and_rotate``); it draws from the trainer's generator, so
             checkpoints restore it too.
    on_epoch_end: optional ``callback(trainer)`` after each epoch's evaluation (logging).
    checkpoint_path: an ``.npz`` file to checkpoint to (None: no checkpoints);
    checkpoint_every: also checkpoint every this many iterations (None: only at epoch ends);
    resume: if the checkpoint file exists, continue from it instead of starting afresh.
    """

    def __init__(self, network: Any, x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray,
                 t_test: np.ndarray, epochs: int = 20, mini_batch_size: int = 100,
                 optimizer: str | Any = "sgd", optimizer_param: dict | None = None,
                 evaluate_sample_num_per_epoch: int | None = None, seed: int = 0, progress: bool = True,
                 checkpoint_path: str | os.PathLike | None = None, checkpoint_every: int | None = None,
                 resume: bool = False, augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                 on_epoch_end: Callable[["Trainer"], None] | None = None) -> None:
        if len(x_train) != len(t_train) or len(x_test) != len(t_test):
            raise ValueError(f"Trainer: x/t lengths differ: train {len(x_train)}/{len(t_train)}, "
                             f"test {len(x_test)}/{len(t_test)}")
        if mini_batch_size < 1 or epochs < 0:
            raise ValueError(f"Trainer: need mini_batch_size >= 1 and epochs >= 0, got {mini_batch_size}, {epochs}")
        self.network = network
        self.x_train, self.t_train, self.x_test, self.t_test = x_train, t_train, x_test, t_test
        self.epochs = epochs
        self.batch_size = min(mini_batch_size, len(x_train))
        if isinstance(optimizer, str):
            self.optimizer = make_optimizer(optimizer, **(optimizer_param or {"lr": 0.01}))
        else:
            self.optimizer = optimizer
        self.evaluate_sample_num = evaluate_sample_num_per_epoch
        self.rng = np.random.default_rng(seed)
        self.progress = progress
        self.augment = augment
        self.on_epoch_end = on_epoch_end
        self.iter_per_epoch = math.ceil(len(x_train) / self.batch_size)
        self.history = History()
        self.current_iter = 0              # iterations done in total
        self.epoch = 0                     # completed epochs
        self._order: np.ndarray | None = None   # the current epoch's shuffling, while it runs
        # a fixed evaluation subset, drawn once, so accuracies are comparable across epochs
        self._eval_train = self._subset(len(x_train))
        self._eval_test = self._subset(len(x_test))
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.checkpoint_every = checkpoint_every
        if self.checkpoint_path is not None:
            # a run killed while writing leaves its temporary file behind; this trainer owns the
            # checkpoint, so it sweeps such leftovers (they were never renamed, so never trusted)
            for stale in self.checkpoint_path.parent.glob(self.checkpoint_path.name + ".*.part"):
                stale.unlink(missing_ok=True)
        if resume and self.checkpoint_path is not None and self.checkpoint_path.exists():
            self.load_checkpoint(self.checkpoint_path)

    def _subset(self, n: int) -> np.ndarray | slice:
        k = self.evaluate_sample_num
        if k is None or k >= n:
            return slice(None)
        return np.sort(self.rng.choice(n, size=k, replace=False))

    def train_step(self, x_batch: np.ndarray, t_batch: np.ndarray) -> float:
        """One gradient computation and one parameter update; returns the mini-batch loss.

        The loss is the one at the parameters the gradient was taken at (before the update). A
        network with ``loss_and_gradient(x, t)`` (every network in ``common.networks``) gives both in
        one pass; any other network — the book's own classes — needs ``gradient(x, t)`` and
        ``loss(x, t)``, and costs one extra forward pass.
        """
        if hasattr(self.network, "loss_and_gradient"):
            loss, grads = self.network.loss_and_gradient(x_batch, t_batch)
        else:
            grads = self.network.gradient(x_batch, t_batch)
            loss = self.network.loss(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)
        loss = float(loss)
        if not math.isfinite(loss):
            lr = getattr(self.optimizer, "lr", "?")
            raise FloatingPointError(
                f"training diverged: loss became {loss} at iteration {self.current_iter} "
                f"(optimizer {type(self.optimizer).__name__}, lr={lr}). Try a smaller learning rate "
                f"(e.g. lr/10), a smaller initial weight scale, or check the input is normalised.")
        return loss

    def evaluate(self) -> tuple[float, float]:
        """(train accuracy, test accuracy) on the evaluation subsets."""
        net = self.network
        train_acc = net.accuracy(self.x_train[self._eval_train], self.t_train[self._eval_train])
        test_acc = net.accuracy(self.x_test[self._eval_test], self.t_test[self._eval_test])
        return train_acc, test_acc

    def train(self) -> History:
        """Run the remaining epochs and return the history (also kept in ``self.history``)."""
        start = time.perf_counter() - self.history.seconds
        total = self.epochs * self.iter_per_epoch
        bar = tqdm(total=total, initial=self.current_iter, disable=not self.progress, desc="training", unit="it",
                   leave=False)
        try:
            while self.epoch < self.epochs:
                if self._order is None:
                    self._order = self.rng.permutation(len(self.x_train))
                done_in_epoch = self.current_iter - self.epoch * self.iter_per_epoch
                for i in range(done_in_epoch, self.iter_per_epoch):
                    idx = self._order[i * self.batch_size:(i + 1) * self.batch_size]
                    x_batch = self.x_train[idx]
                    if self.augment is not None:
                        x_batch = self.augment(x_batch, self.rng)
                    self.history.train_loss.append(self.train_step(x_batch, self.t_train[idx]))
                    self.current_iter += 1
                    bar.update(1)
                    if (self.checkpoint_every and self.current_iter % self.checkpoint_every == 0
                            and i + 1 < self.iter_per_epoch):
                        self.history.seconds = time.perf_counter() - start
                        self.save_checkpoint()
                epoch_losses = self.history.train_loss[self.epoch * self.iter_per_epoch:]
                self.history.epoch_loss.append(float(np.mean(epoch_losses)))
                train_acc, test_acc = self.evaluate()
                self.history.train_acc.append(train_acc)
                self.history.test_acc.append(test_acc)
                self.epoch += 1
                self._order = None
                self.history.seconds = time.perf_counter() - start
                self.save_checkpoint()
                if self.on_epoch_end is not None:
                    self.on_epoch_end(self)
                bar.set_postfix(epoch=self.epoch, loss=f"{epoch_losses[-1]:.3f}", test_acc=f"{test_acc:.3f}")
        finally:
            bar.close()
            self.history.seconds = time.perf_counter() - start
        return self.history

    # ---- checkpoints ----------------------------------------------------------------------------
    def _rng_states(self) -> dict[str, Any]:
        states = {"trainer": self.rng.bit_generator.state}
        net_rng = getattr(self.network, "rng", None)
        if isinstance(net_rng, np.random.Generator):       # dropout masks are drawn from it
            states["network"] = net_rng.bit_generator.state
        return states

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path | None:
        """Write the full training state to ``path`` (default: ``checkpoint_path``) atomically."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            return None
        arrays = {f"param/{k}": v for k, v in self.network.state_dict().items()}
        opt_arrays, opt_scalars = _optimizer_state(self.optimizer)
        arrays.update(opt_arrays)
        if self._order is not None:
            arrays["order"] = self._order
        arrays["train_loss"] = np.array(self.history.train_loss, dtype=np.float64)
        meta = {
            "epoch": self.epoch, "current_iter": self.current_iter, "epochs": self.epochs,
            "batch_size": self.batch_size, "optimizer": type(self.optimizer).__name__,
            "optimizer_scalars": opt_scalars, "rng": self._rng_states(),
            "history": {k: v for k, v in self.history.as_dict().items() if k != "train_loss"},
        }
        arrays["__trainer__"] = np.array(json.dumps(meta))
        return atomic_savez(path, arrays)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore a state written by :meth:`save_checkpoint` into this trainer and its network."""
        stored = load_npz(path)
        meta = json.loads(str(stored.pop("__trainer__")))
        if meta["optimizer"] != type(self.optimizer).__name__ or meta["batch_size"] != self.batch_size:
            raise ValueError(f"{path}: checkpoint was made with {meta['optimizer']} and batch size "
                             f"{meta['batch_size']}, this trainer uses {type(self.optimizer).__name__} and "
                             f"{self.batch_size}")
        params = {k[len("param/"):]: v for k, v in stored.items() if k.startswith("param/")}
        self.network.load_state_dict(params, source=str(path))
        for name, value in meta["optimizer_scalars"].items():
            if value == "__dict__":
                prefix = f"opt/{name}/"
                setattr(self.optimizer, name, {k[len(prefix):]: v for k, v in stored.items() if k.startswith(prefix)})
            else:
                setattr(self.optimizer, name, value)
        self.rng.bit_generator.state = meta["rng"]["trainer"]
        if "network" in meta["rng"]:
            self.network.rng.bit_generator.state = meta["rng"]["network"]
        self._order = stored.get("order")
        self.epoch, self.current_iter = meta["epoch"], meta["current_iter"]
        h = meta["history"]
        self.history = History(train_loss=stored["train_loss"].tolist(), epoch_loss=h["epoch_loss"],
                               train_acc=h["train_acc"], test_acc=h["test_acc"], seconds=h["seconds"])
