"""BatchNormalization: training vs inference, moving averages through add_update, gradients."""

import numpy as np
import pytest

from minikeras import layers as L
from minikeras.autograd import gradcheck
from minikeras.engine.input_layer import Input

RNG = np.random.default_rng(0)


def _bn(**kwargs):
    kwargs.setdefault("dtype", "float64")
    return L.BatchNormalization(**kwargs)


def test_weights_order_trainability_and_defaults():
    layer = L.BatchNormalization(name="bn")
    layer.build((None, 4))
    assert [w.name for w in layer.weights] == ["bn/gamma", "bn/beta", "bn/moving_mean",
                                               "bn/moving_variance"]
    assert [w.name for w in layer.trainable_weights] == ["bn/gamma", "bn/beta"]
    assert [w.name for w in layer.non_trainable_weights] == ["bn/moving_mean",
                                                             "bn/moving_variance"]
    assert layer.count_params() == 16
    config = layer.get_config()
    assert (config["axis"], config["momentum"], config["epsilon"]) == (-1, 0.99, 1e-3)
    assert config["center"] and config["scale"]
    assert set(config) == {"name", "trainable", "axis", "momentum", "epsilon", "center",
                           "scale", "beta_initializer", "gamma_initializer",
                           "moving_mean_initializer", "moving_variance_initializer",
                           "beta_regularizer", "gamma_regularizer", "beta_constraint",
                           "gamma_constraint"}
    assert L.BatchNormalization.from_config(config).get_config() == config


def test_center_scale_false():
    layer = L.BatchNormalization(center=False, scale=False)
    layer.build((None, 3))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2


@pytest.mark.parametrize("axis,shape", [(-1, (8, 3)), (-1, (4, 3, 3, 2)), (1, (4, 3, 5, 5))])
def test_training_uses_batch_stats_and_updates_moving_averages(axis, shape):
    layer = _bn(axis=axis, momentum=0.9, gamma_initializer="random_uniform",
                beta_initializer="random_uniform")
    x = RNG.normal(3.0, 2.0, size=shape)
    out = layer(x, training=True).data
    ax = axis % len(shape)
    axes = tuple(a for a in range(len(shape)) if a != ax)
    bshape = [1] * len(shape)
    bshape[ax] = shape[ax]
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    gamma, beta = layer.gamma.data.reshape(bshape), layer.beta.data.reshape(bshape)
    expected = (x - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-3) * gamma + beta
    np.testing.assert_allclose(out, expected, rtol=1e-10)
    np.testing.assert_allclose(layer.moving_mean.data, 0.1 * mean)
    # Keras 2.0.8: the biased batch variance (tf.nn.moments), no n / (n - 1) correction
    np.testing.assert_allclose(layer.moving_variance.data, 0.9 + 0.1 * var)


def test_predict_and_evaluate_run_no_layer_updates():
    # Keras 2 runs layer updates only in training: a BN called with training=True in the
    # graph normalises with batch statistics in predict, but its moving averages stay put
    from minikeras.layers import Input
    from minikeras.models import Model

    bn = _bn(momentum=0.5)
    x = Input((3,))
    model = Model(x, bn(x, training=True))
    model.compile("sgd", "mse")
    data = RNG.normal(5.0, 2.0, size=(16, 3))
    moving = [w.copy() for w in (bn.moving_mean.data, bn.moving_variance.data)]
    out = model.predict(data)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-6)  # batch statistics
    model.evaluate(data, data, verbose=0)
    model.test_on_batch(data, data)
    model.predict_on_batch(data)
    np.testing.assert_array_equal(bn.moving_mean.data, moving[0])
    np.testing.assert_array_equal(bn.moving_variance.data, moving[1])
    model.train_on_batch(data, data)  # training moves them
    np.testing.assert_allclose(bn.moving_mean.data, 0.5 * data.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.data, 0.5 + 0.5 * data.var(axis=0), rtol=1e-5)


