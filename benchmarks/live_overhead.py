"""What watching costs: the chapter 5 TwoLayerNet run with and without the live training view.

The run is the notebook's own (5.7.4): TwoLayerNet(784, 50, 10) in float32, SGD lr 0.1, batches of 100,
20 epochs (12,000 updates), accuracies on 10,000 images of each set after every epoch. It is timed as
``trainer.train()`` and as ``watch(trainer, mode="live")``: the real live path — every frame drawn by
Matplotlib, encoded as PNG and handed to the ``ipywidgets.Image``, the status line, the final figure —
with the widgets' output going nowhere (no browser). The two are run alternately, ``--repeats`` times
each, and compared by the medians of their wall and CPU times. On a busy machine those swing by more
than the overhead, so the view's own costs are reported as well, and they do not depend on the load:
the time it spent drawing (frames and the final figure) and the time its per-iteration hook takes.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/live_overhead.py [--repeats 3] [--epochs 20]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chapters.live import LiveTraining, watch  # noqa: E402
from common.networks import TwoLayerNet  # noqa: E402
from common.trainer import Trainer  # noqa: E402
from dataset.mnist import load_mnist  # noqa: E402


def ch05_trainer(data: tuple, epochs: int) -> Trainer:
    (x_train, t_train), (x_test, t_test) = data
    net = TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0)
    return Trainer(net, x_train, t_train, x_test, t_test, epochs=epochs, mini_batch_size=100, optimizer="sgd",
                   optimizer_param={"lr": 0.1}, evaluate_sample_num_per_epoch=10_000, seed=0, progress=False)


def timed_plain(data: tuple, epochs: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of trainer.train()."""
    trainer = ch05_trainer(data, epochs)
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    return time.perf_counter() - wall, time.process_time() - cpu


def timed_watched(data: tuple, epochs: int) -> tuple[float, float, LiveTraining]:
    """(wall seconds, CPU seconds, the view) of the same run watched live."""
    trainer = ch05_trainer(data, epochs)
    with contextlib.redirect_stdout(io.StringIO()):         # the widgets' and the sentence's output
        wall, cpu = time.perf_counter(), time.process_time()
        view = LiveTraining("TwoLayerNet, SGD lr 0.1, batch 100", mode="live")
        watch(trainer, view=view)
        view.finish()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, view


def hook_seconds(data: tuple, iterations: int) -> float:
    """What watch's per-iteration callback costs when no frame is due (nearly every iteration), times
    ``iterations``: the callback is taken from the trainer while watch runs, then called on its own."""
    trainer = ch05_trainer(data, 1)
    captured = []
    trainer.iteration_callbacks.append(lambda tr, it, loss: captured or captured.append(tr.iteration_callbacks[-1]))
    with contextlib.redirect_stdout(io.StringIO()):
        view = LiveTraining("hook cost", mode="live")
        watch(trainer, view=view)
        hook = captured[0]
        view._next_render = view._next_poll = float("inf")
        start = time.perf_counter()
        for i in range(iterations):
            hook(trainer, i, 0.5)
        seconds = time.perf_counter() - start
        view.finish()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    data = load_mnist(normalize=True)
    timed_plain(data, 1)                                    # warm-up: caches, first-call costs
    runs = {"plain": [], "watched": []}
    frames, drawing = [], []
    for _ in range(args.repeats):
        runs["plain"].append(timed_plain(data, args.epochs))
        wall, cpu, view = timed_watched(data, args.epochs)
        runs["watched"].append((wall, cpu))
        frames.append(view.renders)
        drawing.append(view.render_seconds)
    iterations = args.epochs * 600
    hook = hook_seconds(data, iterations)
    med = {f"{name}_{kind}_s": round(statistics.median(t[k] for t in times), 3)
           for name, times in runs.items() for k, kind in enumerate(("wall", "cpu"))}
    result = {
        "run": f"ch05 TwoLayerNet, {args.epochs} epochs ({iterations:,} updates)", "repeats": args.repeats,
        **{f"{name}_wall_cpu_s": [[round(w, 3), round(c, 3)] for w, c in times] for name, times in runs.items()},
        **med,
        "overhead_wall_medians": round(med["watched_wall_s"] / med["plain_wall_s"] - 1, 4),
        "overhead_cpu_medians": round(med["watched_cpu_s"] / med["plain_cpu_s"] - 1, 4),
        "frames_per_run": frames,
        "drawing_s_per_run": [round(s, 3) for s in drawing],
        "hook_s_per_run": round(hook, 4),
        "view_cost_share_of_plain_run": round((statistics.median(drawing) + hook) / med["plain_wall_s"], 4),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
