import numpy as np
import pytest

from chapters.ch07.im2col_variants import col2im_assign, copies_per_pixel, im2col_by_positions
from chapters.ch07.reader_bugs import (
    BUGS,
    ChannelRowsConvolution,
    ChannelRowsPooling,
    FilterWidthConvolution,
    ReaderConvNet,
    StrideOnePooling,
    layer_shapes,
    reader_im2col,
)
from chapters.ch07.viz import (
    CUSTOM,
    KERNELS,
    conv2d,
    conv_as_matrix,
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
from chapters.figures import DIGIT_CMAP
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
    assert out == "kernel: vertical edge 3x3 | stride 1, pad 0\nOH = OW = (28 + 2*0 - 3)/1 + 1 = 26"
    assert len(fig.axes) == 3
    convolution_playground(imgs, kernel=CUSTOM, custom="1 1; 1 1", stride=2, pad=0)
    assert "kernel: custom (edit below) 2x2 | stride 2, pad 0\nOH = OW = (28 + 2*0 - 2)/2 + 1 = 14" in capsys.readouterr().out
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


def test_plot_shift_test_updates_its_figure_in_place(capsys):
    def content(f):
        return ([ax.images[0].get_array().tolist() for ax in f.axes], [ax.get_title() for ax in f.axes])

    fig = plot_shift_test(_digits(), index=0)
    fig.canvas.draw()                                         # as the panel shows it
    before = content(fig)
    for kw in [dict(index=1), dict(index=2), dict(index=2, dy=1, dx=-2), dict(index=0, dy=1, dx=-2)]:
        again = plot_shift_test(_digits(), fig=fig, **kw)
        assert again is fig and len(fig.axes) == 6
        assert content(fig) == content(plot_shift_test(_digits(), **kw))     # what a new figure shows
        assert not fig.stale                                  # drawn (blitted): the panel shows it as it is
        blitted = np.asarray(fig.canvas.buffer_rgba()).copy()
        fig.canvas.draw()                                     # a full draw (savefig) draws the same picture
        assert np.array_equal(blitted, np.asarray(fig.canvas.buffer_rgba()))
    assert content(fig) != before and fig.axes[1].get_title() == "shifted (1, -2)"
    assert plot_shift_test(_digits(), index=0, size=4, fig=fig) is not fig      # another pooled size: a new one
    assert capsys.readouterr().out.splitlines()[-1].startswith("shift (0, 1), 4x4 max pool")


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


def test_im2col_picture_is_readable_and_digits_use_the_digit_cmap(capsys):
    fig = plot_im2col_patches(patch=1)
    matrix = fig.axes[-1]
    assert min(t.get_fontsize() for t in matrix.texts) >= 9               # the names in the matrix
    assert min(t.get_fontsize() for ax in fig.axes[:-1] for t in ax.texts) >= 9
    assert matrix.get_ylabel() and matrix.get_xlabel()
    assert fig.get_size_inches()[0] <= 10                                 # fits a notebook column unscaled
    fig = convolution_playground(_digits(), index=0)
    assert fig.axes[0].images[0].get_cmap().name == DIGIT_CMAP
    fig = plot_shift_test(_digits(), index=0)
    assert [ax.images[0].get_cmap().name for ax in fig.axes[:2]] == [DIGIT_CMAP, DIGIT_CMAP]
    capsys.readouterr()


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
    img = np.ma.filled(fig.axes[0].images[0].get_array(), np.nan)
    assert img.shape == (2 * (2 + 5), 6 * 5 + 5)                # 2 rows x 6 columns of 5x5 tiles, 1-pixel column gaps,
    assert np.isnan(img[:2]).all() and np.isnan(img[7:9]).all()  # and 2 blank rows above each row for the numbers
    texts = fig.axes[0].texts
    assert [t.get_text() for t in texts] == [str(k) for k in range(12)]
    for k, t in enumerate(texts):                               # black, centred above its own tile
        r, c = divmod(k, 6)
        x, y = t.get_position()
        assert t.get_color() == "black" and t.get_va() == "bottom" and t.get_fontsize() == 7
        assert c * 6 <= x <= c * 6 + 4 and r * 7 < y < r * 7 + 2
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


@pytest.mark.parametrize("C, H, W, FN, FH, FW, stride, pad",
                         [(1, 28, 28, 30, 5, 5, 1, 0), (3, 9, 8, 7, 4, 5, 1, 0), (2, 7, 7, 3, 3, 3, 2, 1),
                          (1, 6, 6, 2, 3, 3, 1, 2)])
def test_conv_as_matrix_is_the_convolution(C, H, W, FN, FH, FW, stride, pad):
    rng = np.random.default_rng(0)
    x, Wf = rng.standard_normal((2, C, H, W)), rng.standard_normal((FN, C, FH, FW))
    M = conv_as_matrix(Wf, (C, H, W), stride, pad)
    OH, OW = (H + 2 * pad - FH) // stride + 1, (W + 2 * pad - FW) // stride + 1
    assert M.shape == (C * H * W, FN * OH * OW)
    assert np.allclose(x.reshape(2, -1) @ M, Convolution(Wf, np.zeros(FN), stride, pad).forward(x).reshape(2, -1))
    assert np.isin(M[M != 0], Wf).all()                         # every non-zero entry is a filter weight
    if pad == 0:                                                # no window reaches the padding: C*FH*FW per column
        assert np.count_nonzero(M) == FN * OH * OW * C * FH * FW
    with pytest.raises(ValueError, match="channels"):
        conv_as_matrix(Wf, (C + 1, H, W), stride, pad)


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


def test_reader_im2col_puts_channels_in_rows_and_ignores_stride():
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    col = reader_im2col(x, 3, 3, stride=2, pad=1)                  # stride and pad ignored
    assert col.shape == (2 * 3 * 5 * 4, 9)
    assert np.array_equal(col, im2col(x.reshape(6, 1, 7, 6), 3, 3))   # rows (n, c, i, j): one channel per row
    assert np.array_equal(reader_im2col(x[:, :1], 3, 3), im2col(x[:, :1], 3, 3))   # C = 1: the book's


def test_channel_rows_convolution_fails_unless_one_channel():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6))
    W, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    layer = ChannelRowsConvolution(W, b)
    assert isinstance(layer, Convolution)
    with pytest.raises(ValueError, match=r"shapes \(120,9\) and \(27,4\) not aligned"):
        layer.forward(x)
    W1 = rng.standard_normal((4, 1, 3, 3))
    bug, book = ChannelRowsConvolution(W1, b), Convolution(W1, b)
    out = bug.forward(x[:, :1])
    assert np.allclose(out, book.forward(x[:, :1]))                  # MNIST's one channel: the bug hides
    dout = rng.standard_normal(out.shape)
    assert np.allclose(bug.backward(dout), book.backward(dout)) and np.allclose(bug.dW, book.dW)
    net = ReaderConvNet(bug="channel_rows_im2col", **SMALL)
    xs, _ = _data()
    assert np.allclose(net.predict(xs), SimpleConvNet(**SMALL).predict(xs))


