"""Tests of chapters.ch08: viz (8.1-8.4 tables and drawings), experiments (8.1-8.5) and augment (8.1.2)."""
import numpy as np
import pytest

from chapters.ch08.augment import random_shift, rotate, shift_and_rotate
from chapters.ch08.experiments import (
    SkipMLP,
    augmentation_experiment,
    blas_threads,
    cast_state,
    compare_precisions,
    conv_share,
    data_parallel_gradient,
    federated_average,
    gpu_status,
    gradient_norm_profile,
    label_noise_experiment,
    layer_output_dtypes,
    layer_times,
    noisy_label_data,
    plot_augmentation_results,
    plot_gradient_norms,
    plot_layer_times,
    plot_throughput,
    plot_toy_gan,
    throughput,
    toy_gan_1d,
    unfolded_bytes,
)
from chapters.ch08.reinforcement import (
    GRID_WORLD,
    format_grid_policy,
    grid_greedy_path,
    grid_q_learning,
    grid_shortest_path,
    grid_step,
)
from chapters.ch08.viz import (
    VGG16_CONFIG,
    affine_as_convolution,
    centre_to_corners,
    cnn_param_count,
    confusion_matrix,
    convolutionalize,
    corners_to_centre,
    decode_centre_log_size,
    depth_tradeoff,
    detect_digits,
    digit_canvas,
    format_summary,
    ink_box,
    iou,
    layer_summary,
    match_detections,
    misclassified,
    place_digits,
    plot_boxes,
    plot_confusion_matrix,
    plot_depth_tradeoff,
    plot_misclassified_grid,
    plot_segmentation,
    predict_scores,
    receptive_fields,
    segment_digits,
    softmax_probs,
    top_confusions,
    valid_box,
    window_probs,
)
from common.gradient import numerical_gradient
from common.layers import Affine, Convolution
from common.networks import DeepConvNet, MultiLayerNet, Network, SimpleConvNet


@pytest.fixture(scope="module")
def deep():
    return DeepConvNet(dtype=np.float64, seed=3)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((6, 1, 28, 28))


# ---- architecture table ---------------------------------------------------------------------
def test_layer_summary_shapes_params_and_macs(deep, images):
    rows = layer_summary(deep, (1, 28, 28))
    assert [r.name for r in rows] == list(deep.layers)
    # output shapes are those of a forward pass of real images
    for r, (name, _layer, out) in zip(rows, deep.layer_outputs(images[:2])):
        assert r.output_shape == out.shape[1:], name
    assert sum(r.params for r in rows) == sum(p.size for p in deep.params.values()) == 123_552
    by_name = {r.name: r for r in rows}
    assert by_name["Conv1"].macs == 16 * 28 * 28 * 1 * 3 * 3
    assert by_name["Conv4"].output_shape == (32, 16, 16)               # pad 2 grows the map
    assert by_name["Affine7"].macs == 1024 * 50 and by_name["Relu1"].macs == 0
    text = format_summary(rows, (1, 28, 28))
    assert "123,552" in text and "Conv6" in text and text.splitlines()[2].startswith("input")


@pytest.mark.parametrize("fast", [True, False])
def test_layer_summary_names_the_book_layers(fast):
    """common.fast's FastRelu is listed as the book's Relu: the table is the same for both layer sets."""
    rows = layer_summary(DeepConvNet(dtype=np.float32, seed=0, fast=fast), (1, 28, 28))
    kinds = {r.name: r.kind for r in rows}
    assert kinds["Relu1"] == "Relu" and kinds["Pool1"] == "max pool 2x2, stride 2"
    assert kinds["Conv4"] == "conv 3x3, 32 filters, pad 2, stride 1" and kinds["Dropout8"] == "dropout 0.5"


# ---- errors -----------------------------------------------------------------------------------
def test_predict_scores_batches_agree_with_predict(deep, images):
    np.testing.assert_allclose(predict_scores(deep, images, batch_size=4), deep.predict(images), rtol=1e-12)