def test_inference_uses_moving_stats_and_does_not_update():
    layer = _bn(epsilon=0.01)
    x = RNG.normal(size=(6, 3))
    layer.build((None, 3))
    layer.moving_mean.assign(np.array([1.0, 2.0, 3.0]))
    layer.moving_variance.assign(np.array([4.0, 1.0, 0.25]))
    layer.gamma.assign(np.array([1.0, 2.0, 3.0]))
    layer.beta.assign(np.array([0.5, 0.0, -0.5]))
    for training in (None, False):
        out = layer(x, training=training).data
        expected = (x - [1, 2, 3]) / np.sqrt(np.array([4, 1, 0.25]) + 0.01) * [1, 2, 3] \
            + [0.5, 0, -0.5]
        np.testing.assert_allclose(out, expected, rtol=1e-10)
    np.testing.assert_array_equal(layer.moving_mean.data, [1, 2, 3])


def test_repeated_training_calls_converge_to_data_stats():
    layer = _bn(momentum=0.5)
    x = RNG.normal(5.0, 3.0, size=(500, 2))
    for _ in range(40):
        layer(x, training=True)
    np.testing.assert_allclose(layer.moving_mean.data, x.mean(0), rtol=1e-6)
    # the biased variance, as Keras 2.0.8 (tf.nn.moments)
    np.testing.assert_allclose(layer.moving_variance.data, x.var(0), rtol=1e-6)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("axis,shape", [(-1, (5, 3)), (1, (3, 2, 3, 2))])
def test_gradients(training, axis, shape):
    layer = _bn(axis=axis, gamma_initializer="random_uniform", beta_initializer="random_normal",
                moving_mean_initializer="random_normal", moving_variance_initializer="ones")
    x = RNG.normal(size=shape)
    layer.build(shape)
    moving = [layer.moving_mean.data.copy(), layer.moving_variance.data.copy()]

    def f(x, gamma, beta):
        saved = layer.gamma, layer.beta
        layer.gamma, layer.beta = gamma, beta
        try:
            return layer.call(x, training=training)
        finally:
            layer.gamma, layer.beta = saved
            layer.moving_mean.assign(moving[0])  # keep every evaluation at the same point
            layer.moving_variance.assign(moving[1])

    gradcheck(f, [x, layer.gamma.data.copy(), layer.beta.data.copy()], mode="full")


def test_symbolic_call_records_no_eager_update_and_model_training_updates():
    from minikeras.engine import Model

    x = Input((3,))
    bn = L.BatchNormalization(momentum=0.0)
    model = Model(x, bn(x))
    data = RNG.normal(2.0, 1.0, size=(16, 3)).astype(np.float32)
    np.testing.assert_array_equal(bn.moving_mean.data, 0)
    model(data, training=True)
    np.testing.assert_allclose(bn.moving_mean.data, data.mean(0), rtol=1e-5)
    before = bn.moving_mean.data.copy()
    model(data + 1, training=False)
    np.testing.assert_array_equal(bn.moving_mean.data, before)


def test_errors():
    with pytest.raises(ValueError, match=r"bn_e.*axis -1.*\(None, None\)"):
        L.BatchNormalization(name="bn_e").build((None, None))
    with pytest.raises(ValueError, match=r"bn_e2.*axis 3.*out of range"):
        L.BatchNormalization(axis=3, name="bn_e2").build((None, 4))
    with pytest.raises(ValueError, match=r"bn_e3.*axis"):
        L.BatchNormalization(axis=[1, 2], name="bn_e3")
    layer = L.BatchNormalization(name="bn_e4")
    layer(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="bn_e4"):
        layer(np.zeros((2, 4), np.float32))


def test_regularizers_and_constraints():
    layer = L.BatchNormalization(gamma_regularizer="l2", beta_constraint="non_neg")
    layer.build((None, 3))
    assert len(layer.losses) == 1
    assert layer.constraints == {layer.beta: layer.beta.constraint}
