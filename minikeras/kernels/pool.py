"""Max and average pooling on NHWC arrays: forward and gradient w.r.t. the input.

Definitions: :mod:`minikeras.kernels.reference`. Padding never takes part: max ignores it, and
average divides by the number of *real* pixels in the window (TensorFlow's ``"same"`` rule). A
window with no real pixel (possible only with dilation) outputs 0 and passes no gradient. Ties in
max pooling send the gradient to the first maximum in tap order (row by row through the window).

Loop order as in the convolutions: parallel over rows of whatever array is written, channels
innermost so each tap is a contiguous run of ``C`` numbers. Average pooling's divisor factorises
into (real rows in the window) x (real columns in the window), so it is two small vectors. Max
pooling takes up to four taps per pass over an output pixel's channels (see :func:`_max4`).

Max pooling's backward needs only *where* each maximum was. The forward pass of a training step
records it (:func:`max_pool2d_forward_argmax`, one int32 per output), and the backward pass is a
scatter of the output gradient to those positions (:func:`max_pool2d_grad_from_argmax`): no
window is searched twice. The scatter runs parallel over images, so no two threads write the
same pixel. Forward mode reads the same positions the other way: the tangent of each output is
the input's tangent at its maximum, a gather (:func:`max_pool2d_gather_from_argmax`, the
scatter's adjoint). Max-pool work happens in serial functions over a range of rows (or images); the
parallel driver only cuts that range into one chunk per thread, and small problems skip the
driver (see :data:`minikeras.kernels._jit.SERIAL_BELOW`).
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels._jit import njit, prange, split
from minikeras.kernels.padding import Pads, output_hw

# Max pooling works one output pixel at a time: it lists the window's real pixels (the taps that
# land inside the image), then takes the maximum of their channel vectors four at a time, in one
# pass over the output's channels per four taps (a 2x2 window: one pass, four loads and one store
# per channel). Short windows are padded by repeating a tap: max(v, v) = v, and a repeat is never
# *strictly* greater, so the first maximum keeps its place. One pass per tap instead (read, max,
# write back the output vector each time) measured 5-7x slower on the digits model's 8x8x32
# maps: with only C numbers per pass, the fixed cost of each pass dominates.


@njit()
def _max4(dst, s0, s1, s2, s3, first, last):  # pragma: no cover - JIT
    """``dst = max(s0, s1, s2, s3)`` (and of ``dst`` itself unless ``first``), per channel.

    ``last``: this is the window's final group; a maximum of -inf (no real value) becomes 0.
    """
    for c in range(dst.shape[0]):
        # plain selects, not the builtin max (whose NaN handling keeps LLVM from vectorising)
        m = s0[c]
        m = s1[c] if s1[c] > m else m
        m = s2[c] if s2[c] > m else m
        m = s3[c] if s3[c] > m else m
        if not first:
            m = m if m > dst[c] else dst[c]
        if last and m == -np.inf:
            m = 0
        dst[c] = m


@njit()
def _argmax4(dst, at, s0, p0, s1, p1, s2, p2, s3, p3, first, last):  # pragma: no cover - JIT
    """:func:`_max4` that also keeps, in ``at``, the position of the first maximum."""
    for c in range(dst.shape[0]):
        m, k = s0[c], p0
        better = s1[c] > m  # strict: of equal values the earlier tap keeps the gradient
        m, k = (s1[c], p1) if better else (m, k)
        better = s2[c] > m
        m, k = (s2[c], p2) if better else (m, k)
        better = s3[c] > m
        m, k = (s3[c], p3) if better else (m, k)
        if not first:  # earlier taps are in dst: a later one must be strictly greater
            better = m > dst[c]
            m, k = (m, k) if better else (dst[c], at[c])
        if last and m == -np.inf:
            m, k = 0, -1  # no real value: output 0, no gradient (see the module docstring)
        dst[c] = m
        at[c] = k


@njit()
def _window_taps(i, j, taps, height, width, ph, pw, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    """Write the flat positions ``y * W + x`` of window (i, j)'s real pixels into ``taps``.

    Returns their number; tap order is row by row through the window.
    """
    count = 0
    for a in range(ph):
        y = i * sh + a * dh - pt
        if y < 0 or y >= height:
            continue
        for b in range(pw):
            xc = j * sw + b * dw - pl
            if 0 <= xc < width:
                taps[count] = y * width + xc
                count += 1
    return count


@njit()
def _max_rows(x, out, r0, r1, ph, pw, sh, sw, dh, dw, pt, pl):  # pragma: no cover - JIT
    """Max pooling of output rows r0 <= r < r1 (row r: image r // Ho, row r % Ho of it)."""
    n_img, height, width, channels = x.shape
    _, out_h, out_w, _ = out.shape
    pixels = x.reshape(n_img, height * width, channels)
    taps = np.empty(ph * pw, np.int64)
    for r in range(r0, r1):
        n = r // out_h
        i = r - n * out_h
        img = pixels[n]
        for j in range(out_w):
            dst = out[n, i, j]
            count = _window_taps(i, j, taps, height, width, ph, pw, sh, sw, dh, dw, pt, pl)
            if count == 0:
                dst[:] = 0  # a window of padding only: see the module docstring
            for q in range(0, count, 4):
                last = count - 1
                _max4(
                    dst,
                    img[taps[q]],
                    img[taps[min(q + 1, last)]],
                    img[taps[min(q + 2, last)]],
                    img[taps[min(q + 3, last)]],
                    q == 0,
                    q + 4 >= count,
                )


@njit()
def _argmax_rows(x, out, where, r0, r1, ph, pw, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    """:func:`_max_rows` that also records where each maximum came from.

    ``where[n, i, j, c]`` is the flat pixel index ``y * W + x`` (within image ``n``) of the first
    maximum in tap order, or -1 for a window with no real pixel; that is all the backward needs.
    """
    n_img, height, width, channels = x.shape
    _, out_h, out_w, _ = out.shape
    pixels = x.reshape(n_img, height * width, channels)
    taps = np.empty(ph * pw, np.int64)
    for r in range(r0, r1):
        n = r // out_h
        i = r - n * out_h
        img = pixels[n]
        for j in range(out_w):
            dst = out[n, i, j]
            at = where[n, i, j]
            count = _window_taps(i, j, taps, height, width, ph, pw, sh, sw, dh, dw, pt, pl)
            if count == 0:
                dst[:] = 0
                at[:] = -1
            for q in range(0, count, 4):
                last = count - 1
                t1, t2, t3 = taps[min(q + 1, last)], taps[min(q + 2, last)], taps[min(q + 3, last)]
                _argmax4(
                    dst,
                    at,
                    img[taps[q]],
                    taps[q],
                    img[t1],
                    t1,
                    img[t2],
                    t2,
                    img[t3],
                    t3,
                    q == 0,
                    q + 4 >= count,
                )


@njit(parallel=True)
def _max_parallel(x, out, chunks, ph, pw, sh, sw, dh, dw, pt, pl):  # pragma: no cover - JIT
    rows = out.shape[0] * out.shape[1]
    for ch in prange(chunks):
        lo, hi = ch * rows // chunks, (ch + 1) * rows // chunks
        _max_rows(x, out, lo, hi, ph, pw, sh, sw, dh, dw, pt, pl)


@njit(parallel=True)
def _argmax_parallel(x, out, where, chunks, ph, pw, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    rows = out.shape[0] * out.shape[1]
    for ch in prange(chunks):
        lo, hi = ch * rows // chunks, (ch + 1) * rows // chunks
        _argmax_rows(x, out, where, lo, hi, ph, pw, sh, sw, dh, dw, pt, pl)


@njit()
def _scatter_images(where, g, gx, n0, n1):  # pragma: no cover - JIT
    """``gx[n, where[n, i, j, c], c] += g[n, i, j, c]`` for images ``n0 <= n < n1``.

    ``gx`` is ``(N, H*W, C)``. Windows may overlap, so two outputs can route to one pixel; a
    thread owns whole images, so no two threads ever add to the same pixel.
    """
    _, out_h, out_w, channels = g.shape
    for n in range(n0, n1):
        gxn = gx[n]
        gxn[:, :] = 0
        for i in range(out_h):
            for j in range(out_w):
                at = where[n, i, j]
                src = g[n, i, j]
                for c in range(channels):
                    pos = at[c]
                    if pos >= 0:
                        gxn[pos, c] += src[c]


@njit(parallel=True)
def _scatter_parallel(where, g, gx, chunks):  # pragma: no cover - JIT
    n_img = g.shape[0]
    for ch in prange(chunks):
        _scatter_images(where, g, gx, ch * n_img // chunks, (ch + 1) * n_img // chunks)


@njit()
def _gather_images(where, t, out, n0, n1):  # pragma: no cover - JIT
    """``out[n, i, j, c] = t[n, where[n, i, j, c], c]`` (0 where -1) for images ``n0 <= n < n1``.

    ``t`` is ``(N, H*W, C)``. The adjoint of :func:`_scatter_images`: each output reads one pixel.
    """
    _, out_h, out_w, channels = out.shape
    for n in range(n0, n1):
        tn = t[n]
        for i in range(out_h):
            for j in range(out_w):
                at = where[n, i, j]
                dst = out[n, i, j]
                for c in range(channels):
                    pos = at[c]
                    dst[c] = tn[pos, c] if pos >= 0 else 0.0


@njit(parallel=True)
def _gather_parallel(where, t, out, chunks):  # pragma: no cover - JIT
    n_img = out.shape[0]
    for ch in prange(chunks):
        _gather_images(where, t, out, ch * n_img // chunks, (ch + 1) * n_img // chunks)


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
        chunks = split(x.size, x.shape[0] * out_h)
        if chunks == 1:
            _max_rows(x, out, 0, x.shape[0] * out_h, *args)
        else:
            _max_parallel(x, out, chunks, *args)
    return out


def max_pool2d_forward_argmax(
    x: np.ndarray,
    pool_size: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = ((0, 0), (0, 0)),
) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling that also returns where each maximum is, for a cheap backward pass.

    Args:
        x: ``(N, H, W, C)``, float32 or float64.
        pool_size: ``(ph, pw)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads (never selected).

    Returns:
        ``out`` ``(N, Ho, Wo, C)`` as :func:`max_pool2d_forward`, and ``where``, int32 of the
        same shape: the flat index ``y * W + x`` in its image of the first maximum of each window
        (-1 for a window with no real pixel). Feed it to :func:`max_pool2d_grad_from_argmax`.
    """
    x = np.ascontiguousarray(x)
    out_h, out_w, args = _setup(x.shape, pool_size, strides, dilation, pads)
    out = np.empty((x.shape[0], out_h, out_w, x.shape[3]), dtype=x.dtype)
    where = np.empty(out.shape, dtype=np.int32)
    if out.size:
        chunks = split(x.size, x.shape[0] * out_h)
        if chunks == 1:
            _argmax_rows(x, out, where, 0, x.shape[0] * out_h, *args)
        else:
            _argmax_parallel(x, out, where, chunks, *args)
    return out, where


def max_pool2d_grad_from_argmax(
    where: np.ndarray, grad: np.ndarray, input_shape: tuple[int, int, int, int]
) -> np.ndarray:
    """Gradient of max pooling from the positions :func:`max_pool2d_forward_argmax` recorded.

    A scatter: ``gx[n, y, x, c] = sum of grad[n, i, j, c] over the windows whose maximum was at
    (y, x)``. No window is looked at again.

    Args:
        where: int32 ``(N, Ho, Wo, C)`` from :func:`max_pool2d_forward_argmax`.
        grad: ``(N, Ho, Wo, C)``.
        input_shape: ``(N, H, W, C)`` of the forward input.

    Returns:
        ``(N, H, W, C)``, the dtype of ``grad``.
    """
    grad = np.ascontiguousarray(grad)
    n_img, height, width, channels = input_shape
    gx = np.empty(tuple(input_shape), dtype=grad.dtype)
    if gx.size == 0:
        return gx
    flat = gx.reshape(n_img, height * width, channels)
    chunks = split(gx.size + grad.size, n_img)
    if chunks == 1:
        _scatter_images(where, grad, flat, 0, n_img)
    else:
        _scatter_parallel(where, grad, flat, chunks)
    return gx


def max_pool2d_gather_from_argmax(where: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each window's entry of ``values`` at the maximum :func:`max_pool2d_forward_argmax` found.

    A gather, ``out[n, i, j, c] = values[n, y, x, c]`` with ``y * W + x = where[n, i, j, c]``
    (0 for a window with no real pixel): max pooling's forward-mode tangent (the tangent at each
    maximum), and the adjoint of :func:`max_pool2d_grad_from_argmax`'s scatter, so also that
    scatter's gradient.

    Args:
        where: int32 ``(N, Ho, Wo, C)`` from :func:`max_pool2d_forward_argmax`.
        values: ``(N, H, W, C)``, the shape of the forward input.

    Returns:
        ``(N, Ho, Wo, C)``, the dtype of ``values``.
    """
    values = np.ascontiguousarray(values)
    n_img, height, width, channels = values.shape
    out = np.empty(where.shape, dtype=values.dtype)
    if out.size == 0:
        return out
    flat = values.reshape(n_img, height * width, channels)
    chunks = split(out.size + values.size, n_img)
    if chunks == 1:
        _gather_images(where, flat, out, 0, n_img)
    else:
        _gather_parallel(where, flat, out, chunks)
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
    # Finds the maxima again; a backward pass that kept them from the forward pass should call
    # max_pool2d_grad_from_argmax directly (as minikeras.backend.pool2d does).
    _, where = max_pool2d_forward_argmax(x, pool_size, strides, dilation, pads)
    return max_pool2d_grad_from_argmax(where, np.asarray(grad, dtype=x.dtype), x.shape)


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
