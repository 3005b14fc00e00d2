import numpy as np
import pytest

from minikeras import constraints

RNG = np.random.default_rng(0)
W = RNG.normal(size=(4, 5)) * 3


def test_max_norm_caps_column_norms():
    out = constraints.MaxNorm(2.0)(W)
    norms = np.sqrt((out ** 2).sum(axis=0))
    assert (norms <= 2.0 + 1e-6).all()
    small = W / 100
    np.testing.assert_allclose(constraints.MaxNorm(2.0)(small), small, rtol=1e-4)


def test_max_norm_axis_list_for_conv_kernels():
    k = RNG.normal(size=(3, 3, 2, 4)) * 5
    out = constraints.max_norm(1.0, axis=[0, 1, 2])(k)
    norms = np.sqrt((out ** 2).sum(axis=(0, 1, 2)))
    assert (norms <= 1.0 + 1e-6).all() and norms.shape == (4,)


def test_non_neg():
    np.testing.assert_array_equal(constraints.NonNeg()(np.array([-1.0, 0.0, 2.0])), [0, 0, 2])


@pytest.mark.parametrize("axis", [0, 1])
def test_unit_norm(axis):
    out = constraints.UnitNorm(axis=axis)(W)
    np.testing.assert_allclose(np.sqrt((out ** 2).sum(axis=axis)), 1.0, rtol=1e-5)


def test_min_max_norm_rate():
    w = np.array([[3.0], [4.0]])  # norm 5
    np.testing.assert_allclose(constraints.MinMaxNorm(0.0, 1.0)(w), w / 5, rtol=1e-6)
    half = constraints.MinMaxNorm(0.0, 1.0, rate=0.5)(w)
    np.testing.assert_allclose(np.linalg.norm(half), 3.0, rtol=1e-6)
    tiny = np.array([[0.03], [0.04]])  # norm 0.05 below min 1
    np.testing.assert_allclose(np.linalg.norm(constraints.MinMaxNorm(1.0, 2.0)(tiny)), 1.0,
                               rtol=1e-5)


@pytest.mark.parametrize(
    "c,config",
    [(constraints.MaxNorm(3, axis=1), {"max_value": 3, "axis": 1}),
     (constraints.UnitNorm(), {"axis": 0}), (constraints.NonNeg(), {}),
     (constraints.MinMaxNorm(0.5, 2.0, 0.7, [0, 1]),
      {"min_value": 0.5, "max_value": 2.0, "rate": 0.7, "axis": [0, 1]})],
)
def test_configs_round_trip(c, config):
    s = constraints.serialize(c)
    assert s == {"class_name": type(c).__name__, "config": config}
    again = constraints.deserialize(s)
    np.testing.assert_allclose(again(W[:2, :2]), c(W[:2, :2]))


def test_aliases_and_errors():
    assert isinstance(constraints.get("max_norm"), constraints.MaxNorm)
    assert isinstance(constraints.get("unit_norm"), constraints.UnitNorm)
    assert isinstance(constraints.get("non_neg"), constraints.NonNeg)
    assert isinstance(constraints.get("min_max_norm"), constraints.MinMaxNorm)
    assert constraints.get("unit_norm").get_config() == {"axis": 0}
    with pytest.raises(ValueError, match="Unknown constraint: 'max'.*max_norm"):
        constraints.get("max")
    with pytest.raises(ValueError, match="Could not interpret constraint"):
        constraints.get(5)


def test_dtype_kept():
    w = W.astype(np.float32)
    for c in (constraints.MaxNorm(1), constraints.UnitNorm(), constraints.NonNeg(),
              constraints.MinMaxNorm()):
        assert c(w).dtype == np.float32
