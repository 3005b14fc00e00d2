"""The layers: Keras 2 classes with Keras 2 arguments, weights and configs.

Example:
    >>> from minikeras.layers import Input, SeparableConv2D, GlobalAveragePooling2D, Dense
    >>> x = Input((28, 28, 1))
    >>> y = SeparableConv2D(8, 3, activation="relu")(x)
    >>> y = Dense(10, activation="softmax")(GlobalAveragePooling2D()(y))
"""

from minikeras.engine.input_layer import Input, InputLayer
from minikeras.layers.convolutional import (
    Conv2D,
    Convolution2D,
    DepthwiseConv2D,
    SeparableConv2D,
    SeparableConvolution2D,
    ZeroPadding2D,
)
from minikeras.layers.core import (
    Activation,
    Dense,
    Dropout,
    Flatten,
    Lambda,
    Permute,
    Reshape,
    enable_unsafe_deserialization,
    unsafe_deserialization,
)
from minikeras.layers.merge import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from minikeras.layers.normalization import BatchNormalization
from minikeras.layers.pooling import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    MaxPool2D,
    MaxPooling2D,
)
from minikeras.layers.serialization import deserialize, get, serialize

__all__ = [
    "Activation", "Add", "Average", "AveragePooling2D", "AvgPool2D", "BatchNormalization",
    "Concatenate", "Conv2D", "Convolution2D", "Dense", "DepthwiseConv2D", "Dropout", "Flatten",
    "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "GlobalMaxPooling2D",
    "Input", "InputLayer", "Lambda", "MaxPool2D", "MaxPooling2D", "Maximum", "Minimum",
    "Multiply", "Permute", "Reshape", "SeparableConv2D", "SeparableConvolution2D", "Subtract",
    "ZeroPadding2D", "add", "average", "concatenate", "deserialize",
    "enable_unsafe_deserialization", "get", "maximum", "minimum", "multiply", "serialize",
    "subtract", "unsafe_deserialization",
]
