"""Train the book's DeepConvNet (section 8.1) on MNIST and save weights/deep_convnet.npz.

    .venv/bin/python scripts/train_deep_convnet.py            # resumes from its checkpoint if one exists

Settings: float32, Adam (lr 0.001), mini-batches of 100, He initialisation, dropout 0.5 on the
affine layers (as the book), plus data augmentation — a random rotation within ±10 degrees and a
shift within ±2 pixels of every training image, every epoch (section 8.1.2). Checkpoints every
100 iterations, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import numpy as np
from _training import train_and_save

from chapters.ch08.augment import shift_and_rotate
from common.networks import DeepConvNet

if __name__ == "__main__":
    train_and_save("deep_convnet", __doc__.splitlines()[0],
                   make_net=lambda seed: DeepConvNet(dtype=np.float32, seed=seed),
                   epochs=15, checkpoint_every=100,
                   augment=lambda x, rng: shift_and_rotate(x, rng, max_shift=2, max_degrees=10.0),
                   extra={"augmentation": "rotation within ±10°, shift within ±2 px", "dropout_ratio": 0.5})
