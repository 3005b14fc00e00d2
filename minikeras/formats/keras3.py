"""Keras 3's native ``.keras`` archive, written and read without Keras.

A ``.keras`` file is a zip archive of three members:

* ``config.json``: the model's Keras 3 serialisation (see
  :mod:`minikeras.formats.keras3_config` for every key that differs from Keras 2);
* ``metadata.json``: ``keras_version`` and ``date_saved``;
* ``model.weights.h5``: the weights, in Keras 3's layout (layers addressed by
  class and position, see :mod:`minikeras.engine.weights_keras3`), plus the
  optimizer's variables under ``optimizer/vars`` when they map.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import warnings
import zipfile
from typing import Any

import numpy as np

from minikeras import optimizers
from minikeras.engine.weights_h5 import atomic_write, import_h5py
from minikeras.engine.weights_keras3 import plan_variables, write_variables
from minikeras.formats.keras3_config import ConfigError, from_keras3, to_keras3
from minikeras.generic_utils import json_default
from minikeras.models import model_from_config, model_to_json, training_config
from minikeras.version import __version__

_OPTIMIZER_KEYS = {"learning_rate", "momentum", "nesterov", "rho", "epsilon", "beta_1",
                   "beta_2", "amsgrad", "clipnorm", "clipvalue"}


def _compile_config(model: Any) -> dict | None:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    config = optimizer.get_config()
    loss = getattr(model, "loss", None)
    why = None
    if config.get("decay"):
        why = f"optimizer decay={config['decay']} (Keras 3 has no such argument)"
    elif not isinstance(loss, str):
        why = f"loss {loss!r} is not a built-in name"
    if why:
        warnings.warn(f"save_model(.keras): the model is saved uncompiled: {why}", stacklevel=4)
        return None
    metrics = (training_config(model) or {}).get("metrics")
    return {
        "optimizer": {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
                      "config": {k: v for k, v in config.items()
                                 if k in _OPTIMIZER_KEYS and v is not None},
                      "registered_name": None},
        "loss": loss, "loss_weights": None,
        "metrics": list(metrics) if isinstance(metrics, list) and
        all(isinstance(m, str) for m in metrics) else None,
        "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
        "jit_compile": False,
    }


def _slot_kinds(optimizer: Any) -> tuple | None:
    """The optimizer's slots in Keras 3's order, or ``None`` if Keras 3 keeps other state."""
    kind = type(optimizer).__name__
    if kind == "Adam" and not optimizer.amsgrad:
        return ("m", "v")  # Keras 3: momentum, velocity
    if kind == "SGD":
        return tuple(optimizer.slot_names)  # ("momentum",) or ()
    return None


def _optimizer_arrays(model: Any) -> list[np.ndarray]:
    """Keras 3's optimizer variables for ``model``'s optimizer state, ``[]`` if it does not map.

    Keras 3 keeps ``iterations``, ``learning_rate``, then each trainable variable's
    slots side by side (Adam: its momentum, then its velocity); minikeras keeps
    ``iterations`` then one slot kind after the other (Keras 2's order).
    """
    optimizer = model.optimizer
    kinds = _slot_kinds(optimizer)
    if kinds is None:
        return []
    state = optimizer.get_state()
    weights = model.trainable_weights
    n = len(weights)
    # an optimizer not yet built (never stepped) has only its iteration count
    if len(state) != 1 + len(kinds) * n or any(
            state[1 + k * n + i].shape != tuple(w.shape)
            for k in range(len(kinds)) for i, w in enumerate(weights)):
        return []
    arrays = [np.asarray(state[0], np.int64), np.float32(optimizer.learning_rate)]
    for i in range(n):
        arrays += [state[1 + k * n + i] for k in range(len(kinds))]
    return arrays


def _restore_optimizer(model: Any, h5: Any, source: str) -> None:
    """Give a freshly compiled model the optimizer state a ``.keras`` file holds, if it maps."""
    optimizer = model.optimizer
    kinds = _slot_kinds(optimizer)
    if kinds is None or "optimizer/vars" not in h5:
        return
    stored = h5["optimizer/vars"]
    n = len(model.trainable_weights)
    if len(stored) <= 2:  # iterations and learning rate only: Keras never built it
        return
    if len(stored) != 2 + len(kinds) * n:
        warnings.warn(f"{source}: the optimizer state has {len(stored)} variables, not "
                      f"{2 + len(kinds) * n}; the optimizer starts fresh", stacklevel=4)
        return
    arrays = [np.asarray(stored[str(i)]) for i in range(len(stored))]
    state = [np.asarray(arrays[0], np.int64)]
    for k in range(len(kinds)):
        state += [arrays[2 + i * len(kinds) + k] for i in range(n)]
    optimizer.set_state(state)  # kept until fit builds the optimizer on the same weights


def save_keras(model: Any, filepath: str | os.PathLike, overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` archive (loadable by ``keras.saving.load_model``).

    Args:
        model: The model.
        filepath: Target path (``.keras``).
        overwrite: Replace an existing file.
        include_optimizer: Also write a ``compile_config`` (optimizer, loss) when it maps.

    Raises:
        FileExistsError: If the file exists and ``overwrite`` is ``False``.
        ValueError: If a layer or config key has no Keras 3 equivalent (names both).
    """
    path = os.fspath(filepath)
    h5py = import_h5py(f"save_model({path!r})")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save_model: {path!r} exists and overwrite=False")
    entry = json.loads(model_to_json(model))
    try:
        config = to_keras3({"class_name": entry["class_name"], "config": entry["config"]})
    except ConfigError as e:
        raise ValueError(f"save_model({path!r}): {e}") from None
    config["build_config"] = {"input_shape": None}
    optimizer_arrays: list[np.ndarray] = []
    if include_optimizer:
        compile_config = _compile_config(model)
        if compile_config is not None:
            config["compile_config"] = compile_config
            optimizer_arrays = _optimizer_arrays(model)
    metadata = {"keras_version": "3.0.0", "saved_by": f"minikeras-{__version__}",
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        write_variables(h5, model)
        if optimizer_arrays:
            group = h5.create_group("optimizer").create_group("vars")
            group.attrs["name"] = type(model.optimizer).__name__.lower()
            for i, a in enumerate(optimizer_arrays):
                group.create_dataset(str(i), data=a)

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("metadata.json", json.dumps(metadata))
            zf.writestr("config.json", json.dumps(config, default=json_default))
            zf.writestr("model.weights.h5", buffer.getvalue())

    atomic_write(path, write)


def _read_archive(path: str, source: str) -> tuple[dict, bytes]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{source}: no such file {path!r}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for member in ("config.json", "model.weights.h5"):
                if member not in names:
                    raise ValueError(f"{source}: the archive has no {member!r} (members: "
                                     f"{sorted(names)})")
            raw_config = zf.read("config.json")
            weights = zf.read("model.weights.h5")
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{source}: not a readable .keras (zip) archive ({e})") from None
    try:
        config = json.loads(raw_config)
    except ValueError as e:
        raise ValueError(f"{source}: config.json is not valid JSON ({e})") from None
    return config, weights


def load_keras(filepath: str | os.PathLike, custom_objects: dict | None = None,
               compile: bool = True) -> Any:
    """Read a Keras 3 ``.keras`` archive (written by Keras 3 or by :func:`save_keras`).

    Args:
        filepath: The ``.keras`` file.
        custom_objects: Extra classes by name for ``model_from_config``.
        compile: Compile the model when the archive has a ``compile_config`` that maps.

    Returns:
        The model, with its weights.

    Raises:
        FileNotFoundError: If there is no such file.
        ValueError: If the archive is corrupt, or a layer or key has no minikeras
            equivalent (the message names the file, the layer and the key).
    """
    path = os.fspath(filepath)
    source = f"load_model({path!r})"
    h5py = import_h5py(source)
    config, weights = _read_archive(path, source)
    try:
        model_config = from_keras3(config)
    except ConfigError as e:
        raise ValueError(f"{source}: config.json: {e}") from None
    try:
        model = model_from_config(model_config, custom_objects=custom_objects)
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"{source}: config.json does not describe a model minikeras can "
                         f"build: {e}") from None
    compile_config = config.get("compile_config") if compile else None
    try:
        with h5py.File(io.BytesIO(weights), "r") as h5:
            plan = plan_variables(model, h5, source)
            for w, a in plan:
                w.assign(a.astype(w.dtype, copy=False))
            if compile_config and _compile(model, compile_config, source):
                _restore_optimizer(model, h5, source)
    except (OSError, KeyError) as e:
        raise ValueError(f"{source}: model.weights.h5 is truncated or corrupt ({e})") from None
    return model


def _compile(model: Any, compile_config: dict, source: str) -> bool:
    opt = compile_config.get("optimizer") or {}
    try:
        optimizer = optimizers.deserialize({
            "class_name": opt.get("class_name"),
            "config": {k: v for k, v in (opt.get("config") or {}).items()
                       if k in _OPTIMIZER_KEYS and v is not None}})
        model.compile(optimizer=optimizer, loss=compile_config.get("loss"),
                      metrics=compile_config.get("metrics"))
    except (ValueError, TypeError) as e:
        warnings.warn(f"{source}: compile_config not applied ({e}); the model is not "
                      "compiled", stacklevel=3)
        return False
    return True
