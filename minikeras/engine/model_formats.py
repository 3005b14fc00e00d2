"""Model file formats chosen by file extension.

``save_model``/``load_model`` (engine floor) write and read minikeras's own
``.npz``; other formats (``.h5``, ``.keras``) live on the top floor, which
registers them here when ``minikeras.models`` is imported. The engine thus
dispatches to them without importing upward.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

_FORMATS: dict[str, tuple[Callable[..., None], Callable[..., Any]]] = {}


def register(extension: str, save: Callable[..., None], load: Callable[..., Any]) -> None:
    """Make ``save_model``/``load_model`` use ``save``/``load`` for files ending in ``extension``.

    Args:
        extension: Lower-case, with the dot (``".h5"``).
        save: ``save(model, filepath, overwrite=..., include_optimizer=...)``.
        load: ``load(filepath, custom_objects=..., compile=...)`` returning a model.
    """
    _FORMATS[extension] = (save, load)


def lookup(filepath: str | os.PathLike) -> tuple[Callable[..., None], Callable[..., Any]] | None:
    """The registered ``(save, load)`` for ``filepath``'s extension, or ``None`` (``.npz``).

    Args:
        filepath: The model file's path.
    """
    ext = os.path.splitext(os.fspath(filepath))[1].lower()
    if ext == ".hdf5":
        ext = ".h5"
    return _FORMATS.get(ext)
