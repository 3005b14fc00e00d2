"""Tests for the bundled data sets (minikeras.datasets)."""

import math

import numpy as np
import pytest

from minikeras import datasets
from minikeras.datasets import digits

N_IMAGES = 1797


def _rows(x: np.ndarray) -> set[bytes]:
    """Each image as bytes, to compare whole rows between arrays."""
    return {row.tobytes() for row in np.ascontiguousarray(x).reshape(len(x), -1)}


def test_package_exposes_digits():
    assert datasets.digits is digits


def test_default_split_shapes_and_dtypes():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    assert x_train.shape == (1437, 8, 8)
    assert y_train.shape == (1437,)
    assert x_test.shape == (360, 8, 8)
    assert y_test.shape == (360,)
    for x in (x_train, x_test):
        assert x.dtype == np.float32
    for y in (y_train, y_test):
        assert y.dtype == np.int64


def test_pixels_are_raw_whole_numbers_0_to_16():
    (x_train, _), (x_test, _) = digits.load_data()
    x = np.concatenate([x_train, x_test])
    assert x.min() == 0.0
    assert x.max() == 16.0
    np.testing.assert_array_equal(x, np.round(x))


def test_normalize_divides_by_16():
    (raw, _), _ = digits.load_data()
    (norm, _), _ = digits.load_data(normalize=True)
    assert norm.dtype == np.float32
    assert norm.min() == 0.0 and norm.max() == 1.0
    np.testing.assert_allclose(norm * 16.0, raw, rtol=0, atol=1e-5)


def test_labels_and_class_counts():
    (_, y_train), (_, y_test) = digits.load_data()
    y = np.concatenate([y_train, y_test])
    assert y.min() == 0 and y.max() == 9
    counts = np.bincount(y, minlength=10)
    # The published class sizes of this data set.
    np.testing.assert_array_equal(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    # With the default split both sets hold every class.
    assert set(np.unique(y_train)) == set(range(10))
    assert set(np.unique(y_test)) == set(range(10))


def test_split_is_a_partition_of_all_images():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    train_rows, test_rows = _rows(x_train), _rows(x_test)
    assert not train_rows & test_rows  # no image in both sets
    assert len(train_rows) + len(test_rows) == N_IMAGES  # every image exactly once
    # Splitting with another seed gives the same images with the same labels.
    (x2_train, y2_train), (x2_test, y2_test) = digits.load_data(seed=7)
    pairs = {
        r.tobytes(): int(lbl)
        for r, lbl in zip(np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]))
    }
    for r, lbl in zip(np.concatenate([x2_train, x2_test]), np.concatenate([y2_train, y2_test])):
        assert pairs[r.tobytes()] == lbl


def test_same_seed_same_split():
    (a_x, a_y), (a_xt, a_yt) = digits.load_data(seed=3)
    (b_x, b_y), (b_xt, b_yt) = digits.load_data(seed=3)
    np.testing.assert_array_equal(a_x, b_x)
    np.testing.assert_array_equal(a_y, b_y)
    np.testing.assert_array_equal(a_xt, b_xt)
    np.testing.assert_array_equal(a_yt, b_yt)


def test_different_seeds_differ():
    (a_x, a_y), (a_xt, _) = digits.load_data(seed=1)
    (b_x, b_y), (b_xt, _) = digits.load_data(seed=2)
    assert not np.array_equal(a_y, b_y)
    assert _rows(a_xt) != _rows(b_xt)


def test_default_seed_is_113():
    default = digits.load_data()
    explicit = digits.load_data(seed=113)
    for a, b in zip(default[0] + default[1], explicit[0] + explicit[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("test_split", [0.0, 0.1, 0.25, 0.5, 0.9, 0.99])
def test_split_sizes(test_split):
    (x_train, y_train), (x_test, y_test) = digits.load_data(test_split=test_split)
    n_train = int(N_IMAGES * (1 - test_split))
    assert len(x_train) == len(y_train) == n_train
    assert len(x_test) == len(y_test) == N_IMAGES - n_train
    assert x_test.shape[1:] == (8, 8)


def test_zero_test_split_gives_empty_test_set():
    (x_train, _), (x_test, y_test) = digits.load_data(test_split=0.0)
    assert x_train.shape == (N_IMAGES, 8, 8)
    assert x_test.shape == (0, 8, 8) and y_test.shape == (0,)


def test_returned_arrays_are_fresh_and_writable():
    (x_train, y_train), _ = digits.load_data()
    x_train[:] = -1.0
    y_train[:] = -1
    (x_again, y_again), _ = digits.load_data()
    assert x_again.min() == 0.0
    assert y_again.min() == 0


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, -1e-9, math.nan, math.inf])
def test_test_split_out_of_range_raises(bad):
    with pytest.raises(ValueError, match=r"test_split.*\[0, 1\)"):
        digits.load_data(test_split=bad)


def test_test_split_leaving_no_training_images_raises():
    with pytest.raises(ValueError, match="no training images"):
        digits.load_data(test_split=0.9999)


@pytest.mark.parametrize("bad", ["0.2", None, True])
def test_test_split_wrong_type_raises(bad):
    with pytest.raises(TypeError, match="test_split"):
        digits.load_data(test_split=bad)


@pytest.mark.parametrize("bad", [1.5, "113", None])
def test_seed_wrong_type_raises(bad):
    with pytest.raises(TypeError, match="seed"):
        digits.load_data(seed=bad)


def test_numpy_scalars_are_accepted():
    (x_train, _), _ = digits.load_data(test_split=np.float64(0.5), seed=np.int64(5))
    assert len(x_train) == int(N_IMAGES * 0.5)


def test_describe_names_the_source():
    text = digits.describe()
    assert "Optical recognition of handwritten digits" in text
    assert "1797" in text
