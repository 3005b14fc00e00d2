"""Global settings layers read: image data format, float type, fuzz factor.

The default ``image_data_format`` comes from the user's Keras config file
``~/.keras/keras.json`` (key ``"image_data_format"``) when it exists, else
``"channels_last"``; it can be changed at run time with
:func:`set_image_data_format`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

_DATA_FORMATS = ("channels_last", "channels_first")
_FLOATX = ("float16", "float32", "float64")


def _config_path() -> Path:
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "keras.json"


def _read_user_config() -> dict:
    """Read ``keras.json`` (JSON only; a malformed file is ignored like Keras does)."""
    try:
        with open(_config_path(), encoding="utf-8") as f:
            cfg = json.load(f)
        return cfg if isinstance(cfg, dict) else {}
    except (OSError, ValueError):
        return {}


_user = _read_user_config()
_image_data_format = _user.get("image_data_format", "channels_last")
if _image_data_format not in _DATA_FORMATS:
    _image_data_format = "channels_last"
_floatx = _user.get("floatx", "float32") if _user.get("floatx") in _FLOATX else "float32"
_epsilon = float(_user.get("epsilon", 1e-7)) if isinstance(_user.get("epsilon", 1e-7),
                                                         (int, float)) else 1e-7


def image_data_format() -> str:
    """The default data format of image layers: ``"channels_last"`` or ``"channels_first"``."""
    return _image_data_format


def set_image_data_format(data_format: str) -> None:
    """Set the default image data format.

    Raises:
        ValueError: If ``data_format`` is not ``"channels_last"`` or ``"channels_first"``.
    """
    global _image_data_format
    if data_format not in _DATA_FORMATS:
        raise ValueError(
            f"set_image_data_format: expected 'channels_last' or 'channels_first', "
            f"got {data_format!r}"
        )
    _image_data_format = data_format


def normalize_data_format(value: str | None) -> str:
    """Return ``value`` lower-cased and checked, or the default when ``None``.

    Raises:
        ValueError: If the value is not a known data format.
    """
    if value is None:
        return _image_data_format
    fmt = str(value).lower()
    if fmt not in _DATA_FORMATS:
        raise ValueError(
            f"data_format must be 'channels_last' or 'channels_first', got {value!r}"
        )
    return fmt


def floatx() -> str:
    """The default float type of weights and inputs (``"float32"``)."""
    return _floatx


def set_floatx(value: str) -> None:
    """Set the default float type (``"float16"``, ``"float32"`` or ``"float64"``)."""
    global _floatx
    if value not in _FLOATX:
        raise ValueError(f"set_floatx: expected one of {_FLOATX}, got {value!r}")
    _floatx = value


def epsilon() -> float:
    """The fuzz factor used to avoid division by zero (``1e-7``)."""
    return _epsilon


def set_epsilon(value: float) -> None:
    """Set the fuzz factor."""
    global _epsilon
    _epsilon = float(value)
