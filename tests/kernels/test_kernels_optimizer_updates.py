"""The fused optimizer updates against their numpy twins, and the twins against the rules."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from minikeras.kernels import optimizer_updates as jit
from minikeras.kernels import reference as twin

SETTINGS = settings(max_examples=25, deadline=None)


def _close(x, y, dtype):
    # the kernel may fuse a*b+c into one FMA (kernels/_jit.py), so results differ from
    # numpy's by rounding at the scale of the intermediate terms (values here are ~1)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


def _arrays(seed: int, n: int, dtype, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for _ in range(count)]


def _both(kernel, reference, arrays, *args):
    """Run kernel and twin on copies of the same arrays; return both sets of results."""
    a = [x.copy() for x in arrays]
    b = [x.copy() for x in arrays]
    kernel(*a, *args)
    reference(*b, *args)
    return a, b


dtypes = st.sampled_from([np.float32, np.float64])


@SETTINGS
@given(st.integers(0, 2**16), st.integers(1, 300), dtypes, st.floats(0.0, 0.99),
       st.booleans())
def test_sgd_momentum_matches_twin(seed, n, dtype, momentum, nesterov):
    p, g, v = _arrays(seed, n, dtype, 3)
    a, b = _both(jit.sgd_momentum_update, twin.sgd_momentum_update, [p, g, v], 0.1, momentum,
                 nesterov)
    for x, y in zip(a, b):
        _close(x, y, dtype)


@SETTINGS
@given(st.integers(0, 2**16), st.integers(1, 300), dtypes, st.floats(0.0, 0.99),
       st.booleans())
def test_rms_and_adagrad_match_twin(seed, n, dtype, rho, adagrad):
    p, g, acc = _arrays(seed, n, dtype, 3)
    acc = np.abs(acc)  # accumulated squares are never negative
    a, b = _both(jit.rms_update, twin.rms_update, [p, g, acc], 0.01, rho, 1e-7, adagrad)
    for x, y in zip(a, b):
        _close(x, y, dtype)


@SETTINGS
@given(st.integers(0, 2**16), st.integers(1, 300), dtypes, st.booleans())
def test_adam_matches_twin(seed, n, dtype, amsgrad):
    p, g, m, v, vhat = _arrays(seed, n, dtype, 5)
    v, vhat = np.abs(v), np.abs(vhat)
    a, b = _both(jit.adam_update, twin.adam_update, [p, g, m, v, vhat], 0.001, 0.9, 0.999,
                 1e-7, amsgrad)
    for x, y in zip(a, b):
        _close(x, y, dtype)


def test_twins_follow_the_written_rules():
    p, g = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    v = np.array([0.1, 0.2])
    twin.sgd_momentum_update(p, g, v, 0.1, 0.9, False)
    np.testing.assert_allclose(v, [0.9 * 0.1 - 0.05, 0.9 * 0.2 - 0.4])
    np.testing.assert_allclose(p, [1.0 + v[0], -2.0 + v[1]])

    p, acc = np.array([1.0, -2.0]), np.array([0.0, 1.0])
    twin.rms_update(p, g, acc, 0.1, 0.9, 1e-7, False)
    np.testing.assert_allclose(acc, [0.1 * 0.25, 0.9 + 0.1 * 16])
    np.testing.assert_allclose(p, [1.0 - 0.1 * 0.5 / (np.sqrt(0.025) + 1e-7),
                                   -2.0 - 0.1 * 4 / (np.sqrt(2.5) + 1e-7)])

    p, m, v, vhat = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2), np.array([1.0, 0.0])
    twin.adam_update(p, g, m, v, vhat, 0.01, 0.9, 0.999, 1e-7, True)
    np.testing.assert_allclose(m, 0.1 * g)
    np.testing.assert_allclose(v, 0.001 * g * g)
    np.testing.assert_allclose(vhat, [1.0, 0.016])
    np.testing.assert_allclose(p, [1.0 - 0.01 * 0.05 / (1.0 + 1e-7),
                                   -2.0 - 0.01 * 0.4 / (np.sqrt(0.016) + 1e-7)])
