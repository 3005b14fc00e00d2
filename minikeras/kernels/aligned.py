"""Arrays whose first number sits on a 64-byte boundary: a cache line, and one AVX-512 vector.

numpy's ``np.empty`` gives 16-byte alignment, so an array's 64-byte vectors usually straddle two
cache lines, and every load or store of one touches both. The register kernels load and store
whole 16-float vectors, so where the library allocates an array they will stream through, it
asks for 64-byte alignment. A depthwise 3x3 forward, one thread (``depthwise_lanes``): with
input and output aligned W1 0.30 ms, with the input 16 bytes off 0.36 ms; W2 0.64 against
0.80 ms. The separable forward's outputs are made this way, so the next layer reads an aligned
input: the MobileNet-style model's ``predict`` 80-84 ms against 84-87 ms (one thread, three
rounds alternated). A single layer fed a caller's array gains nothing measurable.

The kernels' weights are moved too (:func:`contiguous`): a depthwise kernel's vectors are
loaded again for every group of four pixels, and a 3x3 forward with its kernel 16 bytes off
took 0.305 ms against 0.268 (W1), a 5x5 0.253 against 0.222 (W4), one thread, the same binary.
A 1x1 kernel's vectors are loaded for every block of the register product: built for AVX2,
W2's ``(16384 x 128) @ (128 x 128)`` ran at 48 GMAC/s with it 16 bytes off, at 54 on a
boundary. Weights are small, so the copy, where one is needed, costs a few microseconds, and
a layer's weights need none: a :class:`~minikeras.autograd.tensor.Variable` keeps its
numbers in an aligned array of its own (:func:`copy`), which updates write in place.

Only arrays that stay inside the library or come out of a forward pass are made this way: each
is a view into a slightly larger buffer, and a gradient handed back to the caller as a view is
copied by the tape (see :meth:`minikeras.autograd.tape.GradientTape.gradient`).
"""

from __future__ import annotations

import math

import numpy as np

#: Bytes of alignment: a cache line, and the width of an AVX-512 register.
ALIGN = 64


def empty(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """``np.empty(shape, dtype)``, C-contiguous, its first number at a multiple of 64 bytes.

    Args:
        shape: The array's shape.
        dtype: Its dtype.

    Returns:
        An uninitialised array (a view into a buffer up to 64 bytes longer).
    """
    dtype = np.dtype(dtype)
    count = math.prod(shape)  # (np.prod took 3 us of every call: half of it)
    spare = ALIGN // dtype.itemsize
    buffer = np.empty(count + spare, dtype)
    skip = (-buffer.ctypes.data % ALIGN) // dtype.itemsize
    return buffer[skip : skip + count].reshape(shape)


def is_aligned(a: np.ndarray) -> bool:
    """Whether ``a``'s first number sits on a 64-byte boundary (an empty array always does).

    Args:
        a: Any array.

    Returns:
        ``True`` for an array with no numbers or one starting at a multiple of 64 bytes.
    """
    return a.size == 0 or a.ctypes.data % ALIGN == 0


def zeros(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """``np.zeros(shape, dtype)`` on a 64-byte boundary, as :func:`empty`.

    Args:
        shape: The array's shape.
        dtype: Its dtype.

    Returns:
        An array of zeros.
    """
    a = empty(shape, dtype)
    a[...] = 0
    return a


def contiguous(a: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """``a`` as a C-contiguous array of ``dtype`` on a 64-byte boundary: itself if it is one.

    Args:
        a: Any array.
        dtype: The dtype wanted (``a``'s own when ``None``).

    Returns:
        ``a`` itself when it is already C-contiguous, of that dtype and aligned; otherwise an
        aligned copy (converted to ``dtype``).
    """
    a = np.asarray(a)
    if (dtype is None or a.dtype == dtype) and a.flags.c_contiguous and is_aligned(a):
        return a
    return copy(a, dtype)


def copy(a: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """A new C-contiguous copy of ``a`` (converted to ``dtype``) on a 64-byte boundary.

    Args:
        a: Any array.
        dtype: The dtype wanted (``a``'s own when ``None``).

    Returns:
        The copy.
    """
    a = np.asarray(a)
    out = empty(a.shape, a.dtype if dtype is None else dtype)
    out[...] = a
    return out
