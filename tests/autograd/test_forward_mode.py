"""Forward mode: every op's jvp under jvpcheck (finite differences and reverse mode), in float64.

Shapes come from Hypothesis; values from a seeded generator, kept off each op's kinks (as in
test_autograd_ops). ``jvpcheck`` gives every input its own random tangent and compares the
forward-mode tangent of the output with central differences and with the tape's Jacobian.
Then: ``jacfwd`` and ``jvp``, nesting with tapes, bad input, the checker catching wrong rules,
and the no-accumulator path.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes
from op_cases import nonscalar, pairs, seeds, shapes, values

from minikeras.autograd import (
    ForwardAccumulator,
    Function,
    GradcheckError,
    GradientTape,
    Tensor,
    Variable,
    forward,
    jacfwd,
    jvp,
    jvpcheck,
    no_grad,
    ops,
)
from minikeras.autograd.ops import conv as conv_ops
from minikeras.autograd.ops import losses as loss_ops
from minikeras.autograd.ops.fused import BatchNorm, DenseOp
from minikeras.kernels.padding import explicit_pads, output_hw

FAST = settings(max_examples=6, deadline=None)


# ---------------------------------------------------------------- elementwise

UNARY = {
    "exp": (ops.exp, "any"),
    "log": (ops.log, "positive"),
    "log1p": (ops.log1p, "positive"),
    "sqrt": (ops.sqrt, "positive"),
    "abs": (ops.abs, "away"),
    "sign": (ops.sign, "away"),
    "square": (ops.square, "any"),
    "negative": (ops.negative, "any"),
    "tanh": (ops.tanh, "any"),
    "sigmoid": (ops.sigmoid, "any"),
    "relu": (ops.relu, "away"),
    "relu6": (lambda x: ops.relu6(x * 4), "away"),
    "leaky_relu": (lambda x: ops.leaky_relu(x, 0.1), "away"),
    "elu": (lambda x: ops.elu(x, 0.7), "away"),
    "selu": (ops.selu, "away"),
    "softplus": (ops.softplus, "any"),
    "softsign": (ops.softsign, "away"),
    "hard_sigmoid": (ops.hard_sigmoid, "any"),
    "clip": (lambda x: ops.clip(x, -0.5, 0.7), "any"),
    "clip_hi_only": (lambda x: ops.clip(x, None, 0.7), "any"),
    "cast_float64": (lambda x: ops.cast(x, np.float64), "any"),
    "pow_scalar": (lambda x: x ** 3, "any"),
    "pow_half": (lambda x: x ** 0.5, "positive"),
    "rpow": (lambda x: 2.0 ** x, "any"),
    "scalar_ops": (lambda x: (3.0 - x) / 2.0 + 1.0 * x - 0.5, "any"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@FAST
@given(shape=shapes, seed=seeds)
def test_unary_jvp(name, shape, seed):
    fn, kind = UNARY[name]
    x = values(seed, shape, kind)
    if name.startswith("clip"):
        x = np.where((np.abs(x + 0.5) < 0.01) | (np.abs(x - 0.7) < 0.01), 0.3, x)
    if name == "hard_sigmoid":
        x = np.where(np.abs(np.abs(x) - 2.5) < 0.01, 0.3, x)
    if name == "relu6":
        x = np.where(np.abs(x * 4 - 6) < 0.01, 0.3, x)
    assert jvpcheck(fn, [x])


BINARY = {
    "add": (ops.add, "any", "any"),
    "subtract": (ops.subtract, "any", "any"),
    "multiply": (ops.multiply, "any", "any"),
    "divide": (ops.divide, "any", "away"),
    "power": (ops.power, "positive", "any"),
    "maximum": (ops.maximum, "distinct", "distinct"),
    "minimum": (ops.minimum, "distinct", "distinct"),
    "operators": (lambda a, b: (a + b) * a - b / (a * a + 1) + (-a) ** 2, "any", "any"),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@FAST
@given(shapes=pairs, seed=seeds)
def test_binary_jvp_with_broadcasting(name, shapes, seed):
    fn, kind_a, kind_b = BINARY[name]
    (sa, sb), _ = shapes
    a = values(seed, sa, kind_a)
    b = values(seed + 1, sb, kind_b) + (0.003 if kind_b == "distinct" else 0.0)
    assert jvpcheck(fn, [a, b])
    # one operand a constant: its tangent is None inside the rule
    assert jvpcheck(lambda t: fn(t, b), [a])
    assert jvpcheck(lambda t: fn(a, t), [b])


@FAST
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3), seed=seeds)
def test_where_jvp(shapes, seed):
    (sc, sa, sb), _ = shapes
    cond = np.random.default_rng(seed).random(sc) > 0.5
    a, b = values(seed, sa), values(seed + 1, sb)
    assert jvpcheck(lambda x, y: ops.where(cond, x, y), [a, b])
    assert jvpcheck(lambda x: ops.where(cond, x, b), [a])
    # a condition computed from a tensor with a tangent carries none into the result
    assert jvpcheck(lambda x: ops.where(x > 0, 2.0 * x, x * x), [values(seed, sa, "away")])


def test_where_whose_only_tangent_is_the_condition():
    x = Tensor(np.array([0.5, -1.0]))
    with ForwardAccumulator(x, np.ones(2)) as acc:
        y = ops.where(x.astype(np.float64), np.ones(2), np.zeros(2))
    assert acc.jvp(y) is None


def test_maximum_ties_take_the_mean_tangent_like_the_gradient():
    a, b = Tensor(np.array([1.0, 2.0])), Tensor(np.array([1.0, 3.0]))
    with ForwardAccumulator([a, b], [np.array([1.0, 1.0]), np.array([0.0, 0.0])]) as acc:
        y = ops.maximum(a, b)
    np.testing.assert_allclose(acc.jvp(y).numpy(), [0.5, 0.0])


# ---------------------------------------------------------------- activations with an axis

@FAST
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_softmax_and_log_softmax_jvp(shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = values(seed, shape)
    assert jvpcheck(lambda t: ops.softmax(t, axis), [x])
    assert jvpcheck(lambda t: ops.log_softmax(t, axis), [x])


# ---------------------------------------------------------------- matmul and dot

@st.composite
def matmul_shapes(draw):
    """Operand shapes numpy's matmul accepts: 1-D cases and broadcast batches."""
    n, k, m = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    (ba, bb), _ = draw(mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    sa = draw(st.sampled_from([(k,), (*ba, n, k)]))
    sb = draw(st.sampled_from([(k,), (*bb, k, m)]))
    return sa, sb


@FAST
@given(shapes=matmul_shapes(), seed=seeds)
def test_matmul_jvp(shapes, seed):
    sa, sb = shapes
    a, b = values(seed, sa), values(seed + 1, sb)
    assert jvpcheck(ops.matmul, [a, b])
    assert jvpcheck(lambda t: ops.matmul(t, b), [a])


@FAST
@given(ra=st.integers(1, 3), rb=st.integers(3, 4), seed=seeds)
def test_dot_with_rank_above_two_jvp(ra, rb, seed):
    rng = np.random.default_rng(seed)
    sa = tuple(rng.integers(1, 4, ra - 1)) + (3,)
    sb = tuple(rng.integers(1, 3, rb - 2)) + (3, 2)
    a, b = values(seed, sa), values(seed + 1, sb)
    assert jvpcheck(ops.dot, [a, b])


# ---------------------------------------------------------------- reductions

@st.composite
def shape_and_axis(draw):
    shape = draw(nonscalar)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-len(shape), len(shape) - 1),
        st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape),
                 unique=True).map(tuple),
    ))
    return shape, axis


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "std"])
@FAST
@given(sa=shape_and_axis(), keepdims=st.booleans(), seed=seeds)
def test_reduction_jvp(name, sa, keepdims, seed):
    shape, axis = sa
    x = values(seed, shape, "distinct")
    reduced = np.prod([shape[a] for a in np.atleast_1d(axis)]) if axis is not None else x.size
    assume(not (name == "std" and reduced == 1))  # sqrt(0) has no derivative
    assert jvpcheck(lambda t: getattr(ops, name)(t, axis, keepdims), [x])


