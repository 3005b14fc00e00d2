"""Activation functions as ops, each with its derivative beside it."""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras import kernels
from minikeras.autograd.function import Function
from minikeras.autograd.ops._common import norm_axis, shape_of
from minikeras.autograd.ops.elementwise import abs as abs_
from minikeras.autograd.ops.elementwise import exp, where
from minikeras.autograd.tensor import Tensor
from minikeras.kernels import matmul as mm

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class Tanh(Function):
    """Hyperbolic tangent; ``d tanh = 1 - tanh²``."""

    def forward(self, ctx, x):
        out = np.tanh(x)
        ctx.save(out)
        return out

    def jvp(self, ctx, t):
        (y,) = ctx.saved
        return t * (1 - y * y)

    def backward(self, ctx, grad):
        (y,) = ctx.saved
        return (grad * (1 - y * y),)


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a negative number only, so large |x| never overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Sigmoid(Function):
    """Logistic sigmoid; ``d σ = σ (1 - σ)``."""

    def forward(self, ctx, x):
        out = _stable_sigmoid(x)
        ctx.save(out)
        return out

    def jvp(self, ctx, t):
        (y,) = ctx.saved
        return t * y * (1 - y)

    def backward(self, ctx, grad):
        (y,) = ctx.saved
        return (grad * y * (1 - y),)


class Relu(Function):
    """``max(x, 0)``; gradient 1 where ``x > 0``.

    Big float arrays go to :mod:`minikeras.kernels.relu` (the same numbers, one pass, on every
    thread); small ones stay with numpy, so a small model compiles nothing for its ReLUs.
    """

    def forward(self, ctx, x):
        out = kernels.relu_forward(x) if _big_float(x) else np.maximum(x, 0)
        ctx.save(out)
        return out

    def jvp(self, ctx, t):
        (y,) = ctx.saved
        return _relu_gradient(t, y)

    def backward(self, ctx, grad):
        (y,) = ctx.saved
        return (_relu_gradient(grad, y),)


def _big_float(x: np.ndarray) -> bool:
    # big enough to split over the threads (where numba is worth loading and compiling)
    return x.dtype.kind == "f" and x.size >= mm.MIN_SPLIT_NUMBERS


