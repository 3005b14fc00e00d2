"""The ops whose Keras 2 backend signature differs from the numpy-style autograd op.

The autograd ops follow numpy (``concatenate`` joins along axis 0, ``argmax`` flattens by
default); Keras 2's backend joins and reduces along the *last* axis by default, and layer code
written for Keras (``K.concatenate([K.square(x), x])``) counts on it. ``minikeras.backend``
hands on these versions instead, each a thin call to the autograd op.
"""

from __future__ import annotations

from typing import Any

from minikeras.autograd import ops
from minikeras.autograd.tensor import Tensor

__all__ = ["argmax", "argmin", "concatenate", "expand_dims", "l2_normalize"]


def concatenate(tensors: Any, axis: int = -1) -> Tensor:
    """Join tensors along an existing axis, the last by default (Keras's ``K.concatenate``)."""
    return ops.concatenate(tensors, axis=axis)


def argmax(x: Any, axis: int = -1) -> Tensor:
    """Indices of the maxima along ``axis``, the last by default (Keras's ``K.argmax``)."""
    return ops.argmax(x, axis=axis)


def argmin(x: Any, axis: int = -1) -> Tensor:
    """Indices of the minima along ``axis``, the last by default (Keras's ``K.argmin``)."""
    return ops.argmin(x, axis=axis)


def expand_dims(x: Any, axis: int = -1) -> Tensor:
    """Insert an axis of length one at ``axis``, the end by default (Keras's ``K.expand_dims``)."""
    return ops.expand_dims(x, axis)


def l2_normalize(x: Any, axis: Any = None) -> Tensor:
    """``x / sqrt(max(sum(x², axis), 1e-12))``: unit L2 norm along ``axis`` (TensorFlow's rule).

    Args:
        x: A tensor.
        axis: The axis (or axes) to normalise along; ``None`` for all.
    """
    squares = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return ops.divide(x, ops.sqrt(ops.maximum(squares, 1e-12)))
