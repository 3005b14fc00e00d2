"""Higher-order reverse mode (issue 13): nested tapes, every op under gradgradcheck, Jacobians,
the function transforms, the tape of a derivative, and the errors.

Everything is float64 and checked against central finite differences (or closed forms); the
shapes of the op checks are drawn by Hypothesis (few examples: each is a full second-order check).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from minikeras import backend as K
from minikeras.autograd import (
    Function,
    GradcheckError,
    GradientTape,
    Tensor,
    Variable,
    grad,
    gradcheck,
    gradgradcheck,
    hessian,
    jacrev,
    ops,
    value_and_grad,
    vjp,
)
from minikeras.autograd.ops import fused
from minikeras.autograd.ops import losses as loss_ops
from minikeras.autograd.ops.conv import SeparableConv2DRelu
from minikeras.kernels.padding import explicit_pads
from minikeras.utils.tape_plot import tape_to_dot

SETTINGS = settings(deadline=None, max_examples=8, derandomize=True)


def rand(seed: int, shape: tuple, low: float | None = None) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(shape)
    return x if low is None else np.abs(x) + low


# ------------------------------------------------------------------------ nested tapes


def test_the_issue_example_second_derivative_of_a_cube():
    x = Variable(np.array(2.0))
    with GradientTape() as outer:
        with GradientTape() as inner:
            y = x * x * x
        dy = inner.gradient(y, x)
    assert isinstance(dy, Tensor) and float(dy) == 12.0  # 3 x²
    assert float(outer.gradient(dy, x)) == 12.0  # 6 x


def test_third_derivative_of_tanh_with_tapes_three_deep():
    x0 = np.array([-1.3, -0.2, 0.0, 0.4, 2.1])
    x = Tensor(x0)
    with GradientTape() as t3:
        t3.watch(x)
        with GradientTape() as t2:
            t2.watch(x)
            with GradientTape() as t1:
                t1.watch(x)
                y = ops.tanh(x)
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t3.gradient(d2, x)
    t = np.tanh(x0)
    np.testing.assert_allclose(d1, 1 - t**2, rtol=1e-13)
    np.testing.assert_allclose(d2, -2 * t * (1 - t**2), rtol=1e-13)
    np.testing.assert_allclose(d3, (1 - t**2) * (6 * t**2 - 2), rtol=1e-12, atol=1e-15)


def test_fourth_derivative_through_the_transforms():
    f = grad(grad(grad(grad(lambda x: x ** 5))))
    np.testing.assert_allclose(f(np.array(1.5)), 120 * 1.5, rtol=1e-12)  # d⁴ x⁵ = 120 x


def test_persistent_tapes_answer_several_second_order_calls():
    a0, b0 = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.3, -0.7])
    a, b = Tensor(a0), Tensor(b0)
    with GradientTape(persistent=True) as outer:
        outer.watch([a, b])
        with GradientTape(persistent=True) as inner:
            inner.watch([a, b])
            y = (a * a * b + ops.exp(a * b)).sum()
        ga, gb = inner.gradient(y, [a, b])
        ga2 = inner.gradient(y, a)  # the inner tape answers twice, both recorded
    e = np.exp(a0 * b0)
    np.testing.assert_allclose(outer.gradient(ga, a), 2 * b0 + b0**2 * e)  # d²y/da²
    np.testing.assert_allclose(outer.gradient(ga, b), 2 * a0 + e + a0 * b0 * e)  # d²y/dadb
    np.testing.assert_allclose(outer.gradient(gb, a), 2 * a0 + e + a0 * b0 * e)
    np.testing.assert_allclose(outer.gradient(gb, b), a0**2 * e)  # d²y/db²
    np.testing.assert_allclose(outer.gradient(ga2, a), outer.gradient(ga, a))


def test_first_order_records_nothing_and_returns_plain_tensors():
    x = Variable(np.array([1.0, 2.0]))
    with GradientTape() as tape:
        y = (x * x).sum()
    g = tape.gradient(y, x)
    assert isinstance(g, Tensor) and g.op is None and isinstance(g.numpy(), np.ndarray)
    # an open tape that watches nothing involved records nothing either (the array sweep;
    # it would watch the trainable x on first read, as TensorFlow's tapes do, unless told not to)
    other = Tensor(np.ones(2))
    with GradientTape(persistent=True, watch_accessed_variables=False) as bystander:
        bystander.watch(other)
        with GradientTape() as tape:
            y = (x * x).sum()
        tape.gradient(y, x)
    assert len(bystander) == 0


def test_gradient_inside_its_own_tape_is_recorded_on_it_as_in_tensorflow():
    x = Tensor(np.array(3.0))
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x * x
        dy = tape.gradient(y, x)
    np.testing.assert_allclose(tape.gradient(dy, x), 18.0)


def test_a_seed_tensor_is_differentiated_through():
    # d/dv of vᵀ J(x): the incoming gradient is an input of the recorded backward
    x, v = Tensor(np.array([1.0, 2.0])), Tensor(np.array([3.0, -1.0]))
    with GradientTape() as outer:
        outer.watch(v)
        with GradientTape() as inner:
            inner.watch(x)
            y = x * x
        s = inner.gradient(y, x, output_gradients=v).sum()
    np.testing.assert_allclose(outer.gradient(s, v), [2.0, 4.0])


# ------------------------------------------------------------------------ every op

ELEMENTWISE = {
    "add": (lambda a, b: (a + b) * a, 2, None),
    "subtract": (lambda a, b: (a - b) * b, 2, None),
    "multiply": (lambda a, b: a * b, 2, None),
    "divide": (lambda a, b: a / b, 2, 0.5),
    "power": (lambda a, b: a ** b, 2, 0.5),
    "negative": (lambda a: -(a * a), 1, None),
    "maximum": (lambda a, b: ops.maximum(a * a, b * a), 2, None),
    "minimum": (lambda a, b: ops.minimum(a * a, b * a), 2, None),
    "where": (lambda a, b: ops.where(a.numpy() > 0, a * a, b * a), 2, None),
    "cast": (lambda a: ops.cast(a * a, np.float64), 1, None),
    "exp": (ops.exp, 1, None),
    "log": (ops.log, 1, 0.5),
    "log1p": (ops.log1p, 1, 0.5),
    "sqrt": (ops.sqrt, 1, 0.5),
    "square": (ops.square, 1, None),
    "abs": (lambda a: ops.abs(a) * a, 1, 0.1),
    "sign": (lambda a: ops.sign(a) * a * a, 1, 0.1),
    "clip": (lambda a: ops.clip(a * a, 0.3, 1.5), 1, None),
    "tanh": (ops.tanh, 1, None),
    "sigmoid": (ops.sigmoid, 1, None),
    "relu": (lambda a: ops.relu(a) * a, 1, None),
    "relu6": (lambda a: ops.relu6(a * 3) * a, 1, None),
    "leaky_relu": (lambda a: ops.leaky_relu(a) * a, 1, None),
    "elu": (ops.elu, 1, None),
    "selu": (ops.selu, 1, None),
    "softplus": (ops.softplus, 1, None),
    "softsign": (ops.softsign, 1, None),
    "hard_sigmoid": (lambda a: ops.hard_sigmoid(a) * a, 1, None),
}


def _away_from_kinks(x: np.ndarray) -> np.ndarray:
    """Keep points off the kinks of relu & co (0, ±2.5, 6, clip bounds): finite differences."""
    x = np.where(np.abs(x) < 0.05, 0.3, x)
    for k in (2.5, 6.0, np.sqrt(0.3), np.sqrt(1.5)):
        x = np.where(np.abs(np.abs(x) - k) < 0.05, k + 0.2, x)
    return x


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@SETTINGS
@given(shape=array_shapes(min_dims=0, max_dims=3, max_side=3), seed=st.integers(0, 99))
def test_elementwise_and_activation_second_derivatives(name, shape, seed):
    fn, arity, low = ELEMENTWISE[name]
    inputs = [_away_from_kinks(rand(seed + i, shape, low)) for i in range(arity)]
    assert gradgradcheck(fn, inputs)


def test_broadcasting_binary_ops_second_derivatives():
    a, b = rand(0, (2, 1, 3)), rand(1, (4, 1), 0.5)
    assert gradgradcheck(lambda x, y: x * y * x, [a, b])
    assert gradgradcheck(lambda x, y: x / y + y ** x, [np.abs(a) + 0.5, b])


REDUCTIONS = {
    "sum": lambda x, axis, keep: ops.sum(x * x, axis, keep),
    "mean": lambda x, axis, keep: ops.mean(x * x, axis, keep),
    "max": lambda x, axis, keep: ops.max(x * x, axis, keep),
    "min": lambda x, axis, keep: ops.min(x * x, axis, keep),
    "var": lambda x, axis, keep: ops.var(x, axis, keep),
    "std": lambda x, axis, keep: ops.std(x, axis, keep),
    "softmax": lambda x, axis, keep: ops.softmax(x, axis if axis is not None else -1) * x,
    "log_softmax": lambda x, axis, keep: ops.log_softmax(x, axis if axis is not None else -1) * x,
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=3),
       seed=st.integers(0, 99), keep=st.booleans(), data=st.data())
def test_reduction_second_derivatives(name, shape, seed, keep, data):
    axis = data.draw(st.none() | st.integers(0, len(shape) - 1), label="axis")
    assert gradgradcheck(lambda x: REDUCTIONS[name](x, axis, keep), [rand(seed, shape)])


SHAPE_OPS = {
    "reshape": lambda x: ops.reshape(x * x, (-1,)),
    "transpose": lambda x: ops.transpose(x * x, tuple(reversed(range(x.ndim)))),
    "swapaxes": lambda x: ops.swapaxes(x * x, 0, -1),
    "expand_squeeze": lambda x: ops.squeeze(ops.expand_dims(x * x, 0), 0),
    "broadcast_to": lambda x: ops.broadcast_to(x * x, (2, *x.shape)),
    "getitem_slice": lambda x: (x * x)[1:, ...],
    "getitem_repeat": lambda x: (x * x)[np.array([0, 0, 1])],
    "getitem_mask": lambda x: (x * x)[x.numpy() > 0],
    "concatenate": lambda x: ops.concatenate([x * x, x], axis=0),
    "stack": lambda x: ops.stack([x * x, x], axis=1),
    "split": lambda x: ops.split(x * x, 2, axis=0)[1] * x[:1],
    "pad": lambda x: ops.pad(x * x, [(1, 0)] + [(0, 2)] * (x.ndim - 1)),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
@SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=3),
       seed=st.integers(0, 99))
def test_shape_op_second_derivatives(name, shape, seed):
    shape = (2, *shape[1:])  # split in two along axis 0
    assert gradgradcheck(SHAPE_OPS[name], [rand(seed, shape)])


@SETTINGS
@given(m=st.integers(1, 3), k=st.integers(1, 3), n=st.integers(1, 3),
       batch=st.sampled_from([(), (2,)]), seed=st.integers(0, 99))
def test_matmul_and_dot_second_derivatives(m, k, n, batch, seed):
    a, b = rand(seed, (*batch, m, k)), rand(seed + 1, (k, n))
    assert gradgradcheck(lambda x, y: ops.matmul(x * x, y * x.sum()), [a, b])
    assert gradgradcheck(lambda x, y: ops.matmul(x, y) * ops.matmul(x, y), [a, b])
    v = rand(seed + 2, (k,))
    assert gradgradcheck(lambda x, y: ops.matmul(x * x, y) * y.sum(), [a, v])  # matrix-vector
    assert gradgradcheck(lambda x, y: ops.matmul(x * x, y) * y.sum(), [v, b])  # vector-matrix
    assert gradgradcheck(lambda x, y: ops.matmul(x, y * x), [v, v])  # inner product
    t = rand(seed + 3, (2, k, n))
    assert gradgradcheck(lambda x, y: ops.dot(x * x, y * y), [a, t])  # tensordot form


# ------------------------------------------------------------------------ kernels

conv_settings = settings(deadline=None, max_examples=6, derandomize=True)
FORMATS = ["channels_last", "channels_first"]


def _image(seed: int, n: int, h: int, w: int, c: int, data_format: str) -> np.ndarray:
    x = rand(seed, (n, h, w, c))
    return x if data_format == "channels_last" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@st.composite
def conv_cases(draw):
    """A tiny conv problem whose dilated kernel fits the input for either padding."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    h = draw(st.integers((kh - 1) * dil[0] + 1, (kh - 1) * dil[0] + 3))
    w = draw(st.integers((kw - 1) * dil[1] + 1, (kw - 1) * dil[1] + 3))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if strides != (1, 1):
        dil = (1, 1)  # Keras: strides and dilation are not both > 1
    return {"kh": kh, "kw": kw, "h": h, "w": w, "strides": strides, "dilation": dil,
            "padding": draw(st.sampled_from(["valid", "same"])),
            "c": draw(st.integers(1, 2)), "n": draw(st.integers(1, 2)),
            "seed": draw(st.integers(0, 99))}


