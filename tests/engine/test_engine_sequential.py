import copy

import numpy as np
import pytest
from engine_helpers import Lin, Split2, Square

from minikeras import Input, Model, Sequential
from minikeras.engine import InputLayer, reset_names

CUSTOM = {"Lin": Lin, "Square": Square}


def test_built_at_add_when_first_layer_has_input_shape():
    model = Sequential([Lin(4, input_shape=(3,), name="first")], name="s")
    assert model.built and model.inputs[0].shape == (None, 3)
    model.add(Lin(2, name="second"))
    assert [layer.name for layer in model.layers] == ["first", "second"]
    assert model.output_shape == (None, 2) and model.input_shape == (None, 3)
    assert model.outputs[0]._keras_history[0].name == "second"
    assert model.inputs[0]._keras_history[0].name == "first_input"
    out = model(np.ones((5, 3)))
    assert out.shape == (5, 2)
    assert model.count_params() == 3 * 4 + 4 + 4 * 2 + 2


def test_deferred_build_on_first_data_call_and_build():
    model = Sequential([Lin(4, name="h"), Lin(2, name="o")])
    assert not model.built
    with pytest.raises(RuntimeError, match="build"):
        model.count_params()
    with pytest.raises(ValueError, match="not yet been built"):
        model.summary()
    assert model.weights == []
    out = model(np.ones((7, 3), np.float32))
    assert model.built and out.shape == (7, 2) and model.inputs[0].shape == (None, 3)
    other = Sequential([Lin(2)])
    other.build((None, 6))
    assert other.output_shape == (None, 2)
    with pytest.raises(ValueError, match="input shape"):
        Sequential([Lin(2)]).build()


def test_deferred_build_on_symbolic_call_nests_in_functional_model():
    seq = Sequential([Lin(3, name="s1"), Square(name="s2")], name="inner_seq")
    x = Input((2,))
    y = seq(x)
    assert y.shape == (None, 3) and seq.built
    model = Model(x, Lin(1, name="top")(y))
    assert [layer.name for layer in model.layers][1:] == ["inner_seq", "top"]
    data = np.ones((2, 2), np.float32)
    expected = model.get_layer("top")(seq(data)).numpy()
    np.testing.assert_allclose(model(data).numpy(), expected, rtol=1e-6)


def test_explicit_input_layer_first():
    model = Sequential()
    model.add(InputLayer(input_shape=(5,), name="inp"))
    assert not model.built and model.layers == []
    model.add(Lin(2))
    assert model.built and model.input_shape == (None, 5)
    assert all(not isinstance(layer, InputLayer) for layer in model.layers)
    cfg = model.get_config()
    assert cfg["layers"][0]["config"]["batch_input_shape"] == (None, 5)
    assert Sequential.from_config(cfg, custom_objects=CUSTOM).built


def test_model_as_first_layer():
    x = Input((3,))
    inner = Model(x, Lin(2, name="il")(x), name="inner")
    model = Sequential([inner, Lin(1, name="after")])
    assert model.built and model.output_shape == (None, 1)
    data = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(model(data).numpy(),
                               model.get_layer("after")(inner(data)).numpy(), rtol=1e-6)
    restored = Sequential.from_config(model.get_config(), custom_objects=CUSTOM)
    restored.set_weights(model.get_weights())
    np.testing.assert_allclose(restored(data).numpy(), model(data).numpy(), rtol=1e-6)


def test_add_errors():
    model = Sequential([Lin(2, input_shape=(2,), name="dup")])
    with pytest.raises(TypeError, match="instance of class Layer"):
        model.add("dense")
    with pytest.raises(ValueError, match="dup"):
        model.add(Lin(2, name="dup"))
    with pytest.raises(TypeError, match="single output tensor"):
        model.add(Split2())
    assert len(model.layers) == 1 and model.output_shape == (None, 2)
    used = Lin(2, name="used")
    used(Input((3,)))
    with pytest.raises(ValueError, match="axis -1"):
        model.add(used)  # a layer that refuses the input is not kept
    assert len(model.layers) == 1


def test_pop():
    model = Sequential([Lin(4, input_shape=(3,), name="a"), Lin(2, name="b")])
    model.pop()
    assert [layer.name for layer in model.layers] == ["a"]
    assert model.output_shape == (None, 4) and model(np.ones((1, 3))).shape == (1, 4)
    assert model.get_layer("a").outbound_nodes == []
    model.add(Lin(5, name="c"))
    assert model.output_shape == (None, 5)
    model.pop()
    model.pop()
    assert model.layers == [] and not model.built
    with pytest.raises(TypeError, match="no layers"):
        model.pop()


def test_config_round_trip_and_legacy_list():
    reset_names()
    model = Sequential([Lin(4, input_shape=(3,)), Square(), Lin(2)], name="seqcfg")
    cfg = model.get_config()
    assert cfg["name"] == "seqcfg"
    assert [entry["class_name"] for entry in cfg["layers"]] == ["Lin", "Square", "Lin"]
    assert cfg["layers"][0]["config"]["batch_input_shape"] == (None, 3)
    restored = Sequential.from_config(cfg, custom_objects=CUSTOM)
    restored.set_weights(model.get_weights())
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(restored(data).numpy(), model(data).numpy(), rtol=1e-6)
    legacy = Sequential.from_config(cfg["layers"], custom_objects=CUSTOM)
    assert legacy.count_params() == model.count_params()
    from minikeras.models import model_from_json

    again = model_from_json(model.to_json(), custom_objects=CUSTOM)
    assert isinstance(again, Sequential) and again.name == "seqcfg"
    twin = copy.deepcopy(model)
    np.testing.assert_allclose(twin(data).numpy(), model(data).numpy(), rtol=1e-6)
    assert twin.layers[0].kernel is not model.layers[0].kernel


def test_data_built_sequential_config_records_input_shape():
    model = Sequential([Lin(2, name="z")])
    model(np.ones((3, 4), np.float32))
    cfg = model.get_config()
    assert cfg["layers"][0]["config"]["batch_input_shape"] == (None, 4)
    assert Sequential.from_config(cfg, custom_objects=CUSTOM).built
