import numpy as np
import pytest
from engine_helpers import Lin, Square, Stats

from minikeras.engine import Layer
from minikeras.testing import layer_test


def test_layer_test_passes_on_correct_layers():
    out = layer_test(Lin, {"units": 3}, input_shape=(2, 4), expected_num_weights=2,
                     expected_num_params=15)
    assert out.shape == (2, 3)
    layer_test(Lin, {"units": 2, "use_bias": False}, input_shape=(3, 5, 4),
               expected_num_params=8)
    layer_test(Square, {}, input_data=np.array([[1.0, -2.0]], np.float32),
               expected_output=np.array([[1.0, 4.0]], np.float32))
    layer_test(Stats, {}, input_shape=(4, 3), fixed_batch_size=True)
    layer_test(Lin, {"units": 2, "dtype": "float64"}, input_shape=(2, 3),
               input_dtype="float64")


def test_layer_test_catches_wrong_output_shape():
    class BadShape(Lin):
        def compute_output_shape(self, input_shape):
            return tuple(input_shape[:-1]) + (self.units + 1,)

    with pytest.raises(AssertionError, match="compute_output_shape"):
        layer_test(BadShape, {"units": 2}, input_shape=(2, 3), custom_objects={"Lin": Lin})


def test_layer_test_catches_incomplete_config():
    class Forgetful(Layer):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

    with pytest.raises(AssertionError):
        layer_test(Forgetful, {"factor": 3.0}, input_shape=(2, 3))


def test_layer_test_catches_expected_output_and_counts():
    with pytest.raises(AssertionError):
        layer_test(Square, {}, input_data=np.ones((1, 2), np.float32),
                   expected_output=np.zeros((1, 2)))
    with pytest.raises(AssertionError, match="parameters"):
        layer_test(Lin, {"units": 3}, input_shape=(2, 4), expected_num_params=14)


def test_layer_test_catches_unused_weight():
    class Unused(Lin):
        def call(self, x):
            return x[..., : self.units] * 1.0

    with pytest.raises(AssertionError, match="no gradient"):
        layer_test(Unused, {"units": 2}, input_shape=(2, 4), train=False)
