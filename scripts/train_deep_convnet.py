"""Train the book's DeepConvNet (section 8.1) on MNIST and save weights/deep_convnet.npz.

    .venv/bin/python scripts/train_deep_convnet.py            # resumes from its checkpoint if one exists

Settings: float32, Adam (lr 0.001), mini-batches of 100, He initialisation, dropout 0.5 on the
affine layers (as the book), plus data augmentation — a random rotation within ±10 degrees and a
shift within ±2 pixels of every training image, every epoch (section 8.1.2). Checkpoints every
100 iterations, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import numpy as np
from _training import checkpoint_path, epoch_logger, finish, parse_args

from common.augment import shift_and_rotate
from common.networks import DeepConvNet
from common.trainer import Trainer
from dataset.mnist import load_mnist

NAME = "deep_convnet"


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=15)
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False)
    net = DeepConvNet(dtype=np.float32, seed=args.seed)
    ckpt = checkpoint_path(NAME, args.out)
    if args.fresh:
        ckpt.unlink(missing_ok=True)
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs, mini_batch_size=100,
                      optimizer="adam", optimizer_param={"lr": 0.001}, evaluate_sample_num_per_epoch=10000,
                      seed=args.seed, progress=False, checkpoint_path=ckpt, checkpoint_every=100, resume=True,
                      augment=lambda x, rng: shift_and_rotate(x, rng, max_shift=2, max_degrees=10.0),
                      on_epoch_end=epoch_logger(NAME))
    if trainer.current_iter:
        print(f"[{NAME}] resuming at iteration {trainer.current_iter} (epoch {trainer.epoch})", flush=True)
    trainer.train()
    finish(NAME, net, trainer, x_test, t_test, args.out,
           {"seed": args.seed, "augmentation": "rotation within ±10°, shift within ±2 px",
            "dropout_ratio": 0.5})


if __name__ == "__main__":
    main()
