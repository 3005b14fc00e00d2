"""Row-split matrix products: the same numbers as numpy, whatever the split."""

from __future__ import annotations

import numpy as np
import pytest

from minikeras.kernels import matmul as mm


@pytest.fixture(params=[1, 10**12], ids=["split", "direct"])
def min_flops(request, monkeypatch):
    monkeypatch.setattr(mm, "MIN_SPLIT_FLOPS", request.param)


@pytest.mark.parametrize("rows", [1, 2, 3, 101])
def test_matmul_matches_numpy(min_flops, rows):
    rng = np.random.default_rng(rows)
    a, b = rng.standard_normal((rows, 7)), rng.standard_normal((7, 5))
    np.testing.assert_allclose(mm.matmul(a, b), a @ b, rtol=1e-12)
    out = np.full((rows, 5), np.nan)
    assert mm.matmul(a, b.T.copy().T, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)


@pytest.mark.parametrize("rows", [1, 2, 3, 101])
def test_matmul_tn_matches_numpy(min_flops, rows):
    rng = np.random.default_rng(rows)
    a, b = rng.standard_normal((rows, 4)), rng.standard_normal((rows, 6))
    np.testing.assert_allclose(mm.matmul_tn(a, b), a.T @ b, rtol=1e-12, atol=1e-12)


def test_blocks_cover_every_row_once():
    assert mm._blocks(5, 2) == [(0, 2), (2, 5)]
    assert mm._blocks(1, 3) == [(0, 1)]


def test_matmul_adds_bias_to_every_row(min_flops):
    rng = np.random.default_rng(7)
    a, b, bias = rng.standard_normal((9, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    np.testing.assert_allclose(mm.matmul(a, b, bias=bias), a @ b + bias, rtol=1e-12)


@pytest.mark.parametrize("rows", [1, 2, 101])
def test_column_sums_match_numpy(min_flops, rows):
    a = np.random.default_rng(rows).standard_normal((rows, 5))
    np.testing.assert_allclose(mm.column_sums(a), a.sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 4, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_narrow_products_match_numpy(k, dtype):
    # K <= NARROW_K goes through the plain-loop kernel of kernels.narrow, wider K through BLAS.
    rng = np.random.default_rng(k)
    a = rng.standard_normal((37, k)).astype(dtype)
    b = rng.standard_normal((k, 6)).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12}
    np.testing.assert_allclose(mm.matmul(a, b), a @ b, **tol)
    np.testing.assert_allclose(mm.matmul(a, b, bias=bias), a @ b + bias, **tol)
    np.testing.assert_allclose(mm.matmul(a, b.T.copy().T), a @ b, **tol)  # strided b
    assert mm.matmul(a, b).dtype == dtype
    # the ReLU epilogue (inference), with and without a bias
    np.testing.assert_allclose(mm.matmul(a, b, relu=True), np.maximum(a @ b, 0), **tol)
    np.testing.assert_allclose(mm.matmul(a, b, bias=bias, relu=True),
                               np.maximum(a @ b + bias, 0), **tol)


def test_bias_added_block_by_block(min_flops, monkeypatch):
    # Blocks of 3 rows (the last one short): every row gets its bias exactly once.
    monkeypatch.setattr(mm, "BIAS_BLOCK_BYTES", 3 * 6 * 8)
    rng = np.random.default_rng(3)
    a, b, bias = rng.standard_normal((101, 7)), rng.standard_normal((7, 6)), rng.standard_normal(6)
    np.testing.assert_allclose(mm.matmul(a, b, bias=bias), a @ b + bias, rtol=1e-12)
    np.testing.assert_allclose(mm.matmul(a, b, bias=bias, relu=True),
                               np.maximum(a @ b + bias, 0), rtol=1e-12)
    np.testing.assert_allclose(mm.matmul(a, b, relu=True), np.maximum(a @ b, 0), rtol=1e-12)


@pytest.mark.parametrize(
    "shape, kernel, strides, dm, bias",
    [
        ((3, 7, 8, 5), (3, 3), (1, 1), 1, True),  # rows of 40 numbers: not folded
        ((2, 9, 8, 5), (3, 2), (2, 2), 2, False),
        ((1, 5, 5, 8), (5, 5), (1, 1), 1, True),
    ],
)
@pytest.mark.parametrize("step_bytes", [1, 1 << 20], ids=["row-steps", "one-step"])
@pytest.mark.parametrize("relu", [False, True], ids=["", "relu"])
@pytest.mark.parametrize("affine", [False, True], ids=["", "affine"])
def test_fused_separable_forward_matches_reference(
    min_flops, monkeypatch, shape, kernel, strides, dm, bias, step_bytes, relu, affine
):
    # The fused path (depthwise rows then their product, per thread block and per step) must
    # give the depthwise output and the product of the two-phase reference, for any split.
    from minikeras.kernels import depthwise, reference
    from minikeras.kernels.padding import explicit_pads

    monkeypatch.setattr(depthwise, "FUSED_STEP_BYTES", step_bytes)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    k = rng.standard_normal((*kernel, shape[3], dm))
    p = rng.standard_normal((shape[3] * dm, 4))
    b = rng.standard_normal(4) if bias else None
    pads = explicit_pads("same", shape[1:3], kernel, strides)
    scale, shift = (rng.uniform(0.5, 2, 4), rng.standard_normal(4)) if affine else (None, None)
    y, z = depthwise.separable_forward(x, k, p, b, strides, (1, 1), pads, relu=relu,
                                       scale=scale, shift=shift)
    y_ref = reference.depthwise_conv2d_forward(x, k, strides, (1, 1), pads)
    np.testing.assert_allclose(y, y_ref, rtol=1e-10, atol=1e-12)
    z_ref = y_ref.reshape(-1, p.shape[0]) @ p + (b if bias else 0)
    if affine:
        z_ref = reference.channel_affine(z_ref, scale, shift)
    if relu:  # the ReLU epilogue, block by block: every entry once, the depthwise rows untouched
        assert (z_ref < 0).any() and (z_ref > 0).any()
        z_ref = np.maximum(z_ref, 0)
    np.testing.assert_allclose(z, z_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("k", [3, 16])  # the narrow loop and BLAS
@pytest.mark.parametrize("bias", [False, True])
def test_split_products_with_an_affine_epilogue_equal_the_steps_one_by_one(k, bias, monkeypatch):
    # Each thread's rows get bias, affine map and ReLU while in cache; split or not, the numbers
    # are those of the product (with its bias), channel_affine, then np.maximum, to the last bit.
    from minikeras.kernels import affine

    rng = np.random.default_rng(k)
    # Small integers: every product and sum is exact, so BLAS gives the same numbers however it
    # blocks the rows (OpenBLAS's Haswell kernel does not, for M = 4001 against 2000: the last
    # bits differ). What is compared to the last bit is then the epilogue's arithmetic.
    a = rng.integers(-4, 5, (4001, k)).astype(np.float32)
    b = rng.integers(-4, 5, (k, 24)).astype(np.float32)
    bias_ = rng.standard_normal(24).astype(np.float32) if bias else None
    scale, shift = rng.uniform(0.5, 2, 24), rng.standard_normal(24)
    expected = np.maximum(affine.channel_affine(mm.matmul(a, b, bias=bias_), scale, shift), 0)
    for min_flops in (1, 10**12):  # split over the threads, and one block
        monkeypatch.setattr(mm, "MIN_SPLIT_FLOPS", min_flops)
        got = mm.matmul(a, b, bias=bias_, relu=True, scale=scale, shift=shift)
        np.testing.assert_array_equal(got, expected)
