"""Train the weights that chapter 3's notebook uses for inference.

The book ships a pre-trained ``sample_weight.pkl`` for its 784-50-100-10 sigmoid network (test accuracy
0.9352). We train our own instead, with the lab's code, and store them without pickle:

    weights/ch03_sigmoid_mlp.npz    W1, b1, W2, b2, W3, b3 (float32) + the training record (JSON inside)
    weights/ch03_sigmoid_mlp.json   the same training record, human-readable

Run from the repository root (``make weights`` runs every scripts/train_*.py):

    .venv/bin/python scripts/train_ch03_mlp.py

Deterministic given SEED (weight initialisation and mini-batch order); takes well under a minute or
two on a laptop.
"""
from __future__ import annotations

import json
import time

import numpy as np

from chapters.ch03 import WEIGHTS_PATH, build_mlp
from common.io import atomic_write_text
from common.trainer import Trainer
from dataset.mnist import load_mnist

SEED = 0
EPOCHS = 10
BATCH_SIZE = 100
OPTIMIZER = "adam"
LR = 0.001
WEIGHT_INIT = "xavier"          # std sqrt(1 / fan_in), suited to sigmoid


def main() -> None:
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True)
    net = build_mlp(seed=SEED, weight_init_std=WEIGHT_INIT)
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=1, mini_batch_size=BATCH_SIZE,
                      optimizer=OPTIMIZER, optimizer_param={"lr": LR}, evaluate_sample_num_per_epoch=10000,
                      seed=SEED, progress=False)
    print(f"training 784-50-100-10 sigmoid MLP: {EPOCHS} epochs, {OPTIMIZER} lr={LR}, batch {BATCH_SIZE}, "
          f"seed {SEED}", flush=True)
    start = time.perf_counter()
    for epoch in range(1, EPOCHS + 1):
        trainer.epochs = epoch       # train() runs the remaining epochs: exactly one more
        trainer.train()
        h = trainer.history
        print(f"epoch {epoch}/{EPOCHS}: loss {h.epoch_loss[-1]:.4f}, train acc {h.train_acc[-1]:.4f}, "
              f"test acc {h.test_acc[-1]:.4f}  ({time.perf_counter() - start:.1f} s)", flush=True)
    seconds = time.perf_counter() - start
    test_acc = net.accuracy(x_test, t_test)
    train_acc = net.accuracy(x_train, t_train)

    record = {
        "network": "MultiLayerNet(784, [50, 100], 10, activation='sigmoid', dtype=float32)",
        "weight_init_std": WEIGHT_INIT,
        "seed": SEED,
        "epochs": EPOCHS,
        "optimizer": OPTIMIZER,
        "lr": LR,
        "batch_size": BATCH_SIZE,
        "data": "MNIST train 60k, normalize=True",
        "train_accuracy": round(train_acc, 4),
        "test_accuracy": round(test_acc, 4),
        "seconds": round(seconds, 1),
        "numpy": np.__version__,
        "script": "scripts/train_ch03_mlp.py",
    }
    net.save_params(WEIGHTS_PATH, metadata=record)
    atomic_write_text(WEIGHTS_PATH.with_suffix(".json"), json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(f"test accuracy {test_acc:.4f} (train {train_acc:.4f}); wrote {WEIGHTS_PATH} "
          f"and {WEIGHTS_PATH.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
