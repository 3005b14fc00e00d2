"""Keras 2.0.8's ``tests/keras/losses_test.py``, ported to minikeras.

Inputs, arguments and assertions are Keras's. Plumbing: ``K.variable`` and
``K.eval`` come from ``_training_compat``.
"""

import numpy as np

from keras2._training_compat import k_eval, variable
from minikeras import losses

allobj = [losses.mean_squared_error,
          losses.mean_absolute_error,
          losses.mean_absolute_percentage_error,
          losses.mean_squared_logarithmic_error,
          losses.squared_hinge,
          losses.hinge,
          losses.categorical_crossentropy,
          losses.binary_crossentropy,
          losses.kullback_leibler_divergence,
          losses.poisson,
          losses.cosine_proximity,
          losses.logcosh,
          losses.categorical_hinge]


def test_objective_shapes_3d():
    y_a = variable(np.random.random((5, 6, 7)))
    y_b = variable(np.random.random((5, 6, 7)))
    for obj in allobj:
        objective_output = obj(y_a, y_b)
        assert k_eval(objective_output).shape == (5, 6)


def test_objective_shapes_2d():
    y_a = variable(np.random.random((6, 7)))
    y_b = variable(np.random.random((6, 7)))
    for obj in allobj:
        objective_output = obj(y_a, y_b)
        assert k_eval(objective_output).shape == (6,)


def test_cce_one_hot():
    y_a = variable(np.random.randint(0, 7, (5, 6)))
    y_b = variable(np.random.random((5, 6, 7)))
    objective_output = losses.sparse_categorical_crossentropy(y_a, y_b)
    assert k_eval(objective_output).shape == (5, 6)

    y_a = variable(np.random.randint(0, 7, (6,)))
    y_b = variable(np.random.random((6, 7)))
    assert k_eval(losses.sparse_categorical_crossentropy(y_a, y_b)).shape == (6,)


def test_categorical_hinge():
    y_pred = variable(np.array([[0.3, 0.2, 0.1],
                                [0.1, 0.2, 0.7]]))
    y_true = variable(np.array([[0, 1, 0],
                                [1, 0, 0]]))
    expected_loss = ((0.3 - 0.2 + 1) + (0.7 - 0.1 + 1)) / 2.0
    loss = k_eval(losses.categorical_hinge(y_true, y_pred))
    assert np.isclose(expected_loss, np.mean(loss))


def test_sparse_categorical_crossentropy():
    y_pred = variable(np.array([[0.3, 0.6, 0.1],
                                [0.1, 0.2, 0.7]]))
    y_true = variable(np.array([1, 2]))
    expected_loss = - (np.log(0.6) + np.log(0.7)) / 2
    loss = k_eval(losses.sparse_categorical_crossentropy(y_true, y_pred))
    assert np.isclose(expected_loss, np.mean(loss))