def test_misclassified_sorted_by_confidence():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.05, 0.95], [0.7, 0.3]])
    t = np.array([0, 0, 1, 1, 1])
    # wrong: 1 (conf 0.8), 2 (0.6), 4 (0.7) -> most confident first
    assert misclassified(probs, t).tolist() == [1, 4, 2]


def test_confusion_matrix_and_top_confusions():
    t = np.array([0, 0, 1, 2, 2, 2, 1])
    p = np.array([0, 1, 1, 1, 1, 0, 1])
    cm = confusion_matrix(t, p, 3)
    expected = np.zeros((3, 3), int)
    for a, b in zip(t, p):
        expected[a, b] += 1
    np.testing.assert_array_equal(cm, expected)
    assert cm.sum() == len(t) and np.trace(cm) == 3
    assert top_confusions(cm, 2) == [(2, 1, 2), (0, 1, 1)]
    with pytest.raises(ValueError):
        confusion_matrix(t, p[:3])


def test_plot_misclassified_grid_titles(images):
    probs = softmax_probs(np.random.default_rng(1).standard_normal((6, 10)) * 3)
    t = (probs.argmax(axis=1) + 1) % 10                                # every one wrong
    idx = misclassified(probs, t)
    fig = plot_misclassified_grid(images, probs, t, idx, ncols=4)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert len(titled) == 6 and len(fig.axes) == 8                     # 2 rows x 4, two empty
    i = idx[0]
    assert titled[0].get_title() == f"{t[i]} -> {probs[i].argmax()}\n{probs[i].max():.2f}"


def test_plot_confusion_matrix_annotates_counts():
    cm = np.diag([5, 6, 7]) + np.array([[0, 2, 0], [0, 0, 0], [1, 0, 0]])
    fig = plot_confusion_matrix(cm)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"5", "6", "7", "2", "1"} <= texts and "0" not in texts


# ---- depth --------------------------------------------------------------------------------------
def test_receptive_fields_of_deep_convnet(deep):
    assert receptive_fields(deep) == [("Conv1", 3), ("Conv2", 5), ("Pool1", 6), ("Conv3", 10), ("Conv4", 14),
                                      ("Pool2", 16), ("Conv5", 24), ("Conv6", 32), ("Pool3", 36)]


def test_receptive_field_measured_by_backprop():
    """The input pixels that influence one output unit span exactly the computed receptive field."""
    net = SimpleConvNet(conv_param={"filter_num": 2, "filter_size": 5, "pad": 0, "stride": 1}, seed=0)
    conv, pool = net.layers["Conv1"], net.layers["Pool1"]
    conv.W[...] = 1.0                                                  # positive weights: nothing cancels
    x = np.ones((1, 1, 28, 28))
    out = pool.forward(np.maximum(conv.forward(x), 0))
    dout = np.zeros_like(out)
    dout[0, 0, 5, 5] = 1.0
    # the pooled unit covers a 2x2 window of conv units: send a gradient to all four of them
    dx = conv.backward(dout.repeat(2, axis=2).repeat(2, axis=3))
    ys, xs = np.nonzero(dx[0, 0])
    assert ys.max() - ys.min() + 1 == xs.max() - xs.min() + 1 == 6
    assert receptive_fields(net)[-1] == ("Pool1", 6)


def test_depth_tradeoff_numbers():
    rows = depth_tradeoff(3, channels=1)
    assert [(r["receptive_field"], r["stacked_params"], r["single_params"]) for r in rows] == \
        [(3, 9, 9), (5, 18, 25), (7, 27, 49)]
    assert len(plot_depth_tradeoff(4, 8, net=DeepConvNet(seed=0)).axes) == 2


def test_cnn_param_count_vgg16_and_deep_convnet():
    vgg = cnn_param_count(VGG16_CONFIG)
    assert vgg["total"] == 138_357_544 and vgg["final_side"] == 7
    # a DeepConvNet-like stack without its pad-2 layer: 28 -> 14 -> 7 -> 3
    small = cnn_param_count((16, 16, "M", 32, 32, "M", 64, 64, "M"), in_channels=1, image_size=28, fc_sizes=(50, 10))
    assert small["conv"] == 160 + 2320 + 4640 + 9248 + 18496 + 36928
    assert small["fc"] == 64 * 3 * 3 * 50 + 50 + 510


