"""Elementwise ops: arithmetic, math functions and comparisons.

Each class keeps its forward and backward side by side. Gradients of
broadcast operands are reduced back to the operand's shape by the tape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras.autograd.forward import tangent_sum
from minikeras.autograd.function import Function
from minikeras.autograd.ops._common import check_broadcast, data, pair
from minikeras.autograd.tensor import Tensor

# ---------------------------------------------------------------- arithmetic


class Add(Function):
    """``a + b``."""

    def forward(self, ctx, a, b):
        return a + b

    def jvp(self, ctx, ta, tb):
        return tangent_sum(ta, tb)

    def backward(self, ctx, grad):
        return grad, grad


class Subtract(Function):
    """``a - b``."""

    def forward(self, ctx, a, b):
        return a - b

    def jvp(self, ctx, ta, tb):
        return tangent_sum(ta, None if tb is None else -tb)

    def backward(self, ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Multiply(Function):
    """``a * b``."""

    def forward(self, ctx, a, b):
        ctx.save(a, b)
        return a * b

    def jvp(self, ctx, ta, tb):
        a, b = ctx.saved
        return tangent_sum(None if ta is None else ta * b, None if tb is None else a * tb)

    def backward(self, ctx, grad):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Divide(Function):
    """``a / b``."""

    def forward(self, ctx, a, b):
        ctx.save(a, b)
        return a / b

    def jvp(self, ctx, ta, tb):
        a, b = ctx.saved
        return tangent_sum(None if ta is None else ta / b,
                           None if tb is None else -tb * a / (b * b))

    def backward(self, ctx, grad):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        ga = grad / b if need_a else None
        gb = -grad * a / (b * b) if need_b else None
        return ga, gb


class Power(Function):
    """``a ** b`` (the gradient for ``b`` needs ``a > 0``)."""

    def forward(self, ctx, a, b):
        out = np.power(a, b)
        ctx.save(a, b, out)
        return out

    def jvp(self, ctx, ta, tb):
        a, b, out = ctx.saved
        da = None if ta is None else ta * b * np.power(a, b - 1)
        db = None
        if tb is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                db = tb * out * np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
        return tangent_sum(da, db)

    def backward(self, ctx, grad):
        a, b, out = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        ga = grad * b * np.power(a, b - 1) if need_a else None
        gb = None
        if need_b:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = grad * out * np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
        return ga, gb

    def differentiable_backward(self, ctx, grad, record):
        a, b = record.inputs
        need_a, need_b = ctx.needs_input_grad
        ga = grad * b * power(a, b - 1) if need_a else None
        gb = None
        if need_b:
            positive = data(a) > 0  # log a only where it exists, as in backward
            gb = grad * record.output * where(positive, log(where(positive, a, 1.0)), 0.0)
        return ga, gb


class Negative(Function):
    """``-x``."""

    def forward(self, ctx, x):
        return -x

    def jvp(self, ctx, t):
        return -t

    def backward(self, ctx, grad):
        return (-grad,)


class Maximum(Function):
    """Elementwise ``max(a, b)``; ties send half the gradient to each side."""

    def forward(self, ctx, a, b):
        ctx.save(a, b)
        return np.maximum(a, b)

    def jvp(self, ctx, ta, tb):
        a, b = ctx.saved  # ties take the mean of both tangents, as the backward splits evenly
        share = np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0)).astype(np.result_type(a, b))
        return tangent_sum(None if ta is None else ta * share,
                           None if tb is None else tb * (1 - share))

    def backward(self, ctx, grad):
        a, b = ctx.saved
        share = np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0)).astype(grad.dtype)
        return grad * share, grad * (1 - share)


class Minimum(Function):
    """Elementwise ``min(a, b)``; ties send half the gradient to each side."""

    def forward(self, ctx, a, b):
        ctx.save(a, b)
        return np.minimum(a, b)

    def jvp(self, ctx, ta, tb):
        a, b = ctx.saved
        share = np.where(a < b, 1.0, np.where(a == b, 0.5, 0.0)).astype(np.result_type(a, b))
        return tangent_sum(None if ta is None else ta * share,
                           None if tb is None else tb * (1 - share))

    def backward(self, ctx, grad):
        a, b = ctx.saved
        share = np.where(a < b, 1.0, np.where(a == b, 0.5, 0.0)).astype(grad.dtype)
        return grad * share, grad * (1 - share)


class Where(Function):
    """``where(condition, a, b)``: ``a`` where the condition holds, else ``b``."""

    def forward(self, ctx, cond, a, b):
        cond = cond.astype(bool, copy=False)
        ctx.save(cond)
        return np.where(cond, a, b)

    def jvp(self, ctx, tcond, ta, tb):
        if ta is None and tb is None:
            return None  # only the condition has a tangent, and it enters as a boolean
        (cond,) = ctx.saved
        zero = np.zeros((), (ta if ta is not None else tb).dtype)
        return np.where(cond, zero if ta is None else ta, zero if tb is None else tb)

    def backward(self, ctx, grad):
        (cond,) = ctx.saved
        zero = np.zeros((), grad.dtype)
        return None, np.where(cond, grad, zero), np.where(cond, zero, grad)

    def differentiable_backward(self, ctx, grad, record):
        (cond,) = ctx.saved
        return None, where(cond, grad, 0.0), where(cond, 0.0, grad)


class Cast(Function):
    """Change between floating dtypes; the gradient is cast back to the input's dtype."""

    def forward(self, ctx, x, *, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    def jvp(self, ctx, t):
        return t  # cast to the output's dtype centrally (forward.fit_tangent)

    def backward(self, ctx, grad):
        return (grad.astype(ctx.in_dtype),)


class CastNoGrad(Function):
    """Change to an integer or boolean dtype: the result carries no gradient (as TensorFlow)."""

    name = "Cast"
    differentiable = False

    def forward(self, ctx, x, *, dtype):
        return x.astype(dtype)


# ---------------------------------------------------------------- math


class Exp(Function):
    """``exp(x)``."""

    def forward(self, ctx, x):
        out = np.exp(x)
        ctx.save(out)
        return out

    def jvp(self, ctx, t):
        return t * ctx.saved[0]

    def backward(self, ctx, grad):
        return (grad * ctx.saved[0],)


class Log(Function):
    """Natural logarithm."""

    def forward(self, ctx, x):
        ctx.save(x)
        return np.log(x)

    def jvp(self, ctx, t):
        return t / ctx.saved[0]

    def backward(self, ctx, grad):
        return (grad / ctx.saved[0],)


class Log1p(Function):
    """``log(1 + x)``, accurate for small ``x``."""

    def forward(self, ctx, x):
        ctx.save(x)
        return np.log1p(x)

    def jvp(self, ctx, t):
        return t / (1 + ctx.saved[0])

    def backward(self, ctx, grad):
        return (grad / (1 + ctx.saved[0]),)


class Sqrt(Function):
    """Square root."""

    def forward(self, ctx, x):
        out = np.sqrt(x)
        ctx.save(out)
        return out

    def jvp(self, ctx, t):
        return t / (2 * ctx.saved[0])

    def backward(self, ctx, grad):
        return (grad / (2 * ctx.saved[0]),)


class Square(Function):
    """``x * x``."""

    def forward(self, ctx, x):
        ctx.save(x)
        return x * x

    def jvp(self, ctx, t):
        return 2 * t * ctx.saved[0]

    def backward(self, ctx, grad):
        return (2 * grad * ctx.saved[0],)


class Abs(Function):
    """Absolute value (gradient 0 at 0, like ``sign``)."""

    def forward(self, ctx, x):
        ctx.save(x)
        return np.abs(x)

    def jvp(self, ctx, t):
        return t * np.sign(ctx.saved[0])

    def backward(self, ctx, grad):
        return (grad * np.sign(ctx.saved[0]),)


class Sign(Function):
    """``sign(x)``; its gradient is zero everywhere it exists."""

    def forward(self, ctx, x):
        return np.sign(x)

    def jvp(self, ctx, t):
        return np.zeros_like(t)  # zero wherever the derivative exists (JAX's choice too)

    def backward(self, ctx, grad):
        return (np.zeros_like(grad),)


class Clip(Function):
    """Clip into ``[lo, hi]``; the gradient passes only where the value was inside."""

    def forward(self, ctx, x, *, lo, hi):
        ctx.save(x)
        ctx.lo, ctx.hi = lo, hi
        return np.clip(x, lo, hi)

    def jvp(self, ctx, t):
        (x,) = ctx.saved
        inside = np.ones(x.shape, dtype=bool)
        if ctx.lo is not None:
            inside &= x >= ctx.lo
        if ctx.hi is not None:
            inside &= x <= ctx.hi
        return t * inside

    def backward(self, ctx, grad):
        (x,) = ctx.saved
        inside = np.ones(x.shape, dtype=bool)
        if ctx.lo is not None:
            inside &= x >= ctx.lo
        if ctx.hi is not None:
            inside &= x <= ctx.hi
        return (grad * inside,)

    def differentiable_backward(self, ctx, grad, record):
        return self.backward(ctx, grad)  # the mask is a constant: grad * mask is an op already


# ---------------------------------------------------------------- comparisons


def _comparison(name: str, fn: Any) -> type[Function]:
    class Compare(Function):
        differentiable = False

        def forward(self, ctx, a, b):
            return fn(a, b)

    Compare.__name__ = Compare.name = name
    Compare.__qualname__ = name
    Compare.__doc__ = f"Elementwise ``{fn.__name__}`` (not differentiable; gives booleans)."
    return Compare


Equal = _comparison("Equal", np.equal)
NotEqual = _comparison("NotEqual", np.not_equal)
Less = _comparison("Less", np.less)
LessEqual = _comparison("LessEqual", np.less_equal)
Greater = _comparison("Greater", np.greater)
GreaterEqual = _comparison("GreaterEqual", np.greater_equal)


# ---------------------------------------------------------------- functions


def _binary(cls: type[Function], name: str, a: Any, b: Any) -> Tensor:
    a, b = pair(a, b)
    try:
        return cls.apply(a, b)
    except ValueError:
        # checked only on failure, so the common case pays nothing for the clear message
        check_broadcast(name, a, b)
        raise


def add(a: Any, b: Any) -> Tensor:
    """Elementwise ``a + b`` with broadcasting."""
    return _binary(Add, "add", a, b)


def subtract(a: Any, b: Any) -> Tensor:
    """Elementwise ``a - b`` with broadcasting."""
    return _binary(Subtract, "subtract", a, b)


def multiply(a: Any, b: Any) -> Tensor:
    """Elementwise ``a * b`` with broadcasting."""
    return _binary(Multiply, "multiply", a, b)


def divide(a: Any, b: Any) -> Tensor:
    """Elementwise ``a / b`` with broadcasting."""
    return _binary(Divide, "divide", a, b)


def power(a: Any, b: Any) -> Tensor:
    """Elementwise ``a ** b`` with broadcasting."""
    if isinstance(b, (int, float)) and b == 2:
        return Square.apply(a)
    return _binary(Power, "power", a, b)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum with broadcasting."""
    return _binary(Maximum, "maximum", a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum with broadcasting."""
    return _binary(Minimum, "minimum", a, b)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Pick ``a`` where ``condition`` is true, else ``b`` (broadcasting all three)."""
    a, b = pair(a, b)
    try:
        np.broadcast_shapes(np.shape(data(condition)), np.shape(data(a)), np.shape(data(b)))
    except ValueError:
        raise ValueError(
            f"where: condition, a and b could not be broadcast together: shapes "
            f"{np.shape(data(condition))}, {np.shape(data(a))} and {np.shape(data(b))}"
        ) from None
    return Where.apply(condition, a, b)


def negative(x: Any) -> Tensor:
    """``-x``."""
    return Negative.apply(x)


def cast(x: Any, dtype: Any) -> Tensor:
    """Convert to ``dtype`` (differentiable between floating dtypes only).

    Raises:
        TypeError: If ``dtype`` is not a numpy dtype.
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"cast: {dtype!r} is not a dtype") from None
    if dtype.kind != "f":
        return CastNoGrad.apply(x, dtype=dtype)
    return Cast.apply(x, dtype=dtype)