@pytest.mark.parametrize("data_format", FORMATS)
@conv_settings
@given(case=conv_cases(), filters=st.integers(1, 2))
def test_conv2d_second_derivatives(data_format, case, filters):
    x = _image(case["seed"], case["n"], case["h"], case["w"], case["c"], data_format)
    k = rand(case["seed"] + 1, (case["kh"], case["kw"], case["c"], filters))
    kw = dict(strides=case["strides"], padding=case["padding"], data_format=data_format,
              dilation_rate=case["dilation"])
    # squares make the second derivatives in x and in the kernel non-zero
    assert gradgradcheck(lambda a, b: K.conv2d(a * a, b * b, **kw), [x, k])


@pytest.mark.parametrize("data_format", FORMATS)
@conv_settings
@given(case=conv_cases(), dm=st.integers(1, 2))
def test_depthwise_conv2d_second_derivatives(data_format, case, dm):
    x = _image(case["seed"], case["n"], case["h"], case["w"], case["c"], data_format)
    k = rand(case["seed"] + 1, (case["kh"], case["kw"], case["c"], dm))
    kw = dict(strides=case["strides"], padding=case["padding"], data_format=data_format,
              dilation_rate=case["dilation"])
    assert gradgradcheck(lambda a, b: K.depthwise_conv2d(a * a, b * b, **kw), [x, k])


