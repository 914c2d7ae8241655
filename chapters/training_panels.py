"""Training experiments as controls: chapters 4-6's runs behind dropdowns, sliders and a Train button.

Each panel is a thin :class:`chapters.live.TrainingPanel` over a plain function of its chapter, which the
notebook also calls once with its defaults (seeded: the same settings give the same run):

- :func:`single_image_panel` (ch04) — ``chapters.ch04.train_single_image``: hidden size, activation and
  initial weight scale of a TwoLayerNet trained on one image;
- :func:`two_layer_net_panel` (ch05) — ``chapters.ch05.train_two_layer_net``: batch size and learning rate
  of 5.7.4's run on MNIST;
- :func:`optimizer_panel` (ch06) — ``chapters.ch06.experiments.optimizer_run``: optimizer and learning rate
  of 6.1.8's 5-layer ReLU net on MNIST.

A panel trains on a click only, one run at a time (Train is disabled while it runs), draws the run live
with a Stop button, and ends with a sentence; saved without a kernel, it reads as a sentence too.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from chapters.ch04 import train_single_image
from chapters.ch05 import train_two_layer_net
from chapters.ch06.experiments import final_loss, optimizer_run
from chapters.live import LiveTraining, TrainingPanel


def _log_slider(description: str, value: float, low_exp: float, high_exp: float) -> Any:
    """A learning-rate slider from 10**low_exp to 10**high_exp in quarter decades."""
    import ipywidgets as widgets
    return widgets.FloatLogSlider(value=value, base=10, min=low_exp, max=high_exp, step=0.25,
                                  description=description, readout_format=".3g", continuous_update=False)


def single_image_panel(x: np.ndarray, t: int, lr: float = 0.01, steps: int = 80) -> TrainingPanel:
    """``train_single_image`` on image x (784,) with label t as a control: hidden size, activation and initial
    weight scale, then Train; the loss on the image is drawn per step (log scale)."""
    import ipywidgets as widgets
    controls = {"hidden_size": widgets.Dropdown(options=[2, 10, 100, 1000], value=100, description="hidden"),
                "activation": widgets.Dropdown(options=["relu", "sigmoid"], value="relu", description="activation"),
                "weight_init_std": widgets.Dropdown(options=[0.0001, 0.01, 0.1, 1.0, "he"], value=0.01,
                                                    description="weight std")}

    def describe(settings: dict[str, Any]) -> str:
        return (f"{steps} steps on one image (lr {lr}) of a network with {settings['hidden_size']} "
                f"{settings['activation']} units, initial weights std {settings['weight_init_std']}")

    def train(view: LiveTraining, hidden_size: int, activation: str, weight_init_std: float | str) -> str:
        view.start_run(f"hidden {hidden_size}, {activation}, std {weight_init_std}", steps + 1)
        run = train_single_image(x, t, hidden_size, activation, lr, steps, 0, weight_init_std, view=view)
        first = run.first_correct_step
        return (f"After {len(run.losses) - 1} steps: loss {run.losses[-1]:.3g}, p({t}) = {run.probs[-1][t]:.3f}, "
                f"predicted {run.predictions[-1]}" + (f" (first {t} at step {first})." if first is not None else "."))

    return TrainingPanel(train, controls, "TwoLayerNet trained on one image", describe, loss_scale="log",
                         accuracy=False)


def two_layer_net_panel(x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray, t_test: np.ndarray,
                        epochs: int = 5) -> TrainingPanel:
    """``train_two_layer_net`` on (N, 784) images and their labels as a control: batch size and learning rate,
    then Train; ``epochs`` per run."""
    import ipywidgets as widgets
    controls = {"batch_size": widgets.Dropdown(options=[10, 32, 100, 300, 1000, 3000], value=100,
                                               description="batch size"),
                "lr": _log_slider("lr", 0.1, -3, 1)}

    def describe(settings: dict[str, Any]) -> str:
        return (f"TwoLayerNet on MNIST, {epochs} epochs in batches of {settings['batch_size']} "
                f"at learning rate {settings['lr']:.3g}")

    def train(view: LiveTraining, batch_size: int, lr: float) -> str | None:
        history, _net = train_two_layer_net(x_train, t_train, x_test, t_test, batch_size, lr, epochs, view=view)
        if history.stopped or not history.test_acc:
            return None                                   # the view's own sentence says where it stopped
        return (f"Batch {batch_size}, lr {lr:.3g}: test accuracy {history.test_acc[-1]:.4f} after {epochs} epochs "
                f"({len(history.train_loss):,} updates, {history.seconds:.3g} s).")

    return TrainingPanel(train, controls, "TwoLayerNet on MNIST (5.7.4)", describe, loss_axis="epoch")


def optimizer_panel(x: np.ndarray, t: np.ndarray, iters: int = 2000) -> TrainingPanel:
    """``optimizer_run`` on (N, 784) images and their labels as a control: optimizer and learning rate, then
    Train; ``iters`` updates per run, the loss drawn as it goes."""
    import ipywidgets as widgets
    controls = {"optimizer": widgets.Dropdown(options=["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"],
                                              value="sgd", description="optimizer"),
                "lr": _log_slider("lr", 0.01, -4, 0)}

    def describe(settings: dict[str, Any]) -> str:
        return (f"{iters:,} updates of the 5-layer ReLU net with {settings['optimizer']} "
                f"at learning rate {settings['lr']:.3g}")

    def train(view: LiveTraining, optimizer: str, lr: float) -> str | None:
        try:
            losses = optimizer_run(x, t, optimizer, lr, iters, view=view)
        except FloatingPointError as err:
            return f"{optimizer} at lr {lr:.3g} diverged ({err}): try a smaller learning rate."
        if view.stop_requested:
            return None
        return (f"{optimizer} at lr {lr:.3g}: mean loss over the last {iters // 10} updates "
                f"{final_loss(losses, iters // 10):.4g}.")

    return TrainingPanel(train, controls, "5-layer ReLU net on MNIST (6.1.8)", describe, accuracy=False)
