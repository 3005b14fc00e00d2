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

Every group of four reads the input in place. In a group at the left or right edge of the
row, a tap that falls on the zero padding loads a zero register instead of the input
(:func:`.lanes.load_if`); whether each input pixel of such a group is inside the row is worked out
once per group. The groups between the edges load without a test. Kernel rows that fall
outside the image are left out.

Each sum waits for the FMA before it, four cycles on this kind of CPU, so four sums keep at
most four FMAs in flight. With AVX-512 (:data:`PAIRED`) the forward keeps eight: a 5x5 kernel
makes two blocks of channels at once, a 3x3 kernel two output rows (:func:`rows_into_two`).
One thread, a loop over one input, the forward of W1 went from 0.42 to 0.30-0.33 ms and W2's
from 0.92 to 0.60-0.74 ms with the untested middle groups and two blocks at once (oneDNN's W1
is 0.27-0.29 ms), then to 0.22-0.23 and 0.50-0.55 ms with two rows at once.

Two earlier versions copied the input first. The first copied edge columns into a padded buffer
with numba slice assignments, which took longer than the convolution of the row. The second
copied every input row once into a ring of ``kh`` zero-padded rows, by vector loads and stores,
so that no tap needed a test. Even those copies cost a third of the time in a loop over the same
input (a variant that stored every row into a buffer nobody read was as slow as the ring), and
reading in place there took W4's forward from 0.38-0.42 to 0.28-0.33 ms. In the layer, though,
the input comes cold from memory, and reading it in place lost (W1 +10%, W2 +6%, one thread,
the two versions in processes taking turns): the copy had been a fast sequential read. So each
output row first asks for the input row the next one brings in (:func:`_prefetch_row`, one
:func:`.lanes.prefetch` into L2 per 64 bytes; into L1 it pushed out the rows in use). Against the
ring, in the layer (one thread, processes taking turns, two runs): W4 forward -9% (-21% with
the inference scratch rows of :func:`separable_rows`), forward+backward -4 to -8%, W1
forward -5 to -6%, W2 even to 6% slower.

They run for multiplier 1, stride 1, no dilation and channels a multiple of
:data:`.lanes.LANES`, on problems big enough (:func:`.depthwise._big`) to be worth their compile
time. Measured one thread, alternated (``benchmarks/README.md``): depthwise forward W1
(32x32x32x32, 3x3) 0.70 -> 0.49 ms, W2 (64x16x16x128) 1.92 -> 1.60 ms; W4 (128x8x8x64, 5x5)
forward 0.72-0.81 -> 0.56 ms, input gradient 0.76 -> 0.63 ms, kernel gradient 1.36 -> 0.66 ms.
Compiled for AVX2 (``NUMBA_CPU_NAME=haswell`` with AVX2 features, OpenBLAS as Haswell) W1 and
W4 gained alike (W1 forward 0.78 -> 0.46-0.51 ms, W4 kernel gradient 1.04-1.15 -> 0.64-0.71
ms). Reading in place with a test on every load then lost to the ring on AVX2 (W1's forward
1.3-1.4x its time): with 16 registers the six inputs' flags and values went through the stack.
Untested loads between the edges and :func:`_taps3` brought it to 0.36 ms against the ring's
0.39 (W2 0.90 against 0.98). A lanes value takes two AVX2 registers, so there four sums are
already eight chains; narrower lanes (8 floats, one register each) ran 1.5-2.7x slower.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels import lanes, lanes_product
from minikeras.kernels._jit import njit, prange

#: Whether the forward keeps eight sums in registers: :func:`_quads5` two blocks of channels
#: at once (5-wide windows), :func:`rows_into_two` two output rows (3x3 kernels). A 512-bit FMA
#: takes four cycles to finish and one starts per cycle, so four independent sums are the least
#: that keeps the unit busy, in a loop that does nothing else (notebook 6 measures it); four
#: pixels' sums, with loads and loop tests in between, were not quite enough. Eight sums share
#: the loop's other work. W4's 5x5 forward (64 channels) went from 0.29-0.32 to 0.23-0.25 ms
#: (one thread, a loop over the same input); for 3x3, two blocks took W1 (32 channels) from
#: 0.33 to 0.30 ms, two rows then to 0.22-0.23. With AVX2 a lanes value already takes two
#: registers, so four sums are eight chains; paired, they spilled and W2 ran 1.3x slower.
PAIRED = lanes.wide_registers()


