"""Every loss answers fit's question the same way: ``as_loss(loss).batch_mean(y, p, w)``."""

import numpy as np
import pytest

from minikeras import losses
from minikeras.autograd import Tensor

RNG = np.random.default_rng(7)


def _targets_for(loss, pred):
    if loss.integer_labels:
        return RNG.integers(0, pred.shape[-1], size=pred.shape[:-1])
    return RNG.uniform(0.05, 0.95, size=pred.shape)


@pytest.mark.parametrize("name", ["mse", "mae", "binary_crossentropy",
                                  "categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "hinge", "huber", "logcosh", "poisson"])
@pytest.mark.parametrize("weighted", [False, True])
def test_batch_mean_is_the_weighted_mean_of_the_per_sample_losses(name, weighted):
    loss = losses.as_loss(name)
    pred = Tensor(RNG.uniform(0.05, 0.95, size=(6, 4)), dtype="float64")
    y = _targets_for(loss, pred)
    w = np.array([1.0, 0.0, 2.0, 0.5, 1.0, 3.0]) if weighted else None
    per = loss(y, pred).numpy()
    if w is None:
        expected = per.mean()
    else:  # Keras 2: sum(w * loss) / count(w != 0)
        expected = (w * per).sum() / np.count_nonzero(w)
    np.testing.assert_allclose(loss.batch_mean(y, pred, w).numpy(), expected, rtol=1e-12)


def test_integer_labels_is_a_property_of_the_loss_not_of_its_name():
    assert losses.as_loss("sparse_categorical_crossentropy").integer_labels
    assert losses.SparseCategoricalCrossentropy(from_logits=True).integer_labels
    assert not losses.as_loss("categorical_crossentropy").integer_labels

    def sparse_categorical_crossentropy(y_true, y_pred):  # a user's function of that name
        return losses.mean_squared_error(y_true, y_pred)

    assert not losses.as_loss(sparse_categorical_crossentropy).integer_labels


def test_the_fused_sparse_batch_mean_is_one_op_and_checks_labels():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    logits = Tensor(RNG.normal(size=(3, 5)))
    out = loss.batch_mean(np.array([0, 4, 2]), logits)
    assert out.op_name == "SparseCategoricalCrossentropyFromLogitsMean"
    with pytest.raises(ValueError, match="label 5 is out of range for 5 classes"):
        loss.batch_mean(np.array([0, 5, 2]), logits)


def test_a_custom_function_keeps_its_name_in_logs():
    def my_loss(y_true, y_pred):
        return losses.mean_absolute_error(y_true, y_pred)

    wrapped = losses.as_loss(my_loss)
    assert isinstance(wrapped, losses.LossFunctionWrapper)
    assert wrapped.__name__ == "my_loss"
