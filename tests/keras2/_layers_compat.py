"""Plumbing shared by the ports of Keras 2.0.8's layer, engine, model and saving tests.

Keras's tests reach the backend through ``K.variable``, ``K.eval`` and
``K.function``; minikeras has no graph session, so these stand-ins do the same
job on data: a variable is a :class:`~minikeras.autograd.Tensor`, evaluating
returns its numpy array, and a "function" of a model's inputs and outputs runs
the model (inference unless the learning phase ``1`` is passed last).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras.autograd import Tensor, no_grad


def variable(value: Any) -> Tensor:
    """``K.variable``: a concrete tensor holding ``value``."""
    return Tensor(np.asarray(value, dtype="float32"))


def k_eval(x: Any) -> np.ndarray:
    """``K.eval``: the numpy value of a concrete tensor (or array)."""
    return np.asarray(x.numpy() if isinstance(x, Tensor) else x)


def model_function(model: Any, learning_phase: bool = False) -> Any:
    """``K.function(model.inputs [+ [K.learning_phase()]], model.outputs)`` for a model.

    Args:
        model: The model whose inputs and outputs the Keras test passed.
        learning_phase: Whether the Keras function took the learning phase as
            its last input.

    Returns:
        A function of the list of input arrays (plus the phase, when
        ``learning_phase``) returning the list of output arrays.
    """
    def fn(values: list) -> list:
        values = list(values)
        training = bool(values.pop()) if learning_phase else False
        with no_grad():
            out = model(values if len(values) > 1 else values[0], training=training)
        outs = out if isinstance(out, list) else [out]
        return [np.asarray(o.numpy()) for o in outs]
    return fn


def layer_test(layer_cls: type, kwargs: dict | None = None, input_shape: Any = None,
               input_dtype: Any = None, input_data: Any = None, expected_output: Any = None,
               expected_output_dtype: Any = None, fixed_batch_size: bool = False) -> np.ndarray:
    """Keras 2.0.8's ``keras.utils.test_utils.layer_test``, step for step.

    The ported tests use Keras's own helper so that they check what Keras
    checked, no more and no less (:func:`minikeras.testing.layer_test` checks
    more, e.g. that ``get_config`` survives ``from_config`` unchanged, and
    trains only models with trainable weights). Plumbing: ``K.dtype(y)`` is
    ``y.dtype``; ``has_arg(layer_cls.__init__, 'weights')`` looks for an
    explicit ``weights`` parameter, as ``has_arg`` did without ``accept_all``.

    Returns:
        The ``Sequential`` model's output on the input data (as Keras's).
    """
    import inspect

    from minikeras.backend import floatx
    from minikeras.engine import Input, Model, Sequential

    kwargs = dict(kwargs or {})
    # generate input data
    if input_data is None:
        assert input_shape
        if not input_dtype:
            input_dtype = floatx()
        input_data_shape = list(input_shape)
        for i, e in enumerate(input_data_shape):
            if e is None:
                input_data_shape[i] = np.random.randint(1, 4)
        input_data = (10 * np.random.random(input_data_shape))
        input_data = input_data.astype(input_dtype)
    else:
        if input_shape is None:
            input_shape = input_data.shape
        if input_dtype is None:
            input_dtype = input_data.dtype
    if expected_output_dtype is None:
        expected_output_dtype = input_dtype

    # instantiation
    layer = layer_cls(**kwargs)

    # test get_weights , set_weights at layer level
    weights = layer.get_weights()
    layer.set_weights(weights)

    # test and instantiation from weights
    if 'weights' in inspect.signature(layer_cls.__init__).parameters and len(weights):
        kwargs['weights'] = weights
        layer = layer_cls(**kwargs)

    # test in functional API
    if fixed_batch_size:
        x = Input(batch_shape=input_shape, dtype=input_dtype)
    else:
        x = Input(shape=input_shape[1:], dtype=input_dtype)
    y = layer(x)
    assert np.dtype(y.dtype) == np.dtype(expected_output_dtype)

    # check shape inference
    model = Model(x, y)
    expected_output_shape = layer.compute_output_shape(input_shape)
    actual_output = model.predict(input_data)
    actual_output_shape = actual_output.shape
    for expected_dim, actual_dim in zip(expected_output_shape,
                                        actual_output_shape):
        if expected_dim is not None:
            assert expected_dim == actual_dim
    if expected_output is not None:
        np.testing.assert_allclose(actual_output, expected_output, rtol=1e-3)

    # test serialization, weight setting at model level
    model_config = model.get_config()
    recovered_model = Model.from_config(model_config)
    if model.weights:
        weights = model.get_weights()
        recovered_model.set_weights(weights)
        _output = recovered_model.predict(input_data)
        np.testing.assert_allclose(_output, actual_output, rtol=1e-3)

    # test training mode (e.g. useful for dropout tests)
    model.compile('rmsprop', 'mse')
    model.train_on_batch(input_data, actual_output)

    # test as first layer in Sequential API
    layer_config = layer.get_config()
    layer_config['batch_input_shape'] = input_shape
    layer = layer.__class__.from_config(layer_config)

    model = Sequential()
    model.add(layer)
    actual_output = model.predict(input_data)
    actual_output_shape = actual_output.shape
    for expected_dim, actual_dim in zip(expected_output_shape,
                                        actual_output_shape):
        if expected_dim is not None:
            assert expected_dim == actual_dim
    if expected_output is not None:
        np.testing.assert_allclose(actual_output, expected_output, rtol=1e-3)

    # test serialization, weight setting at model level
    model_config = model.get_config()
    recovered_model = Sequential.from_config(model_config)
    if model.weights:
        weights = model.get_weights()
        recovered_model.set_weights(weights)
        _output = recovered_model.predict(input_data)
        np.testing.assert_allclose(_output, actual_output, rtol=1e-3)

    # test training mode (e.g. useful for dropout tests)
    model.compile('rmsprop', 'mse')
    model.train_on_batch(input_data, actual_output)

    # for further checks in the caller function
    return actual_output


def get_test_data(num_train: int = 1000, num_test: int = 500, input_shape: tuple = (10,),
                  output_shape: tuple = (2,), classification: bool = True,
                  num_classes: int = 2) -> tuple:
    """Keras 2.0.8's ``keras.utils.test_utils.get_test_data``, unchanged.

    ``classification=True``: integer labels in ``[0, num_classes)`` and inputs
    drawn around their label; otherwise float targets of ``output_shape``.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``.
    """
    samples = num_train + num_test
    if classification:
        y = np.random.randint(0, num_classes, size=(samples,))
        x = np.zeros((samples,) + input_shape)
        for i in range(samples):
            x[i] = np.random.normal(loc=y[i], scale=0.7, size=input_shape)
    else:
        y_loc = np.random.random((samples,))
        x = np.zeros((samples,) + input_shape)
        y = np.zeros((samples,) + output_shape)
        for i in range(samples):
            x[i] = np.random.normal(loc=y_loc[i], scale=0.7, size=input_shape)
            y[i] = np.random.normal(loc=y_loc[i], scale=0.7, size=output_shape)
    return (x[:num_train], y[:num_train]), (x[num_train:], y[num_train:])


def to_categorical(y: Any, num_classes: int | None = None) -> np.ndarray:
    """Keras 2.0.8's ``keras.utils.np_utils.to_categorical``: one-hot rows of ``y``."""
    y = np.array(y, dtype='int').ravel()
    if not num_classes:
        num_classes = np.max(y) + 1
    categorical = np.zeros((len(y), num_classes))
    categorical[np.arange(len(y)), y] = 1
    return categorical