def test_max_ties_share_the_tangent():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]))
    with ForwardAccumulator(x, np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])) as acc:
        y = x.max(axis=1)
    np.testing.assert_allclose(acc.jvp(y).numpy(), [0.5, 1.0])


# ---------------------------------------------------------------- shape ops

@FAST
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_shape_ops_jvp(shape, seed, data):
    x = values(seed, shape)
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    assert jvpcheck(lambda t: ops.reshape(t, (-1,)) * 1.5, [x])
    assert jvpcheck(lambda t: ops.transpose(t, perm), [x])
    assert jvpcheck(lambda t: ops.expand_dims(t, 0).squeeze(0), [x])
    assert jvpcheck(lambda t: ops.broadcast_to(t, (2, *shape)), [x])
    width = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape)
    assert jvpcheck(lambda t: ops.pad(t, width, value=1.0), [x])


@FAST
@given(shape=nonscalar, n=st.integers(1, 3), seed=seeds, data=st.data())
def test_concatenate_stack_split_jvp(shape, n, seed, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    xs = [values(seed + i, shape) for i in range(n)]
    const = values(seed + 9, shape)
    assert jvpcheck(lambda *ts: ops.concatenate(ts, axis), xs)
    assert jvpcheck(lambda *ts: ops.stack(ts, axis), xs)
    # a constant among the pieces contributes a zero tangent of its own shape
    assert jvpcheck(lambda t: ops.concatenate([const, t, const[..., :1]], -1), [xs[0]])
    assert jvpcheck(lambda t: ops.stack([const, t], axis), [xs[0]])
    assert jvpcheck(lambda t: ops.split(t, [1], axis)[-1] * 2.0, [xs[0]])


@FAST
@given(seed=seeds, data=st.data())
def test_getitem_jvp(seed, data):
    shape = data.draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    x = values(seed, shape)
    kind = data.draw(st.sampled_from(["slices", "mask", "repeats"]))
    if kind == "mask":
        key = x > 0
    elif kind == "repeats":
        key = np.array(data.draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1,
                                          max_size=6)))
    else:
        key = (slice(None, None, -1), None, Ellipsis)
    assert jvpcheck(lambda t: t[key], [x])


