"""Weight penalties, as Keras 2's ``keras.regularizers``.

A regularizer is called on a weight (a :class:`~minikeras.autograd.Variable` or any tensor) and
returns a scalar :class:`~minikeras.autograd.Tensor` computed with differentiable ops, so the
penalty's gradient reaches the weight. Layers add ``regularizer(weight)`` to their losses; the
training loop adds those losses to the data loss.

Example:
    >>> from minikeras import regularizers
    >>> regularizers.l2(0.01).get_config()
    {'l1': 0.0, 'l2': 0.01}
"""

from __future__ import annotations

from typing import Any

from minikeras import backend as K
from minikeras.autograd import Tensor
from minikeras.generic_utils import (
    deserialize_keras_object,
    resolve_identifier,
    serialize_keras_object,
)

__all__ = ["L1L2", "Regularizer", "deserialize", "get", "l1", "l1_l2", "l2", "serialize"]


class Regularizer:
    """Base class: subclasses implement ``__call__(x) -> scalar Tensor``."""

    def __call__(self, x: Any) -> Tensor:
        """The penalty for ``x``."""
        return Tensor(0.0)

    def get_config(self) -> dict:
        """The constructor arguments."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Regularizer:
        """Rebuild from :meth:`get_config`'s output."""
        return cls(**config)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x²)``.

    Args:
        l1: L1 factor (non-negative float).
        l2: L2 factor (non-negative float).
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __call__(self, x: Any) -> Tensor:
        """The penalty, a 0-d tensor of ``x``'s dtype."""
        penalty = None
        if self.l1:
            penalty = K.sum(K.abs(x)) * self.l1
        if self.l2:
            term = K.sum(K.square(x)) * self.l2
            penalty = term if penalty is None else penalty + term
        if penalty is None:
            dtype = getattr(x, "dtype", None)
            return Tensor(0.0, dtype=dtype)
        return penalty

    def get_config(self) -> dict:
        """``{'l1', 'l2'}`` as floats."""
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        return f"L1L2(l1={self.l1}, l2={self.l2})"


def l1(l: float = 0.01) -> L1L2:  # noqa: E741 - Keras's argument name
    """L1 penalty: ``L1L2(l1=l)``."""
    return L1L2(l1=l)


def l2(l: float = 0.01) -> L1L2:  # noqa: E741 - Keras's argument name
    """L2 penalty (weight decay): ``L1L2(l2=l)``."""
    return L1L2(l2=l)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Both penalties: ``L1L2(l1=l1, l2=l2)``."""
    return L1L2(l1=l1, l2=l2)


_OBJECTS: dict[str, Any] = {"L1L2": L1L2, "l1": l1, "l2": l2, "l1_l2": l1_l2}


def serialize(regularizer: Regularizer) -> dict:
    """``{'class_name', 'config'}`` of a regularizer."""
    return serialize_keras_object(regularizer)


def deserialize(config: Any, custom_objects: dict | None = None) -> Regularizer:
    """Build a regularizer from a name or a ``{'class_name', 'config'}`` dict.

    Raises:
        ValueError: On an unknown name (the message lists the known ones).
    """
    return deserialize_keras_object(
        config, module_objects=_OBJECTS, custom_objects=custom_objects,
        printable_module_name="regularizer",
    )


def get(identifier: Any) -> Regularizer | None:
    """Resolve a regularizer: ``None``, a name (``'l2'`` is ``l2(0.01)``), a dict or a callable.

    Raises:
        ValueError: On an unknown name or an uninterpretable identifier.
    """
    return resolve_identifier(identifier, deserialize, "regularizer", "l2")
