"""Each loss against hand-computed values, and its gradient against finite differences."""

import numpy as np
import pytest

from minikeras import losses
from minikeras.autograd import GradientTape, Tensor, gradcheck

EPS = 1e-7
rng = np.random.default_rng(0)
P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
ONEHOT = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
LABELS = np.array([0, 2])


def val(t):
    return np.asarray(t.data)


def test_mse_mae_values():
    yt = np.array([[1.0, 2.0], [0.0, 0.0]])
    yp = np.array([[1.5, 1.0], [-2.0, 1.0]])
    np.testing.assert_allclose(val(losses.mse(yt, yp)), [(0.25 + 1) / 2, (4 + 1) / 2])
    np.testing.assert_allclose(val(losses.mae(yt, yp)), [(0.5 + 1) / 2, (2 + 1) / 2])


def test_crossentropy_values():
    want = [-np.log(0.7), -np.log(0.6)]
    np.testing.assert_allclose(val(losses.categorical_crossentropy(ONEHOT, P)), want)
    np.testing.assert_allclose(val(losses.sparse_categorical_crossentropy(LABELS, P)), want)
    np.testing.assert_allclose(
        val(losses.sparse_categorical_crossentropy(LABELS[:, None], P)), want)
    # Keras renormalises probabilities in the categorical form
    np.testing.assert_allclose(val(losses.categorical_crossentropy(ONEHOT, 2 * P)), want)
    yt = np.array([[1.0, 0.0]])
    yp = np.array([[0.8, 0.4]])
    np.testing.assert_allclose(val(losses.binary_crossentropy(yt, yp)),
                               [-(np.log(0.8) + np.log(0.6)) / 2])


def test_crossentropy_clips_like_keras():
    yp = np.array([[1.0, 0.0]])
    got = val(losses.categorical_crossentropy(np.array([[0.0, 1.0]]), yp))
    np.testing.assert_allclose(got, [-np.log(EPS)], rtol=1e-6)
    got = val(losses.binary_crossentropy(np.array([[1.0]]), np.array([[0.0]])))
    np.testing.assert_allclose(got, [-np.log(EPS)], rtol=1e-6)
    assert np.isfinite(val(losses.sparse_categorical_crossentropy([1], yp))).all()


def test_from_logits_matches_softmax_and_is_stable():
    z = np.array([[2.0, -1.0, 0.5], [1000.0, 0.0, -1000.0]])
    logsm = z - z.max(-1, keepdims=True)
    logsm = logsm - np.log(np.exp(logsm).sum(-1, keepdims=True))
    want = -logsm[[0, 1], [0, 2]]
    np.testing.assert_allclose(
        val(losses.sparse_categorical_crossentropy(LABELS, z, from_logits=True)), want)
    np.testing.assert_allclose(
        val(losses.categorical_crossentropy(ONEHOT, z, from_logits=True)), want)
    zb = np.array([[800.0, -800.0, 0.0]])
    tb = np.array([[0.0, 0.0, 1.0]])
    got = val(losses.binary_crossentropy(tb, zb, from_logits=True))
    np.testing.assert_allclose(got, [(800 + 0 + np.log(2)) / 3])


def test_hinge_huber_values():
    yt = np.array([[1.0, -1.0]])
    yp = np.array([[0.3, 0.5]])
    np.testing.assert_allclose(val(losses.hinge(yt, yp)), [(0.7 + 1.5) / 2])
    err = np.array([[0.5, 2.0, -3.0]])
    np.testing.assert_allclose(val(losses.huber(np.zeros((1, 3)), err)),
                               [(0.125 + 1.5 + 2.5) / 3])
    np.testing.assert_allclose(val(losses.Huber(delta=2.0)(np.zeros((1, 3)), err)),
                               [(0.125 + 2.0 + 4.0) / 3])


def _check(fn, yp, yt=None):
    yp = np.asarray(yp, dtype=np.float64)
    gradcheck(lambda p: fn(yt, p).sum() if yt is not None else fn(p).sum(), [yp])


PROBS = rng.uniform(0.05, 0.9, size=(4, 3))
SOFT = rng.dirichlet(np.ones(3), size=4)


