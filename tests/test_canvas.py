"""chapters.canvas: strokes -> MNIST digit, the shift helper, the networks' answers, the panel (no browser)."""
import math

import numpy as np
import pytest

from chapters.canvas import (
    CANVAS_SIZE,
    EXAMPLE_SEVEN,
    PEN_WIDTH,
    DigitPanel,
    DrawCanvas,
    centre_of_mass,
    class_probabilities,
    digit_panel,
    mosaic,
    plot_digit_predictions,
    rasterize,
    shift_digit,
    to_mnist,
)
from chapters.ch03 import load_pretrained
from common.config import WEIGHTS_DIR
from common.networks import DeepConvNet, SimpleConvNet

# Drawn the way a person draws on the 280 x 280 canvas (x right, y down).
STROKE_ONE = [[[146, 42], [144, 80], [141, 125], [138, 170], [135, 212], [133, 238]]]     # slightly slanted
STROKE_SEVEN = [                                                     # two strokes: the bar, then the stem
    [[60, 58], [110, 55], [160, 53], [212, 52]],
    [[212, 52], [196, 90], [178, 130], [160, 172], [146, 210], [138, 240]],
]
WIDE_STROKE = [[[40, 140], [240, 140]]]                              # a dash: wider than tall


def ink_box(image: np.ndarray) -> tuple[int, int]:
    """(height, width) of the smallest box holding every pixel > 0."""
    rows, cols = np.flatnonzero(image.max(axis=1) > 0), np.flatnonzero(image.max(axis=0) > 0)
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


# ---------------------------------------------------------------------------------------------
# rasterize
# ---------------------------------------------------------------------------------------------
def test_a_dot_covers_the_pen_area():
    image = rasterize([[[100.0, 120.0]]], pen_width=20.0)
    assert image.sum() == pytest.approx(math.pi * 10 ** 2, rel=0.03)
    assert image[120, 100] == 1.0 and image[120, 125] == 0.0
    assert centre_of_mass(image) == pytest.approx((119.5, 99.5), abs=0.05)    # pixel i spans [i, i+1)


def test_a_segment_covers_length_times_width_plus_the_round_caps():
    image = rasterize([[[50.0, 100.0], [150.0, 100.0]]], pen_width=10.0)
    assert image.sum() == pytest.approx(100 * 10 + math.pi * 5 ** 2, rel=0.03)
    assert ink_box(image) == (10, 110)


def test_rasterize_is_anti_aliased_and_in_range():
    image = rasterize(STROKE_SEVEN)
    assert image.shape == (CANVAS_SIZE, CANVAS_SIZE)
    assert image.min() == 0.0 and image.max() == 1.0
    assert np.count_nonzero((image > 0.05) & (image < 0.95)) > 100          # grey edges, not a hard mask


# ---------------------------------------------------------------------------------------------
# to_mnist
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("drawing", [STROKE_ONE, STROKE_SEVEN, EXAMPLE_SEVEN, WIDE_STROKE],
                         ids=["one", "seven", "example_seven", "dash"])
def test_to_mnist_fits_20x20_and_centres_the_mass(drawing):
    digit = to_mnist(drawing)
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert digit.min() >= 0.0 and digit.max() <= 1.0 and digit.max() > 0.9
    assert max(ink_box(digit)) == 20
    cy, cx = centre_of_mass(digit)
    assert abs(cy - 14) <= 0.5 + 1e-4 and abs(cx - 14) <= 0.5 + 1e-4          # float32 rounding
    assert np.count_nonzero((digit > 0.05) & (digit < 0.95)) > 5              # grey levels survive the scaling


