"""A mini-batch training loop (book section 6.x's Trainer, rewritten).

One epoch = one pass over the shuffled training set in mini-batches. After each epoch the
network is evaluated on (at most ``evaluate_sample_num_per_epoch`` samples of) the training and
test sets. Evaluating the *full* sets after every iteration is what makes a 600-sample experiment
take minutes instead of seconds: evaluation, not learning, dominates.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from common.optimizers import make_optimizer


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


class Trainer:
    """Train ``network`` with mini-batch gradient descent.

    x_train: (N, ...) float; t_train: (N,) labels or (N, C) one-hot; likewise the test set.
    optimizer: a name from ``common.optimizers.OPTIMIZERS`` (with ``optimizer_param``) or an
               optimizer object.
    evaluate_sample_num_per_epoch: evaluate accuracies on this many samples (None: all of them).
    seed: seeds the per-epoch shuffling and the evaluation subset.
    progress: show a tqdm progress bar (one line, updated in place).
    """

    def __init__(self, network: Any, x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray,
                 t_test: np.ndarray, epochs: int = 20, mini_batch_size: int = 100,
                 optimizer: str | Any = "sgd", optimizer_param: dict | None = None,
                 evaluate_sample_num_per_epoch: int | None = None, seed: int = 0, progress: bool = True) -> None:
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
        self.iter_per_epoch = math.ceil(len(x_train) / self.batch_size)
        self.history = History()
        self.current_iter = 0
        # a fixed evaluation subset, drawn once, so accuracies are comparable across epochs
        self._eval_train = self._subset(len(x_train))
        self._eval_test = self._subset(len(x_test))

    def _subset(self, n: int) -> np.ndarray | slice:
        k = self.evaluate_sample_num
        if k is None or k >= n:
            return slice(None)
        return np.sort(self.rng.choice(n, size=k, replace=False))

    def train_step(self, x_batch: np.ndarray, t_batch: np.ndarray) -> float:
        """One gradient computation and one parameter update; returns the mini-batch loss."""
        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)
        loss = float(self.network.last_layer.loss) + self.network._weight_decay_loss()
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
        """Run all epochs and return the history (also kept in ``self.history``)."""
        start = time.perf_counter()
        total = self.epochs * self.iter_per_epoch
        bar = tqdm(total=total, disable=not self.progress, desc="training", unit="it", leave=False)
        try:
            for epoch in range(self.epochs):
                order = self.rng.permutation(len(self.x_train))
                losses = []
                for i in range(self.iter_per_epoch):
                    idx = order[i * self.batch_size:(i + 1) * self.batch_size]
                    losses.append(self.train_step(self.x_train[idx], self.t_train[idx]))
                    self.history.train_loss.append(losses[-1])
                    self.current_iter += 1
                    bar.update(1)
                self.history.epoch_loss.append(float(np.mean(losses)))
                train_acc, test_acc = self.evaluate()
                self.history.train_acc.append(train_acc)
                self.history.test_acc.append(test_acc)
                bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.3f}", test_acc=f"{test_acc:.3f}")
        finally:
            bar.close()
            self.history.seconds = time.perf_counter() - start
        return self.history
