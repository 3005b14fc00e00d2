"""Weight constraints, as Keras 2's ``keras.constraints``.

A constraint maps a weight's numpy array to the projected array. The training loop applies
``variable.constraint`` after every optimizer step (layers pass ``constraint=`` to
``add_weight``). Norms are taken along ``axis`` (Keras's default ``0``: for a ``Dense`` kernel
``(in, out)`` that is each unit's incoming weight vector; for a ``Conv2D`` kernel
``(rows, cols, in, out)`` in channels-last use ``axis=[0, 1, 2]``).

Example:
    >>> import numpy as np
    >>> from minikeras import constraints
    >>> constraints.get("non_neg")(np.array([-1.0, 2.0]))
    array([0., 2.])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras.backend.config import epsilon
from minikeras.generic_utils import (
    deserialize_keras_object,
    resolve_identifier,
    serialize_keras_object,
)

__all__ = [
    "Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "deserialize", "get",
    "max_norm", "min_max_norm", "non_neg", "serialize", "unit_norm",
]


def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list | tuple) else axis


def _norms(w: np.ndarray, axis: Any) -> np.ndarray:
    return np.sqrt(np.sum(np.square(w), axis=_axis(axis), keepdims=True))


def _as_array(w: Any) -> np.ndarray:
    return w.data if hasattr(w, "data") and isinstance(w.data, np.ndarray) else np.asarray(w)


class Constraint:
    """Base class: subclasses implement ``__call__(w) -> w`` on numpy arrays."""

    def __call__(self, w: Any) -> np.ndarray:
        """Return ``w`` unchanged."""
        return _as_array(w)

    def get_config(self) -> dict:
        """The constructor arguments."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Constraint:
        """Rebuild from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """Rescale weight vectors whose norm along ``axis`` exceeds ``max_value``.

    Args:
        max_value: The largest norm allowed.
        axis: Integer or list of integers: the axes the norm runs over.
    """

    def __init__(self, max_value: float = 2, axis: Any = 0) -> None:
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w: Any) -> np.ndarray:
        """Project ``w``."""
        w = _as_array(w)
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return (w * (desired / (epsilon() + norms))).astype(w.dtype, copy=False)

    def get_config(self) -> dict:
        """``{'max_value', 'axis'}``."""
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Set negative weights to zero."""

    def __call__(self, w: Any) -> np.ndarray:
        """Project ``w``."""
        w = _as_array(w)
        return w * (w >= 0).astype(w.dtype)


class UnitNorm(Constraint):
    """Scale weight vectors to norm 1 along ``axis``.

    Args:
        axis: Integer or list of integers: the axes the norm runs over.
    """

    def __init__(self, axis: Any = 0) -> None:
        self.axis = axis

    def __call__(self, w: Any) -> np.ndarray:
        """Project ``w``."""
        w = _as_array(w)
        return (w / (epsilon() + _norms(w, self.axis))).astype(w.dtype, copy=False)

    def get_config(self) -> dict:
        """``{'axis'}``."""
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Keep norms along ``axis`` within ``[min_value, max_value]``, moving ``rate`` of the way.

    ``rate=1.0`` enforces the bounds at once; smaller rates move the norm part of the way each
    step (``(1 - rate) * norm + rate * clip(norm, min_value, max_value)``).

    Args:
        min_value: The smallest norm allowed.
        max_value: The largest norm allowed.
        rate: Rate of enforcement.
        axis: Integer or list of integers: the axes the norm runs over.
    """

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: Any = 0) -> None:
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w: Any) -> np.ndarray:
        """Project ``w``."""
        w = _as_array(w)
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) \
            + (1 - self.rate) * norms
        return (w * (desired / (epsilon() + norms))).astype(w.dtype, copy=False)

    def get_config(self) -> dict:
        """``{'min_value', 'max_value', 'rate', 'axis'}``."""
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


# Keras 2's lower-case aliases (and its older spellings without underscores).
max_norm = maxnorm = MaxNorm
non_neg = nonneg = NonNeg
unit_norm = unitnorm = UnitNorm
min_max_norm = MinMaxNorm

_OBJECTS: dict[str, Any] = {
    "MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm, "MinMaxNorm": MinMaxNorm,
    "max_norm": max_norm, "maxnorm": maxnorm, "non_neg": non_neg, "nonneg": nonneg,
    "unit_norm": unit_norm, "unitnorm": unitnorm, "min_max_norm": min_max_norm,
}


def serialize(constraint: Constraint) -> dict:
    """``{'class_name', 'config'}`` of a constraint."""
    return serialize_keras_object(constraint)


def deserialize(config: Any, custom_objects: dict | None = None) -> Constraint:
    """Build a constraint from a name or a ``{'class_name', 'config'}`` dict.

    Raises:
        ValueError: On an unknown name (the message lists the known ones).
    """
    return deserialize_keras_object(
        config, module_objects=_OBJECTS, custom_objects=custom_objects,
        printable_module_name="constraint",
    )


def get(identifier: Any) -> Constraint | None:
    """Resolve a constraint: ``None``, a name, a config dict or a callable.

    Raises:
        ValueError: On an unknown name or an uninterpretable identifier.
    """
    return resolve_identifier(identifier, deserialize, "constraint", "max_norm")
