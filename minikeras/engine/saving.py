"""Saving and loading: architecture as JSON, weights and whole models as ``.npz``.

File layout (numpy ``.npz``, read with ``allow_pickle=False``; strings are
stored as numpy unicode arrays):

Weights file (``model.save_weights(path)``), Keras's layer-by-layer layout::

    __format__                      "minikeras-weights-1"
    __layer_names__                 names of the model's layers, in model order
    <layer>/__weight_names__        the keys of that layer's weights, in order
    <layer>/<weight name>           one array per weight, e.g. "dense/dense/kernel"

Model file (``save_model(model, path)``): the same weight entries under a
``weights/`` prefix, plus ``__format__`` ("minikeras-model-1"),
``model_config`` (JSON), ``training_config`` (JSON, if compiled) and
``optimizer_state/<i>`` arrays.

Every file is written atomically: to a temporary file in the same directory,
flushed and fsynced, then moved over the target with ``os.replace``. Loading
reads and checks everything before touching the model, so a corrupt or
mismatched file raises a ``ValueError`` and leaves the model unchanged.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from typing import Any

import numpy as np

from minikeras.engine import model_formats

WEIGHTS_FORMAT = "minikeras-weights-1"
MODEL_FORMAT = "minikeras-model-1"


# ---------------------------------------------------------------------------
# architecture


def _json_default(obj: Any) -> Any:
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


def model_to_json(model: Any, **kwargs: Any) -> str:
    """``{'class_name', 'config', 'keras_version', 'backend'}`` as a JSON string."""
    from minikeras import __version__

    config = {"class_name": type(model).__name__, "config": model.get_config(),
              "keras_version": f"minikeras-{__version__}", "backend": "minikeras"}
    return json.dumps(config, default=_json_default, **kwargs)


def _engine_classes() -> dict:
    from minikeras.engine.input_layer import InputLayer
    from minikeras.engine.model import Model
    from minikeras.engine.sequential import Sequential
    from minikeras.engine.topology import Container

    return {"InputLayer": InputLayer, "Model": Model, "Sequential": Sequential,
            "Container": Container, "Functional": Model}


def deserialize_layer(config: dict, custom_objects: dict | None = None) -> Any:
    """Make a layer (or model) from ``{'class_name', 'config'}``.

    Looks in ``custom_objects`` first, then the engine's classes (``InputLayer``,
    ``Model``, ``Sequential``), then ``minikeras.layers.deserialize``.

    Raises:
        ValueError: On a malformed config or an unknown class name.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Improperly formatted layer config (expected a dict with "
                         f"'class_name' and 'config'): {str(config)[:200]}")
    class_name = config["class_name"]
    inner = config.get("config", {})
    cls = (custom_objects or {}).get(class_name) or _engine_classes().get(class_name)
    if cls is not None:
        from minikeras.engine.topology import Container

        if isinstance(cls, type) and issubclass(cls, Container):
            return cls.from_config(inner, custom_objects=custom_objects)
        return cls.from_config(inner)
    try:
        from minikeras import layers as layers_module
    except ImportError:
        layers_module = None
    deserialize = getattr(layers_module, "deserialize", None)
    if deserialize is None:
        raise ValueError(f"Unknown layer: {class_name} (minikeras.layers.deserialize is not "
                         "available; pass the class in custom_objects)")
    return deserialize(config, custom_objects=custom_objects)


def model_from_config(config: dict, custom_objects: dict | None = None) -> Any:
    """Make a model from ``{'class_name', 'config'}`` (e.g. ``json.loads(model.to_json())``).

    Raises:
        TypeError: If given a list (an old Sequential config).
        ValueError: On a malformed config.
    """
    if isinstance(config, list):
        raise TypeError("`model_from_config` expects a dictionary, not a list. Maybe you "
                        "meant to use `Sequential.from_config(config)`?")
    return deserialize_layer(config, custom_objects=custom_objects)


def model_from_json(json_string: str, custom_objects: dict | None = None) -> Any:
    """Make a model from :meth:`Model.to_json` output.

    Raises:
        ValueError: If the string is not valid JSON or not a model config.
    """
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model_from_json: the string is not valid JSON ({e})") from None
    return model_from_config(config, custom_objects=custom_objects)


# ---------------------------------------------------------------------------
# files