@njit(inline=True)
def _kernel_rows(r, out_h, height, row_len, pt, kw, channels, row_at, w_at):  # noqa: E501  # pragma: no cover
    """Table the kernel rows that land inside the image, for output row ``r`` (flat over images).

    ``row_at[t]`` is where kernel row ``t``'s input row starts in the flat input, ``w_at[t]``
    where its weights start in a flat ``(kh, kw, C)`` array. Kernel rows above or below the
    image are left out. Returns ``(n, i, rows)``: image, row in it, and the number of rows.
    """
    n = r // out_h
    i = r - n * out_h
    y0 = i - pt
    rows = 0
    for a in range(max(0, -y0), min(row_at.shape[0], height - y0)):
        row_at[rows] = (n * height + y0 + a) * row_len
        w_at[rows] = a * kw * channels
        rows += 1
    return n, i, rows


@njit(inline=True)
def _prefetch_row(flat_x, start, row_len):  # pragma: no cover - JIT
    """Ask for the input row at ``start`` (the next output row's new one) before it is read.

    Into L2 only: the rows in use stay in L1 (see :func:`.lanes.prefetch`).
    """
    if 0 <= start and start + row_len <= flat_x.shape[0]:
        for q in range(0, row_len, lanes.LANES):
            lanes.prefetch(flat_x, start + q)


@njit(inline=True)
def _taps3(src, p, C, weights, wp, s0, s1, s2, s3, in0, in1, in2, in3, in4, in5, zero):  # noqa: E501  # pragma: no cover
    """One kernel row of three taps added to four pixels' sums (one block of channels).

    Tap ``b`` of pixel ``q`` reads input ``v(q + b)`` at ``src[p + (q + b) * C]``, a zero where
    ``in(q + b)`` is false, with the weights at ``weights[wp + b * C]``.
    """
    v0, v1, v2, v3, v4, v5 = _inputs6(src, p, C, in0, in1, in2, in3, in4, in5, zero)
    return _fmas3(weights, wp, C, v0, v1, v2, v3, v4, v5, s0, s1, s2, s3)


@njit(inline=True)
def _inputs6(src, p, C, in0, in1, in2, in3, in4, in5, zero):  # noqa: E501  # pragma: no cover
    """The six input vectors under four pixels' 3-wide windows.

    ``v(i)`` is ``src[p + i * C]``, or a zero where ``in(i)`` is false.
    """
    return (lanes.load_if(in0, src, p, zero), lanes.load_if(in1, src, p + C, zero),
            lanes.load_if(in2, src, p + 2 * C, zero), lanes.load_if(in3, src, p + 3 * C, zero),
            lanes.load_if(in4, src, p + 4 * C, zero), lanes.load_if(in5, src, p + 5 * C, zero))


@njit(inline=True)
def _fmas3(weights, wp, C, v0, v1, v2, v3, v4, v5, s0, s1, s2, s3):  # noqa: E501  # pragma: no cover
    """Three taps of :func:`_inputs6`'s vectors into four sums, weights at ``wp + b * C``."""
    w = lanes.load(weights, wp)
    s0, s1, s2, s3 = lanes.fma4(w, v0, v1, v2, v3, s0, s1, s2, s3)
    w = lanes.load(weights, wp + C)
    s0, s1, s2, s3 = lanes.fma4(w, v1, v2, v3, v4, s0, s1, s2, s3)
    w = lanes.load(weights, wp + 2 * C)
    return lanes.fma4(w, v2, v3, v4, v5, s0, s1, s2, s3)


@njit(inline=True)
def _taps3_two(src, p, C, weights, wp, wq, s0, s1, s2, s3, t0, t1, t2, t3, in0, in1, in2, in3, in4, in5, zero):  # noqa: E501  # pragma: no cover
    """One input row's three taps into two output rows' sums, each input vector for six FMAs.

    Kernel row at ``wp`` for the first row (``s``), the one above it, at ``wq``, for the
    second (``t``). Loads as :func:`_taps3`.
    """
    v0, v1, v2, v3, v4, v5 = _inputs6(src, p, C, in0, in1, in2, in3, in4, in5, zero)
    s0, s1, s2, s3 = _fmas3(weights, wp, C, v0, v1, v2, v3, v4, v5, s0, s1, s2, s3)
    t0, t1, t2, t3 = _fmas3(weights, wq, C, v0, v1, v2, v3, v4, v5, t0, t1, t2, t3)
    return s0, s1, s2, s3, t0, t1, t2, t3