def test_to_mnist_keeps_the_aspect_ratio_of_an_image():
    image = np.zeros((100, 100))
    image[10:40, 20:80] = 1.0                                                # 30 x 60 block -> 10 x 20
    digit = to_mnist(image)
    assert ink_box(digit) == (10, 20)
    assert digit.sum() == pytest.approx(200.0, rel=1e-5)                     # area averaging keeps the ink
    assert np.all((digit == 0) | (np.abs(digit - 1) < 1e-6))                 # whole-pixel placement: no blur
    assert centre_of_mass(digit) == pytest.approx((14.5, 14.5))              # 13.5 is half-way: rounded up


def test_to_mnist_of_a_dash_is_wide_and_flat_and_keeps_its_ink():
    digit = to_mnist(WIDE_STROKE)
    height, width = ink_box(digit)
    scale = 20 / (200 + PEN_WIDTH)                                           # the long side: length + pen
    thickness = PEN_WIDTH * scale                                            # about 2.1 px
    assert width == 20 and thickness - 0.5 <= height <= thickness + 2        # + partly covered edge rows
    assert digit.sum() == pytest.approx(rasterize(WIDE_STROKE).sum() * scale ** 2, rel=1e-4)


def test_to_mnist_does_not_care_where_or_how_big_the_digit_is_drawn():
    small_shifted = [[[x * 0.5 + 20, y * 0.5 + 30] for x, y in stroke] for stroke in STROKE_SEVEN]
    a = to_mnist(STROKE_SEVEN)
    b = to_mnist(small_shifted, pen_width=PEN_WIDTH / 2)                      # same drawing at half the size
    assert np.abs(a - b).max() < 0.1


def test_to_mnist_accepts_an_mnist_like_image_unchanged_in_shape():
    digit = to_mnist(STROKE_SEVEN)
    again = to_mnist(digit)
    assert max(ink_box(again)) == 20
    assert np.corrcoef(digit.ravel(), again.ravel())[0, 1] > 0.95


@pytest.mark.parametrize("bad, error, message", [
    ([], ValueError, "draw a digit"),
    (np.zeros((28, 28)), ValueError, "draw a digit"),
    (np.zeros((28, 28, 3)), ValueError, r"shape \(28, 28, 3\)"),
    (np.full((28, 28), 255.0), ValueError, "255"),
    ([[[1.0, 2.0, 3.0]]], ValueError, "stroke 0"),
    ([[[1.0, 2.0]], []], ValueError, "stroke 1"),
    ([[[float("nan"), 2.0]]], ValueError, "NaN"),
    ("seven", TypeError, "list of strokes"),
])
def test_to_mnist_rejects_bad_input_and_says_why(bad, error, message):
    with pytest.raises(error, match=message):
        to_mnist(bad)


# ---------------------------------------------------------------------------------------------
# shift_digit
# ---------------------------------------------------------------------------------------------
def test_shift_digit_moves_and_fills_with_zeros():
    image = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    right = shift_digit(image, 0, 1)
    assert right.dtype == np.float32
    np.testing.assert_array_equal(right[:, 0], 0)
    np.testing.assert_array_equal(right[:, 1:], image[:, :3])
    up_left = shift_digit(image, -2, -1)
    np.testing.assert_array_equal(up_left[:2, :3], image[2:, 1:])
    assert up_left[2:].sum() == 0 and up_left[:, 3].sum() == 0
    np.testing.assert_array_equal(shift_digit(image, 0, 0), image)
    assert shift_digit(image, 4, 0).sum() == 0


def test_shift_digit_works_on_batches_and_refuses_fractions():
    batch = np.random.default_rng(0).random((3, 28, 28))
    np.testing.assert_array_equal(shift_digit(batch, 2, -3)[1], shift_digit(batch[1], 2, -3))
    with pytest.raises(ValueError, match="whole pixels"):
        shift_digit(batch, 0.5, 0)


# ---------------------------------------------------------------------------------------------
# the networks' answers
# ---------------------------------------------------------------------------------------------
class Recorder:
    """A model that returns fixed outputs and remembers the shape it was given."""

    def __init__(self, outputs):
        self.outputs, self.shapes = np.asarray(outputs, dtype=float), []

    def predict(self, x):
        self.shapes.append(x.shape)
        return np.repeat(self.outputs[None], len(x), axis=0)