@pytest.mark.parametrize("data_format", FORMATS)
@conv_settings
@given(case=conv_cases(), dm=st.integers(1, 2), filters=st.integers(1, 2),
       use_bias=st.booleans())
def test_separable_conv2d_second_derivatives(data_format, case, dm, filters, use_bias):
    c = case["c"]
    x = _image(case["seed"], case["n"], case["h"], case["w"], c, data_format)
    d = rand(case["seed"] + 1, (case["kh"], case["kw"], c, dm))
    p = rand(case["seed"] + 2, (1, 1, c * dm, filters))
    b = rand(case["seed"] + 3, (filters,))
    kw = dict(strides=case["strides"], padding=case["padding"], data_format=data_format,
              dilation_rate=case["dilation"])
    if use_bias:
        def f(a, dk, pk, bias):
            return K.separable_conv2d(a * a, dk, pk * pk, bias=bias * bias, **kw) * a.sum()
        assert gradgradcheck(f, [x, d, p, b])
    else:
        assert gradgradcheck(lambda a, dk, pk: K.separable_conv2d(a * a, dk * dk, pk, **kw),
                             [x, d, p])


@pytest.mark.parametrize("data_format", FORMATS)
@conv_settings
@given(case=conv_cases(), dm=st.integers(1, 2), filters=st.integers(1, 2))
def test_separable_conv2d_relu_op_first_and_second_derivatives(data_format, case, dm, filters):
    # The op with the ReLU fused (predict runs it; K.separable_conv2d keeps a separate Relu under
    # a tape): its backward masks by the output, its composite ends in a Relu op.
    c = case["c"]
    x = _image(case["seed"], case["n"], case["h"], case["w"], c, data_format)
    d = rand(case["seed"] + 1, (case["kh"], case["kw"], c, dm))
    p = rand(case["seed"] + 2, (1, 1, c * dm, filters))
    b = rand(case["seed"] + 3, (filters,))
    hw = x.shape[1:3] if data_format == "channels_last" else x.shape[2:]
    pads = explicit_pads(case["padding"], hw, (case["kh"], case["kw"]), case["strides"],
                         case["dilation"])
    args = dict(strides=case["strides"], dilation=case["dilation"], pads=pads,
                data_format=data_format)

    def f(a, dk, pk, bias):
        return SeparableConv2DRelu.apply(a * a, dk, pk * pk, bias, relu=True, **args) * a.sum()

    assert gradcheck(f, [x, d, p, b])
    assert gradgradcheck(f, [x, d, p, b])


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("mode", ["max", "avg"])
@conv_settings
@given(case=conv_cases())
def test_pooling_second_derivatives(data_format, mode, case):
    x = _image(case["seed"], case["n"], case["h"], case["w"], case["c"], data_format)
    # distinct values, so no window has a tie the finite differences could flip
    x = x + np.arange(x.size).reshape(x.shape) * 1e-2
    kw = dict(strides=case["strides"], padding=case["padding"], data_format=data_format,
              pool_mode=mode, dilation_rate=case["dilation"])
    assert gradgradcheck(lambda a: K.pool2d(a * a, (case["kh"], case["kw"]), **kw) * a.sum(),
                         [x])


