"""Depthwise 2-D convolution on NHWC arrays: forward, gradient w.r.t. input, w.r.t. kernel.

Definition (see :func:`minikeras.kernels.reference.depthwise_conv2d_forward`)::

    out[n, i, j, c*dm + m] = sum_{a, b} x[n, i*sh + a*dh - pt, j*sw + b*dw - pl, c] * k[a, b, c, m]

with out-of-range input pixels counting as zero. Kernel layout ``(kh, kw, C, dm)`` as in Keras.

How it is made fast (measurements in DESIGN.md and benchmarks/README.md):

* Each image row is one contiguous stream of ``W*C`` numbers. For column stride 1 and depth
  multiplier 1 (the common case) one tap ``(a, b)`` is a single FMA stream
  ``out_row[t] += x_row[t + shift] * k_tiled[t]`` over ``t < Wo*C``, with the kernel tap tiled
  along the row once per call, so LLVM vectorises the loop without any channel bookkeeping.
  Other strides and multipliers take a general path with channels innermost.
* No padded copy of the input is made: each tap only visits the columns and rows it can reach.
* Forward and input gradient are parallel over rows of their *output*, so every thread writes
  rows nobody else touches (the input gradient is computed in gather form: row by row of ``x``).
* The kernel gradient keeps one private accumulator per thread chunk, reduced at the end.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels._jit import njit, num_threads, prange
from minikeras.kernels.padding import Pads, output_hw

# ---------------------------------------------------------------------------------------------
# Stream kernels: column stride 1, depth multiplier 1. Rows are flattened to W*C.
# ---------------------------------------------------------------------------------------------


@njit(parallel=True)
def _forward_stream(x, ktile, out, channels, sh, dh, dw, pt, pl):  # pragma: no cover - JIT
    n_img, height, wc = x.shape
    _, out_h, length = out.shape
    kh, kw, _ = ktile.shape
    width = wc // channels
    out_w = length // channels
    for r in prange(n_img * out_h):
        n = r // out_h
        i = r - n * out_h
        orow = out[n, i]
        for t in range(length):
            orow[t] = 0
        for a in range(kh):
            y = i * sh + a * dh - pt
            if y < 0 or y >= height:
                continue
            xrow = x[n, y]
            for b in range(kw):
                shift = b * dw - pl
                j0 = max(0, -shift)
                j1 = min(out_w, width - shift)
                off = shift * channels
                kt = ktile[a, b]
                for t in range(j0 * channels, j1 * channels):
                    orow[t] += xrow[t + off] * kt[t]


@njit(parallel=True)
def _grad_input_stream(g, ktile, gx, channels, sh, dh, dw, pt, pl):  # pragma: no cover - JIT
    n_img, height, wc = gx.shape
    _, out_h, length = g.shape
    kh, kw, _ = ktile.shape
    width = wc // channels
    out_w = length // channels
    for r in prange(n_img * height):
        n = r // height
        y = r - n * height
        gxrow = gx[n, y]
        for t in range(wc):
            gxrow[t] = 0
        for a in range(kh):
            q = y + pt - a * dh  # = i * sh for the output row i this tap reads y from
            if q < 0 or q % sh != 0 or q // sh >= out_h:
                continue
            grow = g[n, q // sh]
            for b in range(kw):
                shift = b * dw - pl
                j0 = max(0, -shift)
                j1 = min(out_w, width - shift)
                off = shift * channels
                kt = ktile[a, b]
                for t in range(j0 * channels, j1 * channels):
                    gxrow[t + off] += grow[t] * kt[t]


@njit(parallel=True)
def _grad_kernel_stream(x, g, acc, channels, sh, dh, dw, pt, pl):  # pragma: no cover - JIT
    # acc: (chunks, kh, kw, Wo*C), one private slab per chunk; the caller sums it.
    n_img, height, wc = x.shape
    _, out_h, length = g.shape
    chunks, kh, kw, _ = acc.shape
    width = wc // channels
    out_w = length // channels
    rows = n_img * out_h
    for ch in prange(chunks):
        for r in range(ch * rows // chunks, (ch + 1) * rows // chunks):
            n = r // out_h
            i = r - n * out_h
            grow = g[n, i]
            for a in range(kh):
                y = i * sh + a * dh - pt
                if y < 0 or y >= height:
                    continue
                xrow = x[n, y]
                for b in range(kw):
                    shift = b * dw - pl
                    j0 = max(0, -shift)
                    j1 = min(out_w, width - shift)
                    off = shift * channels
                    ac = acc[ch, a, b]
                    for t in range(j0 * channels, j1 * channels):
                        ac[t] += grow[t] * xrow[t + off]


# ---------------------------------------------------------------------------------------------
# General kernels: any column stride, any depth multiplier; channels innermost.
# ---------------------------------------------------------------------------------------------


@njit(parallel=True)
def _forward_general(x, k, out, sh, sw, dh, dw, pt, pl):  # pragma: no cover - JIT
    n_img, height, width, channels = x.shape
    _, out_h, out_w, _ = out.shape
    kh, kw, _, dm = k.shape
    for r in prange(n_img * out_h):
        n = r // out_h
        i = r - n * out_h
        orow = out[n, i]
        orow[:, :] = 0
        for a in range(kh):
            y = i * sh + a * dh - pt
            if y < 0 or y >= height:
                continue
            xrow = x[n, y]
            for b in range(kw):
                shift = b * dw - pl
                j0 = max(0, -(shift // sw))  # first j with j*sw + shift >= 0
                j1 = min(out_w, (width - 1 - shift) // sw + 1)
                ktap = k[a, b]
                for j in range(j0, j1):
                    xpix = xrow[j * sw + shift]
                    opix = orow[j]
                    for c in range(channels):
                        for m in range(dm):
                            opix[c * dm + m] += xpix[c] * ktap[c, m]


@njit(parallel=True)
def _grad_input_general(g, k, gx, sh, sw, dh, dw, pt, pl):  # pragma: no cover - JIT
    n_img, height, width, channels = gx.shape
    _, out_h, out_w, _ = g.shape
    kh, kw, _, dm = k.shape
    for r in prange(n_img * height):
        n = r // height
        y = r - n * height
        gxrow = gx[n, y]
        gxrow[:, :] = 0
        for a in range(kh):
            q = y + pt - a * dh
            if q < 0 or q % sh != 0 or q // sh >= out_h:
                continue
            grow = g[n, q // sh]
            for b in range(kw):
                shift = b * dw - pl
                j0 = max(0, -(shift // sw))
                j1 = min(out_w, (width - 1 - shift) // sw + 1)
                ktap = k[a, b]
                for j in range(j0, j1):
                    gpix = grow[j]
                    gxpix = gxrow[j * sw + shift]
                    for c in range(channels):
                        s = gxpix[c]
                        for m in range(dm):
                            s += gpix[c * dm + m] * ktap[c, m]
                        gxpix[c] = s


@njit(parallel=True)
def _grad_kernel_general(x, g, acc, sh, sw, dh, dw, pt, pl):  # pragma: no cover - JIT
    # acc: (chunks, kh, kw, C, dm), one private slab per chunk; the caller sums it.
    n_img, height, width, channels = x.shape
    _, out_h, out_w, _ = g.shape
    chunks, kh, kw, _, dm = acc.shape
    rows = n_img * out_h
    for ch in prange(chunks):
        for r in range(ch * rows // chunks, (ch + 1) * rows // chunks):
            n = r // out_h
            i = r - n * out_h
            grow = g[n, i]
            for a in range(kh):
                y = i * sh + a * dh - pt
                if y < 0 or y >= height:
                    continue
                xrow = x[n, y]
                for b in range(kw):
                    shift = b * dw - pl
                    j0 = max(0, -(shift // sw))
                    j1 = min(out_w, (width - 1 - shift) // sw + 1)
                    ac = acc[ch, a, b]
                    for j in range(j0, j1):
                        xpix = xrow[j * sw + shift]
                        gpix = grow[j]
                        for c in range(channels):
                            for m in range(dm):
                                ac[c, m] += gpix[c * dm + m] * xpix[c]


# ---------------------------------------------------------------------------------------------
# Public kernels (plain Python: shapes, dispatch, allocation).
# ---------------------------------------------------------------------------------------------


def _tiled(kernel: np.ndarray, out_w: int) -> np.ndarray:
    """Repeat each tap's channel vector along the output row: ``(kh, kw, out_w*C)``."""
    return np.ascontiguousarray(np.tile(kernel[:, :, :, 0], (1, 1, out_w)))


