"""2-D pooling layers: ``MaxPooling2D``, ``AveragePooling2D`` and their global versions.

Window pooling runs in the backend's pooling op (padding never takes part in a maximum or an
average); output lengths follow the convolution rule with the pool size as the kernel.
"""

from __future__ import annotations

from typing import Any

from minikeras import backend as K
from minikeras.backend import conv as C
from minikeras.engine.base_layer import Layer
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
    "AveragePooling2D", "AvgPool2D", "GlobalAveragePooling2D", "GlobalAvgPool2D",
    "GlobalMaxPool2D", "GlobalMaxPooling2D", "MaxPool2D", "MaxPooling2D",
]


class _Pooling2D(Layer):
    """Shared arguments and shape rule of the window pooling layers."""

    _mode = "max"

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_size = normalize_tuple(self, pool_size, 2, "pool_size")
        self.strides = self.pool_size if strides is None else \
            normalize_tuple(self, strides, 2, "strides")
        self.padding = normalize_padding(self, padding)
        self.data_format = normalize_data_format(self, data_format)
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        """``(batch, new_rows, new_cols, channels)`` (or channels first)."""
        shape = single_shape(self, input_shape)
        if len(shape) != 4:
            raise ValueError(f"{who(self)}: expects a 4-D input, got shape {shape}")
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        out = list(shape)
        for i, axis in enumerate(axes):
            length = conv_output_length(shape[axis], self.pool_size[i], self.padding,
                                        self.strides[i])
            if length is not None and length < 1:
                raise ValueError(
                    f"{who(self)}: pool_size {self.pool_size} is larger than the input "
                    f"(shape {shape}) with padding {self.padding!r}"
                )
            out[axis] = length
        return tuple(out)

    def call(self, inputs: Any) -> Any:
        """Pool each window."""
        return C.pool2d(inputs, self.pool_size, self.strides, self.padding, self.data_format,
                        pool_mode=self._mode)

    def get_config(self) -> dict:
        """``{'pool_size', 'padding', 'strides', 'data_format'}``."""
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """Max pooling over ``pool_size`` windows.

    Args:
        pool_size: Int or pair.
        strides: Int or pair; ``None`` means ``pool_size``.
        padding: ``'valid'`` or ``'same'``.
        data_format: ``'channels_last'`` or ``'channels_first'`` (``None``: the default).
        **kwargs: Base layer arguments.
    """

    _mode = "max"


class AveragePooling2D(_Pooling2D):
    """Average pooling over ``pool_size`` windows (padded pixels are not counted).

    Args:
        pool_size: Int or pair.
        strides: Int or pair; ``None`` means ``pool_size``.
        padding: ``'valid'`` or ``'same'``.
        data_format: ``'channels_last'`` or ``'channels_first'`` (``None``: the default).
        **kwargs: Base layer arguments.
    """

    _mode = "avg"


class _GlobalPooling2D(Layer):
    """Reduce the two spatial axes to one value per channel."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(self, data_format)
        self.input_spec = InputSpec(ndim=4)
        self._axes = (1, 2) if self.data_format == "channels_last" else (2, 3)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        """``(batch, channels)``."""
        shape = single_shape(self, input_shape)
        if len(shape) != 4:
            raise ValueError(f"{who(self)}: expects a 4-D input, got shape {shape}")
        return (shape[0], shape[3] if self.data_format == "channels_last" else shape[1])

    def get_config(self) -> dict:
        """``{'data_format'}``."""
        return {**super().get_config(), "data_format": self.data_format}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """Mean over rows and columns: ``(batch, channels)``.

    Args:
        data_format: ``'channels_last'`` or ``'channels_first'`` (``None``: the default).
        **kwargs: Base layer arguments.
    """

    def call(self, inputs: Any) -> Any:
        """Spatial mean."""
        return K.mean(inputs, axis=self._axes)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """Maximum over rows and columns: ``(batch, channels)``.

    Args:
        data_format: ``'channels_last'`` or ``'channels_first'`` (``None``: the default).
        **kwargs: Base layer arguments.
    """

    def call(self, inputs: Any) -> Any:
        """Spatial maximum."""
        return K.max(inputs, axis=self._axes)


# Keras 2's short aliases
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
