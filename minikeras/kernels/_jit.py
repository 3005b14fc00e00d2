"""The one place JIT modules get numba from, after the threading defaults are in place.

Importing this module imports numba (about 0.3 s), so only the kernel modules import it, and
``minikeras.kernels`` loads those lazily. Nothing is compiled here: ``njit`` without signatures
compiles on the first call, and ``cache=True`` keeps the machine code on disk next to the module.
"""

from __future__ import annotations

from minikeras.kernels.threads import configure

configure()

import numba  # noqa: E402  (must come after configure())
import numba.core.event  # noqa: E402

from minikeras.kernels import compile_notice  # noqa: E402

# A fresh environment compiles each kernel on its first call: say so on stderr (silent when the
# kernels come from the cache).
compile_notice.install(numba.core.event)

prange = numba.prange


def njit(parallel: bool = False, nogil: bool = False):
    """``numba.njit`` with the options every minikeras kernel uses.

    Args:
        parallel: Whether ``prange`` loops run on numba's thread pool.
        nogil: Release the GIL while the kernel runs, so Python threads can run it side by side.

    Returns:
        A decorator turning a plain Python function into a cached, lazily compiled kernel.
    """
    # error_model="numpy": integer division by zero is not checked, which keeps the
    # index arithmetic in the hot loops free of Python-style exception branches.
    # fastmath "contract" only lets LLVM fuse a*b+c into one FMA instruction (without it no FMA
    # is emitted at all); it does not allow reassociation, so sums keep their order.
    return numba.njit(
        cache=True, parallel=parallel, nogil=nogil, error_model="numpy", fastmath={"contract"}
    )


#: Problems touching fewer array elements than this run on the calling thread. Starting a
#: parallel loop costs about 60 us per call here (numba's ``workqueue`` pool; measured even with
#: one thread), more than such a problem takes in total: a digits training step makes about ten
#: kernel calls on arrays of 10^4-10^5 numbers.
SERIAL_BELOW = 1 << 18


def split(work: int, parts: int) -> int:
    """How many chunks to cut a problem into: 1 (run serially) if it is small, else one per thread.

    Args:
        work: Number of array elements the kernel reads or writes, roughly.
        parts: The most chunks the problem can be cut into (rows, images).

    Returns:
        A chunk count between 1 and ``parts``.
    """
    if work < SERIAL_BELOW:
        return 1
    return max(1, min(num_threads(), parts))


def num_threads() -> int:
    """The number of threads ``prange`` loops use right now.

    Returns:
        ``numba.get_num_threads()``.
    """
    return numba.get_num_threads()
