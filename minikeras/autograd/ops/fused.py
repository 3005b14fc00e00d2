"""The fused ops behind two layers: ``Dense`` (matmul, bias, ReLU) and ``BatchNormalization``.

One op rather than a chain of small ones keeps a training step to one tape record per layer and
avoids output-sized temporaries. The layers in :mod:`minikeras.layers` check their inputs and
apply these.
"""

from __future__ import annotations

import numpy as np

from minikeras import kernels
from minikeras.autograd.function import Function

__all__ = ["BatchNorm", "DenseOp"]


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


def _last_axis(bshape: tuple[int, ...], x: np.ndarray) -> bool:
    """Whether the statistics run along the last axis only (channels last), with x floats."""
    return (len(bshape) == x.ndim and x.ndim > 0 and x.dtype.kind == "f"
            and all(d == 1 for d in bshape[:-1]) and bshape[-1] == x.shape[-1])


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
                scale = g.reshape(-1) * inv
                return kernels.channel_affine(x, scale, b.reshape(-1) - mean * scale)
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
