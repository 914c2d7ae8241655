"""Wall time of the ch06 random search (6.5.3) in this process vs on chapters.executors.local_executor().

The notebook's settings: 500 MNIST training images split 400 / 100 (seed 0), lr 10^[-6, -2], weight decay
10^[-8, -4], seed 0; full budget 50 trials x 50 epochs (DLFS_QUICK=1: 16 x 40). Also checks that the rows are
identical and prints what sending the data with every trial costs (pickling x_train etc.).

    .venv/bin/python benchmarks/search_executor.py [--workers 2] [--trials N] [--epochs E]
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chapters.ch06 import experiments as ex
from chapters.executors import cpu_count, local_executor
from common.config import budget
from dataset.mnist import load_mnist


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=cpu_count())
    ap.add_argument("--trials", type=int, default=budget(full=50, quick=16))
    ap.add_argument("--epochs", type=int, default=budget(full=50, quick=40))
    ap.add_argument("--context", default=None, help="multiprocessing start method (default: Python's)")
    args = ap.parse_args()

    (x_train, t_train), _ = load_mnist(normalize=True)
    train_idx, val_idx = ex.split_validation(x_train[:500], t_train[:500], validation_rate=0.2, seed=0)
    x_tr, t_tr = x_train[:500][train_idx], t_train[:500][train_idx]
    x_val, t_val = x_train[:500][val_idx], t_train[:500][val_idx]
    kw = {"lr_exp": (-6, -2), "wd_exp": (-8, -4), "seed": 0}

    data = (x_tr, t_tr, x_val, t_val)
    start = time.perf_counter()
    for _ in range(20):
        blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)   # what the pool sends (the worker reads it back)
    per_trial_ms = (time.perf_counter() - start) / 20 * 1e3
    print(f"data sent with each trial: {len(blob) / 1e6:.2f} MB, pickled in {per_trial_ms:.1f} ms")

    print(f"{args.trials} trials x {args.epochs} epochs, OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}, {cpu_count()} cores")
    start = time.perf_counter()
    serial = ex.random_search(*data, args.trials, args.epochs, **kw)
    t_serial = time.perf_counter() - start
    print(f"serial (this process):           {t_serial:7.1f} s")

    start = time.perf_counter()
    with local_executor(args.workers, context=args.context) as pool:
        pooled = ex.random_search(*data, args.trials, args.epochs, **kw, executor=pool)
    t_pool = time.perf_counter() - start
    print(f"local_executor({args.workers}) (incl. start): {t_pool:7.1f} s   speed-up x{t_serial / t_pool:.2f}")
    print("rows identical:", pooled == serial)
    if pooled != serial:
        sys.exit(1)


if __name__ == "__main__":
    main()
