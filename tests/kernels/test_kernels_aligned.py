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


@pytest.mark.parametrize("offset", [0, 1, 4, 8, 12])
def test_contiguous_moves_only_what_is_off_a_boundary(offset):
    buffer = aligned.empty((5 * 7 * 16 + 16,), np.float32)
    buffer[...] = np.arange(buffer.size)
    a = buffer[offset : offset + 5 * 7 * 16].reshape(5, 7, 16)
    b = aligned.contiguous(a)
    assert b.ctypes.data % aligned.ALIGN == 0 and b.flags.c_contiguous
    np.testing.assert_array_equal(b, a)
    assert (b is a) == (offset == 0)  # an aligned array comes back as it is, not copied


def test_contiguous_converts_dtype_and_layout():
    a = np.arange(24, dtype=np.float64).reshape(4, 6)
    t = aligned.contiguous(a.T, np.float32)  # a transposed view: not C-contiguous
    assert t.dtype == np.float32 and t.flags.c_contiguous and aligned.is_aligned(t)
    np.testing.assert_array_equal(t, a.T.astype(np.float32))
    reversed_rows = aligned.contiguous(a[::-1])
    np.testing.assert_array_equal(reversed_rows, a[::-1])


def test_zeros_and_is_aligned():
    z = aligned.zeros((3, 3, 48), np.float32)
    assert aligned.is_aligned(z) and not z.any() and z.shape == (3, 3, 48)
    assert aligned.is_aligned(np.empty((0, 5)))  # no numbers: nothing to misplace
    assert not aligned.is_aligned(aligned.empty((20,), np.float32)[1:])


def test_copy_always_copies_onto_a_boundary():
    a = aligned.empty((4, 16), np.float32)
    a[...] = 1.5
    c = aligned.copy(a)
    assert c is not a and not np.shares_memory(c, a) and aligned.is_aligned(c)
    np.testing.assert_array_equal(c, a)
    assert aligned.copy(np.arange(5), np.float32).dtype == np.float32


def test_a_variable_keeps_its_numbers_on_a_boundary_through_updates():
    # the layer's weights are what the kernels load vector by vector; updates write in place
    from minikeras.autograd.tensor import Variable

    for _ in range(8):  # numpy's buffers land at several offsets
        source = np.random.default_rng(0).standard_normal((3, 3, 32, 1)).astype(np.float32)
        v = Variable(source[1:])  # an unaligned, non-owning view goes in
        assert aligned.is_aligned(v.data) and not np.shares_memory(v.data, source)
        before = v.data.ctypes.data
        v.assign(np.zeros((2, 3, 32, 1), np.float32))
        v.assign_add(1.0)
        assert v.data.ctypes.data == before and (v.data == 1).all()