# ---------------------------------------------------------------- fused ops

@FAST
@given(lead=array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3),
       units=st.integers(1, 4), bias=st.booleans(), relu=st.booleans(), seed=seeds)
def test_dense_jvp(lead, units, bias, relu, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, 3))
    w = rng.standard_normal((3, units))
    b = rng.standard_normal(units)
    out = x @ w + (b if bias else 0)
    assume(np.abs(out).min() > 1e-3 or not relu)  # off the ReLU's kink
    args = [x, w, b] if bias else [x, w]
    assert jvpcheck(lambda *ts: DenseOp.apply(*ts, relu=relu), args)
    if bias:  # the bias alone: a tangent of one row, broadcast over the batch
        assert jvpcheck(lambda t: DenseOp.apply(x, w, t, relu=relu), [b])


@pytest.mark.parametrize("batch_stats", [True, False])
@FAST
@given(shape=array_shapes(min_dims=2, max_dims=4, min_side=2, max_side=4), seed=seeds,
       data=st.data())
def test_batchnorm_jvp(batch_stats, shape, seed, data):
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(0, len(shape) - 1))
    axes = tuple(a for a in range(len(shape)) if a != axis)
    bshape = [1] * len(shape)
    bshape[axis] = shape[axis]
    x = rng.standard_normal(shape)
    gamma, beta = rng.uniform(0.5, 1.5, shape[axis]), rng.standard_normal(shape[axis])
    moving_mean, moving_var = rng.standard_normal(bshape), rng.uniform(0.5, 2.0, bshape)

    def bn(t, g, b):
        if batch_stats:  # as BatchNormalization.call: the statistics come from the batch
            mean = t.data.mean(axis=axes, keepdims=True)
            var = np.square(t.data - mean).mean(axis=axes, keepdims=True)
        else:
            mean, var = moving_mean, moving_var
        return BatchNorm.apply(t, g, b, mean=mean, var=var, axes=axes, bshape=bshape,
                               eps=1e-3, batch_stats=batch_stats)

    assert jvpcheck(bn, [x, gamma, beta])


# ---------------------------------------------------------------- fused losses

@pytest.mark.parametrize("name", ["SquaredError", "AbsoluteError", "BinaryCrossentropy",
                                  "BinaryCrossentropyLogits", "CategoricalCrossentropy",
                                  "CategoricalCrossentropyLogits"])
@FAST
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=seeds)
def test_pair_loss_jvp(name, shape, seed):
    op = getattr(loss_ops, name)
    p = values(seed, shape, "prob" if "Logits" not in name else "any")
    t = values(seed + 1, shape, "prob")
    if name == "AbsoluteError":
        t = p + values(seed + 2, shape, "away") * 0.5  # off |d|'s kink
    params = {"eps": 1e-7} if name in ("BinaryCrossentropy", "CategoricalCrossentropy") else {}
    assert jvpcheck(lambda a, b: op.apply(a, b, **params), [p, t])


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("mean", [False, True])
@FAST
@given(shape=array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3),
       classes=st.integers(2, 4), weighted=st.booleans(), seed=seeds)
def test_sparse_loss_jvp(logits, mean, shape, classes, weighted, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, shape)
    p = values(seed, (*shape, classes), "any" if logits else "prob")
    name = "SparseCategoricalCrossentropy" + ("Logits" if logits else "") + ("Mean" if mean else "")
    params = {"labels": labels} if logits else {"labels": labels, "eps": 1e-7}
    if mean and weighted:
        params["weights"] = rng.uniform(0.0, 2.0, shape[0])
    op = getattr(loss_ops, name)
    assert jvpcheck(lambda t: op.apply(t, **params), [p])
    if not mean:  # labels with a trailing axis of 1 keep it in the output
        params["labels"] = labels[..., None]
        assert jvpcheck(lambda t: op.apply(t[..., None, :], **params), [p])


# ---------------------------------------------------------------- conv, pool, bias (kernels)

FORMATS = ["channels_last", "channels_first"]


@st.composite
def windows(draw, depthwise=False):
    """Input size, window, strides, dilation and padding that give a non-empty output."""
    fmt = draw(st.sampled_from(FORMATS))
    n, h, w, c = (draw(st.integers(1, 2)), draw(st.integers(2, 6)), draw(st.integers(2, 6)),
                  draw(st.integers(1, 3)))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (1, 1) if strides != (1, 1) else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", "same"]))
    pads = explicit_pads(padding, (h, w), (kh, kw), strides, dilation)
    assume(min(output_hw((h, w), (kh, kw), strides, dilation, pads)) > 0)
    return fmt, (n, h, w, c), (kh, kw), dict(strides=strides, dilation=dilation, pads=pads,
                                              data_format=fmt)


def _layout(x: np.ndarray, fmt: str) -> np.ndarray:
    return x if fmt == "channels_last" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@settings(max_examples=10, deadline=None)
