"""The numpy twins against independent direct-loop definitions on tiny cases.

Forward passes are checked against the textbook formula written as nested Python loops.
Gradients of the linear ops are checked through adjointness, <f(x), g> == <x, f_x^T(g)>, which
holds for the true gradient and for nothing else; the max-pool gradient against a loop.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from minikeras.kernels import reference as ref
from minikeras.kernels.padding import explicit_pads, output_hw

CASES = [
    # (N, H, W, C), (kh, kw), strides, dilation, padding, dm
    ((2, 5, 4, 2), (3, 3), (1, 1), (1, 1), "same", 1),
    ((1, 6, 7, 3), (2, 3), (2, 2), (1, 1), "same", 2),
    ((2, 5, 6, 1), (3, 2), (1, 1), (2, 2), "valid", 3),
    ((1, 4, 4, 2), (4, 4), (1, 1), (1, 1), "valid", 1),  # the kernel barely fits
    ((1, 7, 5, 2), (3, 3), (3, 1), (1, 1), "valid", 1),
    ((1, 3, 5, 2), (2, 2), (1, 1), (1, 2), "same", 2),
]


def _setup(case, seed=0):
    shape, khw, strides, dilation, padding, dm = case
    pads = explicit_pads(padding, shape[1:3], khw, strides, dilation)
    out_hw = output_hw(shape[1:3], khw, strides, dilation, pads)
    return np.random.default_rng(seed), shape, khw, strides, dilation, pads, out_hw, dm


def _pixel(x, n, r, c, ch):
    """x[n, r, c, ch], or 0 outside the image (the zero padding)."""
    if 0 <= r < x.shape[1] and 0 <= c < x.shape[2]:
        return x[n, r, c, ch]
    return 0.0


def _taps(i, j, khw, strides, dilation, pads):
    for a, b in itertools.product(range(khw[0]), range(khw[1])):
        r = i * strides[0] + a * dilation[0] - pads[0][0]
        c = j * strides[1] + b * dilation[1] - pads[1][0]
        yield a, b, r, c


@pytest.mark.parametrize("case", CASES)
def test_depthwise_forward_is_the_formula(case):
    rng, shape, khw, strides, dilation, pads, (oh, ow), dm = _setup(case)
    x = rng.standard_normal(shape)
    k = rng.standard_normal((*khw, shape[3], dm))
    expected = np.zeros((shape[0], oh, ow, shape[3] * dm))
    for n, i, j, c, m in itertools.product(
        range(shape[0]), range(oh), range(ow), range(shape[3]), range(dm)
    ):
        expected[n, i, j, c * dm + m] = sum(
            _pixel(x, n, r, col, c) * k[a, b, c, m]
            for a, b, r, col in _taps(i, j, khw, strides, dilation, pads)
        )
    got = ref.depthwise_conv2d_forward(x, k, strides, dilation, pads)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_conv2d_forward_is_the_formula(case):
    rng, shape, khw, strides, dilation, pads, (oh, ow), dm = _setup(case)
    x = rng.standard_normal(shape)
    k = rng.standard_normal((*khw, shape[3], dm + 1))
    expected = np.zeros((shape[0], oh, ow, dm + 1))
    for n, i, j, o in itertools.product(range(shape[0]), range(oh), range(ow), range(dm + 1)):
        expected[n, i, j, o] = sum(
            _pixel(x, n, r, col, c) * k[a, b, c, o]
            for a, b, r, col in _taps(i, j, khw, strides, dilation, pads)
            for c in range(shape[3])
        )
    got = ref.conv2d_forward(x, k, strides, dilation, pads)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_pools_forward_are_the_formula(case):
    rng, shape, khw, strides, dilation, pads, (oh, ow), _ = _setup(case)
    x = rng.standard_normal(shape)
    want_max = np.zeros((shape[0], oh, ow, shape[3]))
    want_avg = np.zeros_like(want_max)
    for n, i, j, c in itertools.product(range(shape[0]), range(oh), range(ow), range(shape[3])):
        real = [
            x[n, r, col, c]
            for _, _, r, col in _taps(i, j, khw, strides, dilation, pads)
            if 0 <= r < shape[1] and 0 <= col < shape[2]
        ]
        want_max[n, i, j, c] = max(real) if real else 0.0
        want_avg[n, i, j, c] = sum(real) / len(real) if real else 0.0
    np.testing.assert_allclose(ref.max_pool2d_forward(x, khw, strides, dilation, pads), want_max)
    np.testing.assert_allclose(
        ref.avg_pool2d_forward(x, khw, strides, dilation, pads), want_avg, rtol=1e-12
    )


@pytest.mark.parametrize("case", CASES)
def test_linear_gradients_are_adjoints(case):
    rng, shape, khw, strides, dilation, pads, (oh, ow), dm = _setup(case)
    geo = (strides, dilation, pads)
    x = rng.standard_normal(shape)
    dk = rng.standard_normal((*khw, shape[3], dm))
    ck = rng.standard_normal((*khw, shape[3], 2))
    checks = [
        # (forward as a function of the differentiated argument, that argument, gradient fn)
        (
            lambda v: ref.depthwise_conv2d_forward(v, dk, *geo),
            x,
            lambda g: ref.depthwise_conv2d_grad_input(g, dk, shape, *geo),
        ),
        (
            lambda v: ref.depthwise_conv2d_forward(x, v, *geo),
            dk,
            lambda g: ref.depthwise_conv2d_grad_kernel(x, g, dk.shape, *geo),
        ),
        (
            lambda v: ref.conv2d_forward(v, ck, *geo),
            x,
            lambda g: ref.conv2d_grad_input(g, ck, shape, *geo),
        ),
        (
            lambda v: ref.conv2d_forward(x, v, *geo),
            ck,
            lambda g: ref.conv2d_grad_kernel(x, g, ck.shape, *geo),
        ),
        (
            lambda v: ref.avg_pool2d_forward(v, khw, *geo),
            x,
            lambda g: ref.avg_pool2d_grad_input(g, shape, khw, *geo),
        ),
    ]
    for forward, arg, adjoint in checks:
        out = forward(arg)
        g = rng.standard_normal(out.shape)
        direction = rng.standard_normal(arg.shape)
        # <f(d), g> == <d, f^T g> for a linear f.
        assert np.isclose(np.sum(forward(direction) * g), np.sum(direction * adjoint(g)))


@pytest.mark.parametrize("case", CASES)
def test_max_pool_gradient_is_the_loop(case):
    rng, shape, khw, strides, dilation, pads, (oh, ow), _ = _setup(case)
    x = rng.standard_normal(shape)
    g = rng.standard_normal((shape[0], oh, ow, shape[3]))
    expected = np.zeros(shape)
    for n, i, j, c in itertools.product(range(shape[0]), range(oh), range(ow), range(shape[3])):
        best, where = -np.inf, None
        for _, _, r, col in _taps(i, j, khw, strides, dilation, pads):
            if 0 <= r < shape[1] and 0 <= col < shape[2] and x[n, r, col, c] > best:
                best, where = x[n, r, col, c], (r, col)
        if where is not None:
            expected[n, where[0], where[1], c] += g[n, i, j, c]
    got = ref.max_pool2d_grad_input(x, g, khw, strides, dilation, pads)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_argmax_scatter_is_the_gradient(case, ties):
    # The saved-argmax route (argmax in the forward, scatter in the backward) is the same
    # gradient as the definition, ties included (few distinct values force many of them).
    rng, shape, khw, strides, dilation, pads, (oh, ow), _ = _setup(case)
    x = rng.integers(0, 2, shape).astype(float) if ties else rng.standard_normal(shape)
    g = rng.standard_normal((shape[0], oh, ow, shape[3]))
    where = ref.max_pool2d_argmax(x, khw, strides, dilation, pads)
    assert where.dtype == np.int32 and where.shape == g.shape
    np.testing.assert_allclose(  # equal up to the order of additions on shared pixels
        ref.max_pool2d_grad_from_argmax(where, g, shape),
        ref.max_pool2d_grad_input(x, g, khw, strides, dilation, pads),
        rtol=1e-12,
        atol=1e-12,
    )
