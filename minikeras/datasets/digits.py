"""The UCI 8x8 handwritten digits, bundled with minikeras.

1,797 grey-scale images of the digits 0-9, each 8x8 pixels with integer values 0..16
(the number of "on" pixels in a 4x4 block of the original 32x32 bitmap). The data ships
inside the package, so nothing is downloaded at run time; see ``data/LICENSE-digits.txt``
for its origin (UCI Machine Learning Repository, Alpaydin & Kaynak 1998, CC BY 4.0).

Example:
    >>> from minikeras.datasets import digits
    >>> (x_train, y_train), (x_test, y_test) = digits.load_data()
    >>> x_train.shape, y_train.shape, x_test.shape
    ((1437, 8, 8), (1437,), (360, 8, 8))
    >>> x_train = x_train[..., None] / 16.0  # NHWC with one channel, values in [0, 1]
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

import numpy as np

__all__ = ["NUM_CLASSES", "IMAGE_SHAPE", "MAX_PIXEL_VALUE", "load_data", "describe"]

NUM_CLASSES: int = 10
"""Number of classes: the digits 0 to 9."""

IMAGE_SHAPE: tuple[int, int] = (8, 8)
"""Height and width of one image."""

MAX_PIXEL_VALUE: float = 16.0
"""Largest pixel value in the raw data (pixels are integers 0..16)."""

_DATA_PACKAGE = "minikeras.datasets"
_CSV_NAME = "data/digits.csv.gz"
_DESCR_NAME = "data/digits.rst"


@functools.cache
def _load_all() -> tuple[np.ndarray, np.ndarray]:
    """Read the bundled CSV once and return read-only ``(images, labels)`` for all 1,797 rows."""
    resource = resources.files(_DATA_PACKAGE).joinpath(_CSV_NAME)
    with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="ascii") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.float32)
    images = table[:, :-1].reshape(-1, *IMAGE_SHAPE)
    labels = table[:, -1].astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_data(
    test_split: float = 0.2,
    seed: int = 113,
    normalize: bool = False,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the 8x8 digits, shuffled and split into a training and a test set.

    Like ``keras.datasets.mnist.load_data`` the images come back raw by default: float32
    pixel values from 0 to 16 (whole numbers). Pass ``normalize=True`` to get them divided
    by 16, i.e. in ``[0, 1]``. Images have no channel axis; add one with ``x[..., None]``
    to feed them to ``Conv2D``/``SeparableConv2D`` (channels last).

    The split is deterministic: the rows are shuffled by a permutation drawn from
    ``numpy.random.default_rng(seed)``, the first ``int(1797 * (1 - test_split))`` rows
    form the training set and the rest the test set. With the defaults that is 1,437
    training and 360 test images. Every call returns fresh, writable arrays.

    Args:
        test_split: Fraction of the images put in the test set, in ``[0, 1)``. ``0.0``
            gives an empty test set (arrays with 0 rows).
        seed: Seed of the shuffling permutation. The same seed always gives the same split.
        normalize: If true, divide the pixel values by 16 so they lie in ``[0, 1]``.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x_*`` are float32 arrays of shape
        ``(n, 8, 8)``, ``y_*`` are int64 arrays of shape ``(n,)`` holding the digits 0..9.

    Raises:
        ValueError: If ``test_split`` is outside ``[0, 1)`` (or NaN), or so close to 1
            that the training set would be empty.
        TypeError: If ``test_split`` is not a real number or ``seed`` not an integer.
    """
    if isinstance(test_split, bool) or not isinstance(test_split, int | float | np.floating):
        raise TypeError(f"test_split must be a float, got {type(test_split).__name__}")
    test_split = float(test_split)
    if not 0.0 <= test_split < 1.0:  # also rejects NaN
        raise ValueError(f"test_split must be in [0, 1), got {test_split!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")

    images, labels = _load_all()
    n = len(labels)
    n_train = int(n * (1.0 - test_split))
    if n_train == 0:
        raise ValueError(
            f"test_split={test_split!r} leaves no training images (there are {n} in all)"
        )

    order = np.random.default_rng(int(seed)).permutation(n)
    x = images[order]  # fancy indexing copies: the cached arrays stay untouched
    y = labels[order]
    if normalize:
        x /= np.float32(MAX_PIXEL_VALUE)

    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def describe() -> str:
    """Return the data set's description (origin, preprocessing, references) as text.

    Returns:
        The reStructuredText description that scikit-learn ships with this data set.
    """
    return resources.files(_DATA_PACKAGE).joinpath(_DESCR_NAME).read_text(encoding="utf-8")