@given(win=windows(), dm=st.integers(1, 2), filters=st.integers(1, 3), seed=seeds)
def test_conv_and_depthwise_jvp(win, dm, filters, seed):
    fmt, (n, h, w, c), (kh, kw), args = win
    rng = np.random.default_rng(seed)
    x = _layout(rng.standard_normal((n, h, w, c)), fmt)
    dk = rng.standard_normal((kh, kw, c, dm))
    k = rng.standard_normal((kh, kw, c, filters))
    assert jvpcheck(lambda a, b: conv_ops.DepthwiseConv2D.apply(a, b, **args), [x, dk])
    assert jvpcheck(lambda a, b: conv_ops.Conv2D.apply(a, b, **args), [x, k])


@settings(max_examples=10, deadline=None)
@given(win=windows(), dm=st.integers(1, 2), filters=st.integers(1, 3), bias=st.booleans(),
       seed=seeds)
def test_separable_jvp(win, dm, filters, bias, seed):
    fmt, (n, h, w, c), (kh, kw), args = win
    rng = np.random.default_rng(seed)
    x = _layout(rng.standard_normal((n, h, w, c)), fmt)
    dk = rng.standard_normal((kh, kw, c, dm))
    pk = rng.standard_normal((1, 1, c * dm, filters))
    b = rng.standard_normal(filters)
    inputs = [x, dk, pk, b] if bias else [x, dk, pk]
    assert jvpcheck(lambda *ts: conv_ops.SeparableConv2D.apply(*ts, **args), inputs)
    # tangents on one argument at a time reach the rule with None for the others
    assert jvpcheck(lambda t: conv_ops.SeparableConv2D.apply(x, dk, t, b, **args), [pk])
    assert jvpcheck(lambda t: conv_ops.SeparableConv2D.apply(x, dk, pk, t, **args), [b])
    assert jvpcheck(lambda t: conv_ops.SeparableConv2D.apply(x, t, pk, **args), [dk])


@settings(max_examples=10, deadline=None)
@given(win=windows(), dm=st.integers(1, 2), filters=st.integers(1, 3), bias=st.booleans(),
       seed=seeds)
def test_separable_relu_jvp(win, dm, filters, bias, seed):
    # the ReLU fused into the op (what predict runs): the tangent is masked by the output
    fmt, (n, h, w, c), (kh, kw), args = win
    rng = np.random.default_rng(seed)
    x = _layout(rng.standard_normal((n, h, w, c)), fmt)
    dk = rng.standard_normal((kh, kw, c, dm))
    pk = rng.standard_normal((1, 1, c * dm, filters))
    b = rng.standard_normal(filters)
    inputs = [x, dk, pk, b] if bias else [x, dk, pk]
    op = conv_ops.SeparableConv2DRelu
    assert jvpcheck(lambda *ts: op.apply(*ts, relu=True, **args), inputs)
    assert jvpcheck(lambda t: op.apply(x, dk, pk, t, relu=True, **args), [b])


def test_separable_jvp_on_the_fused_parallel_path():
    # big enough for separable_forward's row-block pass (the small cases run the two phases)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 24, 24, 16))
    dk, pk = rng.standard_normal((3, 3, 16, 1)), rng.standard_normal((1, 1, 16, 32))
    args = dict(strides=(1, 1), dilation=(1, 1), pads=((1, 1), (1, 1)),
                data_format="channels_last")
    assert jvpcheck(lambda *ts: conv_ops.SeparableConv2D.apply(*ts, **args), [x, dk, pk])
    op = conv_ops.SeparableConv2DRelu
    assert jvpcheck(lambda *ts: op.apply(*ts, relu=True, **args), [x, dk, pk])


@pytest.mark.parametrize("mode", ["max", "avg"])
@settings(max_examples=10, deadline=None)
@given(win=windows(), seed=seeds)
def test_pool_jvp(mode, win, seed):
    fmt, (n, h, w, c), pool_size, args = win
    rng = np.random.default_rng(seed)
    # distinct values: every window has one maximum, far from ties at the step eps
    x = rng.permutation(n * h * w * c).reshape(n, h, w, c) * 0.1 + rng.uniform(0, 0.01,
                                                                                (n, h, w, c))
    x = _layout(x, fmt)
    assert jvpcheck(lambda t: conv_ops.Pool2D.apply(t, pool_size=pool_size, mode=mode, **args),
                    [x])


@pytest.mark.parametrize("fmt", FORMATS)
def test_bias_add_jvp(fmt):
    rng = np.random.default_rng(0)
    x = _layout(rng.standard_normal((2, 3, 4, 5)), fmt)
    axis = 3 if fmt == "channels_last" else 1
    b = rng.standard_normal(5)
    assert jvpcheck(lambda a, c: conv_ops.BiasAdd.apply(a, c, axis=axis), [x, b])
    assert jvpcheck(lambda c: conv_ops.BiasAdd.apply(x, c, axis=axis), [b])


# ---------------------------------------------------------------- transforms

