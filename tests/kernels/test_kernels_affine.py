"""The one-pass per-channel affine map (batch normalisation's kernel) against its numpy twin."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from minikeras.kernels import affine as jit
from minikeras.kernels import reference as twin


@settings(deadline=None, max_examples=25)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_channel_affine_matches_twin(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    scale, shift = rng.standard_normal((2, shape[-1]))
    got = jit.channel_affine(x, scale, shift)
    assert got.dtype == dtype and got.shape == x.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, twin.channel_affine(x, scale, shift), rtol=tol, atol=tol)


def test_channel_affine_reads_non_contiguous_input():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)[:, ::2]
    got = jit.channel_affine(x, np.full(4, 2.0), np.ones(4))
    np.testing.assert_array_equal(got, x * 2 + 1)


@settings(deadline=None, max_examples=25)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_channel_affine2_and_sums_match_twins(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal((2, *shape)).astype(dtype)
    a, b, c = rng.standard_normal((3, shape[-1]))
    got = jit.channel_affine2(u, v, a, b, c)
    assert got.dtype == dtype and got.shape == u.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, twin.channel_affine2(u, v, a, b, c), rtol=tol, atol=tol)
    for mine, theirs in zip(jit.channel_sums(u, v), twin.channel_sums(u, v)):
        assert mine.dtype == np.float64 and mine.shape == (shape[-1],)
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)
