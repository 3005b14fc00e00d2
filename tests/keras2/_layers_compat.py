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