def _reverse_jacobian(f, x: np.ndarray) -> np.ndarray:
    t = Tensor(x)
    with GradientTape(persistent=True) as tape:
        tape.watch(t)
        out = f(t)
    rows = []
    for k in range(out.size):
        seed = np.zeros(out.size)
        seed[k] = 1
        g = tape.gradient(out, t, output_gradients=seed.reshape(out.shape),
                          unconnected_gradients="zero")
        rows.append(np.asarray(g).reshape(-1))
    return np.array(rows).reshape(out.shape + x.shape)


def _numeric_jacobian(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    cols = []
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = eps
        up = f(Tensor(x + e.reshape(x.shape))).numpy()
        down = f(Tensor(x - e.reshape(x.shape))).numpy()
        cols.append(((up - down) / (2 * eps)).reshape(-1))
    out_shape = f(Tensor(x)).shape
    return np.array(cols).T.reshape(out_shape + x.shape)


def _net(t):
    w = np.linspace(-1, 1, 15).reshape(5, 3)
    return ops.softmax(ops.tanh(t @ w) * t.sum(), axis=-1)


@FAST
@given(rows=st.integers(1, 3), cols=st.integers(1, 14), seed=seeds)
def test_jacfwd_against_finite_differences_and_reverse(rows, cols, seed):
    x = values(seed, (rows, 5))
    jac = jacfwd(_net)(x)
    assert jac.shape == (rows, 3, rows, 5)
    np.testing.assert_allclose(jac.numpy(), _numeric_jacobian(_net, x), atol=1e-6, rtol=1e-4)
    np.testing.assert_allclose(jac.numpy(), _reverse_jacobian(_net, x), atol=1e-9, rtol=1e-7)
    # more inputs than one pass of accumulators holds: several runs of f, one per chunk
    x = values(seed, (cols, 5))
    if x.size > forward.JACFWD_CHUNK:
        np.testing.assert_allclose(jacfwd(_net)(x).numpy(), _reverse_jacobian(_net, x),
                                   atol=1e-9, rtol=1e-7)


def test_jacfwd_argnums_and_structure():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([[0.5, -1.0], [2.0, 1.0], [0.0, 1.0]])

    def f(x, w):
        return ops.tanh(x @ w)

    ja, jb = jacfwd(f, argnums=(0, 1))(a, b)
    assert ja.shape == (2, 3) and jb.shape == (2, 3, 2)
    np.testing.assert_allclose(ja.numpy(), _reverse_jacobian(lambda x: f(x, b), a), rtol=1e-12)
    np.testing.assert_allclose(jb.numpy(), _reverse_jacobian(lambda w: f(a, w), b), rtol=1e-12)
    np.testing.assert_allclose(jacfwd(f, argnums=-1)(a, b).numpy(), jb.numpy())
    # an output that does not depend on the argument: a zero Jacobian
    np.testing.assert_array_equal(jacfwd(lambda x, w: w * 2.0, 0)(a, b).numpy(), 0.0)
    # several outputs: one Jacobian each, in the result's structure
    jacs = jacfwd(lambda x: {"tanh": ops.tanh(x), "sum": x.sum()})(a)
    np.testing.assert_allclose(jacs["tanh"].numpy(), np.diag(1 - np.tanh(a) ** 2), rtol=1e-12)
    np.testing.assert_array_equal(jacs["sum"].numpy(), np.ones(3))
    ((jx, jw),) = jacfwd(lambda x, w: (x * 2.0, w), argnums=(0,))(a, b)
    np.testing.assert_array_equal(jx.numpy(), 2 * np.eye(3))
    np.testing.assert_array_equal(jw.numpy(), np.zeros((3, 2, 3)))  # an array: a constant


def test_jvp_transform():
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    out, tangent = jvp(lambda a, b: (a * b).sum(), (x, y), (np.ones(2), np.zeros(2)))
    assert float(out) == 11.0 and float(tangent) == 7.0
    # structured outputs: tangents in the same structure, zeros where nothing depends on x
    outs, tangents = jvp(lambda a: {"sq": a * a, "const": Tensor(np.ones(3))}, (x,), (y,))
    np.testing.assert_allclose(tangents["sq"].numpy(), 2 * x * y)
    np.testing.assert_array_equal(tangents["const"].numpy(), np.zeros(3))
    _, (t1, t2) = jvp(lambda a: (a.sum(), a.exp()), [x], [y])
    assert float(t1) == 7.0
    np.testing.assert_allclose(t2.numpy(), np.exp(x) * y)


def test_jvp_of_a_gradient_written_with_ops_is_a_hessian_vector_product():
    # d/dx sum(x tanh x) written out with ops; its JVP along v is H v, checked against
    # differences of the tape's gradients
    def grad_at(x):
        t = Tensor(x)
        with GradientTape() as tape:
            tape.watch(t)
            y = (ops.tanh(t) * t).sum()
        return np.asarray(tape.gradient(y, t))

    x, v = np.array([0.3, -0.7, 1.1]), np.array([1.0, 2.0, -1.0])
    numeric = (grad_at(x + 1e-6 * v) - grad_at(x - 1e-6 * v)) / 2e-6
    _, hv = jvp(lambda t: ops.tanh(t) * 1.0 + t * (1 - ops.tanh(t) ** 2), (x,), (v,))
    np.testing.assert_allclose(hv.numpy(), numeric, rtol=1e-6)


# ---------------------------------------------------------------- accumulators and tapes

def test_accumulator_with_several_primals_and_variables():
    w = Variable(np.array([[1.0, 2.0], [3.0, 4.0]]), name="w")
    x = Tensor(np.array([1.0, -1.0]))
    with ForwardAccumulator([w, x], [np.eye(2), np.array([0.0, 1.0])]) as acc:
        y = w @ x
        z = ops.exp(x)
    np.testing.assert_allclose(acc.jvp(y).numpy(), np.eye(2) @ x.numpy() + w.numpy()[:, 1])
    tz, ty = acc.jvp((z, y))  # structure kept; after the block, as in TensorFlow
    np.testing.assert_allclose(tz.numpy(), np.exp(x.numpy()) * [0.0, 1.0])
    assert isinstance(ty, Tensor)
    unrelated = Tensor(np.ones(3))
    assert acc.jvp(unrelated) is None
    np.testing.assert_array_equal(acc.jvp({"u": unrelated}, unconnected_gradients="zero")["u"]
                                  .numpy(), np.zeros(3))
    assert acc.jvp(x).numpy() is not acc.jvp(x).numpy()  # fresh copies


@pytest.mark.parametrize("tape_outside", [True, False])
def test_tape_and_accumulator_nest_either_way(tape_outside):
    x = Tensor(np.array([0.5, -1.5, 2.0]))
    v = np.array([1.0, 0.0, 2.0])
    if tape_outside:
        with GradientTape() as tape:
            tape.watch(x)
            with ForwardAccumulator(x, v) as acc:
                y = (ops.sigmoid(x) * x).sum()
    else:
        with ForwardAccumulator(x, v) as acc:
            with GradientTape() as tape:
                tape.watch(x)
                y = (ops.sigmoid(x) * x).sum()
    g = np.asarray(tape.gradient(y, x))
    np.testing.assert_allclose(float(acc.jvp(y)), g @ v, rtol=1e-12)


def test_an_accumulator_on_other_tensors_leaves_the_gradient_unchanged():
    x, w = Tensor(np.array([0.5, -1.5])), Tensor(np.array([2.0, 3.0]))

    def grad():
        with GradientTape() as tape:
            tape.watch(w)
            y = (ops.tanh(x * w) * w).sum()
        return np.asarray(tape.gradient(y, w))

    alone = grad()
    with ForwardAccumulator(x, np.ones(2)):  # marks x as needed in each ctx: an extra gradient
        np.testing.assert_array_equal(grad(), alone)


def test_forward_over_reverse_gives_a_hessian_vector_product():
    x, v = np.array([0.3, -0.7, 1.1]), np.array([1.0, 2.0, -1.0])

    def grad_at(a):
        t = Tensor(a)
        with GradientTape() as tape:
            tape.watch(t)
            y = (ops.tanh(t) * t).sum()
        return np.asarray(tape.gradient(y, t))

    t = Tensor(x)
    with ForwardAccumulator(t, v) as acc:
        with GradientTape() as tape:
            tape.watch(t)
            y = (ops.tanh(t) * t).sum()
        g = tape.gradient(y, t)
    numeric = (grad_at(x + 1e-6 * v) - grad_at(x - 1e-6 * v)) / 2e-6
    np.testing.assert_allclose(np.asarray(acc.jvp(g)), numeric, rtol=1e-6)


def test_two_accumulators_side_by_side_give_two_columns():
    x = Tensor(np.array([1.0, 2.0]))
    with ForwardAccumulator(x, np.array([1.0, 0.0])) as a1, \
            ForwardAccumulator(x, np.array([0.0, 1.0])) as a2:
        y = x * x * x
    np.testing.assert_allclose(a1.jvp(y).numpy(), [3.0, 0.0])
    np.testing.assert_allclose(a2.jvp(y).numpy(), [0.0, 12.0])


def test_accumulator_keeps_tangents_only_of_live_tensors():
    x = Tensor(np.ones(4))
    with ForwardAccumulator(x, np.ones(4)) as acc:
        y = x
        for _ in range(50):
            y = y * 1.01  # each intermediate dies when y moves on
    gc.collect()
    assert len(acc._table) <= 3  # x, the final y (and at most one in flight)
    np.testing.assert_allclose(acc.jvp(y).numpy(), 1.01 ** 50)


def test_no_grad_stops_tangents_as_it_stops_recording():
    x = Tensor(np.array([1.0, 2.0]))
    with ForwardAccumulator(x, np.ones(2)) as acc:
        with no_grad():
            c = x * x  # a constant for forward mode as for the tape
        y = c * x
    np.testing.assert_allclose(acc.jvp(y).numpy(), x.numpy() ** 2)
    assert acc.jvp(c) is None

    def f(t):
        with no_grad():
            scale = ops.exp(t).sum()
        return t * scale

    a = np.array([0.5, -0.5])
    np.testing.assert_allclose(jacfwd(f)(a).numpy(), _reverse_jacobian(f, a), rtol=1e-12)


def test_detach_stops_the_tangent():
    x = Tensor(np.array([1.0, 2.0]))
    with ForwardAccumulator(x, np.ones(2)) as acc:
        y = x * x.detach()
    np.testing.assert_allclose(acc.jvp(y).numpy(), x.numpy())


# ---------------------------------------------------------------- bad input

def test_tangent_of_the_wrong_shape_or_dtype_is_named():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"tangent has shape \(3,\), but the primal has shape "
                                         r"\(2, 3\); expected a tangent of shape \(2, 3\)"):
        ForwardAccumulator(x, np.ones(3))
    with pytest.raises(TypeError, match=r"tangent has dtype float32, but the primal has dtype "
                                        r"float64"):
        ForwardAccumulator(x, np.ones((2, 3), dtype=np.float32))
    y = Tensor(np.ones(2, dtype=np.float32))
    with pytest.raises(ValueError, match=r"tangent 1 has shape \(\), but primal 1 has shape "
                                         r"\(2,\)"):
        ForwardAccumulator([x, y], [np.ones((2, 3)), 1.0])
    with pytest.raises(ValueError, match="got 2 primals but 1 tangents"):
        ForwardAccumulator([x, y], [np.ones((2, 3))])
    with pytest.raises(TypeError, match="only floating tensors have tangents"):
        ForwardAccumulator(Tensor(np.arange(3)), np.ones(3))
    with pytest.raises(TypeError, match="must be a minikeras Tensor, got ndarray"):
        ForwardAccumulator(np.ones(3), np.ones(3))
    # Python numbers and lists take the primal's dtype
    acc = ForwardAccumulator(y, [1.0, 2.0])
    assert acc._table[id(y)][1].dtype == np.float32


