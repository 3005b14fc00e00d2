"""The fused ops behind two layers: ``Dense`` (matmul, bias, ReLU) and ``BatchNormalization``.

One op rather than a chain of small ones keeps a training step to one tape record per layer and
avoids output-sized temporaries. The layers in :mod:`minikeras.layers` check their inputs and
apply these.
"""

from __future__ import annotations

import numpy as np

from minikeras import kernels
from minikeras.autograd.forward import tangent_sum
from minikeras.autograd.function import Function
from minikeras.autograd.ops._common import data, shape_of
from minikeras.autograd.ops.activation import relu as relu_op
from minikeras.autograd.ops.elementwise import cast, sqrt, square
from minikeras.autograd.ops.linalg import matmul
from minikeras.autograd.ops.reduction import mean as mean_op
from minikeras.autograd.ops.shape import reshape

__all__ = ["BatchNorm", "DenseOp", "DenseReluOp", "inference_scale_shift"]


class DenseOp(Function):
    """``x @ kernel (+ bias) (then ReLU)`` as one op; any leading axes are batch axes."""

    name = "Dense"

    def forward(self, ctx, x, kernel, *bias, relu):
        """One matmul; the bias and the ReLU are applied in place (no extra temporaries)."""
        x2 = x.reshape(-1, x.shape[-1])
        out = x2 @ kernel
        if bias:
            out += bias[0]
        if relu:
            np.maximum(out, 0, out=out)
        ctx.save(x2, kernel, out if relu else None)
        ctx.x_shape, ctx.has_bias = x.shape, bool(bias)
        return out.reshape(*x.shape[:-1], kernel.shape[1])

    def jvp(self, ctx, tx, tk, *tb):
        """``tx @ W + x @ tW + tb``, masked by the ReLU like the output."""
        x2, kernel, out = ctx.saved
        rows, units = x2.shape[0], kernel.shape[1]
        t = tangent_sum(None if tx is None else tx.reshape(rows, -1) @ kernel,
                        None if tk is None else x2 @ tk,
                        tb[0] if tb else None)
        if t is None:
            return None
        t = np.broadcast_to(t, (rows, units))  # only the bias had a tangent: one row
        if out is not None:
            t = t * (out > 0)
        return t.reshape(*ctx.x_shape[:-1], units)

    def backward(self, ctx, grad):
        """``g @ Wᵀ``, ``xᵀ @ g`` and the column sums of ``g`` (masked by the ReLU)."""
        x2, kernel, out = ctx.saved
        g = grad.reshape(-1, kernel.shape[1])
        if out is not None:
            g = g * (out > 0)
        needs = ctx.needs_input_grad
        gx = (g @ kernel.T).reshape(ctx.x_shape) if needs[0] else None
        gk = x2.T @ g if needs[1] else None
        if not ctx.has_bias:
            return gx, gk
        return gx, gk, (g.sum(axis=0) if needs[2] else None)

    def composite(self, x, kernel, *bias, relu):
        """Matmul, bias and ReLU as three ops (for higher-order gradients)."""
        shape = shape_of(x)
        out = matmul(reshape(x, (-1, shape[-1])), kernel)
        if bias:
            out = out + bias[0]
        if relu:
            out = relu_op(out)
        return reshape(out, (*shape[:-1], shape_of(kernel)[1]))


class DenseReluOp(DenseOp):
    """:class:`DenseOp` applied with ``relu=True``, under its own name.

    The same op (no extra cost); only the name differs, so tape listings and drawings read
    ``Dense+Relu`` and a reader looking for the ReLU sees where it went.
    """

    name = "Dense+Relu"


def _last_axis(bshape: tuple[int, ...], x: np.ndarray) -> bool:
    """Whether the statistics run along the last axis only (channels last), with x floats."""
    return (len(bshape) == x.ndim and x.ndim > 0 and x.dtype.kind == "f"
            and all(d == 1 for d in bshape[:-1]) and bshape[-1] == x.shape[-1])


def _scale_shift(g: np.ndarray, b: np.ndarray, mean: np.ndarray, inv: np.ndarray) -> tuple:
    """``gamma / sqrt(var + eps)`` and ``beta - mean * that``: normalisation as ``x * a + b``."""
    scale = g.reshape(-1) * inv.reshape(-1)
    return scale, b.reshape(-1) - mean.reshape(-1) * scale


def inference_scale_shift(gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
                          var: np.ndarray, eps: float, dtype: np.dtype) -> tuple:
    """The per-channel ``(scale, shift)`` that :class:`BatchNorm` applies with fixed statistics.

    ``(x - mean) / sqrt(var + eps) * gamma + beta`` is ``x * scale + shift``. Computed exactly as
    :meth:`BatchNorm.forward` computes it for the last axis, so a layer that applies them itself
    (a convolution with the normalisation folded in, at inference) gives the same numbers.

    Args:
        gamma: ``(C,)``.
        beta: ``(C,)``.
        mean: ``(C,)``, the moving mean.
        var: ``(C,)``, the moving variance.
        eps: Added to the variance.
        dtype: The dtype of the data to normalise.

    Returns:
        ``(scale, shift)``, two ``(C,)`` arrays of ``dtype``.
    """
    inv = (1.0 / np.sqrt(var + eps)).astype(dtype, copy=False)
    g = np.asarray(gamma).astype(dtype, copy=False)
    b = np.asarray(beta).astype(dtype, copy=False)
    return _scale_shift(g, b, np.asarray(mean, dtype=dtype), inv)


