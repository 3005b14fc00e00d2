"""Tensor and Variable: dtype rules, operators, array protocol, repr, Variable updates."""

from __future__ import annotations

import numpy as np
import pytest

import minikeras
from minikeras.autograd import GradientTape, Tensor, Variable, ops


def test_public_names_at_top_level():
    for name in ("Tensor", "Variable", "GradientTape", "no_grad", "gradcheck"):
        assert hasattr(minikeras, name), name


# ---------------------------------------------------------------- dtype rules

def test_python_floats_default_to_float32():
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Variable([[1.0]]).dtype == np.float32
    assert Tensor([1, 2]).dtype.kind == "i"
    assert Tensor([True, False]).dtype == np.bool_


def test_float64_is_preserved():
    x = Tensor(np.ones(3))
    assert x.dtype == np.float64
    for y in (x * 2.0, x + 1, 2 ** x, x / 3, ops.exp(x), x.sum(), x.mean(), ops.softmax(x),
              x @ np.ones(3), x[1:], ops.where(x > 0, x, 0.0), ops.clip(x, 0.0, 1.0)):
        assert y.dtype == np.float64, y
    assert Tensor(np.float64(2.0)).dtype == np.float64


def test_float32_stays_float32_with_python_scalars():
    x = Tensor(np.ones(3, dtype=np.float32))
    results = [x * 2.0, 2.0 * x, x + 1, 1 - x, x / 3.0, 3.0 / x, x ** 2, x ** 0.5, 2.0 ** x,
               -x, ops.maximum(x, 0.0), ops.minimum(0.5, x), ops.where(x > 0, x, 0.0),
               ops.clip(x, 0.0, 0.5), x.mean(), x.var(), x.std(), ops.sigmoid(x),
               ops.leaky_relu(x), ops.elu(x), ops.selu(x), ops.hard_sigmoid(x), ops.softplus(x),
               ops.log_softmax(x), x * np.float64(2.0)]
    for y in results:
        assert y.dtype == np.float32, y


def test_float32_gradients_are_float32():
    w = Variable(np.ones((2, 2), dtype=np.float32))
    with GradientTape() as tape:
        y = (w * 0.5 + 1.0).sum() / 3.0
    assert tape.gradient(y, w).dtype == np.float32


def test_cast():
    x = Tensor([1.7, -2.2])
    assert ops.cast(x, "float64").dtype == np.float64
    assert x.astype(np.int32).numpy().tolist() == [1, -2]
    with pytest.raises(TypeError, match="cast: 'nope' is not a dtype"):
        ops.cast(x, "nope")


# ---------------------------------------------------------------- operators and protocol

def test_operators_match_numpy():
    a = np.array([[1.0, -2.0], [3.0, 0.5]])
    b = np.array([2.0, 4.0])
    ta, tb = Tensor(a), Tensor(b)
    pairs = [(ta + tb, a + b), (ta - tb, a - b), (ta * tb, a * b), (ta / tb, a / b),
             (ta ** 2, a ** 2), (ta @ tb, a @ b), (-ta, -a), (abs(ta), abs(a)), (+ta, a),
             (b + ta, b + a), (b - ta, b - a), (b * ta, b * a), (b / ta, b / a),
             (b @ ta, b @ a), (2 ** tb, 2 ** b), (1 - ta, 1 - a), (tb ** tb, b ** b)]
    for got, want in pairs:
        assert isinstance(got, Tensor)
        np.testing.assert_allclose(got.numpy(), want)


def test_comparisons_give_booleans_and_are_not_recorded():
    x = Tensor(np.array([1.0, 2.0, 3.0]))
    with GradientTape() as tape:
        tape.watch(x)
        results = {"<": x < 2, "<=": x <= 2, ">": x > 2, ">=": x >= 2, "==": x == 2,
                   "!=": x != 2}
    assert len(tape) == 0
    expected = {"<": [1, 0, 0], "<=": [1, 1, 0], ">": [0, 0, 1], ">=": [0, 1, 1],
                "==": [0, 1, 0], "!=": [1, 0, 1]}
    for k, t in results.items():
        assert t.dtype == np.bool_
        np.testing.assert_array_equal(t.numpy(), np.array(expected[k], dtype=bool))


def test_array_protocol_and_properties():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2
    assert np.asarray(x) is x.numpy()
    assert np.array(x, copy=True) is not x.numpy()
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
    assert float(Tensor(2.5)) == 2.5 and int(Tensor(3)) == 3 and Tensor(4.0).item() == 4.0
    assert [r.shape for r in x] == [(3,), (3,)]
    assert np.exp(x).shape == (2, 3)


