"""The register product (kernels.lanes_product) against numpy, and when matmul takes it."""

from __future__ import annotations

import numpy as np
import pytest

from minikeras import kernels
from minikeras.kernels import _jit, depthwise, depthwise_lanes, lanes_product, threads
from minikeras.kernels import matmul as mm
from minikeras.kernels import reference as ref


@pytest.mark.parametrize(
    "m, k, n",
    [(7, 3, 64), (9, 5, 128), (13, 32, 64), (33, 64, 96), (5, 1, 32), (0, 4, 64), (4, 0, 64),
     (12, 40, 160), (1300, 12, 96)],  # rows past the last 4, 32 columns past the last 64,
    # K = 0, M = 0; 1300 pixels: the transposed product's chunks of 512 and a part chunk
)
def test_product_matches_numpy(m, k, n):
    rng = np.random.default_rng(m * 100 + k)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    out = np.full((m, n), np.nan, np.float32)
    lanes_product.lanes_product_rows(a, b, out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)
    # and the transposed product: a (m, k) and g (m, n) give a.T @ g, (k, n)
    g = rng.standard_normal((m, n), dtype=np.float32)
    out_tn = np.full((k, n), np.nan, np.float32)
    sums = np.full(n, np.nan, np.float32)
    lanes_product.lanes_product_tn(a, g, out_tn, sums)
    np.testing.assert_allclose(out_tn, a.T.astype(np.float64) @ g, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(sums, g.astype(np.float64).sum(axis=0), rtol=1e-5, atol=1e-4)
    lanes_product.lanes_product_tn(a, g, out_tn, sums[:0])  # no sums asked: none made
    np.testing.assert_allclose(out_tn, a.T.astype(np.float64) @ g, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("m, n", [(4099, 64), (37, 96), (3, 32), (1024, 32)])
@pytest.mark.parametrize(
    "parts", [("bias",), ("bias", "relu"), ("affine",), ("bias", "affine", "relu"), ("relu",)]
)
def test_epilogue_in_registers_is_affine_epilogue_bit_for_bit(m, n, parts):
    # the epilogue applied to the registers before they are stored gives the same numbers as
    # the product stored, then kernels.epilogue over it: NaN rows and -0.0 sums included
    rng = np.random.default_rng(m + n)
    a = rng.standard_normal((m, 32), dtype=np.float32)
    a[1] = np.nan
    a[2] = 0.0  # sums of +-0.0: -0.0 + bias, relu(-0.0)
    b = rng.standard_normal((32, n), dtype=np.float32)
    b[:, 0] = -0.0
    bias = rng.standard_normal(n, dtype=np.float32) if "bias" in parts else None
    scale = rng.standard_normal(n, dtype=np.float32) if "affine" in parts else None
    shift = rng.standard_normal(n, dtype=np.float32) if "affine" in parts else None
    relu = "relu" in parts
    fused = np.full((m, n), 7.0, np.float32)
    lanes_product.lanes_product_rows(a, b, fused, bias, scale, shift, relu)
    separate = np.full((m, n), 7.0, np.float32)
    lanes_product.lanes_product_rows(a, b, separate)
    kernels.epilogue(separate, bias, scale, shift, relu)
    np.testing.assert_array_equal(fused, separate)
    np.testing.assert_array_equal(np.signbit(fused), np.signbit(separate))


@pytest.fixture(params=["numba threads", "python threads"])
def loops(request, monkeypatch):
    """Run the row blocks both ways: numba's parallel loops (with TBB) and the Python pool."""
    cheap = request.param == "numba threads"
    monkeypatch.setattr(threads, "cheap_parallel_loops", lambda: cheap)
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(mm, "_pool", ThreadPoolExecutor(2))  # (for a patched _workers)
    return cheap


@pytest.fixture
def avx512(monkeypatch):
    """Pretend the kernels compile for AVX-512, so dispatch is tested on any machine (the
    kernel itself is correct either way: only its speed needs the 32 registers)."""
    monkeypatch.setattr(kernels, "wide_registers", lambda: True)


def test_which_products_fit(avx512):
    a = np.zeros((100, 32), np.float32)
    fits = mm.fits_lanes_product
    assert fits(a, np.zeros((32, 64), np.float32), np.zeros((100, 64), np.float32))
    assert fits(a, np.zeros((64, 32), np.float32).T, np.zeros((100, 64), np.float32))
    assert fits(a, np.zeros((32, 96), np.float32), np.zeros((100, 96), np.float32))
    assert not fits(a, np.zeros((32, 48), np.float32), np.zeros((100, 48), np.float32))
    assert fits(a, np.zeros((32, 320), np.float32), np.zeros((100, 320), np.float32))
    wide_k = np.zeros((100, 1024), np.float32)  # b of 640 KiB: over the limit, BLAS
    assert fits(wide_k, np.zeros((1024, 128), np.float32), np.zeros((100, 128), np.float32))
    assert not fits(wide_k, np.zeros((1024, 160), np.float32), np.zeros((100, 160), np.float32))
    assert not fits(a.astype(np.float64), np.zeros((32, 64)), np.zeros((100, 64)))
    assert not fits(np.zeros((32, 100), np.float32).T, np.zeros((32, 64), np.float32),
                    np.zeros((100, 64), np.float32))


@pytest.mark.parametrize("relu", [False, True])
def test_matmul_takes_it_for_big_products(monkeypatch, avx512, relu):
    calls = []
    real = kernels.lanes_product_rows
    monkeypatch.setattr(kernels, "lanes_product_rows",
                        lambda *args, **kw: calls.append(args[0].shape) or real(*args, **kw))
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4096, 32), dtype=np.float32)  # 8.4M multiply-adds: big
    b = rng.standard_normal((64, 32), dtype=np.float32).T  # transposed: copied, then used
    bias = rng.standard_normal(64).astype(np.float32)
    scale = rng.standard_normal(64).astype(np.float32)
    shift = rng.standard_normal(64).astype(np.float32)
    got = mm.matmul(a, b, bias=bias, relu=relu, scale=scale, shift=shift)
    expected = (a.astype(np.float64) @ b + bias) * scale + shift
    if relu:
        expected = np.maximum(expected, 0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert calls, "the register product did not run"
    calls.clear()
    mm.matmul(a[:16], b)  # small: BLAS, nothing compiled for it
    assert not calls


def test_separable_forward_uses_it(monkeypatch, avx512, loops):
    monkeypatch.setattr(_jit, "SERIAL_BELOW", 0)
    monkeypatch.setattr(mm, "_workers", lambda: 2)
    calls = []
    # both halves in registers, in one call per thread (or one parallel call)
    name = "separable_rows_parallel" if loops else "separable_rows"
    real = getattr(depthwise_lanes, name)
    monkeypatch.setattr(depthwise_lanes, name, lambda *args: calls.append(1) or real(*args))
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 12, 12, 32)).astype(np.float32)
    k = rng.standard_normal((3, 3, 32, 1)).astype(np.float32)
    pw = rng.standard_normal((32, 64)).astype(np.float32)
    assert mm.fits_lanes_product(x.reshape(-1, 32), pw, np.empty((16 * 144, 64), np.float32))
    pads = ((1, 1), (1, 1))
    y, z = kernels.separable_forward(x, k, pw, None, pads=pads)
    y_ref = ref.depthwise_conv2d_forward(x, k, (1, 1), (1, 1), pads)
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(z, y_ref.reshape(-1, 32).astype(np.float64) @ pw, rtol=1e-4,
                               atol=1e-4)
    assert calls, "the fused forward did not take the register product"


