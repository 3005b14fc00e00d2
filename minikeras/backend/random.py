"""One random generator for the whole library, so one seed makes runs repeatable.

Initializers, dropout masks and shuffling all draw from :func:`get_rng`.
``minikeras.utils.set_random_seed(n)`` (or :func:`set_seed`) resets it.
"""

from __future__ import annotations

import random as _py_random

import numpy as np

_rng = np.random.default_rng()


def get_rng() -> np.random.Generator:
    """The library's shared numpy ``Generator``."""
    return _rng


def set_seed(seed: int) -> None:
    """Seed the library's generator (and Python's and numpy's legacy ones).

    Args:
        seed: A non-negative integer.

    Raises:
        ValueError: If ``seed`` is not a non-negative integer.
    """
    global _rng
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative int, got {seed!r}")
    _rng = np.random.default_rng(int(seed))
    _py_random.seed(int(seed))
    np.random.seed(int(seed) % (2**32))


def make_rng(seed: int | None) -> np.random.Generator:
    """A generator for an explicit ``seed``, or the shared one when ``seed`` is ``None``."""
    return _rng if seed is None else np.random.default_rng(seed)
