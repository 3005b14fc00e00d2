"""Reductions: sum, mean, max, min, var, std, argmax."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from minikeras.autograd.function import Function
from minikeras.autograd.ops._common import norm_axis, shape_of
from minikeras.autograd.ops.elementwise import sqrt
from minikeras.autograd.tensor import Tensor


def _expand(grad: np.ndarray, shape: tuple, axis: tuple | None, keepdims: bool) -> np.ndarray:
    """Re-insert the reduced axes so ``grad`` broadcasts against the input."""
    if not keepdims:
        axes = range(len(shape)) if axis is None else axis
        grad = np.expand_dims(grad, tuple(axes))
    return grad


class Sum(Function):
    """Sum over ``axis``; the gradient is the incoming one broadcast back."""

    def forward(self, ctx, x, *, axis, keepdims):
        ctx.shape, ctx.axis, ctx.keepdims = x.shape, axis, keepdims
        return np.asarray(x.sum(axis=axis, keepdims=keepdims))

    def backward(self, ctx, grad):
        g = _expand(grad, ctx.shape, ctx.axis, ctx.keepdims)
        return (np.broadcast_to(g, ctx.shape),)


class Mean(Function):
    """Mean over ``axis``."""

    def forward(self, ctx, x, *, axis, keepdims):
        ctx.shape, ctx.axis, ctx.keepdims = x.shape, axis, keepdims
        out = np.asarray(x.mean(axis=axis, keepdims=keepdims))
        ctx.count = x.size // builtins.max(out.size, 1) if x.size else 1
        return out

    def backward(self, ctx, grad):
        g = _expand(grad, ctx.shape, ctx.axis, ctx.keepdims)
        return (np.broadcast_to(g / grad.dtype.type(ctx.count), ctx.shape),)


class _Extreme(Function):
    reduce = staticmethod(np.max)

    def forward(self, ctx, x, *, axis, keepdims):
        out = np.asarray(self.reduce(x, axis=axis, keepdims=True))
        ctx.save(x, out)
        ctx.axis, ctx.keepdims = axis, keepdims
        return out if keepdims else np.asarray(
            out.reshape([d for i, d in enumerate(out.shape)
                         if not (axis is None or i in axis)]))

    def backward(self, ctx, grad):
        x, out = ctx.saved
        hit = x == out
        # ties share the gradient equally, so the result is the same whichever wins
        count = hit.sum(axis=ctx.axis, keepdims=True)
        g = _expand(grad, x.shape, ctx.axis, ctx.keepdims)
        return (g * hit / count.astype(grad.dtype),)


class Max(_Extreme):
    """Maximum over ``axis``; tied maxima share the gradient."""

    reduce = staticmethod(np.max)


class Min(_Extreme):
    """Minimum over ``axis``; tied minima share the gradient."""

    reduce = staticmethod(np.min)


class Var(Function):
    """Population variance over ``axis`` (``ddof=0``, as Keras)."""

    def forward(self, ctx, x, *, axis, keepdims):
        mean = x.mean(axis=axis, keepdims=True)
        centered = x - mean
        out = np.asarray((centered * centered).mean(axis=axis, keepdims=keepdims))
        ctx.save(centered)
        ctx.axis, ctx.keepdims = axis, keepdims
        ctx.count = x.size // builtins.max(out.size, 1) if x.size else 1
        return out

    def backward(self, ctx, grad):
        (centered,) = ctx.saved
        g = _expand(grad, centered.shape, ctx.axis, ctx.keepdims)
        return (g * centered * grad.dtype.type(2.0 / ctx.count),)


class Argmax(Function):
    """Index of the maximum (not differentiable)."""

    differentiable = False

    def forward(self, ctx, x, *, axis):
        return np.asarray(np.argmax(x, axis=axis))


class Argmin(Function):
    """Index of the minimum (not differentiable)."""

    differentiable = False

    def forward(self, ctx, x, *, axis):
        return np.asarray(np.argmin(x, axis=axis))


def _reduce(cls: type[Function], op: str, x: Any, axis: Any, keepdims: bool) -> Tensor:
    ndim = len(shape_of(x))
    axes = norm_axis(op, axis, ndim)
    if axes is not None and len(set(axes)) != len(axes):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return cls.apply(x, axis=axes, keepdims=bool(keepdims))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum of elements over ``axis`` (all axes when ``None``)."""
    return _reduce(Sum, "sum", x, axis, keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean of elements over ``axis``."""
    return _reduce(Mean, "mean", x, axis, keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``."""
    if 0 in shape_of(x):
        raise ValueError(f"max: cannot reduce an empty tensor of shape {shape_of(x)}")
    return _reduce(Max, "max", x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``."""
    if 0 in shape_of(x):
        raise ValueError(f"min: cannot reduce an empty tensor of shape {shape_of(x)}")
    return _reduce(Min, "min", x, axis, keepdims)


def var(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Population variance over ``axis``."""
    return _reduce(Var, "var", x, axis, keepdims)


def std(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Population standard deviation over ``axis`` (``sqrt(var)``)."""
    return sqrt(var(x, axis, keepdims))


def argmax(x: Any, axis: Any = None) -> Tensor:
    """Indices of the maxima along ``axis`` (an integer tensor; flat index when ``None``)."""
    return _arg(Argmax, "argmax", x, axis)


def argmin(x: Any, axis: Any = None) -> Tensor:
    """Indices of the minima along ``axis`` (an integer tensor; flat index when ``None``)."""
    return _arg(Argmin, "argmin", x, axis)


def _arg(cls: type[Function], op: str, x: Any, axis: Any) -> Tensor:
    shape = shape_of(x)
    if 0 in shape:
        raise ValueError(f"{op}: cannot take {op} of an empty tensor of shape {shape}")
    if axis is not None:
        if not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{op}: axis must be an int or None, got {axis!r}")
        (axis,) = norm_axis(op, axis, len(shape))
    return cls.apply(x, axis=axis)