# ---- FC = conv ---------------------------------------------------------------------------------
def test_affine_equals_full_size_convolution():
    rng = np.random.default_rng(0)
    affine = Affine(rng.standard_normal((3 * 4 * 5, 7)), rng.standard_normal(7))
    conv = affine_as_convolution(affine, (3, 4, 5))
    assert isinstance(conv, Convolution) and conv.W.shape == (7, 3, 4, 5)
    x = rng.standard_normal((2, 3, 4, 5))
    out = conv.forward(x)
    assert out.shape == (2, 7, 1, 1)
    np.testing.assert_allclose(out[:, :, 0, 0], affine.forward(x), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="rows"):
        affine_as_convolution(affine, (3, 4, 4))


def test_convolutionalize_same_scores_and_sliding_window(deep, images):
    fcn = convolutionalize(deep, (1, 28, 28))
    assert isinstance(fcn, Network) and fcn.dtype == deep.dtype and list(fcn.layers) == list(deep.layers)
    assert not any(isinstance(layer, Affine) for layer in fcn.layers.values())
    assert fcn.layers["Affine7"].W.shape == (50, 64, 4, 4) and fcn.layers["Affine8"].W.shape == (10, 50, 1, 1)
    assert fcn.layers["Relu1"] is deep.layers["Relu1"]                  # the other layers are shared
    np.testing.assert_allclose(fcn.predict(images)[:, :, 0, 0], deep.predict(images), rtol=1e-10, atol=1e-12)
    wide = fcn.predict(np.zeros((1, 1, 28, 60)))
    assert wide.shape == (1, 10, 1, 5)                                  # 5 windows, 8 pixels apart
    shapes = {name: out.shape for name, _, out in fcn.layer_outputs(np.zeros((2, 1, 28, 60)))}
    assert shapes["Pool3"] == (2, 64, 4, 8) and shapes["Affine7"] == (2, 50, 1, 5)


# ---- boxes -------------------------------------------------------------------------------------
def test_box_encodings_round_trip_and_iou():
    corners = np.array([[2.0, 3.0, 10.0, 7.0], [0.0, 0.0, 4.0, 4.0]])
    centre = corners_to_centre(corners)
    np.testing.assert_allclose(centre[0], [6.0, 5.0, 8.0, 4.0])
    np.testing.assert_allclose(centre_to_corners(centre), corners)
    assert iou(corners[0], corners[0]) == pytest.approx(1.0)
    assert iou(np.array([0, 0, 2, 2]), np.array([1, 0, 3, 2])) == pytest.approx(1 / 3)
    assert iou(np.array([0, 0, 1, 1]), np.array([5, 5, 6, 6])) == 0.0


def test_centre_log_size_always_decodes_to_a_valid_box():
    raw = np.random.default_rng(0).standard_normal((1000, 4)) * 3
    assert valid_box(decode_centre_log_size(raw)).all()
    assert not valid_box(raw).all()                                     # raw corners often are not


def test_ink_box_and_canvas():
    img = np.zeros((28, 28))
    img[5:9, 10:20] = 1.0
    np.testing.assert_array_equal(ink_box(img), [10, 5, 20, 9])
    canvas = place_digits([img, img], [(0, 0), (30, 40)], size=(64, 96))
    assert canvas.shape == (64, 96)
    np.testing.assert_array_equal(ink_box(canvas[30:58, 40:68]), [10, 5, 20, 9])
    with pytest.raises(ValueError):
        ink_box(np.zeros((5, 5)))
    fig = plot_boxes(canvas, np.array([[10, 5, 20, 9]]), ["7"])
    assert len(fig.axes[0].patches) == 1


