"""Convolution, pooling and bias ops, whose forward and backward call the Numba kernels.

These are the :class:`~minikeras.autograd.Function` classes behind :mod:`minikeras.backend`'s
``conv2d``, ``depthwise_conv2d``, ``separable_conv2d``, ``pool2d`` and ``bias_add``, which check
their arguments before calling ``Op.apply`` (so a mistake is reported as ``"conv2d: ..."``). The
ops themselves trust their arguments.

Layouts: the kernels work in NHWC. For ``data_format="channels_first"`` an op transposes its input
to NHWC once, and its output (and the gradients) back; weights keep the Keras layouts in both
formats: conv kernel ``(kh, kw, in, out)``, depthwise kernel ``(kh, kw, in, depth_multiplier)``
(output channel ``c*dm + m``), pointwise kernel ``(1, 1, in*dm, filters)``.
"""

from __future__ import annotations

import numpy as np

from minikeras import kernels
from minikeras.autograd.function import Function
from minikeras.kernels.matmul import column_sums, matmul, matmul_tn

__all__ = ["BiasAdd", "Conv2D", "DepthwiseConv2D", "Pool2D", "SeparableConv2D"]


# ---------------------------------------------------------------------------------- layouts


def _to_nhwc(x: np.ndarray, data_format: str) -> np.ndarray:
    if data_format == "channels_last":
        return x
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def _from_nhwc(x: np.ndarray, data_format: str) -> np.ndarray:
    if data_format == "channels_last":
        return x
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _float(x: np.ndarray) -> np.ndarray:
    """Integer inputs compute in float32 (the kernels are float-only)."""
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)


class DepthwiseConv2D(Function):
    """Depthwise convolution; kernel ``(kh, kw, in, depth_multiplier)``."""

    def forward(self, ctx, x, kernel, *, strides, dilation, pads, data_format):
        """Convolve each channel with its own ``depth_multiplier`` filters."""
        x = _to_nhwc(_float(x), data_format)
        out = kernels.depthwise_conv2d_forward(x, kernel, strides, dilation, pads)
        ctx.save(x, kernel)
        ctx.args = (strides, dilation, pads)
        ctx.data_format = data_format
        return _from_nhwc(out, data_format)

    def backward(self, ctx, grad):
        """Input gradient (gather form) and kernel gradient (per-thread accumulators)."""
        x, kernel = ctx.saved
        g = _to_nhwc(grad.astype(x.dtype, copy=False), ctx.data_format)
        gx = gk = None
        if ctx.needs_input_grad[0]:
            gx = kernels.depthwise_conv2d_grad_input(g, kernel, x.shape, *ctx.args)
            gx = _from_nhwc(gx, ctx.data_format)
        if ctx.needs_input_grad[1]:
            gk = kernels.depthwise_conv2d_grad_kernel(x, g, kernel.shape, *ctx.args)
            gk = gk.astype(kernel.dtype, copy=False)
        return gx, gk


class Conv2D(Function):
    """Dense convolution; kernel ``(kh, kw, in, out)``."""

    def forward(self, ctx, x, kernel, *, strides, dilation, pads, data_format):
        """Convolve (im2col + BLAS; a plain matmul for 1x1 stride-1 kernels)."""
        x = _to_nhwc(_float(x), data_format)
        out = kernels.conv2d_forward(x, kernel, strides, dilation, pads)
        ctx.save(x, kernel)
        ctx.args = (strides, dilation, pads)
        ctx.data_format = data_format
        return _from_nhwc(out, data_format)

    def backward(self, ctx, grad):
        """Input gradient (col2im in gather form) and kernel gradient (one matmul)."""
        x, kernel = ctx.saved
        g = _to_nhwc(grad.astype(x.dtype, copy=False), ctx.data_format)
        gx = gk = None
        if ctx.needs_input_grad[0]:
            gx = _from_nhwc(
                kernels.conv2d_grad_input(g, kernel, x.shape, *ctx.args), ctx.data_format
            )
        if ctx.needs_input_grad[1]:
            gk = kernels.conv2d_grad_kernel(x, g, kernel.shape, *ctx.args)
            gk = gk.astype(kernel.dtype, copy=False)
        return gx, gk


