"""Keras 2.0.8 behaviours that its test suite does not pin down, fixed for issue 15.

Each test states the Keras 2.0.8 behaviour (from its source) it checks.
"""

import warnings

import numpy as np
import pytest

import minikeras as mk
from minikeras import layers as L
from minikeras.engine import get_source_inputs
from minikeras.models import Model, Sequential, clone_model, model_from_yaml


def test_built_subtract_refuses_three_inputs_eagerly_and_different_shapes():
    sub = L.Subtract(name="sub")
    a, b = np.ones((2, 3)), np.full((2, 3), 2.0)
    np.testing.assert_allclose(sub([a, b]).numpy(), a - b)
    with pytest.raises(ValueError, match=r"Subtract 'sub'.*exactly 2 inputs, got 3"):
        sub([a, b, b])
    # Keras 2.0.8's _merge_function: inputs of different shapes, even broadcastable, refused
    with pytest.raises(ValueError, match=r"Subtract 'sub'.*same shape.*\(None, 1, 3\)"):
        sub([mk.Input((4, 3)), mk.Input((1, 3))])


def test_concatenate_mask_of_unmasked_symbolic_input_stays_symbolic_and_masks_combine():
    i1, i2 = mk.Input((4, 5)), mk.Input((4, 5))
    m = np.array([[True, False, True, True]] * 2)
    cat = L.Concatenate(axis=1)
    cat([i1, i2])
    # masks given for every input: concrete (2, 8), all along the last axis
    out = cat.compute_mask([i1, i2], [np.ones((2, 4, 5)), np.ones((2, 4, 5))])
    assert out.shape == (2, 8) and out.all()
    # a mask of lower rank is expanded on the last axis; an unmasked symbolic input has no data
    assert isinstance(cat.compute_mask([i1, i2], [m, None]), mk.engine.KerasTensor)
    np.testing.assert_array_equal(L.Add().compute_mask([i1, i2], [m, None]), m)


def test_model_compute_mask_carries_given_masks_through_the_layers():
    a, b = mk.Input((3,)), mk.Input((3,))
    model = Model([a, b], [L.Add()([L.Activation("relu")(a), b]), L.Dense(2)(b)])
    assert model.compute_mask([a, b], None) == [None, None]
    m = np.array([True, False])
    out = model.compute_mask([a, b], [m, None])
    # Add ANDs the given masks; Dense passes the mask of its input (here None)
    np.testing.assert_array_equal(out[0], m)
    assert out[1] is None
    single = Model(a, L.Activation("relu")(a))
    assert single.compute_mask(a, None) is None
    np.testing.assert_array_equal(single.compute_mask(a, m), m)


def test_get_source_inputs_follows_history_to_the_inputs_once_each():
    a, b = mk.Input((3,)), mk.Input((3,))
    shared = L.Dense(3)
    y = L.Add()([shared(a), shared(b), L.Dense(3)(a)])
    sources = get_source_inputs(y)
    assert len(sources) == 2 and sources[0] is a and sources[1] is b
    assert get_source_inputs(a) == [a]


def test_clone_model_has_new_weights_and_the_same_function():
    x = np.random.RandomState(0).random_sample((5, 4)).astype("float32")
    inp = mk.Input((4,), name="in")
    dense = L.Dense(3, name="d")
    out = L.Add(name="sum")([dense(inp), dense(L.Activation("relu", name="r")(inp))])
    model = Model(inp, out, name="m")
    clone = clone_model(model)
    assert clone.name == "m" and [layer.name for layer in clone.layers] == \
        [layer.name for layer in model.layers]
    assert all(w is not v for w, v in zip(clone.weights, model.weights))
    assert len(clone.weights) == 2  # the shared Dense is still shared in the clone
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x), model.predict(x), rtol=1e-6)
    with pytest.raises(ValueError, match="KerasTensor"):
        clone_model(model, input_tensors=[x])
    with pytest.raises(ValueError, match="Model instance"):
        clone_model(L.Dense(2))


def test_clone_sequential_model_on_a_dense_output_is_refused():
    model = Sequential([L.Dense(2, input_shape=(3,))])
    assert isinstance(clone_model(model), Sequential)
    with pytest.raises(ValueError, match="InputLayer"):
        clone_model(model, input_tensors=L.Dense(3)(mk.Input((3,))))
    with pytest.raises(ValueError, match="single tensor"):
        clone_model(model, input_tensors=[mk.Input((3,)), mk.Input((3,))])


