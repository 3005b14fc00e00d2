"""2-D convolution layers: ``Conv2D``, ``SeparableConv2D``, ``DepthwiseConv2D``, ``ZeroPadding2D``.

Keras 2 arguments, weights, configs and shape rules. The arithmetic runs in the backend's
convolution ops (:mod:`minikeras.backend.conv`), whose kernels work in NHWC; both data formats
use Keras's weight layouts:

=================  ==================================  ===============================
layer              weights, in order                   shapes
=================  ==================================  ===============================
Conv2D             kernel, bias                        (kh, kw, in, filters), (filters,)
SeparableConv2D    depthwise_kernel, pointwise_kernel, (kh, kw, in, dm),
                   bias                                (1, 1, in*dm, filters), (filters,)
DepthwiseConv2D    depthwise_kernel, bias              (kh, kw, in, dm), (in*dm,)
=================  ==================================  ===============================

Output length along each spatial axis, with the dilated kernel ``k + (k-1)(d-1)``:
``valid``: ``L - k_dil + 1``; ``same``: ``L``; then ``ceil(out / stride)``. ``same`` pads
``max((out-1)*s + k_dil - L, 0)`` pixels, half before and the odd one after (TensorFlow's rule).
"""

from __future__ import annotations

from typing import Any

from minikeras import activations, constraints, initializers, regularizers
from minikeras import backend as K
from minikeras.backend import conv as C
from minikeras.engine.base_layer import Layer
from minikeras.engine.fusion import Epilogue
from minikeras.engine.input_spec import InputSpec
from minikeras.layers._utils import (
    conv_output_length,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
    single_shape,
    who,
)

__all__ = [
    "Conv2D", "Convolution2D", "DepthwiseConv2D", "SeparableConv2D",
    "SeparableConvolution2D", "ZeroPadding2D",
]


def _linear_or_none(fn: Any) -> Any:
    """``None`` for the identity, so ``call`` skips a no-op (one tape record fewer)."""
    return None if fn is activations.linear else fn


