import numpy as np
import pytest

from common.augment import random_shift, rotate, shift_and_rotate


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