def _atomic_savez(filepath: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    path = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read_npz(filepath: str | os.PathLike) -> dict[str, np.ndarray]:
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise ValueError(f"Cannot read {path!r}: not a valid minikeras .npz file "
                         f"(corrupt or wrong format: {e})") from None


def _str(arr: np.ndarray) -> str:
    return str(arr.item()) if arr.ndim == 0 else str(arr)


def _weight_arrays(model: Any, prefix: str = "") -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {
        prefix + "__layer_names__": np.array([layer.name for layer in model.layers], dtype=str),
    }
    for layer in model.layers:
        keys = []
        for j, w in enumerate(layer.weights):
            key = w.name or f"weight_{j}"
            if key in keys or key.startswith("__"):
                key = f"{key}#{j}"
            keys.append(key)
            arrays[f"{prefix}{layer.name}/{key}"] = w.data.copy()
        arrays[f"{prefix}{layer.name}/__weight_names__"] = np.array(keys, dtype=str)
    return arrays


def _is_h5(filepath: str | os.PathLike) -> bool:
    return os.path.splitext(os.fspath(filepath))[1].lower() in (".h5", ".hdf5")


def save_weights(model: Any, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Save the model's weights layer by layer to an ``.npz`` file, atomically.

    Raises:
        FileExistsError: If the file exists and ``overwrite`` is ``False``.
    """
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_weights: {os.fspath(filepath)!r} exists and "
                              "overwrite=False")
    if _is_h5(filepath):  # Keras 2's HDF5 layout, for files other Kerases read
        from minikeras.engine.weights_h5 import save_weights_h5

        return save_weights_h5(model, filepath)
    arrays = _weight_arrays(model)
    arrays["__format__"] = np.array(WEIGHTS_FORMAT)
    _atomic_savez(filepath, arrays)


def _plan_weight_loading(model: Any, data: dict, prefix: str, by_name: bool,
                         source: str) -> list:
    """Match saved arrays to the model's weights; raise before any assignment."""
    names_key = prefix + "__layer_names__"
    if names_key not in data:
        raise ValueError(f"{source}: no weights found (missing {names_key!r}); is this a "
                         "minikeras weights or model file?")
    saved: list[tuple[str, list[np.ndarray]]] = []
    try:
        for name in data[names_key].tolist():
            keys = data[f"{prefix}{name}/__weight_names__"].tolist()
            saved.append((name, [data[f"{prefix}{name}/{k}"] for k in keys]))
    except KeyError as e:
        raise ValueError(f"{source}: the file is incomplete (missing entry {e})") from None
    pairs = []
    if by_name:
        index = {layer.name: layer for layer in model.layers}
        for name, arrays in saved:
            layer = index.get(name)
            if layer is None:
                continue
            pairs.append((layer, name, arrays))
    else:
        layers = [layer for layer in model.layers if layer.weights]
        saved = [(name, arrays) for name, arrays in saved if arrays]
        if len(layers) != len(saved):
            raise ValueError(
                f"{source}: you are trying to load a weight file containing {len(saved)} "
                f"layers with weights into a model with {len(layers)} layers with weights"
            )
        pairs = [(layer, name, arrays) for layer, (name, arrays) in zip(layers, saved)]
    plan = []
    for k, (layer, name, arrays) in enumerate(pairs):
        weights = layer.weights
        if len(weights) != len(arrays):
            raise ValueError(
                f"{source}: layer #{k} (named {layer.name!r} in the current model) was matched "
                f"to layer {name!r} in the file, but it expects {len(weights)} weight(s) and "
                f"the file has {len(arrays)}"
            )
        for w, a in zip(weights, arrays):
            if tuple(w.shape) != tuple(a.shape):
                raise ValueError(
                    f"{source}: weight {w.name!r} of layer {layer.name!r} has shape {w.shape}, "
                    f"but the saved weight (layer {name!r}) has shape {a.shape}"
                )
            if a.dtype.kind not in "fiub":
                raise ValueError(f"{source}: saved weight of layer {name!r} has non-numeric "
                                 f"dtype {a.dtype}")
            plan.append((w, a))
    return plan


def load_weights(model: Any, filepath: str | os.PathLike, by_name: bool = False) -> None:
    """Load weights saved by :func:`save_weights` (or from a :func:`save_model` file).

    With ``by_name=False`` layers with weights are matched in order (Keras's
    topological loading); with ``by_name=True`` by layer name, skipping
    layers absent from the file.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is corrupt or does not match the model (nothing is changed).
    """
    if _is_h5(filepath):
        from minikeras.engine.weights_h5 import load_weights_h5

        return load_weights_h5(model, filepath, by_name=by_name)
    source = f"load_weights({os.fspath(filepath)!r})"
    data = _read_npz(filepath)
    fmt = _str(data["__format__"]) if "__format__" in data else ""
    prefix = "weights/" if fmt == MODEL_FORMAT else ""
    plan = _plan_weight_loading(model, data, prefix, by_name, source)
    for w, a in plan:
        w.assign(a.astype(w.dtype, copy=False))


def _training_config(model: Any) -> dict | None:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "get_config"):
        return None
    from minikeras import losses, optimizers

    def name_of(obj: Any) -> Any:
        if obj is None or isinstance(obj, (str, int, float, bool)):
            return obj
        if isinstance(obj, losses.Loss):
            # keep the loss's options (e.g. from_logits=True), not only its name
            return losses.serialize(obj)
        if isinstance(obj, dict):
            return {k: name_of(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [name_of(v) for v in obj]
        return getattr(obj, "__name__", None) or getattr(obj, "name", None) or type(obj).__name__

    config = {
        "optimizer_config": optimizers.serialize(optimizer),
        "loss": name_of(getattr(model, "loss", None)),
        "metrics": name_of(getattr(model, "_compile_metrics", None)
                           or getattr(model, "metrics_names_compiled", None)
                           or _metrics_arg(model)),
        "loss_weights": name_of(getattr(model, "loss_weights", None)),
        "sample_weight_mode": name_of(getattr(model, "sample_weight_mode", None)),
    }
    return config


def _metrics_arg(model: Any) -> Any:
    metrics = getattr(model, "metrics", None)
    if isinstance(metrics, (list, dict)):
        return metrics
    return None


def save_model(model: Any, filepath: str | os.PathLike, overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    """Save architecture, weights and (if compiled) training config and optimizer state.

    Raises:
        FileExistsError: If the file exists and ``overwrite`` is ``False``.
    """
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_model: {os.fspath(filepath)!r} exists and overwrite=False")
    fmt = model_formats.lookup(filepath)  # .h5 / .keras, registered by minikeras.models
    if fmt is not None:
        return fmt[0](model, filepath, overwrite=overwrite, include_optimizer=include_optimizer)
    arrays = _weight_arrays(model, prefix="weights/")
    arrays["__format__"] = np.array(MODEL_FORMAT)
    arrays["model_config"] = np.array(model_to_json(model))
    if include_optimizer:
        training_config = _training_config(model)
        if training_config is not None:
            try:
                arrays["training_config"] = np.array(json.dumps(training_config,
                                                                default=_json_default))
            except TypeError as e:
                warnings.warn(f"save_model: the training configuration is not serializable "
                              f"({e}); the model is saved uncompiled.", stacklevel=2)
            else:
                optimizer = model.optimizer
                if hasattr(optimizer, "get_state"):
                    for i, a in enumerate(optimizer.get_state()):
                        arrays[f"optimizer_state/{i}"] = np.asarray(a)
    _atomic_savez(filepath, arrays)


def load_model(filepath: str | os.PathLike, custom_objects: dict | None = None,
               compile: bool = True) -> Any:
    """Load a model saved by :func:`save_model` (compiled again if it was compiled).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is corrupt or not a minikeras model file.
    """
    fmt = model_formats.lookup(filepath)  # .h5 / .keras, registered by minikeras.models
    if fmt is not None:
        return fmt[1](filepath, custom_objects=custom_objects, compile=compile)
    source = f"load_model({os.fspath(filepath)!r})"
    data = _read_npz(filepath)
    fmt = _str(data["__format__"]) if "__format__" in data else ""
    if fmt != MODEL_FORMAT or "model_config" not in data:
        raise ValueError(f"{source}: not a minikeras model file (format {fmt!r}); use "
                         "load_weights for weights files")
    try:
        config = json.loads(_str(data["model_config"]))
    except ValueError as e:
        raise ValueError(f"{source}: corrupt model config ({e})") from None
    model = model_from_config(config, custom_objects=custom_objects)
    for w, a in _plan_weight_loading(model, data, "weights/", False, source):
        w.assign(a.astype(w.dtype, copy=False))
    if compile and "training_config" in data:
        training_config = json.loads(_str(data["training_config"]))
        from minikeras import optimizers

        optimizer = optimizers.deserialize(training_config["optimizer_config"],
                                           custom_objects=custom_objects)

        def resolve(obj: Any) -> Any:
            if isinstance(obj, str) and custom_objects and obj in custom_objects:
                return custom_objects[obj]
            if isinstance(obj, list):
                return [resolve(v) for v in obj]
            if isinstance(obj, dict):
                return {k: resolve(v) for k, v in obj.items()}
            return obj

        kwargs = {k: resolve(training_config.get(k))
                  for k in ("loss", "metrics", "loss_weights", "sample_weight_mode")
                  if training_config.get(k) is not None}
        model.compile(optimizer=optimizer, **kwargs)
        state_keys = sorted((k for k in data if k.startswith("optimizer_state/")),
                            key=lambda k: int(k.split("/")[1]))
        if state_keys and hasattr(optimizer, "set_state"):
            try:
                optimizer.set_state([data[k] for k in state_keys])
            except ValueError as e:
                warnings.warn(f"{source}: the optimizer state could not be restored ({e}); "
                              "the optimizer starts fresh.", stacklevel=2)
    return model