class Conv2D(Layer):
    """2-D convolution: ``activation(conv2d(inputs, kernel) + bias)``.

    Args:
        filters: Number of output channels.
        kernel_size: Int or pair: the window's rows and columns.
        strides: Int or pair. A stride above 1 cannot be combined with a dilation above 1.
        padding: ``'valid'`` or ``'same'`` (case-insensitive).
        data_format: ``'channels_last'`` (``(batch, rows, cols, channels)``) or
            ``'channels_first'`` (``(batch, channels, rows, cols)``); ``None`` means
            :func:`minikeras.backend.image_data_format`.
        dilation_rate: Int or pair: spacing between the kernel taps.
        activation: Name or callable; ``None`` is linear.
        use_bias: Whether to add a bias vector.
        kernel_initializer: Initializer of the kernel.
        bias_initializer: Initializer of the bias.
        kernel_regularizer: Regularizer of the kernel.
        bias_regularizer: Regularizer of the bias.
        activity_regularizer: Regularizer of the output.
        kernel_constraint: Constraint of the kernel.
        bias_constraint: Constraint of the bias.
        **kwargs: Base layer arguments (``name``, ``input_shape``, ``dtype``, ...).

    Raises:
        ValueError: On a bad argument, naming the layer and the value.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = (1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, int] = (1, 1),
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._init_window(filters, kernel_size, strides, padding, data_format, dilation_rate,
                          activation, use_bias, bias_initializer, bias_regularizer,
                          activity_regularizer, bias_constraint)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def _init_window(self, filters, kernel_size, strides, padding, data_format, dilation_rate,
                     activation, use_bias, bias_initializer, bias_regularizer,
                     activity_regularizer, bias_constraint) -> None:
        """Check and store the arguments every 2-D convolution shares."""
        if filters is not None and (
            not isinstance(filters, int) or isinstance(filters, bool) or filters < 1
        ):
            raise ValueError(f"{who(self)}: `filters` must be a positive int, got {filters!r}")
        self.filters = filters
        self.rank = 2
        self.kernel_size = normalize_tuple(self, kernel_size, 2, "kernel_size")
        self.strides = normalize_tuple(self, strides, 2, "strides")
        self.padding = normalize_padding(self, padding)
        self.data_format = normalize_data_format(self, data_format)
        self.dilation_rate = normalize_tuple(self, dilation_rate, 2, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{who(self)}: specifying any stride value != 1 is incompatible with "
                f"specifying any dilation_rate value != 1, got strides={self.strides} and "
                f"dilation_rate={self.dilation_rate}"
            )
        self.activation = activations.get(activation)
        self._activation_fn = _linear_or_none(self.activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(ndim=4)
        self._channel_axis = 1 if self.data_format == "channels_first" else -1

    # ---- shapes ---------------------------------------------------------------------------
    def _input_channels(self, input_shape: Any) -> tuple[tuple, int]:
        """Check a build shape (rank 4, channels defined); return it and the channel count."""
        shape = single_shape(self, input_shape)
        if len(shape) != 4:
            raise ValueError(
                f"{who(self)}: expects a 4-D input (batch, rows, cols, channels) or "
                f"(batch, channels, rows, cols), got shape {shape} (rank {len(shape)})"
            )
        channels = shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"{who(self)}: the channel dimension of the inputs should be defined "
                f"(data_format={self.data_format!r}, channel axis {self._channel_axis % 4}), "
                f"found None in input shape {shape}"
            )
        return shape, channels

    def _output_channels(self, input_channels: int | None) -> int | None:
        return self.filters

    def compute_output_shape(self, input_shape: Any) -> tuple:
        """``(batch, new_rows, new_cols, out_channels)`` (or channels first)."""
        shape = single_shape(self, input_shape)
        if len(shape) != 4:
            raise ValueError(
                f"{who(self)}: expects a 4-D input, got shape {shape} (rank {len(shape)})"
            )
        if self.data_format == "channels_last":
            space, channels = shape[1:3], shape[3]
        else:
            space, channels = shape[2:4], shape[1]
        new_space = []
        for i, length in enumerate(space):
            out = conv_output_length(length, self.kernel_size[i], self.padding, self.strides[i],
                                     self.dilation_rate[i])
            if out is not None and out < 1:
                dilated = self.kernel_size[i] + (self.kernel_size[i] - 1) * (
                    self.dilation_rate[i] - 1)
                raise ValueError(
                    f"{who(self)}: the window ({dilated} along spatial axis {i} with "
                    f"kernel_size={self.kernel_size}, dilation_rate={self.dilation_rate}) is "
                    f"larger than the input (shape {shape}) with padding {self.padding!r}"
                )
            new_space.append(out)
        out_channels = self._output_channels(channels)
        if self.data_format == "channels_last":
            return (shape[0], *new_space, out_channels)
        return (shape[0], out_channels, *new_space)

    # ---- weights and computation ------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Create ``kernel (kh, kw, in, filters)`` and ``bias (filters,)``."""
        _, channels = self._input_channels(input_shape)
        self.kernel = self.add_weight(
            name="kernel", shape=(*self.kernel_size, channels, self.filters),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self._build_bias(self.filters)
        self.input_spec = InputSpec(ndim=4, axes={self._channel_axis: channels})
        self.built = True

    def _build_bias(self, size: int) -> None:
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(size,), initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint,
            )

    def call(self, inputs: Any) -> Any:
        """Convolve, add the bias, apply the activation."""
        out = C.conv2d(inputs, self.kernel, self.strides, self.padding, self.data_format,
                       self.dilation_rate)
        if self.bias is not None:
            out = C.bias_add(out, self.bias, self.data_format)
        fn = self._activation_fn
        return out if fn is None else fn(out)

    def _window_config(self) -> dict:
        return {
            **Layer.get_config(self),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
        }

    def _bias_config(self) -> dict:
        return {
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }

    def get_config(self) -> dict:
        """Keras 2's keys: the window arguments, activation by name, the rest as configs."""
        return {
            **self._window_config(),
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            **self._bias_config(),
        }


