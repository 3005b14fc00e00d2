"""Matrix products: ``matmul`` (batched, with numpy's 1-D rules) and ``dot``."""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras.autograd.function import Function
from minikeras.autograd.ops._common import pair, shape_of
from minikeras.autograd.ops.elementwise import multiply
from minikeras.autograd.tensor import Tensor


class MatMul(Function):
    """``a @ b`` with numpy's rules for 1-D operands and batch broadcasting."""

    def forward(self, ctx, a, b):
        ctx.save(a, b)
        return np.matmul(a, b)

    def backward(self, ctx, grad):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:  # inner product: grad is a scalar
            return (grad * b if need_a else None), (grad * a if need_b else None)
        # promote 1-D operands to matrices so one formula covers every case
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad
        if a.ndim == 1:
            g = g[..., None, :]
        if b.ndim == 1:
            g = g[..., None]
        ga = gb = None
        # batch broadcasting and the promoted axes are summed away by the tape's
        # central un-broadcasting step (fit_gradient), so no special cases here
        if need_a:
            ga = np.matmul(g, np.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if need_b:
            gb = np.matmul(np.swapaxes(a2, -1, -2), g)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with numpy's semantics (batched; 1-D operands allowed).

    Raises:
        ValueError: When the inner dimensions differ, naming both shapes.
    """
    a, b = pair(a, b)
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"matmul: operands must have rank >= 1, got shapes {sa} and {sb}")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(
            f"matmul: inner dimensions differ: shapes {sa} and {sb} ({ka} != {kb})"
        )
    if len(sa) > 2 and len(sb) > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ValueError(
                f"matmul: batch dimensions of shapes {sa} and {sb} do not broadcast"
            ) from None
    return MatMul.apply(a, b)


class TensorDot(Function):
    """numpy's ``dot`` for ``b`` of rank > 2.

    Sums over the last axis of ``a`` and the second-to-last of ``b``; the free
    axes of ``a`` come first in the result, then those of ``b``.
    """

    name = "Dot"

    def forward(self, ctx, a, b):
        ctx.save(a, b)
        return np.tensordot(a, b, axes=([-1], [-2]))

    def backward(self, ctx, grad):
        a, b = ctx.saved
        na, nb = a.ndim, b.ndim
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        b_free = [*range(nb - 2), nb - 1]  # every axis of b but the summed one
        if need_a:
            ga = np.tensordot(grad, b, axes=(list(range(na - 1, na - 1 + nb - 1)), b_free))
        if need_b:
            gb = np.tensordot(a, grad, axes=(list(range(na - 1)), list(range(na - 1))))
            gb = np.moveaxis(gb, 0, nb - 2)  # the summed axis goes back to its place
        return ga, gb


def dot(a: Any, b: Any) -> Tensor:
    """Dot product with numpy's semantics.

    Inner product of vectors, matrix product, and for ``b`` of rank > 2 a sum
    over the last axis of ``a`` and the second-to-last axis of ``b`` (that is
    ``matmul`` when ``b`` has rank <= 2). A scalar operand multiplies.

    Raises:
        ValueError: When the summed dimensions differ, naming both shapes.
    """
    a, b = pair(a, b)
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 0 or len(sb) == 0:
        return multiply(a, b)
    if len(sb) <= 2:
        return matmul(a, b)
    if sa[-1] != sb[-2]:
        raise ValueError(
            f"dot: shapes {sa} and {sb} are not aligned: {sa[-1]} (last axis of a) != "
            f"{sb[-2]} (second-to-last axis of b)"
        )
    return TensorDot.apply(a, b)
