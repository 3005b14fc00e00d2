"""Helpers shared by the op modules: argument conversion and error messages."""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras.autograd.tensor import Tensor, as_array

_SCALARS = (int, float, bool, np.number, np.bool_)


def pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Prepare two operands of a binary op.

    A Python scalar takes the floating dtype of the other operand, so
    ``x * 2.0`` keeps ``x`` in ``float32`` (numpy's 0-d arrays would not be
    "weak" and would promote to ``float64``).
    """
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a, b  # the common case, decided in two cheap checks
    if isinstance(a, _SCALARS) and not isinstance(b, _SCALARS):
        a = _scalar_like(a, b)
    elif isinstance(b, _SCALARS) and not isinstance(a, _SCALARS):
        b = _scalar_like(b, a)
    return a, b


def _scalar_like(value: Any, other: Any) -> np.ndarray:
    dtype = other.dtype if isinstance(other, (Tensor, np.ndarray)) else None
    if dtype is not None and dtype.kind == "f":
        return np.asarray(value, dtype=dtype)
    if dtype is not None and dtype.kind in "iu" and isinstance(value, (int, np.integer)):
        return np.asarray(value, dtype=dtype)
    return as_array(value)


def shape_of(x: Any) -> tuple[int, ...]:
    """Shape of a tensor, array or scalar."""
    return np.shape(x.data if isinstance(x, Tensor) else x)


def check_broadcast(op: str, a: Any, b: Any) -> None:
    """Raise a clear ``ValueError`` when two operands cannot broadcast."""
    sa, sb = shape_of(a), shape_of(b)
    if sa == sb:
        return
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        raise ValueError(
            f"{op}: operands could not be broadcast together: shapes {sa} and {sb}"
        ) from None


def norm_axis(op: str, axis: Any, ndim: int) -> tuple[int, ...] | None:
    """Normalise an ``axis`` argument to a tuple of non-negative ints (or ``None``)."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor of rank {ndim}")
        out.append(int(a) % max(ndim, 1))
    return tuple(out)


def data(x: Any) -> np.ndarray:
    """The numpy array behind a tensor, array or scalar."""
    return x.data if isinstance(x, Tensor) else as_array(x)
