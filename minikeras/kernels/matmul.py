"""Matrix products for the 1x1 convolutions, split by rows over a pool of sleeping threads.

(Products whose inner dimension is only 1-4 wide go to :mod:`minikeras.kernels.narrow` instead.)

OpenBLAS's own threads busy-wait between calls and starve the numba kernels that run in between
(see :mod:`minikeras.kernels.threads`), so minikeras runs OpenBLAS single-threaded. To still use
every core for the big products of a convolution, this module cuts the long (pixel) axis into one
block per thread and lets each thread make a single-threaded BLAS call on its block. numpy releases
the GIL inside ``matmul``, so the blocks really run in parallel, and the pool's idle threads sleep
on a queue instead of spinning. Small products (below :data:`MIN_SPLIT_FLOPS`) run directly.
The same pool runs other memory-bound passes in row blocks (:func:`on_row_blocks`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from minikeras import kernels
from minikeras.kernels import aligned, threads

#: Products with fewer multiply-adds than this run in one call: splitting costs ~50 us.
MIN_SPLIT_FLOPS = 4_000_000

#: Products with an inner dimension this narrow or narrower skip BLAS (see :mod:`.narrow`).
NARROW_K = 4

#: Big float32 products whose ``N`` is a multiple of 32 (two 16-float registers) and whose
#: ``b`` (``K x N``) is at most this big skip BLAS too (see :mod:`.lanes_product`). With the
#: bias applied in registers the kernel beat OpenBLAS plus its bias pass on every shape tried,
#: ``b`` from 8 to 512 KiB (one thread: 0.81-0.93 of its time, e.g. ``(16384 x 128) @ (128 x
#: 128)`` 8.2 -> 7.4 ms, ``(4096 x 128) @ (128 x 256)`` 3.3 -> 2.7 ms); it was 32 KiB while
#: the bias took a pass of its own. With AVX2 the kernel takes smaller blocks (see
#: :func:`.lanes_product._block6`).
LANES_MAX_B_BYTES = 512 * 1024
#: ``a.T @ b`` (a 1x1 kernel gradient) runs in registers when its ``K x N`` result is at most
#: this big. It goes over the pixels in chunks that stay in L2 (see
#: :func:`.lanes_product.lanes_product_tn`) and beat OpenBLAS and its column sums on every shape
#: tried, results from 8 to 512 KiB (one thread: 0.73-0.97 of its time, e.g. W2's 7.6 -> 5.6
#: ms); in one pass over all the pixels it lost past 32 KiB.
LANES_MAX_TN_BYTES = 512 * 1024
#: The same with AVX2, whose 6 x 16 blocks read ``a``'s rows six numbers at a time: compiled for
#: Haswell, one thread, against OpenBLAS's Haswell kernel and a column sum, W1's ``32 x 64``
#: result 1.8-1.9 ms against 2.2-2.4, W4's ``64 x 64`` 0.68-0.76 against 0.85, but ``64 x 128``
#: 3.3 against 3.1 and W2's ``128 x 128`` 7.0-7.4 against 6.0-6.2.
LANES_MAX_TN_BYTES_AVX2 = 16 * 1024
LANES_COLUMNS = 32

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _workers() -> int:
    global _pool, _pool_size
    count = threads.num_threads()
    if count > 1 and (_pool is None or _pool_size != count - 1):
        from concurrent.futures import ThreadPoolExecutor  # deferred: 10 ms of import time

        if _pool is not None:
            _pool.shutdown(wait=False)
        # count - 1 helpers: the calling thread takes the first block itself.
        _pool = ThreadPoolExecutor(count - 1, thread_name_prefix="minikeras-matmul")
        _pool_size = count - 1
    return count


def _blocks(rows: int, parts: int) -> list[tuple[int, int]]:
    edges = [rows * p // parts for p in range(parts + 1)]
    return [(edges[p], edges[p + 1]) for p in range(parts) if edges[p + 1] > edges[p]]


#: Elementwise and per-channel passes over at least this many numbers run in row blocks, one
#: per thread (:func:`on_row_blocks`); below it a pass takes less than handing it over costs.
MIN_SPLIT_NUMBERS = MIN_SPLIT_FLOPS // 8


def split_rows(fn: Callable[[int, int], T], rows: int, parts: int) -> list[T]:
    """``fn(lo, hi)`` on ``parts`` blocks of ``rows``, the first on the calling thread.

    The other blocks go to the pool, whose threads run them while this one runs the first;
    ``fn`` must release the GIL for them to overlap (numpy's ``matmul``, ``nogil`` kernels).
    With one part (or no rows) ``fn(0, rows)`` runs here alone.

    Args:
        fn: Works on rows ``lo <= r < hi``; what it returns is collected.
        rows: How many rows there are.
        parts: How many blocks (normally :func:`_workers`).

    Returns:
        The results of ``fn``, in row order.
    """
    blocks = _blocks(rows, parts)
    if len(blocks) <= 1:
        return [fn(0, rows)]
    futures = [_pool.submit(fn, lo, hi) for lo, hi in blocks[1:]]
    first = fn(*blocks[0])
    return [first] + [f.result() for f in futures]


def on_row_blocks(fn: Callable[[int, int], T], rows: int, numbers: int) -> list[T]:
    """:func:`split_rows`, one block per thread from :data:`MIN_SPLIT_NUMBERS` numbers on.

    Smaller passes run in one call. For memory-bound passes (a batch norm's, a ReLU's) made
    by ``nogil`` kernels: with two threads each streams half of the rows.

    Args:
        fn: Works on rows ``lo <= r < hi``; what it returns is collected.
        rows: How many rows there are.
        numbers: How many numbers the pass touches (decides whether to split).

    Returns:
        The results of ``fn``, in row order.
    """
    return split_rows(fn, rows, _workers() if numbers >= MIN_SPLIT_NUMBERS else 1)


#: With a bias, products are made in row blocks of about this many bytes of output, each block's
#: bias added while it is still in cache. One thread, interleaved A/B: W1's 32768x32 @ 32x64 +
#: bias 5.8 -> 4.6 ms, W2's 16384x128 @ 128x128 12.7 -> 11.8 ms, the digits model's (2 MiB of
#: output) unchanged.
BIAS_BLOCK_BYTES = 256 * 1024


def _block_product(a, b, out, bias, relu=False, scale=None, shift=None):
    """One thread's rows by BLAS, the epilogue on each block while it is in cache."""
    if bias is None and not relu and scale is None:
        np.matmul(a, b, out=out)
        return
    step = max(1, BIAS_BLOCK_BYTES // (out.shape[1] * out.itemsize))
    # kernels.epilogue (loaded on first use: it brings numba) adds the bias, applies an affine
    # map and clamps in one pass; numpy's `block += bias` pays a fixed cost per row of only N
    # numbers (W1's bias: 0.65 ms of a 2.5 ms product) and np.maximum is 4-6x slower than the loop
    for lo in range(0, a.shape[0], step):
        block = out[lo : lo + step]
        np.matmul(a[lo : lo + step], b, out=block)
        if out.dtype.kind == "f":
            kernels.epilogue(block, bias, scale, shift, relu)
        else:
            _numpy_epilogue(block, bias, relu)


def _block_narrow(a, b, out, bias, relu=False, scale=None, shift=None):
    """One thread's rows by the narrow-K loop (its bias inside), then any affine map and ReLU."""
    kernels.narrow_product(a, b, out, bias, relu and scale is None)
    if scale is not None:
        kernels.epilogue(out, None, scale, shift, relu)


def _block_lanes(a, b, out, bias, relu=False, scale=None, shift=None):
    """One thread's rows by the register kernel, the epilogue applied in its registers."""
    kernels.lanes_product_rows(a, b, out, bias, scale, shift, relu)


def fits_lanes_product(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
    """Whether ``out = a @ b`` can run in :mod:`.lanes_product`'s register kernel.

    Args:
        a: ``(M, K)``.
        b: ``(K, N)`` (any layout: it is small, and copied if need be).
        out: ``(M, N)``.

    Returns:
        True for float32 with ``a`` and ``out`` C-contiguous, ``N`` a multiple of
        :data:`LANES_COLUMNS` and ``b`` of at most :data:`LANES_MAX_B_BYTES`. (With AVX-512,
        blocks of 4 rows x 16 columns measured slower than BLAS: ``(65536 x 32) @ (32 x 32)``
        1.7-1.9 -> 3.1 ms; 4 x 32 ones faster: 1.2 ms.)
    """
    return (
        a.dtype == b.dtype == out.dtype == np.float32
        and b.shape[1] % LANES_COLUMNS == 0
        and b.nbytes <= LANES_MAX_B_BYTES
        and a.flags.c_contiguous
        and out.flags.c_contiguous
    )


def _numpy_epilogue(block: np.ndarray, bias: np.ndarray | None, relu: bool = False) -> None:
    if bias is not None:
        block += bias
    if relu:
        np.maximum(block, 0, out=block)


def matmul(
    a: np.ndarray,
    b: np.ndarray,
    out: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    relu: bool = False,
    scale: np.ndarray | None = None,
    shift: np.ndarray | None = None,
) -> np.ndarray:
    """``a @ b (+ bias)`` (``* scale + shift``) (then ReLU) for 2-D arrays, rows split over threads.

    Args:
        a: ``(M, K)``.
        b: ``(K, N)``.
        out: Optional ``(M, N)`` destination (C-contiguous rows).
        bias: Optional ``(N,)`` added to every row, block by block.
        relu: Then ``max(., 0)``, block by block while each is in cache (inference).
        scale: Optional ``(N,)``: after the bias, ``* scale + shift`` per column (a batch
            normalisation at inference; float outputs only).
        shift: ``(N,)``, with ``scale``.

    Returns:
        ``out`` (or a new array) holding the result.
    """
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    # K of 1-4 (a 1x1 convolution after a grayscale or RGB input): a plain loop beats BLAS
    # several times over (minikeras.kernels.narrow, loaded on first use: it brings numba)
    narrow = a.shape[1] <= NARROW_K and out.flags.c_contiguous and out.dtype.kind == "f"
    big = a.shape[0] * a.shape[1] * b.shape[1] >= MIN_SPLIT_FLOPS
    product = _block_product
    if big and fits_lanes_product(a, b, out):
        # (only big products: a small model's first epoch does not compile the kernel). It
        # beats the narrow loop too: (65536 x 3) @ (3 x 32) with a batch norm and ReLU, one
        # thread, 0.95 -> 0.37 ms.
        product, b = _block_lanes, aligned.contiguous(b)  # (loaded for every block)
        if threads.cheap_parallel_loops():  # the blocks on numba's threads, not the pool's
            parts = min(_workers(), a.shape[0])
            kernels.lanes_product_rows(a, b, out, bias, scale, shift, relu, parts=parts)
            return out
    elif narrow:
        product = _block_narrow
    split_rows(lambda lo, hi: product(a[lo:hi], b, out[lo:hi], bias, relu, scale, shift),
               a.shape[0], _workers() if big else 1)
    return out


def _tn_blas(a: np.ndarray, b: np.ndarray, sums: bool) -> tuple[np.ndarray, np.ndarray | None]:
    return a.T @ b, (b.sum(axis=0) if sums else None)


def _tn_lanes(a: np.ndarray, b: np.ndarray, sums: bool) -> tuple[np.ndarray, np.ndarray | None]:
    out = np.empty((a.shape[1], b.shape[1]), dtype=a.dtype)
    column = np.empty(b.shape[1] if sums else 0, dtype=b.dtype)
    kernels.lanes_product_tn(a, b, out, column)
    return out, (column if sums else None)


def matmul_tn(
    a: np.ndarray, b: np.ndarray, with_column_sums: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``a.T @ b`` for 2-D arrays with many rows: the sum over row blocks of ``a_blk.T @ b_blk``.

    Args:
        a: ``(M, K)``.
        b: ``(M, N)``.
        with_column_sums: Also return ``b.sum(axis=0)`` (a bias gradient beside a 1x1 kernel
            gradient); the register kernel makes it in the same pass over ``b``.

    Returns:
        ``(K, N)``, a new array; with ``with_column_sums``, the pair of it and the ``(N,)`` sums.
    """
    big = a.shape[0] * a.shape[1] * b.shape[1] >= MIN_SPLIT_FLOPS
    product = _tn_blas
    blocks = None  # [(a_blk.T @ b_blk, its column sums), ...], once made
    if (
        big
        and a.dtype == b.dtype == np.float32
        and a.flags.c_contiguous
        and b.flags.c_contiguous
        and b.shape[1] % LANES_COLUMNS == 0
        and a.shape[1] * b.shape[1] * a.itemsize
        <= (LANES_MAX_TN_BYTES if kernels.wide_registers() else LANES_MAX_TN_BYTES_AVX2)
    ):
        # W1's (32768 x 32).T @ (32768 x 64), one thread: BLAS 2.4 ms, the registers 1.2 ms
        product = _tn_lanes
        parts = min(_workers(), a.shape[0])
        if parts > 1 and threads.cheap_parallel_loops():  # on numba's threads, as in matmul
            out = np.empty((parts, a.shape[1], b.shape[1]), dtype=a.dtype)
            column = np.empty((parts, b.shape[1] if with_column_sums else 0), dtype=b.dtype)
            kernels.lanes_product_tn_parts(a, b, out, column)
            blocks = list(zip(out, column))
    sums = with_column_sums
    if blocks is None:
        blocks = split_rows(lambda lo, hi: product(a[lo:hi], b[lo:hi], sums), a.shape[0],
                            _workers() if big else 1)
    (total, column), *more = blocks  # the blocks' results added in order
    for part, part_column in more:
        total += part
        if sums:
            column += part_column
    return (total, column) if sums else total


def column_sums(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=0)`` for a 2-D array, row blocks summed on the pool (a bias gradient).

    Args:
        a: ``(M, N)``.

    Returns:
        ``(N,)``, a new array.
    """
    total, *more = on_row_blocks(lambda lo, hi: a[lo:hi].sum(axis=0), a.shape[0], a.size)
    for part in more:
        total += part
    return total