def test_filter_width_bug_crashes_unless_fn_equals_fw():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 12, 12))
    with pytest.raises(ValueError, match=r"cannot reshape array of size 3840 into shape \(2,8,8,5\)"):
        FilterWidthConvolution(rng.standard_normal((30, 1, 5, 5)), np.zeros(30)).forward(x)
    W3, b3 = rng.standard_normal((3, 1, 3, 3)), rng.standard_normal(3)
    bug, book = FilterWidthConvolution(W3, b3), Convolution(W3, b3)
    assert isinstance(bug, Convolution)
    out = bug.forward(x)
    assert np.array_equal(out, book.forward(x))                 # FN == FW: the bug hides
    dout = rng.standard_normal(out.shape)
    assert np.array_equal(bug.backward(dout), book.backward(dout)) and np.array_equal(bug.dW, book.dW)


def test_channel_rows_pooling_moves_values_unless_one_channel():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 8, 6))
    good = Pooling(2, 2).forward(x)
    bug = ChannelRowsPooling(2, 2)
    bad = bug.forward(x)
    assert isinstance(bug, Pooling)
    assert bad.shape == good.shape == (3, 4, 4, 3) and not np.array_equal(bad, good)
    # the maxima in (n, c, i, j) order, read as if they were (n, i, j, c): (N, OH, OW, C) = (3, 4, 3, 4)
    assert np.array_equal(bad, pool2d(x, 2).reshape(3, 4, 3, 4).transpose(0, 3, 1, 2))
    assert np.array_equal(np.sort(bad, axis=None), np.sort(good, axis=None))     # same values, wrong places
    one = x[:, :1]
    assert np.array_equal(ChannelRowsPooling(2, 2).forward(one), Pooling(2, 2).forward(one))


