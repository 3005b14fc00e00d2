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

from minikeras.kernels import aligned

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

    def __format__(self, spec: str) -> str:
        # f"{loss:.4f}" on a scalar tensor formats its number (as PyTorch does); a format
        # spec on a bigger tensor is an error that says what works
        if not spec:
            return str(self)
        if self.data.ndim == 0:
            return format(self.data.item(), spec)
        raise TypeError(f"Tensor of shape {self.shape}: a format spec ({spec!r}) needs a "
                        f"scalar tensor; format its values with np.array2string(t.numpy()) "
                        f"or format one element, f'{{t[0]:{spec}}}'")

    def __int__(self) -> int:
        return int(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

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

    # The arithmetic operators (``x + y``, ``x @ w``, ``x[i]``...) and the methods that mirror
    # the ops (``x.sum()``, ``x.reshape(...)``...) run ops of minikeras.autograd.ops, which
    # themselves make Tensors: they are written in minikeras/autograd/operators.py and copied
    # onto this class from there, so neither module has to import the other both ways.


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

    #: How many trainable variables were made so far: the layer engine compares it around a
    #: layer's ``call`` to catch weights made there instead of in ``build``.
    made_trainable = 0

    def __init__(self, value: Any, trainable: bool = True, name: str | None = None,
                 dtype: Any = None, constraint: Any = None) -> None:
        # an array of its own, on a 64-byte boundary: the kernels load weights whole vectors at
        # a time (kernels.aligned), and updates write into it in place
        super().__init__(aligned.copy(as_array(value, dtype)), name=name)
        self.trainable = trainable
        self.constraint = constraint
        if trainable:
            Variable.made_trainable += 1

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
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2,
                               prefix=" " * 9)
        extra = f", name={self.name!r}" if self.name else ""
        frozen = "" if self.trainable else ", trainable=False"
        return f"Variable({body}, shape={self.shape}, dtype={self.dtype}{extra}{frozen})"