def test_jvp_of_non_differentiable_ops_names_the_op():
    x = Tensor(np.array([0.5, -1.0, 2.0]))
    with ForwardAccumulator(x, np.ones(3)) as acc:
        i = ops.argmax(x)
        mask = x > 0
        n = ops.cast(x, np.int32)
        y = ops.where(mask, x, 0.0) * 2.0  # using them inside the computation is fine
    for t, name in ((i, "Argmax"), (mask, "Greater"), (n, "Cast")):
        with pytest.raises(TypeError, match=f"made by {name} from a tensor with a tangent, but "
                                            f"a {t.dtype} output has no tangent: comparisons"):
            acc.jvp(t)
    np.testing.assert_allclose(acc.jvp(y).numpy(), [2.0, 0.0, 2.0])
    with pytest.raises(TypeError, match="made by Argmin"):
        jvp(lambda t: ops.argmin(t), (x.numpy(),), (np.ones(3),))
    with pytest.raises(TypeError, match="made by Less"):
        jacfwd(lambda t: t < 0)(x.numpy())


def test_sign_has_a_zero_tangent():
    x = Tensor(np.array([0.5, -1.0]))
    with ForwardAccumulator(x, np.ones(2)) as acc:
        y = ops.sign(x)
    np.testing.assert_array_equal(acc.jvp(y).numpy(), [0.0, 0.0])


