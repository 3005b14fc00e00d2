"""The one registry of layer classes, and the function that makes a layer from its config.

A model's config names each layer by class (``{'class_name': 'Dense', 'config': {...}}``), so
rebuilding a model (``Container.from_config``, ``Sequential.from_config``, ``load_model``)
needs the class for each name. The classes register themselves from the floor they live on:
the engine's own (``InputLayer``, ``Model``, ``Sequential``) in their modules, every layer of
:mod:`minikeras.layers` in :mod:`minikeras.layers.serialization`. The engine never imports the
layers package: it only reads this table, which ``import minikeras`` has filled.

Your own layers are not registered: pass them in ``custom_objects`` (or inside
:func:`minikeras.generic_utils.custom_object_scope`), as in Keras 2.
"""

from __future__ import annotations

from typing import Any

from minikeras.generic_utils import deserialize_keras_object

__all__ = ["deserialize_layer", "layer_classes", "register_layer_class"]

_LAYER_CLASSES: dict[str, type] = {}


def register_layer_class(cls: type, name: str | None = None) -> type:
    """Make ``cls`` known to :func:`deserialize_layer` under ``name`` (its class name).

    Returns:
        ``cls``, so the function can be used as a class decorator.
    """
    _LAYER_CLASSES[name or cls.__name__] = cls
    return cls


def layer_classes() -> dict[str, type]:
    """A copy of the registry: every built-in layer class by name (and Keras's aliases)."""
    return dict(_LAYER_CLASSES)


def deserialize_layer(config: Any, custom_objects: dict | None = None) -> Any:
    """Make a layer (or a model) from ``{'class_name', 'config'}``.

    Looks the class up in ``custom_objects``, then the global custom objects, then the
    registry; a model class gets ``custom_objects`` too, for its own layers.

    Raises:
        ValueError: On a malformed config or an unknown class name (listing the known ones).
    """
    return deserialize_keras_object(config, module_objects=_LAYER_CLASSES,
                                    custom_objects=custom_objects,
                                    printable_module_name="layer")
