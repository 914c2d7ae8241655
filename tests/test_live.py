"""chapters.live: the live training view (watch, LiveTraining), its Stop, where it shows what, the training panels,
and the chapters' training experiments that use it. One test runs a real kernel and clicks Stop through it."""
from __future__ import annotations

import base64
import threading
import time

import numpy as np
import pytest

import chapters.live as live
from chapters.live import LiveTraining, TrainingFigure, TrainingPanel, display_mode, watch
from common.networks import TwoLayerNet
from common.optimizer import SGD
from common.trainer import Trainer, TrainingDiverged

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_trainer(epochs: int = 3, batch: int = 50, lr: float = 0.1, n: int = 300) -> Trainer:
    """n random samples of 20 features in 4 classes: n / batch updates per epoch."""
    rng = np.random.default_rng(0)
    x, t = rng.random((n, 20)), rng.integers(0, 4, n)
    return Trainer(TwoLayerNet(20, 8, 4, seed=0), x, t, x[:60], t[:60], epochs=epochs, mini_batch_size=batch,
                   optimizer=SGD(lr=lr), seed=0, progress=False)


@pytest.fixture
def shown(monkeypatch):
    """Everything the view hands to IPython's display (objects and raw bundles), in order."""
    calls = []

    class Handle:
        def update(self, obj, **kwargs):
            calls.append(("update", obj, kwargs))

    def fake_display(obj, **kwargs):
        calls.append(("display", obj, kwargs))
        return Handle() if kwargs.get("display_id") else None

    import IPython.display
    monkeypatch.setattr(IPython.display, "display", fake_display)
    return calls


