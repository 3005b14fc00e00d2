"""Fused optimizer updates: one pass over a weight instead of about ten numpy calls.

For the small weights of teaching models the per-call overhead of numpy dominates an update,
so :mod:`minikeras.optimizers` runs these loops instead (the rules are written in each
optimizer's docstring). Every array is a flat, contiguous view, so one compiled signature
serves every weight shape; the slots (``v``, ``a``, ``m``...) are updated in place. Each kernel
has a numpy twin in :mod:`minikeras.kernels.reference`, which the tests hold it against.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels._jit import njit

__all__ = ["adam_update", "rms_update", "sgd_momentum_update"]


@njit()
def sgd_momentum_update(p, g, v, lr, momentum, nesterov):  # pragma: no cover - JIT
    """``v = momentum v - lr g``; ``p += v`` (Nesterov: ``p += momentum v - lr g``)."""
    for i in range(p.size):
        vi = momentum * v[i] - lr * g[i]
        v[i] = vi
        if nesterov:
            p[i] += momentum * vi - lr * g[i]
        else:
            p[i] += vi


@njit()
def rms_update(p, g, a, lr, rho, eps, adagrad):  # pragma: no cover - JIT
    """``a = rho a + (1 - rho) g²`` (Adagrad: ``a += g²``); ``p -= lr g / (sqrt(a) + eps)``."""
    for i in range(p.size):
        gi = g[i]
        if adagrad:
            ai = a[i] + gi * gi
        else:
            ai = rho * a[i] + (1.0 - rho) * (gi * gi)
        a[i] = ai
        p[i] -= lr * gi / (np.sqrt(ai) + eps)


@njit()
def adam_update(p, g, m, v, vhat, step, b1, b2, eps, amsgrad):  # pragma: no cover - JIT
    """``m``, ``v`` moving averages; ``p -= step m / (sqrt(v) + eps)`` (AMSGrad: max of ``v``)."""
    for i in range(p.size):
        gi = g[i]
        mi = b1 * m[i] + (1.0 - b1) * gi
        vi = b2 * v[i] + (1.0 - b2) * (gi * gi)
        m[i] = mi
        v[i] = vi
        if amsgrad:
            if vi > vhat[i]:
                vhat[i] = vi
            vi = vhat[i]
        p[i] -= step * mi / (np.sqrt(vi) + eps)