@njit(inline=True)
def _group3(src, row_at, n_rows, weights, w_row_at, orow, j, channels, width, pl, edge):  # noqa: E501  # pragma: no cover
    """Output pixels ``j .. j + 3`` of one output row, for a window three pixels wide.

    With ``edge`` false, every input pixel of the group is inside the row, and the loads are
    not tested: :func:`_quads` passes a constant, so the compiler makes two copies of this
    body, and the one for the middle of the row has no branches around its loads. Whether each
    input pixel of an edge group is inside is worked out once per group.

    With AVX-512 most rows go two at a time instead (:func:`_group3_two`); this one makes the
    rows left over, and every row with AVX2.
    """
    C = channels
    zero = lanes.zeros(weights)
    u = j - pl  # the input pixel of v0
    inside = not edge or (u >= 0 and u + 5 < width)  # every input pixel of the group
    in0, in1, in2 = inside or 0 <= u < width, inside or 0 <= u + 1 < width, inside or 0 <= u + 2 < width  # noqa: E501
    in3, in4, in5 = inside or 0 <= u + 3 < width, inside or 0 <= u + 4 < width, inside or 0 <= u + 5 < width  # noqa: E501
    for cb in range(0, C, lanes.LANES):
        s0 = zero
        s1 = zero
        s2 = zero
        s3 = zero
        for t in range(n_rows):
            s0, s1, s2, s3 = _taps3(src, row_at[t] + u * C + cb, C, weights, w_row_at[t] + cb,
                                    s0, s1, s2, s3, in0, in1, in2, in3, in4, in5, zero)
        _store4(orow, j * C + cb, C, s0, s1, s2, s3)


@njit(inline=True)
def _group3_two(src, in_at, weights, orow0, orow1, j, channels, width, pl, edge):  # noqa: E501  # pragma: no cover
    """Output pixels ``j .. j + 3`` of two neighbouring output rows, for a 3x3 kernel.

    ``in_at[m]`` (``m <= 3``) is where the input row under kernel row ``m`` of the first
    output row starts, ``-1`` outside the image (:func:`_input_rows`). That row is kernel row
    ``m - 1`` of the second output row, so rows 1 and 2 feed both (:func:`_taps3_two`), row 0
    only the first and row 3 only the second. Each sum takes its kernel rows in the same
    order as in :func:`_group3`: the same numbers to the last bit. ``edge``: as there.
    """
    C = channels
    zero = lanes.zeros(weights)
    row_w = 3 * C  # the weights of one kernel row
    u = j - pl  # the input pixel of v0
    inside = not edge or (u >= 0 and u + 5 < width)  # every input pixel of the group
    in0, in1, in2 = inside or 0 <= u < width, inside or 0 <= u + 1 < width, inside or 0 <= u + 2 < width  # noqa: E501
    in3, in4, in5 = inside or 0 <= u + 3 < width, inside or 0 <= u + 4 < width, inside or 0 <= u + 5 < width  # noqa: E501
    for cb in range(0, C, lanes.LANES):
        s0 = zero
        s1 = zero
        s2 = zero
        s3 = zero
        t0 = zero
        t1 = zero
        t2 = zero
        t3 = zero
        if in_at[0] >= 0:
            s0, s1, s2, s3 = _taps3(src, in_at[0] + u * C + cb, C, weights, cb,
                                    s0, s1, s2, s3, in0, in1, in2, in3, in4, in5, zero)
        for m in range(1, 3):  # (a known count: unrolled; a variable one ran 5-9% slower)
            if in_at[m] >= 0:
                s0, s1, s2, s3, t0, t1, t2, t3 = _taps3_two(
                    src, in_at[m] + u * C + cb, C, weights, m * row_w + cb, (m - 1) * row_w + cb,
                    s0, s1, s2, s3, t0, t1, t2, t3, in0, in1, in2, in3, in4, in5, zero,
                )
        if in_at[3] >= 0:
            t0, t1, t2, t3 = _taps3(src, in_at[3] + u * C + cb, C, weights,
                                    2 * row_w + cb, t0, t1, t2, t3,
                                    in0, in1, in2, in3, in4, in5, zero)
        _store4(orow0, j * C + cb, C, s0, s1, s2, s3)
        _store4(orow1, j * C + cb, C, t0, t1, t2, t3)


@njit(inline=True)
def _store4(orow, q, C, s0, s1, s2, s3):  # pragma: no cover - JIT
    """Store four pixels' sums of one block of channels, the first at ``orow[q]``."""
    lanes.store(orow, q, s0)
    lanes.store(orow, q + C, s1)
    lanes.store(orow, q + 2 * C, s2)
    lanes.store(orow, q + 3 * C, s3)


