"""Models and their files: ``Model``, ``Sequential``, JSON configs, whole-model files.

This is the floor above the engine and the layers (as ``keras/models.py`` was in Keras 2):
it reads and writes whole models, so it may need every layer class. The engine keeps only
the weight I/O a model needs (:mod:`minikeras.engine.saving`); ``Model.save`` and
``Model.to_json`` are shortcuts to what is here.

Whole-model file (``save_model(model, path)``, numpy ``.npz``, no pickle): the weight
entries of :mod:`minikeras.engine.saving` under a ``weights/`` prefix, plus ``__format__``
("minikeras-model-1"), ``model_config`` (JSON), ``training_config`` (JSON, if compiled) and
``optimizer_state/<i>`` arrays. Written atomically; read and checked in full before a model
is made.

Example:
    >>> from minikeras.models import Sequential, load_model, save_model
    >>> save_model(model, "digits.npz")
    >>> same = load_model("digits.npz")
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import numpy as np

from minikeras import losses, optimizers
from minikeras.engine.model import Model
from minikeras.engine.registry import deserialize_layer
from minikeras.engine.saving import (
    MODEL_FORMAT,
    atomic_savez,
    load_weights,
    npz_str,
    plan_weight_loading,
    read_npz,
    register_model_saver,
    save_weights,
    weight_arrays,
)
from minikeras.engine.sequential import Sequential
from minikeras.generic_utils import json_default

__all__ = ["Model", "Sequential", "load_model", "load_weights", "model_from_config",
           "model_from_json", "model_to_json", "save_model", "save_weights"]


def model_to_json(model: Any, **kwargs: Any) -> str:
    """``{'class_name', 'config', 'keras_version', 'backend'}`` as a JSON string.

    The same as ``model.to_json(**kwargs)``; ``kwargs`` go to ``json.dumps``.
    """
    return model.to_json(**kwargs)


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


def _training_config(model: Any) -> dict | None:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "get_config"):
        return None
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
    arrays = weight_arrays(model, prefix="weights/")
    arrays["__format__"] = np.array(MODEL_FORMAT)
    arrays["model_config"] = np.array(model_to_json(model))
    if include_optimizer:
        training_config = _training_config(model)
        if training_config is not None:
            try:
                arrays["training_config"] = np.array(json.dumps(training_config,
                                                                default=json_default))
            except TypeError as e:
                warnings.warn(f"save_model: the training configuration is not serializable "
                              f"({e}); the model is saved uncompiled.", stacklevel=2)
            else:
                optimizer = model.optimizer
                if hasattr(optimizer, "get_state"):
                    for i, a in enumerate(optimizer.get_state()):
                        arrays[f"optimizer_state/{i}"] = np.asarray(a)
    atomic_savez(filepath, arrays)


def load_model(filepath: str | os.PathLike, custom_objects: dict | None = None,
               compile: bool = True) -> Any:
    """Load a model saved by :func:`save_model` (compiled again if it was compiled).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is corrupt or not a minikeras model file.
    """
    source = f"load_model({os.fspath(filepath)!r})"
    data = read_npz(filepath)
    fmt = npz_str(data["__format__"]) if "__format__" in data else ""
    if fmt != MODEL_FORMAT or "model_config" not in data:
        raise ValueError(f"{source}: not a minikeras model file (format {fmt!r}); use "
                         "load_weights for weights files")
    try:
        config = json.loads(npz_str(data["model_config"]))
    except ValueError as e:
        raise ValueError(f"{source}: corrupt model config ({e})") from None
    model = model_from_config(config, custom_objects=custom_objects)
    for w, a in plan_weight_loading(model, data, "weights/", False, source):
        w.assign(a.astype(w.dtype, copy=False))
    if compile and "training_config" in data:
        training_config = json.loads(npz_str(data["training_config"]))
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


register_model_saver(save_model)
