"""kernels.aligned: C-contiguous arrays whose first number is on a 64-byte boundary."""

from __future__ import annotations

import numpy as np
import pytest

from minikeras import kernels
from minikeras.kernels import _jit, aligned


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
@pytest.mark.parametrize("shape", [(0,), (1,), (3, 5), (7, 3, 5, 16), (2, 0, 4)])
def test_empty_is_aligned_contiguous_and_of_the_asked_shape(shape, dtype):
    for _ in range(8):  # numpy's own buffers land at several offsets; each must be moved
        a = aligned.empty(shape, dtype)
        assert a.shape == shape and a.dtype == np.dtype(dtype)
        assert a.flags.c_contiguous and a.flags.writeable
        assert a.size == 0 or a.ctypes.data % aligned.ALIGN == 0  # (no numbers, no address)
        a[...] = 1  # the whole view is inside its buffer
        assert a.base is not None and a.base.nbytes <= a.nbytes + aligned.ALIGN


def test_separable_forward_outputs_are_aligned(monkeypatch):
    # what the next layer reads, and what the register kernels store into (the fused path:
    # SERIAL_BELOW 0 makes the problem big)
    monkeypatch.setattr(_jit, "SERIAL_BELOW", 0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((41, 9, 11, 32)).astype(np.float32)
    k = rng.standard_normal((3, 3, 32, 1)).astype(np.float32)
    pw = rng.standard_normal((32, 64)).astype(np.float32)
    y, z = kernels.separable_forward(x, k, pw, pads=((1, 1), (1, 1)))
    assert y.ctypes.data % aligned.ALIGN == 0 and z.ctypes.data % aligned.ALIGN == 0
    y_ref = kernels.depthwise_conv2d_forward(x, k, (1, 1), (1, 1), ((1, 1), (1, 1)))
    np.testing.assert_allclose(z, y_ref.reshape(-1, 32) @ pw, rtol=1e-4, atol=1e-4)
