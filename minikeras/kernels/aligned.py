"""Arrays whose first number sits on a 64-byte boundary: a cache line, and one AVX-512 vector.

numpy's ``np.empty`` gives 16-byte alignment, so an array's 64-byte vectors usually straddle two
cache lines, and every load or store of one touches both. The register kernels load and store
whole 16-float vectors, so where the library allocates an array they will stream through, it
asks for 64-byte alignment. A depthwise 3x3 forward, one thread (``depthwise_lanes``): with
input and output aligned W1 0.30 ms, with the input 16 bytes off 0.36 ms; W2 0.64 against
0.80 ms. The separable forward's outputs are made this way, so the next layer reads an aligned
input: the MobileNet-style model's ``predict`` 80-84 ms against 84-87 ms (one thread, three
rounds alternated). A single layer fed a caller's array gains nothing measurable.

Only arrays that stay inside the library or come out of a forward pass are made this way: each
is a view into a slightly larger buffer, and a gradient handed back to the caller as a view is
copied by the tape (see :meth:`minikeras.autograd.tape.GradientTape.gradient`).
"""

from __future__ import annotations

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
    count = int(np.prod(shape, dtype=np.int64))
    spare = ALIGN // dtype.itemsize
    buffer = np.empty(count + spare, dtype)
    skip = (-buffer.ctypes.data % ALIGN) // dtype.itemsize
    return buffer[skip : skip + count].reshape(shape)
