"""`Function`: one differentiable op, its forward and backward side by side.

Every op in minikeras is a subclass of :class:`Function` whose ``forward`` and
``backward`` work on plain numpy arrays. ``Function.apply`` wraps the call: it
unwraps tensors into arrays, runs ``forward``, wraps the result into a new
:class:`~minikeras.autograd.tensor.Tensor` and, when a tape is recording and an
input is watched, appends a :class:`Record` of the call to that tape; when a
forward-mode accumulator follows an input, it also runs the op's ``jvp``.

``apply`` runs for every op of every training step, so it is written to do as
little as possible: no imports, one small allocation per object it must
create (the context, the output tensor and, when recording, the record).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras.autograd import forward as _forward
from minikeras.autograd import recording as _recording
from minikeras.autograd.tensor import Tensor, as_array


class Context:
    """Scratch space an op keeps between its forward and its backward.

    ``forward`` stores arrays with ``ctx.save(...)`` and small values (axes,
    shapes, flags) as plain attributes (``ctx.axis = axis``); ``backward``
    reads them back. Keep arrays in ``save``: that is what a non-persistent
    tape frees as soon as the reverse sweep has used them.

    Attributes:
        saved: The arrays saved by ``ctx.save(...)`` during forward.
        needs_input_grad: One boolean per positional input: whether anyone
            needs the gradient with respect to that input (a tape watching
            it, or a forward-mode accumulator following it). Backward may
            return ``None`` where this is ``False``.
    """

    # The two attributes every op uses get slots; the ``__dict__`` for an op's
    # own attributes is only created when the op sets one.
    __slots__ = ("saved", "needs_input_grad", "__dict__")

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self.saved: tuple = ()

    def save(self, *arrays: Any) -> None:
        """Keep arrays for the backward pass (released after a non-persistent sweep)."""
        self.saved = arrays

    def release(self) -> None:
        """Drop the saved arrays, so memory is freed once the gradient is taken.

        Only what ``save`` kept is dropped here, which is why ops keep arrays
        with ``ctx.save`` and only small values (axes, shapes) as attributes:
        those go when the record itself goes.
        """
        self.saved = _recording.RELEASED

    @property
    def released(self) -> bool:
        """Whether :meth:`release` dropped the saved arrays."""
        return self.saved is _recording.RELEASED




class Record:
    """One entry of the tape: which op ran, on which tensors, giving which tensor.

    Attributes:
        function: The :class:`Function` subclass instance that ran.
        ctx: Its :class:`Context` (saved arrays and parameters).
        inputs: The op's positional inputs (tensors, or arrays for constants).
        output: The tensor the op produced.
        params: The op's keyword parameters (``axis=...``), or ``None``.
        index: Position of the record on the tape it was first recorded on.
        holders: How many tapes hold this record; its saved arrays are freed
            when the last non-persistent one is done with them.
    """

    __slots__ = ("function", "ctx", "inputs", "output", "params", "index", "holders")

    def __init__(self, function: Function, ctx: Context, inputs: tuple, output: Tensor,
                 params: dict | None = None) -> None:
        self.function = function
        self.ctx = ctx
        self.inputs = inputs
        self.output = output
        # the keyword parameters of the call: a higher-order backward may run the op again
        self.params = params
        self.index = -1
        self.holders = 0

    @property
    def op_name(self) -> str:
        """The op's name, e.g. ``"Multiply"``."""
        return self.function.name

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        """The shape of each positional input."""
        return [np.shape(x.data if isinstance(x, Tensor) else x) for x in self.inputs]

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The shape of the output."""
        return self.output.shape

    def __repr__(self) -> str:
        ins = ", ".join(_describe(t) for t in self.inputs)
        return f"{_describe(self.output)} = {self.op_name}({ins})"


def _describe(x: Any) -> str:
    """How an op input reads in a tape listing: ``%uid[shape]``, a name, or a constant."""
    if isinstance(x, Tensor):
        return f"{x.name or '%' + str(x.uid)}{list(x.shape)}"
    arr = np.asarray(x)
    return repr(arr.item()) if arr.ndim == 0 else f"const{list(arr.shape)}"


class GraphContext:
    """A view of a :class:`Context` whose saved arrays are replaced by the tensors they came from.

    Used by :meth:`Function.differentiable_backward` to run an op's ``backward`` on tensors:
    every other attribute (axes, shapes, ``needs_input_grad``) reads through to the real context.
    """

    __slots__ = ("saved", "_ctx")

    def __init__(self, ctx: Context, record: Record) -> None:
        self._ctx = ctx
        self.saved = tuple(_as_recorded(a, record) for a in ctx.saved)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def _as_recorded(value: Any, record: Record) -> Any:
    """The tensor of ``record`` whose array ``value`` is, or ``value`` itself if it is constant."""
    if not isinstance(value, (np.ndarray, np.generic)):
        return value  # shapes, flags, None
    if value is record.output.data:
        return record.output
    for x in record.inputs:
        if isinstance(x, Tensor) and value is x.data:
            return x
        if value is x:
            return value  # a constant input given as an array
    if value.dtype.kind not in "fc":
        return value  # masks, labels, indices: no derivative to follow
    raise NotImplementedError(
        f"{record.op_name}: higher-order gradients need the op's backward written on tensors, "
        f"but it saved a {value.dtype} array of shape {value.shape} that is neither an input nor "
        f"the output; give {record.op_name} a differentiable_backward method"
    )


class Function:
    """Base class of every differentiable op.

    Subclasses implement ``forward(ctx, *arrays, **params)`` returning one
    numpy array, and ``backward(ctx, grad)`` returning one gradient per
    positional input (``None`` for an input that needs none). Broadcasting is
    undone centrally by the tape, so ``backward`` may return a gradient of
    the broadcast shape. Keyword parameters are not differentiable.

    For forward mode, ``jvp(ctx, *tangents)``, written between the two,
    returns the output's tangent from one tangent per positional input
    (``None`` for an input without one); see :mod:`minikeras.autograd.forward`.

    A ``ValueError``, ``TypeError`` or ``IndexError`` raised by ``forward`` is
    re-raised naming the op and the shapes of its inputs.

    Example:
        >>> class Square(Function):
        ...     def forward(self, ctx, x):
        ...         ctx.save(x)
        ...         return x * x
        ...     def jvp(self, ctx, t):
        ...         (x,) = ctx.saved
        ...         return 2 * x * t
        ...     def backward(self, ctx, grad):
        ...         (x,) = ctx.saved
        ...         return (2 * x * grad,)
    """

    #: Shown in tape listings and drawings; defaults to the class name.
    name: str = ""
    #: False for ops whose output is never differentiable (comparisons, argmax).
    differentiable: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__
        # One stateless instance per op class: all per-call state lives in ctx,
        # so apply() does not pay for an allocation it does not need.
        cls._instance = None

    def forward(self, ctx: Context, *arrays: np.ndarray, **params: Any) -> np.ndarray:
        """Compute the op on arrays. Subclasses must override."""
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def jvp(self, ctx: Context, *tangents: np.ndarray | None) -> np.ndarray | None:
        """Return the output's tangent from one tangent per positional input (forward mode).

        Runs after ``forward`` (same ``ctx``) when a
        :class:`~minikeras.autograd.forward.ForwardAccumulator` follows an input; ``None`` is
        the tangent of an input it does not follow. The result may have a broadcast shape.
        Ops that support forward mode override this.
        """
        raise NotImplementedError(
            f"{self.name} has no forward-mode rule: define jvp(self, ctx, *tangents) beside its "
            "forward and backward to use it inside a ForwardAccumulator"
        )

    def backward(self, ctx: Context, grad: np.ndarray) -> tuple:
        """Return the gradient for each positional input. Subclasses must override."""
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def differentiable_backward(self, ctx: Context, grad: Tensor, record: Record) -> tuple:
        """The backward pass made of recorded ops, for gradients of gradients.

        The reverse sweep calls this instead of :meth:`backward` only when a
        tape that is still recording watches something this record involves
        (its inputs, its output or the incoming gradient): the ops computing
        the gradient are then recorded too, so the gradient can be
        differentiated again (TensorFlow 2's nested tapes). Without such a
        tape the sweep never calls it, and first-order gradients cost nothing
        extra.

        The default runs :meth:`backward` itself on tensors: ``grad`` is a
        :class:`Tensor` and ``ctx.saved`` holds the op's input and output
        *tensors* in place of their arrays (boolean and integer arrays, masks
        and labels, stay constant arrays). That is right for every backward
        written with operators and tensor methods (``grad * b``,
        ``grad.reshape(...)``); an op whose backward calls numpy functions on
        saved arrays, or saves an array derived from its inputs, overrides
        this method.

        Args:
            ctx: The context of the forward call (its saved arrays and attributes).
            grad: The gradient of the op's output, a tensor.
            record: The tape record: ``inputs``, ``output`` and ``params`` of the call.

        Returns:
            One gradient per positional input: a tensor, an array (a constant)
            or ``None``.

        Raises:
            NotImplementedError: When ``ctx.saved`` holds a floating array
                that is neither an input nor the output of the op.
        """
        return self.backward(GraphContext(ctx, record), grad)

    def composite(self, *inputs: Any, **params: Any) -> Tensor:
        """The op written as a chain of other ops, for its higher-order gradients.

        A fused op (one kernel for several steps, a hand-written backward)
        may define this instead of a :meth:`differentiable_backward`: the
        tape's sweep then differentiates the chain on a scratch tape,
        which is the same function built from ops that support any order.
        Used only when a recording tape follows the op; the fused forward and
        backward keep serving everything else.
        """
        raise NotImplementedError(f"{type(self).__name__} has no composite form")

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Tensor:
        """Run the op on tensors (or arrays/scalars) and record it if a tape watches an input.

        Args:
            *inputs: Positional inputs: tensors, numpy arrays or Python scalars.
            **params: Non-differentiable keyword parameters passed to ``forward``.

        Returns:
            A new tensor holding the op's output.

        Raises:
            ValueError, TypeError, IndexError: When ``forward`` fails, naming
                the op and the input shapes.
        """
        fn = cls._instance
        if fn is None:
            fn = cls._instance = cls()
        arrays = []
        for x in inputs:  # a plain loop: cheaper than a comprehension for one or two inputs
            arrays.append(x.data if isinstance(x, Tensor) else as_array(x))
        # STATE.active lists the tapes recording right now (empty under no_grad)
        if _recording.STATE.active and cls.differentiable:
            watching, needs = _recording.watchers(inputs)
            ctx = Context(needs or _NO_GRADS[len(arrays)])
        else:
            watching = None
            ctx = Context(_NO_GRADS[len(arrays)])
        # forward mode: the inputs' tangents when an accumulator is open (forward.py)
        tangents = _forward.tangents_in(cls, ctx, inputs) if _FORWARD.active else None
        try:
            out = fn.forward(ctx, *arrays, **params)
        except (ValueError, TypeError, IndexError) as err:
            worded = _op_error(cls, err, arrays)
            if worded is None:
                raise
            raise worded from err
        if type(out) is not np.ndarray:
            out = _scalar_output(out, ctx)
        result = Tensor._wrap(out, fn)
        if watching:
            record = Record(fn, ctx, inputs, result, params)
            for tape in watching:
                tape._record(record)
        if tangents:  # forward mode: the output's tangent for each accumulator
            _forward.tangents_out(fn, ctx, arrays, result, tangents)
        return result


def _scalar_output(out: Any, ctx: Context) -> np.ndarray:
    """Make a numpy scalar output (numpy ufuncs give one for 0-d inputs) a 0-d array.

    The array also replaces the scalar among the saved values, so a saved output is still
    the output tensor's own array (a higher-order backward finds it there by identity).
    """
    arr = np.asarray(out)
    if ctx.saved:
        ctx.saved = tuple(arr if s is out else s for s in ctx.saved)
    return arr


def _op_error(cls: type[Function], err: Exception, arrays: list) -> Exception | None:
    """Re-word an error raised inside ``forward`` so it names the op and the input shapes.

    Returns ``None`` for a custom error type (kept as its author wrote it).
    """
    if type(err) not in (ValueError, TypeError, IndexError):
        return None
    shapes = ", ".join(str(np.shape(a)) for a in arrays)
    return type(err)(f"{cls.name}: {err} (input shapes: {shapes})")


class _NoGrads(dict):
    """Cache of all-False tuples by length (avoids building one per call)."""

    def __missing__(self, n: int) -> tuple[bool, ...]:
        value = (False,) * n
        self[n] = value
        return value


_NO_GRADS = _NoGrads()

#: The open forward-mode accumulators (bound once: ``apply`` reads ``.active`` for every op).
_FORWARD = _forward.STATE
