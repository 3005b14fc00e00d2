"""The ReLU kernels against their numpy twins, bit for bit, split over threads or not."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from minikeras.kernels import matmul as mm
from minikeras.kernels import reference as twin
from minikeras.kernels import relu


def _specials(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 5, 3)).astype(dtype)
    x.flat[:8] = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-40, -1e-40, 3.0]
    return x


@pytest.mark.parametrize("split", [False, True], ids=["one-block", "row-blocks"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_kernels_are_numpy_bit_for_bit(monkeypatch, dtype, split):
    if split:  # three blocks on two pool threads, whatever the machine
        monkeypatch.setattr(mm, "MIN_SPLIT_NUMBERS", 0)
        monkeypatch.setattr(mm, "_workers", lambda: 3)
        monkeypatch.setattr(mm, "_pool", ThreadPoolExecutor(2))
    x = _specials(dtype)
    y = relu.relu_forward(x)
    expected = twin.relu_forward(x)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(np.signbit(y), np.signbit(expected))  # -0.0 -> +0.0
    grad = _specials(dtype)[::-1].copy()  # negatives, infinities, NaN against every case
    g = relu.relu_backward(grad, y)
    expected = twin.relu_backward(grad, y)
    assert g.dtype == dtype
    np.testing.assert_array_equal(g, expected)
    np.testing.assert_array_equal(np.signbit(g), np.signbit(expected))
    # non-contiguous inputs are read as they are
    np.testing.assert_array_equal(relu.relu_forward(x[:, ::2]), twin.relu_forward(x[:, ::2]))