def _chunks(rows: int) -> int:
    # A few chunks per thread would balance better, but each chunk costs one accumulator slab
    # to zero and reduce; one per thread was as fast on the benchmark workloads.
    return max(1, min(num_threads(), rows))


def depthwise_conv2d_forward(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = ((0, 0), (0, 0)),
) -> np.ndarray:
    """Depthwise convolution of NHWC ``x`` with a ``(kh, kw, C, dm)`` kernel.

    Args:
        x: Input ``(N, H, W, C)``, float32 or float64.
        kernel: ``(kh, kw, C, dm)``; cast to ``x.dtype``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit ``((top, bottom), (left, right))`` zero padding.

    Returns:
        ``(N, Ho, Wo, C*dm)`` with output channel ``c*dm + m``.
    """
    x = np.ascontiguousarray(x)
    kernel = np.ascontiguousarray(kernel, dtype=x.dtype)
    n_img, height, width, channels = x.shape
    kh, kw, _, dm = kernel.shape
    out_h, out_w = output_hw((height, width), (kh, kw), strides, dilation, pads)
    (sh, sw), (dh, dw), pt, pl = strides, dilation, pads[0][0], pads[1][0]
    out = np.empty((n_img, out_h, out_w, channels * dm), dtype=x.dtype)
    if out.size == 0:
        return out
    if sw == 1 and dm == 1:
        _forward_stream(
            x.reshape(n_img, height, width * channels),
            _tiled(kernel, out_w),
            out.reshape(n_img, out_h, out_w * channels),
            channels,
            sh,
            dh,
            dw,
            pt,
            pl,
        )
    else:
        _forward_general(x, kernel, out, sh, sw, dh, dw, pt, pl)
    return out


