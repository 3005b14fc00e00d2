"""Shape ops: reshape, transpose, indexing, concatenation, padding..."""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras.autograd.function import Function
from minikeras.autograd.ops._common import data, norm_axis, shape_of
from minikeras.autograd.tensor import Tensor


class Reshape(Function):
    """Same elements, new shape."""

    def forward(self, ctx, x, *, shape):
        ctx.in_shape, ctx.shape = x.shape, shape
        return x.reshape(shape)

    def jvp(self, ctx, t):
        return t.reshape(ctx.shape)

    def backward(self, ctx, grad):
        return (grad.reshape(ctx.in_shape),)


class Transpose(Function):
    """Permute axes; the gradient permutes back."""

    def forward(self, ctx, x, *, axes):
        ctx.axes = axes
        return np.transpose(x, axes)

    def jvp(self, ctx, t):
        return np.transpose(t, ctx.axes)

    def backward(self, ctx, grad):
        axes = ctx.axes
        inverse = None if axes is None else tuple(np.argsort(axes))
        return (np.transpose(grad, inverse),)

    def differentiable_backward(self, ctx, grad, record):
        axes = ctx.axes
        return (transpose(grad, None if axes is None else tuple(np.argsort(axes))),)


class BroadcastTo(Function):
    """Broadcast to a larger shape; the tape sums the gradient back."""

    def forward(self, ctx, x, *, shape):
        return np.broadcast_to(x, shape)

    def jvp(self, ctx, t):
        return t  # broadcast to the output's shape centrally (forward.fit_tangent)

    def backward(self, ctx, grad):
        return (grad,)


class GetItem(Function):
    """``x[key]`` for slices, ints, ``None``, boolean masks and integer arrays.

    The backward scatters with ``np.add.at``, so repeated indices accumulate.
    """

    name = "GetItem"

    def forward(self, ctx, x, *, key):
        ctx.shape, ctx.key = x.shape, key
        return np.asarray(x[key])

    def jvp(self, ctx, t):
        return np.asarray(t[ctx.key])

    def backward(self, ctx, grad):
        out = np.zeros(ctx.shape, dtype=grad.dtype)
        if _has_int_array(ctx.key):
            np.add.at(out, ctx.key, grad)  # an index may repeat: accumulate (scatter-add)
        else:
            out[ctx.key] = grad  # slices, ints, None, masks: each element picked at most once
        return (out,)

    def differentiable_backward(self, ctx, grad, record):
        return (GetItemGrad.apply(grad, shape=ctx.shape, key=ctx.key),)


class GetItemGrad(Function):
    """The gradient of ``x[key]``: ``grad`` scattered (added) into zeros of ``x``'s shape.

    An op of its own so that the gradient of a slice can be differentiated again: its
    gradient is the same slice of the incoming gradient.
    """

    def forward(self, ctx, grad, *, shape, key):
        ctx.key = key
        out = np.zeros(shape, dtype=grad.dtype)
        if _has_int_array(key):
            np.add.at(out, key, grad)
        else:
            out[key] = grad
        return out

    def backward(self, ctx, grad):
        return (grad[ctx.key],)  # on arrays, or on tensors (a recorded GetItem)


def _has_int_array(key: Any) -> bool:
    """Whether an index contains an integer array (the only kind that can repeat elements)."""
    parts = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, np.ndarray) and k.dtype.kind in "iu" for k in parts)


