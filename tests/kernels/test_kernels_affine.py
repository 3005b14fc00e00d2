"""The one-pass per-channel affine map (batch normalisation's kernel) against its numpy twin."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minikeras.kernels import affine as jit
from minikeras.kernels import matmul as mm
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


@pytest.mark.parametrize("split", [False, True], ids=["one-block", "row-blocks"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 5), (2, 3, 4, 6), (300, 40, 32)])
def test_channel_moments_match_twin(monkeypatch, shape, dtype, split):
    if split:  # every pass in row blocks over the pool's threads, however small
        monkeypatch.setattr(mm, "MIN_SPLIT_NUMBERS", 0)
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * 3 + 100).astype(dtype)  # a large mean: no cancellation
    mean, var = jit.channel_moments(x)
    ref_mean, ref_var = twin.channel_moments(x)
    assert mean.dtype == var.dtype == np.float64
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12)
    np.testing.assert_allclose(var, ref_var, rtol=1e-9)
    np.testing.assert_allclose(var, x.astype(np.float64).reshape(-1, shape[-1]).var(axis=0),
                               rtol=1e-9)


def test_passes_in_row_blocks_give_the_one_block_results(monkeypatch):
    # with every pass cut into row blocks, the maps are the same to the bit and the sums
    # (added block by block, in float64) the same to rounding
    rng = np.random.default_rng(3)
    u, v = rng.standard_normal((2, 999, 24)).astype(np.float32)
    a, b, c = rng.standard_normal((3, 24))
    whole = (jit.channel_affine(u, a, b), jit.channel_affine2(u, v, a, b, c),
             jit.channel_sums(u, v))
    monkeypatch.setattr(mm, "MIN_SPLIT_NUMBERS", 0)
    monkeypatch.setattr(mm, "_workers", lambda: 3)  # three blocks, whatever the machine
    monkeypatch.setattr(mm, "_pool", ThreadPoolExecutor(2))
    np.testing.assert_array_equal(jit.channel_affine(u, a, b), whole[0])
    np.testing.assert_array_equal(jit.channel_affine2(u, v, a, b, c), whole[1])
    for split, one in zip(jit.channel_sums(u, v), whole[2]):
        np.testing.assert_allclose(split, one, rtol=1e-12)
