"""Threading defaults for the JIT kernels, chosen before numba starts its first thread pool.

Why this exists: numba's parallel kernels and OpenBLAS (behind ``numpy.matmul``) each keep a thread
pool. With numba's default OpenMP layer both pools *spin* while idle; on a 2-core machine a spinning
pool steals the core the other one needs, and calls that should take microseconds round up to
scheduler ticks. A separable convolution alternates numba kernels with BLAS calls, so it hits this
every step.

What minikeras does, once, on the first kernel call (never at ``import minikeras``):

* If you have not set ``NUMBA_THREADING_LAYER`` yourself, the threading layer becomes
  ``MINIKERAS_THREADING_LAYER`` if set, else ``"tbb"`` when Intel's TBB library loads (the
  ``tbb`` wheel, a dependency on Linux x86-64), else ``"workqueue"`` (numba's own pool of plain
  threads). Both sleep when idle, so neither spins against OpenBLAS; TBB starts a parallel loop
  in 3 us where ``workqueue`` took 60-85 us (and OpenMP, which is not safe after ``fork``,
  10 us with passive waiting), and unlike ``workqueue`` it may be called from several threads
  at once.
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
import sys
from typing import Any

#: The threading layer when TBB does not load.
DEFAULT_THREADING_LAYER = "workqueue"

#: The soname numba's ``tbb`` layer links against (TBB 2021 and later).
_TBB_LIBRARY = "libtbb.so.12"

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
        layer = os.environ.get("MINIKERAS_THREADING_LAYER")
        if layer is None:
            layer = "tbb" if load_tbb() else DEFAULT_THREADING_LAYER
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


def load_tbb() -> bool:
    """Load Intel's TBB library where numba's ``tbb`` layer will find it, if it is installed.

    The ``tbb`` wheel puts ``libtbb.so.12`` in the environment's ``lib/`` directory, which the
    dynamic loader does not search; loading it first (globally) lets numba's layer link to it.
    A system TBB on the loader's path is taken as it is. Runs numba's own version check, so an
    older TBB than numba accepts counts as absent.

    Returns:
        True if numba's ``tbb`` layer can be used; False otherwise (not Linux, no TBB, or too
        old): nothing is changed then.
    """
    if not sys.platform.startswith("linux"):
        return False
    for candidate in (_TBB_LIBRARY, os.path.join(sys.prefix, "lib", _TBB_LIBRARY)):
        try:
            ctypes.CDLL(candidate, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        try:
            # here, not at the top: numba is imported only once configure() runs
            from numba.np.ufunc import parallel

            # (private, so looked up with a default: a numba without it is not refused)
            getattr(parallel, "_check_tbb_version_compatible", lambda: None)()
            from numba.np.ufunc import tbbpool  # noqa: F401  (numba's TBB layer itself)
        except ImportError:
            return False
        return True
    return False


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


def cheap_parallel_loops() -> bool:
    """Whether numba's parallel loops start cheaply enough to replace the Python thread pool.

    Handing a block of rows to a Python thread (:func:`.matmul.split_rows`) and collecting it
    took 55-80 us here; a ``prange`` loop over the same blocks 2-3 us on the ``tbb`` layer and
    about 10 us on OpenMP. On ``workqueue`` a loop took 60-85 us and ran the fused separable
    forward 1.1-1.8x slower than the Python pool (the calling thread waits instead of taking a
    block), so there the Python pool stays.

    Returns:
        True if the threading layer is ``tbb`` or ``omp`` (after :func:`configure`).
    """
    configure()
    return str(_numba.config.THREADING_LAYER).lower() in ("tbb", "omp")


def num_threads() -> int:
    """The number of threads the parallel kernels split their work into.

    Returns:
        ``numba.get_num_threads()`` after :func:`configure` has run.
    """
    configure()
    return _numba.get_num_threads()
