"""The differentiable conv/pool/bias ops: values, float64 gradient checks, and argument errors."""

from __future__ import annotations

import numpy as np
import pytest

from minikeras.autograd import GradientTape, Tensor, gradcheck
from minikeras.backend.conv import bias_add, conv2d, depthwise_conv2d, pool2d, separable_conv2d
from minikeras.kernels import reference as ref
from minikeras.kernels.padding import explicit_pads

FORMATS = ["channels_last", "channels_first"]
GEOMETRIES = [  # strides, dilation_rate, padding
    ((1, 1), (1, 1), "same"),
    ((1, 1), (1, 1), "valid"),
    ((2, 1), (1, 1), "same"),
    ((2, 2), (1, 1), "valid"),
    ((1, 1), (2, 1), "same"),
    ((1, 1), (1, 2), "valid"),
]


def _input(fmt, rng, n=2, h=5, w=6, c=3):
    x = rng.standard_normal((n, h, w, c))
    return x if fmt == "channels_last" else x.transpose(0, 3, 1, 2).copy()


def _to_nhwc(a, fmt):
    return a if fmt == "channels_last" else a.transpose(0, 2, 3, 1)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("strides, dilation, padding", GEOMETRIES)
def test_depthwise_and_conv_gradcheck(fmt, strides, dilation, padding):
    rng = np.random.default_rng(0)
    x = _input(fmt, rng)
    dk = rng.standard_normal((3, 2, 3, 2))
    k = rng.standard_normal((2, 3, 3, 4))
    assert gradcheck(lambda x, k: depthwise_conv2d(x, k, strides, padding, fmt, dilation), [x, dk])
    assert gradcheck(lambda x, k: conv2d(x, k, strides, padding, fmt, dilation), [x, k])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("strides, dilation, padding", GEOMETRIES)
def test_separable_gradcheck(fmt, strides, dilation, padding):
    rng = np.random.default_rng(1)
    x = _input(fmt, rng)
    dk = rng.standard_normal((3, 3, 3, 2))
    pk = rng.standard_normal((1, 1, 6, 4))
    b = rng.standard_normal(4)

    def with_bias(x, dk, pk, b):
        return separable_conv2d(x, dk, pk, strides, padding, fmt, dilation, bias=b)

    def without_bias(x, dk, pk):
        return separable_conv2d(x, dk, pk, strides, padding, fmt, dilation)

    assert gradcheck(with_bias, [x, dk, pk, b])
    assert gradcheck(without_bias, [x, dk, pk])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("strides, dilation, padding", GEOMETRIES)
def test_pool_gradcheck(fmt, mode, strides, dilation, padding):
    rng = np.random.default_rng(2)
    # Distinct, well-separated values keep the max away from ties, where it is not differentiable.
    x = rng.permutation(2 * 3 * 5 * 6).reshape(2, 5, 6, 3) * 0.1
    x = x if fmt == "channels_last" else x.transpose(0, 3, 1, 2).copy()
    assert gradcheck(lambda x: pool2d(x, (2, 3), strides, padding, fmt, mode, dilation), [x])


@pytest.mark.parametrize("fmt", FORMATS)
def test_bias_add_gradcheck(fmt):
    rng = np.random.default_rng(3)
    x = _input(fmt, rng)
    b = rng.standard_normal(3)
    assert gradcheck(lambda x, b: bias_add(x, b, fmt), [x, b])
    assert gradcheck(lambda x, b: bias_add(x, b, fmt), [rng.standard_normal((4, 3)), b])


@pytest.mark.parametrize("fmt", FORMATS)
def test_values_match_the_reference(fmt):
    rng = np.random.default_rng(4)
    x = _input(fmt, rng, h=7, w=6)
    dk = rng.standard_normal((3, 3, 3, 2))
    pk = rng.standard_normal((1, 1, 6, 5))
    b = rng.standard_normal(5)
    xl = _to_nhwc(x, fmt)
    pads = explicit_pads("same", (7, 6), (3, 3), (2, 2), (1, 1))
    y = ref.depthwise_conv2d_forward(xl, dk, (2, 2), (1, 1), pads)
    want = y @ pk[0, 0] + b
    got = separable_conv2d(x, dk, pk, (2, 2), "same", fmt, bias=b).numpy()
    np.testing.assert_allclose(_to_nhwc(got, fmt), want, rtol=1e-10, atol=1e-12)
    # The fused op equals its three-op composition.
    composed = bias_add(
        conv2d(depthwise_conv2d(x, dk, (2, 2), "same", fmt), pk, data_format=fmt), b, fmt
    )
    np.testing.assert_allclose(got, composed.numpy(), rtol=1e-10, atol=1e-12)


def test_float32_in_float32_out_and_weight_gradient_dtypes():
    rng = np.random.default_rng(5)
    x = Tensor(rng.standard_normal((2, 6, 6, 4)).astype(np.float32))
    dk = Tensor(rng.standard_normal((3, 3, 4, 1)).astype(np.float32))
    pk = Tensor(rng.standard_normal((1, 1, 4, 8)).astype(np.float32))
    b = Tensor(np.zeros(8, np.float32))
    with GradientTape() as tape:
        tape.watch([x, dk, pk, b])
        z = separable_conv2d(x, dk, pk, padding="same", bias=b)
    assert z.dtype == np.float32 and z.shape == (2, 6, 6, 8)
    grads = tape.gradient(z, [x, dk, pk, b])
    assert [g.dtype for g in grads] == [np.float32] * 4
    assert [g.shape for g in grads] == [x.shape, dk.shape, pk.shape, b.shape]