@njit(inline=True)
def _quads(src, row_at, n_rows, weights, w_row_at, orow, quads, channels, kw, width, pl):  # noqa: E501  # pragma: no cover
    """Output pixels ``j < quads`` of one output row, four at a time (``quads``: 4k).

    Kernel row ``t < n_rows`` reads input pixel ``u`` at ``src[row_at[t] + u * C + c]``, for
    ``0 <= u < width``; pixels outside (the padding) read as zeros. The weights of column tap
    ``b`` are at ``weights[w_row_at[t] + b * C + c]``.

    A window three pixels wide (the common one) runs its groups in two loops: those at the
    edges of the row, whose loads are tested, and those between, whose loads are not
    (:func:`_group3`). With one test per load everywhere, the flags and load addresses of the
    six inputs went through the stack: W1's forward 0.42 ms, against 0.33 with the middle
    untested (one thread, a loop over one input). A 5-wide window takes :func:`_quads5`, and
    other widths :func:`_quads_any`; both test every load.

    Each copy costs compile time: numba's own inliner (``njit(inline=True)``) types every
    inlined call again, and with two or three copies of a group's code for every width the
    forward took 20-40 s to compile instead of 2. With one width split, and the small helpers
    :func:`.lanes.load_if` and :func:`.lanes.fma4` made LLVM intrinsics (which that inliner
    never sees), it takes about 7 s.
    """
    if kw == 5:
        _quads5(src, row_at, n_rows, weights, w_row_at, orow, quads, channels, width, pl)
        return
    if kw != 3:
        _quads_any(src, row_at, n_rows, weights, w_row_at, orow, quads, channels, kw, width, pl)
        return
    lo, hi = _middle3(quads, width, pl)
    for e in range(0, lo + quads - hi, 4):  # both edges in one loop: one copy of the code
        _group3(src, row_at, n_rows, weights, w_row_at, orow, e if e < lo else e - lo + hi,
                channels, width, pl, True)
    for j in range(lo, hi, 4):
        _group3(src, row_at, n_rows, weights, w_row_at, orow, j, channels, width, pl, False)