@pytest.mark.parametrize("fn,yt,yp", [
    (losses.mean_squared_error, rng.normal(size=(4, 3)), rng.normal(size=(4, 3))),
    (losses.mean_absolute_error, rng.normal(size=(4, 3)), rng.normal(size=(4, 3))),
    (losses.binary_crossentropy, rng.uniform(size=(4, 3)), PROBS),
    (lambda t, p: losses.binary_crossentropy(t, p, from_logits=True),
     rng.uniform(size=(4, 3)), rng.normal(size=(4, 3)) * 3),
    (losses.categorical_crossentropy, SOFT, PROBS),
    (lambda t, p: losses.categorical_crossentropy(t, p, from_logits=True),
     SOFT, rng.normal(size=(4, 3)) * 3),
    (losses.sparse_categorical_crossentropy, np.array([0, 2, 1, 1]), PROBS),
    (lambda t, p: losses.sparse_categorical_crossentropy(t, p, from_logits=True),
     np.array([0, 2, 1, 1]), rng.normal(size=(4, 3)) * 3),
    (losses.hinge, np.sign(rng.normal(size=(4, 3))), rng.normal(size=(4, 3)) * 0.3),
    (losses.huber, np.zeros((4, 3)), np.array([[0.3, -2, 1.5]] * 4) + rng.normal(size=(4, 3)) * .1),
    (losses.logcosh, rng.normal(size=(4, 3)), rng.normal(size=(4, 3))),
])
def test_gradcheck(fn, yt, yp):
    _check(fn, yp, yt)


@pytest.mark.parametrize("fn,from_logits", [
    (losses.binary_crossentropy, False), (losses.binary_crossentropy, True),
    (losses.categorical_crossentropy, False), (losses.categorical_crossentropy, True),
])
def test_gradient_wrt_targets(fn, from_logits):
    yp = PROBS if not from_logits else rng.normal(size=(4, 3))
    gradcheck(lambda t: fn(t, Tensor(yp), from_logits=from_logits).sum(), [SOFT.copy()])


def test_no_gradient_through_clipped_entries():
    p = Tensor(np.array([[1.0, 0.0]]))
    with GradientTape() as tape:
        tape.watch(p)
        loss = losses.sparse_categorical_crossentropy([0], p).sum()
    g = tape.gradient(loss, p)
    np.testing.assert_array_equal(g, [[0.0, 0.0]])


def test_float32_in_float32_out():
    p = np.array([[0.2, 0.8]], dtype=np.float32)
    assert losses.sparse_categorical_crossentropy([1], p).dtype == np.float32
    assert losses.mse(np.array([[1, 0]]), p).dtype == np.float32


def test_bad_labels_and_shapes_are_clear():
    with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
        losses.sparse_categorical_crossentropy(np.array([0, 3]), P)
    with pytest.raises(ValueError, match="label -1"):
        losses.sparse_categorical_crossentropy(np.array([0, -1]), P)
    with pytest.raises(ValueError, match="whole numbers"):
        losses.sparse_categorical_crossentropy(np.array([0.5, 1.0]), P)
    with pytest.raises(ValueError, match="expected integer labels of shape"):
        losses.sparse_categorical_crossentropy(np.array([0, 1, 2]), P)
    with pytest.raises(ValueError, match="y_true has shape"):
        losses.mse(np.zeros((2, 4)), P)


def test_get_serialize():
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("MAE") is losses.mean_absolute_error
    assert losses.get(None) is None
    assert losses.serialize(losses.categorical_crossentropy) == "categorical_crossentropy"
    obj = losses.SparseCategoricalCrossentropy(from_logits=True)
    again = losses.get(losses.serialize(obj))
    assert isinstance(again, losses.SparseCategoricalCrossentropy)
    assert again.get_config()["from_logits"] is True
    with pytest.raises(ValueError, match="Unknown loss 'msee'.*mean_squared_error"):
        losses.get("msee")


def test_binary_accuracy_rounds_as_keras2():
    from minikeras import metrics

    y_true = np.array([[1.0, 0.0, 1.0, 0.0, 0.0]])
    y_pred = np.array([[1.7, -0.7, 0.6, 0.5, 0.4]])  # round: 2, -1, 1, 0 (half to even), 0
    np.testing.assert_allclose(metrics.binary_accuracy(y_true, y_pred), [3 / 5])
    np.testing.assert_allclose(metrics.binary_accuracy(y_true, y_pred, threshold=0.5), [5 / 5])
