"""`KerasTensor`: the symbolic tensor of the layer graph.

A KerasTensor carries no data. It knows its shape (``None`` for unknown
dimensions, usually the batch), its dtype and where it came from:
``_keras_history = (layer, node_index, tensor_index)`` says it is output
``tensor_index`` of node ``node_index`` of ``layer``. Calling a layer on
KerasTensors adds a node to the layer graph instead of computing anything.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

_uids = itertools.count()


class KerasTensor:
    """A symbolic tensor: shape, dtype, name and the layer call that made it.

    Args:
        shape: Shape tuple; ``None`` marks an unknown dimension.
        dtype: Dtype name, e.g. ``"float32"``.
        name: Optional name (defaults to ``"<layer>/output:<i>"`` when a layer makes it).

    Attributes:
        shape: The shape tuple (same as ``_keras_shape``).
        dtype: The dtype name (a string).
        name: The tensor's name.
    """

    __slots__ = ("shape", "dtype", "name", "_keras_history", "_keras_mask",
                 "_uses_learning_phase", "_uid", "__weakref__")

    def __init__(self, shape: tuple, dtype: Any = "float32", name: str | None = None) -> None:
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype).name
        self.name = name
        self._keras_history: tuple | None = None
        self._keras_mask: Any = None
        # Keras 2: whether the value depends on the learning phase (training or inference)
        self._uses_learning_phase = False
        self._uid = next(_uids)

    @property
    def _keras_shape(self) -> tuple:
        """Keras 2's name for the static shape."""
        return self.shape

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def __repr__(self) -> str:
        origin = ""
        if self._keras_history is not None:
            layer = self._keras_history[0]
            origin = f", created by layer '{layer.name}'"
        return f"<KerasTensor shape={self.shape} dtype={self.dtype} name={self.name!r}{origin}>"

    def __len__(self) -> int:
        raise TypeError(
            "KerasTensor has no length: it is a symbolic placeholder with shape "
            f"{self.shape}; call the model on data to get values"
        )

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(
            f"Cannot convert the symbolic {self!r} to a numpy array: it holds no data. "
            "Call your layer or model on numpy arrays or Tensors to compute values."
        )

    __hash__ = object.__hash__

    # numpy arrays and scalars defer to the operators below instead of converting this tensor
    __array_ufunc__ = None

    def _no_arithmetic(self, op: str, other: Any = None, reflected: bool = False) -> TypeError:
        """The error for ``self <op> other``: name the layer that does it instead."""
        other_text = other.name if isinstance(other, KerasTensor) else repr(other)
        if op == "-x":
            expression, example = f"-{self.name}", "Lambda(lambda t: -t)(tensor)"
        elif op == "[]":
            expression = f"{self.name}[{other!r}]"
            example = f"Lambda(lambda t: t[{other!r}])(tensor)"
        else:
            left, right = (other_text, self.name) if reflected else (self.name, other_text)
            expression = f"{left} {op} {right}"
            example = (f"Lambda(lambda t: {other_text} {op} t)(tensor)" if reflected
                       else f"Lambda(lambda t: t {op} {other_text})(tensor)")
        merge = {"+": "Add", "-": "Subtract", "*": "Multiply"}.get(op)
        if isinstance(other, KerasTensor):
            example = (f"the merge layer {merge}()([a, b])" if merge else
                       "a merge layer (Add, Subtract, Multiply, Average, Maximum, Minimum, "
                       "Concatenate) or Lambda(lambda ts: ...)([a, b])")
        return TypeError(
            f"Cannot compute {expression}: {self.name} is a symbolic KerasTensor (shape "
            f"{self.shape}) with no data, and a functional model is made of layers. Use "
            f"{example}; merge layers (Add, Multiply, Concatenate...) combine two tensors"
        )

    def __add__(self, other: Any) -> Any:
        raise self._no_arithmetic("+", other)

    def __radd__(self, other: Any) -> Any:
        raise self._no_arithmetic("+", other, reflected=True)

    def __sub__(self, other: Any) -> Any:
        raise self._no_arithmetic("-", other)

    def __rsub__(self, other: Any) -> Any:
        raise self._no_arithmetic("-", other, reflected=True)

    def __mul__(self, other: Any) -> Any:
        raise self._no_arithmetic("*", other)

    def __rmul__(self, other: Any) -> Any:
        raise self._no_arithmetic("*", other, reflected=True)

    def __truediv__(self, other: Any) -> Any:
        raise self._no_arithmetic("/", other)

    def __rtruediv__(self, other: Any) -> Any:
        raise self._no_arithmetic("/", other, reflected=True)

    def __pow__(self, other: Any) -> Any:
        raise self._no_arithmetic("**", other)

    def __matmul__(self, other: Any) -> Any:
        raise self._no_arithmetic("@", other)

    def __rmatmul__(self, other: Any) -> Any:
        raise self._no_arithmetic("@", other, reflected=True)

    def __neg__(self) -> Any:
        raise self._no_arithmetic("-x")

    def __getitem__(self, key: Any) -> Any:
        raise self._no_arithmetic("[]", key)

    def __iter__(self) -> Any:
        # defined so that __getitem__ does not make a KerasTensor look iterable
        raise TypeError(f"{self!r} is not iterable: it is one symbolic tensor")


def is_keras_tensor(x: Any) -> bool:
    """Whether ``x`` is a symbolic tensor of the layer graph (made by ``Input`` or a layer)."""
    return isinstance(x, KerasTensor)


def describe(x: Any) -> str:
    """A one-line description of ``x`` for an error message: its type and shape, never its data."""
    if isinstance(x, KerasTensor):
        return repr(x)
    shape = getattr(x, "shape", None)
    if shape is not None:
        return f"a {type(x).__module__.split('.')[0]} {type(x).__name__} of shape {tuple(shape)}"
    text = repr(x)
    return text if len(text) <= 80 else f"a {type(x).__name__}"