def test_gradients_not_needed_are_not_computed():
    # With only the kernel watched, the input gradient must not be needed for the kernel one.
    rng = np.random.default_rng(6)
    x = Tensor(rng.standard_normal((1, 4, 4, 2)))
    k = Tensor(rng.standard_normal((3, 3, 2, 1)))
    with GradientTape() as tape:
        tape.watch(k)
        y = depthwise_conv2d(x, k, padding="same")
    (gk,) = tape.gradient(y, [k])
    want = ref.depthwise_conv2d_grad_kernel(
        x.numpy(), np.ones(y.shape), (3, 3, 2, 1), pads=((1, 1), (1, 1))
    )
    np.testing.assert_allclose(gk.numpy() if hasattr(gk, "numpy") else gk, want, rtol=1e-12)


# ------------------------------------------------------------------------- bad input

X = np.zeros((1, 5, 5, 3))
K = np.zeros((3, 3, 3, 1))
P = np.zeros((1, 1, 3, 4))


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: depthwise_conv2d(np.zeros((5, 5, 3)), K), r"depthwise_conv2d: x must have rank 4"),
        (lambda: conv2d(X, np.zeros((3, 3, 3))), r"conv2d: kernel must have rank 4"),
        (lambda: conv2d(X, np.zeros((3, 3, 2, 4))), r"conv2d: kernel.shape\[2\] must be 3.*got 2"),
        (
            lambda: depthwise_conv2d(X, np.zeros((3, 3, 4, 1))),
            r"depthwise_conv2d: depthwise_kernel.shape\[2\] must be 3.*got 4",
        ),
        (
            lambda: depthwise_conv2d(X, K, data_format="channels_first"),
            r"depthwise_conv2d: depthwise_kernel.shape\[2\] must be 5.*got 3",
        ),
        (
            lambda: separable_conv2d(X, K, np.zeros((1, 1, 6, 4))),
            r"separable_conv2d: pointwise_kernel.shape\[2\] must be 3.*got 6",
        ),
        (
            lambda: separable_conv2d(X, K, np.zeros((3, 3, 3, 4))),
            r"separable_conv2d: pointwise_kernel must be 1x1",
        ),
        (
            lambda: separable_conv2d(X, K, P, bias=np.zeros(3)),
            r"separable_conv2d: bias must have shape \(4,\), got \(3,\)",
        ),
        (
            lambda: conv2d(X, np.zeros((6, 3, 3, 1))),
            r"conv2d: the window \(6, 3\).*larger than the padded input \(5, 5\)",
        ),
        (
            lambda: depthwise_conv2d(X, K, dilation_rate=3),
            r"depthwise_conv2d: the window \(7, 7\).*larger than the padded input",
        ),
        (lambda: conv2d(X, K, strides=0), r"conv2d: strides must be positive, got 0"),
        (
            lambda: depthwise_conv2d(X, K, dilation_rate=(1, -1)),
            r"depthwise_conv2d: dilation_rate must be positive, got \(1, -1\)",
        ),
        (lambda: conv2d(X, K, strides=(1, 2, 3)), r"conv2d: strides must be an int or a pair"),
        (
            lambda: separable_conv2d(X, K, P, strides=2, dilation_rate=2),
            r"separable_conv2d: strides > 1 together with dilation_rate > 1.*\(2, 2\)",
        ),
        (lambda: conv2d(X, K, padding="full"), r"conv2d: padding must be 'valid' or 'same', got"),
        (
            lambda: pool2d(X, 2, data_format="NHWC"),
            r"pool2d: data_format must be 'channels_last' or 'channels_first', got 'NHWC'",
        ),
        (lambda: pool2d(X, 2, pool_mode="min"), r"pool2d: pool_mode must be 'max' or 'avg'"),
        (lambda: pool2d(X, 6), r"pool2d: the window \(6, 6\).*larger than the padded input"),
        (lambda: pool2d(np.zeros((5, 5)), 2), r"pool2d: x must have rank 4"),
        (lambda: bias_add(X, np.zeros(4)), r"bias_add: bias.shape\[0\] must be 3.*got 4"),
        (lambda: bias_add(X, np.zeros((3, 1))), r"bias_add: bias must have rank 1"),
        (lambda: bias_add(np.zeros(3), np.zeros(3)), r"bias_add: x must have rank 2 or more"),
    ],
)
def test_bad_arguments_raise_value_error_naming_op_and_values(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_same_padding_allows_a_kernel_larger_than_the_input():
    # 'same' pads the input up to the window, so this is legal (as in Keras/TensorFlow).
    out = conv2d(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1)), padding="same")
    np.testing.assert_allclose(out.numpy()[0, :, :, 0], [[4, 4], [4, 4]])
