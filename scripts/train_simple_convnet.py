"""Train the book's SimpleConvNet (section 7.5) on MNIST and save weights/simple_convnet.npz.

    .venv/bin/python scripts/train_simple_convnet.py          # resumes from its checkpoint if one exists

Settings as the book's train_convnet: conv 30 filters 5x5 -> ReLU -> 2x2 max pool -> affine 100 ->
ReLU -> affine 10, weights ~ N(0, 0.01^2), Adam (lr 0.001), mini-batches of 100, 20 epochs; float32.
"""
from __future__ import annotations

import numpy as np
from _training import train_and_save

from common.networks import SimpleConvNet

if __name__ == "__main__":
    train_and_save("simple_convnet", __doc__.splitlines()[0],
                   make_net=lambda seed: SimpleConvNet(dtype=np.float32, seed=seed),
                   epochs=20, checkpoint_every=200, extra={"augmentation": "none"})
