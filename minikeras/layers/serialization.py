"""Layers to ``{'class_name', 'config'}`` and back.

The engine calls :func:`deserialize` for every layer of a model config (lazily, since the
engine sits on a lower floor). The registry holds every layer of :mod:`minikeras.layers` plus
``InputLayer``, ``Model`` and ``Sequential``; your own layers are found through
``custom_objects`` (or :func:`minikeras.utils.generic_utils.custom_object_scope`).
"""

from __future__ import annotations

from typing import Any

from minikeras.layers import convolutional, core, merge, normalization, pooling
from minikeras.utils.generic_utils import (
    deserialize_keras_object,
    get_custom_objects,
    serialize_keras_object,
)

__all__ = ["deserialize", "get", "serialize"]


def _registry() -> dict[str, Any]:
    """Every layer class by name (Keras's class names and its aliases)."""
    table: dict[str, Any] = {}
    for module in (convolutional, core, merge, normalization, pooling):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type):
                table[name] = obj
    from minikeras.engine import input_layer

    table["InputLayer"] = input_layer.InputLayer
    # Model and Sequential are written in parallel with this module; include them when present
    try:
        from minikeras.engine import model as _model

        table["Model"] = _model.Model
    except ImportError:
        pass
    try:
        from minikeras.engine import sequential as _sequential

        table["Sequential"] = _sequential.Sequential
    except ImportError:
        pass
    return table


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
            return deserialize_keras_object(config, module_objects=_registry(),
                                            custom_objects=custom_objects,
                                            printable_module_name="layer")
    return deserialize_keras_object(config, module_objects=_registry(),
                                    custom_objects=custom_objects,
                                    printable_module_name="layer")


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
