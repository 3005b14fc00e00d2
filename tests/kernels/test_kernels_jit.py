"""JIT kernels against their numpy twins on Hypothesis-generated problems, float32 and float64.

The same tests run without the JIT in test_kernels_nojit.py (a subprocess with
NUMBA_DISABLE_JIT=1), where they exercise the kernels as plain Python.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_cases import tolerance, window_problems

from minikeras import kernels
from minikeras.kernels import _jit, depthwise, depthwise_lanes
from minikeras.kernels import reference as ref
from minikeras.kernels.padding import explicit_pads

# Few examples when the kernels run as plain Python (slow), more under the JIT.
EXAMPLES = 6 if os.environ.get("NUMBA_DISABLE_JIT") == "1" else 40
SETTINGS = settings(max_examples=EXAMPLES, deadline=None)


def _data(p, shape):
    return p["rng"].standard_normal(shape).astype(p["dtype"])


def _geometry(p):
    return p["strides"], p["dilation"], p["pads"]


def _close(actual, expected, dtype):
    assert actual.dtype == dtype
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, **tolerance(dtype))


@SETTINGS
@given(window_problems(), st.sampled_from([0, 32, 10**9]))
def test_depthwise_matches_twin(p, fold_below):
    # fold_below: never fold the batch into the channels, the default, always fold
    default = depthwise.FOLD_BELOW
    depthwise.FOLD_BELOW = fold_below
    try:
        _check_depthwise(p)
    finally:
        depthwise.FOLD_BELOW = default


def _check_depthwise(p):
    kh, kw = p["kernel_hw"]
    x = _data(p, p["shape"])
    k = _data(p, (kh, kw, p["shape"][3], p["dm"]))
    geo = _geometry(p)
    out = kernels.depthwise_conv2d_forward(x, k, *geo)
    _close(out, ref.depthwise_conv2d_forward(x, k, *geo), p["dtype"])
    g = _data(p, out.shape)
    _close(
        kernels.depthwise_conv2d_grad_input(g, k, x.shape, *geo),
        ref.depthwise_conv2d_grad_input(g, k, x.shape, *geo),
        p["dtype"],
    )
    _close(
        kernels.depthwise_conv2d_grad_kernel(x, g, k.shape, *geo),
        ref.depthwise_conv2d_grad_kernel(x, g, k.shape, *geo),
        p["dtype"],
    )


@SETTINGS
@given(window_problems())
def test_conv2d_matches_twin(p):
    kh, kw = p["kernel_hw"]
    x = _data(p, p["shape"])
    k = _data(p, (kh, kw, p["shape"][3], p["dm"] + 1))
    geo = _geometry(p)
    out = kernels.conv2d_forward(x, k, *geo)
    _close(out, ref.conv2d_forward(x, k, *geo), p["dtype"])
    g = _data(p, out.shape)
    _close(
        kernels.conv2d_grad_input(g, k, x.shape, *geo),
        ref.conv2d_grad_input(g, k, x.shape, *geo),
        p["dtype"],
    )
    _close(
        kernels.conv2d_grad_kernel(x, g, k.shape, *geo),
        ref.conv2d_grad_kernel(x, g, k.shape, *geo),
        p["dtype"],
    )


@SETTINGS
@given(window_problems(depth_multiplier=False))
def test_pools_match_twins(p):
    size = p["kernel_hw"]
    x = _data(p, p["shape"])
    geo = _geometry(p)
    out = kernels.max_pool2d_forward(x, size, *geo)
    _close(out, ref.max_pool2d_forward(x, size, *geo), p["dtype"])
    g = _data(p, out.shape)
    _close(
        kernels.max_pool2d_grad_input(x, g, size, *geo),
        ref.max_pool2d_grad_input(x, g, size, *geo),
        p["dtype"],
    )
    out2, where = kernels.max_pool2d_forward_argmax(x, size, *geo)
    _close(out2, ref.max_pool2d_forward(x, size, *geo), p["dtype"])
    np.testing.assert_array_equal(where, ref.max_pool2d_argmax(x, size, *geo))
    _close(
        kernels.max_pool2d_grad_from_argmax(where, g, x.shape),
        ref.max_pool2d_grad_input(x, g, size, *geo),
        p["dtype"],
    )
    _close(
        kernels.avg_pool2d_forward(x, size, *geo), ref.avg_pool2d_forward(x, size, *geo), p["dtype"]
    )
    _close(
        kernels.avg_pool2d_grad_input(g, x.shape, size, *geo),
        ref.avg_pool2d_grad_input(g, x.shape, size, *geo),
        p["dtype"],
    )


def test_pointwise_conv_is_a_matmul():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    k = rng.standard_normal((1, 1, 5, 6))
    np.testing.assert_allclose(kernels.conv2d_forward(x, k), x @ k[0, 0], rtol=1e-12)


def test_max_pool_ties_route_to_first_maximum():
    x = np.ones((1, 2, 2, 1))
    g = np.full((1, 1, 1, 1), 3.0)
    gx = kernels.max_pool2d_grad_input(x, g, (2, 2), (2, 2))
    np.testing.assert_array_equal(gx[0, :, :, 0], [[3.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("n_img", [2, 64])  # 64 images: above SERIAL_BELOW, the parallel path
def test_max_pool_argmax_ties_and_both_paths(n_img):
    # Integer-valued data makes ties everywhere; overlapping windows (stride 1) route several
    # gradients to one pixel. Both the serial and the parallel driver must match the twins.
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, (n_img, 16, 16, 80)).astype(np.float32)
    g = rng.standard_normal((n_img, 15, 15, 80)).astype(np.float32)
    out, where = kernels.max_pool2d_forward_argmax(x, (2, 2), (1, 1))
    np.testing.assert_array_equal(out, ref.max_pool2d_forward(x, (2, 2), (1, 1)))
    np.testing.assert_array_equal(where, ref.max_pool2d_argmax(x, (2, 2), (1, 1)))
    np.testing.assert_allclose(
        kernels.max_pool2d_grad_from_argmax(where, g, x.shape),
        ref.max_pool2d_grad_input(x, g, (2, 2), (1, 1)),
        rtol=1e-6,
        atol=1e-6,
    )
    np.testing.assert_array_equal(
        kernels.max_pool2d_forward(x, (2, 2), (1, 1)), ref.max_pool2d_forward(x, (2, 2), (1, 1))
    )


def test_kernel_cast_to_input_dtype():
    x = np.ones((1, 3, 3, 2), np.float32)
    out = kernels.depthwise_conv2d_forward(x, np.ones((3, 3, 2, 1)), pads=((1, 1), (1, 1)))
    assert out.dtype == np.float32
    assert out[0, 1, 1, 0] == 9.0 and out[0, 0, 0, 0] == 4.0


@pytest.mark.parametrize("threads", [1, 2])
def test_weight_gradient_independent_of_thread_count(threads):
    # The per-thread accumulators are summed at the end: their number must not change results
    # beyond rounding.
    import numba

    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 7, 4))
    g = rng.standard_normal((3, 6, 7, 4))
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_jit, "SERIAL_BELOW", 0)  # this small problem would otherwise run serially
            gk = kernels.depthwise_conv2d_grad_kernel(x, g, (3, 3, 4, 1), pads=((1, 1), (1, 1)))
    finally:
        numba.set_num_threads(before)
    expected = ref.depthwise_conv2d_grad_kernel(x, g, (3, 3, 4, 1), pads=((1, 1), (1, 1)))
    np.testing.assert_allclose(gk, expected, rtol=1e-12, atol=1e-12)


PARALLEL_CASES = [
    # (N, H, W, C), (kh, kw), strides, dilation, pads, dm
    ((3, 9, 8, 5), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), 1),
    ((2, 11, 10, 3), (3, 2), (2, 3), (1, 1), ((0, 1), (1, 0)), 2),
    ((2, 9, 9, 4), (2, 3), (1, 1), (2, 2), ((1, 1), (2, 2)), 3),
    ((5, 4, 4, 2), (4, 4), (1, 1), (1, 1), ((0, 0), (0, 0)), 1),
    # row stride = row dilation: output rows in pairs that share input rows, with dilation
    ((2, 13, 9, 3), (3, 3), (2, 1), (2, 1), ((2, 2), (1, 1)), 1),
]


@pytest.mark.parametrize("fold_below", [0, 10**9], ids=["unfolded", "folded"])
@pytest.mark.parametrize("case", PARALLEL_CASES)
def test_parallel_drivers_match_twins(monkeypatch, case, fold_below):
    # The Hypothesis problems are small, so they mostly take the serial path; with the
    # threshold at 0 every kernel goes through its parallel driver (rows cut into chunks).
    # Depthwise runs once as it is and once with the batch folded into the channels.
    monkeypatch.setattr(_jit, "SERIAL_BELOW", 0)
    monkeypatch.setattr(depthwise, "FOLD_BELOW", fold_below)
    shape, khw, strides, dilation, pads, dm = case
    rng = np.random.default_rng(len(shape) + shape[0])
    x = rng.standard_normal(shape)
    k = rng.standard_normal((*khw, shape[3], dm))
    geo = (strides, dilation, pads)
    out = kernels.depthwise_conv2d_forward(x, k, *geo)
    _close(out, ref.depthwise_conv2d_forward(x, k, *geo), np.float64)
    g = rng.standard_normal(out.shape)
    _close(
        kernels.depthwise_conv2d_grad_input(g, k, x.shape, *geo),
        ref.depthwise_conv2d_grad_input(g, k, x.shape, *geo),
        np.float64,
    )
    _close(
        kernels.depthwise_conv2d_grad_kernel(x, g, k.shape, *geo),
        ref.depthwise_conv2d_grad_kernel(x, g, k.shape, *geo),
        np.float64,
    )
    pooled, where = kernels.max_pool2d_forward_argmax(x, khw, *geo)
    _close(pooled, ref.max_pool2d_forward(x, khw, *geo), np.float64)
    _close(kernels.max_pool2d_forward(x, khw, *geo), pooled, np.float64)
    gp = rng.standard_normal(pooled.shape)
    _close(
        kernels.max_pool2d_grad_from_argmax(where, gp, x.shape),
        ref.max_pool2d_grad_input(x, gp, khw, *geo),
        np.float64,
    )


@SETTINGS
@given(window_problems(depth_multiplier=False), st.sampled_from([0, 1]))
def test_direct_strided_forward_matches_twin(p, threshold):
    # DIRECT_STRIDED_CHANNELS 1: every strided problem takes the pixel-by-pixel forward (its
    # usual threshold, 32 channels, is above these small problems); SERIAL_BELOW 0: through
    # the parallel driver too.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(depthwise, "DIRECT_STRIDED_CHANNELS", 1)
        mp.setattr(_jit, "SERIAL_BELOW", threshold)
        kh, kw = p["kernel_hw"]
        x = _data(p, p["shape"])
        k = _data(p, (kh, kw, p["shape"][3], 1))
        geo = _geometry(p)
        _close(kernels.depthwise_conv2d_forward(x, k, *geo),
               ref.depthwise_conv2d_forward(x, k, *geo), p["dtype"])


@SETTINGS
@given(window_problems(), st.integers(1, 3), st.sampled_from([0, 1]))
def test_ring_forward_whole_vectors_matches_twin(p, eighths, threshold):
    # A column stride or a multiplier takes the forward and gradients that split input rows into
    # phases as they go; with channels a multiple of 8 that split copies blocks of eight numbers
    # (a separate branch, which the problems above, of at most 4 channels, never reach).
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_jit, "SERIAL_BELOW", threshold)
        kh, kw = p["kernel_hw"]
        shape = (*p["shape"][:3], 8 * eighths)
        x = _data(p, shape)
        k = _data(p, (kh, kw, shape[3], p["dm"]))
        geo = _geometry(p)
        out = kernels.depthwise_conv2d_forward(x, k, *geo)
        _close(out, ref.depthwise_conv2d_forward(x, k, *geo), p["dtype"])
        g = _data(p, out.shape)
        _close(kernels.depthwise_conv2d_grad_input(g, k, x.shape, *geo),
               ref.depthwise_conv2d_grad_input(g, k, x.shape, *geo), p["dtype"])
        _close(kernels.depthwise_conv2d_grad_kernel(x, g, k.shape, *geo),
               ref.depthwise_conv2d_grad_kernel(x, g, k.shape, *geo), p["dtype"])


@pytest.mark.parametrize("relu", [False, True], ids=["", "relu"])
@pytest.mark.parametrize("strides", [(2, 2), (1, 2), (2, 3)])
def test_separable_forward_direct_strided_matches_twin(monkeypatch, strides, relu):
    # 32 channels and a stride: the fused separable forward runs the pixel-by-pixel rows.
    from minikeras.kernels import matmul as mm

    monkeypatch.setattr(mm, "MIN_SPLIT_FLOPS", 0)  # the fused path even for this small product
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 11, 10, 32)).astype(np.float32)
    k = rng.standard_normal((3, 3, 32, 1)).astype(np.float32)
    pw = rng.standard_normal((32, 8)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    pads = ((1, 1), (0, 1))
    y, z = kernels.separable_forward(x, k, pw, b, strides, (1, 1), pads, relu=relu)
    y_ref = ref.depthwise_conv2d_forward(x, k, strides, (1, 1), pads)
    _close(y, y_ref, np.float32)
    z_ref = y_ref.reshape(-1, 32) @ pw + b
    _close(z, np.maximum(z_ref, 0) if relu else z_ref, np.float32)


@SETTINGS
@given(window_problems(depth_multiplier=False), st.integers(1, 3), st.sampled_from([0, 1]))
def test_lanes_forward_matches_twin(p, sixteenths, threshold):
    # Stride 1, no dilation, multiplier 1 and channels a multiple of 16: on big problems the
    # forward keeps four output pixels in registers (depthwise_lanes.forward_rows); SERIAL_BELOW
    # 0 makes every problem big (and 1 goes through the serial function).
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_jit, "SERIAL_BELOW", threshold)
        mp.setattr(depthwise, "FOLD_BELOW", 0)
        kh, kw = p["kernel_hw"]
        shape = (*p["shape"][:3], 16 * sixteenths)
        x = _data(p, shape)
        k = _data(p, (kh, kw, shape[3], 1))
        geo = ((1, 1), (1, 1), p["pads"])
        out = np.empty((shape[0], *kernels.output_hw(shape[1:3], (kh, kw), *geo), shape[3]))
        if out.size:
            rows_fn = depthwise._forward_setup(x, k, out, *geo)[0]
            assert rows_fn is depthwise_lanes.forward_rows
        _close(kernels.depthwise_conv2d_forward(x, k, *geo),
               ref.depthwise_conv2d_forward(x, k, *geo), p["dtype"])
        # the input gradient: a forward pass over the output gradient, turned kernel
        g = _data(p, out.shape)
        _close(kernels.depthwise_conv2d_grad_input(g, k, x.shape, *geo),
               ref.depthwise_conv2d_grad_input(g, k, x.shape, *geo), p["dtype"])
        # the kernel gradient: four pixels' gradients held in registers
        _close(kernels.depthwise_conv2d_grad_kernel(x, g, k.shape, *geo),
               ref.depthwise_conv2d_grad_kernel(x, g, k.shape, *geo), p["dtype"])


@pytest.mark.parametrize("kernel_hw", [(3, 3), (5, 5), (3, 5), (5, 3), (1, 4), (7, 7)])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_lanes_kernels_each_window_width(monkeypatch, kernel_hw, padding):
    # 3- and 5-wide windows have rows of their own in the register forward; others the loop
    # (7x7: a ConvNeXt-style window, wider than a group of four's overlap). Widths 13 and 10
    # leave 1-3 pixels past the last group of four; taps on the padding read zeros. 48 channels
    # are a pair of 16-channel blocks and one block alone (depthwise_lanes.PAIRED), 16 only one.
    monkeypatch.setattr(_jit, "SERIAL_BELOW", 0)
    monkeypatch.setattr(depthwise, "FOLD_BELOW", 0)
    rng = np.random.default_rng(sum(kernel_hw))
    for width, channels in ((13, 32), (10, 48), (13, 16)):
        x = rng.standard_normal((2, 6, width, channels))
        k = rng.standard_normal((*kernel_hw, channels, 1))
        geo = ((1, 1), (1, 1), explicit_pads(padding, (6, width), kernel_hw, (1, 1), (1, 1)))
        out = kernels.depthwise_conv2d_forward(x, k, *geo)
        _close(out, ref.depthwise_conv2d_forward(x, k, *geo), np.float64)
        rows_fn = depthwise._forward_setup(x, k, out, *geo)[0]
        assert rows_fn is depthwise_lanes.forward_rows
        g = rng.standard_normal(out.shape)
        _close(kernels.depthwise_conv2d_grad_input(g, k, x.shape, *geo),
               ref.depthwise_conv2d_grad_input(g, k, x.shape, *geo), np.float64)
        _close(kernels.depthwise_conv2d_grad_kernel(x, g, k.shape, *geo),
               ref.depthwise_conv2d_grad_kernel(x, g, k.shape, *geo), np.float64)


@pytest.mark.parametrize("pads", [((0, 0), (0, 0)), ((2, 1), (0, 2)), ((3, 0), (1, 3))])
def test_lanes_input_gradient_pads(monkeypatch, pads):
    # valid, asymmetric, and pads past the window (3 > kh - 1: the streams take those)
    monkeypatch.setattr(_jit, "SERIAL_BELOW", 0)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 9, 32))
    k = rng.standard_normal((3, 3, 32, 1))
    geo = ((1, 1), (1, 1), pads)
    g = rng.standard_normal(kernels.depthwise_conv2d_forward(x, k, *geo).shape)
    _close(kernels.depthwise_conv2d_grad_input(g, k, x.shape, *geo),
           ref.depthwise_conv2d_grad_input(g, k, x.shape, *geo), np.float64)


@pytest.mark.parametrize("filters", [32, 24], ids=["registers", "narrow-loop"])
@pytest.mark.parametrize("epilogue", ["bias", "bias-relu", "bn-relu"])
def test_separable_forward_narrow_input_is_the_two_phases_bit_for_bit(
    monkeypatch, epilogue, filters
):
    # an RGB input (3 channels) runs fused too, its product in registers (32k filters) or in
    # the narrow loop (others): the same numbers as the depthwise pass, then matmul with its
    # epilogue
    from minikeras.kernels import matmul as mm

    registers = filters % mm.LANES_COLUMNS == 0
    calls = []
    for name in ("_block_narrow", "_block_lanes"):  # matmul's, which the fused pass uses too
        real = getattr(mm, name)
        monkeypatch.setattr(mm, name,
                            lambda *args, name=name, real=real: calls.append(name) or real(*args))
    rng = np.random.default_rng(11)
    x = rng.standard_normal((64, 32, 32, 3)).astype(np.float32)  # 6.3M multiply-adds: big
    k = rng.standard_normal((3, 3, 3, 1)).astype(np.float32)
    pw = rng.standard_normal((3, filters)).astype(np.float32)
    b = rng.standard_normal(filters).astype(np.float32)
    scale = shift = None
    if epilogue == "bn-relu":
        scale, shift = rng.standard_normal((2, filters)).astype(np.float32)
    relu = epilogue.endswith("relu")
    pads = ((1, 1), (1, 1))
    y, z = kernels.separable_forward(x, k, pw, b, (1, 1), (1, 1), pads, relu=relu,
                                     scale=scale, shift=shift)
    assert calls and set(calls) == {"_block_lanes" if registers else "_block_narrow"}
    y_two = kernels.depthwise_conv2d_forward(x, k, (1, 1), (1, 1), pads)
    z_two = mm.matmul(y_two.reshape(-1, 3), pw, bias=b, relu=relu, scale=scale, shift=shift)
    np.testing.assert_array_equal(y, y_two)
    np.testing.assert_array_equal(z, z_two)
    z_ref = ref.depthwise_conv2d_forward(x, k, (1, 1), (1, 1), pads).reshape(-1, 3) @ pw + b
    if scale is not None:
        z_ref = z_ref * scale + shift
    _close(z, np.maximum(z_ref, 0) if relu else z_ref, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_separable_forward_through_lanes_matches_twin(monkeypatch, dtype):
    # the fused separable pass runs the lanes rows step by step from the matmul pool's threads
    monkeypatch.setattr(_jit, "SERIAL_BELOW", 0)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 9, 11, 32)).astype(dtype)
    k = rng.standard_normal((3, 3, 32, 1)).astype(dtype)
    pw = rng.standard_normal((32, 24)).astype(dtype)
    bias = rng.standard_normal(24).astype(dtype)
    pads = ((1, 1), (1, 1))
    y, z = kernels.separable_forward(x, k, pw, bias, pads=pads)
    y_ref = ref.depthwise_conv2d_forward(x, k, (1, 1), (1, 1), pads)
    _close(y, y_ref, dtype)
    _close(z, y_ref.reshape(-1, 32) @ pw + bias, dtype)


def test_lanes_kernels_are_the_ones_that_run(monkeypatch):
    # stride 1, no dilation, 16k channels: both gradients go through depthwise_lanes; a stride,
    # a dilation or 24 channels keep the streams
    assert depthwise._lanes_forward(1, (1, 1), (1, 1), 64)
    assert not depthwise._lanes_forward(1, (2, 2), (1, 1), 64)
    assert not depthwise._lanes_forward(1, (1, 1), (2, 1), 64)
    assert not depthwise._lanes_forward(2, (1, 1), (1, 1), 64)
    assert not depthwise._lanes_forward(1, (1, 1), (1, 1), 24)
    monkeypatch.setattr(_jit, "SERIAL_BELOW", 0)
    calls = []
    for name in ("grad_kernel_rows_parallel", "forward_rows_parallel"):
        real = getattr(depthwise_lanes, name)
        monkeypatch.setattr(depthwise_lanes, name,
                            lambda *a, real=real, name=name: calls.append(name) or real(*a))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6, 6, 16))
    g = rng.standard_normal((4, 6, 6, 16))
    k = rng.standard_normal((5, 5, 16, 1))
    geo = ((1, 1), (1, 1), ((2, 2), (2, 2)))
    _close(kernels.depthwise_conv2d_grad_kernel(x, g, k.shape, *geo),
           ref.depthwise_conv2d_grad_kernel(x, g, k.shape, *geo), np.float64)
    _close(kernels.depthwise_conv2d_grad_input(g, k, x.shape, *geo),
           ref.depthwise_conv2d_grad_input(g, k, x.shape, *geo), np.float64)
    assert calls == ["grad_kernel_rows_parallel", "forward_rows_parallel"]
