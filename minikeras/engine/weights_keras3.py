"""Weights in Keras 3's HDF5 layout (``model.weights.h5``, ``*.weights.h5``), with h5py.

Keras 3 addresses a layer's variables not by the layer's name but by its
position among the model's layers::

    layers/<snake_case class name>[_<n>]/vars/<i>

``_<n>`` numbers the repeats of one class within a model, in ``model.layers``
order (``dense``, ``dense_1``, ...); a nested model is a group
``layers/<functional|sequential>/layers/...`` of its own. A layer's variables
are its trainable ones then its non-trainable ones, in creation order.
``save_weights("w.weights.h5")`` writes this layout (Keras 3 insists on that
suffix); ``load_weights`` reads it whatever the file is called.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from minikeras.engine.weights_h5 import atomic_write, import_h5py, open_h5


def _snake(name: str) -> str:
    # keras.src.utils.naming.to_snake_case, which names the weight groups
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _is_model(layer: Any) -> bool:
    # duck-typed rather than isinstance(layer, Container): topology imports this module's users
    return hasattr(layer, "layers") and hasattr(layer, "get_layer")


def _keras3_class(layer: Any) -> str:
    if _is_model(layer):
        return "Sequential" if type(layer).__name__ == "Sequential" else "Functional"
    return type(layer).__name__


def walk(model: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``[(group path, layer)]`` for every layer of ``model`` (nested ones too), Keras 3's way.

    Args:
        model: A ``Model`` or ``Sequential``.
        prefix: The path of ``model`` itself (``""`` at the top).
    """
    out = []
    used: dict[str, int] = {}
    for layer in model.layers:
        base = _snake(_keras3_class(layer))
        if base in used:
            used[base] += 1
            base = f"{base}_{used[base]}"
        else:
            used[base] = 0
        path = f"{prefix}layers/{base}"
        if _is_model(layer):
            out += walk(layer, path + "/")
        out.append((path, layer))
    return out


def layer_variables(layer: Any) -> list:
    """A layer's own variables in Keras 3's order (a nested model has none of its own).

    Args:
        layer: The layer.
    """
    if _is_model(layer):
        return []
    return list(layer._trainable_weights) + list(layer._non_trainable_weights)


def write_variables(h5: Any, model: Any) -> None:
    """Write every layer's variables into an open, empty h5py file (Keras 3 layout).

    Args:
        h5: The h5py file (or group) to fill.
        model: The model.
    """
    h5.create_group("vars").attrs["name"] = model.name
    for group_path, layer in walk(model):
        group = h5.require_group(group_path).create_group("vars")
        group.attrs["name"] = layer.name
        for i, w in enumerate(layer_variables(layer)):
            group.create_dataset(str(i), data=np.asarray(w.data))


def plan_variables(model: Any, h5: Any, source: str) -> list:
    """Match a Keras 3 weights file to the model's variables, checking counts and shapes.

    Args:
        model: The model to load into.
        h5: The open h5py file.
        source: Names the file in error messages.

    Returns:
        ``[(variable, array), ...]``, nothing assigned yet.

    Raises:
        ValueError: If the file does not fit the model.
    """
    plan = []
    for group_path, layer in walk(model):
        variables = layer_variables(layer)
        vars_path = f"{group_path}/vars"
        stored = h5[vars_path] if vars_path in h5 else {}
        if len(stored) != len(variables):
            raise ValueError(f"{source}: layer {layer.name!r} has {len(variables)} "
                             f"variable(s), the file has {len(stored)} at {vars_path!r}")
        for i, w in enumerate(variables):
            a = np.asarray(stored[str(i)])
            if tuple(a.shape) != tuple(w.shape):
                raise ValueError(f"{source}: variable {i} of layer {layer.name!r} has shape "
                                 f"{tuple(w.shape)}, the file's {a.shape}")
            plan.append((w, a))
    return plan


def is_keras3_layout(h5: Any) -> bool:
    """Whether an open h5py file holds Keras 3's layout (rather than Keras 2's).

    Args:
        h5: The open h5py file.
    """
    return "layer_names" not in h5.attrs and "layers" in h5


def save_weights_keras3(model: Any, filepath: str | os.PathLike) -> None:
    """Write the model's weights as a Keras 3 ``.weights.h5`` file, atomically.

    Args:
        model: The model.
        filepath: Target path (ending in ``.weights.h5``).
    """
    h5py = import_h5py(f"save_weights({os.fspath(filepath)!r})")

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w") as f:
            write_variables(f, model)

    atomic_write(filepath, write)


def load_weights_keras3(model: Any, filepath: str | os.PathLike) -> None:
    """Load a Keras 3 weights file (``model.save_weights("w.weights.h5")`` in Keras 3).

    Args:
        model: The model to load into.
        filepath: The file.

    Raises:
        ValueError: If the file is corrupt or does not fit (the model is unchanged).
    """
    source = f"load_weights({os.fspath(filepath)!r})"
    with open_h5(filepath, source) as f:
        try:
            plan = plan_variables(model, f, source)
        except (OSError, KeyError) as e:  # h5py's errors on a damaged dataset or group
            raise ValueError(f"{source}: the file is truncated or corrupt ({e})") from None
    for w, a in plan:
        w.assign(a.astype(w.dtype, copy=False))
