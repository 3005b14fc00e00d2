"""Conv2D, DepthwiseConv2D, ZeroPadding2D and pooling against numpy-loop references."""

import itertools

import _layer_reference as R
import numpy as np
import pytest

from minikeras import layers as L
from minikeras.autograd import gradcheck

RNG = np.random.default_rng(0)
WINDOWS = [((1, 1), (1, 1)), ((2, 1), (1, 1)), ((1, 1), (2, 1))]
GRID = list(itertools.product(["valid", "same"], WINDOWS, ["channels_last", "channels_first"],
                              [True, False]))


def _swap(layer, names, values, fn):
    saved = [getattr(layer, n) for n in names]
    for n, v in zip(names, values):
        setattr(layer, n, v)
    try:
        return fn()
    finally:
        for n, v in zip(names, saved):
            setattr(layer, n, v)


@pytest.mark.parametrize("padding,window,fmt,use_bias", GRID)
def test_conv2d_matches_reference_and_gradients(padding, window, fmt, use_bias):
    strides, dilation = window
    layer = L.Conv2D(3, (3, 2), strides=strides, dilation_rate=dilation, padding=padding,
                     data_format=fmt, use_bias=use_bias, dtype="float64",
                     bias_initializer="random_normal")
    shape = (2, 6, 5, 2) if fmt == "channels_last" else (2, 2, 6, 5)
    x = RNG.normal(size=shape)
    out = layer(x).data
    ref = R.conv(R.to_nhwc(x, fmt), layer.kernel.data, strides, dilation, padding)
    if use_bias:
        ref = ref + layer.bias.data
    np.testing.assert_allclose(out, R.from_nhwc(ref, fmt), rtol=1e-10, atol=1e-12)
    assert layer.count_params() == 3 * 2 * 2 * 3 + (3 if use_bias else 0)
    names = ["kernel", "bias"] if use_bias else ["kernel"]
    weights = [w.data.copy() for w in layer.weights]
    gradcheck(lambda x, *w: _swap(layer, names, w, lambda: layer.call(x)), [x, *weights],
              mode="directional")


@pytest.mark.parametrize("padding,window,fmt,use_bias", GRID)
def test_depthwise_matches_reference_and_gradients(padding, window, fmt, use_bias):
    strides, dilation = window
    layer = L.DepthwiseConv2D((2, 3), strides=strides, dilation_rate=dilation, padding=padding,
                              data_format=fmt, depth_multiplier=2, use_bias=use_bias,
                              dtype="float64", bias_initializer="random_normal")
    shape = (2, 6, 5, 3) if fmt == "channels_last" else (2, 3, 6, 5)
    x = RNG.normal(size=shape)
    out = layer(x).data
    ref = R.depthwise(R.to_nhwc(x, fmt), layer.depthwise_kernel.data, strides, dilation, padding)
    if use_bias:
        ref = ref + layer.bias.data
    np.testing.assert_allclose(out, R.from_nhwc(ref, fmt), rtol=1e-10, atol=1e-12)
    assert layer.count_params() == 2 * 3 * 3 * 2 + (6 if use_bias else 0)
    names = ["depthwise_kernel", "bias"] if use_bias else ["depthwise_kernel"]
    weights = [w.data.copy() for w in layer.weights]
    gradcheck(lambda x, *w: _swap(layer, names, w, lambda: layer.call(x)), [x, *weights],
              mode="directional")


def test_conv2d_config_keys():
    config = L.Conv2D(4, 3, name="c").get_config()
    assert set(config) == {
        "name", "trainable", "filters", "kernel_size", "strides", "padding", "data_format",
        "dilation_rate", "activation", "use_bias", "kernel_initializer", "bias_initializer",
        "kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
        "bias_constraint"}
    assert L.Convolution2D is L.Conv2D


def test_depthwise_config_keys():
    config = L.DepthwiseConv2D(3, name="d").get_config()
    assert "filters" not in config and "kernel_initializer" not in config
    assert {"depth_multiplier", "depthwise_initializer", "depthwise_regularizer",
            "depthwise_constraint", "dilation_rate"} <= set(config)


