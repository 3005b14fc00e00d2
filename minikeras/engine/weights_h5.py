"""Weights in Keras 2's HDF5 layout, read and written with h5py.

The layout Keras 2 (``keras/engine/topology.py``) wrote and Keras 3's legacy
reader still reads::

    <group>.attrs["layer_names"]      names of the model's layers, in model order
    <group>.attrs["backend"], ["keras_version"]
    <group>/<layer>.attrs["weight_names"]   e.g. ["dense/kernel:0", "dense/bias:0"]
    <group>/<layer>/<weight name>           one dataset per weight

A layer's weights are listed trainable first, then non-trainable (Keras's
"legacy" order, which is also ``layer.weights`` here); a nested model is one
layer whose weights are all of its own layers' weights. ``save_weights("w.h5")``
writes this layout at the root of the file, ``save_model("m.h5")`` under
``model_weights``.

Loading plans every assignment first and only then assigns, so a file that
does not fit leaves the model unchanged. Files are written to a temporary file
in the same directory and moved over the target with ``os.replace``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from minikeras.generic_utils import optional_module
from minikeras.version import __version__

# HDF5 keeps attributes in the object header (64 KiB); Keras splits longer lists into
# numbered chunks ("layer_names0", "layer_names1", ...). Same limit, same naming.
_HEADER_LIMIT = 64512


def import_h5py(purpose: str) -> Any:
    """Import h5py, or raise an ImportError saying how to install it.

    Args:
        purpose: What needed h5py, for the message (e.g. ``"save_weights('w.h5')"``).

    Returns:
        The ``h5py`` module.
    """
    # optional dependency (minikeras[interop]): only HDF5 files need it
    return optional_module("h5py", purpose, "minikeras[interop]")


def atomic_write(filepath: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then move the temporary file over ``filepath``.

    The temporary file lives in the target's directory, so ``os.replace`` is
    atomic; on any error it is removed and the target is left as it was.

    Args:
        filepath: The file to create or replace.
        write: Writes the whole file at the path it is given.
    """
    path = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path), dir=directory)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_attribute_list(group: Any, name: str, values: list[str]) -> None:
    """Store a list of strings as a (chunked if large) HDF5 attribute, as Keras does.

    Args:
        group: The h5py group.
        name: Attribute name (``layer_names``, ``weight_names``).
        values: The strings.
    """
    data = np.array([v.encode("utf8") for v in values], dtype=bytes if values else "S1")
    chunks = 1
    parts = np.array_split(data, chunks)
    while any(p.nbytes > _HEADER_LIMIT for p in parts):
        chunks += 1
        parts = np.array_split(data, chunks)
    if chunks == 1:
        group.attrs[name] = data
    else:
        for i, part in enumerate(parts):
            group.attrs[f"{name}{i}"] = part


def load_attribute_list(group: Any, name: str) -> list[str]:
    """Read a list of strings stored by :func:`save_attribute_list` (or by Keras).

    Args:
        group: The h5py group.
        name: Attribute name.

    Returns:
        The strings (``[]`` if the attribute is absent).
    """
    def decode(values: Any) -> list[str]:
        return [v.decode("utf8") if hasattr(v, "decode") else str(v) for v in values]

    if name in group.attrs:
        return decode(group.attrs[name])
    out: list[str] = []
    i = 0
    while f"{name}{i}" in group.attrs:
        out += decode(group.attrs[f"{name}{i}"])
        i += 1
    return out


def _weight_names(weights: list) -> list[str]:
    names: list[str] = []
    for j, w in enumerate(weights):
        name = w.name or f"weight_{j}"
        if ":" not in name:
            name += ":0"  # TensorFlow's output index, which Keras 2 names carry
        if name in names:
            name = f"{name[:-2]}_{j}:0"
        names.append(name)
    return names


def save_weights_to_group(group: Any, model: Any) -> None:
    """Write every layer's weights into an open h5py group (Keras 2 layout).

    Args:
        group: An h5py group (a file's root, or ``model_weights``).
        model: The model.
    """
    save_attribute_list(group, "layer_names", [layer.name for layer in model.layers])
    group.attrs["backend"] = b"minikeras"
    group.attrs["keras_version"] = f"minikeras-{__version__}".encode()
    for layer in model.layers:
        sub = group.create_group(layer.name)
        weights = layer.weights
        names = _weight_names(weights)
        save_attribute_list(sub, "weight_names", names)
        for name, w in zip(names, weights):
            sub.create_dataset(name, data=np.asarray(w.data))