def _relu_gradient(grad: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``grad * (y > 0)``, by the kernel when both are big float arrays of one shape."""
    if _big_float(grad) and np.shape(grad) == np.shape(y):
        return kernels.relu_backward(grad, y)
    return grad * (y > 0)


class Relu6(Function):
    """``min(max(x, 0), 6)``."""

    def forward(self, ctx, x):
        ctx.save(x)
        return np.clip(x, 0, 6)

    def jvp(self, ctx, t):
        (x,) = ctx.saved
        return t * ((x > 0) & (x < 6))

    def backward(self, ctx, grad):
        (x,) = ctx.saved
        return (grad * ((x > 0) & (x < 6)),)

    def differentiable_backward(self, ctx, grad, record):
        return self.backward(ctx, grad)  # grad times a constant mask, recorded as one Multiply


class LeakyRelu(Function):
    """``x`` for ``x > 0`` else ``alpha * x``."""

    def forward(self, ctx, x, *, alpha):
        ctx.save(x)
        ctx.alpha = alpha
        return np.where(x > 0, x, x * x.dtype.type(alpha))

    def jvp(self, ctx, t):
        (x,) = ctx.saved
        return np.where(x > 0, t, t * t.dtype.type(ctx.alpha))

    def backward(self, ctx, grad):
        (x,) = ctx.saved
        return (np.where(x > 0, grad, grad * grad.dtype.type(ctx.alpha)),)

    def differentiable_backward(self, ctx, grad, record):
        (x,) = ctx.saved
        return (where(x > 0, grad, grad * ctx.alpha),)


class Elu(Function):
    """``x`` for ``x > 0`` else ``alpha (exp(x) - 1)``."""

    def forward(self, ctx, x, *, alpha):
        neg = x.dtype.type(alpha) * np.expm1(np.minimum(x, 0))
        ctx.save(x, neg)
        ctx.alpha = alpha
        return np.where(x > 0, x, neg)

    def jvp(self, ctx, t):
        x, neg = ctx.saved
        return np.where(x > 0, t, t * (neg + t.dtype.type(ctx.alpha)))

    def backward(self, ctx, grad):
        x, neg = ctx.saved
        return (np.where(x > 0, grad, grad * (neg + grad.dtype.type(ctx.alpha))),)

    def differentiable_backward(self, ctx, grad, record):
        # for x <= 0 the derivative alpha e^x is the output plus alpha
        x = ctx.saved[0]
        return (where(x > 0, grad, grad * (record.output + ctx.alpha)),)


class Selu(Function):
    """Scaled ELU with the self-normalising constants of Klambauer et al. (2017)."""

    def forward(self, ctx, x):
        t = x.dtype.type
        neg = t(SELU_ALPHA) * np.expm1(np.minimum(x, 0))
        ctx.save(x, neg)
        return t(SELU_SCALE) * np.where(x > 0, x, neg)

    def jvp(self, ctx, t):
        x, neg = ctx.saved
        s = t.dtype.type
        return s(SELU_SCALE) * np.where(x > 0, t, t * (neg + s(SELU_ALPHA)))

    def backward(self, ctx, grad):
        x, neg = ctx.saved
        t = grad.dtype.type
        return (t(SELU_SCALE) * np.where(x > 0, grad, grad * (neg + t(SELU_ALPHA))),)

    def differentiable_backward(self, ctx, grad, record):
        # for x <= 0 the derivative scale alpha e^x is the output plus scale alpha
        x = ctx.saved[0]
        return (where(x > 0, grad * SELU_SCALE, grad * (record.output + SELU_SCALE * SELU_ALPHA)),)


class Softplus(Function):
    """``log(1 + exp(x))``, computed without overflow."""

    def forward(self, ctx, x):
        ctx.save(x)
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

    def jvp(self, ctx, t):
        (x,) = ctx.saved
        return t * _stable_sigmoid(x)

    def backward(self, ctx, grad):
        (x,) = ctx.saved
        return (grad * _stable_sigmoid(x),)

    def differentiable_backward(self, ctx, grad, record):
        return (grad * sigmoid(record.inputs[0]),)


class Softsign(Function):
    """``x / (1 + |x|)``."""

    def forward(self, ctx, x):
        ctx.save(x)
        return x / (1 + np.abs(x))

    def jvp(self, ctx, t):
        (x,) = ctx.saved
        d = 1 + np.abs(x)
        return t / (d * d)

    def backward(self, ctx, grad):
        (x,) = ctx.saved
        d = 1 + np.abs(x)
        return (grad / (d * d),)

    def differentiable_backward(self, ctx, grad, record):
        d = 1 + abs_(record.inputs[0])
        return (grad / (d * d),)


class HardSigmoid(Function):
    """Keras 2's piecewise-linear sigmoid: ``clip(0.2 x + 0.5, 0, 1)``."""

    def forward(self, ctx, x):
        ctx.save(x)
        t = x.dtype.type
        return np.clip(t(0.2) * x + t(0.5), 0, 1)

    def jvp(self, ctx, t):
        (x,) = ctx.saved
        return t * t.dtype.type(0.2) * ((x > -2.5) & (x < 2.5))

    def backward(self, ctx, grad):
        (x,) = ctx.saved
        return (grad * grad.dtype.type(0.2) * ((x > -2.5) & (x < 2.5)),)

    def differentiable_backward(self, ctx, grad, record):
        return self.backward(ctx, grad)  # grad times a constant: already recorded ops


class Softmax(Function):
    """Softmax along ``axis``, shifted by the maximum for stability."""

    def forward(self, ctx, x, *, axis):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save(out)
        ctx.axis = axis
        return out

    def jvp(self, ctx, t):
        (y,) = ctx.saved  # the Jacobian diag(y) - y yᵀ is symmetric: the same formula as backward
        return y * (t - (t * y).sum(axis=ctx.axis, keepdims=True))

    def backward(self, ctx, grad):
        (y,) = ctx.saved
        return (y * (grad - (grad * y).sum(axis=ctx.axis, keepdims=True)),)


class LogSoftmax(Function):
    """``x - logsumexp(x)`` along ``axis``, stable for large inputs."""

    def forward(self, ctx, x, *, axis):
        shifted = x - x.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save(out)
        ctx.axis = axis
        return out

    def jvp(self, ctx, t):
        (y,) = ctx.saved  # d(x - logsumexp x) = t - softmax(x)·t
        return t - (np.exp(y) * t).sum(axis=ctx.axis, keepdims=True)

    def backward(self, ctx, grad):
        (y,) = ctx.saved
        return (grad - np.exp(y) * grad.sum(axis=ctx.axis, keepdims=True),)

    def differentiable_backward(self, ctx, grad, record):
        return (grad - exp(record.output) * grad.sum(axis=ctx.axis, keepdims=True),)


def tanh(x: Any) -> Tensor:
    """Elementwise hyperbolic tangent."""
    return Tanh.apply(x)


def sigmoid(x: Any) -> Tensor:
    """Elementwise logistic sigmoid (numerically stable)."""
    return Sigmoid.apply(x)


def relu(x: Any) -> Tensor:
    """Elementwise ``max(x, 0)``."""
    return Relu.apply(x)


def relu6(x: Any) -> Tensor:
    """Elementwise ``min(max(x, 0), 6)``."""
    return Relu6.apply(x)


def leaky_relu(x: Any, alpha: float = 0.2) -> Tensor:
    """Leaky ReLU with slope ``alpha`` for negative inputs (Keras's default 0.2)."""
    return LeakyRelu.apply(x, alpha=float(alpha))


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit."""
    return Elu.apply(x, alpha=float(alpha))


def selu(x: Any) -> Tensor:
    """Scaled exponential linear unit."""
    return Selu.apply(x)


def softplus(x: Any) -> Tensor:
    """``log(1 + exp(x))``."""
    return Softplus.apply(x)


def softsign(x: Any) -> Tensor:
    """``x / (1 + |x|)``."""
    return Softsign.apply(x)


def hard_sigmoid(x: Any) -> Tensor:
    """``clip(0.2 x + 0.5, 0, 1)``."""
    return HardSigmoid.apply(x)


def _axis(op: str, x: Any, axis: int) -> int:
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    ndim = len(shape_of(x))
    if ndim == 0:
        raise ValueError(f"{op}: needs a tensor of rank >= 1, got a scalar")
    return norm_axis(op, axis, ndim)[0]


def softmax(x: Any, axis: int = -1) -> Tensor:
    """Softmax along ``axis`` (numerically stable)."""
    return Softmax.apply(x, axis=_axis("softmax", x, axis))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """Log-softmax along ``axis`` (numerically stable)."""
    return LogSoftmax.apply(x, axis=_axis("log_softmax", x, axis))