# ---- detection and segmentation on a canvas (8.4.1-8.4.2) -------------------------------------
def test_digit_canvas_places_non_overlapping_digits_and_labels_their_pixels(images):
    labels = np.arange(6)
    scene = digit_canvas(images, labels, np.random.default_rng(0), n_digits=3, size=(60, 90))
    canvas, boxes = scene["canvas"], scene["boxes"]
    assert canvas.shape == scene["pixels"].shape == (60, 90) and boxes.shape == (3, 4)
    np.testing.assert_array_equal(boxes[:, 2:] - boxes[:, :2], 28)
    assert all(iou(boxes[a], boxes[b]) == 0 for a in range(3) for b in range(a + 1, 3))
    np.testing.assert_array_equal(scene["pixels"] >= 0, canvas > 0.1)
    for (x1, y1, x2, y2), t in zip(boxes.astype(int), scene["labels"]):
        inside = scene["pixels"][y1:y2, x1:x2]
        assert set(np.unique(inside)) <= {-1, t}
    with pytest.raises(ValueError, match="fit"):
        digit_canvas(images, labels, np.random.default_rng(0), n_digits=5, size=(30, 30))


def test_window_probs_fills_the_positions_between_the_network_stride(deep):
    fcn = convolutionalize(deep, (1, 28, 28))
    canvas = np.random.default_rng(1).random((44, 52))
    probs = window_probs(fcn, canvas, step=4)
    assert probs.shape == (5, 7, 10)                                     # (44-28)/4+1, (52-28)/4+1
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)
    direct = fcn.predict(canvas[None, None])[0]                          # windows 8 px apart: the even entries
    np.testing.assert_allclose(probs[::2, ::2], softmax_probs(np.moveaxis(direct, 0, -1).reshape(-1, 10)).reshape(3, 4, 10))
    shifted = fcn.predict(canvas[None, None, 4:40, 4:48])[0]             # shifted by 4: the odd entries
    np.testing.assert_allclose(probs[1::2, 1::2], softmax_probs(np.moveaxis(shifted, 0, -1).reshape(-1, 10)).reshape(2, 3, 10))
    with pytest.raises(ValueError, match="divide"):
        window_probs(fcn, canvas, step=3)


def test_detect_digits_threshold_frame_and_suppression():
    canvas = np.zeros((60, 60))
    canvas[20:30, 20:30] = 1.0                                           # one "digit"
    probs = np.full((9, 9, 10), 0.1)                                     # windows 4 px apart, nobody confident
    probs[4, 4] = np.eye(10)[3]                                          # window at (16, 16): holds the digit whole
    probs[3, 3] = 0.995 * np.eye(10)[3] + 0.005 / 9 * (1 - np.eye(10)[3])   # (12, 12): whole, overlaps the first
    probs[0, 0] = np.eye(10)[5]                                          # (0, 0): cuts through the digit
    found = detect_digits(probs, canvas, step=4)
    assert found["counts"] == {"windows": 81, "confident": 3, "whole digit": 2, "after suppression": 1}
    np.testing.assert_array_equal(found["boxes"], [[16, 16, 44, 44]])
    assert found["labels"].tolist() == [3] and found["scores"][0] == pytest.approx(1.0)
    none = detect_digits(np.full((9, 9, 10), 0.1), canvas)
    assert none["boxes"].shape == (0, 4) and none["labels"].size == 0


def test_match_detections_counts_hits_wrong_digits_misses_and_false():
    truth = np.array([[0, 0, 28, 28], [40, 0, 68, 28], [80, 0, 108, 28]], dtype=float)
    found = {"boxes": np.array([[2, 0, 30, 28], [40, 2, 68, 30], [0, 40, 28, 68]], dtype=float),
             "labels": np.array([1, 9, 3])}
    assert match_detections(found, truth, np.array([1, 2, 3])) == {"hits": 1, "wrong digit": 1, "missed": 1,
                                                                  "false": 1}


def test_segment_digits_votes_by_window_and_leaves_background():
    canvas = np.zeros((28, 60))
    canvas[10:15, 2:6] = canvas[10:15, 54:58] = 1.0                    # ink at the far left and far right
    probs = np.zeros((1, 9, 10))
    probs[0, :4, 1] = probs[0, 5:, 4] = 1.0                              # left windows say 1, right ones 4
    probs[0, 4, 7] = 1.0
    labels = segment_digits(probs, canvas, step=4)
    assert set(np.unique(labels[canvas <= 0.1])) == {-1}
    assert set(np.unique(labels[:, :10][canvas[:, :10] > 0.1])) == {1}
    assert set(np.unique(labels[:, 50:][canvas[:, 50:] > 0.1])) == {4}
    fig = plot_segmentation(labels, truth=np.where(canvas > 0.1, 1, -1))   # the right blob is "wrong"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["1", "wrong"]


