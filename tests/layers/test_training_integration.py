"""Layers inside the training loop: constraints after each step, regularizers in the loss,
BatchNormalization moving averages and Dropout through fit."""

import numpy as np

from minikeras import layers as L
from minikeras.engine import Input, Model

RNG = np.random.default_rng(0)


def test_constraints_hold_after_optimizer_steps():
    x = Input((6, 6, 2))
    h = L.SeparableConv2D(3, 3, depthwise_constraint="non_neg",
                          pointwise_constraint="unit_norm",
                          bias_constraint="non_neg")(x)
    y = L.Dense(2, kernel_constraint="max_norm")(L.Flatten()(h))
    model = Model(x, y)
    model.compile("sgd", "mse")
    data = RNG.normal(size=(8, 6, 6, 2)).astype(np.float32)
    target = RNG.normal(size=(8, 2)).astype(np.float32) * 50
    for _ in range(3):
        model.train_on_batch(data, target)
    sep = model.layers[1]
    assert (sep.depthwise_kernel.data >= 0).all() and (sep.bias.data >= 0).all()
    norms = np.sqrt((sep.pointwise_kernel.data ** 2).sum(axis=0))
    np.testing.assert_allclose(norms, 1.0, rtol=1e-4)
    dense = model.layers[-1]
    assert (np.sqrt((dense.kernel.data ** 2).sum(axis=0)) <= 2.0 + 1e-5).all()


def test_regularizers_in_model_losses():
    x = Input((4,))
    y = L.Dense(3, kernel_regularizer="l2", activity_regularizer="l1")(x)
    model = Model(x, y)
    assert len(model.get_losses_for(None)) == 1
    assert len(model.losses) == 2  # the weight penalty and the activity one of the node


def test_batchnorm_and_dropout_through_fit():
    x = Input((3,))
    bn = L.BatchNormalization(momentum=0.5)
    y = L.Dense(1)(L.Dropout(0.5)(bn(x)))
    model = Model(x, y)
    model.compile("sgd", "mse")
    data = RNG.normal(4.0, 2.0, size=(64, 3)).astype(np.float32)
    model.fit(data, np.zeros((64, 1), np.float32), batch_size=64, epochs=20, verbose=0)
    np.testing.assert_allclose(bn.moving_mean.data, data.mean(0), rtol=1e-3)
    # inference is deterministic (no dropout, moving statistics)
    np.testing.assert_array_equal(model.predict(data), model.predict(data))