def depthwise_conv2d_grad_input(
    grad: np.ndarray,
    kernel: np.ndarray,
    input_shape: tuple[int, int, int, int],
    strides: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = ((0, 0), (0, 0)),
) -> np.ndarray:
    """Gradient of :func:`depthwise_conv2d_forward` with respect to its input.

    Args:
        grad: Gradient of the output, ``(N, Ho, Wo, C*dm)``.
        kernel: ``(kh, kw, C, dm)``.
        input_shape: ``(N, H, W, C)`` of the forward input.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads used in the forward pass.

    Returns:
        ``(N, H, W, C)``, the same dtype as ``grad``.
    """
    grad = np.ascontiguousarray(grad)
    kernel = np.ascontiguousarray(kernel, dtype=grad.dtype)
    n_img, height, width, channels = input_shape
    _, out_h, out_w, _ = grad.shape
    (sh, sw), (dh, dw), pt, pl = strides, dilation, pads[0][0], pads[1][0]
    gx = np.empty(tuple(input_shape), dtype=grad.dtype)
    if gx.size == 0:
        return gx
    if grad.size == 0:
        gx[...] = 0
        return gx
    if sw == 1 and kernel.shape[3] == 1:
        _grad_input_stream(
            grad.reshape(n_img, out_h, out_w * channels),
            _tiled(kernel, out_w),
            gx.reshape(n_img, height, width * channels),
            channels,
            sh,
            dh,
            dw,
            pt,
            pl,
        )
    else:
        _grad_input_general(grad, kernel, gx, sh, sw, dh, dw, pt, pl)
    return gx


def depthwise_conv2d_grad_kernel(
    x: np.ndarray,
    grad: np.ndarray,
    kernel_shape: tuple[int, int, int, int],
    strides: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = ((0, 0), (0, 0)),
) -> np.ndarray:
    """Gradient of :func:`depthwise_conv2d_forward` with respect to its kernel.

    Args:
        x: Forward input ``(N, H, W, C)``.
        grad: Gradient of the output, ``(N, Ho, Wo, C*dm)``.
        kernel_shape: ``(kh, kw, C, dm)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads used in the forward pass.

    Returns:
        ``(kh, kw, C, dm)``, the dtype of ``x``.
    """
    x = np.ascontiguousarray(x)
    grad = np.ascontiguousarray(grad, dtype=x.dtype)
    n_img, height, width, channels = x.shape
    kh, kw, _, dm = kernel_shape
    _, out_h, out_w, _ = grad.shape
    (sh, sw), (dh, dw), pt, pl = strides, dilation, pads[0][0], pads[1][0]
    if grad.size == 0 or x.size == 0:
        return np.zeros(tuple(kernel_shape), dtype=x.dtype)
    chunks = _chunks(n_img * out_h)
    if sw == 1 and dm == 1:
        acc = np.zeros((chunks, kh, kw, out_w * channels), dtype=x.dtype)
        _grad_kernel_stream(
            x.reshape(n_img, height, width * channels),
            grad.reshape(n_img, out_h, out_w * channels),
            acc,
            channels,
            sh,
            dh,
            dw,
            pt,
            pl,
        )
        # Fold the chunks and the output columns: index j*C + c holds channel c.
        total = acc.sum(axis=0).reshape(kh, kw, out_w, channels).sum(axis=2)
        return total.reshape(kh, kw, channels, 1)
    acc = np.zeros((chunks, kh, kw, channels, dm), dtype=x.dtype)
    _grad_kernel_general(x, grad, acc, sh, sw, dh, dw, pt, pl)
    return acc.sum(axis=0)
