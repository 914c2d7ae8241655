import numpy as np
import pytest

from common.util import col2im, conv_output_size, im2col, shuffle_dataset, smooth_curve

CASES = [  # (N, C, H, W, FH, FW, stride, pad)
    (1, 1, 4, 4, 2, 2, 1, 0),
    (2, 3, 7, 7, 3, 3, 1, 1),
    (2, 2, 7, 5, 3, 1, 2, 0),
    (3, 1, 9, 9, 3, 3, 3, 0),
    (1, 2, 6, 6, 4, 4, 2, 1),
]


def naive_im2col(x, fh, fw, stride, pad):
    """One explicit loop over output positions: the obvious definition."""
    n, c, h, w = x.shape
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    rows = []
    for i_n in range(n):
        for i in range(oh):
            for j in range(ow):
                rows.append(xp[i_n, :, i * stride:i * stride + fh, j * stride:j * stride + fw].ravel())
    return np.array(rows)


@pytest.mark.parametrize("case", CASES)
def test_im2col_matches_naive_loop(case):
    n, c, h, w, fh, fw, s, p = case
    x = np.random.default_rng(0).standard_normal((n, c, h, w))
    np.testing.assert_array_equal(im2col(x, fh, fw, s, p), naive_im2col(x, fh, fw, s, p))


@pytest.mark.parametrize("case", CASES)
def test_col2im_is_adjoint_of_im2col(case):
    n, c, h, w, fh, fw, s, p = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c, h, w))
    col = im2col(x, fh, fw, s, p)
    y = rng.standard_normal(col.shape)
    lhs = np.sum(col * y)                             # <im2col(x), y>
    rhs = np.sum(x * col2im(y, x.shape, fh, fw, s, p))  # <x, col2im(y)>
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_col2im_accumulates_overlaps():
    # a 3x3 image, 2x2 windows, stride 1: the centre pixel belongs to all 4 windows
    col = np.ones((4, 4))
    img = col2im(col, (1, 1, 3, 3), 2, 2, 1, 0)
    np.testing.assert_array_equal(img[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_im2col_keeps_dtype_and_rejects_bad_shape():
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)
    assert im2col(x, 2, 2).dtype == np.float32
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        im2col(np.zeros((4, 4)), 2, 2)
    with pytest.raises(ValueError, match=r"col2im: cols has shape \(3, 4\)"):
        col2im(np.zeros((3, 4)), (1, 1, 4, 4), 2, 2)


def test_conv_output_size():
    assert conv_output_size(28, 5) == 24
    assert conv_output_size(4, 3, stride=1, pad=1) == 4
    assert conv_output_size(7, 3, stride=2) == 3
    with pytest.raises(ValueError, match="not an integer"):
        conv_output_size(28, 5, stride=2)
    with pytest.raises(ValueError, match="larger"):
        conv_output_size(3, 5)


def test_shuffle_dataset_keeps_pairs_together():
    x = np.arange(10)[:, None] * np.ones((1, 3))
    t = np.arange(10)
    xs, ts = shuffle_dataset(x, t, rng=0)
    np.testing.assert_array_equal(xs[:, 0], ts)
    assert sorted(ts.tolist()) == list(range(10)) and ts.tolist() != list(range(10))
    np.testing.assert_array_equal(t, np.arange(10))      # originals untouched


def test_smooth_curve_same_length_and_smoother():
    rng = np.random.default_rng(0)
    v = np.linspace(1, 0, 200) + 0.1 * rng.standard_normal(200)
    s = smooth_curve(v)
    assert s.shape == v.shape
    assert np.std(np.diff(s)) < np.std(np.diff(v)) / 3
    np.testing.assert_allclose(smooth_curve(np.full(50, 2.0)), 2.0)
