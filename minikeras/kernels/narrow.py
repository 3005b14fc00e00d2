"""Matrix products with a narrow inner dimension, for a 1x1 convolution of few channels.

BLAS is tuned for long inner dimensions. For ``(M, K) @ (K, N)`` with ``K`` of 1-4 (the first
1x1 convolution after a grayscale or RGB input) its packing and blocking cost more than the
arithmetic: on this machine ``(16384, 1) @ (1, 16)`` plus a bias took ~620 us through numpy and
~130 us as the plain loop below, which writes each output row once, bias included. From
``K = 16`` on BLAS wins again (2x), so :func:`minikeras.kernels.matmul.matmul` sends only
``K <= matmul.NARROW_K`` here. Lives apart from :mod:`.matmul` because it needs numba, which
``import minikeras`` must not load.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels._jit import njit


# nogil: matmul runs it on row blocks from its pool's Python threads
@njit(nogil=True)
def _narrow_rows(a, b, bias, out, relu):  # pragma: no cover - JIT
    m, k = a.shape
    n = b.shape[1]
    for r in range(m):
        for q in range(n):
            out[r, q] = bias[q]
        for p in range(k):
            v = a[r, p]
            for q in range(n):  # a stream of N numbers: vectorised
                out[r, q] += v * b[p, q]
        if relu:  # while the row is in cache (np.maximum's rule: a NaN stays NaN)
            for q in range(n):
                if out[r, q] < 0:
                    out[r, q] = 0


def narrow_product(
    a: np.ndarray,
    b: np.ndarray,
    out: np.ndarray,
    bias: np.ndarray | None = None,
    relu: bool = False,
) -> np.ndarray:
    """``out[...] = a @ b (+ bias)`` (then ``max(., 0)``) for a small inner dimension ``K``.

    Args:
        a: ``(M, K)``.
        b: ``(K, N)``.
        out: ``(M, N)`` destination, written in full.
        bias: Optional ``(N,)``.
        relu: Clamp each row at zero as soon as it is made.

    Returns:
        ``out``.
    """
    if bias is None:
        bias = np.zeros(b.shape[1], dtype=out.dtype)
    _narrow_rows(
        np.ascontiguousarray(a, dtype=out.dtype),
        np.ascontiguousarray(b, dtype=out.dtype),
        np.ascontiguousarray(bias, dtype=out.dtype),
        out,
        bool(relu),
    )
    return out
