"""Matrix products with a short inner dimension, their sums held in registers.

A 1x1 convolution is ``z = y @ w`` with one row per pixel: tens of thousands of rows, an inner
dimension ``K`` of the input channels (32, 64) and ``N`` output channels. OpenBLAS copies
("packs") both operands into its own layout before every call, which a long product with a
short ``K`` does not earn back: W1's ``(32768 x 32) @ (32 x 64)`` ran at 33-37 GMAC/s here, on a
machine whose sgemm peak is 51.6.

:func:`lanes_product_rows` needs no packing: each step holds a 4-row x 64-column block of
``z`` in 16 lanes registers (:mod:`.lanes`) while ``k`` runs, so one ``K`` loop loads four
vectors of ``w`` (from L1 or L2) and broadcasts four numbers of ``y`` for sixteen FMAs (4 x 32
blocks with eight registers when ``N`` is an odd multiple of 32), then applies the bias, an
inference batch norm and a ReLU to the registers before they are stored.
:func:`lanes_product_tn` makes ``y.T @ g``, a 1x1 convolution's kernel gradient, the same way.
One thread, alternated: W1 2.0 -> 1.36-1.44 ms (50 GMAC/s), W4's
``(8192 x 64) @ (64 x 64)`` 0.76 -> 0.62 ms, ``(16384 x 64) @ (64 x 128)`` 3.45 -> 2.8-3.0 ms.
While the bias took a pass of its own, ``K = N = 128`` lost (6.8 -> 7.5 ms); with it in the
registers it won (see :data:`.matmul.LANES_MAX_B_BYTES`). Those blocks need AVX-512's 32
registers: compiled for AVX2 they spilled and lost to OpenBLAS 1.4-2x. With AVX2 the blocks
are 6 rows x 16 columns instead (:func:`_block6`, 15 of its 16 registers): compiled for
Haswell and run on this machine (whose FMA rate is the same with AVX2 and AVX-512), W1's
product ran at 55 GMAC/s where OpenBLAS's Haswell kernel and a bias pass ran at 36, W2's at
56 against 49, W4's at 57 against 43.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels import aligned, lanes
from minikeras.kernels._jit import njit, prange

#: Whether the kernels compile for AVX-512 (:func:`.lanes.wide_registers`): blocks of 4 rows x
#: 64 columns in 16 registers; with AVX2, 6 x 16 (:func:`_block6`).
WIDE = lanes.wide_registers()


@njit(nogil=True, inline=True)
def _finish(v, b, s, h, flags):  # pragma: no cover - JIT
    """A register of sums ``v`` with the epilogue applied: ``+ b``, ``* s + h``, ReLU.

    ``flags = (has_bias, has_affine, relu)``. :func:`.affine.epilogue`'s order and arithmetic
    (the affine step one FMA), so the same numbers to the last bit, while the sums are still in
    registers: no second pass over the block. Only lanes values and flags come in, no arrays:
    numba counts references to an array passed on, and each count is a call, before which
    every live register is saved to memory (W1's product ran 1.2 -> 2.1 ms that way).
    """
    has_bias, has_affine, relu = flags
    if has_bias:
        v = lanes.add(v, b)
    if has_affine:
        v = lanes.fma(v, s, h)
    if relu:
        v = lanes.relu(v)
    return v


@njit(nogil=True, inline=True)
def _store_column(of, o, n_len, ef, e, c0, c1, c2, c3, flags):  # noqa: E501  # pragma: no cover
    """Store a column of four registers at ``o``, ``o + N``, ``o + 2N``, ``o + 3N``.

    Each is finished with the epilogue at ``ef[e]`` (:func:`_finish`) first. Inlined in numba's
    IR, so the block's other registers stay where they are (same speed as written out, W1's
    product and two others, alternated in one process).
    """
    bias = lanes.load(ef, e)
    scale = lanes.load(ef, n_len + e)
    shift = lanes.load(ef, 2 * n_len + e)
    lanes.store(of, o, _finish(c0, bias, scale, shift, flags))
    lanes.store(of, o + n_len, _finish(c1, bias, scale, shift, flags))
    lanes.store(of, o + 2 * n_len, _finish(c2, bias, scale, shift, flags))
    lanes.store(of, o + 3 * n_len, _finish(c3, bias, scale, shift, flags))


@njit(nogil=True, inline=True)
def _block4x4(af, ra, ta, bf, of, m, n0, k_len, n_len, sums, ones, ef, flags):  # noqa: E501  # pragma: no cover
    """Rows ``m..m+3`` x columns ``n0..n0+63`` of the product, in 16 registers.

    Row ``r``'s ``t``-th number is ``af[r * ra + t * ta]`` (``ra = K, ta = 1`` for ``a``,
    ``ra = 1, ta = K`` for a transposed ``a``). ``ef`` and ``flags``: see :func:`_product`.
    """
    with_sums = sums.shape[0] > 0  # also the column sums of b (a bias gradient)
    one = lanes.load(ones, 0)
    s0 = lanes.zeros(af)
    s1 = lanes.zeros(af)
    s2 = lanes.zeros(af)
    s3 = lanes.zeros(af)
    c00 = lanes.zeros(af)
    c01 = lanes.zeros(af)
    c02 = lanes.zeros(af)
    c03 = lanes.zeros(af)
    c10 = lanes.zeros(af)
    c11 = lanes.zeros(af)
    c12 = lanes.zeros(af)
    c13 = lanes.zeros(af)
    c20 = lanes.zeros(af)
    c21 = lanes.zeros(af)
    c22 = lanes.zeros(af)
    c23 = lanes.zeros(af)
    c30 = lanes.zeros(af)
    c31 = lanes.zeros(af)
    c32 = lanes.zeros(af)
    c33 = lanes.zeros(af)
    L = lanes.LANES
    for k in range(k_len):
        bp = k * n_len + n0
        b0 = lanes.load(bf, bp)
        b1 = lanes.load(bf, bp + L)
        b2 = lanes.load(bf, bp + 2 * L)
        b3 = lanes.load(bf, bp + 3 * L)
        if with_sums:
            s0, s1, s2, s3 = lanes.fma4(one, b0, b1, b2, b3, s0, s1, s2, s3)
        at = k * ta
        a0 = lanes.broadcast(af, m * ra + at)
        c00, c01, c02, c03 = lanes.fma4(a0, b0, b1, b2, b3, c00, c01, c02, c03)
        a1 = lanes.broadcast(af, (m + 1) * ra + at)
        c10, c11, c12, c13 = lanes.fma4(a1, b0, b1, b2, b3, c10, c11, c12, c13)
        a2 = lanes.broadcast(af, (m + 2) * ra + at)
        c20, c21, c22, c23 = lanes.fma4(a2, b0, b1, b2, b3, c20, c21, c22, c23)
        a3 = lanes.broadcast(af, (m + 3) * ra + at)
        c30, c31, c32, c33 = lanes.fma4(a3, b0, b1, b2, b3, c30, c31, c32, c33)
    o = m * n_len + n0
    # a column of four registers at a time: three more live registers, not twelve
    _store_column(of, o, n_len, ef, n0, c00, c10, c20, c30, flags)
    _store_column(of, o + L, n_len, ef, n0 + L, c01, c11, c21, c31, flags)
    _store_column(of, o + 2 * L, n_len, ef, n0 + 2 * L, c02, c12, c22, c32, flags)
    _store_column(of, o + 3 * L, n_len, ef, n0 + 3 * L, c03, c13, c23, c33, flags)
    if with_sums:
        lanes.store(sums, n0, s0)
        lanes.store(sums, n0 + L, s1)
        lanes.store(sums, n0 + 2 * L, s2)
        lanes.store(sums, n0 + 3 * L, s3)


@njit(nogil=True, inline=True)
def _block4x2(af, ra, ta, bf, of, m, n0, k_len, n_len, sums, ones, ef, flags):  # noqa: E501  # pragma: no cover
    """Rows ``m..m+3`` x columns ``n0..n0+31`` of the product, in 8 registers.

    Row ``r``'s ``t``-th number is ``af[r * ra + t * ta]`` (``ra = K, ta = 1`` for ``a``,
    ``ra = 1, ta = K`` for a transposed ``a``). ``ef`` and ``flags``: see :func:`_product`.
    """
    with_sums = sums.shape[0] > 0  # also the column sums of b (a bias gradient)
    one = lanes.load(ones, 0)
    s0 = lanes.zeros(af)
    s1 = lanes.zeros(af)
    c00 = lanes.zeros(af)
    c01 = lanes.zeros(af)
    c10 = lanes.zeros(af)
    c11 = lanes.zeros(af)
    c20 = lanes.zeros(af)
    c21 = lanes.zeros(af)
    c30 = lanes.zeros(af)
    c31 = lanes.zeros(af)
    L = lanes.LANES
    for k in range(k_len):
        bp = k * n_len + n0
        b0 = lanes.load(bf, bp)
        b1 = lanes.load(bf, bp + L)
        if with_sums:
            s0 = lanes.fma(b0, one, s0)
            s1 = lanes.fma(b1, one, s1)
        at = k * ta
        a0 = lanes.broadcast(af, m * ra + at)
        c00 = lanes.fma(a0, b0, c00)
        c01 = lanes.fma(a0, b1, c01)
        a1 = lanes.broadcast(af, (m + 1) * ra + at)
        c10 = lanes.fma(a1, b0, c10)
        c11 = lanes.fma(a1, b1, c11)
        a2 = lanes.broadcast(af, (m + 2) * ra + at)
        c20 = lanes.fma(a2, b0, c20)
        c21 = lanes.fma(a2, b1, c21)
        a3 = lanes.broadcast(af, (m + 3) * ra + at)
        c30 = lanes.fma(a3, b0, c30)
        c31 = lanes.fma(a3, b1, c31)
    o = m * n_len + n0
    # a column of four registers at a time: three more live registers, not twelve
    _store_column(of, o, n_len, ef, n0, c00, c10, c20, c30, flags)
    _store_column(of, o + L, n_len, ef, n0 + L, c01, c11, c21, c31, flags)
    if with_sums:
        lanes.store(sums, n0, s0)
        lanes.store(sums, n0 + L, s1)


@njit(nogil=True, inline=True)
def _block6(af, ra, ta, bf, of, m, n0, k_len, n_len, ef, flags):  # noqa: E501  # pragma: no cover
    """Rows ``m..m+5`` x columns ``n0..n0+15`` of the product, in 6 registers (AVX2's blocks).

    A lanes value is two of AVX2's 16 registers: six sums are 12, with ``b``'s two and the
    broadcast number 15 (the shape of OpenBLAS's own Haswell kernel). Each number of ``a`` is
    broadcast once for two FMAs, each vector of ``b`` loaded once for six. ``a``'s indexing,
    ``ef`` and ``flags``: see :func:`_product`. The same FMAs in the same order as the AVX-512
    blocks: the same numbers to the last bit.
    """
    c0 = lanes.zeros(af)
    c1 = c0
    c2 = c0
    c3 = c0
    c4 = c0
    c5 = c0
    for k in range(k_len):
        b = lanes.load(bf, k * n_len + n0)
        at = k * ta
        c0 = lanes.fma(b, lanes.broadcast(af, m * ra + at), c0)
        c1 = lanes.fma(b, lanes.broadcast(af, (m + 1) * ra + at), c1)
        c2 = lanes.fma(b, lanes.broadcast(af, (m + 2) * ra + at), c2)
        c3 = lanes.fma(b, lanes.broadcast(af, (m + 3) * ra + at), c3)
        c4 = lanes.fma(b, lanes.broadcast(af, (m + 4) * ra + at), c4)
        c5 = lanes.fma(b, lanes.broadcast(af, (m + 5) * ra + at), c5)
    o = m * n_len + n0
    _store_column(of, o, n_len, ef, n0, c0, c1, c2, c3, flags)
    bias = lanes.load(ef, n0)
    scale = lanes.load(ef, n_len + n0)
    shift = lanes.load(ef, 2 * n_len + n0)
    lanes.store(of, o + 4 * n_len, _finish(c4, bias, scale, shift, flags))
    lanes.store(of, o + 5 * n_len, _finish(c5, bias, scale, shift, flags))


@njit(nogil=True)
def _rows6(af, ra, ta, m_len, k_len, bf, of, n_len, ef, flags):  # pragma: no cover - JIT
    """Rows ``0 <= m < m_len`` (0 or at least 6) of :func:`_product` in :func:`_block6` blocks.

    The AVX2 build's loop; a function of its own so that tests run it on any machine. Where
    ``m_len`` is not a multiple of 6, the last block starts at ``m_len - 6`` and makes again
    some rows the one before made: the same numbers, stored again. A kernel gradient's rows
    are channels (32, 64, 128: two or four past a multiple of 6), and with those rows made one
    at a time (one sum, each FMA waiting for the last) W1's ``(32768 x 32).T @ (32768 x 64)``
    took 2.0 ms, with the block again 1.8-1.9 ms (compiled for Haswell, one thread).
    """
    for block in range(0, m_len, 6):
        m = min(block, m_len - 6)
        for n0 in range(0, n_len, lanes.LANES):
            _block6(af, ra, ta, bf, of, m, n0, k_len, n_len, ef, flags)


@njit(nogil=True)
def _product(af, ra, ta, m_len, k_len, bf, of, n_len, sums, ef, flags):  # pragma: no cover - JIT
    """``of = a @ bf`` with ``a``'s numbers at ``af[r * ra + t * ta]``; ``N`` a multiple of 32.

    Then the epilogue of :func:`_finish` on each register before it is stored: ``ef`` holds
    the bias, scale and shift one after the other (``3 * N`` numbers, whichever are unused
    zeros), ``flags`` says which apply, ``(has_bias, has_affine, relu)``.

    With AVX-512, blocks of 4 rows x 64 columns (then 4 x 32) in registers; with AVX2, of 6
    rows x 16 columns (:func:`_block6`). The rows past the last whole block go one row and 16
    columns at a time.
    """
    L = lanes.LANES
    ones = np.ones(L, af.dtype)
    if WIDE:
        n_wide = n_len - n_len % (4 * L)
        m_done = m_len - m_len % 4
        no_sums = sums[:0]
        for m in range(0, m_done, 4):
            with_sums = sums if m == 0 else no_sums  # the first blocks' pass over b sums it too
            for n0 in range(0, n_wide, 4 * L):
                _block4x4(af, ra, ta, bf, of, m, n0, k_len, n_len, with_sums, ones, ef, flags)
            if n_wide < n_len:
                _block4x2(af, ra, ta, bf, of, m, n_wide, k_len, n_len, with_sums, ones, ef,
                          flags)
    else:
        m_done = m_len if m_len >= 6 else 0
        _rows6(af, ra, ta, m_done, k_len, bf, of, n_len, ef, flags)
    if (m_done == 0 or not WIDE) and sums.shape[0] > 0:  # a pass of its own over b
        for n0 in range(0, n_len, L):
            c = lanes.zeros(af)
            for k in range(k_len):
                c = lanes.fma(lanes.load(bf, k * n_len + n0), lanes.load(ones, 0), c)
            lanes.store(sums, n0, c)
    for m in range(m_done, m_len):
        for n0 in range(0, n_len, L):
            c = lanes.zeros(af)
            for k in range(k_len):
                c = lanes.fma(
                    lanes.broadcast(af, m * ra + k * ta), lanes.load(bf, k * n_len + n0), c
                )
            b, s, h = (lanes.load(ef, n0), lanes.load(ef, n_len + n0),
                       lanes.load(ef, 2 * n_len + n0))
            lanes.store(of, m * n_len + n0, _finish(c, b, s, h, flags))


def lanes_product_rows(
    a: np.ndarray,
    b: np.ndarray,
    out: np.ndarray,
    bias: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    shift: np.ndarray | None = None,
    relu: bool = False,
    parts: int = 1,
) -> None:
    """``out = a @ b`` (``+ bias``) (``* scale + shift``) (ReLU) in registers.

    For the shapes :func:`.matmul.fits_lanes_product` accepts. The epilogue is
    :func:`.affine.epilogue`'s, to the last bit, applied to each register of sums before it is
    stored: on W1's ``(32768 x 32) @ (32 x 64) + bias`` that saves a pass over the block.

    Args:
        a: ``(M, K)``, C-contiguous.
        b: ``(K, N)``, C-contiguous, ``N`` a multiple of 32.
        out: ``(M, N)``, C-contiguous; overwritten.
        bias: Optional ``(N,)``.
        scale: Optional ``(N,)``, with ``shift``.
        shift: ``(N,)``, required with ``scale``.
        relu: Clamp at zero last.
        parts: Row blocks run side by side on numba's threads (1: here, on this thread).
    """
    ef, flags = epilogue_arrays(b.shape[1], out.dtype, bias, scale, shift, relu)
    if parts > 1:
        _rows_parallel(a, b, out, ef, *flags, parts)
    else:
        _rows_kernel(a, b, out, ef, flags)


def epilogue_arrays(
    n_len: int,
    dtype: np.dtype,
    bias: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    shift: np.ndarray | None = None,
    relu: bool = False,
) -> tuple[np.ndarray, tuple[bool, bool, bool]]:
    """The epilogue as the kernels take it: ``(ef, flags)``.

    Args:
        n_len: Columns of the product.
        dtype: Its dtype.
        bias: Optional ``(N,)``.
        scale: Optional ``(N,)``, with ``shift``.
        shift: ``(N,)``, required with ``scale``.
        relu: Clamp at zero last.

    Returns:
        ``ef``, the bias, scale and shift one after the other (``3 * N`` numbers, unused ones
        zero), and ``flags``, ``(has_bias, has_affine, relu)``.
    """
    ef = aligned.zeros((3 * n_len,), dtype)  # (each block loads its columns' numbers)
    for i, v in enumerate((bias, scale, shift)):
        if v is not None:
            ef[i * n_len : (i + 1) * n_len] = np.asarray(v).reshape(-1)
    return ef, (bias is not None, scale is not None, bool(relu))


@njit(nogil=True)
def _rows_kernel(a, b, out, ef, flags):  # pragma: no cover - JIT
    # nogil: matmul and the fused separable forward run it from their pools' Python threads
    m_len, k_len = a.shape
    rows_product(a.reshape(-1), m_len, k_len, b.reshape(-1), out.reshape(-1), b.shape[1], ef,
                 flags)


@njit(parallel=True)
def _rows_parallel(a, b, out, ef, flags0, flags1, flags2, parts):  # pragma: no cover - JIT
    # (a parallel loop takes no tuples: the flags come one by one)
    m_len = a.shape[0]
    for p in prange(parts):
        lo, hi = p * m_len // parts, (p + 1) * m_len // parts
        _rows_kernel(a[lo:hi], b, out[lo:hi], ef, (flags0, flags1, flags2))


@njit(inline=True)
def rows_product(af, m_len, k_len, bf, of, n_len, ef, flags):  # pragma: no cover - JIT
    """:func:`lanes_product_rows` on flat arrays, for other kernels to call.

    ``a`` ``(M, K)`` in ``af``, ``b`` ``(K, N)`` in ``bf``, the result in ``of``, the epilogue
    of :func:`epilogue_arrays`.
    """
    _product(af, k_len, 1, m_len, k_len, bf, of, n_len, of[:0], ef, flags)


#: :func:`lanes_product_tn` goes over the pixels in chunks of this many, so that each chunk's
#: rows of ``a`` and ``b`` stay in L2 while every 4 x 64 block of the result passes over them.
TN_CHUNK = 512


@njit(nogil=True)
def lanes_product_tn(a, b, out, sums):  # pragma: no cover - JIT
    """``out = a.T @ b`` (``a`` ``(M, K)``, ``b`` ``(M, N)``, both C-contiguous), as above.

    If ``sums`` has ``N`` numbers, they become ``b.sum(axis=0)``, made in the same pass over
    ``b`` (a 1x1 convolution's bias gradient beside its kernel gradient); give an empty
    array for none.

    The kernel gradient of a 1x1 convolution: ``K`` and ``N`` are channel counts, ``M`` the
    pixels. Each 4 x 64 block of ``out`` runs a loop over the pixels, so every block reads all
    of ``b``: over :data:`TN_CHUNK` pixels at a time, whose rows stay in L2, and the chunks'
    results are added up (W2's ``(16384 x 128).T @ (16384 x 128)``, one thread: in one pass
    over all the pixels 10.8 ms, BLAS and a column sum 7.7 ms, in chunks 7.1 ms).
    """
    m_len, k_len = a.shape
    n_len = b.shape[1]
    af, bf = a.reshape(-1), b.reshape(-1)
    epi = np.zeros(3 * n_len, out.dtype)
    no_epilogue = (False, False, False)
    part = np.empty(k_len * n_len, out.dtype)
    part_sums = np.empty(sums.shape[0], out.dtype)
    of = out.reshape(-1)
    if m_len == 0:  # the product of no pixels (m_len, not a constant 0: numba would compile
        # _product once more for the literal 0, 4 s)
        _product(af, 1, k_len, k_len, m_len, bf, of, n_len, sums, epi, no_epilogue)
    for lo in range(0, m_len, TN_CHUNK):
        hi = min(lo + TN_CHUNK, m_len)
        first = lo == 0
        _product(af[lo * k_len : hi * k_len], 1, k_len, k_len, hi - lo,
                 bf[lo * n_len : hi * n_len], of if first else part, n_len,
                 sums if first else part_sums, epi, no_epilogue)
        if not first:
            for i in range(part.shape[0]):
                of[i] += part[i]
            for i in range(part_sums.shape[0]):
                sums[i] += part_sums[i]


@njit(parallel=True)
def lanes_product_tn_parts(a, b, out, sums):  # pragma: no cover - JIT
    """:func:`lanes_product_tn` on ``out.shape[0]`` blocks of rows side by side on numba's threads.

    Block ``p`` (rows ``p * M // P`` to ``(p + 1) * M // P``) writes its ``a.T @ b`` to
    ``out[p]`` ``(K, N)`` and, if ``sums`` has columns, its column sums to ``sums[p]``; the caller
    adds the blocks up.
    """
    parts, m_len = out.shape[0], a.shape[0]
    for p in prange(parts):
        lo, hi = p * m_len // parts, (p + 1) * m_len // parts
        lanes_product_tn(a[lo:hi], b[lo:hi], out[p], sums[p])