def test_channel_rows_pool_is_caught_by_gradient_check_below_the_pool():
    x, t = _data()
    err = gradient_check(ReaderConvNet(bug="channel_rows_pool", **SMALL), x, t)
    assert err["W1"] > 1e-2 and err["b1"] > 1e-2
    assert max(err[k] for k in ("W2", "b2", "W3", "b3")) < 1e-6


def test_stride_one_pooling_gives_23x23_and_passes_the_gradient_check():
    layer = StrideOnePooling(2, 2, stride=2)
    assert isinstance(layer, Pooling) and (layer.stride, layer.requested_stride) == (1, 2)
    assert layer.forward(np.zeros((2, 30, 24, 24))).shape == (2, 30, 23, 23)
    net = ReaderConvNet(bug="pool_stride_1", seed=0)
    shapes = dict(layer_shapes(net, np.zeros((2, 1, 28, 28))))
    assert shapes["Pool1"] == (2, 30, 23, 23) and shapes["Affine3"] == (2, 10)     # runs to the end
    assert net.params["W2"].shape == (30 * 23 * 23, 100)
    assert count_params(net)["total"] == 30 * 25 + 30 + 15870 * 100 + 100 + 100 * 10 + 10
    x, t = _data()
    assert max(gradient_check(ReaderConvNet(bug="pool_stride_1", **SMALL), x, t).values()) < 1e-6


def test_params_key_bug_is_a_key_error():
    with pytest.raises(KeyError, match="stride"):
        ReaderConvNet(bug="params_key", seed=0)


def test_reader_convnet_without_bug_is_simple_convnet():
    x, t = _data()
    ref, net = SimpleConvNet(**SMALL), ReaderConvNet(**SMALL)
    assert all(type(layer) in (Convolution, Pooling, Relu, Affine) for layer in net.layers.values())  # the book's
    assert np.allclose(net.predict(x), ref.predict(x))
    g, gr = net.gradient(x, t), ref.gradient(x, t)
    assert all(np.allclose(g[k], gr[k]) for k in gr)
    assert max(gradient_check(net, x, t).values()) < 1e-6


def test_predict_return_and_filter_width_in_the_network():
    x, t = _data()
    buggy = ReaderConvNet(bug="predict_return", **SMALL)
    assert buggy.predict(x).shape == (4, 4, 8, 8)
    with pytest.raises(ValueError, match=r"expects scores of shape \(N, C\); got \(4, 4, 8, 8\)"):
        buggy.loss(x, t)
    net = ReaderConvNet(bug="filter_width", **SMALL)
    assert isinstance(net.layers["Conv1"], FilterWidthConvolution)
    with pytest.raises(ValueError, match="cannot reshape"):
        net.predict(x)                                                  # 4 filters, width 3
    square = dict(SMALL, conv_param=dict(filter_num=3, filter_size=3, pad=0, stride=1))
    hidden, ref = ReaderConvNet(bug="filter_width", **square), SimpleConvNet(**square)
    g, gr = hidden.gradient(x, t), ref.gradient(x, t)                 # the planted layer feeds the gradient
    assert all(np.allclose(g[k], gr[k]) for k in gr)
    with pytest.raises(ValueError, match="bug must be one of"):
        ReaderConvNet(bug="typo", **SMALL)
    assert len(BUGS) == 7


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