@pytest.mark.parametrize("data_format", FORMATS)
def test_bias_add_second_derivatives(data_format):
    x = _image(0, 2, 3, 2, 3, data_format)
    assert gradgradcheck(lambda a, b: K.bias_add(a * a, b * b, data_format=data_format),
                         [x, rand(1, (3,))])


@pytest.mark.parametrize("data_format", FORMATS)
def test_third_order_runs_the_gradient_ops_own_recorded_backward(data_format):
    # gradgradcheck of a function that is itself a gradient: third derivatives, where the
    # gradient ops (ConvGradInput/Kernel, the pooling scatter/gather, GetItemGrad) are
    # differentiated through their differentiable_backward
    x = _image(0, 1, 4, 4, 2, data_format)
    x = x + np.arange(x.size).reshape(x.shape) * 1e-2  # no ties in the max pooling
    k, d = rand(1, (2, 2, 2, 2)), rand(2, (2, 2, 2, 1))
    kw = dict(padding="same", data_format=data_format)

    def conv_grad(a, b):
        return grad(lambda u: (K.conv2d(u * u, b * b, strides=(2, 1), **kw) ** 2).sum())(a)

    def depthwise_grad(a, b):
        return grad(lambda u: (K.depthwise_conv2d(u * u, b * b, **kw) ** 2).sum())(a)

    def pool_grad(a):
        def f(u):
            p = K.pool2d(u * u, (2, 2), strides=(1, 1), **kw)
            q = K.pool2d(u * u, (2, 2), strides=(2, 2), pool_mode="avg", **kw)
            return (p * p).sum() + (q * q * q).sum()
        return grad(f)(a)

    def conv_kernel_grad(a, b):
        return grad(lambda w: (K.conv2d(a * a, w * w, dilation_rate=(2, 1), **kw) ** 2).sum())(b)

    def pool_grad_of_grad(a):  # fourth order: the scatter's gather's scatter
        def inner(u):
            return (K.pool2d(u * u * u, (2, 2), strides=(1, 1), **kw) ** 2).sum()
        return grad(lambda u: (grad(inner)(u) ** 2).sum())(a)

    assert gradgradcheck(conv_grad, [x, k])
    assert gradgradcheck(conv_kernel_grad, [x, k])
    assert gradgradcheck(pool_grad_of_grad, [x])
    assert gradgradcheck(depthwise_grad, [x, d])
    assert gradgradcheck(pool_grad, [x])
    assert gradgradcheck(lambda a: grad(lambda u: ((u * u)[np.array([0, 0])] ** 2).sum())(a),
                         [rand(3, (2, 3))])


