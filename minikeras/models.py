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
from collections.abc import Callable
from typing import Any

import numpy as np

from minikeras import losses, optimizers
from minikeras.engine.input_layer import Input, InputLayer
from minikeras.engine.keras_tensor import is_keras_tensor
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
from minikeras.generic_utils import json_default, optional_module
from minikeras.layers.core import unsafe_deserialization

__all__ = ["Model", "Sequential", "clone_model", "load_model", "load_weights",
           "model_from_config", "model_from_json", "model_from_yaml", "model_to_json",
           "register_format", "save_model", "save_weights"]


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


def training_config(model: Any) -> dict | None:
    """What ``compile`` was given, as JSON-ready data (``None`` if the model is not compiled).

    ``{'optimizer_config', 'loss', 'metrics', 'loss_weights', 'sample_weight_mode'}``:
    Keras 2's ``training_config``, which the ``.npz`` and ``.h5`` files store.

    Args:
        model: The model.
    """
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


# Other model file formats by extension (".h5", ".keras"): minikeras.formats, a floor above,
# registers them when the package is imported.
_FORMATS: dict[str, tuple[Callable[..., None], Callable[..., Any]]] = {}


def register_format(extension: str, save: Callable[..., None], load: Callable[..., Any]) -> None:
    """Make :func:`save_model` and :func:`load_model` use ``save``/``load`` for ``extension``.

    Args:
        extension: Lower-case, with the dot (``".keras"``).
        save: ``save(model, filepath, overwrite=..., include_optimizer=...)``.
        load: ``load(filepath, custom_objects=..., compile=...)``, returning the model.
    """
    _FORMATS[extension] = (save, load)


def _format_for(filepath: str | os.PathLike) -> tuple | None:
    return _FORMATS.get(os.path.splitext(os.fspath(filepath))[1].lower())


def save_model(model: Any, filepath: str | os.PathLike, overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    """Save architecture, weights and (if compiled) training config and optimizer state.

    The extension picks the format: ``.npz`` (minikeras's own), ``.h5`` (Keras 2
    HDF5) or ``.keras`` (Keras 3), the last two from :mod:`minikeras.formats`.

    Raises:
        FileExistsError: If the file exists and ``overwrite`` is ``False``.
    """
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_model: {os.fspath(filepath)!r} exists and overwrite=False")
    fmt = _format_for(filepath)
    if fmt is not None:
        return fmt[0](model, filepath, overwrite=overwrite, include_optimizer=include_optimizer)
    arrays = weight_arrays(model, prefix="weights/")
    arrays["__format__"] = np.array(MODEL_FORMAT)
    arrays["model_config"] = np.array(model_to_json(model))
    if include_optimizer:
        compiled = training_config(model)
        if compiled is not None:
            try:
                arrays["training_config"] = np.array(json.dumps(compiled, default=json_default))
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
               compile: bool = True, safe_mode: bool = True) -> Any:
    """Load a model saved by :func:`save_model` (compiled again if it was compiled).

    ``.h5`` and ``.keras`` files (also those Keras wrote) are read by :mod:`minikeras.formats`.

    Args:
        filepath: The file :func:`save_model` wrote.
        custom_objects: Your own layer classes, functions... by name.
        compile: Compile the model again as it was saved.
        safe_mode: ``False`` lets ``Lambda`` layers stored as Python bytecode (anonymous
            functions) load, which runs code from the file: only for files you trust.
            ``True`` keeps the setting of :func:`minikeras.layers.unsafe_deserialization`,
            which refuses them by default.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is corrupt or not a minikeras model file, or holds
            Lambda bytecode and ``safe_mode`` is not ``False``.
    """
    fmt = _format_for(filepath)
    if fmt is not None:
        if safe_mode:
            return fmt[1](filepath, custom_objects=custom_objects, compile=compile)
        with unsafe_deserialization():
            return fmt[1](filepath, custom_objects=custom_objects, compile=compile)
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
    if safe_mode:
        model = model_from_config(config, custom_objects=custom_objects)
    else:
        with unsafe_deserialization():
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


def model_from_yaml(yaml_string: str, custom_objects: dict | None = None) -> Any:
    """Make a model from :meth:`Model.to_yaml` output (needs PyYAML).

    Read with ``yaml.safe_load``: a document with Python tags (as Keras 2's
    ``yaml.dump`` wrote for tuples) is refused rather than run.

    Raises:
        ImportError: If PyYAML is not installed.
        ValueError: If the string is not valid YAML or not a model config.
    """
    yaml = optional_module("yaml", "model_from_yaml", "pyyaml")
    try:
        config = yaml.safe_load(yaml_string)
    except yaml.YAMLError as e:
        raise ValueError(f"model_from_yaml: the string is not valid YAML ({e})") from None
    return model_from_config(config, custom_objects=custom_objects)