def test_matmul_tn_takes_it_for_big_products(monkeypatch, avx512, loops):
    monkeypatch.setattr(mm, "_workers", lambda: 3)  # three row blocks, whatever the machine
    calls = []
    name = "lanes_product_tn_parts" if loops else "lanes_product_tn"
    real = getattr(kernels, name)
    monkeypatch.setattr(kernels, name, lambda *args: calls.append(args[0].shape) or real(*args))
    rng = np.random.default_rng(2)
    a = rng.standard_normal((8192, 32), dtype=np.float32)
    b = rng.standard_normal((8192, 64), dtype=np.float32)
    np.testing.assert_allclose(mm.matmul_tn(a, b), a.T.astype(np.float64) @ b, rtol=1e-4,
                               atol=1e-3)
    assert calls
    product, sums = mm.matmul_tn(a, b, with_column_sums=True)  # one pass makes both
    np.testing.assert_allclose(product, a.T.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(sums, b.astype(np.float64).sum(axis=0), rtol=1e-4, atol=1e-3)
    calls.clear()
    wide = rng.standard_normal((2048, 384), dtype=np.float32)  # a 576 KiB result: BLAS
    np.testing.assert_allclose(mm.matmul_tn(wide, wide), wide.T.astype(np.float64) @ wide,
                               rtol=1e-4, atol=1e-2)
    product, sums = mm.matmul_tn(wide, wide, with_column_sums=True)
    np.testing.assert_allclose(sums, wide.astype(np.float64).sum(axis=0), rtol=1e-4, atol=1e-2)
    assert not calls


def test_matmul_blocks_on_either_threads_are_the_same_numbers(monkeypatch, avx512):
    # numba's parallel loop and the Python pool cut the rows at the same places, and the
    # blocks' partial a.T @ b are added in the same order: the same bits
    monkeypatch.setattr(mm, "_workers", lambda: 3)
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(mm, "_pool", ThreadPoolExecutor(2))
    rng = np.random.default_rng(7)
    a = rng.standard_normal((5001, 32), dtype=np.float32)
    g = rng.standard_normal((5001, 64), dtype=np.float32)
    w = rng.standard_normal((32, 64), dtype=np.float32)
    results = []
    for cheap in (True, False):
        monkeypatch.setattr(threads, "cheap_parallel_loops", lambda cheap=cheap: cheap)
        results.append((mm.matmul_tn(a, g, with_column_sums=True), mm.matmul(a, w, bias=g[0])))
    (tn_numba, sums_numba), z_numba = results[0]
    (tn_pool, sums_pool), z_pool = results[1]
    np.testing.assert_array_equal(tn_numba, tn_pool)
    np.testing.assert_array_equal(sums_numba, sums_pool)
    np.testing.assert_array_equal(z_numba, z_pool)
    np.testing.assert_allclose(tn_numba, a.T.astype(np.float64) @ g, rtol=1e-4, atol=1e-3)


def test_with_avx2_the_product_in_registers_and_the_kernel_gradient_by_blas(monkeypatch):
    # with AVX2 the product takes 6 x 16 blocks (lanes_product._block6, compiled in when the
    # kernels are built for AVX2); a.T @ b with a result past 16 KiB stays with BLAS, which
    # those blocks did not beat there
    monkeypatch.setattr(kernels, "wide_registers", lambda: False)
    calls = []
    for name in ("lanes_product_rows", "lanes_product_tn", "lanes_product_tn_parts"):
        real = getattr(kernels, name)
        monkeypatch.setattr(
            kernels, name,
            lambda *args, real=real, name=name, **kw: calls.append(name) or real(*args, **kw),
        )
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4096, 32), dtype=np.float32)
    b = rng.standard_normal((32, 64), dtype=np.float32)
    assert mm.fits_lanes_product(a, b, np.empty((4096, 64), np.float32))
    np.testing.assert_allclose(mm.matmul(a, b), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    g = rng.standard_normal((4096, 64), dtype=np.float32)
    np.testing.assert_allclose(mm.matmul_tn(a, g), a.T.astype(np.float64) @ g, rtol=1e-4,
                               atol=1e-3)  # 32 x 64: 8 KiB, in registers
    tn = ("lanes_product_tn", "lanes_product_tn_parts")  # (one thread, or numba's threads)
    assert sum(calls.count(name) for name in tn) == 1
    wide = rng.standard_normal((4096, 128), dtype=np.float32)
    g = rng.standard_normal((4096, 64), dtype=np.float32)
    np.testing.assert_allclose(mm.matmul_tn(wide, g), wide.T.astype(np.float64) @ g, rtol=1e-4,
                               atol=1e-3)  # 128 x 64: 32 KiB, BLAS
    assert "lanes_product_rows" in calls and sum(calls.count(name) for name in tn) == 1


@pytest.mark.parametrize("epilogue", [(False, False, False), (True, False, False),
                                      (True, True, True), (False, True, False)])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("m_len", [42, 32, 8])
def test_avx2_blocks_are_the_avx512_blocks_bit_for_bit(epilogue, transposed, m_len):
    # _rows6 (6 x 16 blocks) on any machine, against _product as this machine builds it: the
    # same FMAs in the same order, so the same bits; and against float64 numpy. 32 and 8 rows
    # end with a block that makes some rows again.
    lp = lanes_product
    rng = np.random.default_rng(sum(epilogue) + transposed + m_len)
    k_len, n_len = 19, 64
    a = rng.standard_normal((m_len, k_len), dtype=np.float32)
    b = rng.standard_normal((k_len, n_len), dtype=np.float32)
    ef = rng.standard_normal(3 * n_len, dtype=np.float32)
    af = np.ascontiguousarray(a.T).reshape(-1) if transposed else a.reshape(-1)
    ra, ta = (1, m_len) if transposed else (k_len, 1)
    six = np.full(m_len * n_len, np.nan, np.float32)
    lp._rows6(af, ra, ta, m_len, k_len, b.reshape(-1), six, n_len, ef, epilogue)
    product = np.full(m_len * n_len, np.nan, np.float32)
    lp._product(af, ra, ta, m_len, k_len, b.reshape(-1), product, n_len, np.empty(0, np.float32),
                ef, epilogue)
    np.testing.assert_array_equal(six, product)
    expected = a.astype(np.float64) @ b
    bias, scale, shift = ef.reshape(3, n_len).astype(np.float64)
    if epilogue[0]:
        expected = expected + bias
    if epilogue[1]:
        expected = expected * scale + shift
    if epilogue[2]:
        expected = np.maximum(expected, 0)
    np.testing.assert_allclose(six.reshape(m_len, n_len), expected, rtol=1e-4, atol=1e-4)


def test_wide_registers_reads_the_compile_features(monkeypatch):
    from minikeras.kernels import lanes

    monkeypatch.setattr(lanes.numba.config, "CPU_FEATURES", "+avx2,+fma,-avx512f")
    assert not lanes.wide_registers()
    monkeypatch.setattr(lanes.numba.config, "CPU_FEATURES", "+avx2,+avx512f,+avx512bw")
    assert lanes.wide_registers()


@pytest.mark.parametrize("epilogue", ["none", "bias", "bn-relu"])
def test_fused_forward_in_one_call_is_the_two_phases_bit_for_bit(monkeypatch, avx512, epilogue,
                                                                 loops):
    # depthwise_lanes.separable_rows: the register depthwise rows, then their product with the
    # epilogue, one call per thread; 11 pixels a row leave 3 past the last group of four
    monkeypatch.setattr(_jit, "SERIAL_BELOW", 0)
    monkeypatch.setattr(mm, "_workers", lambda: 3)  # three row blocks, whatever the machine
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(mm, "_pool", ThreadPoolExecutor(2))
    rng = np.random.default_rng(6)
    x = rng.standard_normal((41, 9, 11, 32)).astype(np.float32)
    k = rng.standard_normal((3, 3, 32, 1)).astype(np.float32)
    pw = rng.standard_normal((32, 64)).astype(np.float32)
    b, scale, shift = rng.standard_normal((3, 64)).astype(np.float32)
    args = {"none": (None, None, None, False), "bias": (b, None, None, False),
            "bn-relu": (b, scale, shift, True)}[epilogue]
    pads = ((1, 1), (1, 1))
    y, z = kernels.separable_forward(x, k, pw, args[0], pads=pads, relu=args[3],
                                     scale=args[1], shift=args[2])
    y_two = kernels.depthwise_conv2d_forward(x, k, (1, 1), (1, 1), pads)
    z_two = mm.matmul(y_two.reshape(-1, 32), pw, bias=args[0], relu=args[3], scale=args[1],
                      shift=args[2])
    np.testing.assert_array_equal(y, y_two)
    np.testing.assert_array_equal(z, z_two)
    y_ref = ref.depthwise_conv2d_forward(x, k, (1, 1), (1, 1), pads)
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
    # without the depthwise output kept, its rows go a few at a time through the first rows of
    # each block (369 rows in three blocks of 10-row steps: not multiples of the step); the
    # same numbers
    monkeypatch.setattr(depthwise, "FUSED_STEP_BYTES", 10 * y[0, 0].nbytes)
    none, z_scratch = kernels.separable_forward(x, k, pw, args[0], pads=pads, relu=args[3],
                                                scale=args[1], shift=args[2],
                                                keep_depthwise=False)
    assert none is None
    np.testing.assert_array_equal(z_scratch, z_two)
