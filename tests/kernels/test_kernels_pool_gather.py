"""Max pooling's gather at the argmax (forward mode's tangent): JIT against its numpy twin.

Also the identity that makes it the scatter's adjoint: ``<scatter(where, g), t> = <g, gather(where,
t)>`` for every ``g`` and ``t``, and the serial and parallel drivers agreeing.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minikeras import kernels
from minikeras.kernels import _jit
from minikeras.kernels import reference as ref
from minikeras.kernels.padding import explicit_pads, output_hw


@st.composite
def problems(draw):
    n, h, w, c = (draw(st.integers(1, 3)), draw(st.integers(1, 7)), draw(st.integers(1, 7)),
                  draw(st.integers(1, 5)))
    size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", "same"]))
    pads = explicit_pads(padding, (h, w), size, strides, dilation)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return (n, h, w, c), size, (strides, dilation, pads), dtype, draw(st.integers(0, 2**32 - 1))


def _where(shape, size, geo, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    _, where = kernels.max_pool2d_forward_argmax(x, size, *geo)
    return rng, where


@settings(max_examples=60, deadline=None)
@given(p=problems())
def test_gather_matches_twin_and_is_the_scatters_adjoint(p):
    shape, size, geo, dtype, seed = p
    if min(output_hw(shape[1:3], size, *geo)) <= 0:
        return  # a window larger than the padded input: no output
    rng, where = _where(shape, size, geo, dtype, seed)
    t = rng.standard_normal(shape).astype(dtype)
    got = kernels.max_pool2d_gather_from_argmax(where, t)
    assert got.dtype == dtype and got.shape == where.shape
    np.testing.assert_array_equal(got, ref.max_pool2d_gather_from_argmax(where, t))
    g = rng.standard_normal(where.shape)
    scattered = kernels.max_pool2d_grad_from_argmax(where, g, shape)
    np.testing.assert_allclose(np.sum(scattered * t), np.sum(g * got.astype(np.float64)),
                               rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_a_window_with_no_real_pixel_gathers_zero():
    where = np.array([-1, 0, 3], dtype=np.int32).reshape(1, 1, 3, 1)
    values = np.arange(1.0, 5.0).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(kernels.max_pool2d_gather_from_argmax(where, values).ravel(),
                                  [0.0, 1.0, 4.0])


@pytest.mark.parametrize("n_img", [1, 3, 8])
def test_parallel_driver_matches_serial(monkeypatch, n_img):
    rng = np.random.default_rng(n_img)
    x = rng.standard_normal((n_img, 9, 8, 5))
    t = rng.standard_normal(x.shape)
    geo = ((2, 2), (1, 1), ((0, 1), (0, 0)))
    _, where = kernels.max_pool2d_forward_argmax(x, (3, 2), *geo)
    serial = kernels.max_pool2d_gather_from_argmax(where, t)
    monkeypatch.setattr(_jit, "SERIAL_BELOW", 0)  # every call through the parallel driver
    np.testing.assert_array_equal(kernels.max_pool2d_gather_from_argmax(where, t), serial)
    np.testing.assert_array_equal(serial, ref.max_pool2d_gather_from_argmax(where, t))
