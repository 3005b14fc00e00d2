"""Keep freed array memory in the process instead of handing it back to the OS (glibc only).

Why: a training step allocates every activation and gradient afresh and frees
them all at the end of the step. glibc's default policy returns freed memory to
the kernel (``brk`` trimming, and ``munmap`` for blocks over its mmap threshold),
so the next step page-faults every page back in: we measured about 480 minor
page faults per step for a tape of 400 ops on (32, 64) float32 arrays, and
11,700 on (256, 1024) arrays, costing 30-70% of the step. Raising the two
thresholds makes glibc reuse the freed blocks instead: zero faults per step,
(256, 1024) ops 1.7x faster.

What: ``M_MMAP_THRESHOLD`` = 32 MiB (glibc's own dynamic maximum: blocks below
it come from the heap) and ``M_TRIM_THRESHOLD`` = 128 MiB (up to that much free
memory may stay with the process). Set once, at import of ``minikeras``.

Opting out: set ``MINIKERAS_MALLOC=default`` in the environment, or set glibc's
own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` (then we leave them).
"""

from __future__ import annotations

import ctypes
import os
import sys

MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 128 << 20
_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3

#: Whether the thresholds were set by this module (for tests and curious readers).
applied = False


def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds, unless the user opted out.

    Returns:
        ``True`` when the thresholds were set.
    """
    global applied
    if applied:
        return True
    if (
        not sys.platform.startswith("linux")
        or os.environ.get("MINIKERAS_MALLOC", "").lower() == "default"
        or "MALLOC_MMAP_THRESHOLD_" in os.environ
        or "MALLOC_TRIM_THRESHOLD_" in os.environ
    ):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return applied
