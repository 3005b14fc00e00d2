"""``x * scale + shift`` per channel (the last axis), in one pass: batch normalisation's kernels.

Also :func:`epilogue`: a product's bias, an inference batch normalisation and a ReLU, applied to
each block of a layer's output in one pass while it is in cache.

Normalising with known statistics is an affine map per channel: ``(x - mean) / sqrt(var + eps)
* gamma + beta`` is ``x * scale + shift``. numpy makes it two passes over the array with a
broadcast per row of only ``C`` numbers; this loop reads each number once and writes it once.
On a 64x16x16x128 float32 map (one thread): numpy ``x * scale; out += shift`` 1.0-1.7 ms, this
0.3-0.4 ms. Batch normalisation was 40% of a MobileNet-style ``predict`` before (see
``benchmarks/README.md``). The backward pass needs two more one-pass loops: the per-channel sums
of ``g`` and ``g * xhat`` (:func:`channel_sums`, accumulated in float64 like numpy's pairwise
sums are accurate), and ``g * a + xhat * b + c`` (:func:`channel_affine2`). Twins: the functions
of the same names in :mod:`minikeras.kernels.reference`.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels import matmul as mm
from minikeras.kernels._jit import njit

__all__ = ["channel_affine", "channel_affine2", "channel_moments", "channel_sums", "epilogue"]


@njit(nogil=True)
def _affine_rows(x, scale, shift, out):  # pragma: no cover - JIT
    for r in range(x.shape[0]):
        xr = x[r]
        orow = out[r]
        for c in range(xr.shape[0]):  # a stream of C numbers: vectorised
            orow[c] = xr[c] * scale[c] + shift[c]


def channel_affine(x: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``x * scale + shift``, with ``scale`` and ``shift`` along the last axis of ``x``.

    Args:
        x: Any shape ``(..., C)``, float32 or float64.
        scale: ``(C,)``; cast to ``x.dtype``.
        shift: ``(C,)``; cast to ``x.dtype``.

    Returns:
        A new array of ``x``'s shape and dtype.
    """
    x = np.ascontiguousarray(x)
    channels = x.shape[-1] if x.ndim else 1
    x2 = x.reshape(-1, channels)
    out = np.empty_like(x2)
    scale = _vector(scale, x.dtype, channels)
    shift = _vector(shift, x.dtype, channels)
    mm.on_row_blocks(lambda lo, hi: _affine_rows(x2[lo:hi], scale, shift, out[lo:hi]),
                     x2.shape[0], x2.size)
    return out.reshape(x.shape)


@njit(nogil=True)
def _epilogue_rows(z, bias, scale, shift, relu):  # pragma: no cover - JIT
    # An empty bias/scale means "none" (one compiled variant per dtype). Each step is its own
    # loop over the row (in L1), so each vectorises; the checks sit outside them.
    has_bias, has_affine = bias.shape[0] > 0, scale.shape[0] > 0
    for r in range(z.shape[0]):
        row = z[r]
        if has_bias:
            for c in range(row.shape[0]):
                row[c] += bias[c]
        if has_affine:  # channel_affine's expression: the same fused multiply-add
            for c in range(row.shape[0]):
                row[c] = row[c] * scale[c] + shift[c]
        if relu:  # np.maximum(v, 0)'s rule: -0.0 becomes 0, a NaN stays NaN
            for c in range(row.shape[0]):
                if row[c] <= 0:
                    row[c] = 0


def epilogue(
    z: np.ndarray,
    bias: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    shift: np.ndarray | None = None,
    relu: bool = False,
) -> None:
    """In place, per column: ``+ bias``, ``* scale + shift``, ``max(., 0)``, each if given.

    In that order, on a block of a product's rows (one column per channel): what a layer's
    output gets while each block of it is still in cache (its bias, a following batch
    normalisation at inference, a following ReLU). The same arithmetic as doing them one by one
    (numpy's add, :func:`channel_affine`'s fused multiply-add, ``np.maximum(., 0)``), so the same
    numbers to the last bit, in one pass and with no temporaries: ``np.maximum`` on a
    64K-number block took 27 us here, this loop 4-6 us.

    Args:
        z: ``(rows, C)``, C-contiguous, float32 or float64; overwritten.
        bias: Optional ``(C,)``.
        scale: Optional ``(C,)``.
        shift: ``(C,)``, required with ``scale``.
        relu: Clamp at zero last.
    """
    channels = z.shape[1]
    none = np.empty(0, dtype=z.dtype)
    _epilogue_rows(
        z,
        none if bias is None else _vector(bias, z.dtype, channels),
        none if scale is None else _vector(scale, z.dtype, channels),
        none if shift is None else _vector(shift, z.dtype, channels),
        bool(relu),
    )


