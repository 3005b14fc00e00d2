"""depthwise_lanes.rows_into_two: two output rows at a time, the same bits as one at a time."""

from __future__ import annotations

import numpy as np
import pytest

from minikeras.kernels import depthwise_lanes, reference


def _rows(fn, x, kernel, out_h, out_w, r0, r1, pt, pl):
    """Rows ``r0 <= r < r1`` by ``fn``; every other number of the output stays NaN."""
    n, _, row_len = x.shape
    channels = kernel.shape[2]
    dst = np.full((n * out_h, out_w * channels), np.nan, x.dtype)
    fn(x, kernel, dst, 0, r0, r1, out_h, pt, pl)
    return dst


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("height", "width", "channels", "pads"),
    [
        (7, 9, 32, (1, 1)),  # odd height: each image's last row is left alone
        (8, 13, 48, (1, 1)),  # 13 wide: a pixel past the last group of four; 48: three blocks
        (6, 6, 16, (0, 0)),  # valid: four rows out of six, no padding taps
        (9, 11, 32, (2, 2)),  # pads past the window's reach: rows that read nothing at all
        (2, 4, 16, (1, 0)),  # two output rows an image, the left edge unpadded
        (1, 5, 16, (1, 1)),  # one row an image: every row alone, its pair's row spare
    ],
)
def test_two_rows_are_one_row_at_a_time_bit_for_bit(dtype, height, width, channels, pads):
    rng = np.random.default_rng(height * width)
    n = 3
    pt, pl = pads
    x = rng.standard_normal((n, height, width * channels)).astype(dtype)
    kernel = rng.standard_normal((3, 3, channels)).astype(dtype)
    out_h, out_w = height + 2 * pt - 2, width + 2 * pl - 2
    total = n * out_h
    # whole images, and ranges that start or stop mid-image or at an odd row (a thread's block)
    for r0, r1 in [(0, total), (1, total), (0, total - 1), (out_h - 1, out_h + 2), (2, 3)]:
        r1 = min(r1, total)
        one = _rows(depthwise_lanes.rows_into, x, kernel, out_h, out_w, r0, r1, pt, pl)
        two = _rows(depthwise_lanes.rows_into_two, x, kernel, out_h, out_w, r0, r1, pt, pl)
        np.testing.assert_array_equal(two, one)  # NaN where nothing was to be written, too
        assert np.isnan(two[:r0]).all() and np.isnan(two[r1:]).all()
        assert not np.isnan(two[r0:r1]).any()
    # and the numbers themselves, against the plain numpy twin
    whole = _rows(depthwise_lanes.rows_into_two, x, kernel, out_h, out_w, 0, total, pt, pl)
    expected = reference.depthwise_conv2d_forward(
        x.reshape(n, height, width, channels), kernel[..., None], (1, 1), (1, 1),
        ((pt, pt), (pl, pl)),
    )
    np.testing.assert_allclose(whole.reshape(expected.shape), expected,
                               rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


def test_two_rows_carry_a_nan_only_where_it_reaches():
    # a NaN in one input row reaches the output rows whose windows hold it, and no others:
    # a row outside a window is never multiplied in (not even by a zero weight)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 8, 8 * 16)).astype(np.float32)
    x[0, 4, 3 * 16] = np.nan  # row 4, pixel 3, channel 0
    kernel = rng.standard_normal((3, 3, 16)).astype(np.float32)
    out = _rows(depthwise_lanes.rows_into_two, x, kernel, 8, 8, 0, 8, 1, 1)
    hit = np.isnan(out.reshape(8, 8, 16))
    expected = np.zeros_like(hit)
    expected[3:6, 2:5, 0] = True  # output rows 3-5 and pixels 2-4 see input (4, 3)
    np.testing.assert_array_equal(hit, expected)


@pytest.mark.parametrize("fn", [depthwise_lanes.rows_into, depthwise_lanes.rows_into_two])
def test_a_kernel_of_ones_counts_the_taps_inside_the_image(fn):
    # hand-computed: a 4x4 image of ones, 'same' padding: 4 taps in a corner, 6 on an edge,
    # 9 inside; two images, so a pair never reaches across into the next one
    x = np.ones((2, 4, 4 * 16), np.float32)
    kernel = np.ones((3, 3, 16), np.float32)
    out = _rows(fn, x, kernel, 4, 4, 0, 8, 1, 1)
    counts = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]], np.float32)
    expected = np.broadcast_to(counts[None, :, :, None], (2, 4, 4, 16))
    np.testing.assert_array_equal(out.reshape(2, 4, 4, 16), expected)