def _clone_layer(layer: Any) -> Any:
    # a fresh layer (new weights) from the same configuration, as Keras 2. A Lambda's
    # bytecode in that configuration was just made from a live function of this process,
    # so rebuilding it runs nothing foreign: the file-loading opt-in does not apply
    with unsafe_deserialization():
        return layer.__class__.from_config(layer.get_config())


def _clone_functional_model(model: Model, input_tensors: Any = None) -> Model:
    if not isinstance(model, Model):
        raise ValueError(f"clone_model: expected `model` to be a Model instance, got {model!r}")
    if isinstance(model, Sequential):
        raise ValueError("clone_model: expected `model` to be a functional Model instance, "
                         f"got a Sequential instance instead: {model!r}")
    if input_tensors is None:
        input_tensors = [Input(batch_shape=layer.batch_input_shape, dtype=layer.dtype,
                               name=layer.name) for layer in model.input_layers]
    else:
        input_tensors = list(input_tensors) if isinstance(input_tensors, list | tuple) \
            else [input_tensors]
        if len(input_tensors) != len(model.inputs):
            raise ValueError(f"clone_model: model {model.name} has {len(model.inputs)} "
                             f"input(s), got {len(input_tensors)} input tensor(s)")
        for x in input_tensors:
            if not is_keras_tensor(x):
                # Keras 2 wrapped a backend tensor in an Input; minikeras has no graph
                # tensors holding data, so inputs must be symbolic
                raise ValueError(f"clone_model: input_tensors must be KerasTensors (from "
                                 f"Input or a layer), got {type(x).__name__}")
    tensor_map = {id(x): y for x, y in zip(model.inputs, input_tensors)}
    layer_map: dict[int, Any] = {}
    for depth in sorted(model.nodes_by_depth, reverse=True):
        for node in model.nodes_by_depth[depth]:
            layer = node.outbound_layer
            if isinstance(layer, InputLayer):
                continue  # its tensor is the model input mapped above
            new_layer = layer_map.get(id(layer))
            if new_layer is None:
                new_layer = layer_map[id(layer)] = _clone_layer(layer)
            if not all(id(x) in tensor_map for x in node.input_tensors):
                continue
            computed = [tensor_map[id(x)] for x in node.input_tensors]
            outputs = new_layer(computed[0] if len(computed) == 1 else computed,
                                **dict(node.arguments or {}))
            outputs = outputs if isinstance(outputs, list) else [outputs]
            for x, y in zip(node.output_tensors, outputs):
                tensor_map[id(x)] = y
    missing = [x for x in model.outputs if id(x) not in tensor_map]
    if missing:
        raise ValueError(f"clone_model: could not compute output {missing[0]!r} of model "
                         f"{model.name}")
    return Model(input_tensors, [tensor_map[id(x)] for x in model.outputs], name=model.name)


def _clone_sequential_model(model: Sequential, input_tensors: Any = None) -> Sequential:
    if not isinstance(model, Sequential):
        raise ValueError("clone_model: expected `model` to be a Sequential instance, got "
                         f"{model!r}")
    layers = [_clone_layer(layer) for layer in model.layers]
    if input_tensors is None:
        return Sequential(layers=layers, name=model.name)
    tensors = list(input_tensors) if isinstance(input_tensors, list | tuple) \
        else [input_tensors]
    if len(tensors) != 1:
        raise ValueError("clone_model: to clone a Sequential model, pass a single tensor as "
                         f"input, got {len(tensors)}")
    x = tensors[0]
    if not is_keras_tensor(x):
        raise ValueError(f"clone_model: input_tensors must be a KerasTensor (from Input), got "
                         f"{type(x).__name__}")
    origin = x._keras_history[0]
    if not isinstance(origin, InputLayer):
        raise ValueError("clone_model: cannot clone a Sequential model on top of a tensor that "
                         f"comes from a layer other than an InputLayer ({origin.name!r}); use "
                         "the functional API instead")
    return Sequential(layers=[origin, *layers], name=model.name)


def clone_model(model: Model, input_tensors: Any = None) -> Model:
    """A copy of ``model`` with new layers (and new weights) built from their configs.

    As Keras 2: the copy computes the same function as ``model`` would with
    freshly initialised weights; it shares nothing with it (copy the weights
    with ``clone.set_weights(model.get_weights())``). A ``Sequential`` model
    gives a ``Sequential``; any other model a functional ``Model`` with the same
    name.

    Args:
        model: The model to clone.
        input_tensors: Optional KerasTensor(s) to build the clone on (for a
            ``Sequential``, one tensor from an ``Input``); new ``Input``
            placeholders like the model's by default.

    Returns:
        The clone.

    Raises:
        ValueError: If ``model`` is not a model, or the input tensors do not fit.
    """
    if isinstance(model, Sequential):
        return _clone_sequential_model(model, input_tensors=input_tensors)
    return _clone_functional_model(model, input_tensors=input_tensors)


register_model_saver(save_model)