def test_nested_forward_mode_is_refused_clearly():
    x = Tensor(np.array([1.0, 2.0]))
    with ForwardAccumulator(x, np.ones(2)) as outer:
        with ForwardAccumulator(x, np.ones(2)) as inner:
            y = x * x * x
        dy = inner.jvp(y)
    with pytest.raises(TypeError, match="nested forward mode"):
        outer.jvp(dy)


def test_misuse_of_the_api():
    x = Tensor(np.ones(2))
    acc = ForwardAccumulator(x, np.ones(2))
    with acc:
        with pytest.raises(RuntimeError, match="already open"):
            acc.__enter__()
    with pytest.raises(ValueError, match="unconnected_gradients must be 'none' or 'zero'"):
        acc.jvp(x, unconnected_gradients="zeros")
    with pytest.raises(TypeError, match="got ndarray for primal 0; only tensors computed by "
                                        "ops inside the accumulator have tangents"):
        acc.jvp(np.ones(2))
    with pytest.raises(TypeError, match="primals and tangents must be tuples"):
        jvp(lambda t: t, np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="got 1 primals but 2 tangents"):
        jvp(lambda t: t, (np.ones(2),), (np.ones(2), np.ones(2)))
    with pytest.raises(TypeError, match="argument 0 has dtype int64"):
        jvp(lambda t: t, (np.arange(2),), (np.ones(2),))
    with pytest.raises(ValueError, match="argnums 2 is out of range for 1 arguments"):
        jacfwd(lambda t: t, argnums=2)(np.ones(2))
    with pytest.raises(TypeError, match="f must return a minikeras Tensor .*, got str"):
        jacfwd(lambda t: [t, "x"])(np.ones(2))


def test_jacfwd_of_a_huge_jacobian_says_what_it_would_cost(monkeypatch):
    monkeypatch.setattr(forward, "JACOBIAN_LIMIT", 1000)
    with pytest.raises(ValueError, match=r"has 1,600 entries \(0\.0 GiB\) and would take 40 "
                                         r"tangents through f"):
        jacfwd(lambda t: t * 2.0)(np.ones(40))


