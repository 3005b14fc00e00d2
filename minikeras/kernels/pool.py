"""Max and average pooling on NHWC arrays: forward and gradient w.r.t. the input.

Definitions: :mod:`minikeras.kernels.reference`. Padding never takes part: max ignores it, and
average divides by the number of *real* pixels in the window (TensorFlow's ``"same"`` rule). A
window with no real pixel (possible only with dilation) outputs 0 and passes no gradient. Ties in
max pooling send the gradient to the first maximum in tap order (row by row through the window).

Loop order as in the convolutions: parallel over rows of whatever array is written, channels
innermost so each tap is a contiguous run of ``C`` numbers. Average pooling's divisor factorises
into (real rows in the window) x (real columns in the window), so it is two small vectors.
Max-pool's gradient scatters to data-dependent positions, so it runs parallel over images: each
thread owns whole images and no two threads write the same pixel.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels._jit import njit, prange
from minikeras.kernels.padding import Pads, output_hw


@njit(parallel=True)
def _max_forward(x, out, ph, pw, sh, sw, dh, dw, pt, pl):  # pragma: no cover - JIT
    n_img, height, width, channels = x.shape
    _, out_h, out_w, _ = out.shape
    for r in prange(n_img * out_h):
        n = r // out_h
        i = r - n * out_h
        orow = out[n, i]
        orow[:, :] = -np.inf
        for a in range(ph):
            y = i * sh + a * dh - pt
            if y < 0 or y >= height:
                continue
            xrow = x[n, y]
            for b in range(pw):
                shift = b * dw - pl
                j0 = max(0, -(shift // sw))
                j1 = min(out_w, (width - 1 - shift) // sw + 1)
                for j in range(j0, j1):
                    src = xrow[j * sw + shift]
                    dst = orow[j]
                    for c in range(channels):
                        dst[c] = max(dst[c], src[c])
        for j in range(out_w):
            for c in range(channels):
                if orow[j, c] == -np.inf:
                    orow[j, c] = 0  # an all-padding window (or an input of -inf): see docstring


@njit(parallel=True)
def _max_grad_input(x, g, gx, ph, pw, sh, sw, dh, dw, pt, pl):  # pragma: no cover - JIT
    n_img, height, width, channels = x.shape
    _, out_h, out_w, _ = g.shape
    for n in prange(n_img):
        gx[n] = 0
        best = np.empty((out_w, channels), dtype=x.dtype)
        where = np.empty((out_w, channels), dtype=np.int64)
        for i in range(out_h):
            best[:, :] = -np.inf
            where[:, :] = -1
            for a in range(ph):
                y = i * sh + a * dh - pt
                if y < 0 or y >= height:
                    continue
                for b in range(pw):
                    shift = b * dw - pl
                    j0 = max(0, -(shift // sw))
                    j1 = min(out_w, (width - 1 - shift) // sw + 1)
                    for j in range(j0, j1):
                        xc = j * sw + shift
                        src = x[n, y, xc]
                        for c in range(channels):
                            if src[c] > best[j, c]:  # strict: the first maximum keeps the gradient
                                best[j, c] = src[c]
                                where[j, c] = y * width + xc
            for j in range(out_w):
                for c in range(channels):
                    pos = where[j, c]
                    if pos >= 0:
                        gx[n, pos // width, pos % width, c] += g[n, i, j, c]


@njit(parallel=True)
def _avg_forward(x, out, inv_rows, inv_cols, ph, pw, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    n_img, height, width, channels = x.shape
    _, out_h, out_w, _ = out.shape
    for r in prange(n_img * out_h):
        n = r // out_h
        i = r - n * out_h
        orow = out[n, i]
        orow[:, :] = 0
        for a in range(ph):
            y = i * sh + a * dh - pt
            if y < 0 or y >= height:
                continue
            xrow = x[n, y]
            for b in range(pw):
                shift = b * dw - pl
                j0 = max(0, -(shift // sw))
                j1 = min(out_w, (width - 1 - shift) // sw + 1)
                for j in range(j0, j1):
                    src = xrow[j * sw + shift]
                    dst = orow[j]
                    for c in range(channels):
                        dst[c] += src[c]
        for j in range(out_w):
            scale = inv_rows[i] * inv_cols[j]
            for c in range(channels):
                orow[j, c] *= scale


@njit(parallel=True)
def _avg_grad_input(g, gx, inv_rows, inv_cols, ph, pw, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    n_img, height, width, channels = gx.shape
    _, out_h, out_w, _ = g.shape
    for r in prange(n_img * height):
        n = r // height
        y = r - n * height
        gxrow = gx[n, y]
        gxrow[:, :] = 0
        for a in range(ph):
            q = y + pt - a * dh
            if q < 0 or q % sh != 0 or q // sh >= out_h:
                continue
            i = q // sh
            grow = g[n, i]
            for b in range(pw):
                shift = b * dw - pl
                j0 = max(0, -(shift // sw))
                j1 = min(out_w, (width - 1 - shift) // sw + 1)
                for j in range(j0, j1):
                    scale = inv_rows[i] * inv_cols[j]
                    src = grow[j]
                    dst = gxrow[j * sw + shift]
                    for c in range(channels):
                        dst[c] += src[c] * scale


def _inverse_counts(length, out_len, taps, stride, dilation, pad, dtype) -> np.ndarray:
    """``1 / (number of real pixels a window meets)`` along one axis, 0 for empty windows."""
    starts = np.arange(out_len) * stride - pad
    positions = starts[:, None] + np.arange(taps)[None, :] * dilation
    counts = ((positions >= 0) & (positions < length)).sum(axis=1)
    return np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0).astype(dtype)


def _setup(x_shape, pool_size, strides, dilation, pads):
    out_h, out_w = output_hw(x_shape[1:3], pool_size, strides, dilation, pads)
    args = (*pool_size, *strides, *dilation, pads[0][0], pads[1][0])
    return out_h, out_w, args


def max_pool2d_forward(
    x: np.ndarray,
    pool_size: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = ((0, 0), (0, 0)),
) -> np.ndarray:
    """Max pooling of NHWC ``x``.

    Args:
        x: ``(N, H, W, C)``, float32 or float64.
        pool_size: ``(ph, pw)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads (never selected).

    Returns:
        ``(N, Ho, Wo, C)``.
    """
    x = np.ascontiguousarray(x)
    out_h, out_w, args = _setup(x.shape, pool_size, strides, dilation, pads)
    out = np.empty((x.shape[0], out_h, out_w, x.shape[3]), dtype=x.dtype)
    if out.size:
        _max_forward(x, out, *args)
    return out


def max_pool2d_grad_input(
    x: np.ndarray,
    grad: np.ndarray,
    pool_size: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = ((0, 0), (0, 0)),
) -> np.ndarray:
    """Gradient of :func:`max_pool2d_forward` with respect to its input.

    Args:
        x: Forward input ``(N, H, W, C)``.
        grad: ``(N, Ho, Wo, C)``.
        pool_size: ``(ph, pw)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads used in the forward pass.

    Returns:
        ``(N, H, W, C)``, the dtype of ``grad``.
    """
    x = np.ascontiguousarray(x)
    grad = np.ascontiguousarray(grad, dtype=x.dtype)
    _, _, args = _setup(x.shape, pool_size, strides, dilation, pads)
    gx = np.zeros(x.shape, dtype=x.dtype)
    if grad.size and gx.size:
        _max_grad_input(x, grad, gx, *args)
    return gx


def avg_pool2d_forward(
    x: np.ndarray,
    pool_size: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = ((0, 0), (0, 0)),
) -> np.ndarray:
    """Average pooling of NHWC ``x`` over the real pixels of each window.

    Args:
        x: ``(N, H, W, C)``, float32 or float64.
        pool_size: ``(ph, pw)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads (not counted).

    Returns:
        ``(N, Ho, Wo, C)``.
    """
    x = np.ascontiguousarray(x)
    out_h, out_w, args = _setup(x.shape, pool_size, strides, dilation, pads)
    out = np.empty((x.shape[0], out_h, out_w, x.shape[3]), dtype=x.dtype)
    if out.size:
        inv_rows = _inverse_counts(
            x.shape[1], out_h, pool_size[0], strides[0], dilation[0], pads[0][0], x.dtype
        )
        inv_cols = _inverse_counts(
            x.shape[2], out_w, pool_size[1], strides[1], dilation[1], pads[1][0], x.dtype
        )
        _avg_forward(x, out, inv_rows, inv_cols, *args)
    return out


def avg_pool2d_grad_input(
    grad: np.ndarray,
    input_shape: tuple[int, int, int, int],
    pool_size: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = ((0, 0), (0, 0)),
) -> np.ndarray:
    """Gradient of :func:`avg_pool2d_forward` with respect to its input.

    Args:
        grad: ``(N, Ho, Wo, C)``.
        input_shape: ``(N, H, W, C)``.
        pool_size: ``(ph, pw)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads used in the forward pass.

    Returns:
        ``(N, H, W, C)``.
    """
    grad = np.ascontiguousarray(grad)
    _, out_h, out_w, _ = grad.shape
    _, _, args = _setup(input_shape, pool_size, strides, dilation, pads)
    gx = np.empty(tuple(input_shape), dtype=grad.dtype)
    if gx.size == 0:
        return gx
    if grad.size == 0:
        gx[...] = 0
        return gx
    inv_rows = _inverse_counts(
        input_shape[1], out_h, pool_size[0], strides[0], dilation[0], pads[0][0], grad.dtype
    )
    inv_cols = _inverse_counts(
        input_shape[2], out_w, pool_size[1], strides[1], dilation[1], pads[1][0], grad.dtype
    )
    _avg_grad_input(grad, gx, inv_rows, inv_cols, *args)
    return gx