@pytest.mark.parametrize("cls,args", [(L.Conv2D, (2, 3)), (L.DepthwiseConv2D, (3,))])
def test_conv_errors_name_the_layer(cls, args):
    with pytest.raises(ValueError, match=r"cv_err.*channel dimension"):
        cls(*args, name="cv_err").build((None, 5, 5, None))
    with pytest.raises(ValueError, match=r"cv_err2.*\(None, 5, 5\)"):
        cls(*args, name="cv_err2").build((None, 5, 5))
    with pytest.raises(ValueError, match=r"cv_err3.*dilation_rate"):
        cls(*args, strides=2, dilation_rate=2, name="cv_err3")
    with pytest.raises(ValueError, match=r"cv_err4.*padding"):
        cls(*args, padding="full", name="cv_err4")


# ---------------------------------------------------------------------------------- padding

@pytest.mark.parametrize("padding,expected", [
    (1, ((1, 1), (1, 1))), ((2, 3), ((2, 2), (3, 3))), (((1, 2), (3, 4)), ((1, 2), (3, 4)))])
def test_zero_padding_forms(padding, expected):
    layer = L.ZeroPadding2D(padding)
    assert layer.padding == expected
    x = RNG.normal(size=(2, 3, 4, 2))
    out = layer(x).data
    (t, b), (lf, r) = expected
    assert out.shape == (2, 3 + t + b, 4 + lf + r, 2)
    np.testing.assert_allclose(out[:, t:t + 3, lf:lf + 4], x.astype(np.float32), rtol=1e-6)
    assert np.abs(out).sum() == pytest.approx(np.abs(x.astype(np.float32)).sum(), rel=1e-5)


def test_zero_padding_channels_first_and_none_dims():
    layer = L.ZeroPadding2D((1, 2), data_format="channels_first")
    assert layer.compute_output_shape((None, 3, None, 4)) == (None, 3, None, 8)
    out = layer(np.ones((1, 2, 3, 3), dtype=np.float32)).data
    assert out.shape == (1, 2, 5, 7) and out.sum() == 18


@pytest.mark.parametrize("bad", [(1, 2, 3), ((1, 2), 3), ((1, 2, 3), (1, 2)), -1, "same"])
def test_zero_padding_errors(bad):
    with pytest.raises(ValueError, match="zp.*padding"):
        L.ZeroPadding2D(bad, name="zp")


# ---------------------------------------------------------------------------------- pooling

@pytest.mark.parametrize("cls,mode", [(L.MaxPooling2D, "max"), (L.AveragePooling2D, "avg")])
@pytest.mark.parametrize("pool,strides,padding", [
    ((2, 2), None, "valid"), ((3, 3), (2, 2), "same"), ((2, 3), (1, 2), "same"),
    ((3, 2), (1, 1), "valid")])
@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_pooling_matches_reference(cls, mode, pool, strides, padding, fmt):
    layer = cls(pool, strides, padding, data_format=fmt, dtype="float64")
    shape = (2, 7, 6, 3) if fmt == "channels_last" else (2, 3, 7, 6)
    x = RNG.normal(size=shape)
    out = layer(x).data
    ref = R.pool(R.to_nhwc(x, fmt), pool, strides or pool, padding, mode)
    np.testing.assert_allclose(out, R.from_nhwc(ref, fmt), rtol=1e-12)
    assert layer.compute_output_shape(shape) == out.shape
    assert layer.get_config()["strides"] == (strides or pool)
    gradcheck(lambda t: layer.call(t), [RNG.permutation(x.size).reshape(shape) / x.size],
              mode="directional")


def test_pooling_aliases_and_errors():
    assert L.MaxPool2D is L.MaxPooling2D and L.AvgPool2D is L.AveragePooling2D
    with pytest.raises(ValueError, match="mp.*pool_size"):
        L.MaxPooling2D((2, 2, 2), name="mp")
    with pytest.raises(ValueError, match="mp2.*padding"):
        L.MaxPooling2D(padding="full", name="mp2")
    with pytest.raises(ValueError, match="mp3.*larger"):
        L.MaxPooling2D(5, name="mp3").compute_output_shape((None, 3, 3, 1))


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_global_pooling(fmt):
    x = RNG.normal(size=(2, 4, 5, 3))
    axes = (1, 2) if fmt == "channels_last" else (2, 3)
    avg = L.GlobalAveragePooling2D(data_format=fmt, dtype="float64")
    mx = L.GlobalMaxPooling2D(data_format=fmt, dtype="float64")
    np.testing.assert_allclose(avg(x).data, x.mean(axis=axes))
    np.testing.assert_allclose(mx(x).data, x.max(axis=axes))
    channels = 3 if fmt == "channels_last" else 4
    assert avg.compute_output_shape((None, 4, 5, 3)) == (None, channels)
    gradcheck(lambda t: avg.call(t), [x])
