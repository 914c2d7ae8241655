"""A mini-batch training loop: the book's Trainer (section 6.x, ``common/trainer.py`` there), rewritten.

The network contract: ``params`` (dict of arrays), ``loss_and_gradient(x, t)`` — or the book's
``gradient(x, t)`` and ``loss(x, t)`` —, ``accuracy(x, t)``, and for checkpoints ``state_dict()`` /
``load_state_dict(...)``.

One epoch = one pass over the shuffled training set in mini-batches. After each epoch the
network is evaluated on (at most ``evaluate_sample_num_per_epoch`` samples of) the training and
test sets. With a small training set that evaluation dominates: 600 samples in batches of 100 make
an epoch of only 6 updates, so evaluating all 10,600 images after every epoch costs far more than
the learning (section 6.4.1 times it); ``evaluate_sample_num_per_epoch`` caps it.

Checkpoints: with ``checkpoint_path`` set, the trainer saves everything a run depends on — the
parameters (and batch-norm statistics), the optimizer's state, the random generators' states,
the current epoch's shuffling order and the history — every ``checkpoint_every`` iterations and at
each epoch's end, atomically (temp file + rename, so a kill never leaves a half-written file).
``resume=True`` continues from it, and reaches exactly the parameters an uninterrupted run would.
A checkpoint records the run's settings (seed, batch size, optimizer and its lr, momentum, ...,
the data's sizes and a checksum); resuming with any of them changed is refused, naming the setting,
and so is resuming with fewer ``epochs`` than the checkpoint has done. More epochs simply continue.

Divergence is never silent: a loss that turns NaN or inf, parameters that do, or a loss that explodes
stop training with :class:`TrainingDiverged` (the rule is in :class:`Trainer`'s docstring).

Watching and stopping: a program that shows training as it runs (``chapters.live.watch`` in the
notebooks) appends to ``iteration_callbacks`` / ``epoch_callbacks`` and calls ``stop()``; this module
imports nothing of it. A stopped run keeps its parameters and its history (``History.stopped``), and
``train()`` called again continues where it stopped.
"""
from __future__ import annotations

import inspect
import json
import math
import numbers
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm.auto import tqdm

from common.backend import np as xp
from common.backend import to_host
from common.functions import labels_from_targets
from common.io import FileInUse, FileLock, UnreadableFile, atomic_savez, load_npz, require_finite
from common.optimizer import make_optimizer


@dataclass
class History:
    """What a training run records. Lists grow as training proceeds."""
    train_loss: list[float] = field(default_factory=list)   # one value per iteration (mini-batch)
    epoch_loss: list[float] = field(default_factory=list)   # mean mini-batch loss of each epoch
    train_acc: list[float] = field(default_factory=list)    # one value per epoch
    test_acc: list[float] = field(default_factory=list)     # one value per epoch
    seconds: float = 0.0                                    # wall time of train()
    stopped: bool = False                                   # True if stop() ended train() before its last epoch

    def as_dict(self) -> dict[str, Any]:
        return {"train_loss": self.train_loss, "epoch_loss": self.epoch_loss, "train_acc": self.train_acc,
                "test_acc": self.test_acc, "seconds": self.seconds, "stopped": self.stopped}


