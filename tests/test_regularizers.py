import numpy as np
import pytest

from minikeras import regularizers
from minikeras.autograd import GradientTape, Variable, gradcheck


def test_values():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert regularizers.l1(0.1)(w).item() == pytest.approx(0.1 * 3.5)
    assert regularizers.l2(0.1)(w).item() == pytest.approx(0.1 * 5.25)
    assert regularizers.l1_l2(0.1, 0.2)(w).item() == pytest.approx(0.35 + 0.2 * 5.25)
    assert regularizers.L1L2()(w).item() == 0.0


def test_gradient_reaches_variable():
    v = Variable(np.array([1.0, -2.0, 3.0]), dtype="float64")
    with GradientTape() as tape:
        loss = regularizers.l1_l2(0.1, 0.01)(v)
    g = tape.gradient(loss, v)
    np.testing.assert_allclose(g, 0.1 * np.sign(v.data) + 0.02 * v.data)
    gradcheck(regularizers.l1_l2(0.3, 0.7), [np.array([[0.4, -1.2], [2.0, -0.3]])])


def test_configs_and_round_trip():
    assert regularizers.serialize(regularizers.l2(0.01)) == {
        "class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}}
    r = regularizers.deserialize({"class_name": "L1L2", "config": {"l1": 0.3, "l2": 0.0}})
    assert r.get_config() == {"l1": 0.3, "l2": 0.0}


def test_get_by_name_uses_keras_defaults():
    assert regularizers.get("l2").get_config() == {"l1": 0.0, "l2": 0.01}
    assert regularizers.get("l1").get_config() == {"l1": 0.01, "l2": 0.0}
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}
    assert regularizers.get(None) is None


def test_errors():
    with pytest.raises(ValueError, match="Unknown regularizer: 'l3'.*l1_l2"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="Could not interpret regularizer"):
        regularizers.get(0.01)