# ---- where it shows what ----------------------------------------------------------------------------
@pytest.mark.parametrize("kernel, dlfs_live, session, expected", [
    (False, None, "notebooks/ch05.ipynb", "text"),      # a script: never widgets
    (False, "1", None, "text"),
    (True, None, "notebooks/ch05.ipynb", "live"),       # JupyterLab's kernels carry JPY_SESSION_NAME
    (True, None, None, "static"),                       # nbconvert / nbval / papermill kernels do not
    (True, "0", "notebooks/ch05.ipynb", "static"),
    (True, "1", None, "live"),
    (True, "off", None, "static"),
])
def test_display_mode_follows_the_documented_rule(monkeypatch, kernel, dlfs_live, session, expected):
    monkeypatch.setattr(live, "_kernel_shell", lambda: object() if kernel else None)
    for name, value in (("DLFS_LIVE", dlfs_live), ("JPY_SESSION_NAME", session)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert display_mode() == expected
    assert display_mode("static") == "static"                  # an explicit mode wins


def test_display_mode_refuses_what_it_does_not_know(monkeypatch):
    monkeypatch.setattr(live, "_kernel_shell", lambda: object())
    monkeypatch.setenv("DLFS_LIVE", "sometimes")
    with pytest.raises(ValueError, match="DLFS_LIVE must be 1 or 0"):
        display_mode()
    with pytest.raises(ValueError, match="mode must be one of"):
        display_mode("video")


# ---- watch ----------------------------------------------------------------------------------------
def test_watch_in_text_mode_trains_returns_the_history_and_says_so(capsys):
    trainer = small_trainer(epochs=3)
    trainer.progress = True
    before = trainer.network.params["W1"].copy()
    history = watch(trainer, mode="text")
    assert history is trainer.history and len(history.test_acc) == 3 and not history.stopped
    assert not np.array_equal(before, trainer.network.params["W1"])
    assert trainer.iteration_callbacks == [] and trainer.epoch_callbacks == []   # watch removed its hooks
    assert trainer.progress is True                                               # and restored the setting
    out = capsys.readouterr().out
    assert "Finished 3 epochs (18 iterations) in " in out and f"test accuracy {history.test_acc[-1]:.4g}." in out


def test_watch_live_stop_keeps_parameters_and_history_and_leaves_a_static_figure(shown, capsys):
    trainer = small_trainer(epochs=100)
    start = {k: v.copy() for k, v in trainer.network.params.items()}

    def press_stop(trainer_, iteration, loss):
        if iteration == 50:
            box = next(obj for kind, obj, _ in shown if kind == "display")
            box.children[1].children[0].click()                     # the Stop button, as a reader would

    trainer.iteration_callbacks.append(press_stop)
    history = watch(trainer, mode="live")
    assert history.stopped and trainer.current_iter == 50 and len(history.train_loss) == 50
    assert len(history.test_acc) == 8                              # 8 whole epochs of 6 updates; the 9th stopped
    assert any(not np.array_equal(start[k], v) for k, v in trainer.network.params.items())
    assert "Stopped after iteration 50 of 600; parameters and history kept." in capsys.readouterr().out
    kinds = [kind for kind, _, _ in shown]
    assert kinds == ["display", "update"]                          # one output, replaced in place
    final = shown[-1][1]
    assert set(final) == {"image/png", "text/plain"} and shown[-1][2] == {"raw": True}
    assert base64.b64decode(final["image/png"]).startswith(PNG_SIGNATURE)
    box = shown[0][1]
    assert box.comm is None and all(w.comm is None for w in box.children)   # the widgets are closed


def test_watch_again_after_stop_continues_to_the_same_end(shown, capsys):
    stopped, full = small_trainer(epochs=4), small_trainer(epochs=4)
    stopped.iteration_callbacks.append(lambda tr, it, loss: tr.stop() if it == 7 else None)
    assert watch(stopped, mode="static").stopped
    stopped.iteration_callbacks.clear()
    history = watch(stopped, mode="static")
    assert not history.stopped and history.train_loss == full.train().train_loss


def _watched_frames(trainer: Trainer, **options) -> tuple[LiveTraining, list[bytes]]:
    """Watch ``trainer`` live (outside a browser), keeping every frame handed to the Image widget."""
    view = LiveTraining("frames", mode="live", **options)
    frames, render = [], view._render

    def render_and_keep(now):
        render(now)
        frames.append(bytes(view.image.value))

    view._render = render_and_keep
    watch(trainer, view=view)
    view.finish()
    return view, frames


def test_live_frames_come_at_most_four_times_a_second_and_show_the_training(shown, capsys):
    start = time.perf_counter()
    view, frames = _watched_frames(small_trainer(epochs=1500, batch=10, n=100), render_share=1.0)
    elapsed = time.perf_counter() - start
    assert elapsed > 1.0 and len(frames) >= 3 and view.renders == len(frames) + 1      # + the final figure
    assert np.diff(view.frame_times).min() >= 0.25 - 1e-6
    assert all(png.startswith(PNG_SIGNATURE) for png in frames)
    assert len(set(frames)) == len(frames)                        # each frame shows more of the training


def test_live_frames_stay_within_their_share_of_the_time(shown, capsys):
    start = time.perf_counter()
    view, frames = _watched_frames(small_trainer(epochs=1500, batch=10, n=100), render_share=1e-6)
    assert time.perf_counter() - start > 0.5                      # long enough for many frames at 4 a second
    # the first frame (it draws the axes: a fixed cost, outside the budget), one more, then the budget is spent
    assert len(frames) == 2


def test_static_mode_shows_nothing_until_the_end(shown, capsys):
    trainer = small_trainer(epochs=2)
    seen_during = []
    trainer.iteration_callbacks.append(lambda *args: seen_during.append(len(shown)))
    watch(trainer, mode="static")
    assert set(seen_during) == {0}
    assert [kind for kind, _, _ in shown] == ["display"] and "image/png" in shown[0][1]
    assert "Finished 2 epochs" in capsys.readouterr().out


def test_an_error_during_watch_still_leaves_the_figure_and_says_what_happened(shown, capsys):
    trainer = small_trainer(epochs=50, lr=1e6)
    with pytest.raises(TrainingDiverged):
        watch(trainer, mode="static")
    assert "image/png" in shown[-1][1]
    assert "Ended by an error after iteration" in capsys.readouterr().out


def test_a_progress_view_over_many_runs_ends_with_its_sentence_alone(shown, capsys):
    """show_runs="last": a figure of the last run would stand for all of them, so the sentence replaces it."""
    with LiveTraining("search", mode="live", show_runs="last", stoppable=False) as view:
        for k in range(3):
            watch(small_trainer(epochs=1), view=view, label=f"trial {k + 1}")
    assert len(view.figure.runs) == 1 and len(view.runs) == 3
    assert [kind for kind, _, _ in shown] == ["display", "update"]
    assert shown[-1][1] == {"text/plain": view.sentence} and view.sentence.startswith("Finished 3 runs (18 iterations)")
    assert capsys.readouterr().out == ""                          # said once, in place of the widgets
    with LiveTraining("search", mode="static", show_runs="last") as view:
        watch(small_trainer(epochs=1), view=view)
    assert len(shown) == 2 and capsys.readouterr().out.startswith("Finished 1 epoch (6 iterations) in ")


def test_interrupting_a_view_says_so(shown, capsys):
    with pytest.raises(KeyboardInterrupt):
        with LiveTraining("loop", mode="static", total_iterations=10) as view:
            for i in range(10):
                view.record_loss(1.0 / (i + 1))
                if i == 3:
                    raise KeyboardInterrupt
    assert "Interrupted after iteration 4; the parameters are as they were then." in capsys.readouterr().out


def test_watch_refuses_what_is_not_a_trainer():
    with pytest.raises(TypeError, match="expected a common.trainer.Trainer"):
        watch(object(), mode="text")


def test_figure_limits_only_widen_while_a_run_lasts():
    figure = TrainingFigure(accuracy=True)
    run = live.Run(total_iterations=100, epochs=5)
    figure.add_run(run)
    run.losses.extend([2.3, 2.2, 2.0])
    first = figure.refresh()
    run.losses.extend([0.2] * 60)
    run.test_acc.extend([0.95, 0.97])
    assert figure.refresh()[:2] == first[:2]                      # a falling loss keeps the loss axes
    run.losses.extend([9.0] * 60)
    assert figure.refresh()[1][1] >= 9.0                           # a rising one widens them
    with pytest.raises(ValueError, match="loss_scale"):
        TrainingFigure(loss_scale="cubic")


# ---- panels -----------------------------------------------------------------------------------------
def _panel(train):
    import ipywidgets as widgets
    controls = {"lr": widgets.FloatText(value=0.1, description="lr")}
    return TrainingPanel(train, controls, "test", lambda s: f"a run at learning rate {s['lr']}")


def test_training_panel_runs_once_per_click_and_never_queues_a_stale_run():
    release, calls = threading.Event(), []

    def train(view, lr):
        calls.append(lr)
        view.start_run("x", 10)
        release.wait(10)
        return f"done at {lr}"

    panel = _panel(train)
    assert repr(panel) == ("Training panel: a run at learning rate 0.1. Press Train in a running notebook "
                           "to train it yourself.")
    bundle = panel._repr_mimebundle_()
    assert bundle["text/plain"] == repr(panel) and "application/vnd.jupyter.widget-view+json" in bundle
    assert calls == []                                              # nothing runs before a click
    panel.button.click()
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert panel.running and panel.button.disabled and panel.controls["lr"].disabled
    panel.controls["lr"].value = 0.5
    panel.button.click()                                           # ignored: a run is going on
    assert panel.start() is False
    release.set()
    panel.wait(10)
    assert calls == [0.1] and panel.runs_started == 1
    assert not panel.button.disabled and panel.status.value == "done at 0.1"
    assert bytes(panel.image.value).startswith(PNG_SIGNATURE)


def test_training_panel_stop_ends_the_run_and_the_panel_says_so():
    def train(view, lr):
        view.start_run("endless", 10_000)
        while not view.stop_requested:
            view.record_loss(1.0)
            time.sleep(0.001)
        return None

    panel = _panel(train)
    panel.start()
    time.sleep(0.3)
    panel.stop_button.click()
    assert panel.stop_button.description == "Stopping…"
    panel.wait(10)
    assert not panel.running
    assert panel.status.value.startswith("Stopped after iteration ")
    assert panel.status.value.endswith(" of 10,000; parameters and history kept.")
    assert panel.stop_button.description == "Stop" and panel.stop_button.disabled    # ready for the next run


def test_a_stop_click_that_arrives_after_the_run_ended_changes_nothing():
    """The browser may still show Stop enabled when a short run has just finished: the late click must not
    leave the button saying "Stopping…" (nothing is stopping) nor touch the finished run's sentence."""
    def train(view, lr):
        view.start_run("short", 3)
        for _ in range(3):
            view.record_loss(1.0)
        return "finished"

    panel = _panel(train)
    panel.start()
    panel.wait(10)
    panel.stop_button.click()                                      # too late: the run is over
    assert panel.stop_button.description == "Stop" and panel.stop_button.disabled
    assert panel.status.value == "finished" and not panel.view.stop_requested
    assert not panel.button.disabled
    panel.start()                                                   # and the next run is not stopped by it
    panel.wait(10)
    assert panel.status.value == "finished"


def test_training_panel_shows_a_failure_instead_of_hiding_it():
    def train(view, lr):
        raise ValueError("bad settings")

    panel = _panel(train)
    panel.start()
    panel.wait(10)
    assert panel.status.value == "Training failed: ValueError: bad settings" and not panel.button.disabled


# ---- the chapters' training experiments ------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist():
    from dataset.mnist import load_mnist
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
    return x_train[:2000], t_train[:2000], x_test[:500], t_test[:500]


def test_ch05_two_layer_net_run_is_deterministic_and_stoppable(mnist, capsys):
    from chapters.ch05 import train_two_layer_net
    from chapters.training_panels import two_layer_net_panel
    a, net_a = train_two_layer_net(*mnist, batch_size=100, lr=0.1, epochs=2)
    b, _ = train_two_layer_net(*mnist, batch_size=100, lr=0.1, epochs=2)
    assert a.train_loss == b.train_loss and len(a.train_loss) == 40 and a.test_acc[-1] > 0.3
    view = LiveTraining("stop", mode="text")
    view.request_stop()                                            # Stop pressed before this run began
    c, net_c = train_two_layer_net(*mnist, batch_size=100, lr=0.1, epochs=2, view=view)
    assert c.stopped and c.train_loss == [] and c.test_acc == []
    panel = two_layer_net_panel(*mnist, epochs=2)
    assert repr(panel).startswith("Training panel: TwoLayerNet on MNIST, 2 epochs in batches of 100 at learning rate 0.1.")


def test_ch06_optimizer_run_is_the_comparisons_run_and_stoppable(mnist):
    from chapters.ch06 import experiments as ex
    from chapters.training_panels import optimizer_panel
    x, t = mnist[0], mnist[1]
    alone = ex.optimizer_run(x, t, "momentum", 0.01, iters=25)
    compared = ex.compare_optimizers(x, t, 25, optimizers={"Momentum": ("momentum", {"lr": 0.01})})
    np.testing.assert_array_equal(alone, compared["Momentum"])
    view = LiveTraining("stop", mode="text")
    view.start_run("x", 25)
    view.request_stop()
    assert len(ex.optimizer_run(x, t, "momentum", 0.01, iters=25, view=view)) == 1
    assert repr(optimizer_panel(x, t, iters=25)).startswith(
        "Training panel: 25 updates of the 5-layer ReLU net with sgd at learning rate 0.01.")


def test_ch04_single_image_run_draws_every_step_and_stops(mnist):
    from chapters.ch04 import train_single_image
    from chapters.training_panels import single_image_panel
    x, t = mnist[0][0], int(mnist[1][0])
    view = LiveTraining("one image", mode="text")
    view.start_run("x", 81)
    run = train_single_image(x, t, 100, "relu", 0.01, 80, 0, 0.01, view=view)
    assert len(view.runs[-1].losses) == 81 and np.allclose(view.runs[-1].losses, run.losses)
    view = LiveTraining("one image", mode="text")
    view.start_run("x", 81)
    view.request_stop()
    stopped = train_single_image(x, t, 100, "relu", 0.01, 80, 0, 0.01, view=view)
    assert len(stopped.losses) == 1 and stopped.losses[0] == run.losses[0]      # the start, then no step
    assert repr(single_image_panel(x, t)).startswith("Training panel: 80 steps on one image")


# ---- a real kernel: the Stop click reaches a cell that is busy training --------------------------------
KERNEL_CELL = """
import numpy as np
from chapters.live import watch
from common.networks import TwoLayerNet
from common.trainer import Trainer
rng = np.random.default_rng(0)
x, t = rng.random((3000, 20)), rng.integers(0, 4, 3000)
trainer = Trainer(TwoLayerNet(20, 8, 4, seed=0), x, t, x[:300], t[:300], epochs=5000, mini_batch_size=10,
                  optimizer="sgd", seed=0, progress=False)
history = watch(trainer)
print("stopped:", history.stopped)
"""


@pytest.mark.slow
def test_stop_click_reaches_a_busy_kernel(tmp_path):
    """JupyterLab's side played by jupyter_client: the cell runs watch(); when the Stop button's comm opens we
    send the click a browser would send, while the cell is still training."""
    import os
    import queue

    from jupyter_client.manager import start_new_kernel
    env = {**os.environ, "DLFS_LIVE": "1", "OPENBLAS_NUM_THREADS": "1"}
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(live.__file__).rsplit("/chapters/", 1)[0], env=env)
    try:
        msg_id = kc.execute(KERNEL_CELL)
        stop_comm, clicked_at, texts, updates = None, None, [], []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                msg = kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                msg = None
            if msg is not None:
                kind, content = msg["msg_type"], msg["content"]
                if kind == "comm_open" and content["data"]["state"].get("description") == "Stop":
                    stop_comm = content["comm_id"]
                elif kind == "stream":
                    texts.append(content["text"])
                elif kind == "update_display_data":
                    updates.append(content["data"])
                elif kind == "error":
                    pytest.fail(f"the cell raised {content['ename']}: {content['evalue']}")
                elif (kind == "status" and content["execution_state"] == "idle"
                      and msg["parent_header"].get("msg_id") == msg_id):
                    break
            if stop_comm and clicked_at is None:
                time.sleep(1.0)                                   # let it train a little
                kc.shell_channel.send(kc.session.msg("comm_msg", {
                    "comm_id": stop_comm, "data": {"method": "custom", "content": {"event": "click"}}}))
                clicked_at = time.monotonic()
        assert clicked_at is not None, "the Stop button was never shown"
        assert time.monotonic() - clicked_at < 20, "the cell did not end soon after the click"
        out = "".join(texts)
        assert "Stopped after iteration " in out and "of 1,500,000; parameters and history kept." in out
        assert "stopped: True" in out
        assert updates and "image/png" in updates[-1]              # the widgets were replaced by the figure
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
