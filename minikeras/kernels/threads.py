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

OpenBLAS's own thread count is left alone (set ``OPENBLAS_NUM_THREADS`` before importing numpy if
you want to change it); the measurements behind these choices are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import os

DEFAULT_THREADING_LAYER = "workqueue"

_configured = False


def configure() -> None:
    """Apply the threading defaults described in the module docstring; idempotent.

    Must run before numba launches its thread pool, which is why every JIT module calls it
    before it defines its kernels. User-set ``NUMBA_*`` and ``OMP_*`` variables always win.
    """
    global _configured
    if _configured:
        return
    _configured = True
    import numba  # deferred: importing numba costs ~0.3 s, and `import minikeras` must stay fast

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


def num_threads() -> int:
    """The number of threads the parallel kernels split their work into.

    Returns:
        ``numba.get_num_threads()`` after :func:`configure` has run.
    """
    configure()
    import numba

    return numba.get_num_threads()
