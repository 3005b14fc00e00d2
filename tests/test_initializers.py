import numpy as np
import pytest

from minikeras import initializers
from minikeras.backend.random import set_seed

SHAPES = [(30, 40), (3, 3, 20, 30), (5, 3, 20), (200,)]


def _fans(shape):
    if len(shape) == 2:
        return shape
    if len(shape) in (3, 4, 5):
        r = int(np.prod(shape[:-2]))
        return shape[-2] * r, shape[-1] * r
    s = np.sqrt(np.prod(shape))
    return s, s


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "name,scale,mode",
    [("glorot_uniform", 1.0, "fan_avg"), ("he_uniform", 2.0, "fan_in"),
     ("lecun_uniform", 1.0, "fan_in")],
)
def test_uniform_variance_scaling_limits(shape, name, scale, mode):
    w = initializers.get(name)(shape)
    fan_in, fan_out = _fans(shape)
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    limit = np.sqrt(3 * scale / n)
    assert w.shape == shape and w.dtype == np.float32
    assert np.abs(w).max() <= limit + 1e-6
    assert np.abs(w).max() > 0.8 * limit  # really spread to the limit


@pytest.mark.parametrize(
    "name,scale,mode",
    [("glorot_normal", 1.0, "fan_avg"), ("he_normal", 2.0, "fan_in"),
     ("lecun_normal", 1.0, "fan_in")],
)
def test_normal_variance_scaling_is_truncated(name, scale, mode):
    shape = (100, 200)
    w = initializers.get(name)(shape)
    n = {"fan_in": 100, "fan_avg": 150}[mode]
    std = np.sqrt(scale / n)
    assert np.abs(w).max() <= 2 * std + 1e-7
    # a normal truncated at 2 sigma has std about 0.88 sigma
    assert 0.8 * std < w.std() < 0.95 * std


def test_glorot_uniform_serializes_as_variance_scaling():
    assert initializers.serialize(initializers.get("glorot_uniform")) == {
        "class_name": "VarianceScaling",
        "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None},
    }


@pytest.mark.parametrize(
    "init",
    [initializers.Zeros(), initializers.Ones(), initializers.Constant(3.5),
     initializers.RandomNormal(1.0, 0.5, seed=3), initializers.RandomUniform(-1, 2, seed=4),
     initializers.TruncatedNormal(0.0, 2.0, seed=5),
     initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=6),
     initializers.Orthogonal(2.0, seed=7), initializers.Identity(0.5)],
)
def test_config_round_trip_gives_same_values(init):
    config = initializers.serialize(init)
    again = initializers.deserialize(config)
    assert type(again) is type(init)
    assert again.get_config() == init.get_config()
    np.testing.assert_array_equal(init((6, 6)), again((6, 6)))


def test_constant_ones_zeros_values_and_dtype():
    np.testing.assert_array_equal(initializers.get("ones")((2, 2)), np.ones((2, 2)))
    np.testing.assert_array_equal(initializers.get("zeros")((2,)), np.zeros(2))
    c = initializers.Constant(2.5)((3,), dtype="float64")
    assert c.dtype == np.float64 and (c == 2.5).all()


def test_random_normal_and_uniform_moments():
    w = initializers.RandomNormal(mean=1.0, stddev=0.5, seed=1)((200, 200))
    assert abs(w.mean() - 1.0) < 0.01 and abs(w.std() - 0.5) < 0.01
    u = initializers.RandomUniform(minval=2.0, maxval=3.0, seed=1)((1000,))
    assert u.min() >= 2.0 and u.max() < 3.0


def test_seeded_is_repeatable_and_unseeded_follows_global_seed():
    a = initializers.RandomNormal(seed=11)((4, 4))
    b = initializers.RandomNormal(seed=11)((4, 4))
    np.testing.assert_array_equal(a, b)
    set_seed(5)
    c = initializers.RandomNormal()((4, 4))
    set_seed(5)
    d = initializers.RandomNormal()((4, 4))
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(c, initializers.RandomNormal()((4, 4)))


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (3, 2, 2), (2, 2, 3, 4), (1, 2, 2, 8)])
def test_orthogonal(shape):
    w = initializers.Orthogonal(gain=1.0, seed=0)(shape).astype(np.float64)
    # Keras 2 layout: every axis but the last is a row, (prod(shape[:-1]), shape[-1])
    flat = w.reshape(-1, shape[-1])
    if flat.shape[0] <= flat.shape[1]:
        np.testing.assert_allclose(flat @ flat.T, np.eye(flat.shape[0]), atol=1e-5)
    else:
        np.testing.assert_allclose(flat.T @ flat, np.eye(flat.shape[1]), atol=1e-5)


def test_identity_requires_square():
    np.testing.assert_array_equal(initializers.Identity(2.0)((3, 3)), 2 * np.eye(3))
    with pytest.raises(ValueError, match=r"Identity.*\(3, 4\)"):
        initializers.Identity()((3, 4))


@pytest.mark.parametrize(
    "kwargs,match",
    [({"scale": 0.0}, "scale"), ({"mode": "fan_up"}, "mode"),
     ({"distribution": "cauchy"}, "distribution")],
)
def test_variance_scaling_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        initializers.VarianceScaling(**kwargs)


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match="Unknown initializer: 'glorot'.*glorot_uniform"):
        initializers.get("glorot")
    with pytest.raises(ValueError, match="Could not interpret initializer"):
        initializers.get(1.5)


def test_lowercase_aliases():
    assert isinstance(initializers.get("random_normal"), initializers.RandomNormal)
    assert isinstance(initializers.get("truncated_normal"), initializers.TruncatedNormal)
    assert isinstance(initializers.get("orthogonal"), initializers.Orthogonal)
    assert isinstance(initializers.get("zero"), initializers.Zeros)