# ---- skip connections ----------------------------------------------------------------------
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_skip_mlp_gradient_matches_numerical(skip, activation):
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
    net = SkipMLP(4, 6, 3, 3, activation=activation, skip=skip, branch_scale=0.7, seed=1)
    grads = net.gradient(x, t)
    assert set(grads) == set(net.params)
    for key, p in net.params.items():
        num = numerical_gradient(lambda _: net.loss(x, t), p)
        np.testing.assert_allclose(grads[key], num, rtol=1e-5, atol=1e-8, err_msg=key)


def test_skip_mlp_same_weights_and_identity_path():
    plain = SkipMLP(4, 5, 3, 2, skip=False, seed=7)
    res = SkipMLP(4, 5, 3, 2, skip=True, branch_scale=0.0, seed=7)
    for k in plain.params:
        np.testing.assert_array_equal(plain.params[k], res.params[k])
    x = np.random.default_rng(1).standard_normal((3, 4))
    # with the branches switched off the residual net is stem -> head
    p = res.params
    np.testing.assert_allclose(res.predict(x), (x @ p["W0"] + p["b0"]) @ p["W4"] + p["b4"])
    with pytest.raises(ValueError):
        SkipMLP(4, 5, 3, 2, activation="swish")


def test_block_factors_multiply_to_the_weight_gradient():
    """block_factors' path gradient is the gradient w.r.t. each block's output (checked numerically)."""
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((4, 3)), rng.integers(0, 2, 4)
    net = SkipMLP(3, 5, 4, 2, skip=True, seed=2)
    f = net.block_factors(x, t)
    assert set(f) == {"path", "input", "slope"} and all(v.shape == (4,) for v in f.values())
    # the gradient w.r.t. h_4 (the top block's output) is the gradient w.r.t. the head's input
    _, hs, _ = net._forward(x)
    L = net.depth + 1

    def loss_from_top(h):
        y = h @ net.params[f"W{L}"] + net.params[f"b{L}"]
        y = np.exp(y - y.max(axis=1, keepdims=True))
        y /= y.sum(axis=1, keepdims=True)
        return float(-np.mean(np.log(y[np.arange(len(t)), t])))

    h_top = hs[-1].copy()
    num = numerical_gradient(lambda _: loss_from_top(h_top), h_top)
    assert f["path"][-1] == pytest.approx(np.linalg.norm(num), rel=1e-5)
    np.testing.assert_allclose(f["input"][0], np.linalg.norm(hs[0]))
    assert np.all((f["slope"] > 0) & (f["slope"] <= 0.25))                  # sigmoid's slope


def test_gradient_vanishes_in_plain_sigmoid_net_but_not_with_skips():
    rng = np.random.default_rng(0)
    x, t = rng.random((32, 20)), rng.integers(0, 10, 32)
    prof = gradient_norm_profile(x, t, depth=20, width=32)
    assert prof["plain"].shape == prof["residual"].shape == (20,)
    assert prof["plain"][0] / prof["plain"][-1] < 1e-6                    # exponential decay towards the input
    assert prof["residual"].min() / prof["residual"].max() > 0.01         # every block gets a usable gradient
    fig = plot_gradient_norms(x, t, depth=10, width=16)
    assert len(fig.axes[0].lines) == 2