class SeparableConv2D(Conv2D):
    """Depthwise separable 2-D convolution.

    First a depthwise convolution (each input channel convolved with its own
    ``depth_multiplier`` filters), then a pointwise ``1x1`` convolution mixing the
    ``in * depth_multiplier`` channels into ``filters``, then the bias and the activation.
    The whole thing runs as one fused backend op.

    Args:
        filters: Number of output channels.
        kernel_size: Int or pair: the depthwise window's rows and columns.
        strides: Int or pair. A stride above 1 cannot be combined with a dilation above 1.
        padding: ``'valid'`` or ``'same'`` (case-insensitive).
        data_format: ``'channels_last'`` or ``'channels_first'``; ``None`` means
            :func:`minikeras.backend.image_data_format`.
        depth_multiplier: Depthwise output channels per input channel.
        activation: Name or callable; ``None`` is linear.
        use_bias: Whether to add a bias vector.
        depthwise_initializer: Initializer of the depthwise kernel.
        pointwise_initializer: Initializer of the pointwise kernel.
        bias_initializer: Initializer of the bias.
        depthwise_regularizer: Regularizer of the depthwise kernel.
        pointwise_regularizer: Regularizer of the pointwise kernel.
        bias_regularizer: Regularizer of the bias.
        activity_regularizer: Regularizer of the output.
        depthwise_constraint: Constraint of the depthwise kernel.
        pointwise_constraint: Constraint of the pointwise kernel.
        bias_constraint: Constraint of the bias.
        dilation_rate: Int or pair (accepted as in Keras 2.0.9+).
        **kwargs: Base layer arguments (``name``, ``input_shape``, ``dtype``, ...).

    Raises:
        ValueError: On a bad argument, naming the layer and the value.

    Example:
        >>> layer = SeparableConv2D(6, 3, depth_multiplier=2)
        >>> layer.compute_output_shape((None, 7, 6, 3))
        (None, 5, 4, 6)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = (1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        dilation_rate: int | tuple[int, int] = (1, 1),
        **kwargs: Any,
    ) -> None:
        Layer.__init__(self, **kwargs)
        self._init_window(filters, kernel_size, strides, padding, data_format, dilation_rate,
                          activation, use_bias, bias_initializer, bias_regularizer,
                          activity_regularizer, bias_constraint)
        self.depth_multiplier = _depth_multiplier(self, depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape: Any) -> None:
        """Create ``depthwise_kernel``, ``pointwise_kernel`` and ``bias``, in that order."""
        _, channels = self._input_channels(input_shape)
        dm = self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            name="depthwise_kernel", shape=(*self.kernel_size, channels, dm),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
        )
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel", shape=(1, 1, channels * dm, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint,
        )
        self._build_bias(self.filters)
        self.input_spec = InputSpec(ndim=4, axes={self._channel_axis: channels})
        self.built = True

    def call(self, inputs: Any) -> Any:
        """Depthwise, pointwise and bias in one fused op; then the activation.

        A ReLU is passed to the op, which applies it in place when nothing records the call
        (``predict``): one pass over the output fewer.
        """
        fn = self._activation_fn
        relu = fn is activations.relu
        out = C.separable_conv2d(
            inputs, self.depthwise_kernel, self.pointwise_kernel, self.strides, self.padding,
            self.data_format, self.dilation_rate, bias=self.bias, relu=relu,
        )
        return out if fn is None or relu else fn(out)

    def call_with_epilogue(self, inputs: Any, epilogue: Epilogue) -> Any:
        """The fused op with a following batch normalisation and/or ReLU applied in its kernel.

        Each block of the 1x1 product gets its bias, then ``* scale + shift``, then ``max(., 0)``
        while it is in cache (:mod:`minikeras.engine.fusion`): one op, same numbers.

        Returns:
            The output, or ``None`` (channels first, an activation of its own, another dtype
            than the epilogue's): the layers then run one by one.
        """
        scale = epilogue.scale
        if self._activation_fn is not None or self.data_format != "channels_last" or (
                scale is not None and inputs.dtype != scale.dtype):
            return None
        return C.separable_conv2d(
            inputs, self.depthwise_kernel, self.pointwise_kernel, self.strides, self.padding,
            self.data_format, self.dilation_rate, bias=self.bias, relu=epilogue.relu,
            scale=scale, shift=epilogue.shift,
        )

    def get_config(self) -> dict:
        """Conv2D's keys without ``kernel_*``, plus the depthwise/pointwise ones."""
        config = {**self._window_config(), **self._bias_config()}
        config.update(
            depth_multiplier=self.depth_multiplier,
            depthwise_initializer=initializers.serialize(self.depthwise_initializer),
            pointwise_initializer=initializers.serialize(self.pointwise_initializer),
            depthwise_regularizer=regularizers.serialize(self.depthwise_regularizer),
            pointwise_regularizer=regularizers.serialize(self.pointwise_regularizer),
            depthwise_constraint=constraints.serialize(self.depthwise_constraint),
            pointwise_constraint=constraints.serialize(self.pointwise_constraint),
        )
        return config


def _depth_multiplier(layer: Any, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{who(layer)}: `depth_multiplier` must be a positive int, got {value!r}")
    return value


class DepthwiseConv2D(Conv2D):
    """Depthwise 2-D convolution: each input channel gets its own ``depth_multiplier`` filters.

    Output channel ``c * depth_multiplier + m`` is input channel ``c`` convolved with filter
    ``m``. Keras 2.1.5's layer (from MobileNet), plus ``dilation_rate``.

    Args:
        kernel_size: Int or pair.
        strides: Int or pair.
        padding: ``'valid'`` or ``'same'``.
        depth_multiplier: Output channels per input channel.
        data_format: ``'channels_last'`` or ``'channels_first'`` (``None``: the default).
        activation: Name or callable; ``None`` is linear.
        use_bias: Whether to add a bias of ``in * depth_multiplier`` entries.
        depthwise_initializer: Initializer of the depthwise kernel.
        bias_initializer: Initializer of the bias.
        depthwise_regularizer: Regularizer of the depthwise kernel.
        bias_regularizer: Regularizer of the bias.
        activity_regularizer: Regularizer of the output.
        depthwise_constraint: Constraint of the depthwise kernel.
        bias_constraint: Constraint of the bias.
        dilation_rate: Int or pair.
        **kwargs: Base layer arguments.
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = (1, 1),
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        dilation_rate: int | tuple[int, int] = (1, 1),
        **kwargs: Any,
    ) -> None:
        Layer.__init__(self, **kwargs)
        self._init_window(None, kernel_size, strides, padding, data_format, dilation_rate,
                          activation, use_bias, bias_initializer, bias_regularizer,
                          activity_regularizer, bias_constraint)
        self.depth_multiplier = _depth_multiplier(self, depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def _output_channels(self, input_channels: int | None) -> int | None:
        return None if input_channels is None else input_channels * self.depth_multiplier

    def build(self, input_shape: Any) -> None:
        """Create ``depthwise_kernel (kh, kw, in, dm)`` and ``bias (in*dm,)``."""
        _, channels = self._input_channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            name="depthwise_kernel", shape=(*self.kernel_size, channels, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
        )
        self._build_bias(channels * self.depth_multiplier)
        self.input_spec = InputSpec(ndim=4, axes={self._channel_axis: channels})
        self.built = True

    def call(self, inputs: Any) -> Any:
        """Depthwise convolution, bias, activation."""
        out = C.depthwise_conv2d(inputs, self.depthwise_kernel, self.strides, self.padding,
                                 self.data_format, self.dilation_rate)
        if self.bias is not None:
            out = C.bias_add(out, self.bias, self.data_format)
        fn = self._activation_fn
        return out if fn is None else fn(out)

    def get_config(self) -> dict:
        """Conv2D's keys without ``filters``/``kernel_*``, plus the depthwise ones."""
        config = {**self._window_config(), **self._bias_config()}
        del config["filters"]
        config.update(
            depth_multiplier=self.depth_multiplier,
            depthwise_initializer=initializers.serialize(self.depthwise_initializer),
            depthwise_regularizer=regularizers.serialize(self.depthwise_regularizer),
            depthwise_constraint=constraints.serialize(self.depthwise_constraint),
        )
        return config


class ZeroPadding2D(Layer):
    """Pad the rows and columns of an image batch with zeros.

    Args:
        padding: An int (the same on all four sides), a pair ``(rows, cols)`` (symmetric),
            or a pair of pairs ``((top, bottom), (left, right))``.
        data_format: ``'channels_last'`` or ``'channels_first'`` (``None``: the default).
        **kwargs: Base layer arguments.

    Raises:
        ValueError: On a malformed ``padding``.
    """

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(self, data_format)
        self.padding = _padding_pairs(self, padding)
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        """Rows and columns grow by the padding; ``None`` stays ``None``."""
        shape = list(single_shape(self, input_shape))
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for axis, (before, after) in zip(axes, self.padding):
            if shape[axis] is not None:
                shape[axis] += before + after
        return tuple(shape)

    def call(self, inputs: Any) -> Any:
        """Zero-pad."""
        if self.data_format == "channels_last":
            width = ((0, 0), *self.padding, (0, 0))
        else:
            width = ((0, 0), (0, 0), *self.padding)
        return K.pad(inputs, width)

    def get_config(self) -> dict:
        """``padding`` as ``((top, bottom), (left, right))`` and ``data_format``."""
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


def _padding_pairs(layer: Any, padding: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    def ok(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if ok(padding):
        return ((padding, padding), (padding, padding))
    if isinstance(padding, list | tuple) and len(padding) == 2:
        if all(ok(p) for p in padding):
            return ((padding[0], padding[0]), (padding[1], padding[1]))
        if all(isinstance(p, list | tuple) and len(p) == 2 and all(ok(v) for v in p)
               for p in padding):
            return (tuple(padding[0]), tuple(padding[1]))
    raise ValueError(
        f"{who(layer)}: `padding` should be a non-negative int, a tuple of 2 ints "
        f"(symmetric_height_pad, symmetric_width_pad), or a tuple of 2 tuples of 2 ints "
        f"((top_pad, bottom_pad), (left_pad, right_pad)), got {padding!r}"
    )


# Keras 2's long aliases
Convolution2D = Conv2D
SeparableConvolution2D = SeparableConv2D
