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
from minikeras.autograd.forward import tangent_sum
from minikeras.autograd.function import Function
from minikeras.autograd.ops.activation import relu as relu_op
from minikeras.kernels import aligned
from minikeras.kernels.matmul import column_sums, matmul, matmul_tn

__all__ = [
    "AvgPoolGradInput", "BiasAdd", "Conv2D", "ConvGradInput", "ConvGradKernel", "DepthwiseConv2D",
    "MaxPoolGather", "MaxPoolScatter", "Pool2D", "SeparableConv2D", "SeparableConv2DBatchNorm",
    "SeparableConv2DBatchNormRelu", "SeparableConv2DRelu",
]


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

    def jvp(self, ctx, tx, tk):
        """Bilinear in ``(x, kernel)``: the tangent is two depthwise convolutions, same kernel."""
        x, kernel = ctx.saved
        t = tangent_sum(
            None if tx is None else kernels.depthwise_conv2d_forward(
                _to_nhwc(tx.astype(x.dtype, copy=False), ctx.data_format), kernel, *ctx.args),
            None if tk is None else kernels.depthwise_conv2d_forward(x, tk, *ctx.args),
        )
        return _from_nhwc(t, ctx.data_format)

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

    def differentiable_backward(self, ctx, grad, record):
        """Both gradients as ops of their own: :class:`ConvGradInput`, :class:`ConvGradKernel`."""
        return _conv_differentiable_backward("depthwise_conv2d", ctx, grad, record)


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

    def jvp(self, ctx, tx, tk):
        """Bilinear in ``(x, kernel)``: the tangent is two convolutions, same kernel."""
        x, kernel = ctx.saved
        t = tangent_sum(
            None if tx is None else kernels.conv2d_forward(
                _to_nhwc(tx.astype(x.dtype, copy=False), ctx.data_format), kernel, *ctx.args),
            None if tk is None else kernels.conv2d_forward(x, tk.astype(x.dtype, copy=False),
                                                           *ctx.args),
        )
        return _from_nhwc(t, ctx.data_format)

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

    def differentiable_backward(self, ctx, grad, record):
        """Both gradients as ops of their own: :class:`ConvGradInput`, :class:`ConvGradKernel`."""
        return _conv_differentiable_backward("conv2d", ctx, grad, record)