def test_plot_gradient_norms_updates_its_figure_in_place(capsys):
    rng = np.random.default_rng(0)
    x, t = rng.random((16, 12)), rng.integers(0, 10, 16)

    def content(f):
        ax = f.axes[0]
        return ([line.get_xydata().tolist() for line in ax.lines], ax.get_title(), ax.get_xlim() + ax.get_ylim(),
                [label.get_text() for label in ax.yaxis.get_majorticklabels()], f.subplotpars.to_dict())

    fig = plot_gradient_norms(x, t, depth=6, width=8)
    before = content(fig)
    for kw in [dict(depth=12), dict(depth=12, branch_scale=0.3), dict(depth=4, activation="relu", weight_init="he")]:
        again = plot_gradient_norms(x, t, width=8, status=True, fig=fig, **kw)
        assert again is fig and len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
        assert content(fig) == content(plot_gradient_norms(x, t, width=8, **kw))   # what a new figure shows
    assert content(fig) != before and fig.axes[0].get_title() == "4 blocks, relu, he init"
    assert capsys.readouterr().out.count("smallest/largest block gradient") == 3


def test_plot_gradient_norms_prints_its_status_only_on_request(capsys):
    rng = np.random.default_rng(0)
    x, t = rng.random((8, 5)), rng.integers(0, 10, 8)
    plot_gradient_norms(x, t, depth=3, width=4)
    assert capsys.readouterr().out == ""
    plot_gradient_norms(x, t, depth=3, width=4, status=True)
    assert "smallest/largest block gradient" in capsys.readouterr().out


# ---- augmentation ------------------------------------------------------------------------
def test_augmentation_experiment_calls_augment_and_reports():
    rng = np.random.default_rng(0)
    x = rng.random((60, 1, 28, 28)).astype(np.float32)
    t = rng.integers(0, 10, 60)
    calls = []

    def augment(xb, r):
        calls.append(len(xb))
        return xb[:, :, ::-1, :].copy()

    res = augmentation_experiment(x[:40], t[:40], x[40:], t[40:], x[40:, :, ::-1], augment, epochs=1, batch_size=20)
    assert calls == [20, 20]                                              # only the augmented run, every batch
    for run in ("plain", "augmented"):
        assert set(res[run]) == {"history", "train_acc", "test_acc", "moved_acc"}
        assert 0.0 <= res[run]["test_acc"] <= 1.0 and len(res[run]["history"].test_acc) == 1
    assert len(plot_augmentation_results(res).axes[0].patches) == 6


# ---- noisy labels ----------------------------------------------------------------------------
def test_noisy_label_data():
    rng = np.random.default_rng(0)
    x, t = noisy_label_data(2000, 0.0, rng)
    np.testing.assert_array_equal(t, (x.sum(axis=1) > 0).astype(int))
    x, t = noisy_label_data(20000, 0.5, rng)
    agree = np.mean(t == (x.sum(axis=1) > 0))
    assert abs(agree - 0.5) < 0.02                                        # a coin flip, whatever x is


def test_coin_flip_labels_cap_accuracy_at_half():
    res = label_noise_experiment(0.5, n_train=100, n_test=2000, iters=400)
    assert res["ceiling"] == 0.5
    assert res["train_acc"] > 0.8                                         # it memorises the coin flips ...
    assert abs(res["test_acc"] - 0.5) < 0.05                              # ... and learns nothing


# ---- precision and speed ------------------------------------------------------------------------
def test_float16_network_computes_in_float16():
    net = DeepConvNet(dtype=np.float32, seed=0)
    net16 = DeepConvNet(dtype=np.float16, seed=1)
    state = cast_state(net.state_dict(), np.float16)
    assert all(v.dtype == np.float16 for v in state.values())
    net16.load_state_dict(state)
    x = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    dtypes = layer_output_dtypes(net16, x)                                # float32 input is cast, as in predict
    assert [n for n, _ in dtypes] == list(net16.layers) and {d for _, d in dtypes} == {"float16"}
    s16, s32 = net16.predict(x), net.predict(x)
    assert s16.dtype == np.float16
    np.testing.assert_allclose(s16.astype(np.float32), s32, atol=0.05 * np.abs(s32).max() + 1e-3)


def test_compare_precisions_reference_and_float16():
    net = DeepConvNet(dtype=np.float32, seed=0)
    x = np.random.default_rng(0).random((4, 1, 28, 28)).astype(np.float32)
    t = net.predict(x).argmax(axis=1)
    res = compare_precisions(net, x, t)
    assert list(res) == ["float64", "float32", "float16"]
    assert res["float64"]["max_error"] == 0.0 and res["float64"]["agree"] == 1.0
    assert res["float16"]["scores"].dtype == np.float16 and res["float16"]["net"].dtype == np.float16
    assert 0 < res["float16"]["max_rel_error"] < 0.05 and res["float32"]["accuracy"] == 1.0