class SeparableConv2D(Function):
    """Depthwise then pointwise (1x1) convolution, optionally plus a bias, as one op.

    One op rather than three saves the intermediate transposes for ``channels_first``, an
    output-sized temporary for the bias, and two tape records per call.
    """

    def forward(self, ctx, x, depthwise, pointwise, *bias, strides, dilation, pads, data_format):
        """``(depthwise_conv(x) reshaped to rows) @ pointwise (+ bias)``."""
        x = _to_nhwc(_float(x), data_format)
        channels, filters = pointwise.shape[2], pointwise.shape[3]
        p = pointwise.reshape(channels, filters).astype(x.dtype, copy=False)
        # One parallel pass: each thread makes its depthwise rows and, while they are in cache,
        # their product and bias (no second output-sized array, no second pass over memory).
        b = bias[0].astype(x.dtype, copy=False) if bias else None
        y, z = kernels.separable_forward(x, depthwise, p, b, strides, dilation, pads)
        ctx.save(x, depthwise, pointwise, y, *bias)
        ctx.args = (strides, dilation, pads)
        ctx.data_format = data_format
        return _from_nhwc(z.reshape(*y.shape[:3], filters), data_format)

    def backward(self, ctx, grad):
        """Pointwise part by BLAS, then the depthwise gradient kernels."""
        x, depthwise, pointwise, y, *bias = ctx.saved
        needs = ctx.needs_input_grad
        channels, filters = pointwise.shape[2], pointwise.shape[3]
        g = _to_nhwc(grad.astype(x.dtype, copy=False), ctx.data_format).reshape(-1, filters)
        gx = gd = gp = None
        if needs[2]:
            gp = matmul_tn(y.reshape(-1, channels), g).reshape(pointwise.shape)
            gp = gp.astype(pointwise.dtype, copy=False)
        grads_bias = []
        if bias:
            grads_bias = [column_sums(g).astype(bias[0].dtype, copy=False) if needs[3] else None]
        if needs[0] or needs[1]:
            p = pointwise.reshape(channels, filters).astype(x.dtype, copy=False)
            gy = matmul(g, p.T).reshape(y.shape)
            if needs[0]:
                gx = kernels.depthwise_conv2d_grad_input(gy, depthwise, x.shape, *ctx.args)
                gx = _from_nhwc(gx, ctx.data_format)
            if needs[1]:
                gd = kernels.depthwise_conv2d_grad_kernel(x, gy, depthwise.shape, *ctx.args)
                gd = gd.astype(depthwise.dtype, copy=False)
        return (gx, gd, gp, *grads_bias)


class Pool2D(Function):
    """Max or average pooling (padding never counts)."""

    def forward(self, ctx, x, *, pool_size, strides, dilation, pads, data_format, mode):
        """Pool each window of each channel; for max pooling under a tape, note the argmax."""
        x = _to_nhwc(_float(x), data_format)
        args = (pool_size, strides, dilation, pads)
        where = None
        if mode == "avg":
            out = kernels.avg_pool2d_forward(x, *args)
        elif ctx.needs_input_grad[0]:
            # Keep where each maximum is (one int32 per output, a quarter of the input for 2x2
            # windows) rather than the input: the backward is then a scatter, with no window
            # searched twice and no scratch per image.
            out, where = kernels.max_pool2d_forward_argmax(x, *args)
        else:
            out = kernels.max_pool2d_forward(x, *args)  # predict/no_grad: nothing to keep
        ctx.save(where)
        ctx.shape = x.shape
        ctx.args = args
        ctx.dtype = x.dtype
        ctx.data_format, ctx.mode = data_format, mode
        return _from_nhwc(out, data_format)

    def backward(self, ctx, grad):
        """Route to the first maximum, or share evenly among the window's real pixels."""
        (where,) = ctx.saved
        if not ctx.needs_input_grad[0]:
            return (None,)
        g = _to_nhwc(grad, ctx.data_format)
        if ctx.mode == "max":
            gx = kernels.max_pool2d_grad_from_argmax(
                where, g.astype(ctx.dtype, copy=False), ctx.shape
            )
        else:
            gx = kernels.avg_pool2d_grad_input(g, ctx.shape, *ctx.args)
        return (_from_nhwc(gx, ctx.data_format),)


class BiasAdd(Function):
    """``x + bias`` along the channel axis."""

    def forward(self, ctx, x, bias, *, axis):
        """Broadcast the bias along every axis but the channel axis."""
        shape = [1] * x.ndim
        shape[axis] = bias.shape[0]
        ctx.axis = axis
        ctx.bias_dtype = bias.dtype
        return x + bias.reshape(shape).astype(x.dtype, copy=False)

    def backward(self, ctx, grad):
        """The input gradient passes through; the bias gradient sums all but the channel axis."""
        gb = None
        if ctx.needs_input_grad[1]:
            if ctx.axis == grad.ndim - 1:
                gb = grad.reshape(-1, grad.shape[-1]).sum(axis=0)
            else:
                gb = grad.sum(axis=tuple(a for a in range(grad.ndim) if a != ctx.axis))
            gb = gb.astype(ctx.bias_dtype, copy=False)
        return (grad if ctx.needs_input_grad[0] else None), gb
