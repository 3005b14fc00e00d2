"""Merge layers: values, broadcasting, shapes, errors."""

import numpy as np
import pytest

from minikeras import layers as L
from minikeras.autograd import gradcheck
from minikeras.engine.input_layer import Input

RNG = np.random.default_rng(0)
A, B, C = (RNG.normal(size=(2, 3, 4)) for _ in range(3))


@pytest.mark.parametrize("cls,fn", [
    (L.Add, lambda a, b, c: a + b + c), (L.Multiply, lambda a, b, c: a * b * c),
    (L.Average, lambda a, b, c: (a + b + c) / 3), (L.Maximum, lambda *x: np.max(x, axis=0)),
    (L.Minimum, lambda *x: np.min(x, axis=0))])
def test_elementwise_values_and_gradients(cls, fn):
    layer = cls(dtype="float64")
    np.testing.assert_allclose(layer([A, B, C]).data, fn(A, B, C), rtol=1e-12)
    gradcheck(lambda a, b, c: layer.call([a, b, c]), [A, B, C])


def test_subtract_exactly_two():
    np.testing.assert_allclose(L.Subtract(dtype="float64")([A, B]).data, A - B)
    with pytest.raises(ValueError, match="sub.*exactly 2"):
        L.Subtract(name="sub")([A, B, C])


def test_broadcasting_lower_rank_after_batch_axis():
    x2 = RNG.normal(size=(2, 4))
    out = L.Add(dtype="float64")([A, x2]).data
    np.testing.assert_allclose(out, A + x2[:, None, :])
    assert L.Add().compute_output_shape([(None, 3, 4), (None, 4)]) == (None, 3, 4)
    assert L.Multiply().compute_output_shape([(None, 1, 4), (None, 3, 1)]) == (None, 3, 4)
    y = L.Add()([Input((3, 4)), Input((1, 4))])
    assert y.shape == (None, 3, 4)


def test_elementwise_errors():
    with pytest.raises(ValueError, match=r"add_e.*broadcast.*\(3, 4\).*\(3, 5\)"):
        L.Add(name="add_e")([Input((3, 4)), Input((3, 5))])
    with pytest.raises(ValueError, match=r"add_e2.*list"):
        L.Add(name="add_e2")(Input((3,)))
    # Keras 2 builds a layer called on a one-element list from that one shape,
    # so the merge layer's "called on a list of inputs" check fires
    with pytest.raises(ValueError, match=r"add_e3.*list of inputs"):
        L.Add(name="add_e3")([Input((3,))])
    with pytest.raises(ValueError, match=r"add_e4.*batch sizes"):
        L.Add(name="add_e4").compute_output_shape([(2, 3), (4, 3)])


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_concatenate(axis):
    b = RNG.normal(size=(2, 3, 4) if axis in (-1, 2) else (2, 5, 4))
    b = b if axis == 1 else RNG.normal(size=(2, 3, 5))
    layer = L.Concatenate(axis=axis, dtype="float64")
    np.testing.assert_allclose(layer([A, b]).data, np.concatenate([A, b], axis=axis))
    assert layer.compute_output_shape([A.shape, b.shape]) == \
        np.concatenate([A, b], axis=axis).shape
    assert layer.get_config()["axis"] == axis
    gradcheck(lambda a, c: layer.call([a, c]), [A, b])


def test_concatenate_shapes_and_errors():
    y = L.concatenate([Input((3, None)), Input((3, 2))], axis=-1)
    assert y.shape == (None, 3, None)
    with pytest.raises(ValueError, match=r"cc.*matching shapes.*\(None, 3, 4\)"):
        L.Concatenate(name="cc")([Input((3, 4)), Input((2, 4))])
    with pytest.raises(ValueError, match=r"cc2.*same rank"):
        L.Concatenate(name="cc2")([Input((3, 4)), Input((4,))])


def test_functional_forms():
    a, b = Input((4,)), Input((4,))
    for fn in (L.add, L.subtract, L.multiply, L.average, L.maximum, L.minimum):
        assert fn([a, b]).shape == (None, 4)
