"""Keras 2 semantics of ``SeparableConv2D`` (the seed page and KERAS2-SEMANTICS.md)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minikeras as mk
from minikeras import backend as K
from minikeras import layers as L
from minikeras.models import Model, Sequential

S = L.SeparableConv2D


def reference(x, depthwise, pointwise, bias, strides, padding, dilation):
    """Depthwise then pointwise convolution, NHWC, with TensorFlow's 'same' padding."""
    n, h, w, c = x.shape
    kh, kw, _, dm = depthwise.shape
    kdh, kdw = kh + (kh - 1) * (dilation[0] - 1), kw + (kw - 1) * (dilation[1] - 1)
    if padding == "same":
        oh, ow = -(-h // strides[0]), -(-w // strides[1])
        ph = max((oh - 1) * strides[0] + kdh - h, 0)
        pw = max((ow - 1) * strides[1] + kdw - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - kdh) // strides[0] + 1, (w - kdw) // strides[1] + 1
    mid = np.zeros((n, oh, ow, c * dm))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    pix = x[:, i * strides[0] + a * dilation[0], j * strides[1] + b * dilation[1]]
                    mid[:, i, j] += (pix[:, :, None] * depthwise[a, b][None]).reshape(n, -1)
    out = mid @ pointwise[0, 0]
    return out + bias if bias is not None else out


# ---- arguments -------------------------------------------------------------------------------
@pytest.mark.parametrize("padding, expected", [("SAME", "same"), ("Valid", "valid"),
                                               ("same", "same")])
def test_padding_is_case_insensitive(padding, expected):
    assert S(2, 3, padding=padding).padding == expected


def test_tuple_arguments_are_normalised():
    layer = S(2, [3, 2], strides=2, dilation_rate=1)
    assert layer.kernel_size == (3, 2) and layer.strides == (2, 2)
    assert layer.dilation_rate == (1, 1)
    assert S(2, 3, dilation_rate=[2, 1]).dilation_rate == (2, 1)
    assert S(2, 3, strides=(1, 2)).strides == (1, 2)  # unequal strides are supported


@pytest.mark.parametrize("kwargs, word", [
    ({"data_format": "channels_middle"}, "data_format"),
    ({"padding": "full"}, "padding"),
    ({"kernel_size": (3, 3, 3)}, "kernel_size"),
    ({"strides": "2"}, "strides"),
    ({"strides": 2, "dilation_rate": 2}, "dilation_rate"),
    ({"depth_multiplier": 0}, "depth_multiplier"),
])
def test_bad_arguments_are_value_errors_naming_the_layer_and_argument(kwargs, word):
    args = {"filters": 2, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=rf"(?s)SeparableConv2D 'bad'.*{word}"):
        S(name="bad", **args)


def test_data_format_none_is_the_configured_default():
    previous = K.image_data_format()
    try:
        K.set_image_data_format("channels_first")
        assert S(2, 3).data_format == "channels_first"
        assert S(2, 3, data_format="channels_last").data_format == "channels_last"
    finally:
        K.set_image_data_format(previous)
    assert S(2, 3).data_format == previous


def test_data_format_default_comes_from_keras_json(tmp_path):
    (tmp_path / "keras.json").write_text(json.dumps({"image_data_format": "channels_first"}))
    code = ("from minikeras.layers import SeparableConv2D;"
            "print(SeparableConv2D(2, 3).data_format)")
    env = {**os.environ, "KERAS_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "channels_first"


# ---- weights and shapes ----------------------------------------------------------------------
@pytest.mark.parametrize("data_format, shape", [("channels_last", (7, 6, 3)),
                                                ("channels_first", (3, 7, 6))])
@pytest.mark.parametrize("use_bias", [True, False])
def test_weights_in_order_and_count_params(data_format, shape, use_bias):
    layer = S(6, (3, 2), depth_multiplier=2, use_bias=use_bias, data_format=data_format,
              name="sc")
    layer(mk.Input(shape))
    expected = [("sc/depthwise_kernel", (3, 2, 3, 2)), ("sc/pointwise_kernel", (1, 1, 6, 6))]
    if use_bias:
        expected.append(("sc/bias", (6,)))
    assert [(w.name, w.shape) for w in layer.weights] == expected
    assert layer.count_params() == 3 * 2 * 3 * 2 + 3 * 2 * 6 + (6 if use_bias else 0)
    axis = 1 if data_format == "channels_first" else -1
    assert layer.input_spec.ndim == 4 and layer.input_spec.axes == {axis: 3}


def test_input_spec_rejects_another_channel_count_after_build():
    layer = S(2, 3)
    layer(mk.Input((7, 6, 3)))
    with pytest.raises(ValueError, match="axis"):
        layer(mk.Input((7, 6, 4)))


@pytest.mark.parametrize("data_format, shape", [("channels_last", (7, 6, None)),
                                                ("channels_first", (None, 7, 6))])
def test_undefined_channel_dimension_is_a_value_error(data_format, shape):
    with pytest.raises(ValueError, match=r"(?s)'sep'.*channel.*None"):
        S(2, 3, data_format=data_format, name="sep")(mk.Input(shape))


def test_wrong_rank_is_a_value_error_naming_the_layer():
    with pytest.raises(ValueError, match="sep"):
        S(2, 3, name="sep")(mk.Input((7, 6)))


@pytest.mark.parametrize("length, kernel, padding, stride, dilation, expected", [
    (7, 3, "valid", 1, 1, 5), (7, 3, "valid", 2, 1, 3), (7, 3, "same", 1, 1, 7),
    (7, 3, "same", 2, 1, 4), (6, 3, "same", 2, 1, 3), (7, 3, "valid", 1, 2, 3),
    (7, 3, "same", 1, 2, 7), (None, 3, "valid", 2, 1, None),
])
def test_output_length(length, kernel, padding, stride, dilation, expected):
    layer = S(5, (kernel, 1), strides=(stride, 1), padding=padding,
              dilation_rate=(dilation, 1))
    assert layer.compute_output_shape((None, length, 4, 3)) == (None, expected, 4, 5)
    first = S(5, (kernel, 1), strides=(stride, 1), padding=padding,
              dilation_rate=(dilation, 1), data_format="channels_first")
    assert first.compute_output_shape((None, 3, length, 4)) == (None, 5, expected, 4)


# ---- config ----------------------------------------------------------------------------------
KEYS = {"name", "trainable", "filters", "kernel_size", "strides", "padding", "data_format",
        "dilation_rate", "activation", "use_bias", "bias_initializer", "bias_regularizer",
        "activity_regularizer", "bias_constraint", "depth_multiplier", "depthwise_initializer",
        "pointwise_initializer", "depthwise_regularizer", "pointwise_regularizer",
        "depthwise_constraint", "pointwise_constraint"}


def test_config_keys_and_values():
    config = S(6, 3, strides=2, padding="SAME", depth_multiplier=2, name="sc",
               depthwise_regularizer="l2", pointwise_constraint="unit_norm").get_config()
    assert set(config) == KEYS
    assert config["kernel_size"] == (3, 3) and type(config["kernel_size"]) is tuple
    assert config["strides"] == (2, 2) and config["dilation_rate"] == (1, 1)
    assert config["padding"] == "same" and config["depth_multiplier"] == 2
    assert config["activation"] == "linear"
    assert config["depthwise_initializer"] == {
        "class_name": "VarianceScaling",
        "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
    assert config["bias_initializer"] == {"class_name": "Zeros", "config": {}}
    assert config["depthwise_regularizer"] == {"class_name": "L1L2",
                                               "config": {"l1": 0.0, "l2": 0.01}}
    assert config["pointwise_constraint"] == {"class_name": "UnitNorm", "config": {"axis": 0}}
    assert config["pointwise_regularizer"] is None and config["bias_constraint"] is None


def test_config_round_trip_through_json():
    layer = S(6, [3, 2], strides=(2, 1), activation="relu", depth_multiplier=2,
              input_shape=(7, 6, 3), bias_regularizer="l1")
    config = layer.get_config()
    again = S.from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config


# ---- numbers ---------------------------------------------------------------------------------
GRID = [(padding, strides, dm, dil) for padding in ("valid", "same") for strides in (1, 2)
        for dm in (1, 2) for dil in (1, 2) if not (strides > 1 and dil > 1)]


@pytest.mark.parametrize("padding, strides, dm, dil", GRID)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_keras_grid_against_a_reference(padding, strides, dm, dil, data_format):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 7, 6, 3))
    layer = S(6, 3, strides=strides, padding=padding, depth_multiplier=dm, dilation_rate=dil,
              data_format=data_format, dtype="float64", bias_initializer="random_normal")
    inputs = x if data_format == "channels_last" else x.transpose(0, 3, 1, 2)
    out = layer(inputs).numpy()
    dw, pw, b = layer.get_weights()
    expected = reference(x, dw, pw, b, (strides,) * 2, padding, (dil,) * 2)
    if data_format == "channels_first":
        expected = expected.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    shape = layer.compute_output_shape((None,) + inputs.shape[1:])
    assert out.shape[1:] == shape[1:]


def test_layer_test_path_functional_and_sequential():
    x = np.random.default_rng(2).normal(size=(2, 7, 6, 3)).astype("float32")
    inp = mk.Input((7, 6, 3))
    model = Model(inp, S(6, 3, padding="same", strides=2, name="sc")(inp))
    again = Model.from_config(json.loads(json.dumps(model.get_config())))
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict(x), model.predict(x), rtol=1e-6)
    seq = Sequential([S(6, 3, input_shape=(7, 6, 3))])
    assert seq.output_shape == (None, 5, 4, 6)
    assert seq.predict(x).shape == (2, 5, 4, 6)


def test_keras_invalid_use_case_undefined_channels_in_a_sequential():
    with pytest.raises(ValueError, match="channel"):
        Sequential([S(filters=6, kernel_size=3, batch_input_shape=(None, None, 5, None))])
