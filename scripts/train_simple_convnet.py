"""Train the book's SimpleConvNet (section 7.5) on MNIST and save weights/simple_convnet.npz.

    .venv/bin/python scripts/train_simple_convnet.py          # resumes from its checkpoint if one exists

Settings as the book's train_convnet: conv 30 filters 5x5 -> ReLU -> 2x2 max pool -> affine 100 ->
ReLU -> affine 10, weights ~ N(0, 0.01^2), Adam (lr 0.001), mini-batches of 100, 20 epochs; float32.
"""
from __future__ import annotations

import numpy as np
from _training import checkpoint_path, epoch_logger, finish, parse_args

from common.networks import SimpleConvNet
from common.trainer import Trainer
from dataset.mnist import load_mnist

NAME = "simple_convnet"


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], epochs=20)
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False)
    net = SimpleConvNet(dtype=np.float32, seed=args.seed)
    ckpt = checkpoint_path(NAME, args.out)
    if args.fresh:
        ckpt.unlink(missing_ok=True)
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=args.epochs, mini_batch_size=100,
                      optimizer="adam", optimizer_param={"lr": 0.001}, evaluate_sample_num_per_epoch=10000,
                      seed=args.seed, progress=False, checkpoint_path=ckpt, checkpoint_every=200, resume=True,
                      on_epoch_end=epoch_logger(NAME))
    if trainer.current_iter:
        print(f"[{NAME}] resuming at iteration {trainer.current_iter} (epoch {trainer.epoch})", flush=True)
    trainer.train()
    finish(NAME, net, trainer, x_test, t_test, args.out, {"seed": args.seed, "augmentation": "none"})


if __name__ == "__main__":
    main()
