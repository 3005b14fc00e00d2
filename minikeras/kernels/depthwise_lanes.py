"""Depthwise convolution with sums held in registers: stride-1 forward and kernel gradient.

The stream kernels of :mod:`.depthwise` load an input vector and a weight vector for every FMA
and read and write their output row once per tap, because numba vectorises only innermost
loops. These kernels say what to keep in registers with the lanes values of :mod:`.lanes`
(:data:`.lanes.LANES` channels each):

* forward: four neighbouring output pixels' sums stay in registers while the taps go by; per tap
  one weight vector and four input vectors are loaded for four FMAs, and each output vector is
  stored once. The input gradient of a stride-1 convolution is the same computation over the
  output gradient with the kernel turned by 180 degrees (see
  :func:`.depthwise.depthwise_conv2d_grad_input`).
* kernel gradient: four output pixels' gradient vectors stay in registers while the taps go by;
  per tap its sum (in L1) is loaded once, gets four FMAs, and is stored once.

Both read the input from a ring of zero-padded rows (each input row copied once, when an output
row first needs it), so no tap needs a bounds test, and take the taps from a table: with loops
over the kernel rows and columns LLVM unrolled the tap loop and gave every input stream its own
pointer, spilled to the stack (2x slower).

They run for multiplier 1, stride 1 and channels a multiple of :data:`.lanes.LANES`, on problems
big enough (:func:`.depthwise._big`) to be worth their compile time. One thread, alternated:
separable W4 (128x8x8x64, 5x5) forward 2.71 -> 1.75 ms, W1 (32x32x32x32) 3.63 -> 3.45 ms.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels import lanes
from minikeras.kernels._jit import njit, prange


@njit()
def _padded_rows(x, kh, kw, out_w, channels, sw, dh, dw, pl):  # pragma: no cover - JIT
    """An empty ring of zero-padded input rows for ``x`` ``(N, H, W*C)``.

    Returns ``(ring, held, c_lo, c_hi)``: ``ring`` ``((kh-1)*dh + 1, padded row)``, ``held[s]``
    the ``n*H + y`` of the input row in slot ``s`` (-1: none yet), and the span of a padded row
    that an input row's numbers fill.
    """
    width = x.shape[2] // channels
    span = (kh - 1) * dh + 1
    padded_w = (out_w - 1) * sw + (kw - 1) * dw + 1
    ring = np.zeros((span, padded_w * channels), x.dtype)
    held = np.full(span, -1, np.int64)
    return ring, held, min(pl, padded_w) * channels, min(padded_w, pl + width) * channels


@njit()
def _fill_taps(x, ring, held, x_at, w_at, n, i, sh, dh, dw, pt, kh, kw, channels, c_lo, c_hi):  # noqa: E501  # pragma: no cover
    """Bring output row ``i`` of image ``n``'s input rows into the ring, and table its taps.

    ``x_at[t]`` is the ring offset of tap ``t``'s input for output pixel 0, ``w_at[t]`` the tap's
    offset in a flat ``(kh, kw, C)`` array; taps whose kernel row falls outside the image are
    left out. Returns the number of taps.
    """
    span, padded_len = ring.shape
    height = x.shape[1]
    y0 = i * sh - pt
    taps = 0
    for a in range(max(0, (-y0 + dh - 1) // dh), min(kh, (height - y0 + dh - 1) // dh)):
        y = y0 + a * dh
        slot = y % span
        if held[slot] != n * height + y:
            held[slot] = n * height + y
            ring[slot, c_lo:c_hi] = x[n, y, : c_hi - c_lo]
        for b in range(kw):
            x_at[taps] = slot * padded_len + b * dw * channels
            w_at[taps] = (a * kw + b) * channels
            taps += 1
    return taps


# nogil: the fused separable forward runs this from the matmul pool's Python threads.
@njit(nogil=True)
def forward_rows(x, kernel, out, r0, r1, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    """Output rows ``r0 <= r < r1``, four output pixels of LANES channels at a time.

    ``x`` ``(N, H, W*C)``, ``kernel`` ``(kh, kw, C)``, ``out`` ``(N, Ho, Wo*C)``, with ``C`` a
    multiple of :data:`.lanes.LANES` and multiplier 1.
    """
    kh, kw, channels = kernel.shape
    _, out_h, out_len = out.shape
    out_w = out_len // channels
    ring, held, c_lo, c_hi = _padded_rows(x, kh, kw, out_w, channels, sw, dh, dw, pl)
    flat_ring = ring.reshape(-1)
    weights = kernel.reshape(-1)
    x_at = np.empty(kh * kw, np.int64)
    w_at = np.empty(kh * kw, np.int64)
    step = sw * channels
    quads = out_w - out_w % 4
    for r in range(r0, r1):
        n = r // out_h
        i = r - n * out_h
        taps = _fill_taps(
            x, ring, held, x_at, w_at, n, i, sh, dh, dw, pt, kh, kw, channels, c_lo, c_hi
        )
        orow = out[n, i]
        # pixels outer, channel blocks inner: a quad's input is then read as whole cache lines
        # (channels inner measured slower on 128 channels, whose ring fills L1)
        for j in range(0, quads, 4):
            for cb in range(0, channels, lanes.LANES):
                s0 = lanes.zeros(weights)
                s1 = lanes.zeros(weights)
                s2 = lanes.zeros(weights)
                s3 = lanes.zeros(weights)
                at = j * step + cb
                for t in range(taps):
                    w = lanes.load(weights, w_at[t] + cb)
                    p = x_at[t] + at
                    s0 = lanes.fma(lanes.load(flat_ring, p), w, s0)
                    s1 = lanes.fma(lanes.load(flat_ring, p + step), w, s1)
                    s2 = lanes.fma(lanes.load(flat_ring, p + 2 * step), w, s2)
                    s3 = lanes.fma(lanes.load(flat_ring, p + 3 * step), w, s3)
                q = j * channels + cb
                lanes.store(orow, q, s0)
                lanes.store(orow, q + channels, s1)
                lanes.store(orow, q + 2 * channels, s2)
                lanes.store(orow, q + 3 * channels, s3)
        for j in range(quads, out_w):
            for cb in range(0, channels, lanes.LANES):
                s0 = lanes.zeros(weights)
                at = j * step + cb
                for t in range(taps):
                    s0 = lanes.fma(
                        lanes.load(flat_ring, x_at[t] + at), lanes.load(weights, w_at[t] + cb), s0
                    )
                lanes.store(orow, j * channels + cb, s0)


@njit(parallel=True)
def forward_rows_parallel(x, kernel, out, chunks, *geometry):  # pragma: no cover - JIT
    """:func:`forward_rows` over all output rows, in ``chunks`` chunks of rows on the threads."""
    rows = out.shape[0] * out.shape[1]
    for ch in prange(chunks):
        forward_rows(x, kernel, out, ch * rows // chunks, (ch + 1) * rows // chunks, *geometry)


@njit()
def grad_kernel_rows(x, g, acc, r0, r1, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    """Add the kernel gradient of output rows ``r0 <= r < r1`` to ``acc`` ``(kh, kw, C)``.

    ``x`` ``(N, H, W*C)``, ``g`` ``(N, Ho, Wo*C)``, ``C`` a multiple of :data:`.lanes.LANES`,
    multiplier 1.
    """
    kh, kw, channels = acc.shape
    _, out_h, out_len = g.shape
    out_w = out_len // channels
    ring, held, c_lo, c_hi = _padded_rows(x, kh, kw, out_w, channels, sw, dh, dw, pl)
    flat_ring = ring.reshape(-1)
    sums = acc.reshape(-1)
    x_at = np.empty(kh * kw, np.int64)
    w_at = np.empty(kh * kw, np.int64)
    step = sw * channels
    quads = out_w - out_w % 4
    for r in range(r0, r1):
        n = r // out_h
        i = r - n * out_h
        taps = _fill_taps(
            x, ring, held, x_at, w_at, n, i, sh, dh, dw, pt, kh, kw, channels, c_lo, c_hi
        )
        grow = g[n, i]
        # pixels outer, channel blocks inner: a quad's input is then read as whole cache lines
        # (channels inner measured slower on 128 channels, whose ring fills L1)
        for j in range(0, quads, 4):
            for cb in range(0, channels, lanes.LANES):
                q = j * channels + cb
                g0 = lanes.load(grow, q)
                g1 = lanes.load(grow, q + channels)
                g2 = lanes.load(grow, q + 2 * channels)
                g3 = lanes.load(grow, q + 3 * channels)
                at = j * step + cb
                for t in range(taps):
                    p = x_at[t] + at
                    s = lanes.load(sums, w_at[t] + cb)
                    s = lanes.fma(lanes.load(flat_ring, p), g0, s)
                    s = lanes.fma(lanes.load(flat_ring, p + step), g1, s)
                    s = lanes.fma(lanes.load(flat_ring, p + 2 * step), g2, s)
                    s = lanes.fma(lanes.load(flat_ring, p + 3 * step), g3, s)
                    lanes.store(sums, w_at[t] + cb, s)
        for j in range(quads, out_w):
            for cb in range(0, channels, lanes.LANES):
                g0 = lanes.load(grow, j * channels + cb)
                at = j * step + cb
                for t in range(taps):
                    s = lanes.fma(
                        lanes.load(flat_ring, x_at[t] + at), g0, lanes.load(sums, w_at[t] + cb)
                    )
                    lanes.store(sums, w_at[t] + cb, s)


@njit(parallel=True)
def grad_kernel_rows_parallel(x, g, acc, *geometry):  # pragma: no cover - JIT
    """:func:`grad_kernel_rows` over all output rows, chunk ``ch`` adding to ``acc[ch]``."""
    chunks = acc.shape[0]
    rows = g.shape[0] * g.shape[1]
    for ch in prange(chunks):
        grad_kernel_rows(x, g, acc[ch], ch * rows // chunks, (ch + 1) * rows // chunks, *geometry)
