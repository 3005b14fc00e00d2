"""The ReLU and its gradient for big arrays, in row blocks on every thread.

numpy's ``np.maximum(x, 0)`` and ``grad * (y > 0)`` run on one thread, and the gradient makes
a boolean temporary first. In a training step of the MobileNet-style model they took about a
tenth of the time with two threads, while the convolutions around them used both. These loops
make each number in one pass, and :func:`.matmul.on_row_blocks` gives each thread a block.
Both follow numpy to the bit: ``-0.0`` becomes ``+0.0`` and a NaN stays NaN in the forward
pass; the gradient is ``grad * 1`` or ``grad * 0`` (so ``-0.0`` for a negative ``grad``, NaN for
an infinite one). Twins: :func:`minikeras.kernels.reference.relu_forward` and
:func:`~minikeras.kernels.reference.relu_backward`.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels import matmul as mm
from minikeras.kernels._jit import njit

__all__ = ["relu_backward", "relu_forward"]


@njit(nogil=True)
def _forward(x, out):  # pragma: no cover - JIT
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v if v > 0 or v != v else 0  # (v != v: a NaN)


@njit(nogil=True)
def _backward(grad, y, out):  # pragma: no cover - JIT
    for i in range(grad.shape[0]):
        out[i] = grad[i] * (1.0 if y[i] > 0 else 0.0)


def relu_forward(x: np.ndarray) -> np.ndarray:
    """``np.maximum(x, 0)``, split over the threads.

    Args:
        x: A float array of any shape.

    Returns:
        A new array of ``x``'s shape and dtype.
    """
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    mm.on_row_blocks(lambda lo, hi: _forward(flat[lo:hi], out[lo:hi]), flat.size, flat.size)
    return out.reshape(np.shape(x))


def relu_backward(grad: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``grad * (y > 0)``, split over the threads: the ReLU's gradient from its output.

    Args:
        grad: The output's gradient, a float array.
        y: The ReLU's output (or input), the same shape.

    Returns:
        A new array of ``grad``'s shape and dtype.
    """
    g = np.ascontiguousarray(grad).reshape(-1)
    y1 = np.ascontiguousarray(y).reshape(-1)
    out = np.empty_like(g)
    mm.on_row_blocks(lambda lo, hi: _backward(g[lo:hi], y1[lo:hi], out[lo:hi]), g.size, g.size)
    return out.reshape(np.shape(grad))
