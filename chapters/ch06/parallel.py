"""Chapter 6's multi-run experiments on an executor: the pieces they share.

An experiment of several independent training runs (``compare_optimizers`` and ``compare_weight_inits``,
``bn_weight_scale_experiment`` for Batch Normalization across weight scales, ``bn_scale_lr_grid`` for BN's
scale against the learning rate, ``regularisation_runs`` for weight decay and dropout, all in
:mod:`chapters.ch06.experiments`) takes ``executor=``. None trains the runs here, one after the other, each
drawn live into the ``view``; a :class:`concurrent.futures.Executor` (a process
pool from :func:`chapters.executors.local_executor`, a Dask ``client.get_executor()``) trains them on its
workers, one task per run, and the view shows each run as its result comes back. A task is a module-level
function with its keyword arguments, so it runs under the "spawn" and "forkserver" start methods as well as
under "fork".

BLAS threads. OpenBLAS cuts the inner dimension of a matrix product into blocks differently on one thread than
on several, so one thread and two can disagree in the last bits of a product of MNIST-sized rows (784 > its
block); over hundreds of epochs those bits grow into different accuracies. Every run of these experiments
therefore trains with one BLAS thread, on a worker and in the serial path alike (:func:`one_blas_thread`), so
n workers use n cores and, every run being seeded on its own, the results equal the serial run's exactly
wherever the runs trained.
"""
from __future__ import annotations

import concurrent.futures
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from common.trainer import History

if TYPE_CHECKING:
    from chapters.live import LiveTraining

__all__ = ["RunRecorder", "map_runs", "one_blas_thread", "run_task", "show_finished_run"]


def one_blas_thread() -> Any:
    """A context manager: within it, BLAS (and OpenMP) use one thread in this process."""
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=1)


class RunRecorder:
    """What a worker keeps of a run instead of drawing it: the calls a training loop makes on a
    :class:`~chapters.live.LiveTraining` (``record_loss``, ``record_epoch``, ``stop_requested``), recorded
    for the caller's view to draw. It never asks to stop."""

    stop_requested = False

    def __init__(self) -> None:
        self.losses: list[float] = []        # one per iteration
        self.train_acc: list[float] = []     # one per epoch
        self.test_acc: list[float] = []      # one per epoch

    def record_loss(self, loss: float) -> None:
        self.losses.append(float(loss))

    def record_epoch(self, train_acc: float | None = None, test_acc: float | None = None) -> None:
        if train_acc is not None:
            self.train_acc.append(float(train_acc))
        if test_acc is not None:
            self.test_acc.append(float(test_acc))

    def history(self) -> History:
        """The recorded numbers as a :class:`~common.trainer.History` (its lists, not copies)."""
        return History(train_loss=self.losses, train_acc=self.train_acc, test_acc=self.test_acc)


def run_task(fn: Callable[..., Any], kwargs: dict[str, Any], record: bool = False) -> Any:
    """``fn(**kwargs)`` with one BLAS thread, in whichever process runs it.

    record: also pass ``view=RunRecorder()`` to ``fn`` and return (its result, the recorder).
    """
    with one_blas_thread():
        if not record:
            return fn(**kwargs)
        recorder = RunRecorder()
        return fn(**kwargs, view=recorder), recorder


def map_runs(fn: Callable[..., Any], runs: Sequence[dict[str, Any]], executor: concurrent.futures.Executor,
             record: bool = False) -> Iterator[Any]:
    """``fn(**kwargs)`` for each ``kwargs`` of ``runs``, one task each on ``executor``'s workers (one BLAS
    thread each). Yields the results in the order of ``runs``, each as soon as it and those before it are
    back; with ``record``, (result, :class:`RunRecorder`) pairs (see :func:`run_task`).

    The arguments travel with each task (pickled), so a free worker takes the next run and the workers stay
    evenly busy; ``fn`` must be a module-level function.
    """
    return executor.map(run_task, [fn] * len(runs), runs, [record] * len(runs))


def show_finished_run(view: LiveTraining, label: str, history: History, total_iterations: int,
                      iterations_per_epoch: int | None = None, epochs: int | None = None) -> None:
    """Add a run that trained elsewhere to ``view``: one finished line, read from ``history`` (the arguments
    as in :meth:`~chapters.live.LiveTraining.start_run`)."""
    view.start_run(label, total_iterations, iterations_per_epoch, epochs, history=history)
    view.tick(force=True)
