"""Keras's import path for the serialisation helpers: ``minikeras.utils.generic_utils``.

The helpers live in :mod:`minikeras.generic_utils`, on the lowest floor, because initializers,
regularizers, constraints and activations use them; this module only hands them on.
"""

from minikeras.generic_utils import (
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    serialize_keras_object,
)

__all__ = [
    "CustomObjectScope",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "serialize_keras_object",
]
