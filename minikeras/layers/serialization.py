"""Layers to ``{'class_name', 'config'}`` and back.

Importing this module registers every layer class of :mod:`minikeras.layers` in the engine's
registry (:mod:`minikeras.engine.registry`), which also holds ``InputLayer``, ``Model`` and
``Sequential``; your own layers are found through ``custom_objects`` (or
:func:`minikeras.generic_utils.custom_object_scope`).
"""

from __future__ import annotations

from typing import Any

from minikeras.engine.registry import deserialize_layer, layer_classes, register_layer_class
from minikeras.generic_utils import get_custom_objects, serialize_keras_object
from minikeras.layers import convolutional, core, merge, normalization, pooling

__all__ = ["deserialize", "get", "serialize"]

for _module in (convolutional, core, merge, normalization, pooling):
    for _name in _module.__all__:
        _obj = getattr(_module, _name)
        if isinstance(_obj, type):
            register_layer_class(_obj, _name)  # under Keras's aliases too (Convolution2D...)


def _registry() -> dict[str, Any]:
    """Every layer class by name (Keras's class names and its aliases)."""
    return layer_classes()


def serialize(layer: Any) -> dict:
    """``{'class_name': type(layer).__name__, 'config': layer.get_config()}``."""
    return serialize_keras_object(layer)


def deserialize(config: dict, custom_objects: dict | None = None,
                safe_mode: bool | None = None) -> Any:
    """Create a layer (or model) from ``{'class_name', 'config'}``.

    Args:
        config: The serialised layer.
        custom_objects: Your own layer classes, initializers, functions... by name.
        safe_mode: ``False`` allows ``Lambda`` layers stored as bytecode to load (that runs
            code from the config: only for trusted files). ``None`` keeps the global setting
            (:func:`minikeras.layers.unsafe_deserialization`), which refuses by default.

    Returns:
        The new layer.

    Raises:
        ValueError: On an unknown class name (listing the known ones) or a malformed config.
    """
    if safe_mode is not None and isinstance(config, dict) and \
            config.get("class_name") == "Lambda":
        merged = {**get_custom_objects(), **(custom_objects or {})}
        return core.Lambda.from_config(config["config"], custom_objects=merged,
                                       safe_mode=safe_mode)
    if safe_mode is False:
        with core.unsafe_deserialization():
            return deserialize_layer(config, custom_objects=custom_objects)
    return deserialize_layer(config, custom_objects=custom_objects)


def get(identifier: Any) -> Any:
    """A layer from a layer, a config dict, or a class name (built with default arguments).

    Raises:
        ValueError: On anything else.
    """
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    if hasattr(identifier, "get_config") and hasattr(identifier, "call"):
        return identifier
    raise ValueError(f"Could not interpret layer identifier: {identifier!r}")
