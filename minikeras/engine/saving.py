"""Weight files: a model's weights, layer by layer, in an ``.npz`` file, and the file helpers.

File layout (numpy ``.npz``, read with ``allow_pickle=False``; strings are
stored as numpy unicode arrays), Keras's layer-by-layer layout::

    __format__                      "minikeras-weights-1"
    __layer_names__                 names of the model's layers, in model order
    <layer>/__weight_names__        the keys of that layer's weights, in order
    <layer>/<weight name>           one array per weight, e.g. "dense/dense/kernel"

A whole-model file (:func:`minikeras.models.save_model`) holds the same entries under a
``weights/`` prefix, so :func:`load_weights` reads both. Whole-model files themselves (the
architecture, the training config, the optimizer state) are written and read by
:mod:`minikeras.models`, a floor above the engine, as in Keras 2.

Every file is written atomically: to a temporary file in the same directory,
flushed and fsynced, then moved over the target with ``os.replace``. Loading
reads and checks everything before touching the model, so a corrupt or
mismatched file raises a ``ValueError`` and leaves the model unchanged.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "MODEL_FORMAT", "WEIGHTS_FORMAT", "atomic_savez", "load_weights", "npz_str",
    "plan_weight_loading", "read_npz", "register_model_saver", "save_model_file",
    "save_weights", "weight_arrays",
]

WEIGHTS_FORMAT = "minikeras-weights-1"
MODEL_FORMAT = "minikeras-model-1"


def atomic_savez(filepath: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to an ``.npz`` file: a temporary file, fsynced, then ``os.replace``."""
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


def read_npz(filepath: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickle), or a ``ValueError`` naming the file.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is not a readable ``.npz`` file.
    """
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise ValueError(f"Cannot read {path!r}: not a valid minikeras .npz file "
                         f"(corrupt or wrong format: {e})") from None


def npz_str(arr: np.ndarray) -> str:
    """A string stored as a 0-d numpy unicode array, back as ``str``."""
    return str(arr.item()) if arr.ndim == 0 else str(arr)


def weight_arrays(model: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """The file entries of ``model``'s weights (see the module docstring) under ``prefix``."""
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


def save_weights(model: Any, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Save the model's weights layer by layer to an ``.npz`` file, atomically.

    Raises:
        FileExistsError: If the file exists and ``overwrite`` is ``False``.
    """
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save_weights: {os.fspath(filepath)!r} exists and "
                              "overwrite=False")
    arrays = weight_arrays(model)
    arrays["__format__"] = np.array(WEIGHTS_FORMAT)
    atomic_savez(filepath, arrays)


def plan_weight_loading(model: Any, data: dict, prefix: str, by_name: bool,
                        source: str) -> list:
    """Match saved arrays to the model's weights, as ``(variable, array)`` pairs.

    Everything is checked here, before any assignment, so a file that does not fit leaves
    the model unchanged.

    Raises:
        ValueError: Naming ``source``, the layer and what does not match.
    """
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
    source = f"load_weights({os.fspath(filepath)!r})"
    data = read_npz(filepath)
    fmt = npz_str(data["__format__"]) if "__format__" in data else ""
    prefix = "weights/" if fmt == MODEL_FORMAT else ""
    plan = plan_weight_loading(model, data, prefix, by_name, source)
    for w, a in plan:
        w.assign(a.astype(w.dtype, copy=False))


# Whole-model files belong to minikeras.models, a floor above the engine (Keras 2 kept
# save_model in keras/models.py too). ``Model.save`` is a shortcut to it: models.py hands its
# writer to the engine here when it is imported (``import minikeras`` imports it), so the
# engine calls up without importing up.
_model_saver: Callable[..., None] | None = None


def register_model_saver(saver: Callable[..., None]) -> None:
    """Set the function ``Model.save`` calls: ``saver(model, filepath, **options)``."""
    global _model_saver
    _model_saver = saver


def save_model_file(model: Any, filepath: str | os.PathLike, **options: Any) -> None:
    """Write ``model`` to ``filepath`` with the registered whole-model writer.

    Raises:
        RuntimeError: If :mod:`minikeras.models` has not been imported (it registers the writer).
    """
    if _model_saver is None:
        raise RuntimeError("Model.save: no model writer is registered; import minikeras (or "
                           "minikeras.models) first")
    _model_saver(model, filepath, **options)
