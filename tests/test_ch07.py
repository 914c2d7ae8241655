import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from common.conv_viz import (CUSTOM, KERNELS, conv2d, convolution_playground, count_params,  # noqa: E402
                             edge_energies, filter_responses, output_size_text, parse_kernel, plot_conv_blocks,
                             plot_filter_responses, plot_filters, plot_im2col_patches, plot_network_structure,
                             plot_shift_test, pool2d, receptive_field, relative_change, shift_change,
                             shift_images, square_image)
from common.networks import SimpleConvNet  # noqa: E402



def _digits(k: int = 3) -> np.ndarray:
    """Synthetic 'digits': a bar and a ring, (k, 1, 28, 28), so the tests need no MNIST."""
    yy, xx = np.mgrid[:28, :28]
    ring = ((np.hypot(yy - 14, xx - 14) > 6) & (np.hypot(yy - 14, xx - 14) < 9)).astype(np.float32)
    bar = np.zeros((28, 28), np.float32)
    bar[4:24, 12:15] = 1
    imgs = [ring, bar] * k
    return np.stack(imgs[:k])[:, None]


def test_conv2d_book_example_padding_and_stride():
    x = np.array([[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 3, 0, 1]], dtype=float)
    k = np.array([[2, 0, 1], [0, 1, 2], [1, 0, 2]], dtype=float)
    assert conv2d(x, k).tolist() == [[15, 16], [6, 15]]
    assert conv2d(x, k, pad=1).shape == (4, 4)
    assert conv2d(np.ones((7, 7)), np.ones((3, 3)), stride=2).shape == (3, 3)
    # non-tiling: (28 + 2 - 3) / 2 + 1 = 14.5 -> 14, the last window dropped
    assert conv2d(np.ones((28, 28)), np.ones((3, 3)), stride=2, pad=1).shape == (14, 14)


def test_output_size_text():
    assert output_size_text(28, 5, 1, 0) == (24, "(28 + 2*0 - 5)/1 + 1 = 24")
    used, text = output_size_text(28, 3, 2, 1)
    assert used == 14 and "14.5" in text and "not an integer" in text
    assert output_size_text(2, 5, 1, 0)[0] == 0


def test_parse_kernel():
    assert parse_kernel("1 0 -1; 2,0,-2\n1 0 -1").tolist() == KERNELS["vertical edge"].tolist()
    with pytest.raises(ValueError):
        parse_kernel("1 2; 3")


def test_edge_kernels_respond_to_their_edges():
    sq = square_image()
    v, h = np.abs(conv2d(sq, KERNELS["vertical edge"])), np.abs(conv2d(sq, KERNELS["horizontal edge"]))
    # along row 13 (middle of the square) only vertical edges are crossed
    assert v[13].max() == 4 and h[13].max() == 0
    assert np.isclose(conv2d(sq, KERNELS["blur"])[13, 13], 1.0)


def test_playground_status_line(capsys):
    imgs = _digits()
    fig = convolution_playground(imgs, index=1, kernel="vertical edge", stride=1, pad=0)
    out = capsys.readouterr().out.strip()
    assert out == "kernel: vertical edge 3x3 | stride 1, pad 0 | OH = OW = (28 + 2*0 - 3)/1 + 1 = 26"
    assert len(fig.axes) == 3
    convolution_playground(imgs, kernel=CUSTOM, custom="1 1; 1 1", stride=2, pad=0)
    assert "kernel: custom (edit below) 2x2 | stride 2, pad 0 | OH = OW = (28 + 2*0 - 2)/2 + 1 = 14" in capsys.readouterr().out
    convolution_playground(imgs, kernel=CUSTOM, custom="1 2; 3", stride=1)
    assert "not understood" in capsys.readouterr().out
    convolution_playground(imgs.reshape(3, 784), kernel="sharpen", stride=2, pad=1)
    assert "not an integer" in capsys.readouterr().out


