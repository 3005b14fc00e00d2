"""HDF5 weights files (``save_weights("w.h5")``): Keras 2's layout or Keras 3's, chosen here.

Keras 3 reads a ``*.weights.h5`` file with its own reader and writes weights
only under that suffix, so the suffix chooses Keras 3's layout
(:mod:`minikeras.engine.weights_keras3`) when saving; any other ``.h5`` name
gets Keras 2's (:mod:`minikeras.engine.weights_h5`), which Keras 3 also reads
through ``load_weights``. When loading, the file's content decides.
"""

from __future__ import annotations

import os
from typing import Any

from minikeras.engine.weights_h5 import load_weights_h5, open_h5, save_weights_h5
from minikeras.engine.weights_keras3 import (
    is_keras3_layout,
    load_weights_keras3,
    save_weights_keras3,
)


def is_hdf5_path(filepath: str | os.PathLike) -> bool:
    """Whether ``filepath`` names an HDF5 file (``.h5`` or ``.hdf5``).

    Args:
        filepath: The path.
    """
    return os.path.splitext(os.fspath(filepath))[1].lower() in (".h5", ".hdf5")


def save_weights_hdf5(model: Any, filepath: str | os.PathLike) -> None:
    """Write the model's weights to an HDF5 file, atomically, in the layout its name asks for.

    Args:
        model: The model.
        filepath: ``*.weights.h5`` for Keras 3's layout, any other ``.h5`` for Keras 2's.
    """
    if os.fspath(filepath).lower().endswith(".weights.h5"):
        save_weights_keras3(model, filepath)
    else:
        save_weights_h5(model, filepath)


def load_weights_hdf5(model: Any, filepath: str | os.PathLike, by_name: bool = False) -> None:
    """Load an HDF5 weights file in either layout (or a whole-model ``.h5``'s weights).

    Args:
        model: The model to load into.
        filepath: The file.
        by_name: Match layers by name (Keras 2's layout only: Keras 3's has no names).

    Raises:
        ValueError: If the file is corrupt or does not fit (the model is unchanged).
    """
    source = f"load_weights({os.fspath(filepath)!r})"
    with open_h5(filepath, source) as f:
        keras3 = is_keras3_layout(f)
    if not keras3:
        load_weights_h5(model, filepath, by_name=by_name)
    elif by_name:
        raise ValueError(f"{source}: a Keras 3 weights file has no layer names to match "
                         "(by_name=True); load it with by_name=False")
    else:
        load_weights_keras3(model, filepath)
