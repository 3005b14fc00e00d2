"""Argument checking and shape arithmetic shared by the layers (Keras's ``conv_utils``).

Every checker takes the layer (or its class name) first, so a mistake reads
``SeparableConv2D 'sep': strides must be ...`` with what was expected and what came.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras.backend.config import image_data_format


def who(layer: Any) -> str:
    """``ClassName 'name'`` of a layer, for error messages."""
    if isinstance(layer, str):
        return layer
    name = getattr(layer, "name", None)
    return f"{type(layer).__name__} {name!r}" if name else type(layer).__name__


def normalize_tuple(layer: Any, value: Any, n: int, name: str, minimum: int = 1) -> tuple:
    """An int or ``n`` ints (each ``>= minimum``) as a tuple of ``n`` ints.

    Raises:
        ValueError: Naming the layer and the argument.
    """
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            values = None
        if (
            values is None
            or len(values) != n
            or not all(isinstance(v, int | np.integer) and not isinstance(v, bool)
                       for v in values)
        ):
            raise ValueError(
                f"{who(layer)}: the `{name}` argument must be an int or a tuple of {n} ints, "
                f"got {value!r}"
            )
        values = tuple(int(v) for v in values)
    if min(values) < minimum:
        raise ValueError(
            f"{who(layer)}: every value of `{name}` must be >= {minimum}, got {value!r}"
        )
    return values


def normalize_padding(layer: Any, value: Any) -> str:
    """``'valid'`` or ``'same'`` (case-insensitive).

    Raises:
        ValueError: Naming the layer and the value.
    """
    padding = str(value).lower() if isinstance(value, str) else value
    if padding not in ("valid", "same"):
        raise ValueError(
            f"{who(layer)}: the `padding` argument must be one of 'valid', 'same', got {value!r}"
        )
    return padding


def normalize_data_format(layer: Any, value: Any) -> str:
    """``'channels_last'``/``'channels_first'``, or the configured default for ``None``.

    Raises:
        ValueError: Naming the layer and the value.
    """
    if value is None:
        return image_data_format()
    fmt = str(value).lower() if isinstance(value, str) else value
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(
            f"{who(layer)}: the `data_format` argument must be one of 'channels_first', "
            f"'channels_last', got {value!r}"
        )
    return fmt


def conv_output_length(length: int | None, kernel: int, padding: str, stride: int,
                       dilation: int = 1) -> int | None:
    """Output length of a convolution or pooling window along one axis (``None`` stays)."""
    if length is None:
        return None
    dilated = kernel + (kernel - 1) * (dilation - 1)
    out = length - dilated + 1 if padding == "valid" else length
    return (out + stride - 1) // stride


def shape_tuple(input_shape: Any) -> tuple:
    """A shape as a tuple of ints and ``None`` (accepts lists and KerasTensor shapes)."""
    return tuple(None if d is None else int(d) for d in input_shape)


def single_shape(layer: Any, input_shape: Any) -> tuple:
    """The shape of a single-input layer's input (rejects a list of several shapes)."""
    if isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], list | tuple):
        if len(input_shape) != 1:
            raise ValueError(
                f"{who(layer)}: expects a single input, got {len(input_shape)} inputs with "
                f"shapes {input_shape}"
            )
        input_shape = input_shape[0]
    return shape_tuple(input_shape)