@njit(nogil=True)
def _affine2_rows(u, v, a, b, c, out):  # pragma: no cover - JIT
    for r in range(u.shape[0]):
        ur = u[r]
        vr = v[r]
        orow = out[r]
        for k in range(ur.shape[0]):
            orow[k] = ur[k] * a[k] + vr[k] * b[k] + c[k]


def _rows(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x)
    return x.reshape(-1, x.shape[-1] if x.ndim else 1)


def _vector(v: np.ndarray, dtype, channels: int) -> np.ndarray:
    return np.ascontiguousarray(v, dtype=dtype).reshape(channels)


def channel_affine2(
    u: np.ndarray, v: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """``u * a + v * b + c``, ``a``, ``b``, ``c`` along the last axis (batch norm's input gradient).

    Args:
        u: ``(..., C)``, float32 or float64.
        v: Same shape as ``u``; cast to its dtype.
        a: ``(C,)``.
        b: ``(C,)``.
        c: ``(C,)``.

    Returns:
        A new array of ``u``'s shape and dtype.
    """
    u2 = _rows(u)
    v2 = _rows(np.asarray(v, dtype=u2.dtype))
    channels = u2.shape[1]
    out = np.empty_like(u2)
    vec = [_vector(w, u2.dtype, channels) for w in (a, b, c)]
    mm.on_row_blocks(lambda lo, hi: _affine2_rows(u2[lo:hi], v2[lo:hi], *vec, out[lo:hi]),
                     u2.shape[0], u2.size)
    return out.reshape(np.shape(u))


@njit(nogil=True)
def _sums_rows(u, v, su, suv):  # pragma: no cover - JIT
    for r in range(u.shape[0]):
        ur = u[r]
        vr = v[r]
        for k in range(ur.shape[0]):
            su[k] += ur[k]
            suv[k] += ur[k] * vr[k]


def channel_sums(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel (the last axis): the sums of ``u`` and of ``u * v``, in one pass.

    Args:
        u: ``(..., C)``, float32 or float64.
        v: Same shape as ``u``; cast to its dtype.

    Returns:
        ``(sum u, sum u*v)``, two float64 arrays of shape ``(C,)`` (float64 accumulators: a
        sequential float32 sum over 10^5 rows would lose digits numpy's pairwise sum keeps).
    """
    u2 = _rows(u)
    v2 = _rows(np.asarray(v, dtype=u2.dtype))

    def block(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        su, suv = np.zeros(u2.shape[1]), np.zeros(u2.shape[1])
        _sums_rows(u2[lo:hi], v2[lo:hi], su, suv)
        return su, suv

    # (split over threads, each block's sums in order, then the blocks': in float64)
    parts = mm.on_row_blocks(block, u2.shape[0], u2.size)
    su, suv = parts[0]
    for more_u, more_uv in parts[1:]:
        su += more_u
        suv += more_uv
    return su, suv


@njit(nogil=True)
def _sum_rows(x, total):  # pragma: no cover - JIT
    for r in range(x.shape[0]):
        xr = x[r]
        for c in range(xr.shape[0]):
            total[c] += xr[c]


@njit(nogil=True)
def _squared_deviation_rows(x, mean, total):  # pragma: no cover - JIT
    for r in range(x.shape[0]):
        xr = x[r]
        for c in range(xr.shape[0]):
            d = xr[c] - mean[c]
            total[c] += d * d


def channel_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel (the last axis): the mean and the (biased) variance, a batch norm's statistics.

    Two passes, each split over the threads: the sums, then the squared deviations from the
    mean, both accumulated in float64 (numpy's float32 ``mean`` over the batch adds row after
    row in float32, and ``np.square(x - mean).mean()`` takes four passes and two temporaries).

    Args:
        x: ``(..., C)``, float32 or float64.

    Returns:
        ``(mean, var)``, two float64 arrays of shape ``(C,)``.
    """
    x2 = _rows(x)
    rows, channels = x2.shape

    def sums(lo: int, hi: int) -> np.ndarray:
        total = np.zeros(channels)
        _sum_rows(x2[lo:hi], total)
        return total

    mean = np.sum(mm.on_row_blocks(sums, rows, x2.size), axis=0) / max(rows, 1)

    def deviations(lo: int, hi: int) -> np.ndarray:
        total = np.zeros(channels)
        _squared_deviation_rows(x2[lo:hi], mean, total)
        return total

    var = np.sum(mm.on_row_blocks(deviations, rows, x2.size), axis=0) / max(rows, 1)
    return mean, var
