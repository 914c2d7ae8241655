import numpy as np
import pytest

from common.im2col_variants import col2im_assign, copies_per_pixel, im2col_by_offsets, im2col_by_positions
from common.util import col2im, im2col


@pytest.mark.parametrize("stride,pad", [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (1, 2)])
@pytest.mark.parametrize("variant", [im2col_by_positions, im2col_by_offsets])
def test_variants_equal_common_im2col(variant, stride, pad):
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9))
    assert np.array_equal(variant(x, 3, 3, stride, pad), im2col(x, 3, 3, stride, pad))


@pytest.mark.parametrize("variant", [im2col_by_positions, im2col_by_offsets])
def test_variants_rectangular_filter_and_dtype(variant):
    x = np.random.default_rng(1).standard_normal((3, 2, 7, 8)).astype(np.float32)
    col = variant(x, 2, 3, 1, 0)
    assert col.dtype == np.float32 and col.shape == (3 * 6 * 6, 2 * 2 * 3)
    assert np.array_equal(col, im2col(x, 2, 3, 1, 0))


@pytest.mark.parametrize("variant", [im2col_by_positions, im2col_by_offsets])
def test_variants_refuse_non_tiling_stride(variant):
    with pytest.raises(ValueError, match="not an integer"):
        variant(np.zeros((1, 1, 28, 28)), 5, 5, 2, 0)


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
