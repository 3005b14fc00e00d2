"""`Tensor` and `Variable`: numpy arrays that remember which op made them.

A :class:`Tensor` wraps one numpy array (``float32`` unless you say
otherwise; ``float64`` works everywhere; integer and boolean tensors carry
labels and masks). Arithmetic on tensors runs the ops of
:mod:`minikeras.autograd.ops`, which any active
:class:`~minikeras.autograd.tape.GradientTape` records.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

_uids = itertools.count()
_new_object = object.__new__


def as_array(value: Any, dtype: Any = None) -> np.ndarray:
    """Turn a value into a numpy array with minikeras's default dtypes.

    Python floats and float lists become ``float32`` (numpy would pick
    ``float64``); numpy arrays keep their dtype unless ``dtype`` is given.
    """
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray):
        return value if dtype is None or value.dtype == dtype else value.astype(dtype)
    if dtype is not None:
        return np.asarray(value, dtype=dtype)
    arr = np.asarray(value)
    if arr.dtype == np.float64 and not isinstance(value, np.generic):
        arr = arr.astype(np.float32)
    return arr


class Tensor:
    """A numpy array with a place on the autograd tape.

    Args:
        data: Array-like contents. Python floats default to ``float32``.
        dtype: Optional dtype to convert to.
        name: Optional name, shown in tape listings and drawings.

    Attributes:
        data: The underlying numpy array.
        name: The tensor's name, or ``None``.
        uid: A small integer identifying the tensor in tape listings.
    """

    __slots__ = ("data", "op", "name", "uid", "__weakref__")
    __array_priority__ = 1000  # numpy defers to our reflected operators

    def __init__(self, data: Any, dtype: Any = None, name: str | None = None) -> None:
        self.data = as_array(data, dtype)
        self.op = None
        self.name = name
        self.uid = next(_uids)

    @staticmethod
    def _wrap(data: np.ndarray, op: Any) -> Tensor:
        """Make an op's output tensor: the fast constructor ``Function.apply`` uses.

        ``data`` must be an ``np.ndarray`` already (``apply`` makes numpy scalars 0-d arrays
        first): nothing is converted here, the per-op cost is the point.
        """
        t = _new_object(Tensor)  # skips __init__ and its conversions: data is already an array
        t.data = data
        t.op = op
        t.name = None
        t.uid = next(_uids)
        return t

    # ---- array-like properties -------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype."""
        return self.data.dtype

    @property
    def op_name(self) -> str | None:
        """Name of the op that produced this tensor, or ``None`` for a leaf."""
        return None if self.op is None else self.op.name

    def numpy(self) -> np.ndarray:
        """Return the underlying numpy array (not a copy)."""
        return self.data

    def item(self) -> Any:
        """Return the single element as a Python scalar."""
        return self.data.item()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is None or dtype == self.data.dtype:
            return self.data.copy() if copy else self.data
        return self.data.astype(dtype)

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def astype(self, dtype: Any) -> Tensor:
        """Cast to ``dtype`` (differentiable between floating dtypes)."""
        return ops.cast(self, dtype)

    def detach(self) -> Tensor:
        """A new leaf tensor sharing this tensor's data, unseen by any tape."""
        return Tensor(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2,
                               prefix=" " * 7)
        extra = f", name={self.name!r}" if self.name else ""
        origin = f", op={self.op.name}" if self.op is not None else ""
        return f"Tensor({body}, shape={self.shape}, dtype={self.dtype}{origin}{extra})"

    __hash__ = object.__hash__

    # ---- arithmetic ------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.subtract(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.subtract(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.multiply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.multiply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.divide(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.divide(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.power(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return ops.power(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return ops.negative(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return ops.abs(self)

    # comparisons are not differentiable and give boolean tensors
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.equal(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.not_equal(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return ops.less(self, other)

    def __le__(self, other: Any) -> Tensor:
        return ops.less_equal(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return ops.greater(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return ops.greater_equal(self, other)

    def __getitem__(self, key: Any) -> Tensor:
        return ops.getitem(self, key)

    # ---- methods mirroring the functional ops ----------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """Reshape (accepts ``reshape(2, 3)`` or ``reshape((2, 3))``)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        """Permute axes (reverse them when none are given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes or None)

    @property
    def T(self) -> Tensor:  # noqa: N802 - numpy's name
        """Reversed axes, as numpy's ``.T``."""
        return ops.transpose(self, None)

    def swapaxes(self, a: int, b: int) -> Tensor:
        """Swap two axes."""
        return ops.swapaxes(self, a, b)

    def expand_dims(self, axis: int) -> Tensor:
        """Insert an axis of length one."""
        return ops.expand_dims(self, axis)

    def squeeze(self, axis: Any = None) -> Tensor:
        """Remove axes of length one."""
        return ops.squeeze(self, axis)

    def broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        """Broadcast to ``shape``."""
        return ops.broadcast_to(self, shape)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis``."""
        return ops.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis``."""
        return ops.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Maximum over ``axis`` (the gradient is shared among ties)."""
        return ops.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Minimum over ``axis``."""
        return ops.min(self, axis, keepdims)

    def var(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Population variance over ``axis``."""
        return ops.var(self, axis, keepdims)

    def std(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Population standard deviation over ``axis``."""
        return ops.std(self, axis, keepdims)

    def argmax(self, axis: Any = None) -> Tensor:
        """Index of the maximum (not differentiable)."""
        return ops.argmax(self, axis)

    def argmin(self, axis: Any = None) -> Tensor:
        """Index of the minimum (not differentiable)."""
        return ops.argmin(self, axis)

    def abs(self) -> Tensor:
        """Elementwise absolute value."""
        return ops.abs(self)

    def sign(self) -> Tensor:
        """Elementwise sign (-1, 0 or 1; zero gradient)."""
        return ops.sign(self)

    def log1p(self) -> Tensor:
        """Elementwise ``log(1 + x)``."""
        return ops.log1p(self)

    def dot(self, other: Any) -> Tensor:
        """Dot product with ``other`` (numpy's ``dot``)."""
        return ops.dot(self, other)

    def exp(self) -> Tensor:
        """Elementwise exponential."""
        return ops.exp(self)

    def log(self) -> Tensor:
        """Elementwise natural logarithm."""
        return ops.log(self)

    def sqrt(self) -> Tensor:
        """Elementwise square root."""
        return ops.sqrt(self)

    def square(self) -> Tensor:
        """Elementwise square."""
        return ops.square(self)

    def tanh(self) -> Tensor:
        """Elementwise hyperbolic tangent."""
        return ops.tanh(self)

    def sigmoid(self) -> Tensor:
        """Elementwise logistic sigmoid."""
        return ops.sigmoid(self)

    def relu(self) -> Tensor:
        """Elementwise rectified linear unit."""
        return ops.relu(self)

    def clip(self, lo: float | None, hi: float | None) -> Tensor:
        """Clip values into ``[lo, hi]``."""
        return ops.clip(self, lo, hi)


class Variable(Tensor):
    """A named, mutable tensor: a model weight.

    Assignments change the value in place and are not recorded on the tape.
    Trainable variables read inside a :class:`GradientTape` are watched
    automatically.

    Args:
        value: Initial value (array-like).
        trainable: Whether optimizers should update it.
        name: Name, e.g. ``"dense/kernel"``.
        dtype: Optional dtype (default: from ``value``, ``float32`` for Python floats).
        constraint: Optional callable applied to the value after optimizer steps.
    """

    __slots__ = ("trainable", "constraint")

    def __init__(self, value: Any, trainable: bool = True, name: str | None = None,
                 dtype: Any = None, constraint: Any = None) -> None:
        super().__init__(np.array(as_array(value, dtype), copy=True), name=name)
        self.trainable = trainable
        self.constraint = constraint

    def assign(self, value: Any) -> Variable:
        """Set the value in place (shape must match).

        Raises:
            ValueError: If the new value's shape differs from the variable's.
        """
        arr = as_array(value)
        if arr.shape != self.data.shape:
            raise ValueError(
                f"Variable {self.name!r}.assign: expected a value of shape {self.data.shape}, "
                f"got shape {arr.shape}"
            )
        self.data[...] = arr
        return self

    def assign_add(self, delta: Any) -> Variable:
        """Add ``delta`` in place (``delta`` may broadcast to the variable's shape).

        Raises:
            ValueError: If ``delta`` does not broadcast to the variable's shape.
        """
        self.data += self._delta("assign_add", delta)
        return self

    def assign_sub(self, delta: Any) -> Variable:
        """Subtract ``delta`` in place (``delta`` may broadcast to the variable's shape).

        Raises:
            ValueError: If ``delta`` does not broadcast to the variable's shape.
        """
        self.data -= self._delta("assign_sub", delta)
        return self

    def _delta(self, op: str, delta: Any) -> np.ndarray:
        arr = as_array(delta)
        if arr.shape != self.data.shape:
            try:
                ok = np.broadcast_shapes(arr.shape, self.data.shape) == self.data.shape
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(
                    f"Variable {self.name!r}.{op}: expected a value of shape {self.data.shape} "
                    f"(or one that broadcasts to it), got shape {arr.shape}"
                )
        return arr

    def __repr__(self) -> str:
        return (f"<Variable {self.name!r} shape={self.shape} dtype={self.dtype} "
                f"trainable={self.trainable}>")


from minikeras.autograd import ops  # noqa: E402  (ops needs Tensor defined first)