def test_class_probabilities_applies_softmax_to_scores_and_keeps_probabilities():
    scores = Recorder(np.log(np.arange(1.0, 11.0)))                         # softmax -> k / 55
    p = class_probabilities(scores, np.zeros((28, 28)))
    np.testing.assert_allclose(p, np.arange(1, 11) / 55)
    assert scores.shapes == [(1, 784)]                                       # plain objects get flat rows
    probs = Recorder(np.eye(10)[3])
    np.testing.assert_array_equal(class_probabilities(probs, np.zeros((2, 28, 28))), np.eye(10)[[3, 3]])


def test_class_probabilities_says_what_is_wrong():
    with pytest.raises(ValueError, match=r"returned shape \(1, 3\)"):
        class_probabilities(Recorder(np.zeros(3)), np.zeros((28, 28)))
    with pytest.raises(ValueError, match=r"\(28, 28\) or \(N, 28, 28\)"):
        class_probabilities(Recorder(np.zeros(10)), np.zeros(784))


@pytest.fixture(scope="module")
def networks():
    simple = SimpleConvNet(dtype=np.float32)
    simple.load_params(WEIGHTS_DIR / "simple_convnet.npz")
    deep = DeepConvNet(dtype=np.float32)
    deep.load_params(WEIGHTS_DIR / "deep_convnet.npz")
    return {"SimpleConvNet": simple, "DeepConvNet": deep, "MLP": load_pretrained()[0]}


@pytest.mark.parametrize("drawing, digit", [(STROKE_ONE, 1), (STROKE_SEVEN, 7), (EXAMPLE_SEVEN, 7)],
                         ids=["one", "seven", "example_seven"])
def test_the_trained_networks_read_drawn_digits(networks, drawing, digit):
    image = to_mnist(drawing)
    for name, net in networks.items():
        p = class_probabilities(net, image)
        assert np.argmax(p) == digit, f"{name} reads the drawn {digit} as {np.argmax(p)} ({np.round(p, 2)})"
    assert class_probabilities(networks["SimpleConvNet"], image)[digit] > 0.9


# ---------------------------------------------------------------------------------------------
# the panel and the static figure
# ---------------------------------------------------------------------------------------------
def test_panel_answers_each_stroke_and_clears(networks):
    panel = digit_panel({"SimpleConvNet": networks["SimpleConvNet"]})
    assert isinstance(panel, DigitPanel) and "Draw a digit" in panel.answers.value
    first_picture = panel.picture.value
    panel.draw(STROKE_ONE)
    assert "SimpleConvNet: 1 (" in panel.answers.value and panel.picture.value != first_picture
    panel.canvas.strokes = STROKE_SEVEN                                     # what the browser sends
    assert "SimpleConvNet: 7 (" in panel.answers.value
    assert 0 < panel.last_seconds < 2.0
    panel.canvas.strokes = []
    assert "Draw a digit" in panel.answers.value


def test_panel_shift_says_who_keeps_its_answer():
    seven, five = np.eye(10)[7], np.eye(10)[5]

    class ShiftSensitive:                       # answers 7 for the centred digit, 5 when the ink has moved
        def predict(self, x):
            centred = np.isclose(x.reshape(len(x), 28, 28).sum(axis=1).argmax(axis=1), ref_column)
            return np.where(centred[:, None], seven, five)

    ref_column = to_mnist(STROKE_ONE).sum(axis=0).argmax()
    panel = DigitPanel({"steady": Recorder(seven), "shaky": ShiftSensitive()}, shift=True)
    panel.draw(STROKE_ONE)
    assert "steady: 7 (1.00)" in panel.answers.value and "shaky: 7 (1.00)" in panel.answers.value
    panel.dx.value = 3
    text = panel.answers.value
    assert "steady: 7 (1.00); shifted 3 px right: 7 (1.00), keeps its answer" in text
    assert "shaky: 7 (1.00); shifted 3 px right: 5 (1.00), changes its answer" in text


