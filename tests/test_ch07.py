import numpy as np
import pytest

from chapters.ch07.im2col_variants import col2im_assign, copies_per_pixel, im2col_by_positions
from chapters.ch07.reader_bugs import BUGS, FilterWidthConvolution, PoolReshapePooling, ReaderConvNet, layer_shapes
from chapters.ch07.viz import (
    CUSTOM,
    KERNELS,
    conv2d,
    convolution_playground,
    count_params,
    edge_energies,
    filter_responses,
    output_size_text,
    parse_kernel,
    plot_conv_blocks,
    plot_filter_responses,
    plot_filters,
    plot_im2col_patches,
    plot_network_structure,
    plot_shift_test,
    pool2d,
    receptive_field,
    relative_change,
    shift_change,
    shift_images,
    square_image,
)
from common.fast import unfold
from common.gradient import gradient_check
from common.layers import Affine, Convolution, Pooling, Relu
from common.networks import MultiLayerNetExtend, SimpleConvNet
from common.util import col2im, im2col


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


SMALL = dict(input_dim=(1, 10, 10), conv_param=dict(filter_num=4, filter_size=3, pad=0, stride=1),
             hidden_size=10, output_size=3, weight_init_std=0.3, seed=0)


def _data():
    rng = np.random.default_rng(14)
    return rng.random((4, 1, 10, 10)), np.array([0, 1, 2, 1])


def test_filter_width_bug_crashes_unless_fn_equals_fw():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 12, 12))
    with pytest.raises(ValueError, match="size 150 is different from 25"):
        FilterWidthConvolution(rng.standard_normal((30, 1, 5, 5)), np.zeros(30)).forward(x)
    W3, b3 = rng.standard_normal((3, 1, 3, 3)), rng.standard_normal(3)
    bug, book = FilterWidthConvolution(W3, b3), Convolution(W3, b3)
    assert isinstance(bug, Convolution)
    out = bug.forward(x)
    assert np.array_equal(out, book.forward(x))                 # FN == FW: the bug hides
    dout = rng.standard_normal(out.shape)
    assert np.array_equal(bug.backward(dout), book.backward(dout)) and np.array_equal(bug.dW, book.dW)


def test_pool_reshape_bug_scrambles_values_unless_one_channel():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 8, 8))
    good = Pooling(2, 2).forward(x)
    bug = PoolReshapePooling(2, 2)
    bad = bug.forward(x)
    assert isinstance(bug, Pooling)
    assert bad.shape == good.shape and not np.array_equal(bad, good)
    assert np.array_equal(np.sort(bad, axis=None), np.sort(good, axis=None))     # same values, wrong places
    assert np.array_equal(bad, good.transpose(0, 2, 3, 1).reshape(good.shape))  # (n, i, j, c) order, reshaped
    one = x[:, :1]
    assert np.array_equal(PoolReshapePooling(2, 2).forward(one), Pooling(2, 2).forward(one))


def test_reader_convnet_without_bug_is_simple_convnet():
    x, t = _data()
    ref, net = SimpleConvNet(**SMALL), ReaderConvNet(**SMALL)
    assert all(type(layer) in (Convolution, Pooling, Relu, Affine) for layer in net.layers.values())  # the book's
    assert np.allclose(net.predict(x), ref.predict(x))
    g, gr = net.gradient(x, t), ref.gradient(x, t)
    assert all(np.allclose(g[k], gr[k]) for k in gr)
    assert max(gradient_check(net, x, t).values()) < 1e-6


def test_pool_reshape_bug_is_caught_by_gradient_check_below_the_pool():
    x, t = _data()
    err = gradient_check(ReaderConvNet(bug="pool_reshape", **SMALL), x, t)
    assert err["W1"] > 0.1 and err["b1"] > 0.1
    assert err["W2"] < 1e-6 and err["W3"] < 1e-6