class TrainingDiverged(FloatingPointError):
    """Training stopped: the loss or the parameters went non-finite, or the loss exploded."""


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

    x_train: (N, ...) float; t_train: (N,) labels or (N, C) rows, one-hot or soft; likewise the test set.
    optimizer: a name from ``common.optimizer.OPTIMIZERS`` (with ``optimizer_param``) or an
               optimizer object.
    evaluate_sample_num_per_epoch: evaluate accuracies on this many samples (None: all of them).
    seed: seeds the per-epoch shuffling and the evaluation subset.
    progress: show a tqdm progress bar (one line, updated in place).
    augment: optional ``augment(x_batch, rng) -> x_batch`` applied to every training mini-batch
             (e.g. ``chapters.ch08.augment.shift_and_rotate``); it draws from the trainer's generator, so
             checkpoints restore it too.
    on_iteration: optional ``callback(trainer, iteration, loss)`` after each update; ``iteration`` counts
             the updates done so far (1, 2, ...), ``loss`` is that mini-batch's loss.
    on_epoch_end: optional ``callback(trainer)`` after each epoch's evaluation (logging); the epoch's
             accuracies are then ``trainer.history.train_acc[-1]`` and ``test_acc[-1]``.
    checkpoint_path: an ``.npz`` file to checkpoint to (None: no checkpoints);
    checkpoint_every: also checkpoint every this many iterations (None: only at epoch ends);
    resume: if the checkpoint file exists, continue from it instead of starting afresh.
    stop_on_divergence: stop when the loss explodes (the rule below); False only for experiments that
             study divergence. NaN or inf always stops training.

    More callbacks can be appended to the lists ``iteration_callbacks`` and ``epoch_callbacks`` at any time.
    ``stop()``, called from a callback or from another thread, ends ``train()`` after the current update:
    the parameters and the history so far are kept (``history.stopped`` is True; no evaluation is made for
    the unfinished epoch), a checkpoint is written if there is a ``checkpoint_path``, and calling
    ``train()`` again continues from there.

    Before any training the arguments are checked (whole numbers where counts are meant, an optimizer
    name or object, no empty set, no NaN or inf in the data), and so are x_test and x_train against the
    network and both sets' targets against its number of outputs: mistakes fail at once, not after an epoch.

    When training stops (:class:`TrainingDiverged`, a ``FloatingPointError``, saying the iteration,
    the optimizer, its learning rate and what to try):

    - a mini-batch loss is NaN or inf;
    - a parameter is NaN or inf at an epoch's end or before a checkpoint (a last update that blew up);
    - the loss exploded: the mean loss of the last ``DIVERGENCE_WINDOW`` (5) iterations is more than
      ``DIVERGENCE_FACTOR`` (5) times the larger of the chance-level loss ln(C) (C classes: 2.3 for
      MNIST's 10, so the limit is at least 11.5) and the lowest such mean of the run so far (means over
      the first 1, 2, ... iterations included, so a run that explodes at its second step is caught).

    The loss must *rise* to 5x the best it has been, so a loss that starts high and comes down — initial
    weights with std 1 or 10 (60 to 700 at first), a strong weight decay — is never stopped. Exploding runs
    need this rule because SoftmaxWithLoss clamps log(0), which keeps their loss finite (at most about 87
    in float32, 708 in float64) while the accuracy falls to chance.
    """

    DIVERGENCE_WINDOW = 5
    DIVERGENCE_FACTOR = 5.0

    def __init__(self, network: Any, x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray,
                 t_test: np.ndarray, epochs: int = 20, mini_batch_size: int = 100,
                 optimizer: str | Any = "sgd", optimizer_param: dict | None = None,
                 evaluate_sample_num_per_epoch: int | None = None, seed: int = 0, progress: bool = True,
                 checkpoint_path: str | os.PathLike | None = None, checkpoint_every: int | None = None,
                 resume: bool = False, augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                 on_epoch_end: Callable[["Trainer"], None] | None = None, stop_on_divergence: bool = True,
                 on_iteration: Callable[["Trainer", int, float], None] | None = None) -> None:
        _whole("epochs", epochs, 0)
        _whole("mini_batch_size", mini_batch_size, 1)
        _whole("evaluate_sample_num_per_epoch", evaluate_sample_num_per_epoch, 1, none_ok=True)
        _whole("checkpoint_every", checkpoint_every, 1, none_ok=True)
        _whole("seed", seed, 0, none_ok=True)
        _check_data(x_train, t_train, x_test, t_test)
        if resume and checkpoint_path is None:
            raise ValueError("Trainer: resume=True needs a checkpoint_path to resume from")
        self.network = network
        self.x_train, self.t_train, self.x_test, self.t_test = x_train, t_train, x_test, t_test
        self.epochs = epochs
        self.batch_size = min(mini_batch_size, len(x_train))
        self.optimizer = _optimizer(optimizer, optimizer_param)
        self.evaluate_sample_num = evaluate_sample_num_per_epoch
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.progress = progress
        self.augment = augment
        self.iteration_callbacks: list[Callable[[Trainer, int, float], None]] = \
            [on_iteration] if on_iteration else []
        self.epoch_callbacks: list[Callable[[Trainer], None]] = [on_epoch_end] if on_epoch_end else []
        self.stop_requested = False        # set by stop(); train() ends after the current update
        self.stop_on_divergence = stop_on_divergence
        self._chance_loss = math.log(max(2, self._check_targets()))
        self._lowest_mean = math.inf         # lowest mean of the last DIVERGENCE_WINDOW losses
        self.iter_per_epoch = math.ceil(len(x_train) / self.batch_size)
        self.history = History()
        self.current_iter = 0              # iterations done in total
        self.epoch = 0                     # completed epochs
        self._order: np.ndarray | None = None   # the current epoch's shuffling, while it runs
        # a fixed evaluation subset, drawn once, so accuracies are comparable across epochs
        self._eval_train = self._subset(len(x_train))
        self._eval_test = self._subset(len(x_test))
        # gathered once (a copy; a view for a whole set), not again after every epoch
        self._eval_sets = (x_train[self._eval_train], t_train[self._eval_train],
                           x_test[self._eval_test], t_test[self._eval_test])
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.checkpoint_every = checkpoint_every
        if self.checkpoint_path is not None:
            self._lock_checkpoint().release()      # refuse now if another run is writing this checkpoint
        if resume and self.checkpoint_path is not None and self.checkpoint_path.exists():
            self.load_checkpoint(self.checkpoint_path)

    def _check_targets(self) -> int:
        """Check both sets' targets before any training — against the network's number of outputs when
        it has ``predict`` — and return the number of classes."""
        predict = getattr(self.network, "predict", None)
        scores = None
        for name, x in (("x_test", self.x_test), ("x_train", self.x_train)) if callable(predict) else ():
            try:
                scores = predict(x[:1])
            except (ValueError, TypeError) as e:
                raise type(e)(f"Trainer: {name} does not fit the network: {e}") from None
        if getattr(scores, "ndim", 0) == 2:
            num_classes = int(scores.shape[1])
        else:
            num_classes = max(_num_classes(self.t_train), _num_classes(self.t_test))
        for name, t in (("t_train", self.t_train), ("t_test", self.t_test)):
            try:
                labels_from_targets(t, num_classes)
            except (ValueError, TypeError) as e:
                raise type(e)(f"Trainer: {name}: {e}") from None
        return num_classes

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
        return float(loss)

    # ---- divergence ---------------------------------------------------------------------------
    def _diverged(self, what: str) -> TrainingDiverged:
        lr = getattr(self.optimizer, "lr", "?")
        return TrainingDiverged(
            f"training diverged at iteration {self.current_iter} (epoch {self.epoch + 1}): {what} "
            f"(optimizer {type(self.optimizer).__name__}, lr={lr}). Try a smaller learning rate (e.g. lr/10), "
            f"a smaller initial weight scale, or check that the input is normalised.\n"
            f"训练发散，在第 {self.current_iter} 次迭代（第 {self.epoch + 1} 个 epoch）停止：损失或参数变成了 NaN/无穷大，"
            f"或者损失急剧增大（{type(self.optimizer).__name__}，lr={lr}）。请试试更小的学习率（例如 lr/10）、"
            f"更小的权重初始值，或者检查输入是否已经正规化。")

    def _check_loss(self, loss: float) -> None:
        """Stop on a NaN/inf loss, or on a loss that exploded (the rule in the class docstring)."""
        if not math.isfinite(loss):
            raise self._diverged(f"the loss became {loss}")
        recent = self.history.train_loss[-self.DIVERGENCE_WINDOW:]
        mean = sum(recent) / len(recent)
        if (self.stop_on_divergence and len(recent) == self.DIVERGENCE_WINDOW
                and mean > self.DIVERGENCE_FACTOR * max(self._chance_loss, self._lowest_mean)):
            raise self._diverged(
                f"the mean loss of the last {len(recent)} iterations is {mean:.3g}, more than "
                f"{self.DIVERGENCE_FACTOR:g} times both the chance-level loss {self._chance_loss:.3g} and the "
                f"lowest such mean of this run, {self._lowest_mean:.3g}")
        self._lowest_mean = min(self._lowest_mean, mean)

    def _check_parameters(self) -> None:
        """Stop if an update left a parameter NaN or inf (the next loss would show it, but there may be none)."""
        for key, p in self.network.params.items():
            bad = int(p.size - xp.count_nonzero(xp.isfinite(p)))       # xp: the arrays' own backend
            if bad:
                raise self._diverged(f"parameter {key!r} holds {bad} NaN or inf values")

    def stop(self) -> None:
        """Ask ``train()`` to end after the update it is doing now, keeping parameters and history."""
        self.stop_requested = True

    def evaluate(self) -> tuple[float, float]:
        """(train accuracy, test accuracy) on the evaluation subsets."""
        net = self.network
        x_tr, t_tr, x_te, t_te = self._eval_sets
        train_acc = net.accuracy(x_tr, t_tr)
        test_acc = net.accuracy(x_te, t_te)
        return train_acc, test_acc

    def train(self) -> History:
        """Run the remaining epochs and return the history (also kept in ``self.history``)."""
        lock = self._lock_checkpoint() if self.checkpoint_path is not None else None
        start = time.perf_counter() - self.history.seconds
        total = self.epochs * self.iter_per_epoch
        bar = tqdm(total=total, initial=self.current_iter, disable=not self.progress, desc="training", unit="it",
                   leave=False)
        self.history.stopped = False
        try:
            while self.epoch < self.epochs and not self.stop_requested:
                if self._order is None:
                    self._order = self.rng.permutation(len(self.x_train))
                done_in_epoch = self.current_iter - self.epoch * self.iter_per_epoch
                for i in range(done_in_epoch, self.iter_per_epoch):
                    if self.stop_requested:
                        break
                    idx = self._order[i * self.batch_size:(i + 1) * self.batch_size]
                    x_batch = self.x_train[idx]
                    if self.augment is not None:
                        x_batch = self.augment(x_batch, self.rng)
                    loss = self.train_step(x_batch, self.t_train[idx])
                    self.history.train_loss.append(loss)
                    self.current_iter += 1
                    self._check_loss(loss)
                    bar.update(1)
                    for callback in self.iteration_callbacks:
                        callback(self, self.current_iter, loss)
                    if (self.checkpoint_every and self.current_iter % self.checkpoint_every == 0
                            and i + 1 < self.iter_per_epoch):
                        self._check_parameters()
                        self.history.seconds = time.perf_counter() - start
                        self.save_checkpoint()
                if self.stop_requested and self.current_iter < (self.epoch + 1) * self.iter_per_epoch:
                    break                      # stopped inside the epoch: it gets no evaluation
                self._check_parameters()
                epoch_losses = self.history.train_loss[self.epoch * self.iter_per_epoch:]
                self.history.epoch_loss.append(float(np.mean(epoch_losses)))
                train_acc, test_acc = self.evaluate()
                self.history.train_acc.append(train_acc)
                self.history.test_acc.append(test_acc)
                self.epoch += 1
                self._order = None
                self.history.seconds = time.perf_counter() - start
                self.save_checkpoint()
                for callback in self.epoch_callbacks:
                    callback(self)
                bar.set_postfix(epoch=self.epoch, loss=f"{epoch_losses[-1]:.3f}", test_acc=f"{test_acc:.3f}")
            if self.stop_requested and self.epoch < self.epochs:
                self.history.stopped = True
                self._check_parameters()
                self.history.seconds = time.perf_counter() - start
                self.save_checkpoint()         # resume=True (or train() again) continues from here
        finally:
            self.stop_requested = False
            bar.close()
            self.history.seconds = time.perf_counter() - start
            if lock is not None:
                lock.release()
        return self.history

    # ---- checkpoints ----------------------------------------------------------------------------
    def _lock_checkpoint(self) -> FileLock:
        """Lock the checkpoint for this run, or refuse: another run is training on it right now.

        Holding the lock, the trainer sweeps the temporary files a killed run left behind (never
        renamed, so never trusted); without it, it could delete a live run's file mid-write.
        """
        lock = FileLock(self.checkpoint_path.with_name(self.checkpoint_path.name + ".lock"))
        if not lock.acquire():
            raise FileInUse(f"{self.checkpoint_path}: another training run (process {lock.holder()}) is using this "
                            f"checkpoint right now. Wait for it to finish, or give this run its own checkpoint_path.")
        for stale in self.checkpoint_path.parent.glob(self.checkpoint_path.name + ".*.part"):
            stale.unlink(missing_ok=True)
        return lock

    def _rng_states(self) -> dict[str, Any]:
        states = {"trainer": self.rng.bit_generator.state}
        net_rng = getattr(self.network, "rng", None)
        if isinstance(net_rng, np.random.Generator):       # dropout masks are drawn from it
            states["network"] = net_rng.bit_generator.state
        return states

    def settings(self) -> dict[str, Any]:
        """What a resumed run must share with its checkpoint, by the names the caller knows them by."""
        return {"seed": self.seed, "mini_batch_size": self.batch_size, "optimizer": type(self.optimizer).__name__,
                **_hyperparameters(self.optimizer),
                "evaluate_sample_num_per_epoch": self.evaluate_sample_num,
                "training set size": len(self.x_train), "test set size": len(self.x_test),
                "training data checksum": _checksum(self.x_train, self.t_train)}

    def _check_same_run(self, path: str | os.PathLike, meta: dict[str, Any]) -> None:
        """Refuse to resume a checkpoint made with other settings, or with more epochs done than asked for."""
        stored = meta.get("settings") or {"optimizer": meta["optimizer"], "mini_batch_size": meta["batch_size"]}
        mine = self.settings()
        changed = [f"{name} = {value!r} (this trainer: {mine.get(name)!r})"
                   for name, value in stored.items() if mine.get(name) != value]
        if changed:
            raise ValueError(f"{path}: cannot resume: the checkpoint was made with {'; '.join(changed)}. Resuming "
                             f"would continue that run under other settings. Use the checkpoint's settings, or start "
                             f"afresh (resume=False; the training scripts take --fresh).")
        if meta["epoch"] > self.epochs:
            raise ValueError(f"{path}: cannot resume: the checkpoint has already done {meta['epoch']} epochs, more "
                             f"than epochs={self.epochs}. Ask for at least {meta['epoch']} epochs, or start afresh "
                             f"(resume=False; the training scripts take --fresh).")

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path | None:
        """Write the full training state to ``path`` (default: ``checkpoint_path``) atomically."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            return None
        state = {k: to_host(v) for k, v in self.network.state_dict().items()}
        require_finite(state, f"{path}: refusing to checkpoint")
        arrays = {f"param/{k}": v for k, v in state.items()}
        opt_arrays, opt_scalars = _optimizer_state(self.optimizer)
        arrays.update(opt_arrays)
        if self._order is not None:
            arrays["order"] = self._order
        arrays["train_loss"] = np.array(self.history.train_loss, dtype=np.float64)
        meta = {
            "settings": self.settings(),
            "epoch": self.epoch, "current_iter": self.current_iter, "epochs": self.epochs,
            "batch_size": self.batch_size, "optimizer": type(self.optimizer).__name__,
            "optimizer_scalars": opt_scalars, "rng": self._rng_states(),
            "history": {k: v for k, v in self.history.as_dict().items() if k != "train_loss"},
        }
        arrays["__trainer__"] = np.array(json.dumps(meta))
        return atomic_savez(path, arrays)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore a state written by :meth:`save_checkpoint` into this trainer and its network."""
        try:
            stored = load_npz(path)
        except UnreadableFile as e:
            raise UnreadableFile(f"{e} As a checkpoint, it can also be deleted, or training started afresh with "
                                 f"resume=False (the training scripts take --fresh).") from None
        if "__trainer__" not in stored:
            raise ValueError(f"{path}: not a Trainer checkpoint (it has no '__trainer__' record; weights saved by "
                             f"save_params are loaded with network.load_params). Pass another checkpoint_path, or "
                             f"resume=False.")
        meta = json.loads(str(stored.pop("__trainer__")))
        self._check_same_run(path, meta)
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
        losses, w = self.history.train_loss, self.DIVERGENCE_WINDOW
        self._lowest_mean = min((sum(losses[max(0, i - w + 1):i + 1]) / min(i + 1, w) for i in range(len(losses))),
                                default=math.inf)


def _whole(name: str, value: Any, minimum: int, none_ok: bool = False) -> None:
    """Refuse anything but a whole number >= minimum (or None, where allowed), naming the argument."""
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        allowed = f"{'None or ' if none_ok else ''}a whole number >= {minimum}"
        raise ValueError(f"Trainer: {name} must be {allowed}, got {value!r}")


def _check_data(x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray, t_test: np.ndarray) -> None:
    """Refuse mismatched or empty sets, and inputs holding NaN or inf, before any training."""
    if len(x_train) != len(t_train) or len(x_test) != len(t_test):
        raise ValueError(f"Trainer: x/t lengths differ: train {len(x_train)}/{len(t_train)}, "
                         f"test {len(x_test)}/{len(t_test)}")
    if len(x_train) == 0:
        raise ValueError("Trainer: the training set is empty (x_train has 0 samples)")
    if len(x_test) == 0:
        raise ValueError("Trainer: the test set is empty (x_test has 0 samples); the accuracy measured after each "
                         "epoch needs at least one test sample (for a quick experiment, pass part of the training set)")
    for name, x in (("x_train", x_train), ("x_test", x_test)):
        if np.issubdtype(x.dtype, np.inexact) and not math.isfinite(float(x.max()) - float(x.min())):
            bad = int(x.size - np.count_nonzero(np.isfinite(x)))
            raise ValueError(f"Trainer: {name} holds {bad} NaN or inf values; check how the data was loaded or computed")


def _optimizer(optimizer: str | Any, optimizer_param: dict | None) -> Any:
    """An optimizer from a name and its parameters, or the optimizer object given (checked)."""
    if isinstance(optimizer, str):
        return make_optimizer(optimizer, **(optimizer_param or {"lr": 0.01}))
    if isinstance(optimizer, type):
        raise TypeError(f"Trainer: optimizer must be a name or an optimizer object, got the class "
                        f"{optimizer.__name__}; pass {optimizer.__name__}(lr=...) instead")
    if not callable(getattr(optimizer, "update", None)):
        raise TypeError(f"Trainer: optimizer {optimizer!r} has no update(params, grads) method")
    if optimizer_param is not None:
        raise ValueError(f"Trainer: optimizer_param is used only with an optimizer name (e.g. optimizer='sgd'); "
                         f"with the {type(optimizer).__name__} object given it would be ignored. Set the "
                         f"hyperparameters on the object instead, e.g. {type(optimizer).__name__}(lr=0.1)")
    return optimizer


def _hyperparameters(optimizer: Any) -> dict[str, Any]:
    """The optimizer's constructor arguments (lr, momentum, beta1, ...) with their current values."""
    names = [n for n in inspect.signature(type(optimizer).__init__).parameters if n != "self"]
    return {n: getattr(optimizer, n) for n in names
            if isinstance(getattr(optimizer, n, None), (int, float, str, bool, type(None)))}


def _checksum(x: np.ndarray, t: np.ndarray) -> str:
    """A cheap fingerprint of a data set: crc32 of every label and of 64 images spread over it."""
    step = max(1, len(x) // 64)
    crc = zlib.crc32(np.ascontiguousarray(to_host(t)).tobytes())
    return f"crc32 {zlib.crc32(np.ascontiguousarray(to_host(x[::step])).tobytes(), crc):08x}"


def _num_classes(t: np.ndarray) -> int:
    """The number of classes targets speak of: one-hot columns, or the largest label + 1."""
    t = np.asarray(t)
    if t.ndim == 2:
        return t.shape[1]
    return int(t.max()) + 1 if t.size else 0
