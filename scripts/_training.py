"""Shared plumbing for the scripts/train_*.py weight trainers (not a trainer itself: see common.trainer).

Each trainer script is run unattended by ``make weights`` (or by hand). It checkpoints into
``weights/checkpoints/`` (git-ignored) so that a killed run resumes where it stopped, logs one line
per epoch, and finally writes ``weights/<name>.npz`` (parameters + metadata, no pickle) and a
human-readable ``weights/<name>.json`` with the same metadata.

The record says what happened: ``epochs`` is the number the network was trained for, and a resumed run
carries ``resumed_at_iteration``. Resuming with other settings than the checkpoint's (another ``--seed``,
fewer ``--epochs`` than it has done) is refused, naming the setting; ``--fresh`` starts over.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from common.config import WEIGHTS_DIR
from common.io import atomic_write_text
from common.trainer import Trainer
from dataset.mnist import load_mnist


def whole_number(minimum: int):
    """An argparse type: a whole number >= minimum, refused with a message otherwise."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"need a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"need a whole number >= {minimum}, got {value}")
        return value
    return parse


def parse_args(description: str, epochs: int, seed: int = 0) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=whole_number(1), default=epochs, help=f"epochs to train (default {epochs})")
    p.add_argument("--seed", type=whole_number(0), default=seed,
                   help="seed for initial weights, shuffling and augmentation")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="folder for the final weights")
    return p.parse_args()


def epoch_logger(name: str):
    def log(tr: Trainer) -> None:
        h = tr.history
        print(f"[{name}] epoch {tr.epoch:3d}/{tr.epochs}  loss {h.epoch_loss[-1]:.4f}  "
              f"train acc {h.train_acc[-1]:.4f}  test acc {h.test_acc[-1]:.4f}  "
              f"elapsed {h.seconds / 60:.1f} min", flush=True)
    return log


def checkpoint_path(name: str, out: Path) -> Path:
    return out / "checkpoints" / f"{name}.ckpt.npz"


def finish(name: str, net: Any, trainer: Trainer, x_test: np.ndarray, t_test: np.ndarray, out: Path,
           extra: dict[str, Any]) -> dict[str, Any]:
    """Measure the final test accuracy, write weights/<name>.npz and weights/<name>.json."""
    acc = net.accuracy(x_test, t_test, batch_size=500)
    meta = {
        "network": type(net).__name__,
        "dtype": str(net.dtype),
        "epochs": trainer.epoch,                 # epochs the network has been trained for
        "batch_size": trainer.batch_size,
        "optimizer": type(trainer.optimizer).__name__,
        "learning_rate": getattr(trainer.optimizer, "lr", None),
        "data": "MNIST: trained on the 60,000 training images, accuracy on the 10,000 test images",
        "test_accuracy": round(float(acc), 6),
        "test_accuracy_per_epoch": [round(float(a), 6) for a in trainer.history.test_acc],
        "train_seconds": round(trainer.history.seconds, 1),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "script": f"scripts/{Path(sys.argv[0]).name}",
        **extra,
    }
    net.save_params(out / f"{name}.npz", metadata=meta)
    atomic_write_text(out / f"{name}.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"[{name}] test accuracy {acc:.4f}; wrote {out / (name + '.npz')} in {time.strftime('%H:%M:%S')}",
          flush=True)
    return meta


def train_and_save(name: str, description: str, make_net: Any, epochs: int, checkpoint_every: int,
                   augment: Any = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole life of a weights file: parse the command line, train (resuming from the checkpoint
    if there is one) with Adam (lr 0.001) on mini-batches of 100, then write weights/<name>.npz/.json.

    make_net(seed) builds the network; augment(x_batch, rng) is optional.
    """
    args = parse_args(description, epochs=epochs)
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False)
    net = make_net(args.seed)
    ckpt = checkpoint_path(name, args.out)
    if args.fresh:
        ckpt.unlink(missing_ok=True)
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs, mini_batch_size=100,
                      optimizer="adam", optimizer_param={"lr": 0.001}, evaluate_sample_num_per_epoch=10000,
                      seed=args.seed, progress=False, checkpoint_path=ckpt, checkpoint_every=checkpoint_every,
                      resume=True, augment=augment, on_epoch_end=epoch_logger(name))
    record = {"seed": args.seed, **(extra or {})}
    if trainer.current_iter:                 # the checkpoint's settings were checked to match these
        print(f"[{name}] resuming at iteration {trainer.current_iter} (epoch {trainer.epoch})", flush=True)
        record["resumed_at_iteration"] = trainer.current_iter
    trainer.train()
    return finish(name, net, trainer, x_test, t_test, args.out, record)