# ------------------------------------------------------------------------ fused ops


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("bias", [False, True])
@SETTINGS
@given(lead=array_shapes(min_dims=1, max_dims=2, max_side=3), n_in=st.integers(1, 4),
       n_out=st.integers(1, 3), seed=st.integers(0, 99))
def test_fused_dense_second_derivatives(relu, bias, lead, n_in, n_out, seed):
    x, k, b = rand(seed, (*lead, n_in)), rand(seed + 1, (n_in, n_out)), rand(seed + 2, (n_out,))
    x = _away_from_kinks(x)
    if bias:
        assert gradgradcheck(
            lambda a, w, c: fused.DenseOp.apply(a, w * w, c * c, relu=relu) * a[..., :1], [x, k, b])
    else:
        assert gradgradcheck(
            lambda a, w: fused.DenseOp.apply(a * a, w * w, relu=relu) * a[..., :1], [x, k])


@pytest.mark.parametrize("batch_stats", [True, False])
@SETTINGS
@given(shape=array_shapes(min_dims=2, max_dims=3, min_side=2, max_side=3),
       seed=st.integers(0, 99))
def test_fused_batch_norm_second_derivatives(batch_stats, shape, seed):
    axes = tuple(range(len(shape) - 1))  # the channel axis last, as the layer's default
    channels = shape[-1]
    bshape = [1] * (len(shape) - 1) + [channels]
    x, gamma, beta = rand(seed, shape), rand(seed + 1, (channels,), 1.0), rand(seed + 2,
                                                                              (channels,))
    moving_mean, moving_var = rand(seed + 3, bshape), rand(seed + 4, bshape, 0.5)

    def bn(a, g, b):
        # as the layer does: with batch statistics, they are x's own (recomputed from x)
        mean = a.numpy().mean(axes, keepdims=True) if batch_stats else moving_mean
        var = a.numpy().var(axes, keepdims=True) if batch_stats else moving_var
        out = fused.BatchNorm.apply(a, g, b, mean=mean, var=var, axes=axes, bshape=bshape,
                                    eps=1e-3, batch_stats=batch_stats)
        return out * out

    assert gradgradcheck(bn, [x, gamma, beta])


LOSSES = {
    "mse": (lambda p, t, labels: loss_ops.SquaredError.apply(p * p, t), "z"),
    "mae": (lambda p, t, labels: loss_ops.AbsoluteError.apply(p * p, t), "z"),
    "bce": (lambda p, t, labels: loss_ops.BinaryCrossentropy.apply(p, t, eps=1e-7), "p"),
    "bce_logits": (lambda p, t, labels: loss_ops.BinaryCrossentropyLogits.apply(p, t), "z"),
    "cce": (lambda p, t, labels: loss_ops.CategoricalCrossentropy.apply(p, t, eps=1e-7), "p"),
    "cce_logits": (lambda p, t, labels: loss_ops.CategoricalCrossentropyLogits.apply(p, t), "z"),
    "scce": (lambda p, t, labels: loss_ops.SparseCategoricalCrossentropy.apply(
        p, labels=labels, eps=1e-7), "p"),
    "scce_logits": (lambda p, t, labels: loss_ops.SparseCategoricalCrossentropyLogits.apply(
        p, labels=labels), "z"),
    "scce_mean": (lambda p, t, labels: loss_ops.SparseCategoricalCrossentropyMean.apply(
        p, labels=labels, eps=1e-7), "p"),
    "scce_logits_weighted_mean": (
        lambda p, t, labels: loss_ops.SparseCategoricalCrossentropyLogitsMean.apply(
            p, labels=labels, weights=np.arange(labels.shape[0]) % 3 * 1.0), "z"),
}
_TARGET_ARG = {"mse", "mae", "bce", "bce_logits", "cce", "cce_logits"}


