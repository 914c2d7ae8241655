"""Small synthetic data sets shared by the tests."""
import numpy as np


def gaussian_blobs(n_train: int, n_test: int, seed: int = 0):
    """A learnable 4-class problem: 20-D Gaussian blobs around 4 random centres, float32.

    Returns ((x_train, t_train), (x_test, t_test)), drawn in that order from one generator.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.0, (4, 20))

    def draw(n):
        t = rng.integers(0, 4, n)
        return (centres[t] + 0.8 * rng.standard_normal((n, 20))).astype(np.float32), t
    return draw(n_train), draw(n_test)
