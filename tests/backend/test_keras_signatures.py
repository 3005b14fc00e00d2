"""The backend ops whose defaults follow Keras 2 (the last axis), not numpy (axis 0 / flat)."""

import numpy as np
import pytest

from minikeras import backend as K
from minikeras.autograd import Tensor, gradcheck


@pytest.fixture
def x():
    return np.arange(6.0).reshape(2, 3) - 2.5


def test_concatenate_joins_along_the_last_axis_by_default(x):
    joined = K.concatenate([K.square(x), x])  # the Keras 2 test suite's Lambda
    assert joined.shape == (2, 6)
    np.testing.assert_allclose(joined.numpy(), np.concatenate([x * x, x], axis=-1))
    assert K.concatenate([x, x], axis=0).shape == (4, 3)


def test_argmax_argmin_reduce_the_last_axis_by_default(x):
    np.testing.assert_array_equal(K.argmax(x).numpy(), x.argmax(axis=-1))
    np.testing.assert_array_equal(K.argmin(-x).numpy(), x.argmax(axis=-1))
    assert K.argmax(x, axis=0).shape == (3,)


def test_expand_dims_appends_an_axis_by_default(x):
    assert K.expand_dims(x).shape == (2, 3, 1)
    assert K.expand_dims(x, 0).shape == (1, 2, 3)


@pytest.mark.parametrize("axis", [None, -1, 0])
def test_l2_normalize_gives_unit_norms_and_a_checked_gradient(x, axis):
    out = K.l2_normalize(x, axis=axis).numpy()
    norms = np.sqrt((out ** 2).sum(axis=axis))
    np.testing.assert_allclose(norms, 1.0)
    np.testing.assert_allclose(out, x / np.sqrt((x ** 2).sum(axis=axis, keepdims=True)))
    gradcheck(lambda t: K.l2_normalize(t, axis=axis), [x])


def test_l2_normalize_of_zeros_is_zero_not_nan():
    assert np.all(K.l2_normalize(Tensor(np.zeros(3)), axis=-1).numpy() == 0.0)
