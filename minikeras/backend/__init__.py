"""The functional op namespace layers use (Keras's ``K``).

It hands on the autograd ops, the convolution ops and the global settings,
so a layer's ``call`` reads like Keras code: ``K.relu(K.bias_add(x, b))``.
"""

from minikeras.autograd.ops import *  # noqa: F403 - the backend is the op namespace
from minikeras.autograd.ops import __all__ as _ops_all
from minikeras.backend.config import (
    epsilon,
    floatx,
    image_data_format,
    normalize_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)
from minikeras.backend.conv import (
    bias_add,
    conv2d,
    depthwise_conv2d,
    pool2d,
    separable_conv2d,
)
from minikeras.backend.keras_ops import (  # Keras's defaults (last axis) over numpy's
    argmax,
    argmin,
    concatenate,
    expand_dims,
    l2_normalize,
)
from minikeras.backend.random import get_rng, set_seed

__all__ = [
    *(name for name in _ops_all if name not in ("argmax", "argmin", "concatenate", "expand_dims")),
    "argmax", "argmin", "concatenate", "expand_dims", "l2_normalize",  # Keras's signatures
    "bias_add", "conv2d", "depthwise_conv2d", "pool2d", "separable_conv2d",
    "epsilon", "floatx", "get_rng", "image_data_format", "normalize_data_format",
    "set_epsilon", "set_floatx", "set_image_data_format", "set_seed",
]
