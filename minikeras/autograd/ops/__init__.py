"""The differentiable ops of the tape engine, as plain functions.

Every function takes tensors, numpy arrays or Python scalars and returns a
:class:`~minikeras.autograd.tensor.Tensor`; any active tape records it.
"""

from minikeras.autograd.ops.activation import (
    elu,
    hard_sigmoid,
    leaky_relu,
    log_softmax,
    relu,
    relu6,
    selu,
    sigmoid,
    softmax,
    softplus,
    softsign,
    tanh,
)
from minikeras.autograd.ops.elementwise import (
    abs,
    add,
    cast,
    clip,
    divide,
    equal,
    exp,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    power,
    sign,
    sqrt,
    square,
    subtract,
    where,
)
from minikeras.autograd.ops.linalg import dot, matmul
from minikeras.autograd.ops.reduction import argmax, argmin, max, mean, min, std, sum, var
from minikeras.autograd.ops.shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    getitem,
    pad,
    reshape,
    split,
    squeeze,
    stack,
    swapaxes,
    transpose,
)

__all__ = [
    "abs", "add", "argmax", "argmin", "broadcast_to", "cast", "clip", "concatenate", "divide",
    "dot",
    "elu", "equal", "exp", "expand_dims", "getitem", "greater", "greater_equal",
    "hard_sigmoid", "leaky_relu", "less", "less_equal", "log", "log1p", "log_softmax",
    "matmul", "max", "maximum", "mean", "min", "minimum", "multiply", "negative",
    "not_equal", "pad", "power", "relu", "relu6", "reshape", "selu", "sigmoid", "sign",
    "softmax", "softplus", "softsign", "split", "sqrt", "square", "squeeze", "stack",
    "std", "subtract", "sum", "swapaxes", "tanh", "transpose", "var", "where",
]