def test_methods_mirror_ops():
    x = np.arange(1.0, 7.0).reshape(2, 3)
    t = Tensor(x)
    np.testing.assert_array_equal(t.reshape(3, 2).numpy(), x.reshape(3, 2))
    np.testing.assert_array_equal(t.reshape((6,)).numpy(), x.reshape(6))
    np.testing.assert_array_equal(t.transpose().numpy(), x.T)
    np.testing.assert_array_equal(t.transpose(1, 0).numpy(), x.T)
    np.testing.assert_array_equal(t.swapaxes(0, 1).numpy(), x.T)
    np.testing.assert_array_equal(t.expand_dims(0).squeeze(0).numpy(), x)
    np.testing.assert_array_equal(t.broadcast_to((4, 2, 3)).numpy(), np.broadcast_to(x, (4, 2, 3)))
    np.testing.assert_allclose(t.sum(axis=0).numpy(), x.sum(0))
    np.testing.assert_allclose(t.max(axis=1, keepdims=True).numpy(), x.max(1, keepdims=True))
    np.testing.assert_allclose(t.min().numpy(), 1.0)
    np.testing.assert_allclose(t.std(axis=1).numpy(), x.std(1))
    np.testing.assert_allclose(t.log().exp().numpy(), x)
    np.testing.assert_allclose(t.sqrt().square().numpy(), x)
    np.testing.assert_allclose(t.log1p().numpy(), np.log1p(x))
    np.testing.assert_allclose((-t).abs().numpy(), x)
    np.testing.assert_allclose((-t).sign().numpy(), -np.ones_like(x))
    np.testing.assert_allclose(t.tanh().numpy(), np.tanh(x))
    np.testing.assert_allclose(t.relu().numpy(), x)
    np.testing.assert_allclose(t.clip(2, 4).numpy(), np.clip(x, 2, 4))
    np.testing.assert_allclose(t.dot(np.ones(3)).numpy(), x.sum(1))
    assert t.argmax().item() == 5 and t.argmin().item() == 0


def test_repr_says_which_op_made_the_tensor():
    x = Tensor([1.0, 2.0], name="x")
    assert "name='x'" in repr(x) and "op=" not in repr(x)
    y = x * 2.0
    assert "op=Multiply" in repr(y) and "shape=(2,)" in repr(y) and "float32" in repr(y)
    assert repr(Variable(1.0, name="v")).startswith("Variable(1., ") and "name='v'" in repr(
        Variable(1.0, name="v"))  # the value, like a Tensor's repr


def test_detach_is_a_leaf():
    x = Variable([1.0])
    with GradientTape() as tape:
        y = x.detach() * x
    np.testing.assert_allclose(tape.gradient(y, x), [1.0])  # only the non-detached factor


# ---------------------------------------------------------------- Variable

def test_variable_assignments_are_in_place_and_not_recorded():
    v = Variable(np.zeros((2, 2), dtype=np.float32), name="v")
    data = v.numpy()
    with GradientTape() as tape:
        v.assign(np.ones((2, 2)))
        v.assign_add(1.0)
        v.assign_sub(np.array([0.5, 0.5]))
    assert len(tape) == 0
    assert v.numpy() is data and v.dtype == np.float32
    np.testing.assert_array_equal(v.numpy(), np.full((2, 2), 1.5))


def test_variable_copies_its_initial_value_and_keeps_constraint():
    init = np.ones(3)
    v = Variable(init, trainable=False, name="b", dtype="float32", constraint=abs)
    v.assign_add(1.0)
    np.testing.assert_array_equal(init, np.ones(3))
    assert v.dtype == np.float32 and not v.trainable and v.constraint is abs and v.name == "b"


def test_variable_shape_errors_name_the_variable_and_shapes():
    v = Variable(np.zeros((2, 3)), name="dense/kernel")
    with pytest.raises(ValueError, match=r"'dense/kernel'.assign: .*\(2, 3\).*\(3, 2\)"):
        v.assign(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"'dense/kernel'.assign_add: .*\(2, 3\).*\(4,\)"):
        v.assign_add(np.zeros(4))
    with pytest.raises(ValueError, match=r"assign_sub: .*\(2, 3\).*\(2, 2, 3\)"):
        v.assign_sub(np.zeros((2, 2, 3)))


def test_a_scalar_tensor_formats_like_its_number():
    t = Tensor(np.array(0.25))
    assert f"{t:.1%}" == "25.0%"
    assert f"{t:.3f}" == "0.250"
    assert f"{t}" == str(t)
    with pytest.raises(TypeError, match=r"shape \(2,\).*needs a scalar tensor"):
        f"{Tensor([1.0, 2.0]):.2f}"