def test_pool2d_and_shift():
    x = np.array([[1, 2, 1, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 4, 0, 1]], dtype=float)[None, None]
    assert pool2d(x, 2, "max")[0, 0].tolist() == [[2, 3], [4, 2]]
    assert pool2d(x, 2, "average")[0, 0].tolist() == [[1, 1.5], [2.25, 1]]
    with pytest.raises(ValueError):
        pool2d(x, 3)
    with pytest.raises(ValueError):
        pool2d(x, 2, "median")
    s = shift_images(x, 1, -1)
    assert s[0, 0, 1:, :-1].tolist() == x[0, 0, :-1, 1:].tolist() and s[0, 0, 0].sum() == 0 and s[0, 0, :, -1].sum() == 0
    assert np.array_equal(shift_images(shift_images(x, 0, 0), 0, 0), x)


def test_max_pool_damps_a_one_pixel_shift():
    x = _digits(2).astype(np.float64)
    c = shift_change(x, 0, 1)
    assert c["max pool"] < c["pixels"]
    assert relative_change(x, x) == 0


def test_plot_shift_test_status(capsys):
    fig = plot_shift_test(_digits(), index=1, dy=0, dx=1)
    assert capsys.readouterr().out.startswith("shift (0, 1), 2x2 max pool: pixels change")
    assert len(fig.axes) == 6


def test_im2col_patches_picture(capsys):
    fig = plot_im2col_patches(patch=1)
    out = capsys.readouterr().out.strip()
    assert out == "patch 1 = row 1 of col (4, 18): a1 a2 a3 a5 a6 a7 a9 a10 a11 | b1 b2 b3 b5 b6 b7 b9 b10 b11"
    assert len(fig.axes) == 3
    plot_im2col_patches(patch=0, H=5, W=5, stride=1, pad=1)
    out = capsys.readouterr().out
    assert "col (25, 18)" in out and out.split(": ")[1].startswith("0 0 0 0 a0 a1 0 a5 a6")
    plot_im2col_patches(patch=99, H=5, W=5, stride=2)           # clamped to the last row
    assert "patch 3 = row 3" in capsys.readouterr().out


def test_block_diagrams():
    fig = plot_conv_blocks(C=3, H=7, W=7, FN=16, FH=3, FW=3, N=10)
    assert "OH = (7 + 2·0 − 3) / 1 + 1 = 5" in fig.axes[0].get_title()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "output\n(10, 16, 5, 5)" in texts and "bias\n(16, 1, 1)" in texts
    with pytest.raises(ValueError):
        plot_conv_blocks(H=28, FH=5, stride=2)
    assert len(plot_network_structure().axes) == 1


def test_filters_and_responses():
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((12, 1, 5, 5)), rng.standard_normal(12)
    maps = filter_responses(W, b, square_image())
    assert maps.shape == (12, 24, 24) and maps.min() >= 0
    raw = filter_responses(W, b, square_image(), relu=False)
    assert np.isclose(raw[0, 0, 0], b[0])                       # background: only the bias
    fig = plot_filters(W, title="t", ncols=6)
    img = fig.axes[0].images[0].get_array()
    assert img.shape == (2 * 5 + 1, 6 * 5 + 5)                  # 2 rows x 6 columns of 5x5 tiles, 1-pixel gaps
    assert len(fig.axes[0].texts) == 12
    fig = plot_filter_responses(W, b, square_image(), ncols=6)
    assert fig.axes[1].images[0].get_array().shape == (2 * 24 + 2, 6 * 24 + 5 * 2)


def test_edge_energies_separate_orientations():
    vert = np.zeros((2, 1, 5, 5))
    vert[0, 0, :, 1], vert[0, 0, :, 3] = 1, -1                   # a vertical-edge detector (zero sum)
    vert[1, 0] = vert[0, 0].T                                    # and its horizontal twin
    e = edge_energies(vert, np.zeros(2))
    assert e.shape == (2, 3)
    assert e[0, 0] > 3 * e[0, 1] and e[1, 1] > 3 * e[1, 0]
    assert np.allclose(e[:, 2], 0)                               # zero-sum filters ignore flat regions


def test_receptive_field_and_count_params():
    assert receptive_field([(5, 1)]) == 5
    assert receptive_field([(5, 1), (2, 2)]) == 6
    assert receptive_field([(3, 1)] * 3) == 7
    assert receptive_field([(3, 1), (3, 1), (2, 2)] * 3) == 36
    counts = count_params(SimpleConvNet(seed=0))
    assert counts["W1"] == 750 and counts["W2"] == 432000 and counts["total"] == 433890