def _read_layers(group: Any, source: str) -> list[tuple[str, list[np.ndarray]]]:
    if "layer_names" not in group.attrs and "layer_names0" not in group.attrs:
        raise ValueError(f"{source}: no 'layer_names' attribute; this is not a Keras HDF5 "
                         "weights file")
    saved = []
    for name in load_attribute_list(group, "layer_names"):
        if name not in group:
            raise ValueError(f"{source}: layer {name!r} is listed in 'layer_names' but has no "
                             "group in the file (truncated or corrupt)")
        sub = group[name]
        arrays = []
        for wname in load_attribute_list(sub, "weight_names"):
            if wname not in sub:
                raise ValueError(f"{source}: weight {wname!r} of layer {name!r} is listed but "
                                 "missing from the file (truncated or corrupt)")
            arrays.append(np.asarray(sub[wname]))
        saved.append((name, arrays))
    return saved


def plan_group_loading(model: Any, group: Any, by_name: bool, source: str) -> list:
    """Match a Keras 2 weights group to the model's weights, checking every shape.

    Args:
        model: The model to load into.
        group: The open h5py group.
        by_name: Match layers by name (skipping absent ones) instead of in order.
        source: Names the file in error messages.

    Returns:
        ``[(variable, array), ...]``, nothing assigned yet.

    Raises:
        ValueError: If the file is not a weights file or does not fit the model.
    """
    saved = _read_layers(group, source)
    if by_name:
        index = {layer.name: layer for layer in model.layers}
        pairs = [(index[name], name, arrays) for name, arrays in saved if name in index]
    else:
        layers = [layer for layer in model.layers if layer.weights]
        saved = [(name, arrays) for name, arrays in saved if arrays]
        if len(layers) != len(saved):
            raise ValueError(f"{source}: the file has {len(saved)} layers with weights "
                             f"({[n for n, _ in saved]}), the model {len(layers)} "
                             f"({[layer.name for layer in layers]})")
        pairs = [(layer, name, arrays) for layer, (name, arrays) in zip(layers, saved)]
    plan = []
    for layer, name, arrays in pairs:
        weights = layer.weights
        if len(weights) != len(arrays):
            raise ValueError(f"{source}: layer {layer.name!r} has {len(weights)} weight(s), "
                             f"the file's layer {name!r} has {len(arrays)}")
        for w, a in zip(weights, arrays):
            if tuple(w.shape) != tuple(a.shape):
                raise ValueError(f"{source}: weight {w.name!r} of layer {layer.name!r} has "
                                 f"shape {tuple(w.shape)}, the file's (layer {name!r}) has "
                                 f"{a.shape}")
            if a.dtype.kind not in "fiub":
                raise ValueError(f"{source}: weight of layer {name!r} has non-numeric dtype "
                                 f"{a.dtype}")
            plan.append((w, a))
    return plan


def open_h5(filepath: str | os.PathLike, source: str) -> Any:
    """Open an existing HDF5 file for reading, with errors that name the file.

    Args:
        filepath: The file.
        source: Names the operation in messages.

    Returns:
        An open ``h5py.File``.

    Raises:
        FileNotFoundError: If there is no such file.
        ValueError: If it is not a readable HDF5 file (e.g. truncated).
    """
    h5py = import_h5py(source)
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{source}: no such file {path!r}")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{source}: {path!r} is not a readable HDF5 file (truncated or "
                         f"corrupt: {e})") from None


def save_weights_h5(model: Any, filepath: str | os.PathLike) -> None:
    """Write the model's weights as a Keras 2 HDF5 weights file, atomically.

    Args:
        model: The model.
        filepath: Target path (``.h5``).
    """
    h5py = import_h5py(f"save_weights({os.fspath(filepath)!r})")

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w") as f:
            save_weights_to_group(f, model)

    atomic_write(filepath, write)


def load_weights_h5(model: Any, filepath: str | os.PathLike, by_name: bool = False) -> None:
    """Load a Keras 2 HDF5 weights file (or a whole-model ``.h5``'s weights).

    Args:
        model: The model to load into.
        filepath: The ``.h5`` file.
        by_name: Match layers by name instead of in order.

    Raises:
        ValueError: If the file is corrupt or does not fit (the model is unchanged).
    """
    source = f"load_weights({os.fspath(filepath)!r})"
    with open_h5(filepath, source) as f:
        group = f["model_weights"] if "model_weights" in f else f
        try:
            plan = plan_group_loading(model, group, by_name, source)
        except (OSError, KeyError) as e:  # h5py's errors on a damaged dataset or group
            raise ValueError(f"{source}: the file is truncated or corrupt ({e})") from None
    for w, a in plan:
        w.assign(a.astype(w.dtype, copy=False))
