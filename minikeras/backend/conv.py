"""Differentiable convolution, pooling and bias ops for layers (Keras 2 backend signatures).

Each function checks its arguments, then applies one :class:`~minikeras.autograd.Function` of
:mod:`minikeras.autograd.ops.conv` (whose ``forward`` calls a kernel from :mod:`minikeras.kernels`
and ``backward`` the matching gradient kernels). So a mistake is reported as ``"conv2d: ..."``
with what was expected and what came, before anything runs.

Layouts: the kernels work in NHWC. For ``data_format="channels_first"`` the op transposes its input
to NHWC once, and its output (and the gradients) back; weights keep the Keras layouts in both
formats: conv kernel ``(kh, kw, in, out)``, depthwise kernel ``(kh, kw, in, depth_multiplier)``
(output channel ``c*dm + m``), pointwise kernel ``(1, 1, in*dm, filters)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras.autograd import Tensor
from minikeras.autograd import forward as _forward
from minikeras.autograd import recording as _recording
from minikeras.autograd.ops.activation import relu as relu_op
from minikeras.autograd.ops.conv import (
    BiasAdd,
    Conv2D,
    DepthwiseConv2D,
    Pool2D,
    SeparableConv2D,
    SeparableConv2DBatchNorm,
    SeparableConv2DBatchNormRelu,
    SeparableConv2DRelu,
)
from minikeras.backend.config import image_data_format
from minikeras.kernels.padding import PADDINGS, Pads, dilated_size, explicit_pads, output_hw

__all__ = ["bias_add", "conv2d", "depthwise_conv2d", "pool2d", "separable_conv2d"]

_DATA_FORMATS = ("channels_last", "channels_first")


# ---------------------------------------------------------------------------------- checking


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(value.shape) if hasattr(value, "shape") else np.shape(value)


def _data(value: Any) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def _reshape(value: Any, shape: tuple[int, ...]) -> Any:
    return value.reshape(shape) if isinstance(value, Tensor) else np.reshape(value, shape)


def _pair(op: str, name: str, value: Any) -> tuple[int, int]:
    """An int or a pair of ints, each positive, as a pair."""
    pair = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int | np.integer) for v in pair):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{op}: {name} must be positive, got {value!r}")
    return int(pair[0]), int(pair[1])


def _data_format(op: str, value: str | None) -> str:
    if value is None:
        return image_data_format()
    fmt = str(value).lower()
    if fmt not in _DATA_FORMATS:
        raise ValueError(
            f"{op}: data_format must be 'channels_last' or 'channels_first', got {value!r}"
        )
    return fmt


def _padding(op: str, value: str) -> str:
    pad = str(value).lower()
    if pad not in PADDINGS:
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {value!r}")
    return pad


def _check_rank(op: str, name: str, value: Any, rank: int, meaning: str) -> tuple[int, ...]:
    shape = _shape(value)
    if len(shape) != rank:
        raise ValueError(
            f"{op}: {name} must have rank {rank} {meaning}, got shape {shape} (rank {len(shape)})"
        )
    return shape


def _input_layout(op: str, x: Any, data_format: str) -> tuple[tuple[int, int], int]:
    """Check ``x`` is 4-D; return its ``(rows, cols)`` and channel count."""
    meaning = (
        "(batch, rows, cols, channels)"
        if data_format == "channels_last"
        else ("(batch, channels, rows, cols)")
    )
    shape = _check_rank(op, "x", x, 4, meaning)
    if data_format == "channels_last":
        return (shape[1], shape[2]), shape[3]
    return (shape[2], shape[3]), shape[1]


def _window_args(
    op: str, strides, padding, dilation_rate
) -> tuple[tuple[int, int], str, tuple[int, int]]:
    strides = _pair(op, "strides", strides)
    dilation = _pair(op, "dilation_rate", dilation_rate)
    if max(strides) > 1 and max(dilation) > 1:
        raise ValueError(
            f"{op}: strides > 1 together with dilation_rate > 1 is not supported (as in Keras), "
            f"got strides={strides} and dilation_rate={dilation}"
        )
    return strides, _padding(op, padding), dilation


def _check_fits(op, hw, kernel_hw, strides, dilation, padding) -> Pads:
    """Explicit pads, after checking the (dilated) kernel fits in the padded input."""
    pads = explicit_pads(padding, hw, kernel_hw, strides, dilation)
    out_h, out_w = output_hw(hw, kernel_hw, strides, dilation, pads)
    if out_h < 1 or out_w < 1:
        padded = (hw[0] + sum(pads[0]), hw[1] + sum(pads[1]))
        window = (dilated_size(kernel_hw[0], dilation[0]), dilated_size(kernel_hw[1], dilation[1]))
        raise ValueError(
            f"{op}: the window {window} (kernel {tuple(kernel_hw)} with dilation {dilation}) is "
            f"larger than the padded input {padded} (input {tuple(hw)}, padding {padding!r})"
        )
    return pads


def _check_channels(op: str, what: str, got: int, expected: int, because: str) -> None:
    if got != expected:
        raise ValueError(f"{op}: {what} must be {expected} ({because}), got {got}")


# ---------------------------------------------------------------------------------- public


def conv2d(
    x: Any,
    kernel: Any,
    strides: int | tuple[int, int] = (1, 1),
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: int | tuple[int, int] = (1, 1),
) -> Tensor:
    """2-D convolution (Keras ``K.conv2d``).

    Args:
        x: 4-D input, ``(N, H, W, C)`` or ``(N, C, H, W)`` per ``data_format``.
        kernel: ``(kh, kw, C, filters)``.
        strides: Row and column strides.
        padding: ``"valid"`` or ``"same"`` (TensorFlow's rule: the odd pixel goes at the end).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` for the global default.
        dilation_rate: Row and column dilation; must be 1 when a stride is above 1.

    Returns:
        The convolved tensor, in ``data_format``.

    Raises:
        ValueError: On a wrong rank, mismatched channels, bad strides/dilation/padding/data
            format, or a kernel larger than the padded input.
    """
    op = "conv2d"
    data_format = _data_format(op, data_format)
    hw, channels = _input_layout(op, x, data_format)
    k_shape = _check_rank(op, "kernel", kernel, 4, "(rows, cols, in_channels, filters)")
    _check_channels(op, "kernel.shape[2]", k_shape[2], channels, "the input's channels")
    strides, padding, dilation = _window_args(op, strides, padding, dilation_rate)
    pads = _check_fits(op, hw, k_shape[:2], strides, dilation, padding)
    return Conv2D.apply(
        x, kernel, strides=strides, dilation=dilation, pads=pads, data_format=data_format
    )


def depthwise_conv2d(
    x: Any,
    depthwise_kernel: Any,
    strides: int | tuple[int, int] = (1, 1),
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: int | tuple[int, int] = (1, 1),
) -> Tensor:
    """Depthwise 2-D convolution (Keras ``K.depthwise_conv2d``).

    Args:
        x: 4-D input, ``(N, H, W, C)`` or ``(N, C, H, W)`` per ``data_format``.
        depthwise_kernel: ``(kh, kw, C, depth_multiplier)``; output channel ``c*dm + m``.
        strides: Row and column strides.
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` for the global default.
        dilation_rate: Row and column dilation; must be 1 when a stride is above 1.

    Returns:
        A tensor with ``C * depth_multiplier`` channels, in ``data_format``.

    Raises:
        ValueError: As for :func:`conv2d`.
    """
    op = "depthwise_conv2d"
    data_format = _data_format(op, data_format)
    hw, channels = _input_layout(op, x, data_format)
    k_shape = _check_rank(
        op, "depthwise_kernel", depthwise_kernel, 4, "(rows, cols, in_channels, depth_multiplier)"
    )
    _check_channels(op, "depthwise_kernel.shape[2]", k_shape[2], channels, "the input's channels")
    strides, padding, dilation = _window_args(op, strides, padding, dilation_rate)
    pads = _check_fits(op, hw, k_shape[:2], strides, dilation, padding)
    return DepthwiseConv2D.apply(
        x,
        depthwise_kernel,
        strides=strides,
        dilation=dilation,
        pads=pads,
        data_format=data_format,
    )


def separable_conv2d(
    x: Any,
    depthwise_kernel: Any,
    pointwise_kernel: Any,
    strides: int | tuple[int, int] = (1, 1),
    padding: str = "valid",
    data_format: str | None = None,
    dilation_rate: int | tuple[int, int] = (1, 1),
    bias: Any = None,
    relu: bool = False,
    scale: Any = None,
    shift: Any = None,
) -> Tensor:
    """Depthwise then pointwise convolution (Keras ``K.separable_conv2d``), as one op.

    Args:
        x: 4-D input, ``(N, H, W, C)`` or ``(N, C, H, W)`` per ``data_format``.
        depthwise_kernel: ``(kh, kw, C, depth_multiplier)``.
        pointwise_kernel: ``(1, 1, C * depth_multiplier, filters)``.
        strides: Row and column strides of the depthwise step.
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` for the global default.
        dilation_rate: Row and column dilation; must be 1 when a stride is above 1.
        bias: Optional ``(filters,)`` bias added inside the op (a minikeras extension: cheaper
            than a separate :func:`bias_add`, same result).
        relu: Then ``max(., 0)`` (a minikeras extension). When nothing records the call (no tape
            recording, no forward-mode accumulator open: ``predict``, ``no_grad``) the ReLU runs
            inside the op, on each block of the product while it is in cache; otherwise it is a
            separate ``Relu`` op, so a training step's tape is what it was without it.
        scale: Optional ``(filters,)`` array: after the bias and before the ReLU, ``out * scale +
            shift`` per output channel (a minikeras extension: a batch normalisation with fixed
            statistics, folded in). Applied inside the op's kernel when nothing records the call;
            otherwise as separate ops, so gradients reach ``scale`` and ``shift`` if they are
            tensors.
        shift: ``(filters,)``, required with ``scale``.

    Returns:
        A tensor with ``filters`` channels, in ``data_format``.

    Raises:
        ValueError: As for :func:`conv2d`, plus a pointwise kernel that is not ``1x1`` or does not
            take ``C * depth_multiplier`` channels, or a bias, scale or shift that is not
            ``(filters,)``.
    """
    op = "separable_conv2d"
    data_format = _data_format(op, data_format)
    hw, channels = _input_layout(op, x, data_format)
    d_shape = _check_rank(
        op, "depthwise_kernel", depthwise_kernel, 4, "(rows, cols, in_channels, depth_multiplier)"
    )
    _check_channels(op, "depthwise_kernel.shape[2]", d_shape[2], channels, "the input's channels")
    p_shape = _check_rank(
        op,
        "pointwise_kernel",
        pointwise_kernel,
        4,
        "(1, 1, in_channels * depth_multiplier, filters)",
    )
    if p_shape[:2] != (1, 1):
        raise ValueError(f"{op}: pointwise_kernel must be 1x1, got shape {p_shape}")
    _check_channels(
        op,
        "pointwise_kernel.shape[2]",
        p_shape[2],
        channels * d_shape[3],
        "input channels x depth_multiplier",
    )
    for name, vector in (("bias", bias), ("scale", scale), ("shift", shift)):
        if vector is not None and _shape(vector) != (p_shape[3],):
            raise ValueError(f"{op}: {name} must have shape ({p_shape[3]},), "
                             f"got {_shape(vector)}")
    if (scale is None) != (shift is None):
        raise ValueError(f"{op}: scale and shift go together, got only "
                         f"{'scale' if shift is None else 'shift'}")
    strides, padding, dilation = _window_args(op, strides, padding, dilation_rate)
    pads = _check_fits(op, hw, d_shape[:2], strides, dilation, padding)
    extra = () if bias is None else (bias,)
    params = {"strides": strides, "dilation": dilation, "pads": pads, "data_format": data_format}
    recorded = _recording.STATE.active or _forward.STATE.active
    if not recorded and (relu or scale is not None):
        if scale is not None:
            op_class = SeparableConv2DBatchNormRelu if relu else SeparableConv2DBatchNorm
            params.update(scale=_data(scale), shift=_data(shift))
        else:
            op_class = SeparableConv2DRelu
        return op_class.apply(x, depthwise_kernel, pointwise_kernel, *extra, relu=relu, **params)
    out = SeparableConv2D.apply(x, depthwise_kernel, pointwise_kernel, *extra, **params)
    if scale is not None:
        along = (-1,) if data_format == "channels_last" else (-1, 1, 1)
        out = out * _reshape(scale, along) + _reshape(shift, along)
    return relu_op(out) if relu else out


def pool2d(
    x: Any,
    pool_size: int | tuple[int, int],
    strides: int | tuple[int, int] = (1, 1),
    padding: str = "valid",
    data_format: str | None = None,
    pool_mode: str = "max",
    dilation_rate: int | tuple[int, int] = (1, 1),
) -> Tensor:
    """2-D max or average pooling (Keras ``K.pool2d``); padding never takes part.

    Args:
        x: 4-D input, ``(N, H, W, C)`` or ``(N, C, H, W)`` per ``data_format``.
        pool_size: Window rows and columns.
        strides: Row and column strides.
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` for the global default.
        pool_mode: ``"max"`` or ``"avg"``.
        dilation_rate: Window dilation (a minikeras extension; Keras pools are undilated).

    Returns:
        The pooled tensor, in ``data_format``.

    Raises:
        ValueError: On a wrong rank, bad sizes/strides/padding/data format/mode, or a window
            larger than the padded input.
    """
    op = "pool2d"
    data_format = _data_format(op, data_format)
    hw, _ = _input_layout(op, x, data_format)
    if pool_mode not in ("max", "avg"):
        raise ValueError(f"{op}: pool_mode must be 'max' or 'avg', got {pool_mode!r}")
    pool_size = _pair(op, "pool_size", pool_size)
    strides, padding, dilation = _window_args(op, strides, padding, dilation_rate)
    pads = _check_fits(op, hw, pool_size, strides, dilation, padding)
    return Pool2D.apply(
        x,
        pool_size=pool_size,
        strides=strides,
        dilation=dilation,
        pads=pads,
        data_format=data_format,
        mode=pool_mode,
    )


def bias_add(x: Any, bias: Any, data_format: str | None = None) -> Tensor:
    """Add a per-channel bias (Keras ``K.bias_add``).

    Args:
        x: Tensor of rank 2 or more; channels last, or at axis 1 for ``"channels_first"``.
        bias: ``(channels,)``.
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` for the global default.

    Returns:
        ``x`` plus the bias broadcast along every other axis.

    Raises:
        ValueError: On a bias that is not 1-D, a channel count mismatch, or a bad data format.
    """
    op = "bias_add"
    data_format = _data_format(op, data_format)
    x_shape, b_shape = _shape(x), _shape(bias)
    if len(x_shape) < 2:
        raise ValueError(f"{op}: x must have rank 2 or more, got shape {x_shape}")
    _check_rank(op, "bias", bias, 1, "(channels,)")
    axis = len(x_shape) - 1 if data_format == "channels_last" or len(x_shape) == 2 else 1
    _check_channels(
        op, "bias.shape[0]", b_shape[0], x_shape[axis], f"x.shape[{axis}], the channels"
    )
    return BiasAdd.apply(x, bias, axis=axis)