def test_predict_return_and_wrong_dict_and_filter_width():
    x, t = _data()
    assert ReaderConvNet(bug="predict_return", **SMALL).predict(x).shape == (4, 4, 8, 8)
    wrong = ReaderConvNet(bug="wrong_dict", **SMALL)
    assert (wrong.layers["Conv1"].stride, wrong.layers["Conv1"].pad) == (2, 0)
    with pytest.raises(ValueError, match="not an integer"):
        wrong.predict(x)
    net = ReaderConvNet(bug="filter_width", **SMALL)
    assert isinstance(net.layers["Conv1"], FilterWidthConvolution)
    with pytest.raises(ValueError):
        net.predict(x)                                                  # 4 filters, width 3
    square = dict(SMALL, conv_param=dict(filter_num=3, filter_size=3, pad=0, stride=1))
    hidden, ref = ReaderConvNet(bug="filter_width", **square), SimpleConvNet(**square)
    g, gr = hidden.gradient(x, t), ref.gradient(x, t)                 # the planted layer feeds the gradient
    assert all(np.allclose(g[k], gr[k]) for k in gr)
    with pytest.raises(ValueError, match="bug must be one of"):
        ReaderConvNet(bug="typo", **SMALL)
    assert len(BUGS) == 5


def test_layer_shapes_of_simple_convnet():
    shapes = layer_shapes(SimpleConvNet(seed=0), np.zeros((2, 1, 28, 28), np.float32))
    assert shapes == [("input", (2, 1, 28, 28)), ("Conv1", (2, 30, 24, 24)), ("Relu1", (2, 30, 24, 24)),
                      ("Pool1", (2, 30, 12, 12)), ("Affine2", (2, 100)), ("Relu2", (2, 100)), ("Affine3", (2, 10))]
    net = MultiLayerNetExtend(12, [5], 3, use_dropout=True, use_batchnorm=True, seed=0)
    assert layer_shapes(net, np.ones((4, 12))) == [("input", (4, 12)), ("Affine1", (4, 5)), ("BatchNorm1", (4, 5)),
                                                  ("Activation1", (4, 5)), ("Dropout1", (4, 5)), ("Affine2", (4, 3))]
    assert net.layers["Dropout1"].mask is None                  # run in test mode


@pytest.mark.parametrize("stride,pad", [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (1, 2)])
def test_by_positions_equals_common_im2col_and_unfold(stride, pad):
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9))
    col = im2col_by_positions(x, 3, 3, stride, pad)
    assert np.array_equal(col, im2col(x, 3, 3, stride, pad))
    assert np.array_equal(col, unfold(x, 3, 3, stride, pad).T)


def test_by_positions_rectangular_filter_dtype_and_non_tiling_stride():
    x = np.random.default_rng(1).standard_normal((3, 2, 7, 8)).astype(np.float32)
    col = im2col_by_positions(x, 2, 3, 1, 0)
    assert col.dtype == np.float32 and col.shape == (3 * 6 * 6, 2 * 2 * 3)
    assert np.array_equal(col, im2col(x, 2, 3, 1, 0))
    with pytest.raises(ValueError, match="not an integer"):
        im2col_by_positions(np.zeros((1, 1, 28, 28)), 5, 5, 2, 0)


def test_first_row_is_the_first_patch():
    x = np.arange(2 * 16, dtype=float).reshape(1, 2, 4, 4)
    row = im2col_by_positions(x, 3, 3)[0]
    assert np.array_equal(row, np.concatenate([x[0, 0, :3, :3].ravel(), x[0, 1, :3, :3].ravel()]))


def test_copies_per_pixel():
    c = copies_per_pixel(6, 6, 3, 3)
    assert c[2:4, 2:4].tolist() == [[9, 9], [9, 9]] and c[0, 0] == 1 and c[0, 2] == 3
    assert c.sum() == 4 * 4 * 9                                    # every row of col has 9 entries
    p = copies_per_pixel(6, 6, 3, 3, 1, 1)
    assert (p[1:-1, 1:-1] == 9).all() and p[0, 0] == 4
    s = copies_per_pixel(7, 7, 3, 3, 2, 0)
    assert s.max() == 4 and s.min() == 1


def test_col2im_assign_is_not_the_adjoint_but_col2im_is():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 6))
    y = rng.standard_normal(im2col(x, 3, 3).shape)
    lhs = np.sum(im2col(x, 3, 3) * y)
    assert np.isclose(lhs, np.sum(x * col2im(y, x.shape, 3, 3)))
    assert not np.isclose(lhs, np.sum(x * col2im_assign(y, x.shape, 3, 3)))
    # without overlap (stride == filter size) assigning is as good as adding
    y2 = rng.standard_normal(im2col(x, 3, 3, 3).shape)
    assert np.allclose(col2im_assign(y2, x.shape, 3, 3, 3), col2im(y2, x.shape, 3, 3, 3))
    assert (col2im_assign(np.ones((16, 9)), (1, 1, 6, 6), 3, 3) == 1).all()