def test_predict_classes_and_predict_proba():
    x = np.random.RandomState(1).random_sample((6, 3))
    softmax = Sequential([L.Dense(4, input_shape=(3,), activation="softmax")])
    np.testing.assert_array_equal(softmax.predict_classes(x, verbose=0),
                                  softmax.predict(x).argmax(axis=-1))
    sigmoid = Sequential([L.Dense(1, input_shape=(3,), activation="sigmoid")])
    classes = sigmoid.predict_classes(x, verbose=0)
    assert classes.dtype == np.int32 and classes.shape == (6, 1)
    np.testing.assert_array_equal(classes, (sigmoid.predict(x) > 0.5).astype("int32"))
    linear = Sequential([L.Dense(2, input_shape=(3,), bias_initializer="ones")])
    with pytest.warns(UserWarning, match="outside \\[0, 1\\]"):
        linear.predict_proba(x * 10 + 5, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        softmax.predict_proba(x, verbose=0)


def test_sequential_fit_trains_ten_epochs_by_default():
    model = Sequential([L.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    history = model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)
    assert history.epoch == list(range(10))
    # Keras 2.0's positional order: x, y, batch_size, epochs, verbose
    assert model.fit(np.zeros((4, 2)), np.zeros((4, 1)), 2, 3, 0).epoch == [0, 1, 2]
    functional = Model(model.inputs, model.outputs)
    functional.compile("sgd", "mse")
    assert functional.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0).epoch == [0]


def test_sequential_first_layer_errors_are_keras_2s():
    used = L.Dense(2)
    used(mk.Input((3,)))
    used(mk.Input((3,)))
    with pytest.raises(ValueError, match="2 pre-existing inbound connections"):
        Sequential().add(used)
    twins = L.Lambda(lambda x: [x, x], output_shape=lambda s: [s, s], input_shape=(3,))
    with pytest.raises(ValueError, match="single output tensor"):
        Sequential().add(twins)


def test_yaml_round_trip():
    pytest.importorskip("yaml")
    inp = mk.Input((3,), name="yin")
    model = Model(inp, L.Dense(2, name="yd")(inp), name="ym")
    text = model.to_yaml()
    assert "!!python" not in text
    again = model_from_yaml(text)
    assert again.name == "ym" and [la.name for la in again.layers] == ["yin", "yd"]
    with pytest.raises(ValueError, match="not valid YAML"):
        model_from_yaml("a: [unclosed")


def test_learning_phase_flags():
    x = mk.Input((3,))
    assert not x._uses_learning_phase
    assert not L.Dropout(0.0)(x)._uses_learning_phase  # rate 0: no phase-dependent branch
    assert L.Dropout(0.3)(x)._uses_learning_phase
    assert not L.Dropout(0.3)(x, training=False)._uses_learning_phase
    assert L.BatchNormalization()(x)._uses_learning_phase
    assert not L.BatchNormalization()(x, training=True)._uses_learning_phase
    y = L.Dense(2)(L.Dropout(0.3)(x))  # passed on by later layers
    assert y._uses_learning_phase and Model(x, y).uses_learning_phase
    assert not Model(x, L.Dense(2)(x)).uses_learning_phase


def test_keras_2_engine_names():
    from minikeras.engine import topology

    for name in ("Input", "InputLayer", "InputSpec", "Layer", "Node", "Container",
                 "get_source_inputs"):
        assert hasattr(topology, name), name
    x = mk.Input((3,))
    model = Model(x, L.Dense(2)(x))
    assert model.stateful is False and model.state_updates == []
    model.reset_states()  # no stateful layer: nothing to do, no error
    dense = model.layers[1]
    dense.assert_input_compatibility(mk.Input((3,)))
    with pytest.raises(ValueError, match="axis -1.*value 3"):
        dense.assert_input_compatibility(mk.Input((4,)))


def test_building_an_empty_sequential_is_a_type_error():
    # Keras 2.0.8's Sequential.build: "Sequential model cannot be built: model is empty."
    with pytest.raises(TypeError, match="empty"):
        Sequential().build((None, 3))


def test_clone_model_with_a_lambda_needs_no_opt_in():
    # the bytecode is made from a live function of this process, not read from a file
    x = mk.Input((3,))
    model = Model(x, L.Dense(2)(L.Lambda(lambda t: t * 2.0)(x)))
    clone = clone_model(model)
    clone.set_weights(model.get_weights())
    data = np.ones((2, 3), "float32")
    np.testing.assert_allclose(clone.predict(data), model.predict(data), rtol=1e-6)
    with pytest.raises(ValueError, match="bytecode"):  # loading a config still needs it
        L.Lambda.from_config(model.layers[1].get_config())