def test_panel_reports_bad_drawings_and_bad_arguments():
    panel = DigitPanel({"m": Recorder(np.zeros(10))})
    panel.canvas.strokes = [[[1.0, 2.0, 3.0]]]
    assert "stroke 0" in panel.answers.value
    with pytest.raises(ValueError, match="non-empty dict"):
        DigitPanel({})
    with pytest.raises(TypeError, match="no predict"):
        DigitPanel({"m": object()})
    with pytest.raises(ValueError, match="not among"):
        DigitPanel({"m": Recorder(np.zeros(10))}, feature_layer=("other", "Relu1"))


def test_panel_shows_feature_maps_of_the_drawn_digit(networks):
    net = networks["SimpleConvNet"]
    panel = DigitPanel({"SimpleConvNet": net}, feature_layer=("SimpleConvNet", "Relu1"))
    panel.draw(STROKE_SEVEN)
    shown = panel.view.maps_image.get_array()
    expected = np.maximum(net.layers["Conv1"].forward(to_mnist(STROKE_SEVEN)[None, None]), 0)[0]
    np.testing.assert_allclose(shown, mosaic(expected.astype(np.float64)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no layer 'Conv9'"):
        DigitPanel({"SimpleConvNet": net}, feature_layer=("SimpleConvNet", "Conv9"))


def test_plain_text_repr_points_to_the_figure():
    for widget in (DrawCanvas(), DigitPanel({"m": Recorder(np.zeros(10))})):
        bundle = widget._repr_mimebundle_()
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        assert data["text/plain"].startswith("Draw-a-digit canvas") and "drawing above" in data["text/plain"]
        assert "application/vnd.jupyter.widget-view+json" in data


def test_static_figure_titles_carry_the_answers(networks):
    fig = plot_digit_predictions(EXAMPLE_SEVEN, {"SimpleConvNet": networks["SimpleConvNet"]},
                                 feature_layer=("SimpleConvNet", "Relu1"))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "the drawing" and titles[1] == "what the network sees"
    assert titles[2].startswith("SimpleConvNet: 7 (") and titles[3] == "feature maps (Relu1)"
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), to_mnist(EXAMPLE_SEVEN))


def test_canvas_module_is_an_es_module_with_render():
    source = DrawCanvas._esm.read_text() if hasattr(DrawCanvas._esm, "read_text") else str(DrawCanvas._esm)
    assert "export default { render }" in source and "pointerdown" in source and "Clear" in source
    canvas = DrawCanvas()
    assert canvas.size == CANVAS_SIZE and canvas.pen_width == PEN_WIDTH and canvas.strokes == []


def test_accuracy_under_shift_counts_answers_on_moved_images():
    from chapters.ch08.viz import accuracy_under_shift

    images = np.zeros((10, 28, 28), np.float32)
    for k in range(10):
        images[k, 14, 9 + k] = 1.0                                           # digit k: one dot in column 9 + k

    class ReadsTheColumn:                                                    # answers column - 9
        def predict(self, x):
            column = x.reshape(len(x), 28, 28).max(axis=1).argmax(axis=1)
            return np.eye(10)[np.clip(column - 9, 0, 9)]

    labels = np.arange(10)
    table = accuracy_under_shift({"column": ReadsTheColumn()}, images, labels, [(0, 0), (0, 1), (5, 0), (0, -1)],
                                 batch_size=3)
    assert table == {"column": [1.0, 0.1, 1.0, 0.1]}    # moved one column: only the clipped end stays right
    with pytest.raises(ValueError, match=r"labels must have shape \(10,\)"):
        accuracy_under_shift({"column": ReadsTheColumn()}, images, labels[:5], [(0, 0)])
