"""Reproducibility: one call seeds every random draw minikeras makes."""

from __future__ import annotations

from minikeras.backend import random as _backend_random

__all__ = ["set_random_seed"]


def set_random_seed(seed: int) -> None:
    """Make weight initialisation, shuffling in ``fit`` and dropout repeatable.

    Seeds the library's shared generator (``minikeras.backend.random``) and
    Python's and numpy's global generators.

    Args:
        seed: A non-negative integer.

    Raises:
        ValueError: If ``seed`` is not a non-negative integer.

    Example:
        >>> from minikeras.utils import set_random_seed
        >>> set_random_seed(42)
    """
    _backend_random.set_seed(seed)
