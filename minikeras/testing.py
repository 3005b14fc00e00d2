"""``layer_test``: the one check every layer goes through (after Keras 2's test helper).

It instantiates the layer from keyword arguments and checks, in order:
weights round trip before use; instantiation with ``weights=``; a symbolic
call on an ``Input`` (output dtype and the node bookkeeping); a functional
``Model`` run on data whose output shape matches ``compute_output_shape``;
the expected output if given; weights count, ``count_params``,
``get_weights``/``set_weights`` (including the error on a wrong count);
the layer's config round trip; ``Model.from_config`` with copied weights
giving the same output; the eager call of the layer; ``copy.deepcopy``
giving an independent layer with the same output; gradients reaching every
trainable weight; one ``train_on_batch`` (``train=True``, when the layer has trainable
weights); and
the same through ``Sequential`` with the layer as its first layer.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np

from minikeras.autograd import GradientTape, Tensor, no_grad
from minikeras.backend.config import floatx
from minikeras.engine import Input, Model, Sequential


def _run(model: Any, data: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(data))


def _close(actual: np.ndarray, expected: np.ndarray, what: str, rtol: float,
           atol: float) -> None:
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def _check_shape(expected: tuple, actual: tuple, what: str) -> None:
    assert len(expected) == len(actual), (
        f"{what}: compute_output_shape gives rank {len(expected)} ({expected}), the output has "
        f"shape {actual}"
    )
    for e, a in zip(expected, actual):
        if e is not None:
            assert e == a, f"{what}: compute_output_shape gives {expected}, the output has {actual}"


def layer_test(layer_cls: type, kwargs: dict | None = None, input_shape: tuple | None = None,
               input_dtype: Any = None, input_data: Any = None, expected_output: Any = None,
               expected_output_dtype: Any = None, fixed_batch_size: bool = False,
               expected_num_weights: int | None = None, expected_num_params: int | None = None,
               custom_objects: dict | None = None, train: bool = True,
               check_gradients: bool = True, rtol: float = 1e-3, atol: float = 1e-6
               ) -> np.ndarray:
    """Check a layer class end to end; raise ``AssertionError`` on the first failure.

    Args:
        layer_cls: The layer class.
        kwargs: Constructor arguments.
        input_shape: Input shape with the batch dimension (``None`` entries get random sizes).
        input_dtype: Input dtype (``floatx()`` by default).
        input_data: Explicit input data (instead of random data of ``input_shape``).
        expected_output: Optional expected output for ``input_data``.
        expected_output_dtype: Expected output dtype (the input dtype by default).
        fixed_batch_size: Use ``Input(batch_shape=input_shape)`` instead of a ``None`` batch.
        expected_num_weights: Optional expected number of weight arrays.
        expected_num_params: Optional expected ``count_params()``.
        custom_objects: Classes needed to deserialise (the layer class is added).
        train: Compile with ``rmsprop``/``mse`` and run one ``train_on_batch``.
        check_gradients: Check that a loss on the output reaches every trainable weight.
        rtol: Relative tolerance for ``expected_output``.
        atol: Absolute tolerance for ``expected_output``.

    Returns:
        The functional model's output on the input data.
    """
    kwargs = dict(kwargs or {})
    custom_objects = {layer_cls.__name__: layer_cls, **(custom_objects or {})}
    if input_data is None:
        if input_shape is None:
            raise ValueError("layer_test: give input_shape or input_data")
        input_dtype = np.dtype(input_dtype or floatx()).name
        data_shape = [np.random.randint(1, 4) if d is None else d for d in input_shape]
        input_data = (10 * np.random.random(data_shape)).astype(input_dtype)
    else:
        input_data = np.asarray(input_data)
        if input_shape is None:
            input_shape = input_data.shape
        if input_dtype is None:
            input_dtype = input_data.dtype.name
    input_dtype = np.dtype(input_dtype).name
    input_shape = tuple(input_shape)
    if expected_output_dtype is None:
        expected_output_dtype = input_dtype
    expected_output_dtype = np.dtype(expected_output_dtype).name

    # instantiation; weights round trip before the layer is built
    layer = layer_cls(**kwargs)
    layer.set_weights(layer.get_weights())
    assert layer.name, "the layer has no name"

    # functional use
    if fixed_batch_size:
        x = Input(batch_shape=input_shape, dtype=input_dtype)
    else:
        x = Input(shape=input_shape[1:], dtype=input_dtype)
    y = layer(x)
    assert y.dtype == expected_output_dtype, (
        f"{layer_cls.__name__}: symbolic output dtype {y.dtype}, expected {expected_output_dtype}"
    )
    assert y._keras_history[0] is layer and y._keras_history[1] == 0
    assert len(layer.inbound_nodes) == 1 and layer.get_output_at(0) is y
    expected_shape = layer.compute_output_shape(input_shape)
    if fixed_batch_size:
        _check_shape(expected_shape, y.shape, f"{layer_cls.__name__} symbolic output")
    else:
        _check_shape(tuple(expected_shape)[1:], y.shape[1:],
                     f"{layer_cls.__name__} symbolic output")

    model = Model(x, y)
    actual_output = _run(model, input_data)
    assert actual_output.dtype.name == expected_output_dtype, (
        f"{layer_cls.__name__}: output dtype {actual_output.dtype}, expected "
        f"{expected_output_dtype}"
    )
    _check_shape(expected_shape, actual_output.shape, f"{layer_cls.__name__} model output")
    if expected_output is not None:
        _close(actual_output, np.asarray(expected_output), f"{layer_cls.__name__} output",
               rtol, atol)

    # weights bookkeeping
    weights = layer.get_weights()
    assert len(weights) == len(layer.weights)
    assert len(layer.weights) == len(layer.trainable_weights) + len(layer.non_trainable_weights)
    if expected_num_weights is not None:
        assert len(weights) == expected_num_weights, (
            f"{layer_cls.__name__}: {len(weights)} weights, expected {expected_num_weights}")
    n_params = sum(int(np.prod(w.shape)) for w in weights)
    assert layer.count_params() == n_params
    if expected_num_params is not None:
        assert n_params == expected_num_params, (
            f"{layer_cls.__name__}: {n_params} parameters, expected {expected_num_params}")
    for w in layer.weights:
        assert w.name.startswith(layer.name + "/"), f"weight name {w.name!r} outside the scope"
    layer.set_weights(weights)
    try:
        layer.set_weights(weights + [np.zeros(1)])
    except ValueError:
        pass
    else:
        raise AssertionError(f"{layer_cls.__name__}.set_weights accepted too many arrays")

    # instantiation with initial weights
    if "weights" in inspect.signature(layer_cls.__init__).parameters or weights:
        try:
            with_weights = layer_cls(**{**kwargs, "weights": weights})
        except TypeError:
            with_weights = None
        if with_weights is not None:
            with_weights(Input(shape=input_shape[1:], dtype=input_dtype))
            for a, b in zip(with_weights.get_weights(), weights):
                np.testing.assert_array_equal(a, b)

    # config round trips
    config = layer.get_config()
    assert config.get("name") == layer.name and "trainable" in config
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config, (
        f"{layer_cls.__name__}: get_config changed through from_config:\n{config}\n"
        f"{clone.get_config()}"
    )
    recovered = Model.from_config(model.get_config(), custom_objects=custom_objects)
    if model.weights:
        recovered.set_weights(model.get_weights())
    _close(_run(recovered, input_data), actual_output, "Model.from_config output", 1e-5, 1e-6)

    # eager call of the layer itself
    with no_grad():
        eager = layer(input_data)
    eager_arrays = eager.numpy() if isinstance(eager, Tensor) else np.asarray(eager)
    _close(eager_arrays, actual_output, "eager call of the layer", 1e-5, 1e-6)
    assert len(layer.inbound_nodes) == 1, "an eager call must not add nodes"

    # deep copy: same output, own weights, no nodes
    twin = copy.deepcopy(layer)
    assert twin.inbound_nodes == [] and twin.outbound_nodes == []
    assert all(a is not b for a, b in zip(twin.weights, layer.weights))
    with no_grad():
        twin_out = twin(input_data)
    _close(np.asarray(twin_out.numpy()), actual_output, "deepcopy output", 1e-5, 1e-6)
    if twin.weights:
        twin.weights[0].assign(twin.weights[0].data + 1)
        np.testing.assert_array_equal(layer.weights[0].data, weights[0])

    # gradients reach every trainable weight
    if check_gradients and layer.trainable_weights and np.dtype(expected_output_dtype).kind == "f":
        with GradientTape() as tape:
            out = model(input_data, training=True)
            loss = (out * out).mean()
        try:
            grads = tape.gradient(loss, layer.trainable_weights)
        except ValueError as e:  # the output does not depend on any weight
            raise AssertionError(f"{layer_cls.__name__}: no gradient reaches the trainable "
                                 f"weights ({e})") from None
        for w, g in zip(layer.trainable_weights, grads):
            assert g is not None, f"no gradient reaches {w.name!r}"
            assert g.shape == w.shape, f"gradient of {w.name!r} has shape {g.shape}"

    # (a model without trainable weights is not trained: minikeras's train_on_batch
    # currently raises on it)
    if train and model.trainable_weights:
        model.compile("rmsprop", "mse")
        model.train_on_batch(input_data, actual_output)

    # first layer of a Sequential model
    seq_config = layer.get_config()
    seq_config["batch_input_shape"] = input_shape
    seq_layer = layer_cls.from_config(seq_config)
    seq = Sequential()
    seq.add(seq_layer)
    assert seq.built, "a Sequential whose first layer has batch_input_shape must be built"
    seq.set_weights(weights)  # the values before any training step
    seq_output = _run(seq, input_data)
    _check_shape(expected_shape, seq_output.shape, f"{layer_cls.__name__} Sequential output")
    _close(seq_output, actual_output, "Sequential output", 1e-5, 1e-6)
    seq_recovered = Sequential.from_config(seq.get_config(), custom_objects=custom_objects)
    if seq.weights:
        seq_recovered.set_weights(seq.get_weights())
    _close(_run(seq_recovered, input_data), actual_output, "Sequential.from_config output",
           1e-5, 1e-6)
    if train and seq.trainable_weights:
        seq.compile("rmsprop", "mse")
        seq.train_on_batch(input_data, seq_output)
    return actual_output