class SeparableConv2D(Function):
    """Depthwise then pointwise (1x1) convolution, optionally plus a bias (then ReLU), as one op.

    One op rather than three saves the intermediate transposes for ``channels_first``, an
    output-sized temporary for the bias, and two tape records per call. With ``relu=True``
    (:class:`SeparableConv2DRelu`) the ReLU is applied in place to each block of the product while
    it is in cache, as ``Dense`` does; the backward pass and the tangent are then masked by the
    output.
    """

    def forward(self, ctx, x, depthwise, pointwise, *bias, strides, dilation, pads, data_format,
                relu=False, scale=None, shift=None):
        """``(depthwise_conv(x) reshaped to rows) @ pointwise (+ bias)`` (affine) (``max(., 0)``).

        ``scale`` and ``shift`` (constants, ``(filters,)``) apply ``z * scale + shift`` per output
        channel after the bias: a batch normalisation with fixed statistics, folded in.
        """
        x = _to_nhwc(_float(x), data_format)
        channels, filters = pointwise.shape[2], pointwise.shape[3]
        p = pointwise.reshape(channels, filters).astype(x.dtype, copy=False)
        # One parallel pass: each thread makes its depthwise rows and, while they are in cache,
        # their product and bias (no second output-sized array, no second pass over memory).
        b = bias[0].astype(x.dtype, copy=False) if bias else None
        # the depthwise output is kept only for a backward pass or a tangent
        y, z = kernels.separable_forward(x, depthwise, p, b, strides, dilation, pads, relu=relu,
                                         scale=scale, shift=shift,
                                         keep_depthwise=any(ctx.needs_input_grad))
        # with the ReLU, its output as NHWC rows (N*Ho*Wo, F): the mask is out > 0
        ctx.save(x, depthwise, pointwise, y, z if relu else None, *bias)
        ctx.args = (strides, dilation, pads)
        ctx.data_format = data_format
        ctx.scale = None if scale is None else np.asarray(scale, dtype=x.dtype)
        out_hw = kernels.output_hw(x.shape[1:3], depthwise.shape[:2], strides, dilation, pads)
        return _from_nhwc(z.reshape(x.shape[0], *out_hw, filters), data_format)

    def jvp(self, ctx, tx, td, tp, *tb):
        """``z = dw(x, d) @ p + b`` is linear in each argument: the tangent is convolutions.

        ``dz = (dw(tx, d) + dw(x, td)) @ p + y @ tp + tb``, with ``y`` the depthwise output the
        forward pass kept. A tangent on ``x`` or ``d`` alone runs the fused separable kernel (one
        pass); on both, the two depthwise tangents are added before one product, which measured
        1.2-2x faster than two fused passes.
        """
        x, depthwise, pointwise, y, out, *bias = ctx.saved
        channels, filters = pointwise.shape[2], pointwise.shape[3]
        p = pointwise.reshape(channels, filters).astype(x.dtype, copy=False)
        terms = []
        if tx is not None:
            tx = _to_nhwc(tx.astype(x.dtype, copy=False), ctx.data_format)
        if tx is not None and td is not None:
            ty = kernels.depthwise_conv2d_forward(tx, depthwise, *ctx.args)
            ty += kernels.depthwise_conv2d_forward(x, td, *ctx.args)
            terms.append(matmul(ty.reshape(-1, channels), p))
        elif tx is not None:
            terms.append(kernels.separable_forward(tx, depthwise, p, None, *ctx.args)[1])
        elif td is not None:
            terms.append(kernels.separable_forward(x, td, p, None, *ctx.args)[1])
        tb = tb[0].astype(x.dtype, copy=False) if tb and tb[0] is not None else None
        if tp is not None:
            tp = tp.reshape(channels, filters).astype(x.dtype, copy=False)
            terms.append(matmul(y.reshape(-1, channels), tp, bias=tb))
        elif tb is not None:
            terms.append(tb)
        z = np.broadcast_to(tangent_sum(*terms), (y.size // channels, filters))
        if ctx.scale is not None:
            z = z * ctx.scale
        if out is not None:
            z = z * (out > 0)
        return _from_nhwc(z.reshape(*y.shape[:3], filters), ctx.data_format)

    def backward(self, ctx, grad):
        """Pointwise part by BLAS, then the depthwise gradient kernels."""
        x, depthwise, pointwise, y, out, *bias = ctx.saved
        needs = ctx.needs_input_grad
        channels, filters = pointwise.shape[2], pointwise.shape[3]
        g = _to_nhwc(grad.astype(x.dtype, copy=False), ctx.data_format).reshape(-1, filters)
        if out is not None:
            g = g * (out > 0)
        if ctx.scale is not None:
            g = g * ctx.scale
        gx = gd = gp = gb = None
        with_bias = bool(bias) and needs[3]
        if needs[2]:
            y2 = y.reshape(-1, channels)
            if with_bias:  # the bias gradient (g's column sums) in the same pass over g
                gp, gb = matmul_tn(y2, g, with_column_sums=True)
            else:
                gp = matmul_tn(y2, g)
            gp = gp.reshape(pointwise.shape).astype(pointwise.dtype, copy=False)
        if with_bias and gb is None:
            gb = column_sums(g)
        grads_bias = [gb.astype(bias[0].dtype, copy=False) if with_bias else None] if bias else []
        if needs[0] or needs[1]:
            p = pointwise.reshape(channels, filters).astype(x.dtype, copy=False)
            # aligned: both depthwise gradient kernels stream through it (see kernels.aligned)
            gy = matmul(g, p.T, out=aligned.empty((g.shape[0], channels), x.dtype))
            gy = gy.reshape(y.shape)
            if needs[0]:
                gx = kernels.depthwise_conv2d_grad_input(gy, depthwise, x.shape, *ctx.args)
                gx = _from_nhwc(gx, ctx.data_format)
            if needs[1]:
                gd = kernels.depthwise_conv2d_grad_kernel(x, gy, depthwise.shape, *ctx.args)
                gd = gd.astype(depthwise.dtype, copy=False)
        return (gx, gd, gp, *grads_bias)

    def composite(self, x, depthwise, pointwise, *bias, strides, dilation, pads, data_format,
                  relu=False, scale=None, shift=None):
        """The depthwise op, a 1x1 :class:`Conv2D`, a :class:`BiasAdd`, a ReLU: the same kernels."""
        y = DepthwiseConv2D.apply(x, depthwise, strides=strides, dilation=dilation, pads=pads,
                                  data_format=data_format)
        z = Conv2D.apply(y, pointwise, strides=(1, 1), dilation=(1, 1), pads=((0, 0), (0, 0)),
                         data_format=data_format)
        if bias:
            z = BiasAdd.apply(z, bias[0], axis=3 if data_format == "channels_last" else 1)
        if scale is not None:
            along = (-1,) if data_format == "channels_last" else (-1, 1, 1)
            z = z * np.reshape(scale, along) + np.reshape(shift, along)
        return relu_op(z) if relu else z


class SeparableConv2DRelu(SeparableConv2D):
    """:class:`SeparableConv2D` applied with ``relu=True``, under its own name.

    The same op; the name makes a listing read ``SeparableConv2D+Relu``, so a reader looking for
    the ReLU sees where it went.
    """

    name = "SeparableConv2D+Relu"


class SeparableConv2DBatchNorm(SeparableConv2D):
    """:class:`SeparableConv2D` with ``scale`` and ``shift``: a batch normalisation folded in.

    A model running at inference with nothing recording runs ``SeparableConv2D`` followed by
    ``BatchNormalization`` as this one op (see :mod:`minikeras.engine.fusion`).
    """

    name = "SeparableConv2D+BatchNorm"


class SeparableConv2DBatchNormRelu(SeparableConv2D):
    """:class:`SeparableConv2D` with a batch normalisation and a ReLU folded in."""

    name = "SeparableConv2D+BatchNorm+Relu"


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

    def jvp(self, ctx, t):
        """Average: the pooling of the tangent. Max: the tangent at each window's maximum."""
        t = _to_nhwc(t.astype(ctx.dtype, copy=False), ctx.data_format)
        if ctx.mode == "avg":
            return _from_nhwc(kernels.avg_pool2d_forward(t, *ctx.args), ctx.data_format)
        # where each maximum is: kept by the forward pass (forward mode marks x as needed)
        (where,) = ctx.saved
        return _from_nhwc(kernels.max_pool2d_gather_from_argmax(where, t), ctx.data_format)

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

    def differentiable_backward(self, ctx, grad, record):
        """The input gradient as an op: a scatter to the maxima, or the averaging's transpose."""
        (where,) = ctx.saved
        if not ctx.needs_input_grad[0]:
            return (None,)
        if ctx.mode == "max":
            return (MaxPoolScatter.apply(grad, where=where, shape=ctx.shape,
                                         data_format=ctx.data_format),)
        return (AvgPoolGradInput.apply(grad, shape=ctx.shape, args=ctx.args,
                                       data_format=ctx.data_format),)


class BiasAdd(Function):
    """``x + bias`` along the channel axis."""

    def forward(self, ctx, x, bias, *, axis):
        """Broadcast the bias along every axis but the channel axis."""
        shape = [1] * x.ndim
        shape[axis] = bias.shape[0]
        ctx.axis, ctx.ndim = axis, x.ndim
        ctx.bias_dtype = bias.dtype
        return x + bias.reshape(shape).astype(x.dtype, copy=False)

    def jvp(self, ctx, tx, tb):
        if tb is not None:
            shape = [1] * ctx.ndim
            shape[ctx.axis] = tb.shape[0]
            tb = tb.reshape(shape)
        return tangent_sum(tx, tb)

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

    def differentiable_backward(self, ctx, grad, record):
        gb = None
        if ctx.needs_input_grad[1]:
            gb = grad.sum(axis=tuple(a for a in range(grad.ndim) if a != ctx.axis))
            if gb.dtype != ctx.bias_dtype:
                gb = gb.astype(ctx.bias_dtype)
        return (grad if ctx.needs_input_grad[0] else None), gb


# ------------------------------------------------------------- gradients as ops (higher order)
#
# The gradients of a convolution are linear in each of their arguments, and each one's
# gradients are the other two ops: with y = conv(x, k), gx = GradInput(g, k) and
# gk = GradKernel(x, g),
#     d<u, GradInput(g, k)>  = conv(u, k) dg + GradKernel(u, g) dk
#     d<u, GradKernel(x, g)> = GradInput(g, u) dx + conv(x, u) dg
# so derivatives of any order run the same three kernels, in both data formats.


def _kernel_fn(family: str, part: str):
    """``kernels.<family>_<part>``, e.g. ``kernels.conv2d_grad_input`` (loaded lazily)."""
    return getattr(kernels, f"{family}_{part}")


def _conv_params(record) -> dict:
    p = record.params
    return {"strides": p["strides"], "dilation": p["dilation"], "pads": p["pads"],
            "data_format": p["data_format"]}


def _conv_differentiable_backward(family: str, ctx, grad, record) -> tuple:
    """The backward of a convolution ``family`` made of the recorded gradient ops."""
    x, kernel = record.inputs
    needs = ctx.needs_input_grad
    kw = _conv_params(record)
    gx = gk = None
    if needs[0]:
        gx = ConvGradInput.apply(grad, kernel, family=family, x_shape=ctx.saved[0].shape, **kw)
    if needs[1]:
        gk = ConvGradKernel.apply(x, grad, family=family, k_shape=kernel.shape, **kw)
    return gx, gk


_FORWARD_OP = {}  # family -> the forward op class, filled in below


class ConvGradInput(Function):
    """The input gradient of a convolution as an op: ``(g, kernel) -> gx``.

    ``family`` is ``"conv2d"`` or ``"depthwise_conv2d"``; ``x_shape`` is the NHWC input shape.
    """

    def forward(self, ctx, g, kernel, *, family, x_shape, strides, dilation, pads, data_format):
        """The kernel ``<family>_grad_input``."""
        g = _to_nhwc(_float(g), data_format)
        ctx.save(g, kernel)
        ctx.family, ctx.args, ctx.data_format = family, (strides, dilation, pads), data_format
        gx = _kernel_fn(family, "grad_input")(g, kernel.astype(g.dtype, copy=False), x_shape,
                                              *ctx.args)
        return _from_nhwc(gx, data_format)

    def backward(self, ctx, u):
        """``conv(u, kernel)`` for ``g`` and ``grad_kernel(u, g)`` for the kernel."""
        g, kernel = ctx.saved
        u = _to_nhwc(u.astype(g.dtype, copy=False), ctx.data_format)
        gg = gk = None
        if ctx.needs_input_grad[0]:
            k = kernel.astype(g.dtype, copy=False)
            gg = _from_nhwc(_kernel_fn(ctx.family, "forward")(u, k, *ctx.args), ctx.data_format)
        if ctx.needs_input_grad[1]:
            gk = _kernel_fn(ctx.family, "grad_kernel")(u, g, kernel.shape, *ctx.args)
            gk = gk.astype(kernel.dtype, copy=False)
        return gg, gk

    def differentiable_backward(self, ctx, u, record):
        g, kernel = record.inputs
        kw = _conv_params(record)
        family = ctx.family
        gg = gk = None
        if ctx.needs_input_grad[0]:
            gg = _FORWARD_OP[family].apply(u, kernel, **kw)
        if ctx.needs_input_grad[1]:
            gk = ConvGradKernel.apply(u, g, family=family, k_shape=kernel.shape, **kw)
        return gg, gk


class ConvGradKernel(Function):
    """The kernel gradient of a convolution as an op: ``(x, g) -> gk``."""

    def forward(self, ctx, x, g, *, family, k_shape, strides, dilation, pads, data_format):
        """The kernel ``<family>_grad_kernel``."""
        x = _to_nhwc(_float(x), data_format)
        g = _to_nhwc(g.astype(x.dtype, copy=False), data_format)
        ctx.save(x, g)
        ctx.family, ctx.args, ctx.data_format = family, (strides, dilation, pads), data_format
        return _kernel_fn(family, "grad_kernel")(x, g, k_shape, *ctx.args)

    def backward(self, ctx, u):
        """``grad_input(g, u)`` for ``x`` and ``conv(x, u)`` for ``g``."""
        x, g = ctx.saved
        u = u.astype(x.dtype, copy=False)
        gx = gg = None
        if ctx.needs_input_grad[0]:
            gx = _from_nhwc(_kernel_fn(ctx.family, "grad_input")(g, u, x.shape, *ctx.args),
                            ctx.data_format)
        if ctx.needs_input_grad[1]:
            gg = _from_nhwc(_kernel_fn(ctx.family, "forward")(x, u, *ctx.args), ctx.data_format)
        return gx, gg

    def differentiable_backward(self, ctx, u, record):
        x, g = record.inputs
        kw = _conv_params(record)
        family = ctx.family
        gx = gg = None
        if ctx.needs_input_grad[0]:
            gx = ConvGradInput.apply(g, u, family=family, x_shape=ctx.saved[0].shape, **kw)
        if ctx.needs_input_grad[1]:
            gg = _FORWARD_OP[family].apply(x, u, **kw)
        return gx, gg


_FORWARD_OP.update(conv2d=Conv2D, depthwise_conv2d=DepthwiseConv2D)


class MaxPoolScatter(Function):
    """The input gradient of max pooling as an op: each output gradient sent to its maximum.

    Linear in the gradient; its own gradient is the gather :class:`MaxPoolGather` (and that
    one's is this scatter again), so max pooling has derivatives of any order (zero beyond
    the first with respect to the input, as for any piecewise-linear function).
    """

    def forward(self, ctx, g, *, where, shape, data_format):
        """The kernel ``max_pool2d_grad_from_argmax``."""
        ctx.where, ctx.data_format = where, data_format
        gx = kernels.max_pool2d_grad_from_argmax(where, _to_nhwc(g, data_format), shape)
        return _from_nhwc(gx, data_format)

    def backward(self, ctx, u):
        return (_gather_at(ctx.where, u, ctx.data_format),)

    def differentiable_backward(self, ctx, u, record):
        return (MaxPoolGather.apply(u, where=ctx.where, data_format=ctx.data_format),)


class MaxPoolGather(Function):
    """``u`` read at each window's maximum: the transpose of :class:`MaxPoolScatter`."""

    def forward(self, ctx, u, *, where, data_format):
        ctx.where, ctx.data_format = where, data_format
        ctx.shape = _to_nhwc(u, data_format).shape
        return _gather_at(where, u, data_format)

    def backward(self, ctx, g):
        gx = kernels.max_pool2d_grad_from_argmax(ctx.where, _to_nhwc(g, ctx.data_format),
                                                 ctx.shape)
        return (_from_nhwc(gx, ctx.data_format),)

    def differentiable_backward(self, ctx, g, record):
        return (MaxPoolScatter.apply(g, where=ctx.where, shape=ctx.shape,
                                     data_format=ctx.data_format),)


def _gather_at(where: np.ndarray, u: np.ndarray, data_format: str) -> np.ndarray:
    """``out[n, i, j, c] = u[n, where[n, i, j, c], c]`` (flat ``y * W + x``; 0 where -1)."""
    u = _to_nhwc(u, data_format)
    n, h, w, c = u.shape
    idx = where.reshape(n, -1, c)
    out = np.take_along_axis(u.reshape(n, h * w, c), np.maximum(idx, 0), axis=1)
    out[idx < 0] = 0
    return _from_nhwc(out.reshape(where.shape), data_format)


class AvgPoolGradInput(Function):
    """The input gradient of average pooling as an op; its gradient is average pooling."""

    def forward(self, ctx, g, *, shape, args, data_format):
        """The kernel ``avg_pool2d_grad_input``."""
        ctx.args, ctx.data_format = args, data_format
        gx = kernels.avg_pool2d_grad_input(_to_nhwc(g, data_format), shape, *args)
        return _from_nhwc(gx, data_format)

    def backward(self, ctx, u):
        u = _to_nhwc(u, ctx.data_format)
        return (_from_nhwc(kernels.avg_pool2d_forward(u, *ctx.args), ctx.data_format),)

    def differentiable_backward(self, ctx, u, record):
        pool_size, strides, dilation, pads = ctx.args
        return (Pool2D.apply(u, pool_size=pool_size, strides=strides, dilation=dilation,
                             pads=pads, data_format=ctx.data_format, mode="avg"),)