def exp(x: Any) -> Tensor:
    """Elementwise exponential."""
    return Exp.apply(x)


def log(x: Any) -> Tensor:
    """Elementwise natural logarithm."""
    return Log.apply(x)


def log1p(x: Any) -> Tensor:
    """Elementwise ``log(1 + x)``."""
    return Log1p.apply(x)


def sqrt(x: Any) -> Tensor:
    """Elementwise square root."""
    return Sqrt.apply(x)


def square(x: Any) -> Tensor:
    """Elementwise square."""
    return Square.apply(x)


def abs(x: Any) -> Tensor:  # noqa: A001 - mirrors numpy's name
    """Elementwise absolute value."""
    return Abs.apply(x)


def sign(x: Any) -> Tensor:
    """Elementwise sign (-1, 0 or 1)."""
    return Sign.apply(x)


def clip(x: Any, lo: float | None, hi: float | None) -> Tensor:
    """Clip values into ``[lo, hi]`` (either bound may be ``None``)."""
    if lo is None and hi is None:
        raise ValueError("clip: at least one of lo and hi must be given, got None and None")
    if lo is not None and hi is not None and np.any(np.asarray(lo) > np.asarray(hi)):
        raise ValueError(f"clip: lo must be <= hi, got lo={lo} and hi={hi}")
    return Clip.apply(x, lo=lo, hi=hi)


def equal(a: Any, b: Any) -> Tensor:
    """Elementwise ``a == b`` (boolean, not differentiable)."""
    return _binary(Equal, "equal", a, b)


def not_equal(a: Any, b: Any) -> Tensor:
    """Elementwise ``a != b``."""
    return _binary(NotEqual, "not_equal", a, b)


def less(a: Any, b: Any) -> Tensor:
    """Elementwise ``a < b``."""
    return _binary(Less, "less", a, b)


def less_equal(a: Any, b: Any) -> Tensor:
    """Elementwise ``a <= b``."""
    return _binary(LessEqual, "less_equal", a, b)


def greater(a: Any, b: Any) -> Tensor:
    """Elementwise ``a > b``."""
    return _binary(Greater, "greater", a, b)


def greater_equal(a: Any, b: Any) -> Tensor:
    """Elementwise ``a >= b``."""
    return _binary(GreaterEqual, "greater_equal", a, b)
