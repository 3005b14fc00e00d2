"""to_categorical: Keras 2 semantics, and errors that say what is wrong with the labels."""

from __future__ import annotations

import numpy as np
import pytest

from minikeras.utils import to_categorical


def test_one_hot_rows_in_label_order():
    out = to_categorical([0, 2, 1], num_classes=4)
    np.testing.assert_array_equal(out, np.eye(4, dtype="float32")[[0, 2, 1]])
    assert out.dtype == np.float32
    assert to_categorical([1, 0], dtype="int64").dtype == np.int64


@pytest.mark.parametrize(("shape", "expected"), [
    ((5,), (5, 3)),        # plain labels
    ((5, 1), (5, 3)),      # a trailing axis of 1 is dropped, as Keras 2 does
    ((5, 2), (5, 2, 3)),   # a label per time step
    ((), (3,)),            # one label
    ((1,), (1, 3)),
])
def test_shapes_follow_keras_2(shape, expected):
    y = np.arange(int(np.prod(shape))).reshape(shape) % 3
    out = to_categorical(y, 3)
    assert out.shape == expected
    np.testing.assert_array_equal(out.argmax(-1), y.reshape(expected[:-1]))


def test_num_classes_defaults_to_max_plus_one_and_floats_that_are_whole_are_labels():
    assert to_categorical(np.array([0.0, 4.0])).shape == (2, 5)


@pytest.mark.parametrize(("y", "kwargs", "match"), [
    ([0, 3], {"num_classes": 3}, "label 3 does not fit num_classes=3"),
    ([0, -1], {}, ">= 0"),
    ([0.2, 0.8], {}, "whole numbers"),
    (["a", "b"], {}, "integer class labels"),
])
def test_bad_labels_are_explained(y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        to_categorical(y, **kwargs)
