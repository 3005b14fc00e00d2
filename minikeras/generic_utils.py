"""Small helpers every floor may use; this module imports nothing else from minikeras.

Mostly turning objects into ``{'class_name', 'config'}`` dicts and back, as Keras 2 does.

Every configurable object (initializers, regularizers, constraints, layers, models) is
serialised the same way: ``{'class_name': type(obj).__name__, 'config': obj.get_config()}``.
Plain functions (activations) are serialised by name. Deserialisation looks the name up in,
in order: the ``custom_objects`` you pass, the global custom objects
(:func:`custom_object_scope`, :func:`get_custom_objects`), then the module's own table.
Nothing is ever evaluated: an unknown name is an error listing the names that are known.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "CustomObjectScope",
    "as_list",
    "count_params",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "json_default",
    "resolve_identifier",
    "serialize_keras_object",
]

_GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}


class CustomObjectScope:
    """A ``with`` block inside which extra names are known to every deserialiser.

    Example:
        >>> with CustomObjectScope({"MyInit": MyInit}):
        ...     layer = Dense.from_config(config)

    Args:
        *args: Dicts mapping names to classes or functions.
    """

    def __init__(self, *args: Mapping[str, Any]) -> None:
        self.custom_objects = args
        self.backup: dict[str, Any] | None = None

    def __enter__(self) -> CustomObjectScope:
        self.backup = dict(_GLOBAL_CUSTOM_OBJECTS)
        for objects in self.custom_objects:
            _GLOBAL_CUSTOM_OBJECTS.update(objects)
        return self

    def __exit__(self, *exc: Any) -> None:
        _GLOBAL_CUSTOM_OBJECTS.clear()
        _GLOBAL_CUSTOM_OBJECTS.update(self.backup or {})


def custom_object_scope(*args: Mapping[str, Any]) -> CustomObjectScope:
    """Return a :class:`CustomObjectScope` for ``args`` (use it in a ``with`` statement)."""
    return CustomObjectScope(*args)


def get_custom_objects() -> dict[str, Any]:
    """The global dict of custom objects (edit it to register names for good)."""
    return _GLOBAL_CUSTOM_OBJECTS


def serialize_keras_object(instance: Any) -> Any:
    """Serialise an object to ``{'class_name', 'config'}``, or a function to its name.

    Args:
        instance: ``None``, an object with ``get_config()``, or a named function.

    Returns:
        ``None``, a dict, or a string.

    Raises:
        ValueError: If the object has neither ``get_config`` nor a name.
    """
    if instance is None:
        return None
    if hasattr(instance, "get_config"):
        return {"class_name": type(instance).__name__, "config": instance.get_config()}
    if hasattr(instance, "__name__"):
        return instance.__name__
    raise ValueError(
        f"Cannot serialize {instance!r}: it has no get_config() method and no __name__"
    )


def _lookup(
    name: str, module_objects: Mapping[str, Any] | None, custom_objects: Mapping[str, Any] | None
) -> Any:
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    return (module_objects or {}).get(name)


def _unknown(kind: str, name: Any, module_objects: Mapping[str, Any] | None) -> ValueError:
    known = sorted(k for k in (module_objects or {}) if not k.startswith("_"))
    return ValueError(
        f"Unknown {kind}: {name!r}. Known names: {', '.join(known)}. "
        f"(For your own classes or functions pass custom_objects={{{name!r}: ...}}.)"
    )


def deserialize_keras_object(
    identifier: Any,
    module_objects: Mapping[str, Any] | None = None,
    custom_objects: Mapping[str, Any] | None = None,
    printable_module_name: str = "object",
) -> Any:
    """Build an object from ``{'class_name', 'config'}``, or look a function up by name.

    A class with ``from_config`` is built with it (passing ``custom_objects`` when its
    ``from_config`` accepts that argument, else inside a :class:`CustomObjectScope`); other
    classes and functions named in a dict are called with the config as keyword arguments.

    Args:
        identifier: A config dict or a name.
        module_objects: The module's own name table.
        custom_objects: Extra names, searched first.
        printable_module_name: What the object is, for error messages (``"initializer"``...).

    Returns:
        The object (or function).

    Raises:
        ValueError: On an unknown name or a malformed identifier.
    """
    if isinstance(identifier, dict):
        if "class_name" not in identifier or "config" not in identifier:
            raise ValueError(
                f"Improper config format for a {printable_module_name}: expected a dict with "
                f"keys 'class_name' and 'config', got {identifier!r}"
            )
        class_name = identifier["class_name"]
        config = identifier["config"] or {}
        cls = _lookup(class_name, module_objects, custom_objects)
        if cls is None:
            raise _unknown(printable_module_name, class_name, module_objects)
        if hasattr(cls, "from_config"):
            from_config = cls.from_config
            try:
                params = inspect.signature(from_config).parameters
            except (TypeError, ValueError):  # builtins without a signature
                params = {}
            if "custom_objects" in params:
                merged = {**_GLOBAL_CUSTOM_OBJECTS, **(custom_objects or {})}
                return from_config(config, custom_objects=merged)
            with CustomObjectScope(custom_objects or {}):
                return from_config(config)
        with CustomObjectScope(custom_objects or {}):
            return cls(**config)
    if isinstance(identifier, str):
        obj = _lookup(identifier, module_objects, custom_objects)
        if obj is None:
            raise _unknown(printable_module_name, identifier, module_objects)
        return obj
    raise ValueError(
        f"Could not interpret serialized {printable_module_name}: {identifier!r} "
        f"(expected a name or a {{'class_name', 'config'}} dict)"
    )


def resolve_identifier(identifier: Any, deserialize: Callable[[Any], Any], kind: str,
                       example: str) -> Any:
    """The shared body of ``initializers.get``, ``regularizers.get`` and ``constraints.get``.

    Args:
        identifier: ``None``, a name, a ``{'class_name', 'config'}`` dict or a callable.
        deserialize: The module's ``deserialize``.
        kind: What is being resolved, for the error message (``"initializer"``).
        example: A valid name to show in the error message.

    Returns:
        ``None``, the deserialised object, or the callable itself.

    Raises:
        ValueError: On an unknown name or an identifier of another type.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret {kind} identifier: {identifier!r} "
        f"(expected a name such as {example!r}, a config dict or a callable)"
    )


def func_name(fn: Callable) -> str:
    """A readable name of a callable, for error messages."""
    return getattr(fn, "__name__", type(fn).__name__)


def as_list(x: Any) -> list:
    """``x`` as a list: a list or tuple element by element, ``None`` as ``[]``, else ``[x]``.

    Keras passes one tensor, shape or mask where it could pass several; this is how the
    engine, the training loop and the drawings read such an argument.
    """
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def count_params(weights: Iterable[Any]) -> int:
    """Number of scalars in ``weights``, each distinct weight counted once (shared ones too)."""
    seen: set[int] = set()
    total = 0
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            total += int(np.prod(w.shape))
    return total


def json_default(obj: Any) -> Any:
    """``json.dumps``'s ``default=``: numpy scalars, arrays and dtypes, configurable objects, sets.

    Raises:
        TypeError: For anything else, as ``json.dumps`` does.
    """
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.dtype):
        return obj.name
    if hasattr(obj, "get_config"):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"Not JSON serializable: {obj!r}")