def test_blas_threads_and_unfolded_bytes():
    threads = blas_threads()
    assert threads is None or threads >= 1
    net = DeepConvNet(dtype=np.float32, seed=0)
    sizes = unfolded_bytes(net, 512)
    assert list(sizes) == [f"Conv{i}" for i in range(1, 7)]
    assert sizes["Conv2"] == 16 * 3 * 3 * 512 * 28 * 28 * 4              # C*FH*FW x N*OH*OW float32 values
    assert sizes["Conv4"] == 32 * 3 * 3 * 512 * 16 * 16 * 4              # pad 2: a 16x16 output


def test_throughput_and_layer_times():
    net = DeepConvNet(dtype=np.float32, seed=0)
    x = np.random.default_rng(0).random((16, 1, 28, 28)).astype(np.float32)
    rates = throughput(net, x, batch_sizes=(1, 8), min_images=8, repeats=1)
    assert set(rates) == {1, 8} and all(r > 0 for r in rates.values())
    times = layer_times(net, x, repeats=2)
    assert list(times) == list(net.layers) and all(0 <= t < np.inf for t in times.values())
    assert 0.0 < conv_share(times, net) <= 1.0
    assert plot_layer_times(times, net).axes and plot_throughput(rates).axes


def test_data_parallel_gradient_equals_full_batch_gradient():
    net = MultiLayerNet(6, [5, 4], 3, seed=0)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((12, 6)), rng.integers(0, 3, 12)
    full = net.gradient(x, t)
    for workers in (2, 3, 4):
        par = data_parallel_gradient(net, x, t, workers)
        for k in full:
            np.testing.assert_allclose(par[k], full[k], rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError):
        data_parallel_gradient(net, x, t, 5)


def test_federated_average_one_local_step_is_one_sgd_step():
    net = MultiLayerNet(6, [5], 3, seed=0)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((12, 6)), rng.integers(0, 3, 12)
    before = {k: v.copy() for k, v in net.params.items()}
    shards = list(zip(np.split(x, 3), np.split(t, 3)))
    avg1 = federated_average(net, shards, lr=0.1, local_steps=1)
    for k in before:                                                      # net itself is untouched
        np.testing.assert_array_equal(net.params[k], before[k])
    full = net.gradient(x, t)
    for k in before:
        np.testing.assert_allclose(avg1[k], before[k] - 0.1 * full[k], rtol=1e-10, atol=1e-14)
    avg5 = federated_average(net, shards, lr=0.1, local_steps=5)
    assert any(not np.allclose(avg5[k], avg1[k]) for k in avg1)


# ---- GAN -----------------------------------------------------------------------------------
def test_toy_gan_learns_the_data_distribution_and_is_reproducible():
    run = toy_gan_1d(steps=2000)
    assert run["a"].shape == (2001,)
    assert abs(run["b"][-1] - 3.0) < 0.2 and abs(abs(run["a"][-1]) - 0.5) < 0.15
    again = toy_gan_1d(steps=50)
    np.testing.assert_array_equal(again["b"], run["b"][:51])
    weak = toy_gan_1d(steps=2000, d_steps=1, lr_d=0.05)                  # a slow referee: mode collapse
    assert abs(weak["a"][-1]) < 0.1
    assert len(plot_toy_gan({"balanced": run, "weak": weak}).axes) == 2


# ---- GPU ---------------------------------------------------------------------------------
def test_gpu_status_explains_itself():
    available, reason = gpu_status()
    assert isinstance(available, bool) and reason
    try:
        import cupy  # noqa: F401
    except ImportError:
        assert not available and "CuPy is not installed" in reason and "pip install cupy" in reason
        assert "DLFS_DEVICE" not in reason                              # the reader never set it


