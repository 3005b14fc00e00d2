"""Shapes and values the op tests draw from: the reverse-mode checks and the forward-mode ones."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

shapes = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
nonscalar = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
pairs = mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=1, max_side=4)
seeds = st.integers(0, 2**32 - 1)


def values(seed: int, shape: tuple, kind: str = "any") -> np.ndarray:
    """Float64 test values of ``shape``; ``kind`` keeps them where the op is smooth."""
    rng = np.random.default_rng(seed)
    if kind == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if kind == "away":  # away from 0, the kink of relu/abs/sign
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2.0, shape)
    if kind == "distinct":  # no ties (max/min/maximum), spaced well beyond eps
        n = int(np.prod(shape, dtype=int))
        return (rng.permutation(n).reshape(shape) * 0.1 + rng.uniform(0, 0.01, shape)) - n * 0.05
    if kind == "prob":  # probabilities well inside the losses' clip range
        return rng.uniform(0.05, 0.95, shape)
    return rng.uniform(-2.0, 2.0, shape)
