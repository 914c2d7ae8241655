"""MNIST for dlfs-lab (``from dataset.mnist import load_mnist``); the errors its modules share."""


class MnistUnavailableError(RuntimeError):
    """No source could deliver verified MNIST; the message lists each source and why."""


class MnistCacheError(RuntimeError):
    """The cache cannot be read now (it is left as it is) or its folder cannot be written."""


class MnistFormatError(ValueError):
    """Not MNIST: a bad gzip, idx, npz or pickle, or more bytes than the original has."""


class MnistChecksumError(MnistFormatError):
    """Data whose MD5 (or a wheel whose SHA-256) differs from the expected digest."""


class MnistCacheWarning(RuntimeWarning):
    """The cache is corrupt; it is replaced as soon as verified data is found."""
