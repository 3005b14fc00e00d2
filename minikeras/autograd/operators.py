"""The operators and op-mirroring methods of :class:`~minikeras.autograd.tensor.Tensor`.

``x + y`` is ``ops.add(x, y)``, ``x.sum()`` is ``ops.sum(x)``: each method below just calls an op
of :mod:`minikeras.autograd.ops`. They are written here, on a class of their own, and copied
onto ``Tensor`` when :mod:`minikeras.autograd` is imported: the ops make Tensors, so
``tensor.py`` cannot import them without the two modules importing each other.
"""

from __future__ import annotations

from typing import Any

from minikeras.autograd import ops
from minikeras.autograd import recording as _recording
from minikeras.autograd.tensor import Tensor, Variable

__all__ = ["TensorOperators", "install"]


class TensorOperators:
    """Tensor's arithmetic, comparisons, indexing and op methods (copied onto ``Tensor``)."""

    def astype(self, dtype: Any) -> Tensor:
        """Cast to ``dtype`` (differentiable between floating dtypes)."""
        return ops.cast(self, dtype)

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

    # ---- numpy functions -------------------------------------------------
    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        """``np.sum(tensor)`` and friends: numpy's result on the arrays, or a clear error.

        A numpy function records nothing on the tape. Outside a recording (or on tensors no
        tape watches) it just runs on the arrays, as on ``tensor.numpy()``. On a tensor a tape
        is recording, a function minikeras has as an op would silently cut the gradient, so it
        raises a ``TypeError`` that names the op to use instead. ``np.asarray(tensor)`` goes
        through ``__array__`` and always works.
        """
        name = getattr(func, "__name__", "")
        name = {"amax": "max", "amin": "min"}.get(name, name)  # numpy 1.x's names of max/min
        if (name in ops.__all__ or hasattr(TensorOperators, name)) and _recorded(args, kwargs):
            ways = []
            if hasattr(TensorOperators, name):
                ways.append(f"tensor.{name}(...)")
            if name in ops.__all__:
                ways.append(f"minikeras.backend.{name} (K.{name})")
            raise TypeError(
                f"np.{name} was given a Tensor that a GradientTape is recording; numpy "
                f"functions record no op, so the gradient would be lost. Use "
                f"{' or '.join(ways)}; or, if no gradient is needed, np.{name}(tensor.numpy())"
            )
        return func(*_arrays(args), **_arrays(kwargs))


def _arrays(obj: Any) -> Any:
    """``obj`` with every Tensor (also inside lists, tuples and dicts) replaced by its array."""
    if isinstance(obj, Tensor):
        return obj.data
    if isinstance(obj, (list, tuple)):
        return type(obj)(_arrays(x) for x in obj)
    if isinstance(obj, dict):
        return {k: _arrays(v) for k, v in obj.items()}
    return obj


def _recorded(args: tuple, kwargs: dict) -> bool:
    """Whether an open tape watches (or would watch) any tensor among the arguments."""
    active = _recording.STATE.active
    if not active:
        return False
    stack = [*args, *kwargs.values()]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, Tensor):
            if isinstance(x, Variable) and x.trainable:
                return True
            if any(id(x) in tape._watched for tape in active):
                return True
    return False


def install(cls: type = Tensor) -> None:
    """Copy every method of :class:`TensorOperators` onto ``cls`` (``Tensor``)."""
    for name, member in vars(TensorOperators).items():
        # (defining __eq__ made Python set this class's __hash__ to None: Tensor keeps its own)
        if name not in ("__module__", "__qualname__", "__doc__", "__dict__", "__weakref__",
                        "__hash__"):
            setattr(cls, name, member)