class Concatenate(Function):
    """Join tensors along an existing axis."""

    def forward(self, ctx, *xs, axis):
        ctx.axis = axis
        ends = np.cumsum([x.shape[axis] for x in xs])
        ctx.splits, ctx.total = ends[:-1], ends[-1]
        return np.concatenate(xs, axis=axis)

    def jvp(self, ctx, *tangents):
        # an input without a tangent contributes zeros of its own shape
        like = next(t for t in tangents if t is not None)
        sizes = np.diff([0, *ctx.splits, ctx.total])
        parts = []
        for t, size in zip(tangents, sizes):
            if t is None:
                shape = list(like.shape)
                shape[ctx.axis] = size
                t = np.zeros(shape, like.dtype)
            parts.append(t)
        return np.concatenate(parts, axis=ctx.axis)

    def backward(self, ctx, grad):
        return tuple(np.split(grad, ctx.splits, axis=ctx.axis))

    def differentiable_backward(self, ctx, grad, record):
        bounds = [0, *ctx.splits.tolist(), grad.shape[ctx.axis]]
        lead = (slice(None),) * ctx.axis
        return tuple(grad[lead + (slice(lo, hi),)] for lo, hi in zip(bounds[:-1], bounds[1:]))


class Stack(Function):
    """Join tensors along a new axis."""

    def forward(self, ctx, *xs, axis):
        ctx.axis = axis
        return np.stack(xs, axis=axis)

    def jvp(self, ctx, *tangents):
        like = next(t for t in tangents if t is not None)
        zero = np.zeros_like(like)
        return np.stack([zero if t is None else t for t in tangents], axis=ctx.axis)

    def backward(self, ctx, grad):
        n = grad.shape[ctx.axis]
        return tuple(np.take(grad, i, axis=ctx.axis) for i in range(n))

    def differentiable_backward(self, ctx, grad, record):
        lead = (slice(None),) * ctx.axis
        return tuple(grad[lead + (i,)] for i in range(grad.shape[ctx.axis]))


class Pad(Function):
    """Constant padding; the gradient is the un-padded centre."""

    def forward(self, ctx, x, *, pad_width, value):
        ctx.slices = tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, x.shape))
        ctx.pad_width = pad_width
        return np.pad(x, pad_width, constant_values=value)

    def jvp(self, ctx, t):
        return np.pad(t, ctx.pad_width)  # the padding is constant: its tangent is zero

    def backward(self, ctx, grad):
        return (grad[ctx.slices],)


def reshape(x: Any, shape: Any) -> Tensor:
    """Give ``x`` a new shape with the same number of elements (one ``-1`` allowed)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    src = shape_of(x)
    size = int(np.prod(src))
    known = int(np.prod([s for s in shape if s != -1]))
    unknown = sum(1 for s in shape if s == -1)
    ok = unknown <= 1 and (
        (unknown == 0 and known == size) or (unknown == 1 and known > 0 and size % known == 0)
    )
    if not ok or any(s < -1 for s in shape):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {src} into shape {shape}")
    return Reshape.apply(x, shape=shape)


def transpose(x: Any, axes: Any = None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is ``None``)."""
    if axes is not None:
        ndim = len(shape_of(x))
        axes = tuple(int(a) for a in axes)
        if sorted(a % ndim if -ndim <= a < ndim else a for a in axes) != list(range(ndim)):
            raise ValueError(
                f"transpose: axes {axes} are not a permutation of the {ndim} axes of a tensor "
                f"of shape {shape_of(x)}"
            )
        axes = tuple(a % ndim for a in axes)
    return Transpose.apply(x, axes=axes)