@pytest.mark.parametrize("name", sorted(LOSSES))
@SETTINGS
@given(batch=st.integers(1, 3), classes=st.integers(2, 4), seed=st.integers(0, 99))
def test_fused_loss_second_derivatives(name, batch, classes, seed):
    fn, kind = LOSSES[name]
    rng = np.random.default_rng(seed)
    pred = rng.uniform(0.1, 0.9, (batch, classes)) if kind == "p" else \
        rng.standard_normal((batch, classes))
    target = rng.uniform(0.0, 1.0, (batch, classes))
    labels = rng.integers(0, classes, batch)
    if name == "mae":  # |p² - t| has a kink where p² = t
        target = np.where(np.abs(pred * pred - target) < 0.05, target + 0.2, target)
    if name in _TARGET_ARG:  # the target is differentiated too
        assert gradgradcheck(lambda p, t: fn(p, t, labels), [pred, target])
    else:
        assert gradgradcheck(lambda p: fn(p, None, labels), [pred])


# ------------------------------------------------------------------------ the checker


class _CubeWrongSecondOrder(Function):
    """``x³`` with a right first derivative and a wrong recorded one (2x² instead of 3x²)."""

    def forward(self, ctx, x):
        ctx.save(x)
        return x * x * x

    def backward(self, ctx, grad):
        (x,) = ctx.saved
        return (3 * x * x * grad,)

    def differentiable_backward(self, ctx, grad, record):
        (x,) = record.inputs
        return (2 * x * x * grad,)


def test_gradgradcheck_catches_a_wrong_second_derivative():
    def cube(t):
        return _CubeWrongSecondOrder.apply(t)

    x = np.array([0.5, -1.5, 2.0])
    with pytest.raises(GradcheckError,
                       match=r"gradgradcheck: .*cube.*gradient for input 0.*disagrees at index"):
        gradgradcheck(cube, [x])
    assert gradgradcheck(cube, [x], raise_exception=False) is False
    assert gradgradcheck(lambda t: t * t * t, [x])


def test_an_op_that_saved_a_derived_array_says_what_it_needs():
    class Derived(Function):
        def forward(self, ctx, x):
            ctx.save(np.cos(x))
            return np.sin(x)

        def backward(self, ctx, grad):
            return (grad * ctx.saved[0],)

    x = Tensor(np.array([0.1, 0.2]))
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = Derived.apply(x)
        with pytest.raises(NotImplementedError, match="Derived: .*neither an input nor the "
                                                      "output.*differentiable_backward"):
            inner.gradient(y, x)


# ------------------------------------------------------------------------ Jacobians