@njit(inline=True)
def _middle3(quads, width, pl):  # pragma: no cover - JIT
    """``(lo, hi)``: the groups of four ``lo <= j < hi`` with all six input pixels inside.

    For a 3-wide window; the other groups, at the edges of the row, test their loads.
    """
    lo = min(quads, (pl + 3) // 4 * 4)  # the first group with no input pixel left of the row
    last = width + pl - 6  # the last group start with no input pixel right of it
    hi = lo if last < lo else min(quads, lo + ((last - lo) // 4 + 1) * 4)
    return lo, hi


@njit(inline=True)
def _quads3_two(src, in_at, weights, orow0, orow1, quads, channels, width, pl):  # noqa: E501  # pragma: no cover
    """Output pixels ``j < quads`` of two neighbouring output rows, four at a time, 3x3 kernel.

    :func:`_quads`'s split into edge and middle groups, with :func:`_group3_two`.
    """
    lo, hi = _middle3(quads, width, pl)
    for e in range(0, lo + quads - hi, 4):
        _group3_two(src, in_at, weights, orow0, orow1, e if e < lo else e - lo + hi,
                    channels, width, pl, True)
    for j in range(lo, hi, 4):
        _group3_two(src, in_at, weights, orow0, orow1, j, channels, width, pl, False)


@njit(inline=True)
def _quads_any(src, row_at, n_rows, weights, w_row_at, orow, quads, channels, kw, width, pl):  # noqa: E501  # pragma: no cover
    """Output pixels ``j < quads`` of one row, four at a time, for windows neither 3 nor 5 wide.

    Kernel row ``t < n_rows`` reads input pixel ``u`` at ``src[row_at[t] + u * C + c]``, for
    ``0 <= u < width``; pixels outside (the padding) read as zeros. The weights of column tap
    ``b`` are at ``weights[w_row_at[t] + b * C + c]``.

    Along a kernel row the four pixels' windows overlap: tap ``b`` of pixel ``q`` reads input
    pixel ``j - pl + q + b``, so each input vector loaded serves up to four FMAs, and per tap
    only one new input vector and one weight vector are loaded: three registers slide along
    the row. Whether each of those pixels is inside the row is worked out once per group.
    """
    C = channels
    zero = lanes.zeros(weights)
    for j in range(0, quads, 4):
        u = j - pl  # the input pixel of v0
        inside = u >= 0 and u + kw + 2 < width  # every input pixel of the group
        in0, in1, in2 = 0 <= u < width, 0 <= u + 1 < width, 0 <= u + 2 < width
        for cb in range(0, C, lanes.LANES):
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            for t in range(n_rows):
                p = row_at[t] + u * C + cb
                wp = w_row_at[t] + cb
                v0 = lanes.load_if(in0, src, p, zero)
                v1 = lanes.load_if(in1, src, p + C, zero)
                v2 = lanes.load_if(in2, src, p + 2 * C, zero)
                for b in range(kw):  # (`inside`: no test per tap away from the edges)
                    inb = inside or 0 <= u + b + 3 < width
                    v3 = lanes.load_if(inb, src, p + (b + 3) * C, zero)
                    w = lanes.load(weights, wp + b * C)
                    s0, s1, s2, s3 = lanes.fma4(w, v0, v1, v2, v3, s0, s1, s2, s3)
                    v0 = v1
                    v1 = v2
                    v2 = v3
            _store4(orow, j * C + cb, C, s0, s1, s2, s3)


@njit(inline=True)
def _taps5(src, p, C, weights, wp, s0, s1, s2, s3, in0, in1, in2, in3, in4, in5, in6, in7, zero):  # noqa: E501  # pragma: no cover
    """One kernel row of five taps added to four pixels' sums (one block of channels).

    Tap ``b`` of pixel ``q`` reads input ``v(q + b)`` at ``src[p + (q + b) * C]``, a zero where
    ``in(q + b)`` is false, with the weights at ``weights[wp + b * C]``: eight input vectors
    for twenty FMAs. Written out rather than as :func:`_taps3` plus two taps: that way W4's
    forward took 0.36 ms instead of 0.23.
    """
    v0 = lanes.load_if(in0, src, p, zero)
    v1 = lanes.load_if(in1, src, p + C, zero)
    v2 = lanes.load_if(in2, src, p + 2 * C, zero)
    v3 = lanes.load_if(in3, src, p + 3 * C, zero)
    v4 = lanes.load_if(in4, src, p + 4 * C, zero)
    v5 = lanes.load_if(in5, src, p + 5 * C, zero)
    v6 = lanes.load_if(in6, src, p + 6 * C, zero)
    v7 = lanes.load_if(in7, src, p + 7 * C, zero)
    w = lanes.load(weights, wp)
    s0, s1, s2, s3 = lanes.fma4(w, v0, v1, v2, v3, s0, s1, s2, s3)
    w = lanes.load(weights, wp + C)
    s0, s1, s2, s3 = lanes.fma4(w, v1, v2, v3, v4, s0, s1, s2, s3)
    w = lanes.load(weights, wp + 2 * C)
    s0, s1, s2, s3 = lanes.fma4(w, v2, v3, v4, v5, s0, s1, s2, s3)
    w = lanes.load(weights, wp + 3 * C)
    s0, s1, s2, s3 = lanes.fma4(w, v3, v4, v5, v6, s0, s1, s2, s3)
    w = lanes.load(weights, wp + 4 * C)
    return lanes.fma4(w, v4, v5, v6, v7, s0, s1, s2, s3)


@njit(inline=True)
def _quads5(src, row_at, n_rows, weights, w_row_at, orow, quads, channels, width, pl):  # noqa: E501  # pragma: no cover
    """Output pixels ``j < quads`` of one output row, four at a time, for a 5-wide window.

    As :func:`_quads_any`, with the five taps of a kernel row written out (as a loop they ran
    12% slower on W4's forward) and every load tested. With AVX-512, two blocks of channels
    are made at once where there are two (:data:`PAIRED`): eight sums, as the 3x3 kernel's two
    rows at once (:func:`rows_into_two`). W4's 5x5
    forward went from 0.29-0.32 to 0.23-0.25 ms (one thread, a loop over one input), near
    this machine's peak for its 13.1M multiply-adds (0.22 ms at 59 GMAC/s).

    Unlike :func:`_group3`, the middle of a row is not split off: W4's rows are eight pixels,
    so every group of four touches the padding, and another copy of this code would cost
    about 3 s more compile time.
    """
    C = channels
    L = lanes.LANES
    zero = lanes.zeros(weights)
    paired = C - C % (2 * L) if PAIRED else 0
    for j in range(0, quads, 4):
        u = j - pl  # the input pixel of v0
        in0, in1, in2 = 0 <= u < width, 0 <= u + 1 < width, 0 <= u + 2 < width
        in3, in4, in5 = 0 <= u + 3 < width, 0 <= u + 4 < width, 0 <= u + 5 < width
        in6, in7 = 0 <= u + 6 < width, 0 <= u + 7 < width
        for cb in range(0, paired, 2 * L):
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            r0 = zero
            r1 = zero
            r2 = zero
            r3 = zero
            for t in range(n_rows):
                p = row_at[t] + u * C + cb
                wp = w_row_at[t] + cb
                s0, s1, s2, s3 = _taps5(src, p, C, weights, wp, s0, s1, s2, s3,
                                        in0, in1, in2, in3, in4, in5, in6, in7, zero)
                r0, r1, r2, r3 = _taps5(src, p + L, C, weights, wp + L, r0, r1, r2, r3,
                                        in0, in1, in2, in3, in4, in5, in6, in7, zero)
            _store4(orow, j * C + cb, C, s0, s1, s2, s3)
            _store4(orow, j * C + cb + L, C, r0, r1, r2, r3)
        for cb in range(paired, C, L):
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            for t in range(n_rows):
                s0, s1, s2, s3 = _taps5(src, row_at[t] + u * C + cb, C, weights,
                                        w_row_at[t] + cb, s0, s1, s2, s3,
                                        in0, in1, in2, in3, in4, in5, in6, in7, zero)
            _store4(orow, j * C + cb, C, s0, s1, s2, s3)


@njit(inline=True)
def _forward_row(flat_x, weights, orow, rows, row_at, w_at, kw, width, pl, channels):  # noqa: E501  # pragma: no cover
    """One output row into ``orow``, from the ``rows`` kernel rows :func:`_kernel_rows` tabled.

    ``flat_x`` is the input and ``weights`` the ``(kh, kw, C)`` kernel, both flat.
    """
    out_w = orow.shape[0] // channels
    quads = out_w - out_w % 4
    _quads(flat_x, row_at, rows, weights, w_at, orow, quads, channels, kw, width, pl)
    _last_pixels(flat_x, weights, orow, rows, row_at, w_at, kw, width, pl, channels, quads)


@njit(inline=True)
def _last_pixels(flat_x, weights, orow, rows, row_at, w_at, kw, width, pl, channels, quads):  # noqa: E501  # pragma: no cover
    """The output pixels from ``quads`` on (the last 1-3 of a row), one at a time."""
    zero = lanes.zeros(weights)
    for j in range(quads, orow.shape[0] // channels):
        for cb in range(0, channels, lanes.LANES):
            s = zero
            for t in range(rows):
                for b in range(kw):  # (padding taps too, as in _quads: the same numbers)
                    u = j - pl + b
                    v = lanes.load_if(0 <= u < width, flat_x, row_at[t] + u * channels + cb, zero)
                    s = lanes.fma(v, lanes.load(weights, w_at[t] + b * channels + cb), s)
            lanes.store(orow, j * channels + cb, s)


@njit(inline=True)
def _input_rows(r, out_h, height, row_len, pt, in_at):  # pragma: no cover - JIT
    """Table where the ``kh + 1`` input rows under output rows ``r`` and ``r + 1`` start.

    ``in_at[m]`` is the input row under kernel row ``m`` of row ``r`` (and ``m - 1`` of row
    ``r + 1``), flat over images, or ``-1`` where it falls outside the image.
    """
    n = r // out_h
    y0 = r - n * out_h - pt
    for m in range(in_at.shape[0]):
        y = y0 + m
        in_at[m] = (n * height + y) * row_len if 0 <= y < height else -1


# nogil: the fused separable forward runs this from the matmul pool's Python threads.
@njit(nogil=True)
def forward_rows(x, kernel, out, r0, r1, pt, pl):  # pragma: no cover - JIT
    """Output rows ``r0 <= r < r1`` of a stride-1, undilated depthwise convolution.

    ``x`` ``(N, H, W*C)``, ``kernel`` ``(kh, kw, C)``, ``out`` ``(N, Ho, Wo*C)``, with ``C`` a
    multiple of :data:`.lanes.LANES` and multiplier 1; ``pt``, ``pl`` the top and left pads.
    """
    # rows r0.. of out, numbered from r0: a constant 0 for `first` would be typed as the
    # literal 0 and compile rows_into a second time (9 s) beside separable_rows's copy
    dst = out.reshape(-1, out.shape[2])[r0:r1]
    _rows_into_any(x, kernel, dst, r0, r0, r1, out.shape[1], pt, pl)


@njit(nogil=True)
def rows_into(x, kernel, dst, first, r0, r1, out_h, pt, pl):  # pragma: no cover - JIT
    """:func:`forward_rows`'s rows ``r0 <= r < r1`` into ``dst[r - first]`` (``dst`` 2-D).

    ``out_h`` is the output's height. Compiled once and called by :func:`forward_rows` and
    :func:`separable_rows` (through :func:`_rows_into_any`): with a copy of its loops inlined
    into the fused forward too, that one function took 50 s to compile.
    """
    kh, kw, channels = kernel.shape
    _, height, row_len = x.shape
    flat_x, weights = x.reshape(-1), kernel.reshape(-1)
    row_at, w_at = np.empty(kh, np.int64), np.empty(kh, np.int64)
    for r in range(r0, r1):
        n, i, rows = _kernel_rows(r, out_h, height, row_len, pt, kw, channels, row_at, w_at)
        _prefetch_row(flat_x, (n * height + i - pt + kh) * row_len, row_len)
        _forward_row(flat_x, weights, dst[r - first], rows, row_at, w_at, kw,
                     row_len // channels, pl, channels)


@njit(nogil=True)
def rows_into_two(x, kernel, dst, first, r0, r1, out_h, pt, pl):  # pragma: no cover - JIT
    """:func:`rows_into` for a 3x3 kernel, two output rows at a time (:func:`_group3_two`).

    Two rows of one image share three of their four input rows, so each input vector loaded
    feeds six FMAs, and each group of four pixels does twice the work for its fixed cost
    (zeroing and storing the sums, the loop around the kernel rows). W1's depthwise forward
    went from 0.26 to 0.22-0.23 ms, W2's from 0.60 to 0.50-0.55 ms (one thread, a loop over one
    input). A row left alone (the last of an image of odd height, or of ``r0 .. r1``) is made
    as the first of a pair whose second row goes to a spare row nobody reads.

    A function of its own, not a branch in :func:`rows_into`: there, its code made W4's 5x5
    forward 4% slower (0.224 -> 0.233 ms), though W4 never ran it.
    """
    kh, kw, channels = kernel.shape
    _, height, row_len = x.shape
    width = row_len // channels
    flat_x, weights = x.reshape(-1), kernel.reshape(-1)
    row_at, w_at = np.empty(kh, np.int64), np.empty(kh, np.int64)
    in_at = np.empty(kh + 1, np.int64)
    spare = np.empty(dst.shape[1], dst.dtype)
    quads = dst.shape[1] // channels // 4 * 4
    r = r0
    while r < r1:
        n = r // out_h
        i = r - n * out_h
        # the next pair's two new input rows (kernel rows kh + 1 and kh + 2 of this one's
        # first), one after the other in memory
        _prefetch_row(flat_x, (n * height + i - pt + kh + 1) * row_len, 2 * row_len)
        _input_rows(r, out_h, height, row_len, pt, in_at)
        pair = 2 if r + 1 < r1 and i + 1 < out_h else 1  # a second row, of the same image
        orow1 = dst[r + 1 - first] if pair == 2 else spare
        _quads3_two(flat_x, in_at, weights, dst[r - first], orow1, quads, channels, width, pl)
        tail = quads < dst.shape[1] // channels  # 1-3 pixels past the last group of four
        for q in range(r, r + pair if tail else r):  # each row's (one copy of the code)
            _, _, rows = _kernel_rows(q, out_h, height, row_len, pt, kw, channels, row_at, w_at)
            _last_pixels(flat_x, weights, dst[q - first], rows, row_at, w_at, kw, width, pl,
                         channels, quads)
        r += pair


@njit(inline=True)
def _rows_into_any(x, kernel, dst, first, r0, r1, out_h, pt, pl):  # pragma: no cover - JIT
    """:func:`rows_into_two` for a 3x3 kernel with AVX-512 (:data:`PAIRED`), else :func:`rows_into`.

    With AVX2, eight sums of two registers each would not fit in its 16.
    """
    if PAIRED and kernel.shape[0] == 3 and kernel.shape[1] == 3:
        rows_into_two(x, kernel, dst, first, r0, r1, out_h, pt, pl)
    else:
        rows_into(x, kernel, dst, first, r0, r1, out_h, pt, pl)


@njit(nogil=True)
def separable_rows(x, kernel, out, pointwise, z, r0, r1, pt, pl, ef, flags, scratch_rows):  # noqa: E501  # pragma: no cover
    """:func:`forward_rows`, then their 1x1 product in registers, in one call.

    ``z`` ``(N*Ho*Wo, F)`` gets the depthwise rows ``@ pointwise`` ``(C, F)`` with the epilogue
    ``ef``, ``flags`` of :func:`.lanes_product.epilogue_arrays`. With ``scratch_rows`` 0 the
    depthwise rows go to ``out`` (a backward pass needs them), all of them before the product.
    Otherwise ``scratch_rows`` rows at a time go to the first rows of this call's block of
    ``out``, used again at every step, so they are read back from cache and most of ``out``
    is never written (nor does it hold the depthwise output afterwards).

    One call per thread for the fused separable forward: through Python, the two calls and
    their setup cost 8-13% of W1's and W4's forward (one thread, alternated in one process).
    """
    channels = kernel.shape[2]
    _, out_h, out_len = out.shape
    out_w = out_len // channels
    n_out = pointwise.shape[1]
    pf, zf = pointwise.reshape(-1), z.reshape(-1)
    keep = scratch_rows == 0
    step = max(1, r1 - r0) if keep else scratch_rows
    rows = out.reshape(-1, out_len)
    for lo in range(r0, r1, step):
        hi = min(r1, lo + step)
        first = 0 if keep else lo - r0  # (row r goes to rows[r - first])
        _rows_into_any(x, kernel, rows, first, lo, hi, out_h, pt, pl)
        lanes_product.rows_product(
            rows.reshape(-1)[(lo - first) * out_len : (hi - first) * out_len], (hi - lo) * out_w,
            channels, pf, zf[lo * out_w * n_out : hi * out_w * n_out], n_out, ef, flags,
        )


@njit(parallel=True)
def separable_rows_parallel(x, kernel, out, pointwise, z, chunks, pt, pl, ef, flags0, flags1, flags2, scratch_rows):  # noqa: E501  # pragma: no cover
    """:func:`separable_rows` over all output rows, in ``chunks`` chunks of rows on the threads.

    ``flags0, flags1, flags2`` are the three ``flags`` one by one (a parallel loop takes no
    tuples). Through numba's pool rather than :mod:`.matmul`'s Python threads: with TBB,
    starting the loop takes 2-3 us where handing a block to a Python thread and collecting it
    took 55-80 us. Each chunk's scratch rows lie in its own block of ``out``.
    """
    rows = out.shape[0] * out.shape[1]
    for ch in prange(chunks):
        separable_rows(x, kernel, out, pointwise, z, ch * rows // chunks,
                       (ch + 1) * rows // chunks, pt, pl, ef, (flags0, flags1, flags2),
                       scratch_rows)


@njit(parallel=True)
def forward_rows_parallel(x, kernel, out, chunks, *geometry):  # pragma: no cover - JIT
    """:func:`forward_rows` over all output rows, in ``chunks`` chunks of rows on the threads."""
    rows = out.shape[0] * out.shape[1]
    for ch in prange(chunks):
        forward_rows(x, kernel, out, ch * rows // chunks, (ch + 1) * rows // chunks, *geometry)


@njit(inline=True)
def _grad_quads(src, row_at, n_rows, grow, sums, w_row_at, quads, channels, kw, width, pl):  # noqa: E501  # pragma: no cover
    """Add the kernel gradient of output pixels ``j < quads`` (in fours) to ``sums``.

    ``sums`` is a flat ``(kh, kw, C)`` array; kernel row ``t < n_rows`` reads input pixel ``u``
    at ``src[row_at[t] + u * C + c]`` (zeros outside ``0 <= u < width``, as in :func:`_quads`)
    and adds into ``sums[w_row_at[t] + b * C + c]`` for column tap ``b``; ``grow`` is the
    output-gradient row.
    """
    C = channels
    zero = lanes.zeros(sums)
    for j in range(0, quads, 4):
        u = j - pl  # the input pixel of v0
        in0, in1, in2 = 0 <= u < width, 0 <= u + 1 < width, 0 <= u + 2 < width
        inside = u >= 0 and u + kw + 2 < width  # every input pixel of the group
        for cb in range(0, C, lanes.LANES):
            q = j * C + cb
            g0 = lanes.load(grow, q)
            g1 = lanes.load(grow, q + C)
            g2 = lanes.load(grow, q + 2 * C)
            g3 = lanes.load(grow, q + 3 * C)
            for t in range(n_rows):
                p = row_at[t] + u * C + cb
                wp = w_row_at[t] + cb
                v0 = lanes.load_if(in0, src, p, zero)
                v1 = lanes.load_if(in1, src, p + C, zero)
                v2 = lanes.load_if(in2, src, p + 2 * C, zero)
                for b in range(kw):  # (`inside`: no test per tap away from the edges)
                    inb = inside or 0 <= u + b + 3 < width
                    v3 = lanes.load_if(inb, src, p + (b + 3) * C, zero)
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
    _, height, row_len = x.shape
    width = row_len // channels
    out_w = out_len // channels
    quads = out_w - out_w % 4
    flat_x, sums = x.reshape(-1), acc.reshape(-1)
    row_at, w_at = np.empty(kh, np.int64), np.empty(kh, np.int64)
    zero = lanes.zeros(sums)
    for r in range(r0, r1):
        n, i, rows = _kernel_rows(r, out_h, height, row_len, pt, kw, channels, row_at, w_at)
        _prefetch_row(flat_x, (n * height + i - pt + kh) * row_len, row_len)
        grow = g[n, i]
        _grad_quads(flat_x, row_at, rows, grow, sums, w_at, quads, channels, kw, width, pl)
        for j in range(quads, out_w):
            for cb in range(0, channels, lanes.LANES):
                g0 = lanes.load(grow, j * channels + cb)
                for t in range(rows):
                    for b in range(kw):
                        at = w_at[t] + b * channels + cb
                        u = j - pl + b
                        xp = row_at[t] + u * channels + cb
                        v = lanes.load_if(0 <= u < width, flat_x, xp, zero)
                        lanes.store(sums, at, lanes.fma(v, g0, lanes.load(sums, at)))


@njit(parallel=True)
def grad_kernel_rows_parallel(x, g, acc, *geometry):  # pragma: no cover - JIT
    """:func:`grad_kernel_rows` over all output rows, chunk ``ch`` adding to ``acc[ch]``."""
    chunks = acc.shape[0]
    rows = g.shape[0] * g.shape[1]
    for ch in prange(chunks):
        grad_kernel_rows(x, g, acc[ch], ch * rows // chunks, (ch + 1) * rows // chunks, *geometry)