def swapaxes(x: Any, a: int, b: int) -> Tensor:
    """Swap axes ``a`` and ``b``."""
    ndim = len(shape_of(x))
    a, b = norm_axis("swapaxes", (a, b), ndim)
    axes = list(range(ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return Transpose.apply(x, axes=tuple(axes))


def expand_dims(x: Any, axis: int) -> Tensor:
    """Insert an axis of length one at ``axis``."""
    src = shape_of(x)
    ndim = len(src) + 1
    (axis,) = norm_axis("expand_dims", axis, ndim)
    return Reshape.apply(x, shape=src[:axis] + (1,) + src[axis:])


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Remove axes of length one (all of them when ``axis`` is ``None``)."""
    src = shape_of(x)
    if axis is None:
        shape = tuple(s for s in src if s != 1)
    else:
        axes = norm_axis("squeeze", axis, len(src))
        for a in axes:
            if src[a] != 1:
                raise ValueError(
                    f"squeeze: cannot squeeze axis {a} of a tensor of shape {src}: its length "
                    f"is {src[a]}, not 1"
                )
        shape = tuple(s for i, s in enumerate(src) if i not in axes)
    return Reshape.apply(x, shape=shape)


def broadcast_to(x: Any, shape: Any) -> Tensor:
    """Broadcast ``x`` to ``shape``."""
    shape = tuple(int(s) for s in shape)
    try:
        np.broadcast_shapes(shape_of(x), shape)
        ok = np.broadcast_shapes(shape_of(x), shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"broadcast_to: cannot broadcast shape {shape_of(x)} to {shape}")
    return BroadcastTo.apply(x, shape=shape)


def _index_key(key: Any) -> Any:
    """Turn tensors inside an index into arrays."""
    if isinstance(key, tuple):
        return tuple(_index_key(k) for k in key)
    if isinstance(key, Tensor):
        return key.data
    if isinstance(key, list):
        return np.asarray(key)
    return key


def getitem(x: Any, key: Any) -> Tensor:
    """``x[key]``: slices, ints, ``None``, ``...``, boolean masks and integer arrays.

    Raises:
        IndexError: If an index is out of range, naming the shape and the index.
    """
    key = _index_key(key)
    arr = data(x)
    try:
        probe = arr[key]
    except IndexError as err:
        raise IndexError(
            f"getitem: index {key!r} is invalid for a tensor of shape {arr.shape}: {err}"
        ) from None
    if isinstance(x, Tensor):
        del probe
        return GetItem.apply(x, key=key)
    return Tensor(probe)


def _join_checks(op: str, tensors: Any) -> list:
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: needs at least one tensor, got none")
    return tensors


def concatenate(tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along an existing ``axis``.

    Raises:
        ValueError: If the shapes differ outside ``axis``, naming them.
    """
    tensors = _join_checks("concatenate", tensors)
    shapes = [shape_of(t) for t in tensors]
    ndim = len(shapes[0])
    if ndim == 0:
        raise ValueError("concatenate: cannot concatenate scalars (rank 0)")
    (ax,) = norm_axis("concatenate", axis, ndim)
    for s in shapes:
        if len(s) != ndim or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != ax):
            raise ValueError(
                f"concatenate: all shapes must match except along axis {axis}, got {shapes}"
            )
    return Concatenate.apply(*tensors, axis=ax)


def stack(tensors: Any, axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new ``axis``."""
    tensors = _join_checks("stack", tensors)
    shapes = [shape_of(t) for t in tensors]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack: all tensors must have the same shape, got {shapes}")
    (ax,) = norm_axis("stack", axis, len(shapes[0]) + 1)
    return Stack.apply(*tensors, axis=ax)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Split into pieces along ``axis`` (numpy's semantics); each piece is an indexing op."""
    src = shape_of(x)
    (ax,) = norm_axis("split", axis, len(src))
    n = src[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or n % sections:
            raise ValueError(
                f"split: axis {axis} of length {n} cannot be split into {sections} equal parts"
            )
        bounds = list(range(0, n + 1, n // sections))
    else:
        bounds = [0, *[int(i) for i in indices_or_sections], n]
    pieces = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        key = (slice(None),) * ax + (slice(lo, hi),)
        pieces.append(getitem(x, key))
    return pieces


def pad(x: Any, pad_width: Any, value: float = 0.0) -> Tensor:
    """Pad with a constant: ``pad_width`` is ``((before, after), ...)`` per axis."""
    src = shape_of(x)
    width = np.broadcast_to(np.asarray(pad_width, dtype=int), (len(src), 2)) \
        if np.ndim(pad_width) < 2 else np.asarray(pad_width, dtype=int)
    if width.shape != (len(src), 2) or (width < 0).any():
        raise ValueError(
            f"pad: pad_width must be non-negative (before, after) pairs, one per axis of "
            f"shape {src}, got {pad_width!r}"
        )
    return Pad.apply(x, pad_width=tuple(map(tuple, width.tolist())), value=value)
