"""Layer registry, (de)serialisation helpers, and a small functional model round trip."""

import json

import numpy as np
import pytest

from minikeras import initializers
from minikeras import layers as L
from minikeras.engine import Input, Model
from minikeras.engine.base_layer import Layer
from minikeras.utils.generic_utils import (
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    serialize_keras_object,
)


class Scale(Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_every_exported_layer_class_is_in_the_registry():
    from minikeras.layers.serialization import _registry

    table = _registry()
    for name in L.__all__:
        obj = getattr(L, name)
        if isinstance(obj, type) and issubclass(obj, Layer):
            assert table[obj.__name__] is obj or table[name] is obj, name
    assert {"InputLayer", "Model", "Sequential"} <= set(table)


def test_unknown_layer_lists_known_names():
    with pytest.raises(ValueError, match="Unknown layer: 'Dense3D'.*SeparableConv2D"):
        L.deserialize({"class_name": "Dense3D", "config": {}})
    with pytest.raises(ValueError, match="class_name"):
        L.deserialize({"config": {}})


def test_custom_layer_by_custom_objects_and_scope():
    config = L.serialize(Scale(3.0, name="sc"))
    assert config == {"class_name": "Scale",
                      "config": {"name": "sc", "trainable": True, "factor": 3.0}}
    assert L.deserialize(config, custom_objects={"Scale": Scale}).factor == 3.0
    with custom_object_scope({"Scale": Scale}):
        assert L.deserialize(config).factor == 3.0
    assert "Scale" not in get_custom_objects()
    with pytest.raises(ValueError, match="Unknown layer: 'Scale'"):
        L.deserialize(config)


def test_custom_initializer_inside_layer_config():
    class MyInit(initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return np.full(shape, 0.5, dtype=dtype or "float32")

    layer = L.Dense(2, kernel_initializer=MyInit())
    config = L.serialize(layer)
    again = L.deserialize(config, custom_objects={"MyInit": MyInit})
    again.build((None, 3))
    np.testing.assert_array_equal(again.kernel.data, 0.5)


def test_generic_helpers():
    assert serialize_keras_object(None) is None
    assert serialize_keras_object(np.tanh) == "tanh"
    with pytest.raises(ValueError, match="Could not interpret"):
        deserialize_keras_object(3, module_objects={}, printable_module_name="thing")


def test_get():
    assert isinstance(L.get("Flatten"), L.Flatten)
    layer = L.Dense(1)
    assert L.get(layer) is layer
    with pytest.raises(ValueError):
        L.get(3)


def test_small_functional_model_json_round_trip():
    x = Input((8, 8, 3))
    h = L.SeparableConv2D(4, 3, padding="same", activation="relu", depth_multiplier=2)(x)
    h = L.BatchNormalization()(h)
    h = L.MaxPooling2D()(h)
    a = L.Conv2D(4, 1)(h)
    b = L.DepthwiseConv2D(3, padding="same")(h)
    h = L.Add()([a, b])
    h = L.Concatenate()([h, L.ZeroPadding2D(0)(h)])
    h = L.GlobalAveragePooling2D()(h)
    h = L.Dropout(0.5)(h)
    y = L.Dense(3, activation="softmax")(L.Reshape((8,))(h))
    model = Model(x, y)
    data = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    out = model(data).data
    config = json.loads(json.dumps(model.get_config()))
    again = Model.from_config(config)
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again(data).data, out, rtol=1e-5, atol=1e-6)
    assert again.count_params() == model.count_params()


def test_models_are_in_the_registry_nested():
    from minikeras.engine import Sequential

    inner = Sequential([L.Dense(3, input_shape=(4,)), L.Activation("relu")])
    x = Input((4,))
    model = Model(x, L.Dense(2)(inner(x)))
    again = L.deserialize(json.loads(json.dumps(L.serialize(model))))
    again.set_weights(model.get_weights())
    assert [type(layer).__name__ for layer in again.layers] == ["InputLayer", "Sequential",
                                                                "Dense"]
    data = np.random.default_rng(1).random((2, 4)).astype(np.float32)
    np.testing.assert_allclose(again(data).data, model(data).data, rtol=1e-6)
