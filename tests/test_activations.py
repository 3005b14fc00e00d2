import numpy as np
import pytest

from minikeras import activations
from minikeras.autograd import Tensor, gradcheck

X = np.array([[-3.0, -0.5, 0.0, 0.7, 4.0]])

REFERENCE = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0, 1),
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True),
    "swish": lambda x: x / (1 + np.exp(-x)),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_values_match_numpy(name):
    fn = activations.get(name)
    out = fn(Tensor(X, dtype="float64"))
    out = out.data if isinstance(out, Tensor) else np.asarray(out)
    np.testing.assert_allclose(out, REFERENCE[name](X), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(set(REFERENCE) - {"linear", "relu", "relu6"}))
def test_gradients(name):
    fn = activations.get(name)
    x = np.array([[-1.3, -0.4, 0.35, 0.9, 1.7]])
    gradcheck(fn, [x])


def test_serialize_round_trip_by_name():
    for name in REFERENCE:
        fn = activations.get(name)
        assert activations.serialize(fn) == name
        assert activations.get(activations.serialize(fn)) is fn


def test_none_is_linear_and_callable_passes_through():
    assert activations.get(None) is activations.linear
    assert activations.serialize(None) == "linear"

    def mine(x):
        return x

    assert activations.get(mine) is mine


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match="Unknown activation function: 'nope'.*relu"):
        activations.get("nope")


def test_uninterpretable_identifier():
    with pytest.raises(ValueError, match="Could not interpret activation"):
        activations.get(3)


def test_custom_objects_resolve():
    def mine(x):
        return x * 2

    assert activations.deserialize("mine", custom_objects={"mine": mine}) is mine


def test_softmax_rejects_1d_and_supports_axis():
    with pytest.raises(ValueError, match="1-D"):
        activations.softmax(np.array([1.0, 2.0]))
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    out = activations.softmax(x, axis=1).data
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)


def test_relu_alpha_and_max_value():
    out = activations.relu(np.array([-2.0, 1.0, 9.0]), alpha=0.1, max_value=5.0).data
    np.testing.assert_allclose(out, [-0.2, 1.0, 5.0], rtol=1e-6)
