"""Threading defaults for the JIT kernels, chosen before numba starts its first thread pool.

Why this exists: numba's parallel kernels and OpenBLAS (behind ``numpy.matmul``) each keep a thread
pool. With numba's default OpenMP layer both pools *spin* while idle; on a 2-core machine a spinning
pool steals the core the other one needs, and calls that should take microseconds round up to
scheduler ticks. A separable convolution alternates numba kernels with BLAS calls, so it hits this
every step.

What minikeras does, once, on the first kernel call (never at ``import minikeras``):

* If you have not set ``NUMBA_THREADING_LAYER`` yourself, the threading layer becomes
  ``MINIKERAS_THREADING_LAYER`` if set, else :data:`DEFAULT_THREADING_LAYER` (``"workqueue"``:
  numba's own pool of plain threads that sleep when idle, so it never spins against OpenBLAS).
* If the layer ends up ``"omp"``, ``OMP_WAIT_POLICY`` defaults to ``"passive"`` (unless you set it)
  so idle OpenMP threads sleep instead of spinning.
* ``MINIKERAS_NUM_THREADS=n`` sets numba's thread count (``numba.set_num_threads``); otherwise numba
  uses ``NUMBA_NUM_THREADS`` (default: the number of cores).
* OpenBLAS (numpy's matmul) is limited to ``MINIKERAS_BLAS_THREADS`` threads, default **1**, through
  OpenBLAS's runtime ``set_num_threads`` (numpy is already loaded by then, so its environment
  variables would come too late). ``MINIKERAS_BLAS_THREADS=0`` leaves OpenBLAS alone, and so does
  setting ``OPENBLAS_NUM_THREADS`` or ``OMP_NUM_THREADS`` yourself.

Why one BLAS thread: OpenBLAS's idle workers busy-wait for a while after every call. A separable
convolution alternates matmuls with numba kernels many times per step, so those spinning workers
sit on the cores the numba kernels need. On this 2-core machine (shared with other jobs) the
forward+backward step of the benchmark workloads took up to 4x longer with two BLAS threads than
with one, and numba's own defaults (OpenMP layer, two BLAS threads) 4-10x longer than these. The
big 1x1-convolution products still use every core: :mod:`minikeras.kernels.matmul` splits them by
rows over a pool of threads that sleep when idle. Measurements: ``benchmarks/README.md``.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

DEFAULT_THREADING_LAYER = "workqueue"

_configured = False


_numba: Any = None  # the numba module, once configure() has imported it


def configure() -> None:
    """Apply the threading defaults described in the module docstring; idempotent.

    Must run before numba launches its thread pool, which is why every JIT module calls it
    before it defines its kernels. User-set ``NUMBA_*`` and ``OMP_*`` variables always win.
    """
    global _configured, _numba
    if _configured:
        return
    _configured = True
    import numba  # deferred: importing numba costs ~0.3 s, and `import minikeras` must stay fast

    _numba = numba

    if "NUMBA_THREADING_LAYER" not in os.environ:
        layer = os.environ.get("MINIKERAS_THREADING_LAYER", DEFAULT_THREADING_LAYER)
        numba.config.THREADING_LAYER = layer
    if numba.config.THREADING_LAYER in ("omp", "default", "safe", "threadsafe"):
        # libgomp reads this when it is loaded, which numba does at its first parallel call.
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    requested = os.environ.get("MINIKERAS_NUM_THREADS")
    if requested:
        try:
            count = int(requested)
        except ValueError:
            raise ValueError(
                f"MINIKERAS_NUM_THREADS must be a positive integer, got {requested!r}"
            ) from None
        if count < 1:
            raise ValueError(f"MINIKERAS_NUM_THREADS must be a positive integer, got {requested!r}")
        numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
    blas = os.environ.get("MINIKERAS_BLAS_THREADS")
    if blas is None and not (
        "OPENBLAS_NUM_THREADS" in os.environ or "OMP_NUM_THREADS" in os.environ
    ):
        blas = "1"
    if blas and blas != "0":
        if not blas.isdigit():
            raise ValueError(f"MINIKERAS_BLAS_THREADS must be a non-negative integer, got {blas!r}")
        set_blas_threads(int(blas))


# Names of OpenBLAS's runtime thread setter across builds (plain, 64-bit-int, numpy's scipy_ one).
_BLAS_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


def set_blas_threads(count: int) -> bool:
    """Set the thread count of the OpenBLAS that numpy loaded, at run time.

    Args:
        count: Number of threads for subsequent BLAS calls.

    Returns:
        True if an OpenBLAS library was found and told; False otherwise (another BLAS, or not
        Linux): nothing is changed then.
    """
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return False
    done = False
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter.argtypes = [ctypes.c_int]
                setter(count)
                done = True
                break
    return done


def num_threads() -> int:
    """The number of threads the parallel kernels split their work into.

    Returns:
        ``numba.get_num_threads()`` after :func:`configure` has run.
    """
    configure()
    return _numba.get_num_threads()
