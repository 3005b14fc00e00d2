"""Depthwise 2-D convolution on NHWC arrays: forward, gradient w.r.t. input, w.r.t. kernel.

Definition (see :func:`minikeras.kernels.reference.depthwise_conv2d_forward`)::

    out[n, i, j, c*dm + m] = sum_{a, b} x[n, i*sh + a*dh - pt, j*sw + b*dw - pl, c] * k[a, b, c, m]

with out-of-range input pixels counting as zero. Kernel layout ``(kh, kw, C, dm)`` as in Keras.

How it is made fast (measurements in ``benchmarks/README.md`` and the design page of the docs):

* Each image row is one contiguous stream of ``W*C`` numbers, and one kernel tap ``(a, b)`` is a
  single FMA stream ``out_row[t] += x_row[t + shift] * k_tiled[t]`` over ``t < Wo*C``, the tap's
  channel vector tiled along the row once per call. LLVM vectorises that loop with no channel
  bookkeeping (channel-innermost loops measured 1.3-2.5x slower).
* The streams are bound by loads, so with row stride 1 output rows go in pairs: rows ``i`` and
  ``i + 1`` read input rows ``y..y+kh-1`` and ``y+1..y+kh``, and one pass over both loads each
  input row and weight once for two FMAs (:func:`_row_pair`; the input gradient likewise).
  One thread: W2 (64x16x16x128, 3x3) 2.5-2.7 -> 1.7-2.2 ms, W4 (128x8x8x64, 5x5) 1.1 -> 0.7-0.8
  ms; W1 (32x32x32x32) gained little (0.82-1.09 -> 0.72-0.88 ms, within the noise).
* With stride 1, multiplier 1 and channels a multiple of 16, big problems skip the streams:
  :mod:`.depthwise_lanes` keeps four output pixels' sums of 16 channels in registers
  (:mod:`.lanes`) while the taps go by, reading the input from a ring of zero-padded rows
  (the input gradient and the kernel gradient likewise).
  One thread: W4 0.72-0.81 -> 0.53-0.54 ms; the separable W4 forward 2.7 -> 1.75 ms.
* Everything else is reduced to that one case by cheap numpy rearrangements of the input:

  - depth multiplier ``dm > 1``: repeat each input channel ``dm`` times (``np.repeat``); then
    output channel ``c*dm + m`` is input channel ``c*dm + m`` times kernel ``[c, m]``, i.e.
    a depthwise convolution with multiplier 1.
  - column stride ``sw > 1``: split the columns into ``sw`` *phases* (columns ``p, p+sw, ...``).
    Output column ``j`` of tap ``b`` reads column ``j*sw + shift``, which is column
    ``j + shift // sw`` of phase ``shift % sw``: again a unit-stride stream.
  - The forward pass does neither to the whole input (:func:`_forward_rows_ring`): it splits
    each input row into its phases when an output row first needs it, into a ring of
    ``(kh-1)*dh + 1`` rows that stays in L1/L2, and runs the streams once per multiplier ``m``
    over ``Wo*C`` numbers with the weights ``k[:, :, c, m]``, interleaving the ``dm`` result
    rows into the output row at the end. W3 (16x64x64x16, dm 2, stride 2, one thread) went
    from 1.8-2.0 ms (a 2M-number phase copy, then the streams) to 0.66-0.94 ms.

  - narrow images (output rows of fewer than :data:`FOLD_BELOW` numbers, e.g. 8x8 grayscale):
    fold the batch into the channels, ``(N, H, W, C) -> (1, H, W, N*C)``. A depthwise kernel
    treats channels independently, so image ``n``'s channel ``c`` is simply channel ``n*C + c``
    of one wide image (with the kernel tiled ``N`` times). Rows then hold ``N`` times as many
    numbers, and the fixed cost per row and per tap is paid ``N`` times less often.

* No padded copy of the input is made: each tap only visits the columns and rows it can reach.
* Forward and input gradient are parallel over rows of the array they write, so every thread owns
  its rows (the input gradient is computed in gather form: row by row of ``x``).
* The kernel gradient keeps one private accumulator per thread chunk, reduced at the end.
* :func:`separable_forward` (depthwise then 1x1 product, plus bias) gives each thread a block of
  rows and has it make, step by step, the depthwise rows and then their product while they are
  in cache, instead of two parallel phases with a hand-off between the thread pools.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels import _jit, aligned, depthwise_lanes, lanes, lanes_product, threads
from minikeras.kernels import matmul as mm
from minikeras.kernels._jit import njit, prange, split
from minikeras.kernels.affine import epilogue
from minikeras.kernels.padding import Pads, output_hw

# ---------------------------------------------------------------------------------------------
# Stream kernels. Input rows come as phases: xph[p, n, y] is the flattened row of columns
# p, p + sw, p + 2*sw, ... (Wq columns of C numbers each; sw = 1 means the plain row).
# ---------------------------------------------------------------------------------------------


@njit()
def _fma(dst, a, b):  # pragma: no cover - JIT
    """``dst += a * b`` on three equally long 1-D views; the one hot loop of the stream kernels."""
    # Taking zero-based slices first (rather than indexing with offsets) is what lets LLVM prove
    # the loop is a plain stream and emit AVX FMAs: measured 3-4x faster than offset indexing.
    for t in range(dst.shape[0]):
        dst[t] += a[t] * b[t]


# The multi-tap streams add to dst first and then one product at a time, ``((d + a0*b0) + a1*b1)``:
# every product is one FMA. Written ``d += a0*b0 + a1*b1`` (the sum first) LLVM emitted a
# multiply and an add besides the FMAs (no reassociation allowed): the two-row, three-tap stream
# below ran at 11 GMAC/s that way and 16 GMAC/s this way (rows of 1024 numbers in L1, one thread).


@njit()
def _fma2(dst, a0, b0, a1, b1):  # pragma: no cover - JIT
    """``dst += a0 * b0 + a1 * b1``: two taps in one pass over ``dst``."""
    for t in range(dst.shape[0]):
        dst[t] = dst[t] + a0[t] * b0[t] + a1[t] * b1[t]


@njit()
def _fma3(dst, a0, b0, a1, b1, a2, b2):  # pragma: no cover - JIT
    """``dst += a0 * b0 + a1 * b1 + a2 * b2``: three taps in one pass over ``dst``."""
    for t in range(dst.shape[0]):
        dst[t] = dst[t] + a0[t] * b0[t] + a1[t] * b1[t] + a2[t] * b2[t]


# Output rows in pairs (stride 1): rows i and i+1 read input rows y..y+kh-1 and y+1..y+kh, so
# one pass over both output rows loads each input row and each weight once for two FMAs instead
# of once per FMA (the streams are bound by loads, not arithmetic). With the FMA ordering above,
# one thread: W2 (64x16x16x128, 3x3) 2.5-2.7 -> 1.7-2.2 ms, W4 (128x8x8x64, 5x5) 1.09-1.19 ->
# 0.69-0.80 ms, W1 (32x32x32x32, 3x3) 0.82-1.09 -> 0.72-0.88 ms. Four rows per pass were no
# faster than two (W2 slower: the pass touches 6 input rows, 4 output rows and 3 weight rows).


@njit()
def _fma3x2(d0, d1, x0, x1, x2, x3, k0, k1, k2):  # pragma: no cover - JIT
    """Three taps on two output rows whose input rows overlap: ``d1`` reads ``x1..x3``."""
    for t in range(d0.shape[0]):
        d0[t] = d0[t] + x0[t] * k0[t] + x1[t] * k1[t] + x2[t] * k2[t]
        d1[t] = d1[t] + x1[t] * k0[t] + x2[t] * k1[t] + x3[t] * k2[t]


@njit()
def _fma2x2(d0, d1, x0, x1, x2, k0, k1):  # pragma: no cover - JIT
    """Two taps on two output rows: ``d0 += x0*k0 + x1*k1``, ``d1 += x1*k0 + x2*k1``."""
    for t in range(d0.shape[0]):
        d0[t] = d0[t] + x0[t] * k0[t] + x1[t] * k1[t]
        d1[t] = d1[t] + x1[t] * k0[t] + x2[t] * k1[t]


@njit()
def _fma1x2(d0, d1, x0, x1, k0):  # pragma: no cover - JIT
    """One tap on two output rows: ``d0 += x0*k0``, ``d1 += x1*k0``."""
    for t in range(d0.shape[0]):
        d0[t] += x0[t] * k0[t]
        d1[t] += x1[t] * k0[t]


@njit()
def _row_pair(xph, ktile, o0, o1, n, y, spans, channels, sw, dh, dw, pl):  # pragma: no cover
    """Two output rows whose kernel windows start at input rows ``y`` and ``y + dh``.

    ``spans`` ``(a0, a1, b0, b1)``: the kernel rows inside the image for the first row
    (``a0 <= a < a1``) and for the second (``b0 <= a < b1``). Row ``i + 1``'s tap ``a`` reads the
    input row of row ``i``'s tap ``a + 1``, so for the kernel rows both have, one pass serves
    both rows: each input row and each weight is loaded once for two FMAs.
    """
    row_len = xph.shape[3]
    _, kw, _ = ktile.shape
    a0, a1, b0, b1 = spans[0], spans[1], spans[2], spans[3]
    c0, c1 = max(a0, b0), min(a1, b1)  # shared kernel rows
    phase_w = row_len // channels
    out_w = o0.shape[0] // channels
    o0[:] = 0
    o1[:] = 0
    for b in range(kw):
        phase, offset, j0, j1 = _tap_span(b, dw, pl, sw, out_w, phase_w)
        if j1 <= j0:
            continue
        lo, hi, off = j0 * channels, j1 * channels, offset * channels
        xs, xe = lo + off, hi + off
        d0, d1 = o0[lo:hi], o1[lo:hi]
        q = c0
        while q < c1:
            yq = y + q * dh
            if q + 2 < c1:
                _fma3x2(
                    d0,
                    d1,
                    xph[phase, n, yq, xs:xe],
                    xph[phase, n, yq + dh, xs:xe],
                    xph[phase, n, yq + 2 * dh, xs:xe],
                    xph[phase, n, yq + 3 * dh, xs:xe],
                    ktile[q, b, lo:hi],
                    ktile[q + 1, b, lo:hi],
                    ktile[q + 2, b, lo:hi],
                )
                q += 3
            elif q + 1 < c1:
                _fma2x2(
                    d0,
                    d1,
                    xph[phase, n, yq, xs:xe],
                    xph[phase, n, yq + dh, xs:xe],
                    xph[phase, n, yq + 2 * dh, xs:xe],
                    ktile[q, b, lo:hi],
                    ktile[q + 1, b, lo:hi],
                )
                q += 2
            else:
                _fma1x2(
                    d0,
                    d1,
                    xph[phase, n, yq, xs:xe],
                    xph[phase, n, yq + dh, xs:xe],
                    ktile[q, b, lo:hi],
                )
                q += 1
        # The kernel rows only one of the two has (near the top and bottom of the image).
        for q in range(a0, a1):
            if q < c0 or q >= c1:
                _fma(d0, xph[phase, n, y + q * dh, xs:xe], ktile[q, b, lo:hi])
        for q in range(b0, b1):
            if q < c0 or q >= c1:
                _fma(d1, xph[phase, n, y + (q + 1) * dh, xs:xe], ktile[q, b, lo:hi])


@njit()
def _tap_span(b, dw, pl, sw, out_w, phase_w):  # pragma: no cover - JIT
    """For column tap ``b``: its phase, the column offset inside it, and the valid ``j`` range."""
    shift = b * dw - pl
    phase = shift % sw
    offset = shift // sw  # output column j reads phase column j + offset
    return phase, offset, max(0, -offset), min(out_w, phase_w - offset)


# Why two row functions: the paired one (two output rows per pass, below) is 1.35x faster on
# W2 and W4 but costs three times the compile time, which a small model's first epoch on a
# fresh install would pay (the README example: 8 s instead of 3); so problems under
# PAIRED_FROM numbers of work run the plain one.


# nogil: the fused separable forward (below) runs this from the matmul pool's Python threads.
@njit(nogil=True)
def _forward_rows(xph, ktile, out, r0, r1, channels, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    """Output rows ``r0 <= r < r1`` (row ``r``: image ``r // Ho``, row ``r % Ho`` of it)."""
    _, n_img, height, row_len = xph.shape
    _, out_h, length = out.shape
    kh, kw, _ = ktile.shape
    phase_w = row_len // channels
    out_w = length // channels
    rows = np.empty(kh, np.int64)  # scratch, once per call: an allocation per row cost 10-20%
    for r in range(r0, r1):
        n = r // out_h
        i = r - n * out_h
        orow = out[n, i]
        orow[:] = 0
        # The kernel rows that land inside the image. Taps (a, b) and (a', b) share the column
        # range, so up to three kernel rows go through one pass over the output row: fewer
        # loads and stores of orow per FMA (measured 5-15% faster than one tap per pass).
        n_rows = 0
        for a in range(kh):
            y = i * sh + a * dh - pt
            if 0 <= y < height:
                rows[n_rows] = a
                n_rows += 1
        for b in range(kw):
            phase, offset, j0, j1 = _tap_span(b, dw, pl, sw, out_w, phase_w)
            if j1 <= j0:
                continue
            lo, hi, off = j0 * channels, j1 * channels, offset * channels
            xs, xe = lo + off, hi + off
            dst = orow[lo:hi]
            q = 0
            while q < n_rows:
                a0 = rows[q]
                y0 = i * sh + a0 * dh - pt
                if q + 2 < n_rows:
                    a1, a2 = rows[q + 1], rows[q + 2]
                    _fma3(
                        dst,
                        xph[phase, n, y0, xs:xe],
                        ktile[a0, b, lo:hi],
                        xph[phase, n, y0 + (a1 - a0) * dh, xs:xe],
                        ktile[a1, b, lo:hi],
                        xph[phase, n, y0 + (a2 - a0) * dh, xs:xe],
                        ktile[a2, b, lo:hi],
                    )
                    q += 3
                elif q + 1 < n_rows:
                    a1 = rows[q + 1]
                    _fma2(
                        dst,
                        xph[phase, n, y0, xs:xe],
                        ktile[a0, b, lo:hi],
                        xph[phase, n, y0 + (a1 - a0) * dh, xs:xe],
                        ktile[a1, b, lo:hi],
                    )
                    q += 2
                else:
                    _fma(dst, xph[phase, n, y0, xs:xe], ktile[a0, b, lo:hi])
                    q += 1


@njit(nogil=True)
def _forward_rows_paired(  # pragma: no cover - JIT
    xph, ktile, out, r0, r1, channels, sh, sw, dh, dw, pt, pl
):
    """:func:`_forward_rows`, two output rows per pass where they share input rows."""
    _, n_img, height, _ = xph.shape
    _, out_h, _ = out.shape
    kh = ktile.shape[0]
    spans = np.empty(4, np.int64)
    r = r0
    while r < r1:
        n = r // out_h
        i = r - n * out_h
        y = i * sh - pt
        if sh == dh and r + 1 < r1 and i + 1 < out_h:
            # kernel rows inside the image: a with 0 <= y + a*dh < height (y + dh: next row)
            spans[0] = max(0, (-y + dh - 1) // dh)
            spans[1] = min(kh, (height - y + dh - 1) // dh)
            spans[2] = max(0, (-y - dh + dh - 1) // dh)
            spans[3] = min(kh, (height - y - dh + dh - 1) // dh)
            if min(spans[1], spans[3]) - max(spans[0], spans[2]) >= 2:
                _row_pair(
                    xph, ktile, out[n, i], out[n, i + 1], n, y, spans, channels, sw, dh, dw, pl
                )
                r += 2
                continue
        _forward_rows(xph, ktile, out, r, r + 1, channels, sh, sw, dh, dw, pt, pl)
        r += 1


# The input gradient pairs its rows the same way (row stride and dilation 1). One thread,
# alternated runs: W2 3.0-3.5 -> 2.2-2.6 ms, W4 1.3-1.5 -> 0.85-1.16 ms; W1 1.8-2.0 -> 1.6-1.9.


@njit()
def _grad_input_pair(g, ktile, gxph, n, y, spans, channels, sw, dw, pt, pl):  # pragma: no cover
    """Input-gradient rows ``y`` and ``y + 1`` (stride and dilation 1 along the rows).

    ``spans`` ``(a0, a1, b0, b1)``: the kernel rows that reach row ``y`` (``a0 <= a < a1``) and
    row ``y + 1``. Row ``y + 1``'s kernel row ``a`` reads gradient row ``y + pt - a + 1``, the
    one row ``y``'s kernel row ``a - 1`` reads: as in the forward pass (:func:`_row_pair`), one
    pass over both rows, the kernel rows taken in descending order.
    """
    row_len = gxph.shape[3]
    _, out_h, length = g.shape
    _, kw, _ = ktile.shape
    a0, a1, b0, b1 = spans[0], spans[1], spans[2], spans[3]
    c0, c1 = max(a0, b0), min(a1, b1)
    phase_w = row_len // channels
    out_w = length // channels
    for p in range(sw):
        gxph[p, n, y, :] = 0
        gxph[p, n, y + 1, :] = 0
    top = y + pt  # gradient row read by kernel row a for input row y: top - a
    for b in range(kw):
        phase, offset, j0, j1 = _tap_span(b, dw, pl, sw, out_w, phase_w)
        if j1 <= j0:
            continue
        lo, hi, off = j0 * channels, j1 * channels, offset * channels
        d0 = gxph[phase, n, y, lo + off : hi + off]
        d1 = gxph[phase, n, y + 1, lo + off : hi + off]
        q = c0
        while q < c1:
            if q + 2 < c1:
                _fma3x2(
                    d0,
                    d1,
                    g[n, top - q - 2, lo:hi],
                    g[n, top - q - 1, lo:hi],
                    g[n, top - q, lo:hi],
                    g[n, top - q + 1, lo:hi],
                    ktile[q + 2, b, lo:hi],
                    ktile[q + 1, b, lo:hi],
                    ktile[q, b, lo:hi],
                )
                q += 3
            elif q + 1 < c1:
                _fma2x2(
                    d0,
                    d1,
                    g[n, top - q - 1, lo:hi],
                    g[n, top - q, lo:hi],
                    g[n, top - q + 1, lo:hi],
                    ktile[q + 1, b, lo:hi],
                    ktile[q, b, lo:hi],
                )
                q += 2
            else:
                _fma1x2(d0, d1, g[n, top - q, lo:hi], g[n, top - q + 1, lo:hi], ktile[q, b, lo:hi])
                q += 1
        for q in range(a0, a1):
            if q < c0 or q >= c1:
                _fma(d0, g[n, top - q, lo:hi], ktile[q, b, lo:hi])
        for q in range(b0, b1):
            if q < c0 or q >= c1:
                _fma(d1, g[n, top - q + 1, lo:hi], ktile[q, b, lo:hi])


@njit()
def _grad_input_rows(g, ktile, gxph, r0, r1, channels, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    """Input-gradient rows ``r0 <= r < r1`` (row ``r``: image ``r // H``, row ``r % H`` of it)."""
    _, n_img, height, row_len = gxph.shape
    _, out_h, length = g.shape
    kh, kw, _ = ktile.shape
    phase_w = row_len // channels
    out_w = length // channels
    rows = np.empty(kh, np.int64)
    for r in range(r0, r1):
        n = r // height
        y = r - n * height
        for p in range(sw):
            gxph[p, n, y, :] = 0
        # The kernel rows a that read input row y, each from output row i = (y + pt - a*dh) / sh;
        # as in the forward pass, up to three of them share one pass over the gradient row.
        n_rows = 0
        for a in range(kh):
            q = y + pt - a * dh
            if q >= 0 and q % sh == 0 and q // sh < out_h:
                rows[n_rows] = a
                n_rows += 1
        for b in range(kw):
            phase, offset, j0, j1 = _tap_span(b, dw, pl, sw, out_w, phase_w)
            if j1 <= j0:
                continue
            lo, hi, off = j0 * channels, j1 * channels, offset * channels
            dst = gxph[phase, n, y, lo + off : hi + off]
            q = 0
            while q < n_rows:
                a0 = rows[q]
                i0 = (y + pt - a0 * dh) // sh
                if q + 2 < n_rows:
                    a1, a2 = rows[q + 1], rows[q + 2]
                    i1, i2 = (y + pt - a1 * dh) // sh, (y + pt - a2 * dh) // sh
                    _fma3(
                        dst,
                        g[n, i0, lo:hi],
                        ktile[a0, b, lo:hi],
                        g[n, i1, lo:hi],
                        ktile[a1, b, lo:hi],
                        g[n, i2, lo:hi],
                        ktile[a2, b, lo:hi],
                    )
                    q += 3
                elif q + 1 < n_rows:
                    a1 = rows[q + 1]
                    i1 = (y + pt - a1 * dh) // sh
                    _fma2(
                        dst,
                        g[n, i0, lo:hi],
                        ktile[a0, b, lo:hi],
                        g[n, i1, lo:hi],
                        ktile[a1, b, lo:hi],
                    )
                    q += 2
                else:
                    _fma(dst, g[n, i0, lo:hi], ktile[a0, b, lo:hi])
                    q += 1


@njit()
def _grad_input_rows_paired(  # pragma: no cover - JIT
    g, ktile, gxph, r0, r1, channels, sh, sw, dh, dw, pt, pl
):
    """:func:`_grad_input_rows`, two rows per pass where they share gradient rows."""
    _, n_img, height, _ = gxph.shape
    _, out_h, _ = g.shape
    kh = ktile.shape[0]
    spans = np.empty(4, np.int64)
    r = r0
    while r < r1:
        n = r // height
        y = r - n * height
        if sh == 1 and dh == 1 and r + 1 < r1 and y + 1 < height:
            # kernel rows a with 0 <= y + pt - a < Ho (for row y), and for row y + 1
            spans[0] = max(0, y + pt - out_h + 1)
            spans[1] = min(kh, y + pt + 1)
            spans[2] = max(0, y + pt - out_h + 2)
            spans[3] = min(kh, y + pt + 2)
            if min(spans[1], spans[3]) - max(spans[0], spans[2]) >= 2:
                _grad_input_pair(g, ktile, gxph, n, y, spans, channels, sw, dw, pt, pl)
                r += 2
                continue
        _grad_input_rows(g, ktile, gxph, r, r + 1, channels, sh, sw, dh, dw, pt, pl)
        r += 1


@njit()
def _grad_kernel_rows(xph, g, acc, r0, r1, channels, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    """Add the kernel gradient of output rows r0 <= r < r1 to ``acc`` ``(kh, kw, Wo*C)``."""
    _, n_img, height, row_len = xph.shape
    _, out_h, length = g.shape
    kh, kw, _ = acc.shape
    phase_w = row_len // channels
    out_w = length // channels
    for r in range(r0, r1):
        n = r // out_h
        i = r - n * out_h
        grow = g[n, i]
        for a in range(kh):
            y = i * sh + a * dh - pt
            if y < 0 or y >= height:
                continue
            for b in range(kw):
                phase, offset, j0, j1 = _tap_span(b, dw, pl, sw, out_w, phase_w)
                if j1 <= j0:
                    continue
                lo, hi, off = j0 * channels, j1 * channels, offset * channels
                _fma(acc[a, b, lo:hi], grow[lo:hi], xph[phase, n, y, lo + off : hi + off])


# Parallel drivers: cut the rows into one chunk per thread and run the serial function on each.
# Small problems skip them and call the serial functions directly (see _run below).


@njit(parallel=True)
def _forward_parallel(xph, ktile, out, chunks, *geometry):  # pragma: no cover - JIT
    rows = out.shape[0] * out.shape[1]
    for ch in prange(chunks):  # (only big problems run in parallel: the paired rows)
        _forward_rows_paired(
            xph, ktile, out, ch * rows // chunks, (ch + 1) * rows // chunks, *geometry
        )


@njit(parallel=True)
def _grad_input_parallel(g, ktile, gxph, chunks, *geometry):  # pragma: no cover - JIT
    rows = gxph.shape[1] * gxph.shape[2]
    for ch in prange(chunks):  # (only big problems run in parallel: the paired rows)
        _grad_input_rows_paired(
            g, ktile, gxph, ch * rows // chunks, (ch + 1) * rows // chunks, *geometry
        )


@njit(parallel=True)
def _grad_kernel_parallel(xph, g, acc, *geometry):  # pragma: no cover - JIT
    # acc: (chunks, kh, kw, Wo*C), one private slab per chunk (no write races); the caller sums.
    chunks = acc.shape[0]
    rows = g.shape[0] * g.shape[1]
    for ch in prange(chunks):
        _grad_kernel_rows(
            xph, g, acc[ch], ch * rows // chunks, (ch + 1) * rows // chunks, *geometry
        )


# Strided forward without phases. With a column stride the stream kernels need the input split
# into phases first (a full copy of it); for rows of many channels a loop over output pixels with
# the channels innermost is faster than that copy plus the streams over half-width rows: a 3x3,
# stride-2 layer on 64x32x32x32 took 1.86 ms (phases + streams) and 0.84 ms this way, on
# 64x16x16x128 2.13 and 1.36 ms (one thread). With stride 1 the streams stay 1.3-2x faster (the
# design page's "channel-innermost loops measured 1.3-2.5x slower"), and with 16 channels this
# loop lost too (1.19x), hence :data:`DIRECT_STRIDED_CHANNELS`.


@njit(nogil=True)
def _forward_rows_direct(x, kernel, out, r0, r1, sh, sw, dh, dw, pt, pl):  # pragma: no cover
    """Output rows ``r0 <= r < r1`` of a depthwise convolution with multiplier 1, pixel by pixel.

    ``x`` ``(N, H, W, C)``, ``kernel`` ``(kh, kw, C)``, ``out`` ``(N, Ho, Wo, C)``.
    """
    _, height, width, channels = x.shape
    _, out_h, out_w, _ = out.shape
    kh, kw, _ = kernel.shape
    for r in range(r0, r1):
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
                weights = kernel[a, b]
                shift = b * dw - pl
                j0 = max(0, (sw - 1 - shift) // sw)  # first j with j*sw + shift >= 0
                j1 = min(out_w, (width - 1 - shift) // sw + 1)
                for j in range(j0, j1):
                    src = xrow[j * sw + shift]
                    dst = orow[j]
                    for c in range(channels):  # C numbers: vectorised
                        dst[c] += src[c] * weights[c]


@njit(parallel=True)
def _forward_direct_parallel(x, kernel, out, chunks, *geometry):  # pragma: no cover - JIT
    rows = out.shape[0] * out.shape[1]
    for ch in prange(chunks):
        _forward_rows_direct(
            x, kernel, out, ch * rows // chunks, (ch + 1) * rows // chunks, *geometry
        )


# Strided or multiplier > 1 forward, without a phase copy of the whole input. That copy (with
# each channel repeated dm times in it) was most of W3's time: 0.8-1.4 ms of 1.5-2 ms, as the
# scatter of x.size*dm numbers went through memory. Here each output row splits the input rows it
# needs into a small ring (each input row once, while it is in cache), and the multiplier is
# handled on the output side instead: one set of streams per m over Wo*C numbers, then dm rows
# interleaved into the output row (W3: splits ~0.2 ms, streams ~0.5 ms, interleave ~0.05 ms).

_U1, _U2, _U3, _U4, _U5, _U6, _U7 = (np.uint64(u) for u in range(1, 8))


@njit()
def _split_row(src, dst, channels, sw):  # pragma: no cover - JIT
    """Split one flat input row into its ``sw`` phase rows ``dst[p]`` (zero-filled at the end)."""
    width = src.shape[0] // channels
    row_len = dst.shape[1]
    for p in range(sw):
        d = dst[p]
        n_cols = (width - p + sw - 1) // sw
        if channels % 8 == 0:
            # Blocks of eight numbers, all loaded before any is stored, at unsigned indices:
            # then LLVM merges them into one vector load and store. A plain loop over the C
            # channels stays scalar (C is shorter than its vector body), and with signed indices
            # numba's negative-index wraparound gets between the loads. Measured for W3's rows
            # (C=16): 0.19 ms, against 0.29 (plain loop), 0.7 (slice assignment), 1.0 (signed).
            for q in range(n_cols):
                s0 = (p + q * sw) * channels
                d0 = q * channels
                for c in range(0, channels, 8):
                    s, e = np.uint64(s0 + c), np.uint64(d0 + c)
                    v0, v1, v2, v3 = src[s], src[s + _U1], src[s + _U2], src[s + _U3]
                    v4, v5, v6, v7 = src[s + _U4], src[s + _U5], src[s + _U6], src[s + _U7]
                    d[e], d[e + _U1], d[e + _U2], d[e + _U3] = v0, v1, v2, v3
                    d[e + _U4], d[e + _U5], d[e + _U6], d[e + _U7] = v4, v5, v6, v7
        else:
            for q in range(n_cols):
                s0 = (p + q * sw) * channels
                d0 = q * channels
                for c in range(channels):
                    d[d0 + c] = src[s0 + c]
        for t in range(n_cols * channels, row_len):
            d[t] = 0


@njit()
def _row_taps(dst, ring, slots, rows, n_rows, kt, channels, sw, dh, dw, pl):  # pragma: no cover
    """``dst += `` all taps of one output row; kernel row ``rows[q]`` reads ring slot ``slots[q]``.

    ``ring`` ``(R, sw, Wq*C)``: phase rows; ``kt`` ``(kh, kw, Wo*C)``: tiled weights.
    """
    phase_w = ring.shape[2] // channels
    out_w = dst.shape[0] // channels
    kw = kt.shape[1]
    for b in range(kw):
        phase, offset, j0, j1 = _tap_span(b, dw, pl, sw, out_w, phase_w)
        if j1 <= j0:
            continue
        lo, hi, off = j0 * channels, j1 * channels, offset * channels
        xs, xe = lo + off, hi + off
        d = dst[lo:hi]
        q = 0
        while q < n_rows:
            a0, s0 = rows[q], slots[q]
            if q + 2 < n_rows:
                a1, a2, s1, s2 = rows[q + 1], rows[q + 2], slots[q + 1], slots[q + 2]
                _fma3(
                    d,
                    ring[s0, phase, xs:xe],
                    kt[a0, b, lo:hi],
                    ring[s1, phase, xs:xe],
                    kt[a1, b, lo:hi],
                    ring[s2, phase, xs:xe],
                    kt[a2, b, lo:hi],
                )
                q += 3
            elif q + 1 < n_rows:
                a1, s1 = rows[q + 1], slots[q + 1]
                _fma2(
                    d,
                    ring[s0, phase, xs:xe],
                    kt[a0, b, lo:hi],
                    ring[s1, phase, xs:xe],
                    kt[a1, b, lo:hi],
                )
                q += 2
            else:
                _fma(d, ring[s0, phase, xs:xe], kt[a0, b, lo:hi])
                q += 1


@njit(nogil=True)
def _forward_rows_ring(  # pragma: no cover - JIT
    x, ktm, out, r0, r1, channels, dm, sh, sw, dh, dw, pt, pl
):
    """Output rows ``r0 <= r < r1`` from plain input rows, split into phases a few rows at a time.

    ``x`` ``(N, H, W*C)``; ``ktm`` ``(dm, kh, kw, Wo*C)``: the weights of multiplier ``m``,
    tiled; ``out`` ``(N, Ho, Wo*C*dm)``.
    """
    n_img, height, row_len = x.shape
    _, out_h, length = out.shape
    _, kh, kw, short = ktm.shape
    width = row_len // channels
    phase_w = (width + sw - 1) // sw
    span = (kh - 1) * dh + 1
    ring = np.empty((span, sw, phase_w * channels), x.dtype)
    tags = np.full(span, -1, np.int64)  # which input row (n*H + y) each ring slot holds
    rows = np.empty(kh, np.int64)
    slots = np.empty(kh, np.int64)
    acc = np.empty((dm, short), out.dtype)
    for r in range(r0, r1):
        n = r // out_h
        i = r - n * out_h
        # (np.int64: typed from a constant 0, _row_taps also compiled for the literal 0, 1.2 s)
        n_rows = np.int64(0)
        for a in range(kh):
            y = i * sh + a * dh - pt
            if 0 <= y < height:
                s = y % span
                if tags[s] != n * height + y:
                    _split_row(x[n, y], ring[s], channels, sw)
                    tags[s] = n * height + y
                rows[n_rows] = a
                slots[n_rows] = s
                n_rows += 1
        orow = out[n, i]
        if dm == 1:
            orow[:] = 0
            _row_taps(orow, ring, slots, rows, n_rows, ktm[0], channels, sw, dh, dw, pl)
            continue
        for m in range(dm):
            acc[m, :] = 0
            _row_taps(acc[m], ring, slots, rows, n_rows, ktm[m], channels, sw, dh, dw, pl)
        if dm == 2:
            a0, a1 = acc[0], acc[1]
            for t in range(short):
                orow[2 * t] = a0[t]
                orow[2 * t + 1] = a1[t]
        else:
            for t in range(short):
                for m in range(dm):
                    orow[t * dm + m] = acc[m, t]


@njit(parallel=True)
def _forward_ring_parallel(x, ktm, out, chunks, *geometry):  # pragma: no cover - JIT
    rows = out.shape[0] * out.shape[1]
    for ch in prange(chunks):
        _forward_rows_ring(x, ktm, out, ch * rows // chunks, (ch + 1) * rows // chunks, *geometry)


# The two gradients of a convolution with a multiplier > 1, without the whole-array phase
# copies either (W3, one thread: the copy of x, each channel repeated, for the kernel gradient
# and the gather of the input gradient's phases were 4.3 ms of an 11 ms forward+backward step;
# alternated runs: input gradient 2.5-2.8 -> 0.8-1.0 ms, kernel gradient 2.3-2.5 -> 0.7-0.9 ms;
# 32x32x32x8 with dm 3: 4.9-5.4 -> 1.5-1.6 ms and 1.4-2.0 -> 1.5-1.9 ms). As in the forward
# pass, input rows are split into phases a few at a time in a ring, and the multiplier is
# handled on the gradient's side: each gradient row is de-interleaved into its dm rows. With
# dm = 1 and a column stride the whole-array phases stay (no repeat to save there, and they
# measured faster).


@njit()
def _deinterleave(src, dst):  # pragma: no cover - JIT
    """``dst[m, t] = src[t*dm + m]``: one gradient row's ``dm`` multipliers as ``dm`` rows."""
    dm, short = dst.shape
    if dm == 2:
        d0, d1 = dst[0], dst[1]
        for t in range(short):
            d0[t] = src[2 * t]
            d1[t] = src[2 * t + 1]
    else:
        for t in range(short):
            for m in range(dm):
                dst[m, t] = src[t * dm + m]


@njit(nogil=True)
def _grad_kernel_rows_ring(  # pragma: no cover - JIT
    x, g, acc, r0, r1, channels, dm, sh, sw, dh, dw, pt, pl
):
    """Add the kernel gradient of output rows ``r0 <= r < r1`` to ``acc`` ``(dm, kh, kw, Wo*C)``.

    ``x`` ``(N, H, W*C)``, split into phases a few rows at a time; ``g`` ``(N, Ho, Wo*C*dm)``.
    """
    n_img, height, row_len = x.shape
    _, out_h, _ = g.shape
    _, kh, kw, short = acc.shape
    width = row_len // channels
    phase_w = (width + sw - 1) // sw
    out_w = short // channels
    span = (kh - 1) * dh + 1  # the rows one output row reads are distinct modulo this
    ring = np.empty((span, sw, phase_w * channels), x.dtype)
    tags = np.full(span, -1, np.int64)  # which input row (n*H + y) each ring slot holds
    gm = np.empty((dm, short), g.dtype)
    for r in range(r0, r1):
        n = r // out_h
        i = r - n * out_h
        _deinterleave(g[n, i], gm)
        for a in range(kh):
            y = i * sh + a * dh - pt
            if y < 0 or y >= height:
                continue
            s = y % span
            if tags[s] != n * height + y:
                _split_row(x[n, y], ring[s], channels, sw)
                tags[s] = n * height + y
            for b in range(kw):
                phase, offset, j0, j1 = _tap_span(b, dw, pl, sw, out_w, phase_w)
                if j1 <= j0:
                    continue
                lo, hi, off = j0 * channels, j1 * channels, offset * channels
                for m in range(dm):
                    _fma(acc[m, a, b, lo:hi], gm[m, lo:hi], ring[s, phase, lo + off : hi + off])


@njit(parallel=True)
def _grad_kernel_ring_parallel(x, g, acc, *geometry):  # pragma: no cover - JIT
    # acc: (chunks, dm, kh, kw, Wo*C), one private slab per chunk; the caller sums.
    chunks = acc.shape[0]
    rows = g.shape[0] * g.shape[1]
    for ch in prange(chunks):
        _grad_kernel_rows_ring(
            x, g, acc[ch], ch * rows // chunks, (ch + 1) * rows // chunks, *geometry
        )


@njit(nogil=True)
def _grad_input_rows_ring(  # pragma: no cover - JIT
    g, ktm, gx, r0, r1, channels, dm, sh, sw, dh, dw, pt, pl
):
    """Input-gradient rows ``r0 <= r < r1`` of ``gx`` ``(N, H, W*C)``, in gather form.

    Each row is made as its ``sw`` phase rows in a scratch (every multiplier adding into the
    same channels), then interleaved into ``gx``. ``g`` ``(N, Ho, Wo*C*dm)``, its rows
    de-interleaved into a ring; ``ktm`` ``(dm, kh, kw, Wo*C)``: tiled weights per multiplier.
    """
    _, out_h, _ = g.shape
    _, height, row_len = gx.shape
    _, kh, kw, short = ktm.shape
    width = row_len // channels
    phase_w = (width + sw - 1) // sw
    out_w = short // channels
    span = ((kh - 1) * dh) // sh + 2  # the gradient rows one input row reads fit in this
    gring = np.empty((span, dm, short), g.dtype)
    tags = np.full(span, -1, np.int64)
    ph = np.empty((sw, phase_w * channels), gx.dtype)
    ph4 = ph.reshape(sw, 1, 1, phase_w * channels)  # the layout _row_from_phases reads
    for r in range(r0, r1):
        n = r // height
        y = r - n * height
        ph[:, :] = 0
        for a in range(kh):
            q = y + pt - a * dh
            if q < 0 or q % sh != 0 or q // sh >= out_h:
                continue
            i = q // sh
            s = i % span
            if tags[s] != n * out_h + i:
                _deinterleave(g[n, i], gring[s])
                tags[s] = n * out_h + i
            for b in range(kw):
                phase, offset, j0, j1 = _tap_span(b, dw, pl, sw, out_w, phase_w)
                if j1 <= j0:
                    continue
                lo, hi, off = j0 * channels, j1 * channels, offset * channels
                for m in range(dm):
                    _fma(ph[phase, lo + off : hi + off], gring[s, m, lo:hi], ktm[m, a, b, lo:hi])
        # interleave the phases into the row (the whole-array path's gather, multiplier 1)
        _row_from_phases(ph4, gx[n, y], 0, 0, channels, 1)


@njit(parallel=True)
def _grad_input_ring_parallel(g, ktm, gx, chunks, *geometry):  # pragma: no cover - JIT
    rows = gx.shape[0] * gx.shape[1]
    for ch in prange(chunks):
        _grad_input_rows_ring(g, ktm, gx, ch * rows // chunks, (ch + 1) * rows // chunks, *geometry)


# ---------------------------------------------------------------------------------------------
# Public kernels (plain Python: rearrangements, dispatch, allocation).
# ---------------------------------------------------------------------------------------------


@njit()
def _row_to_phases(src, xph, n, y, channels, dm):  # pragma: no cover - JIT
    """Scatter one flat input row into its ``sw`` phase rows, each channel repeated ``dm``x."""
    sw, _, _, row_len = xph.shape
    width = src.shape[0] // channels
    cdm = channels * dm
    for p in range(sw):
        dst = xph[p, n, y]
        n_cols = (width - p + sw - 1) // sw
        for m in range(dm):  # m outermost: the inner channel loop stays a simple stream
            for q in range(n_cols):
                s0 = (p + q * sw) * channels
                d0 = q * cdm + m
                for c in range(channels):
                    dst[d0 + c * dm] = src[s0 + c]
        for t in range(n_cols * cdm, row_len):  # the zero tail of a short phase
            dst[t] = 0


@njit()
def _row_from_phases(gph, dst, n, y, channels, dm):  # pragma: no cover - JIT
    """Gather one flat input-gradient row from its phase rows, summing the ``dm`` copies."""
    sw = gph.shape[0]
    width = dst.shape[0] // channels
    cdm = channels * dm
    for p in range(sw):
        src = gph[p, n, y]
        n_cols = (width - p + sw - 1) // sw
        for m in range(dm):
            for q in range(n_cols):
                d0 = (p + q * sw) * channels
                s0 = q * cdm + m
                if m == 0:
                    for c in range(channels):
                        dst[d0 + c] = src[s0 + c * dm]
                else:
                    for c in range(channels):
                        dst[d0 + c] += src[s0 + c * dm]


# The per-row work lives in separate non-parallel functions: inlined into a prange body the
# same loops compiled ~2x slower (measured), as the parallel lowering hides the simple strides.
@njit(parallel=True)
def _to_phases(x, xph, dm):  # pragma: no cover - JIT
    n_img, height, width, channels = x.shape
    for r in prange(n_img * height):
        n = r // height
        y = r - n * height
        _row_to_phases(x[n, y].reshape(width * channels), xph, n, y, channels, dm)


@njit(parallel=True)
def _from_phases(gph, gx, dm):  # pragma: no cover - JIT
    n_img, height, width, channels = gx.shape
    for r in prange(n_img * height):
        n = r // height
        y = r - n * height
        _row_from_phases(gph, gx[n, y].reshape(width * channels), n, y, channels, dm)


def _phases(x: np.ndarray, sw: int, dm: int) -> np.ndarray:
    """Rearrange ``(N, H, W, C)`` into ``(sw, N, H, Wq*C*dm)`` for the stream kernels.

    Channels are repeated ``dm`` times and the columns split into ``sw`` phases of
    ``Wq = ceil(W / sw)`` columns (zero-filled at the end). No copy when ``sw == dm == 1``.
    """
    n_img, height, width, channels = x.shape
    if sw == 1 and dm == 1:
        return x.reshape(1, n_img, height, width * channels)
    phase_w = -(-width // sw)
    xph = np.empty((sw, n_img, height, phase_w * channels * dm), dtype=x.dtype)
    if x.size * dm < NUMPY_PHASES_BELOW:
        _numpy_phases(x, xph, dm)
    else:
        _to_phases(x, xph, dm)
    return xph


#: Phase rearrangements of fewer numbers than this (4 MiB of float32) go through numpy: slower
#: per call than the parallel kernels, but those cost 1-3 s of compilation each (the parallel
#: lowering), which the first run of a small model - the README example's strided layer, its
#: validation and ``predict`` in batches of 256 - would otherwise pay. W3 (2M numbers) keeps them.
NUMPY_PHASES_BELOW = 1 << 20


def _numpy_phases(x: np.ndarray, xph: np.ndarray, dm: int) -> None:
    """:func:`_to_phases` in numpy, for small arrays."""
    n_img, height, width, channels = x.shape
    sw = xph.shape[0]
    for p in range(sw):
        cols = x[:, :, p::sw, :]
        if dm > 1:
            cols = np.repeat(cols, dm, axis=3)
        used = cols.shape[2] * channels * dm
        xph[p, :, :, :used] = cols.reshape(n_img, height, used)
        xph[p, :, :, used:] = 0


def _numpy_unphase(gph: np.ndarray, gx: np.ndarray, dm: int) -> None:
    """:func:`_from_phases` in numpy, for small arrays."""
    n_img, height, width, channels = gx.shape
    sw = gph.shape[0]
    for p in range(sw):
        n_cols = len(range(p, width, sw))
        g = gph[p, :, :, : n_cols * channels * dm].reshape(n_img, height, n_cols, channels, dm)
        gx[:, :, p::sw, :] = g[..., 0] if dm == 1 else g.sum(axis=4)


def _unphase(gph: np.ndarray, shape, dm: int) -> np.ndarray:
    """Inverse of :func:`_phases` for a gradient: interleave the phases, sum the ``dm`` copies."""
    if gph.shape[0] == 1 and dm == 1:
        return gph.reshape(shape)
    gx = np.empty(tuple(shape), dtype=gph.dtype)
    if gx.size * dm < NUMPY_PHASES_BELOW:
        _numpy_unphase(gph, gx, dm)
    else:
        _from_phases(gph, gx, dm)
    return gx


def _tiled(kernel: np.ndarray, out_w: int) -> np.ndarray:
    """Each tap's ``C*dm`` weights repeated along the output row: ``(kh, kw, out_w*C*dm)``."""
    kh, kw, channels, dm = kernel.shape
    return np.ascontiguousarray(np.tile(kernel.reshape(kh, kw, channels * dm), (1, 1, out_w)))


def _tiled_per_multiplier(kernel: np.ndarray, out_w: int) -> np.ndarray:
    """Each tap's ``C`` weights of multiplier ``m`` repeated along a row: ``(dm, kh, kw, Wo*C)``."""
    return np.ascontiguousarray(np.tile(kernel.transpose(3, 0, 1, 2), (1, 1, 1, out_w)))


#: Output rows shorter than this many numbers (``Wo * C * dm``) are too short for the streams to
#: pay: the batch is folded into the channels first (module docstring). The digits model's first
#: layer (8x8x1, rows of 8 numbers) took 0.48 ms per batch of 256 unfolded and 0.08 ms folded,
#: each of the three kernels; its second (8x8x16, rows of 128) gained under 10% from folding,
#: and the wide rows of the benchmark workloads lost 2x (the transposes cost more).
FOLD_BELOW = 32


def _fold(a: np.ndarray) -> np.ndarray:
    """``(N, H, W, C) -> (1, H, W, N*C)``: channel ``n*C + c`` is image ``n``'s channel ``c``."""
    n_img, height, width, channels = a.shape
    return np.ascontiguousarray(a.transpose(1, 2, 0, 3)).reshape(1, height, width, n_img * channels)


def _unfold(a: np.ndarray, n_img: int) -> np.ndarray:
    """Inverse of :func:`_fold`: ``(1, H, W, N*C) -> (N, H, W, C)``, a new array."""
    _, height, width, wide = a.shape
    split_channels = a.reshape(height, width, n_img, wide // n_img)
    return np.ascontiguousarray(split_channels.transpose(2, 0, 1, 3))


def _folds(n_img: int, out_w: int, channels: int) -> bool:
    return n_img > 1 and out_w * channels < FOLD_BELOW


def _geometry(channels, strides, dilation, pads) -> tuple[int, ...]:
    """The scalar arguments every stream kernel takes after its arrays."""
    return (channels, *strides, *dilation, pads[0][0], pads[1][0])


def _run(serial, parallel, arrays, rows: int, work: int, geometry) -> None:
    """Run a stream kernel over ``rows`` rows: serially if small, else one chunk per thread.

    (For the kernel gradient, whose chunks need private accumulators, see its function.) One
    chunk per thread: a few per thread would balance better, but one was as fast on the
    benchmark workloads.
    """
    chunks = split(work, rows)
    if chunks == 1:
        serial(*arrays, 0, rows, *geometry)
    else:
        parallel(*arrays, chunks, *geometry)


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
    if out_h * out_w and x.size and _folds(n_img, out_w, channels * dm):
        wide = depthwise_conv2d_forward(
            _fold(x), np.tile(kernel, (1, 1, n_img, 1)), strides, dilation, pads
        )
        return _unfold(wide, n_img)
    out = aligned.empty((n_img, out_h, out_w, channels * dm), x.dtype)  # the next layer's input
    if out.size == 0:
        return out
    if x.size == 0:
        out[...] = 0
        return out
    rows_fn, arrays, geometry = _forward_setup(x, kernel, out, strides, dilation, pads)
    parallel = {
        _forward_rows: _forward_parallel,  # (a small problem: it runs serially anyway)
        _forward_rows_paired: _forward_parallel,
        _forward_rows_direct: _forward_direct_parallel,
        _forward_rows_ring: _forward_ring_parallel,
        depthwise_lanes.forward_rows: depthwise_lanes.forward_rows_parallel,
    }[rows_fn]
    work = out.size * kh * kw
    _run(rows_fn, parallel, arrays, n_img * out_h, work, geometry)
    return out


#: Strided forward passes (multiplier 1) over at least this many channels run
#: :func:`_forward_rows_direct` (see there) rather than :func:`_forward_rows_ring`, which was
#: slower there (one thread, stride 2: 64x32x32x32 0.94-1.09 ms against 0.88-0.90, 64x16x16x128
#: 0.76-1.26 against 0.59-0.81) but faster with 16 channels (64x32x32x16: 0.45-0.64 against
#: 1.0-2.4 with the old whole-input phase copy).
DIRECT_STRIDED_CHANNELS = 32


def _forward_setup(x, kernel, out, strides, dilation, pads):
    """The row function and its arguments for the depthwise convolution of ``x`` into ``out``.

    Returns ``(rows_fn, arrays, geometry)``: ``rows_fn(*arrays, r0, r1, *geometry)`` writes
    output rows ``r0 <= r < r1``.
    """
    n_img, _, _, channels = x.shape
    kh, kw, _, dm = kernel.shape
    _, out_h, out_w, _ = out.shape
    big = _big(out.size * kh * kw)
    if big and _lanes_forward(dm, strides, dilation, channels):
        height, width = x.shape[1:3]
        arrays = (
            x.reshape(n_img, height, width * channels),
            aligned.contiguous(kernel.reshape(kh, kw, channels)),  # loaded once per group
            out.reshape(n_img, out_h, out_w * channels),
        )
        return depthwise_lanes.forward_rows, arrays, (pads[0][0], pads[1][0])
    if strides[1] > 1 and dm == 1 and channels >= DIRECT_STRIDED_CHANNELS:
        geometry = (*strides, *dilation, pads[0][0], pads[1][0])
        return _forward_rows_direct, (x, kernel.reshape(kh, kw, channels), out), geometry
    if big and (strides[1] > 1 or dm > 1):
        height, width = x.shape[1:3]
        arrays = (
            x.reshape(n_img, height, width * channels),
            _tiled_per_multiplier(kernel, out_w),
            out.reshape(n_img, out_h, out_w * channels * dm),
        )
        geometry = (channels, dm, *strides, *dilation, pads[0][0], pads[1][0])
        return _forward_rows_ring, arrays, geometry
    arrays = (
        _phases(x, strides[1], dm),
        _tiled(kernel, out_w),
        out.reshape(n_img, out_h, out_w * channels * dm),
    )
    rows_fn = _forward_rows_paired if big else _forward_rows
    return rows_fn, arrays, _geometry(channels * dm, strides, dilation, pads)


def _big(work: int) -> bool:
    """Whether a problem is big enough for the kernels that are dearer to compile.

    The paired-row and ring kernels are faster on big problems but take 2-3x longer to
    compile; below the serial threshold (:data:`minikeras.kernels._jit.SERIAL_BELOW`, read at
    each call) the plain ones run, so a small model's first epoch on a fresh install compiles
    only those (the README example: 3 s instead of 8).
    """
    return work >= _jit.SERIAL_BELOW


def _lanes_forward(dm: int, strides, dilation, channels: int) -> bool:
    """Whether a big problem takes :mod:`.depthwise_lanes` (forward and both gradients).

    Measured one thread, alternated, before -> after, 32x32x32x32 3x3: forward 0.70 -> 0.49
    ms, input gradient 0.9-1.2 -> 0.6-0.8 ms, kernel gradient 1.0-1.3 -> 0.6-0.8 ms; 5x5 on
    128x8x8x64: kernel gradient 1.36 -> 0.66 ms; 64x16x16x128 3x3 unchanged.
    """
    return (
        dm == 1
        and tuple(strides) == (1, 1)
        and tuple(dilation) == (1, 1)
        and channels % lanes.LANES == 0
    )


#: The fused separable forward makes the depthwise rows and their 1x1 product in steps of about
#: this many bytes of depthwise output, so the product reads them from L2 cache, not memory.
#: 512 KiB rather than 128: fewer, longer BLAS calls paid more than the closer cache (W1, W2,
#: W4, one and two threads, 24 alternated comparisons on a noisy machine: faster in 19, e.g.
#: W4 two threads 0.99-1.22 -> 0.87-1.17 ms, W2 5.3-6.3 -> 4.8-5.1 ms); 16-32 KiB were slower.
FUSED_STEP_BYTES = 512 * 1024


def separable_forward(
    x: np.ndarray,
    kernel: np.ndarray,
    pointwise: np.ndarray,
    bias: np.ndarray | None = None,
    strides: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = ((0, 0), (0, 0)),
    relu: bool = False,
    scale: np.ndarray | None = None,
    shift: np.ndarray | None = None,
    keep_depthwise: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Depthwise convolution, ``@ pointwise (+ bias)`` (``* scale + shift``) (ReLU), in one pass.

    Each thread of :mod:`.matmul`'s pool takes a contiguous block of output rows and alternates,
    step by step, between the depthwise stream kernel and a single-threaded BLAS call on the rows
    it has just written. Compared with the two phases run one after the other (each split over
    the threads on its own), the product reads the depthwise rows while they are still in cache,
    and there is one hand-off between threads per call instead of two.

    Args:
        x: Input ``(N, H, W, C)``, float32 or float64.
        kernel: Depthwise kernel ``(kh, kw, C, dm)``; cast to ``x.dtype``.
        pointwise: ``(C*dm, F)``, of ``x``'s dtype.
        bias: Optional ``(F,)``, of ``x``'s dtype.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit ``((top, bottom), (left, right))`` zero padding.
        relu: Apply ``max(z, 0)`` in place, each block while it is in cache (inference: it saves
            the separate ReLU's pass over memory and its output-sized array).
        scale: Optional ``(F,)``: after the bias, ``z * scale + shift`` per output channel, each
            block while it is in cache (a batch normalisation at inference, folded in; the same
            arithmetic as :func:`minikeras.kernels.affine.channel_affine`, so the same numbers).
        shift: ``(F,)``, given with ``scale``.
        keep_depthwise: Return the depthwise output. Without it (nothing will differentiate
            the call), the register kernels never write it to memory and ``y`` may be ``None``.

    Returns:
        ``(y, z)``: the depthwise output ``(N, Ho, Wo, C*dm)`` (the backward pass needs it) and
        ``z = y @ pointwise (+ bias)`` (then the affine map and ``max(..., 0)`` if asked) as
        ``(N*Ho*Wo, F)``.
    """
    x = np.ascontiguousarray(x)
    kernel = np.ascontiguousarray(kernel, dtype=x.dtype)
    n_img, height, width, channels = x.shape
    kh, kw, _, dm = kernel.shape
    out_h, out_w = output_hw((height, width), (kh, kw), strides, dilation, pads)
    rows = n_img * out_h
    filters = pointwise.shape[1]
    flops = rows * out_w * channels * dm * filters
    if (
        flops < mm.MIN_SPLIT_FLOPS
        or x.size == 0
        or rows == 0
        or _folds(n_img, out_w, channels * dm)
    ):
        # Small, empty or folded: the two phases one after the other, as before.
        y = depthwise_conv2d_forward(x, kernel, strides, dilation, pads)
        z = mm.matmul(y.reshape(-1, channels * dm), pointwise, bias=bias, relu=relu,
                      scale=scale, shift=shift)
        return y, z
    # aligned: the register kernels store y and z in whole 64-byte vectors (see kernels.aligned)
    y = aligned.empty((n_img, out_h, out_w, channels * dm), x.dtype)
    z = aligned.empty((rows * out_w, filters), x.dtype)
    rows_fn, arrays, geometry = _forward_setup(x, kernel, y, strides, dilation, pads)
    y2 = y.reshape(-1, channels * dm)
    # a short inner dimension: the product in registers (lanes_product), not BLAS, with the
    # epilogue applied to its registers before they are stored
    in_registers = mm.fits_lanes_product(y2, pointwise, z) and pointwise.flags.c_contiguous
    if in_registers:  # its vectors are loaded for every block of the product
        pointwise = aligned.contiguous(pointwise)
    narrow = channels * dm <= mm.NARROW_K
    # output rows per step; the register product gained nothing from cache-sized steps (W1 and
    # W4, one thread, 200 alternations: 512 KiB steps 3-6% slower than a thread's whole block)
    row_bytes = y2.shape[1] * y2.itemsize * out_w
    step = max(1, (y.nbytes if in_registers else FUSED_STEP_BYTES) // row_bytes)

    ef, flags = lanes_product.epilogue_arrays(filters, z.dtype, bias, scale, shift, relu)

    # Without a backward pass, the register path makes its depthwise rows a step at a time in
    # the first rows of each thread's block of y, used again at every step, and reads them back
    # from cache: steps of FUSED_STEP_BYTES, as the BLAS path. Against writing all of y first
    # (one thread, the same binary in one process, two runs each): W1 (32 channels) +1-4% in
    # steps of 16 rows (64 KiB), -4-6% in 512 KiB steps; W2 -9% either way; W4 even and -5%.
    # So W1 used to write all of y; now no layer does.
    scratch_rows = 0 if keep_depthwise else max(1, FUSED_STEP_BYTES // row_bytes)

    def stepwise(r0: int, r1: int) -> None:
        for lo in range(r0, r1, step):
            hi = min(lo + step, r1)
            rows_fn(*arrays, lo, hi, *geometry)
            rows_y, part = y2[lo * out_w : hi * out_w], z[lo * out_w : hi * out_w]
            if in_registers or narrow:  # (an RGB input's 3 channels: see matmul.NARROW_K)
                product = mm._block_lanes if in_registers else mm._block_narrow
                product(rows_y, pointwise, part, bias, relu, scale, shift)
            else:
                np.matmul(rows_y, pointwise, out=part)
                epilogue(part, bias, scale, shift, relu)

    if in_registers and rows_fn is depthwise_lanes.forward_rows:
        # both halves in registers: one numba call, one chunk of rows per thread
        chunks = min(mm._workers(), rows)
        if chunks > 1 and threads.cheap_parallel_loops():
            depthwise_lanes.separable_rows_parallel(*arrays, pointwise, z, chunks, *geometry,
                                                    ef, *flags, scratch_rows)
        else:
            mm.split_rows(
                lambda r0, r1: depthwise_lanes.separable_rows(*arrays, pointwise, z, r0, r1,
                                                              *geometry, ef, flags,
                                                              scratch_rows),
                rows, chunks,
            )
        return (y if keep_depthwise else None), z
    mm.split_rows(stepwise, rows, mm._workers())
    return y, z


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
    dm = kernel.shape[3]
    sw = strides[1]
    if grad.size == 0 or n_img * height * width * channels == 0:
        return np.zeros(tuple(input_shape), dtype=grad.dtype)
    if _folds(n_img, out_w, channels * dm):
        wide = depthwise_conv2d_grad_input(
            _fold(grad),
            np.tile(kernel, (1, 1, n_img, 1)),
            (1, height, width, n_img * channels),
            strides,
            dilation,
            pads,
        )
        return _unfold(wide, n_img)
    g = grad.reshape(n_img, out_h, out_w * channels * dm)
    kh, kw = kernel.shape[:2]
    work = grad.size * kh * kw
    (pt, _), (pl, _) = pads
    if (
        _big(work)
        and _lanes_forward(dm, strides, dilation, channels)
        and pt <= kh - 1
        and pl <= kw - 1
    ):
        # With stride 1 the input gradient is a forward pass over the output gradient with the
        # kernel turned by 180 degrees and the complementary pads: the register kernel again.
        gx = np.empty(tuple(input_shape), dtype=grad.dtype)
        arrays = (
            g,
            aligned.contiguous(kernel[::-1, ::-1, :, 0]),
            gx.reshape(n_img, height, width * channels),
        )
        geometry = (kh - 1 - pt, kw - 1 - pl)
        rows_fns = (depthwise_lanes.forward_rows, depthwise_lanes.forward_rows_parallel)
        _run(*rows_fns, arrays, n_img * height, work, geometry)
        return gx
    if dm > 1 and _big(work):
        # phases and multipliers a few rows at a time (_grad_input_rows_ring); with dm = 1 the
        # whole-array phases stayed faster (64x32x32x32, stride 2: 1.7 vs 2.1-2.7 ms)
        gx = np.empty(tuple(input_shape), dtype=grad.dtype)
        arrays = (g, _tiled_per_multiplier(kernel, out_w),
                  gx.reshape(n_img, height, width * channels))
        geometry = (channels, dm, *strides, *dilation, pads[0][0], pads[1][0])
        _run(_grad_input_rows_ring, _grad_input_ring_parallel, arrays, n_img * height, work,
             geometry)
        return gx
    if sw == 1 and dm == 1:
        # Write straight into the result (an array that owns its memory, so the tape need not
        # copy it): its flat rows are the only phase.
        gx = np.empty(tuple(input_shape), dtype=grad.dtype)
        gph = gx.reshape(1, n_img, height, width * channels)
    else:
        gx = None
        phase_w = -(-width // sw)
        gph = np.empty((sw, n_img, height, phase_w * channels * dm), dtype=grad.dtype)
    arrays = (g, _tiled(kernel, out_w), gph)
    geometry = _geometry(channels * dm, strides, dilation, pads)
    rows_fn = _grad_input_rows_paired if _big(work) else _grad_input_rows
    _run(rows_fn, _grad_input_parallel, arrays, n_img * height, work, geometry)
    return gx if gx is not None else _unphase(gph, input_shape, dm)


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
    if grad.size == 0 or x.size == 0:
        return np.zeros(tuple(kernel_shape), dtype=x.dtype)
    if _folds(n_img, out_w, channels * dm):
        # one kernel gradient per (image, channel) of the wide image; sum over the images
        wide = depthwise_conv2d_grad_kernel(
            _fold(x), _fold(grad), (kh, kw, n_img * channels, dm), strides, dilation, pads
        )
        return wide.reshape(kh, kw, n_img, channels, dm).sum(axis=2)
    rows = n_img * out_h
    chunks = split(grad.size * kh * kw, rows)
    g = grad.reshape(n_img, out_h, out_w * channels * dm)
    if _big(grad.size * kh * kw) and _lanes_forward(dm, strides, dilation, channels):
        # four output pixels' gradients held in registers while the taps go by
        # aligned: each tap's sums are loaded and stored once per group of four pixels
        acc = aligned.zeros((chunks, kh, kw, channels), x.dtype)
        xr = x.reshape(n_img, height, width * channels)
        geometry = (pads[0][0], pads[1][0])
        if chunks == 1:
            depthwise_lanes.grad_kernel_rows(xr, g, acc[0], 0, rows, *geometry)
        else:
            depthwise_lanes.grad_kernel_rows_parallel(xr, g, acc, *geometry)
        return acc.sum(axis=0).reshape(kh, kw, channels, 1)
    if dm > 1 and _big(grad.size * kh * kw):
        # phases and multipliers a few rows at a time; with dm = 1 the whole-array phases
        # stayed faster (64x32x32x32, stride 2: 1.5-1.7 vs 2.0-2.2 ms, one thread)
        acc = np.zeros((chunks, dm, kh, kw, out_w * channels), dtype=x.dtype)
        xr = x.reshape(n_img, height, width * channels)
        geometry = (channels, dm, *strides, *dilation, pads[0][0], pads[1][0])
        if chunks == 1:
            _grad_kernel_rows_ring(xr, g, acc[0], 0, rows, *geometry)
        else:
            _grad_kernel_ring_parallel(xr, g, acc, *geometry)
        # sum the chunks and the output columns; (dm, kh, kw, C) -> (kh, kw, C, dm)
        total = acc.sum(axis=0).reshape(dm, kh, kw, out_w, channels).sum(axis=3)
        return np.ascontiguousarray(total.transpose(1, 2, 3, 0))
    acc = np.zeros((chunks, kh, kw, out_w * channels * dm), dtype=x.dtype)
    xph = _phases(x, strides[1], dm)
    geometry = _geometry(channels * dm, strides, dilation, pads)
    if chunks == 1:
        _grad_kernel_rows(xph, g, acc[0], 0, rows, *geometry)
    else:
        _grad_kernel_parallel(xph, g, acc, *geometry)
    # Fold the chunks and the output columns: index j*C*dm + o holds output channel o.
    total = acc.sum(axis=0).reshape(kh, kw, out_w, channels * dm).sum(axis=2)
    return total.reshape(kh, kw, channels, dm)