# ---- Q-learning (8.5.4) -------------------------------------------------------------------
def test_grid_step_walls_edges_and_rewards():
    assert grid_step(GRID_WORLD, (0, 0), 0) == ((0, 0), 0.0, False)     # up, off the edge: stays
    assert grid_step(GRID_WORLD, (0, 1), 1) == ((0, 1), 0.0, False)     # down into a wall: stays
    assert grid_step(GRID_WORLD, (0, 4), 1) == ((1, 4), -1.0, True)     # into a pit
    assert grid_step(GRID_WORLD, (3, 4), 3) == ((3, 5), 1.0, True)      # onto the goal
    assert grid_shortest_path(GRID_WORLD) == 8
    assert grid_shortest_path(["S#G", "..."]) == 4


def test_grid_q_learning_finds_the_shortest_safe_path_reproducibly():
    run = grid_q_learning(GRID_WORLD, episodes=300, seed=0)
    assert run["Q"].shape == (4, 6, 4) and run["steps"].shape == run["reward"].shape == (300,)
    path = grid_greedy_path(GRID_WORLD, run["Q"])
    assert path[0] == (0, 0) and GRID_WORLD[path[-1][0]][path[-1][1]] == "G"
    assert len(path) - 1 == grid_shortest_path(GRID_WORLD)
    assert run["steps"][-50:].mean() < run["steps"][:10].mean()
    np.testing.assert_array_equal(grid_q_learning(GRID_WORLD, episodes=300, seed=0)["Q"], run["Q"])
    policy = format_grid_policy(GRID_WORLD, run["Q"]).splitlines()
    assert len(policy) == 4 and policy[0].split()[0] == ">" and policy[3].split()[5] == "G"
    assert format_grid_policy(GRID_WORLD, np.zeros((4, 6, 4))).split()[0] == "."


# ---- augmentation (augment.py) ---------------------------------------------------------------
def test_random_shift_moves_a_pixel_by_at_most_max_shift():
    rng = np.random.default_rng(0)
    x = np.zeros((50, 1, 9, 9), dtype=np.float32)
    x[:, 0, 4, 4] = 1.0
    out = random_shift(x, 2, rng)
    assert out.shape == x.shape and out.dtype == np.float32
    pos = np.array([np.unravel_index(o[0].argmax(), (9, 9)) for o in out])
    assert np.all(np.abs(pos - 4) <= 2)
    assert len({tuple(p) for p in pos}) > 5                 # offsets differ per image
    np.testing.assert_array_equal(out.sum(axis=(1, 2, 3)), 1.0)


def test_random_shift_matches_explicit_roll_with_zero_fill():
    rng = np.random.default_rng(3)
    x = rng.random((4, 2, 6, 5))
    out = random_shift(x, 1, np.random.default_rng(7))
    r = np.random.default_rng(7)
    oy, ox = r.integers(0, 3, size=4), r.integers(0, 3, size=4)
    for i in range(4):
        dy, dx = 1 - oy[i], 1 - ox[i]                       # content moves by (dy, dx)
        expected = np.zeros_like(x[i])
        src = x[i][:, max(0, -dy):6 - max(0, dy), max(0, -dx):5 - max(0, dx)]
        expected[:, max(0, dy):max(0, dy) + src.shape[1], max(0, dx):max(0, dx) + src.shape[2]] = src
        np.testing.assert_array_equal(out[i], expected)


def test_rotate_zero_is_identity_and_90_degrees_matches_rot90():
    x = np.random.default_rng(0).random((3, 1, 7, 7))
    np.testing.assert_allclose(rotate(x, 0.0), x, atol=1e-12)
    np.testing.assert_allclose(rotate(x, 90.0), np.rot90(x, k=1, axes=(2, 3)), atol=1e-9)
    with pytest.raises(ValueError):
        rotate(x[0], 5.0)


def test_shift_and_rotate_keeps_shape_dtype_and_most_ink():
    x = np.zeros((8, 1, 28, 28), dtype=np.float32)
    x[:, :, 10:18, 12:16] = 1.0
    out = shift_and_rotate(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), x.sum(axis=(1, 2, 3)), rtol=0.05)
