"""Activation functions by name, as Keras 2's ``keras.activations``.

Each activation is a plain function of a tensor (numpy arrays are accepted too) built from
the differentiable ops of :mod:`minikeras.backend`. Layers take an activation by name or as a
callable; :func:`get` resolves it and :func:`serialize` turns it back into its name
(``None`` means ``linear``).

Example:
    >>> from minikeras import activations
    >>> activations.get("relu")([-1.0, 2.0])
    Tensor([0., 2.], shape=(2,), dtype=float32, op=Relu)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minikeras import backend as K
from minikeras.autograd import Tensor
from minikeras.generic_utils import deserialize_keras_object

__all__ = [
    "deserialize", "elu", "get", "hard_sigmoid", "linear", "relu", "relu6", "selu",
    "serialize", "sigmoid", "softmax", "softplus", "softsign", "swish", "tanh",
]


def softmax(x: Any, axis: int = -1) -> Tensor:
    """Softmax along ``axis``.

    Raises:
        ValueError: On a 1-D input (as Keras 2: softmax expects a batch axis).
    """
    ndim = x.ndim if hasattr(x, "ndim") else np.ndim(x)
    if ndim == 1:
        raise ValueError("softmax: cannot apply softmax to a 1-D tensor (expected rank >= 2)")
    return K.softmax(x, axis=axis)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    return K.elu(x, alpha)


def selu(x: Any) -> Tensor:
    """Scaled exponential linear unit (Klambauer et al., 2017)."""
    return K.selu(x)


def softplus(x: Any) -> Tensor:
    """``log(1 + exp(x))``."""
    return K.softplus(x)


def softsign(x: Any) -> Tensor:
    """``x / (1 + |x|)``."""
    return K.softsign(x)


def relu(x: Any, alpha: float = 0.0, max_value: float | None = None) -> Tensor:
    """Rectified linear unit, optionally leaky (``alpha``) and capped (``max_value``)."""
    y = K.relu(x) if alpha == 0.0 else K.leaky_relu(x, alpha)
    if max_value is not None:
        y = K.clip(y, None, max_value)
    return y


def relu6(x: Any) -> Tensor:
    """``min(max(x, 0), 6)`` (MobileNet's activation)."""
    return K.relu6(x)


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent."""
    return K.tanh(x)


def sigmoid(x: Any) -> Tensor:
    """Logistic sigmoid."""
    return K.sigmoid(x)


def hard_sigmoid(x: Any) -> Tensor:
    """Piecewise-linear sigmoid: ``clip(0.2 x + 0.5, 0, 1)``."""
    return K.hard_sigmoid(x)


def swish(x: Any) -> Tensor:
    """``x * sigmoid(x)`` (Ramachandran et al., 2017)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    return x * K.sigmoid(x)


def linear(x: Any) -> Any:
    """The identity (what ``activation=None`` means)."""
    return x


_OBJECTS = {
    f.__name__: f
    for f in (
        elu, hard_sigmoid, linear, relu, relu6, selu, sigmoid, softmax, softplus,
        softsign, swish, tanh,
    )
}


def serialize(activation: Callable) -> str:
    """The name of an activation function (``'linear'`` for ``None``)."""
    if activation is None:
        return "linear"
    return getattr(activation, "__name__", type(activation).__name__)


def deserialize(name: Any, custom_objects: dict | None = None) -> Callable:
    """Look an activation up by name (your ``custom_objects`` first).

    Raises:
        ValueError: On an unknown name (the message lists the known ones).
    """
    return deserialize_keras_object(
        name, module_objects=_OBJECTS, custom_objects=custom_objects,
        printable_module_name="activation function",
    )


def get(identifier: Any) -> Callable:
    """Resolve an activation: ``None`` → :func:`linear`, a name, or a callable as is.

    Raises:
        ValueError: On an unknown name or something that is neither a name nor callable.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret activation function identifier: {identifier!r} "
        f"(expected a name such as 'relu', a callable, or None)"
    )
