"""Whole models in Keras 2's HDF5 format (``model.save("m.h5")``), read and written with h5py.

The file Keras 2's ``keras.models.save_model`` wrote, which Keras 3 still
reads with ``keras.models.load_model`` (its legacy H5 reader)::

    attrs["keras_version"], ["backend"]
    attrs["model_config"]       JSON: {"class_name": "Model"|"Sequential", "config": ...}
    attrs["training_config"]    JSON (if compiled): optimizer_config, loss, metrics, ...
    model_weights/              the weights, as in :mod:`minikeras.engine.weights_h5`
    optimizer_weights/          attrs["weight_names"] and one dataset per state array

A file written by Keras 3's legacy saver carries Keras 3 layer configs; those
are translated by :func:`minikeras.formats.keras3_config.from_keras3`.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import numpy as np

from minikeras import optimizers
from minikeras.engine.weights_h5 import (
    atomic_write,
    import_h5py,
    load_attribute_list,
    open_h5,
    plan_group_loading,
    save_attribute_list,
    save_weights_to_group,
)
from minikeras.formats.keras3_config import ConfigError, from_keras3
from minikeras.generic_utils import json_default
from minikeras.models import model_from_config, model_to_json, training_config


def _explicit_input_layers(entry: dict) -> None:
    """Start every Sequential config with an ``InputLayer`` entry, in place.

    Keras 2.0-2.3 put ``batch_input_shape`` on a Sequential's first layer; tf.keras
    2.4+ writes an explicit ``InputLayer`` first instead. Both are Keras 2 files,
    but Keras 3's legacy reader mistakes the former's ``batch_input_shape`` for
    an input shape without the batch axis, so the latter is written.
    """
    config = entry.get("config")
    if not isinstance(config, dict):
        return
    for item in config.get("layers", []):
        _explicit_input_layers(item)
    layers = config.get("layers")
    if entry.get("class_name") != "Sequential" or not layers:
        return
    first = layers[0]["config"]
    if layers[0]["class_name"] != "InputLayer" and "batch_input_shape" in first:
        layers.insert(0, {"class_name": "InputLayer", "config": {
            "batch_input_shape": first.pop("batch_input_shape"),
            "dtype": first.pop("dtype", None) or "float32", "sparse": False,
            "name": f"{config.get('name') or 'sequential'}_input"}})


def save_model_h5(model: Any, filepath: str | os.PathLike, overwrite: bool = True,
                  include_optimizer: bool = True) -> None:
    """Write ``model`` as a Keras 2 HDF5 model file, atomically.

    Args:
        model: The model.
        filepath: Target path (``.h5``).
        overwrite: Replace an existing file.
        include_optimizer: Also write the training config and optimizer state.

    Raises:
        FileExistsError: If the file exists and ``overwrite`` is ``False``.
    """
    path = os.fspath(filepath)
    h5py = import_h5py(f"save_model({path!r})")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save_model: {path!r} exists and overwrite=False")
    config = json.loads(model_to_json(model))
    _explicit_input_layers(config)
    training = training_config(model) if include_optimizer else None
    if training is not None:
        # the rate once, as `learning_rate` (tf.keras 2 and Keras 3 read it; Keras 3 refuses the
        # Keras 2.0 alias `lr` that minikeras's configs also carry)
        opt = training["optimizer_config"]
        opt["config"] = {k: v for k, v in opt["config"].items() if k != "lr"}
    state = []
    if training is not None and hasattr(model.optimizer, "get_state"):
        state = model.optimizer.get_state()

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w") as f:
            f.attrs["keras_version"] = config.pop("keras_version").encode()
            f.attrs["backend"] = config.pop("backend").encode()
            f.attrs["model_config"] = json.dumps(config, default=json_default).encode()
            if training is not None:
                f.attrs["training_config"] = json.dumps(
                    training, default=json_default).encode()
            save_weights_to_group(f.create_group("model_weights"), model)
            if state:
                group = f.create_group("optimizer_weights")
                opt = type(model.optimizer).__name__
                names = [f"{opt}/state_{i}:0" for i in range(len(state))]
                save_attribute_list(group, "weight_names", names)
                for name, value in zip(names, state):
                    group.create_dataset(name, data=np.asarray(value))

    atomic_write(path, write)


def _attr_json(f: Any, key: str, source: str) -> Any:
    value = f.attrs.get(key)
    if value is None:
        return None
    if hasattr(value, "decode"):
        value = value.decode("utf8")
    try:
        return json.loads(value)
    except ValueError as e:
        raise ValueError(f"{source}: the {key!r} attribute is not valid JSON ({e})") from None


def _attr_str(f: Any, key: str) -> str:
    value = f.attrs.get(key, "")
    return value.decode("utf8") if hasattr(value, "decode") else str(value)


def _compile(model: Any, training: dict, state: list, custom_objects: dict | None,
             source: str) -> None:
    opt_config = dict(training["optimizer_config"])
    if not str(training.get("keras_version", "")).startswith("minikeras"):
        # Keras 3 optimizer configs carry keys minikeras lacks (use_ema, ...): keep Keras 2's
        known = {"learning_rate", "lr", "decay", "clipnorm", "clipvalue", "momentum",
                 "nesterov", "rho", "epsilon", "beta_1", "beta_2", "amsgrad"}
        opt_config["config"] = {k: v for k, v in opt_config.get("config", {}).items()
                                if k in known and v is not None}
    try:
        optimizer = optimizers.deserialize(opt_config, custom_objects=custom_objects)
    except (ValueError, TypeError) as e:
        warnings.warn(f"{source}: optimizer not restored ({e}); the model is not compiled",
                      stacklevel=3)
        return
    kwargs = {k: training[k] for k in ("loss", "metrics", "loss_weights", "sample_weight_mode")
              if training.get(k) is not None}
    model.compile(optimizer=optimizer, **kwargs)
    if state and hasattr(optimizer, "set_state"):
        try:
            optimizer.set_state(state)
        except ValueError as e:
            warnings.warn(f"{source}: the optimizer state was not restored ({e}); the "
                          "optimizer starts fresh", stacklevel=3)


def load_model_h5(filepath: str | os.PathLike, custom_objects: dict | None = None,
                  compile: bool = True) -> Any:
    """Read a Keras 2 HDF5 model file (written by minikeras, Keras 2, or Keras 3's legacy saver).

    Args:
        filepath: The ``.h5`` file.
        custom_objects: Extra classes by name, for layers minikeras does not ship.
        compile: Compile the model if the file has a training config.

    Returns:
        The model, with its weights.

    Raises:
        FileNotFoundError: If there is no such file.
        ValueError: If the file is truncated, not a model file, or holds a layer minikeras
            does not have (the message names the file and the layer).
    """
    source = f"load_model({os.fspath(filepath)!r})"
    with open_h5(filepath, source) as f:
        try:
            config = _attr_json(f, "model_config", source)
            if config is None:
                raise ValueError(f"{source}: no 'model_config' attribute; this is a weights "
                                 "file or not a Keras model file (use load_weights)")
            version = _attr_str(f, "keras_version")
            if version.startswith("3"):
                config = from_keras3(config)
            elif not version.startswith("minikeras"):
                # Keras 2 / tf.keras 2: Keras 2 semantics, some Keras 3 spellings
                config = from_keras3(config, keras2=True)
            try:
                model = model_from_config(config, custom_objects=custom_objects)
            except ConfigError:
                raise
            except (ValueError, TypeError, KeyError) as e:
                raise ValueError(f"{source}: cannot build the model from its config: {e}") \
                    from None
            if "model_weights" not in f:
                raise ValueError(f"{source}: no 'model_weights' group (truncated or corrupt)")
            plan = plan_group_loading(model, f["model_weights"], False, source)
            training = _attr_json(f, "training_config", source) if compile else None
            state = []
            if training is not None and version.startswith("minikeras") \
                    and "optimizer_weights" in f:
                group = f["optimizer_weights"]
                state = [np.asarray(group[n]) for n in load_attribute_list(group, "weight_names")]
        except ConfigError as e:
            raise ValueError(f"{source}: {e}") from None
        except (OSError, KeyError) as e:  # h5py's errors on a damaged object
            raise ValueError(f"{source}: the file is truncated or corrupt ({e})") from None
    for w, a in plan:
        w.assign(a.astype(w.dtype, copy=False))
    if training is not None:
        training["keras_version"] = version
        _compile(model, training, state, custom_objects, source)
    return model
