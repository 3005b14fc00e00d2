"""The lanes primitives: compiled, they do what their plain-Python twins do."""

from __future__ import annotations

import numpy as np
import pytest

from minikeras.kernels import lanes
from minikeras.kernels._jit import njit


@njit()
def _axpy_lanes(x, w, s, out, i):
    """out[i:i+LANES] = x[i:i+LANES] * w[0:LANES] + s[i:i+LANES], through the primitives."""
    lanes.store(out, i, lanes.fma(lanes.load(x, i), lanes.load(w, 0), lanes.load(s, i)))


@njit()
def _zero_lanes(out, i):
    lanes.store(out, i, lanes.zeros(out))


@njit()
def _add_relu_lanes(x, y, added, clamped):
    lanes.store(added, 0, lanes.add(lanes.load(x, 0), lanes.load(y, 0)))
    lanes.store(clamped, 0, lanes.relu(lanes.load(x, 0)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("start", [0, 3])  # unaligned starts too
def test_primitives_match_plain_python(dtype, start):
    rng = np.random.default_rng(start)
    n = lanes.LANES + 8
    x, s = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    w = rng.standard_normal(lanes.LANES).astype(dtype)
    out = np.full(n, 7.0, dtype)
    _axpy_lanes(x, w, s, out, start)
    expected = np.full(n, 7.0, dtype)
    lanes._py_store(
        expected, start, lanes._py_fma(lanes._py_load(x, start), w, lanes._py_load(s, start))
    )
    np.testing.assert_allclose(out, expected, rtol=1e-6 if dtype == np.float32 else 1e-14)
    # only LANES numbers were written
    assert (out[:start] == 7.0).all() and (out[start + lanes.LANES :] == 7.0).all()
    _zero_lanes(out, start)
    assert (out[start : start + lanes.LANES] == 0).all()
    assert out.dtype == dtype


def test_plain_python_twins_are_numpy_slices():
    a = np.arange(40, dtype=np.float32)
    v = lanes._py_load(a, 5)
    np.testing.assert_array_equal(v, a[5 : 5 + lanes.LANES])
    v[0] = -1  # a copy, like a register
    assert a[5] == 5
    lanes._py_store(a, 0, lanes._py_zeros(a))
    assert (a[: lanes.LANES] == 0).all() and a[lanes.LANES] == lanes.LANES


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_and_relu_match_numpy_bit_for_bit(dtype):
    # relu follows np.maximum(x, 0) where it matters: -0.0 becomes +0.0, NaN stays NaN
    x = np.array([1.5, -2.0, 0.0, -0.0, np.nan, np.inf, -np.inf, 3e-39, -3e-39, 7.0, -7.0,
                  0.25, -0.25, 1e30, -1e30, 2.0], dtype)
    y = np.linspace(-3, 3, lanes.LANES).astype(dtype)
    added, clamped = np.empty_like(x), np.empty_like(x)
    _add_relu_lanes(x, y, added, clamped)
    np.testing.assert_array_equal(added, x + y)
    expected = np.maximum(x, 0)
    np.testing.assert_array_equal(clamped, expected)  # NaNs compare equal here
    np.testing.assert_array_equal(np.signbit(clamped), np.signbit(expected))
    # and the plain-Python twins say the same
    np.testing.assert_array_equal(lanes._py_add(x, y), x + y)
    np.testing.assert_array_equal(np.signbit(lanes._py_relu(x)), np.signbit(expected))
    np.testing.assert_array_equal(lanes._py_relu(x), expected)


@njit()
def _load_if_lanes(flag, a, i, out):
    lanes.store(out, 0, lanes.load_if(flag, a, i, lanes.zeros(a)))


@njit()
def _fma4_lanes(w, x, s, out):
    L = lanes.LANES
    sums = lanes.fma4(lanes.load(w, 0), lanes.load(x, 0), lanes.load(x, L), lanes.load(x, 2 * L),
                      lanes.load(x, 3 * L), lanes.load(s, 0), lanes.load(s, L),
                      lanes.load(s, 2 * L), lanes.load(s, 3 * L))
    for q in range(4):
        lanes.store(out, q * L, sums[q])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_load_if_loads_or_gives_the_other_value(dtype):
    a = np.arange(3, 3 + lanes.LANES + 5, dtype=dtype)
    out = np.full(lanes.LANES, 7.0, dtype)
    _load_if_lanes(True, a, 5, out)
    np.testing.assert_array_equal(out, a[5 : 5 + lanes.LANES])
    _load_if_lanes(False, a, 5, out)
    np.testing.assert_array_equal(out, np.zeros(lanes.LANES, dtype))
    # the plain-Python twin: the same, and a copy
    np.testing.assert_array_equal(lanes._py_load_if(True, a, 5, out), a[5 : 5 + lanes.LANES])
    assert lanes._py_load_if(False, a, 5, out) is out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fma4_is_four_multiply_adds_with_one_factor(dtype):
    rng = np.random.default_rng(4)
    L = lanes.LANES
    w = rng.standard_normal(L).astype(dtype)
    x, s = rng.standard_normal(4 * L).astype(dtype), rng.standard_normal(4 * L).astype(dtype)
    out = np.empty(4 * L, dtype)
    _fma4_lanes(w, x, s, out)
    expected = np.concatenate(lanes._py_fma4(w, *x.reshape(4, L), *s.reshape(4, L)))
    # compiled, each is one fused instruction (one rounding, not two): apart by at most one
    # rounding of the product
    product_ulp = np.finfo(dtype).eps * np.abs(x * np.tile(w, 4))
    assert (np.abs(out - expected) <= product_ulp + np.finfo(dtype).eps * np.abs(expected)).all()
    np.testing.assert_allclose(expected, x * np.tile(w, 4) + s, rtol=1e-15)
