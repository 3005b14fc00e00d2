"""Depthwise convolution with sums held in registers: stride-1 forward and gradients.

The stream kernels of :mod:`.depthwise` load an input vector and a weight vector for every FMA
and read and write their output row once per tap, because numba vectorises only innermost
loops. These kernels say what to keep in registers with the lanes values of :mod:`.lanes`
(:data:`.lanes.LANES` channels each), four neighbouring output pixels at a time:

* forward: the four pixels' sums stay in registers while the taps go by, and each is stored
  once. Along a kernel row their windows overlap (tap ``b`` of pixel ``q`` reads input pixel
  ``j + q + b``), so per tap one new input vector and one weight vector are loaded for four
  FMAs. The input gradient of a stride-1 convolution is the same computation over the output
  gradient with the kernel turned by 180 degrees (see
  :func:`.depthwise.depthwise_conv2d_grad_input`).
* kernel gradient: the four pixels' output-gradient vectors stay in registers while the taps go
  by; per tap its sum (in L1) is loaded once, gets four FMAs, and is stored once, the input
  vectors again shared along the kernel row.

Groups of four pixels whose windows lie inside the image read the input where it is; those at
the left and right edges read a ring of zero-padded copies of just the edge columns, so no tap
needs a bounds test. Kernel rows that fall outside the image are left out.

They run for multiplier 1, stride 1, no dilation and channels a multiple of
:data:`.lanes.LANES`, on problems big enough (:func:`.depthwise._big`) to be worth their compile
time. Measured one thread, alternated (``benchmarks/README.md``): depthwise forward W1
(32x32x32x32, 3x3) 0.70 -> 0.49 ms, W2 (64x16x16x128) 1.92 -> 1.60 ms; W4 (128x8x8x64, 5x5)
forward 0.72-0.81 -> 0.56 ms, input gradient 0.76 -> 0.63 ms, kernel gradient 1.36 -> 0.66 ms.
Compiled for AVX2 (``NUMBA_CPU_NAME=haswell`` with AVX2 features, OpenBLAS as Haswell) W1 and
W4 gained alike (W1 forward 0.78 -> 0.46-0.51 ms, W4 kernel gradient 1.04-1.15 -> 0.64-0.71
ms) and W2's forward lost 10-20%.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels import lanes
from minikeras.kernels._jit import njit, prange


@njit()
def _edge_plan(x, kh, kw, channels, out_w, pl):  # pragma: no cover - JIT
    """Which groups of four output pixels read the input row itself, and an empty ring.

    Returns ``(quads, jl, jr, left_end, ring, held, tables)``: pixels ``j < quads`` go in fours;
    ``jl <= j < jr`` have their whole window inside the row; the ring's ``kh`` zero-padded rows
    (``Wo + kw - 1`` pixels, padded column ``P`` holding input column ``P - pl``) need only the
    columns ``[0, left_end)`` and ``[jr, ...)``. ``held[s]`` is the ``n*H + y`` of the input
    row in ring row ``s`` (-1: none yet); ``tables`` is :func:`_kernel_rows`'s scratch.
    """
    width = x.shape[2] // channels
    quads = out_w - out_w % 4
    jl = min(quads, -(-pl // 4) * 4)
    j_last = width - kw - 3 + pl  # the first pixel of the last group inside the row
    jr = jl if j_last < jl else min(quads, (j_last // 4) * 4 + 4)
    padded_w = out_w + kw - 1
    left_end = min(padded_w, jl + kw - 1) if jl > 0 else 0
    ring = np.zeros((kh, padded_w * channels), x.dtype)
    held = np.full(kh, -1, np.int64)
    tables = np.empty((3, kh), np.int64)
    return quads, jl, jr, left_end, ring, held, tables


@njit()
def _kernel_rows(x, ring, held, tables, r, out_h, pt, kw, pl, channels, left_end, jr):  # noqa: E501  # pragma: no cover
    """Table the kernel rows that land inside the image, for output row ``r`` (flat over images).

    ``tables[0, t]`` and ``tables[1, t]`` are where kernel row ``t``'s input row starts in the
    flat input and in the flat ring, ``tables[2, t]`` where its weights start in a flat
    ``(kh, kw, C)`` array. Input rows not in the ring yet get their edge columns copied there.
    Returns ``(n, i, rows)``: image, row in it, and the number of kernel rows.
    """
    n = r // out_h
    i = r - n * out_h
    _, height, row_len = x.shape
    kh = held.shape[0]
    padded_len = ring.shape[1]
    padded_w = padded_len // channels
    width = row_len // channels
    y0 = i - pt
    count = 0
    for a in range(max(0, -y0), min(kh, height - y0)):
        y = y0 + a
        slot = y % kh
        if held[slot] != n * height + y:
            held[slot] = n * height + y
            for lo, hi in ((0, left_end), (jr, padded_w)):
                c0 = max(lo, pl)
                c1 = min(hi, pl + width)
                if c1 > c0:
                    ring[slot, c0 * channels : c1 * channels] = x[
                        n, y, (c0 - pl) * channels : (c1 - pl) * channels
                    ]
        tables[0, count] = (n * height + y) * row_len
        tables[1, count] = slot * padded_len
        tables[2, count] = a * kw * channels
        count += 1
    return n, i, count


@njit()
def _quads(src, row_at, n_rows, weights, w_row_at, orow, j0, j1, col0, channels, kw):  # noqa: E501  # pragma: no cover
    """Output pixels ``j0 <= j < j1`` of one output row, four at a time (``j1 - j0``: 4k).

    Kernel row ``t < n_rows`` reads ``src[row_at[t] + (j + col0 + b) * C + c]`` for column tap
    ``b``, with the weights at ``weights[w_row_at[t] + b * C + c]``.


    Along a kernel row the four pixels' windows overlap: tap ``b`` of pixel ``q`` reads input
    pixel ``j + q + b``, so each input vector loaded serves up to four FMAs, and per tap only
    one new input vector and one weight vector are loaded (a 3x3 window's row is written out:
    as a loop of three it ran slower than a table of the nine taps).
    """
    C = channels
    for j in range(j0, j1, 4):
        for cb in range(0, C, lanes.LANES):
            s0 = lanes.zeros(weights)
            s1 = lanes.zeros(weights)
            s2 = lanes.zeros(weights)
            s3 = lanes.zeros(weights)
            for t in range(n_rows):
                p = row_at[t] + (j + col0) * C + cb
                wp = w_row_at[t] + cb
                v0 = lanes.load(src, p)
                v1 = lanes.load(src, p + C)
                v2 = lanes.load(src, p + 2 * C)
                if kw == 3:
                    v3 = lanes.load(src, p + 3 * C)
                    v4 = lanes.load(src, p + 4 * C)
                    v5 = lanes.load(src, p + 5 * C)
                    w = lanes.load(weights, wp)
                    s0 = lanes.fma(v0, w, s0)
                    s1 = lanes.fma(v1, w, s1)
                    s2 = lanes.fma(v2, w, s2)
                    s3 = lanes.fma(v3, w, s3)
                    w = lanes.load(weights, wp + C)
                    s0 = lanes.fma(v1, w, s0)
                    s1 = lanes.fma(v2, w, s1)
                    s2 = lanes.fma(v3, w, s2)
                    s3 = lanes.fma(v4, w, s3)
                    w = lanes.load(weights, wp + 2 * C)
                    s0 = lanes.fma(v2, w, s0)
                    s1 = lanes.fma(v3, w, s1)
                    s2 = lanes.fma(v4, w, s2)
                    s3 = lanes.fma(v5, w, s3)
                else:
                    for b in range(kw):
                        v3 = lanes.load(src, p + (b + 3) * C)
                        w = lanes.load(weights, wp + b * C)
                        s0 = lanes.fma(v0, w, s0)
                        s1 = lanes.fma(v1, w, s1)
                        s2 = lanes.fma(v2, w, s2)
                        s3 = lanes.fma(v3, w, s3)
                        v0 = v1
                        v1 = v2
                        v2 = v3
            q = j * C + cb
            lanes.store(orow, q, s0)
            lanes.store(orow, q + C, s1)
            lanes.store(orow, q + 2 * C, s2)
            lanes.store(orow, q + 3 * C, s3)


# nogil: the fused separable forward runs this from the matmul pool's Python threads.
@njit(nogil=True)
def forward_rows(x, kernel, out, r0, r1, pt, pl):  # pragma: no cover - JIT
    """Output rows ``r0 <= r < r1`` of a stride-1, undilated depthwise convolution.

    ``x`` ``(N, H, W*C)``, ``kernel`` ``(kh, kw, C)``, ``out`` ``(N, Ho, Wo*C)``, with ``C`` a
    multiple of :data:`.lanes.LANES` and multiplier 1; ``pt``, ``pl`` the top and left pads.
    """
    kh, kw, channels = kernel.shape
    _, out_h, out_len = out.shape
    out_w = out_len // channels
    quads, jl, jr, left_end, ring, held, tables = _edge_plan(x, kh, kw, channels, out_w, pl)
    flat_x, flat_ring, weights = x.reshape(-1), ring.reshape(-1), kernel.reshape(-1)
    x_at, ring_at, w_at = tables[0], tables[1], tables[2]
    for r in range(r0, r1):
        n, i, rows = _kernel_rows(
            x, ring, held, tables, r, out_h, pt, kw, pl, channels, left_end, jr
        )
        orow = out[n, i]
        _quads(flat_ring, ring_at, rows, weights, w_at, orow, 0, jl, 0, channels, kw)
        _quads(flat_x, x_at, rows, weights, w_at, orow, jl, jr, -pl, channels, kw)
        _quads(flat_ring, ring_at, rows, weights, w_at, orow, jr, quads, 0, channels, kw)
        for j in range(quads, out_w):  # the last 1-3 pixels, one at a time
            for cb in range(0, channels, lanes.LANES):
                s = lanes.zeros(weights)
                for t in range(rows):
                    for b in range(kw):
                        s = lanes.fma(
                            lanes.load(flat_ring, ring_at[t] + (j + b) * channels + cb),
                            lanes.load(weights, w_at[t] + b * channels + cb),
                            s,
                        )
                lanes.store(orow, j * channels + cb, s)


@njit(parallel=True)
def forward_rows_parallel(x, kernel, out, chunks, *geometry):  # pragma: no cover - JIT
    """:func:`forward_rows` over all output rows, in ``chunks`` chunks of rows on the threads."""
    rows = out.shape[0] * out.shape[1]
    for ch in prange(chunks):
        forward_rows(x, kernel, out, ch * rows // chunks, (ch + 1) * rows // chunks, *geometry)


@njit()
def _grad_quads(src, row_at, n_rows, grow, sums, w_row_at, j0, j1, col0, channels, kw):  # noqa: E501  # pragma: no cover
    """Add the kernel gradient of output pixels ``j0 <= j < j1`` (in fours) to ``sums``.

    ``sums`` is a flat ``(kh, kw, C)`` array; kernel row ``t < n_rows`` reads
    ``src[row_at[t] + (j + col0 + b) * C + c]`` for column tap ``b`` and adds into
    ``sums[w_row_at[t] + b * C + c]``; ``grow`` is the output-gradient row.
    """
    C = channels
    for j in range(j0, j1, 4):
        for cb in range(0, C, lanes.LANES):
            q = j * C + cb
            g0 = lanes.load(grow, q)
            g1 = lanes.load(grow, q + C)
            g2 = lanes.load(grow, q + 2 * C)
            g3 = lanes.load(grow, q + 3 * C)
            for t in range(n_rows):
                p = row_at[t] + (j + col0) * C + cb
                wp = w_row_at[t] + cb
                v0 = lanes.load(src, p)
                v1 = lanes.load(src, p + C)
                v2 = lanes.load(src, p + 2 * C)
                for b in range(kw):
                    v3 = lanes.load(src, p + (b + 3) * C)
                    s = lanes.load(sums, wp + b * C)
                    s = lanes.fma(v0, g0, s)
                    s = lanes.fma(v1, g1, s)
                    s = lanes.fma(v2, g2, s)
                    s = lanes.fma(v3, g3, s)
                    lanes.store(sums, wp + b * C, s)
                    v0 = v1
                    v1 = v2
                    v2 = v3


@njit()
def grad_kernel_rows(x, g, acc, r0, r1, pt, pl):  # pragma: no cover - JIT
    """Add the kernel gradient of output rows ``r0 <= r < r1`` to ``acc`` ``(kh, kw, C)``.

    ``x`` ``(N, H, W*C)``, ``g`` ``(N, Ho, Wo*C)``, ``C`` a multiple of :data:`.lanes.LANES`;
    stride 1, no dilation, multiplier 1; ``pt``, ``pl`` the top and left pads.
    """
    kh, kw, channels = acc.shape
    _, out_h, out_len = g.shape
    out_w = out_len // channels
    quads, jl, jr, left_end, ring, held, tables = _edge_plan(x, kh, kw, channels, out_w, pl)
    flat_x, flat_ring, sums = x.reshape(-1), ring.reshape(-1), acc.reshape(-1)
    x_at, ring_at, w_at = tables[0], tables[1], tables[2]
    for r in range(r0, r1):
        n, i, rows = _kernel_rows(
            x, ring, held, tables, r, out_h, pt, kw, pl, channels, left_end, jr
        )
        grow = g[n, i]
        _grad_quads(flat_ring, ring_at, rows, grow, sums, w_at, 0, jl, 0, channels, kw)
        _grad_quads(flat_x, x_at, rows, grow, sums, w_at, jl, jr, -pl, channels, kw)
        _grad_quads(flat_ring, ring_at, rows, grow, sums, w_at, jr, quads, 0, channels, kw)
        for j in range(quads, out_w):
            for cb in range(0, channels, lanes.LANES):
                g0 = lanes.load(grow, j * channels + cb)
                for t in range(rows):
                    for b in range(kw):
                        at = w_at[t] + b * channels + cb
                        s = lanes.load(flat_ring, ring_at[t] + (j + b) * channels + cb)
                        lanes.store(sums, at, lanes.fma(s, g0, lanes.load(sums, at)))


@njit(parallel=True)
def grad_kernel_rows_parallel(x, g, acc, *geometry):  # pragma: no cover - JIT
    """:func:`grad_kernel_rows` over all output rows, chunk ``ch`` adding to ``acc[ch]``."""
    chunks = acc.shape[0]
    rows = g.shape[0] * g.shape[1]
    for ch in prange(chunks):
        grad_kernel_rows(x, g, acc[ch], ch * rows // chunks, (ch + 1) * rows // chunks, *geometry)
