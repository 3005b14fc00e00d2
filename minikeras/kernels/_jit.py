"""The one place JIT modules get numba from, after the threading defaults are in place.

Importing this module imports numba (about 0.3 s), so only the kernel modules import it, and
``minikeras.kernels`` loads those lazily. Nothing is compiled here: ``njit`` without signatures
compiles on the first call, and ``cache=True`` keeps the machine code on disk next to the module.
"""

from __future__ import annotations

from minikeras.kernels.threads import configure

configure()

import numba  # noqa: E402  (must come after configure())

prange = numba.prange


def njit(parallel: bool = False):
    """``numba.njit`` with the options every minikeras kernel uses.

    Args:
        parallel: Whether ``prange`` loops run on numba's thread pool.

    Returns:
        A decorator turning a plain Python function into a cached, lazily compiled kernel.
    """
    # error_model="numpy": integer division by zero is not checked, which keeps the
    # index arithmetic in the hot loops free of Python-style exception branches.
    # fastmath "contract" only lets LLVM fuse a*b+c into one FMA instruction (without it no FMA
    # is emitted at all); it does not allow reassociation, so sums keep their order.
    return numba.njit(cache=True, parallel=parallel, error_model="numpy", fastmath={"contract"})


def num_threads() -> int:
    """The number of threads ``prange`` loops use right now.

    Returns:
        ``numba.get_num_threads()``.
    """
    return numba.get_num_threads()
