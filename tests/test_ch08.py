import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from common.deep_viz import (VGG16_CONFIG, LayerStack, cnn_param_count, affine_as_convolution, centre_to_corners, confusion_matrix,  # noqa: E402
                             convolutionalize, corners_to_centre, decode_centre_log_size, depth_tradeoff,
                             format_summary, ink_box, iou, layer_summary, misclassified, place_digits, plot_boxes,
                             plot_confusion_matrix, plot_depth_tradeoff, plot_misclassified_grid, predict_scores,
                             receptive_fields, softmax_probs, top_confusions, valid_box)
from common.layers import Affine, Convolution  # noqa: E402
from common.networks import DeepConvNet, SimpleConvNet  # noqa: E402



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
    # output shapes are those of a real forward pass
    x = images[:2]
    for r, (name, layer) in zip(rows, deep.layers.items()):
        x = layer.forward(x, False) if name.startswith("Dropout") else layer.forward(x)
        assert r.output_shape == x.shape[1:], name
    assert sum(r.params for r in rows) == sum(p.size for p in deep.params.values()) == 123_552
    by_name = {r.name: r for r in rows}
    assert by_name["Conv1"].macs == 16 * 28 * 28 * 1 * 3 * 3
    assert by_name["Conv4"].output_shape == (32, 16, 16)               # pad 2 grows the map
    assert by_name["Affine7"].macs == 1024 * 50 and by_name["Relu1"].macs == 0
    text = format_summary(rows, (1, 28, 28))
    assert "123,552" in text and "Conv6" in text and text.splitlines()[2].startswith("input")


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
    assert isinstance(fcn, LayerStack)
    assert not any(isinstance(layer, Affine) for layer in fcn.layers.values())
    np.testing.assert_allclose(fcn.predict(images)[:, :, 0, 0], deep.predict(images), rtol=1e-10, atol=1e-12)
    wide = fcn.predict(np.zeros((1, 1, 28, 60)))
    assert wide.shape == (1, 10, 1, 5)                                  # 5 windows, 8 pixels apart


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
