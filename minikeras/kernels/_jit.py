"""The one place JIT modules get numba from, after the threading defaults are in place.

Importing this module imports numba (about 0.3 s), so only the kernel modules import it, and
``minikeras.kernels`` loads those lazily. Nothing is compiled here: ``njit`` without signatures
compiles on the first call, and ``cache=True`` keeps the machine code on disk next to the module.
"""

from __future__ import annotations

import importlib.util
import sys

from minikeras.kernels.threads import configure

configure()

import numba  # noqa: E402  (must come after configure())
import numba.core.event  # noqa: E402

from minikeras.kernels import compile_notice  # noqa: E402

# numba's array-math registry (loaded by the first kernel call, even one from the cache) imports
# scipy.linalg.cython_blas when scipy is installed, only to set a flag, ``_HAVE_BLAS``, that picks
# BLAS for np.convolve/np.correlate inside jitted code (its np.linalg imports scipy itself when
# first used). That import was 0.2-0.3 s of a warm first epoch here; no minikeras kernel needs it.
# So the module is loaded with that one import blocked (a None entry in sys.modules makes it
# raise ImportError, without importing scipy), then the flag is set to what the probe would have
# found. Skipped if scipy's BLAS is already loaded (then it costs nothing).
_BLAS_PROBE = "scipy.linalg.cython_blas"
if _BLAS_PROBE not in sys.modules and "numba.np.arraymath" not in sys.modules:
    sys.modules[_BLAS_PROBE] = None  # type: ignore[assignment]
    try:
        import numba.np.arraymath as _arraymath  # noqa: E402
    finally:
        del sys.modules[_BLAS_PROBE]
    _arraymath._HAVE_BLAS = importlib.util.find_spec("scipy") is not None

# A fresh environment compiles each kernel on its first call: say so on stderr (silent when the
# kernels come from the cache).
compile_notice.install(numba.core.event)

prange = numba.prange


def njit(parallel: bool = False, nogil: bool = False, inline: bool = False):
    """``numba.njit`` with the options every minikeras kernel uses.

    Args:
        parallel: Whether ``prange`` loops run on numba's thread pool.
        nogil: Release the GIL while the kernel runs, so Python threads can run it side by side.
        inline: Inline the function into its callers in numba's own IR. For small helpers
            called while values sit in vector registers: a real call makes the caller save
            every live vector register first (the calling convention keeps none), and LLVM
            does not always inline across numba's functions itself.

    Returns:
        A decorator turning a plain Python function into a cached, lazily compiled kernel.
    """
    # error_model="numpy": integer division by zero is not checked, which keeps the
    # index arithmetic in the hot loops free of Python-style exception branches.
    # fastmath "contract" only lets LLVM fuse a*b+c into one FMA instruction (without it no FMA
    # is emitted at all); it does not allow reassociation, so sums keep their order.
    return numba.njit(
        cache=True,
        parallel=parallel,
        nogil=nogil,
        error_model="numpy",
        fastmath={"contract"},
        inline="always" if inline else "never",
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
