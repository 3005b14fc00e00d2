"""Every op's gradient against finite differences, in float64, on Hypothesis-generated shapes.

Shapes come from Hypothesis (broadcasting pairs included); values come from a seeded
numpy generator drawn by Hypothesis, kept away from the kinks of each op (0 for relu
and abs, ties for max/min) so the central difference is valid. ``gradcheck`` uses
the full Jacobian when it is small (the common case here) and a random projection
otherwise; ``test_directional_on_larger_shapes`` forces the directional mode.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes
from op_cases import nonscalar, pairs, seeds, shapes, values

from minikeras.autograd import Tensor, gradcheck, ops

FAST = settings(max_examples=12, deadline=None)


# ---------------------------------------------------------------- unary elementwise

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
    "relu6": (ops.relu6, "away"),
    "leaky_relu": (lambda x: ops.leaky_relu(x, 0.1), "away"),
    "elu": (lambda x: ops.elu(x, 0.7), "away"),
    "selu": (ops.selu, "away"),
    "softplus": (ops.softplus, "any"),
    "softsign": (ops.softsign, "away"),
    "hard_sigmoid": (ops.hard_sigmoid, "any"),
    "clip": (lambda x: ops.clip(x, -0.5, 0.7), "any"),
    "clip_lo_only": (lambda x: ops.clip(x, -0.5, None), "any"),
    "cast_float64": (lambda x: ops.cast(x, np.float64), "any"),
    "pow_scalar": (lambda x: x ** 3, "any"),
    "pow_half": (lambda x: x ** 0.5, "positive"),
    "rpow": (lambda x: 2.0 ** x, "any"),
    "scalar_ops": (lambda x: (3.0 - x) / 2.0 + 1.0 * x - 0.5, "any"),
    "rdiv": (lambda x: 1.0 / x, "positive"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@FAST
@given(shape=shapes, seed=seeds)
def test_unary_gradients(name, shape, seed):
    fn, kind = UNARY[name]
    x = values(seed, shape, kind)
    if name == "clip" or name == "clip_lo_only":
        x = np.where(np.abs(x + 0.5) < 0.01, 0.3, x)  # stay off the clip bounds
        x = np.where(np.abs(x - 0.7) < 0.01, 0.3, x)
    assert gradcheck(fn, [x])


def test_unary_values_match_numpy():
    x = values(1, (3, 4), "any")
    cases = {
        ops.exp: np.exp, ops.tanh: np.tanh, ops.negative: np.negative, ops.square: np.square,
        ops.sign: np.sign, ops.abs: np.abs, ops.relu: lambda a: np.maximum(a, 0),
        ops.relu6: lambda a: np.clip(a, 0, 6), ops.sigmoid: lambda a: 1 / (1 + np.exp(-a)),
        ops.softplus: lambda a: np.log1p(np.exp(a)), ops.softsign: lambda a: a / (1 + abs(a)),
        ops.hard_sigmoid: lambda a: np.clip(0.2 * a + 0.5, 0, 1),
        ops.elu: lambda a: np.where(a > 0, a, np.expm1(a)),
        ops.leaky_relu: lambda a: np.where(a > 0, a, 0.2 * a),
    }
    for op, ref in cases.items():
        np.testing.assert_allclose(op(x).numpy(), ref(x), rtol=1e-12, atol=1e-12)
    p = np.abs(x) + 0.1
    for op, ref in {ops.log: np.log, ops.log1p: np.log1p, ops.sqrt: np.sqrt}.items():
        np.testing.assert_allclose(op(p).numpy(), ref(p), rtol=1e-12)
    selu = 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))
    np.testing.assert_allclose(ops.selu(x).numpy(), selu, rtol=1e-12)


def test_activations_are_stable_at_extremes():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32)
    for op in (ops.sigmoid, ops.softplus, ops.softmax, ops.log_softmax, ops.elu, ops.selu):
        assert np.all(np.isfinite(op(x).numpy())), op
    np.testing.assert_allclose(ops.sigmoid(x).numpy(), [0, 0, 0.5, 1, 1], atol=1e-7)
    np.testing.assert_allclose(ops.softmax(np.array([1000.0, 1000.0])).numpy(), [0.5, 0.5])


@FAST
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_softmax_and_log_softmax_gradients(shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = values(seed, shape)
    assert gradcheck(lambda t: ops.softmax(t, axis), [x])
    assert gradcheck(lambda t: ops.log_softmax(t, axis), [x])
    np.testing.assert_allclose(ops.softmax(x, axis).numpy().sum(axis=axis), 1.0)
    np.testing.assert_allclose(np.exp(ops.log_softmax(x, axis).numpy()),
                               ops.softmax(x, axis).numpy(), rtol=1e-12)


# ---------------------------------------------------------------- binary, with broadcasting

BINARY = {
    "add": (ops.add, "any", "any"),
    "subtract": (ops.subtract, "any", "any"),
    "multiply": (ops.multiply, "any", "any"),
    "divide": (ops.divide, "any", "away"),
    "power": (ops.power, "positive", "any"),
    "maximum": (ops.maximum, "any", "any"),
    "minimum": (ops.minimum, "any", "any"),
    "operators": (lambda a, b: (a + b) * a - b / (a * a + 1) + (-a) ** 2, "any", "any"),
    "reflected_numpy": (None, "any", "away"),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@FAST
@given(shapes=pairs, seed=seeds)
def test_binary_gradients_with_broadcasting(name, shapes, seed):
    fn, kind_a, kind_b = BINARY[name]
    (sa, sb), _ = shapes
    a = values(seed, sa, kind_a)
    b = values(seed + 1, sb, kind_b)
    if name == "reflected_numpy":
        # a numpy array on the left: Tensor's reflected operators must run, not numpy's
        const = values(seed + 2, sa, "away")
        out = const + Tensor(b)
        assert isinstance(out, Tensor)
        np.testing.assert_allclose(out.numpy(), const + b)
        assert gradcheck(lambda t: const + t * const - const / t - np.abs(const) ** t, [b])
        return
    expected = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
                "divide": np.divide, "power": np.power, "maximum": np.maximum,
                "minimum": np.minimum}.get(name)
    if expected is not None:
        np.testing.assert_allclose(fn(a, b).numpy(), expected(a, b), rtol=1e-12)
    assert gradcheck(fn, [a, b])


@FAST
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3), seed=seeds)
def test_where_gradients_with_broadcasting(shapes, seed):
    (sc, sa, sb), _ = shapes
    cond = np.random.default_rng(seed).random(sc) > 0.5
    a, b = values(seed, sa), values(seed + 1, sb)
    np.testing.assert_array_equal(ops.where(cond, a, b).numpy(), np.where(cond, a, b))
    assert gradcheck(lambda x, y: ops.where(cond, x, y), [a, b])


def test_maximum_tie_splits_gradient_evenly():
    from minikeras.autograd import GradientTape

    a, b = Tensor(np.array([1.0, 2.0])), Tensor(np.array([1.0, 3.0]))
    with GradientTape() as tape:
        tape.watch([a, b])
        y = ops.maximum(a, b)
    ga, gb = tape.gradient(y, [a, b])
    np.testing.assert_allclose(ga, [0.5, 0.0])
    np.testing.assert_allclose(gb, [0.5, 1.0])


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
def test_matmul_gradients(shapes, seed):
    sa, sb = shapes
    a, b = values(seed, sa), values(seed + 1, sb)
    np.testing.assert_allclose(ops.matmul(a, b).numpy(), np.matmul(a, b), rtol=1e-12)
    np.testing.assert_allclose((Tensor(a) @ b).numpy(), a @ b, rtol=1e-12)
    assert gradcheck(ops.matmul, [a, b])


@FAST
@given(ra=st.integers(0, 3), rb=st.integers(0, 3), seed=seeds)
def test_dot_follows_numpy(ra, rb, seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 4))
    sa = tuple(int(s) for s in rng.integers(1, 4, ra - 1)) + (k,) if ra else ()
    sb = (tuple(int(s) for s in rng.integers(1, 4, rb - 2)) + (k, 2) if rb >= 2
          else (k,) if rb == 1 else ())
    a, b = values(seed, sa), values(seed + 1, sb)
    np.testing.assert_allclose(ops.dot(a, b).numpy(), np.dot(a, b), rtol=1e-12)
    assert gradcheck(ops.dot, [a, b])


# ---------------------------------------------------------------- reductions

@st.composite
def shape_and_axis(draw, shape_strategy=nonscalar):
    shape = draw(shape_strategy)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-len(shape), len(shape) - 1),
        st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape),
                 unique=True).map(tuple),
    ))
    return shape, axis


REDUCTIONS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "var": np.var,
              "std": np.std}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@FAST
@given(sa=shape_and_axis(), keepdims=st.booleans(), seed=seeds)
def test_reduction_gradients(name, sa, keepdims, seed):
    shape, axis = sa
    op = getattr(ops, name)
    x = values(seed, shape, "distinct")
    np.testing.assert_allclose(op(x, axis, keepdims).numpy(),
                               REDUCTIONS[name](x, axis=axis, keepdims=keepdims), rtol=1e-12)
    reduced = np.prod([shape[a] for a in np.atleast_1d(axis)]) if axis is not None else x.size
    if name == "std" and reduced == 1:
        return  # the std of one element is 0, where sqrt has no derivative
    assert gradcheck(lambda t: op(t, axis, keepdims), [x])


def test_max_ties_share_the_gradient():
    from minikeras.autograd import GradientTape

    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]))
    with GradientTape() as tape:
        tape.watch(x)
        y = x.max(axis=1)
    np.testing.assert_allclose(tape.gradient(y, x), [[0, 0.5, 0.5], [1, 0, 0]])


def test_argmax_argmin_values_and_no_gradient():
    x = values(3, (3, 4), "distinct")
    assert ops.argmax(x).item() == np.argmax(x)
    np.testing.assert_array_equal(ops.argmax(x, axis=1).numpy(), np.argmax(x, axis=1))
    np.testing.assert_array_equal(Tensor(x).argmin(axis=-1).numpy(), np.argmin(x, axis=-1))
    assert ops.argmax(x, 0).dtype.kind == "i"


# ---------------------------------------------------------------- shape ops

@FAST
@given(shape=shapes, seed=seeds, data=st.data())
def test_reshape_transpose_swapaxes_gradients(shape, seed, data):
    x = values(seed, shape)
    size = x.size
    assert gradcheck(lambda t: ops.reshape(t, (size,)) * np.arange(size), [x])
    assert gradcheck(lambda t: ops.reshape(t, (-1, 1)), [x])
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    np.testing.assert_array_equal(ops.transpose(x, perm).numpy(), np.transpose(x, perm))
    assert gradcheck(lambda t: ops.transpose(t, perm) * values(seed, np.transpose(x, perm).shape),
                     [x])
    assert gradcheck(lambda t: t.T, [x])
    if len(shape) >= 2:
        a, b = data.draw(st.integers(0, len(shape) - 1)), data.draw(st.integers(-len(shape), -1))
        np.testing.assert_array_equal(ops.swapaxes(x, a, b).numpy(), np.swapaxes(x, a, b))
        assert gradcheck(lambda t: ops.swapaxes(t, a, b), [x])


@FAST
@given(shape=shapes, seed=seeds, data=st.data())
def test_expand_dims_squeeze_broadcast_to_gradients(shape, seed, data):
    x = values(seed, shape)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    np.testing.assert_array_equal(ops.expand_dims(x, axis).numpy(), np.expand_dims(x, axis))
    assert gradcheck(lambda t: ops.expand_dims(t, axis), [x])
    np.testing.assert_array_equal(ops.squeeze(x).numpy(), np.squeeze(x))
    assert gradcheck(lambda t: ops.squeeze(t), [x])
    target = data.draw(st.sampled_from([(2, *shape), (3, 1, *shape)]))
    target = tuple(t if s != 1 else data.draw(st.sampled_from([1, 3]))
                   for t, s in zip(target, (None,) * (len(target) - len(shape)) + shape)) \
        if shape else target
    np.testing.assert_array_equal(ops.broadcast_to(x, target).numpy(), np.broadcast_to(x, target))
    w = values(seed + 1, target)
    assert gradcheck(lambda t: ops.broadcast_to(t, target) * w, [x])


@FAST
@given(shape=nonscalar, n=st.integers(1, 3), seed=seeds, data=st.data())
def test_concatenate_stack_split_gradients(shape, n, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    xs = [values(seed + i, shape) for i in range(n)]
    np.testing.assert_array_equal(ops.concatenate(xs, axis).numpy(), np.concatenate(xs, axis))
    assert gradcheck(lambda *ts: ops.concatenate(ts, axis=axis) * 1.5, xs)
    new_axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    np.testing.assert_array_equal(ops.stack(xs, new_axis).numpy(), np.stack(xs, new_axis))
    assert gradcheck(lambda *ts: ops.stack(ts, axis=new_axis), xs)
    cat = np.concatenate(xs, axis)
    pieces = ops.split(cat, n, axis)
    for p, ref in zip(pieces, np.split(cat, n, axis)):
        np.testing.assert_array_equal(p.numpy(), ref)
    w = [values(seed + 7 + i, p.shape) for i, p in enumerate(pieces)]
    assert gradcheck(lambda t: sum((p * wi).sum() for p, wi in
                                   zip(ops.split(t, n, axis), w)), [cat])


@FAST
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_pad_gradient(shape, seed, data):
    width = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape)
    x = values(seed, shape)
    np.testing.assert_array_equal(ops.pad(x, width, 1.5).numpy(),
                                  np.pad(x, width, constant_values=1.5))
    w = values(seed + 1, np.pad(x, width).shape)
    assert gradcheck(lambda t: ops.pad(t, width) * w, [x])


@st.composite
def index_keys(draw):
    """A shape and an index into it: slices, ints, None, Ellipsis, masks, integer arrays."""
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    kind = draw(st.sampled_from(["basic", "mask", "int_array", "mixed"]))
    if kind == "mask":
        mask = draw(st.lists(st.booleans(), min_size=shape[0], max_size=shape[0]))
        return shape, np.array(mask, dtype=bool)
    if kind == "int_array":
        idx = draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=6))
        return shape, np.array(idx)  # repeats likely: the backward must scatter-add
    key = []
    for side in shape:
        key.append(draw(st.one_of(
            st.integers(-side, side - 1),
            st.builds(slice, st.none() | st.integers(-side, side),
                      st.none() | st.integers(-side, side),
                      st.none() | st.sampled_from([1, 2, -1])),
        )))
    if kind == "mixed" and len(shape) >= 2:
        key[1] = np.array(draw(st.lists(st.integers(0, shape[1] - 1), min_size=1, max_size=4)))
    if draw(st.booleans()):
        key.insert(draw(st.integers(0, len(key))), None)
    return shape, tuple(key)


@settings(max_examples=40, deadline=None)
@given(sk=index_keys(), seed=seeds)
def test_getitem_values_and_gradients(sk, seed):
    shape, key = sk
    x = values(seed, shape)
    expected = x[key]
    np.testing.assert_array_equal(Tensor(x)[key].numpy(), expected)
    w = values(seed + 1, expected.shape)
    assert gradcheck(lambda t: t[key] * w, [x])


def test_getitem_repeated_indices_accumulate():
    from minikeras.autograd import GradientTape

    x = Tensor(np.arange(4.0))
    with GradientTape() as tape:
        tape.watch(x)
        y = x[[0, 2, 2, 2, -1]]
    np.testing.assert_array_equal(tape.gradient(y, x), [1, 0, 3, 1])
    with GradientTape() as tape:
        tape.watch(x)
        y = x[Tensor(np.array([1, 1]))]  # a Tensor as index works too
    np.testing.assert_array_equal(tape.gradient(y, x), [0, 2, 0, 0])


def test_getitem_with_boolean_tensor_mask_and_ellipsis():
    x = values(5, (3, 4))
    mask = Tensor(x) > 0
    np.testing.assert_array_equal(Tensor(x)[mask].numpy(), x[x > 0])
    assert gradcheck(lambda t: t[x > 0], [x])
    assert gradcheck(lambda t: t[..., 1:3], [x])
    assert gradcheck(lambda t: t[None, ::2, ..., -1], [x])


# ---------------------------------------------------------------- larger shapes: directional

def test_directional_on_larger_shapes():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((16, 32, 8)), rng.standard_normal((8, 12))
    bias = rng.standard_normal((12,))

    def net(x, w, c):
        h = ops.tanh(x @ w + c)
        return ops.log_softmax(h * h.sum(axis=1, keepdims=True), axis=-1).mean(axis=0)

    assert gradcheck(net, [a, b, bias], mode="directional")
    x = rng.uniform(0.5, 2.0, (64, 64))
    assert gradcheck(lambda t: ops.sqrt(t) * ops.log(t) + ops.exp(-t), [x], mode="directional")
    assert gradcheck(lambda t: ops.softmax(t, axis=0).var(axis=1), [x], mode="directional")


def test_relu_of_a_big_array_runs_the_kernel_with_numpys_numbers(monkeypatch):
    # at 500K numbers and more the ReLU and its gradient go to kernels.relu (split over the
    # threads); the numbers are numpy's, -0.0 and NaN included
    from minikeras import kernels
    from minikeras.autograd import GradientTape
    from minikeras.autograd.ops.activation import relu

    calls = []
    for name in ("relu_forward", "relu_backward"):
        real = getattr(kernels, name)
        monkeypatch.setattr(kernels, name,
                            lambda *a, name=name, real=real: calls.append(name) or real(*a))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 100, 80)).astype(np.float32)
    x[0, 0, :3] = [-0.0, np.nan, 0.0]
    seed = rng.standard_normal(x.shape).astype(np.float32)
    xt = Tensor(x)
    with GradientTape() as tape:
        tape.watch(xt)
        y = relu(xt)
    (g,) = tape.gradient(y, [xt], output_gradients=seed)
    assert calls == ["relu_forward", "relu_backward"]
    np.testing.assert_array_equal(y.numpy(), np.maximum(x, 0))
    np.testing.assert_array_equal(np.signbit(y.numpy()), np.signbit(np.maximum(x, 0)))
    np.testing.assert_array_equal(g.numpy(), seed * (np.maximum(x, 0) > 0))
    calls.clear()
    relu(Tensor(x[:2]))  # 16K numbers: numpy, no kernel
    assert not calls