def test_jvp_rule_errors_name_the_op():
    class BadShape(Function):
        def forward(self, ctx, x):
            return x * 2

        def jvp(self, ctx, t):
            return np.ones(7)

        def backward(self, ctx, grad):
            return (grad * 2,)

    x = Tensor(np.ones(3))
    with ForwardAccumulator(x, np.ones(3)):
        with pytest.raises(ValueError, match=r"BadShape.jvp returned a tangent of shape \(7,\) "
                                             r"for an output of shape \(3,\)"):
            BadShape.apply(x)


# ---------------------------------------------------------------- the checker itself

class Cube(Function):
    """x³ with a correct backward and a wrong forward-mode rule (3x instead of 3x²)."""

    def forward(self, ctx, x):
        ctx.save(x)
        return x ** 3

    def jvp(self, ctx, t):
        return 3 * ctx.saved[0] * t

    def backward(self, ctx, grad):
        return (3 * ctx.saved[0] ** 2 * grad,)


class TwiceWrongBackward(Function):
    """2x with a correct jvp but a wrong backward: only the comparison with reverse mode fails."""

    def forward(self, ctx, x):
        return 2 * x

    def jvp(self, ctx, t):
        return 2 * t

    def backward(self, ctx, grad):
        return (3 * grad,)


def test_checker_catches_a_wrong_jvp_rule():
    x = np.array([[0.5, 1.5], [2.0, -1.0]])
    with pytest.raises(GradcheckError, match=r"the JVP of Cube for input 0 \(shape \(2, 2\)\) "
                                             r"disagrees with finite differences at output "
                                             r"index \(\d, \d\)"):
        jvpcheck(lambda t: Cube.apply(t), [x])
    assert not jvpcheck(lambda t: Cube.apply(t), [x], raise_exception=False)


def test_checker_catches_a_jvp_that_disagrees_with_reverse_mode():
    x = np.array([0.5, 1.5, 2.0])
    with pytest.raises(GradcheckError, match=r"JVP of TwiceWrongBackward for input 0 .* "
                                             r"disagrees with reverse mode \(Jacobian rows"):
        jvpcheck(lambda t: TwiceWrongBackward.apply(t), [x])
    big = np.ones(300)  # beyond the full reverse Jacobian: the random projection catches it
    with pytest.raises(GradcheckError, match="reverse mode on a random projection"):
        jvpcheck(lambda t: TwiceWrongBackward.apply(t), [big])


class ProductDroppingATerm(Function):
    """a * b whose jvp forgets one term when both inputs have a tangent."""

    def forward(self, ctx, a, b):
        ctx.save(a, b)
        return a * b

    def jvp(self, ctx, ta, tb):
        a, b = ctx.saved
        return ta * b if ta is not None else a * tb

    def backward(self, ctx, grad):
        a, b = ctx.saved
        return grad * b, grad * a


def test_checker_runs_rules_with_all_tangents_at_once():
    a, b = np.array([1.0, 2.0]), np.array([0.5, 0.25])
    with pytest.raises(GradcheckError, match="JVP of ProductDroppingATerm for all inputs "
                                             "together disagrees with finite differences"):
        jvpcheck(lambda s, t: ProductDroppingATerm.apply(s, t), [a, b])


def test_checker_names_the_input():
    a, b = np.array([1.0, 2.0]), np.array([0.5, 0.25])
    with pytest.raises(GradcheckError, match="JVP of Multiply for input 1"):
        jvpcheck(lambda s, t: s * Cube.apply(t), [a, b])


# ---------------------------------------------------------------- no accumulator, no cost

class NoRule(Function):
    """An op written before forward mode: forward and backward only."""

    def forward(self, ctx, x):
        ctx.save(x)
        return np.sin(x)

    def backward(self, ctx, grad):
        return (np.cos(ctx.saved[0]) * grad,)


def test_an_op_without_jvp_runs_when_no_accumulator_follows_it():
    x = Tensor(np.array([0.1, 0.2]))
    assert forward.STATE.active == []
    np.testing.assert_allclose(NoRule.apply(x).numpy(), np.sin([0.1, 0.2]))
    with GradientTape() as tape:
        tape.watch(x)
        y = NoRule.apply(x)
    np.testing.assert_allclose(tape.gradient(y, x), np.cos([0.1, 0.2]))
    # an accumulator open but following other tensors: the op is not asked for a rule
    other = Tensor(np.ones(2))
    with ForwardAccumulator(other, np.ones(2)):
        NoRule.apply(x)
    # following its input: a clear error naming the op
    with ForwardAccumulator(x, np.ones(2)):
        with pytest.raises(NotImplementedError, match="NoRule has no forward-mode rule"):
            NoRule.apply(x)
    assert forward.STATE.active == []  # closed again, even after an error


def test_without_accumulator_the_tape_sees_unchanged_contexts():
    x = Tensor(np.array([1.0, 2.0]))
    c = Tensor(np.array([3.0, 4.0]))
    with GradientTape() as tape:
        tape.watch(x)
        x * c  # recorded: x is watched
    (record,) = tape.records
    assert record.ctx.needs_input_grad == (True, False)  # forward mode marked nothing