def _numeric_jacobian(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    out = np.asarray(f(Tensor(x)))
    jac = np.zeros(out.shape + x.shape)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        jac[(...,) + i] = (np.asarray(f(Tensor(up))) - np.asarray(f(Tensor(down)))) / (2 * eps)
    return jac


def _f_vec(x):
    return ops.tanh(ops.matmul(x, x.T)).sum(axis=1) * x[:, 0]


def test_jacobian_matches_finite_differences():
    x0 = rand(0, (3, 2))
    x = Tensor(x0)
    with GradientTape() as tape:
        tape.watch(x)
        y = _f_vec(x)
    jac = tape.jacobian(y, x)
    assert jac.shape == (3, 3, 2)
    np.testing.assert_allclose(jac, _numeric_jacobian(_f_vec, x0), rtol=1e-6, atol=1e-8)


def test_jacobian_structures_and_unconnected_sources():
    a, b, c = Tensor(rand(0, (2,))), Tensor(rand(1, (3,))), Tensor(rand(2, (2,)))
    with GradientTape(persistent=True) as tape:
        tape.watch([a, b, c])
        y = a * b.sum()
    jac = tape.jacobian(y, {"a": a, "b": b, "c": c})
    np.testing.assert_allclose(jac["a"], np.diag(np.full(2, b.numpy().sum())))
    np.testing.assert_allclose(jac["b"], np.repeat(a.numpy()[:, None], 3, axis=1))
    assert jac["c"] is None
    zero = tape.jacobian(y, [c], unconnected_gradients="zero")[0]
    assert zero.shape == (2, 2) and not zero.numpy().any()


def test_jacobian_on_a_non_persistent_tape_frees_it_afterwards():
    x = Tensor(rand(0, (3,)))
    with GradientTape() as tape:
        tape.watch(x)
        y = x * x
    np.testing.assert_allclose(tape.jacobian(y, x), np.diag(2 * x.numpy()))
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.gradient(y, x)


def test_batch_jacobian_matches_per_example_jacobians():
    x0 = rand(0, (4, 3))
    w = rand(1, (3, 2))
    x = Tensor(x0)
    with GradientTape() as tape:
        tape.watch(x)
        y = ops.tanh(ops.matmul(x * x, w))
    bj = tape.batch_jacobian(y, x)
    assert bj.shape == (4, 2, 3)
    for b in range(4):
        expected = _numeric_jacobian(lambda t: ops.tanh(ops.matmul(t * t, w)), x0[b:b + 1])
        np.testing.assert_allclose(bj.numpy()[b], expected[0, :, 0, :], rtol=1e-6, atol=1e-8)
    with GradientTape() as tape:
        tape.watch(x)
        y = x[:2]
    with pytest.raises(ValueError, match="same batch size"):
        tape.batch_jacobian(y, x)


def test_a_huge_jacobian_is_refused_with_its_cost():
    x = Tensor(np.zeros(20_000, dtype=np.float32))
    with GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0
    with pytest.raises(ValueError, match=r"400,000,000 entries \(1\.49 GiB of float32\) and "
                                         r"takes 20,000 reverse sweeps.*max_elements"):
        tape.jacobian(y, x)


def test_hessian_of_a_jacobian_by_nested_tapes_and_by_the_transform():
    def f(x):
        return (ops.exp(x[0] * x[1]) + x[2] ** 3 * x[0]).sum()

    x0 = np.array([0.3, -0.8, 1.2])
    h = hessian(f)(x0)
    numeric = _numeric_jacobian(lambda t: grad(f)(t), x0)
    np.testing.assert_allclose(h, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(h, h.numpy().T, rtol=1e-12)
    # the same with tapes: the Jacobian of a recorded gradient
    x = Tensor(x0)
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        g = inner.gradient(y, x)
    np.testing.assert_allclose(outer.jacobian(g, x), h, rtol=1e-12)
    with pytest.raises(TypeError, match="hessian: argnums must be one int"):
        hessian(f, argnums=(0,))(x0)


# ------------------------------------------------------------------------ transforms


def test_grad_value_and_grad_argnums():
    def f(x, y):
        return (x * x * y).sum()

    x0, y0 = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_allclose(grad(f)(x0, y0), 2 * x0 * y0)
    np.testing.assert_allclose(grad(f, argnums=1)(x0, y0), x0 * x0)
    value, (gx, gy) = value_and_grad(f, argnums=(0, 1))(x0, y0)
    assert float(value) == pytest.approx(-1.0)
    np.testing.assert_allclose(gx, 2 * x0 * y0)
    np.testing.assert_allclose(gy, x0 * x0)
    with pytest.raises(TypeError, match="must return a scalar.*jacrev"):
        grad(lambda x: x * x)(x0)
    with pytest.raises(ValueError, match="argnums 2"):
        grad(f, argnums=2)(x0, y0)
    # x unused: zero gradient (y is passed on as given: an array, so use ops on it)
    np.testing.assert_allclose(grad(lambda x, y: ops.sum(y * y))(x0, y0), [0.0, 0.0])


def test_vjp_can_be_called_several_times():
    out, vjp_fn = vjp(lambda x, y: x * y, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_allclose(out, [3.0, 8.0])
    gx, gy = vjp_fn(np.array([1.0, 0.0]))
    np.testing.assert_allclose(gx, [3.0, 0.0])
    np.testing.assert_allclose(gy, [1.0, 0.0])
    gx, _ = vjp_fn(np.array([0.0, 2.0]))
    np.testing.assert_allclose(gx, [0.0, 8.0])
    with pytest.raises(ValueError, match=r"cotangent must have the output's shape \(2,\)"):
        vjp_fn(np.ones(3))


def test_jacrev_matches_finite_differences():
    x0 = rand(0, (3, 2))
    np.testing.assert_allclose(jacrev(_f_vec)(x0), _numeric_jacobian(_f_vec, x0),
                               rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------ a model


def _small_model():
    from minikeras import Input, Model
    from minikeras.layers import Dense, Flatten, SeparableConv2D

    inp = Input((5, 5, 2))
    h = SeparableConv2D(3, 3, padding="same", activation="tanh", depth_multiplier=2)(inp)
    h = Flatten()(h)
    out = Dense(4, activation="tanh")(h)
    out = Dense(1)(out)
    return Model(inp, out)


@pytest.fixture
def float64_layers():
    previous = K.floatx()
    K.set_floatx("float64")
    yield
    K.set_floatx(previous)


def test_model_hessian_vector_product_matches_finite_differences_of_gradients(float64_layers):
    model = _small_model()
    weights = model.trainable_weights
    assert all(w.dtype == np.float64 for w in weights)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 5, 2))
    target = rng.standard_normal((3, 1))
    v = [rng.standard_normal(w.shape) for w in weights]

    def grads_at() -> list[np.ndarray]:
        with GradientTape() as tape:
            loss = ((model(x) - target) ** 2).mean()
        return [g.numpy() for g in tape.gradient(loss, weights)]

    # double backward: H v = d/dw <grad(w), v>
    with GradientTape() as outer:
        with GradientTape() as inner:
            loss = ((model(x) - target) ** 2).mean()
        g = inner.gradient(loss, weights)
        dot = sum((gi * vi).sum() for gi, vi in zip(g, v))
    hv = outer.gradient(dot, weights)

    eps = 1e-6
    for w, vi in zip(weights, v):
        w.assign(w.numpy() + eps * vi)
    up = grads_at()
    for w, vi in zip(weights, v):
        w.assign(w.numpy() - 2 * eps * vi)
    down = grads_at()
    for w, vi in zip(weights, v):
        w.assign(w.numpy() + eps * vi)
    for w, h, a, b in zip(weights, hv, up, down):
        np.testing.assert_allclose(h, (a - b) / (2 * eps), rtol=1e-5, atol=1e-7,
                                   err_msg=w.name)


def test_separable_conv2d_second_order_against_pytorch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(0)
    n, h, w, c, dm, filters = 2, 6, 5, 3, 2, 4
    x0 = rng.standard_normal((n, c, h, w))  # channels_first, as torch
    d0 = rng.standard_normal((3, 2, c, dm))
    p0 = rng.standard_normal((1, 1, c * dm, filters))
    b0 = rng.standard_normal(filters)
    v0 = rng.standard_normal((n, c, h, w))
    strides, dilation = (2, 1), (1, 1)

    # PyTorch: depthwise = grouped conv, weight[c*dm + m, 0] = d[:, :, c, m]
    xt, dt, pt, bt = (torch.tensor(a, requires_grad=True) for a in (x0, d0, p0, b0))
    wd = dt.permute(2, 3, 0, 1).reshape(c * dm, 1, 3, 2)
    wp = pt[0, 0].T[:, :, None, None]
    yt = tf.conv2d(tf.conv2d(xt, wd, stride=strides, dilation=dilation, groups=c), wp, bt)
    loss_t = (yt * yt).sum()
    gx_t, = torch.autograd.grad(loss_t, xt, create_graph=True)
    s_t = (gx_t * torch.tensor(v0)).sum()
    expected = torch.autograd.grad(s_t, (xt, dt, pt, bt))

    x, d, p, b = (Tensor(a) for a in (x0, d0, p0, b0))
    with GradientTape() as outer:
        outer.watch([x, d, p, b])
        with GradientTape() as inner:
            inner.watch(x)
            y = K.separable_conv2d(x, d, p, strides=strides, data_format="channels_first",
                                   dilation_rate=dilation, bias=b)
            loss = (y * y).sum()
        gx = inner.gradient(loss, x)
        s = (gx * v0).sum()
    got = outer.gradient(s, [x, d, p, b])
    np.testing.assert_allclose(gx, gx_t.detach().numpy(), rtol=1e-10, atol=1e-10)
    for name, g, e in zip("xdpb", got, expected):
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-9, atol=1e-9, err_msg=name)


# ------------------------------------------------------------------------ drawing, errors


def test_the_tape_of_a_derivative_can_be_drawn():
    x = Variable(np.array(1.5), name="x")
    with GradientTape() as outer:
        with GradientTape() as inner:
            y = ops.tanh(x)
        dy = inner.gradient(y, x)
    dot = tape_to_dot(outer, target=dy).source
    # the derivative 1 - tanh² is on the outer tape: the backward's own ops, drawn
    assert "Tanh" in dot and "Multiply" in dot and "Subtract" in dot
    ops_drawn = [line for line in dot.splitlines() if "] Multiply" in line or "] Subtract" in line]
    assert len(ops_drawn) >= 2


def test_a_gradient_of_something_not_on_the_tape_says_what_to_do():
    x = Variable(np.array(2.0), name="x")
    with GradientTape() as inner:
        y = x * x * x
    dy = inner.gradient(y, x)  # taken outside any outer tape: nothing recorded it
    with GradientTape() as outer:
        z = x * 2.0
    with pytest.raises(ValueError, match=r"target \(shape \(\), made by no op\) was not computed "
                                         r"on this tape.*%\d+.*inside the outer tape's `with`"):
        outer.gradient(dy, x)
    named = Tensor(np.array(1.0), name="loss")
    with pytest.raises(ValueError, match="tensor 'loss'"):
        outer.gradient(named, x)
    assert z is not None
