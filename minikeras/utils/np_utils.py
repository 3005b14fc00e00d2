"""numpy helpers for data preparation (Keras 2's ``keras.utils.np_utils``)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["to_categorical"]


def to_categorical(y: Any, num_classes: int | None = None, dtype: Any = "float32") -> np.ndarray:
    """Turn integer class labels into one-hot rows (Keras 2 semantics).

    A trailing axis of size 1 is dropped first, so labels of shape ``(n,)`` and
    ``(n, 1)`` both give ``(n, num_classes)``; labels of shape ``(n, t)`` give
    ``(n, t, num_classes)``.

    Args:
        y: Class labels: whole numbers from ``0`` to ``num_classes - 1``.
        num_classes: Number of classes; by default ``max(y) + 1``.
        dtype: Dtype of the result.

    Returns:
        The one-hot array, of shape ``y.shape + (num_classes,)`` (without a
        trailing 1 of ``y``).

    Raises:
        ValueError: If a label is negative, not a whole number, or not below
            ``num_classes``.

    Example:
        >>> to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    labels = np.asarray(y)
    if labels.dtype.kind == "f" and not np.array_equal(labels, np.floor(labels)):
        raise ValueError("to_categorical: class labels must be whole numbers, got fractional "
                         "values (are these already probabilities or one-hot rows?)")
    if labels.dtype.kind not in "iufb":
        raise ValueError(f"to_categorical: expected integer class labels, got dtype {labels.dtype}")
    labels = labels.astype(int)
    shape = labels.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    labels = labels.ravel()
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: class labels must be >= 0, got {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"to_categorical: label {labels.max()} does not fit num_classes={num_classes} "
            f"(labels run from 0 to num_classes - 1)"
        )
    categorical = np.zeros((labels.size, num_classes), dtype=dtype)
    categorical[np.arange(labels.size), labels] = 1
    return categorical.reshape(shape + (num_classes,))