class BatchNorm(Function):
    """``(x - mean) / sqrt(var + eps) * gamma + beta`` along ``axes``.

    With ``batch_stats`` the mean and variance are the batch's own (passed in, computed once by
    the layer), so the backward pass includes their dependence on ``x``; otherwise they are
    constants (the moving averages).
    """

    name = "BatchNorm"

    def forward(self, ctx, x, gamma, beta, *, mean, var, axes, bshape, eps, batch_stats):
        """Normalise, scale and shift."""
        inv = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
        g = gamma.reshape(bshape).astype(x.dtype, copy=False)
        b = beta.reshape(bshape).astype(x.dtype, copy=False)
        if _last_axis(bshape, x):
            # One pass each (kernels.channel_affine) instead of numpy's four passes and three
            # temporaries: batch norm was 40% of a MobileNet-style predict.
            mean = np.asarray(mean, dtype=x.dtype).reshape(-1)
            inv = inv.reshape(-1)
            if not any(ctx.needs_input_grad):  # inference: one scale, one shift per channel
                return kernels.channel_affine(x, *_scale_shift(g, b, mean, inv))
            xhat = kernels.channel_affine(x, inv, -mean * inv)
            out = kernels.channel_affine(xhat, g.reshape(-1), b.reshape(-1))
            ctx.save(xhat, inv.reshape(bshape), g)
            ctx.axes, ctx.batch_stats = axes, batch_stats
            ctx.param_dtype = gamma.dtype
            ctx.last_axis = True
            return out
        xhat = (x - mean) * inv
        out = xhat * g
        out += b
        ctx.save(xhat, inv, g)
        ctx.axes, ctx.batch_stats = axes, batch_stats
        ctx.param_dtype = gamma.dtype
        return out

    def jvp(self, ctx, tx, tgamma, tbeta):
        """``d xhat · gamma + xhat · d gamma + d beta``.

        With batch statistics the mean and variance move with ``x``: differentiating
        ``(x - mean) / sqrt(var + eps)`` gives ``inv (t - mean(t) - xhat mean(xhat t))``.
        """
        xhat, inv, g = ctx.saved
        dxhat = None
        if tx is not None:
            if ctx.batch_stats:
                axes = ctx.axes
                dxhat = tx - tx.mean(axis=axes, keepdims=True)
                dxhat -= xhat * (xhat * tx).mean(axis=axes, keepdims=True)
                dxhat *= inv
            else:
                dxhat = tx * inv
        return tangent_sum(None if dxhat is None else dxhat * g,
                           None if tgamma is None else xhat * tgamma.reshape(g.shape),
                           None if tbeta is None else tbeta.reshape(g.shape))

    def backward(self, ctx, grad):
        """Gradients for ``x``, ``gamma`` and ``beta``."""
        xhat, inv, g = ctx.saved
        axes = ctx.axes
        needs = ctx.needs_input_grad
        dt = ctx.param_dtype
        if getattr(ctx, "last_axis", False):
            # Two passes (kernels.channel_sums, kernels.channel_affine2) instead of about eight
            # numpy passes and four temporaries: 25% of a MobileNet-style training step.
            gbeta, ggamma = kernels.channel_sums(grad, xhat)
            gx = None
            if needs[0]:
                gi = (g * inv).reshape(-1).astype(np.float64)
                if ctx.batch_stats:  # the batch mean and variance depend on x too
                    n = grad.size // g.size
                    gx = kernels.channel_affine2(grad, xhat, gi, -gi * ggamma / n, -gi * gbeta / n)
                else:
                    gx = kernels.channel_affine(grad, gi, np.zeros_like(gi))
            return (gx, ggamma.astype(dt) if needs[1] else None,
                    gbeta.astype(dt) if needs[2] else None)
        gbeta = grad.sum(axis=axes)
        ggamma = (grad * xhat).sum(axis=axes)
        gx = None
        if needs[0]:
            dxhat = grad * g
            if ctx.batch_stats:
                n = grad.size // g.size
                shape = g.shape
                dxhat -= (dxhat.sum(axis=axes) / n).reshape(shape)
                dxhat -= xhat * (ggamma * g.reshape(-1) / n).reshape(shape)
            gx = dxhat * inv
        return (gx, ggamma.astype(dt, copy=False) if needs[1] else None,
                gbeta.astype(dt, copy=False) if needs[2] else None)

    def composite(self, x, gamma, beta, *, mean, var, axes, bshape, eps, batch_stats):
        """The normalisation as ops; batch statistics are recomputed from ``x`` as ops."""
        if batch_stats:
            mean = mean_op(x, axes, keepdims=True)
            var = mean_op(square(x - mean), axes, keepdims=True)
        dtype = data(x).dtype
        inv = 1.0 / sqrt(cast(var, dtype) + eps)
        scale = cast(reshape(gamma, bshape), dtype)
        shift = cast(reshape(beta, bshape), dtype)
        return (x - mean) * inv * scale + shift
