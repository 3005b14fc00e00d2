"""SeparableConv2D: every argument, property and error of the seed page, Keras 2 semantics."""

import copy
import itertools

import _layer_reference as R
import numpy as np
import pytest

from minikeras import layers as L
from minikeras.autograd import GradientTape, Tensor, gradcheck
from minikeras.engine.input_layer import Input

WINDOWS = [((1, 1), (1, 1)), ((2, 2), (1, 1)), ((1, 2), (1, 1)), ((2, 1), (1, 1)),
           ((1, 1), (2, 2)), ((1, 1), (1, 2))]
GRID = list(itertools.product(["valid", "same"], WINDOWS, [1, 2],
                              ["channels_last", "channels_first"], [True, False]))


def _ids(case):
    padding, (s, d), dm, fmt, bias = case
    return f"{padding}-s{s[0]}{s[1]}-d{d[0]}{d[1]}-dm{dm}-{fmt[9:]}-{'b' if bias else 'nob'}"


def _make(padding, strides, dilation, dm, fmt, use_bias, filters=4, channels=3):
    layer = L.SeparableConv2D(
        filters, (3, 2), strides=strides, padding=padding, data_format=fmt,
        depth_multiplier=dm, dilation_rate=dilation, use_bias=use_bias, dtype="float64",
        bias_initializer="random_normal",
    )
    shape = (2, 7, 6, channels) if fmt == "channels_last" else (2, channels, 7, 6)
    layer.build((None, *shape[1:]))
    return layer, shape


def _reference(layer, x, fmt):
    dk, pk = layer.depthwise_kernel.data, layer.pointwise_kernel.data
    bias = layer.bias.data if layer.use_bias else None
    y = R.depthwise(R.to_nhwc(x, fmt), dk, layer.strides, layer.dilation_rate, layer.padding)
    return R.from_nhwc(R.pointwise(y, pk, bias), fmt)


@pytest.mark.parametrize("case", GRID, ids=[_ids(c) for c in GRID])
def test_forward_matches_numpy_loops(case):
    padding, (strides, dilation), dm, fmt, use_bias = case
    layer, shape = _make(padding, strides, dilation, dm, fmt, use_bias)
    x = np.random.default_rng(1).normal(size=shape)
    out = layer(x)
    expected = _reference(layer, x, fmt)
    assert out.dtype == np.float64
    assert out.shape == expected.shape
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *expected.shape[1:])
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", GRID, ids=[_ids(c) for c in GRID])
def test_gradients_float64(case):
    padding, (strides, dilation), dm, fmt, use_bias = case
    layer, shape = _make(padding, strides, dilation, dm, fmt, use_bias, filters=3, channels=2)
    x = np.random.default_rng(2).normal(size=shape)
    weights = [w.data.copy() for w in layer.weights]

    def f(x, dk, pk, *bias):
        saved = layer.depthwise_kernel, layer.pointwise_kernel, layer.bias
        layer.depthwise_kernel, layer.pointwise_kernel = dk, pk
        if bias:
            layer.bias = bias[0]
        try:
            return layer.call(x)
        finally:
            layer.depthwise_kernel, layer.pointwise_kernel, layer.bias = saved

    gradcheck(f, [x, *weights], mode="directional")


def test_gradient_reaches_the_variables_and_activation():
    layer = L.SeparableConv2D(3, 3, activation="tanh", padding="same", dtype="float64")
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 2))
    with GradientTape() as tape:
        loss = layer(x).sum()
    grads = tape.gradient(loss, layer.trainable_weights)
    assert [g.shape for g in grads] == [(3, 3, 2, 1), (1, 1, 2, 3), (3,)]
    assert all(np.abs(g).sum() > 0 for g in grads)

    def f(dk):
        saved = layer.depthwise_kernel
        layer.depthwise_kernel = dk
        try:
            return layer.call(Tensor(x))
        finally:
            layer.depthwise_kernel = saved

    gradcheck(f, [layer.depthwise_kernel.data.copy()], mode="directional")


def test_activation_applied():
    layer = L.SeparableConv2D(4, 3, activation="relu", dtype="float64")
    x = np.random.default_rng(3).normal(size=(2, 6, 6, 3))
    out = layer(x).data
    expected = np.maximum(_reference(layer, x, "channels_last"), 0)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


def test_relu_fused_only_when_nothing_records():
    # predict/no tape: the ReLU runs inside the op (one op, "SeparableConv2D+Relu"); under a
    # tape the records are what they were before the fusion (the op, then a separate Relu).
    layer = L.SeparableConv2D(4, 3, activation="relu", padding="same", dtype="float64")
    x = np.random.default_rng(4).normal(size=(2, 6, 6, 3))
    layer.build((None, 6, 6, 3))
    expected = np.maximum(_reference(layer, x, "channels_last"), 0)
    out = layer(x)
    assert out.op.name == "SeparableConv2D+Relu"
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    with GradientTape() as tape:
        taped = layer(x)
        loss = taped.sum()
    assert [r.op_name for r in tape.records][:2] == ["SeparableConv2D", "Relu"]
    np.testing.assert_array_equal(taped.data, out.data)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(np.abs(g).sum() > 0 for g in grads)


# ------------------------------------------------------------------- weights and parameter counts

@pytest.mark.parametrize("kh,kw,cin,dm,filters,use_bias",
                         [(3, 3, 3, 1, 6, True), (3, 3, 3, 2, 6, True), (5, 2, 4, 3, 7, False),
                          (1, 1, 1, 1, 1, True)])
def test_weights_order_shapes_and_count(kh, kw, cin, dm, filters, use_bias):
    layer = L.SeparableConv2D(filters, (kh, kw), depth_multiplier=dm, use_bias=use_bias)
    layer.build((None, 9, 9, cin))
    names = [w.name.split("/")[-1] for w in layer.weights]
    assert names == ["depthwise_kernel", "pointwise_kernel", "bias"][: 3 if use_bias else 2]
    assert layer.depthwise_kernel.shape == (kh, kw, cin, dm)
    assert layer.pointwise_kernel.shape == (1, 1, cin * dm, filters)
    expected = kh * kw * cin * dm + cin * dm * filters + (filters if use_bias else 0)
    assert layer.count_params() == expected
    assert len(layer.trainable_weights) == len(names) and layer.non_trainable_weights == []


def test_channels_first_uses_same_weight_layout_and_input_spec():
    layer = L.SeparableConv2D(5, 3, data_format="channels_first", depth_multiplier=2)
    layer.build((None, 4, 8, 8))
    assert layer.depthwise_kernel.shape == (3, 3, 4, 2)
    assert layer.pointwise_kernel.shape == (1, 1, 8, 5)
    assert layer.input_spec.ndim == 4 and layer.input_spec.axes == {1: 4}
    last = L.SeparableConv2D(5, 3)
    last.build((None, 8, 8, 4))
    assert last.input_spec.axes == {-1: 4}


def test_count_params_before_build_raises():
    with pytest.raises(RuntimeError, match="build"):
        L.SeparableConv2D(2, 3, name="unbuilt").count_params()


def test_trainable_false_moves_weights():
    layer = L.SeparableConv2D(2, 3)
    layer.build((None, 5, 5, 2))
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 3
    assert layer.weights == layer.non_trainable_weights


def test_set_get_weights_round_trip_and_errors():
    layer = L.SeparableConv2D(2, 3, name="sw")
    layer.build((None, 5, 5, 2))
    values = [np.full(w.shape, i + 1.0, dtype=np.float32) for i, w in enumerate(layer.weights)]
    layer.set_weights(values)
    for got, want in zip(layer.get_weights(), values):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError):
        layer.set_weights(values[:2])
    with pytest.raises(ValueError):
        layer.set_weights([np.zeros((3, 3, 2, 2)), values[1], values[2]])


# ------------------------------------------------------------------------------ output shapes

@pytest.mark.parametrize(
    "shape,kwargs,expected",
    [((None, 7, 6, 3), dict(padding="valid"), (None, 5, 4, 6)),
     ((None, 7, 6, 3), dict(padding="same"), (None, 7, 6, 6)),
     ((None, 7, 6, 3), dict(padding="valid", strides=2), (None, 3, 2, 6)),
     ((None, 7, 6, 3), dict(padding="same", strides=2), (None, 4, 3, 6)),
     ((None, 7, 6, 3), dict(padding="valid", dilation_rate=2), (None, 3, 2, 6)),
     ((None, 7, 6, 3), dict(padding="valid", dilation_rate=(1, 2)), (None, 5, 2, 6)),
     ((None, None, None, 3), dict(padding="valid"), (None, None, None, 6)),
     ((4, 3, 7, 6), dict(data_format="channels_first", strides=(2, 1)), (4, 6, 3, 4)),
     ((None, 3, None, 9), dict(data_format="channels_first", padding="same"),
      (None, 6, None, 9))],
)
def test_compute_output_shape(shape, kwargs, expected):
    assert L.SeparableConv2D(6, 3, **kwargs).compute_output_shape(shape) == expected


def test_symbolic_call_output_shape_and_node():
    x = Input((7, 6, 3))
    layer = L.SeparableConv2D(6, 3, padding="same", strides=2, name="sep_sym")
    y = layer(x)
    assert y.shape == (None, 4, 3, 6)
    assert layer.output_shape == (None, 4, 3, 6)
    assert layer.input_shape == (None, 7, 6, 3)
    assert layer.input is x and layer.output is y
    assert layer.get_output_shape_at(0) == (None, 4, 3, 6)


# ------------------------------------------------------------------------------------- errors

def test_rank_not_4_names_layer_and_shape():
    layer = L.SeparableConv2D(2, 3, name="sep_rank")
    with pytest.raises(ValueError, match=r"sep_rank.*\(None, 5, 3\)"):
        layer.build((None, 5, 3))
    with pytest.raises(ValueError, match=r"sep_rank.*ndim=4.*\(2, 5, 3\)"):
        layer(np.zeros((2, 5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"sep_rank"):
        layer(Input((5, 5, 5, 3)))


def test_undefined_channel_dimension():
    layer = L.SeparableConv2D(2, 3, name="sep_chan")
    with pytest.raises(ValueError, match=r"sep_chan.*channel dimension.*\(None, 7, 6, None\)"):
        layer(Input((7, 6, None)))
    first = L.SeparableConv2D(2, 3, data_format="channels_first", name="sep_chan_first")
    with pytest.raises(ValueError, match=r"sep_chan_first.*channel.*\(None, None, 7, 6\)"):
        first.build((None, None, 7, 6))


def test_strides_with_dilation_rejected():
    with pytest.raises(ValueError, match=r"sep_sd.*strides=\(2, 1\).*dilation_rate=\(1, 2\)"):
        L.SeparableConv2D(2, 3, strides=(2, 1), dilation_rate=(1, 2), name="sep_sd")


@pytest.mark.parametrize(
    "kwargs,match",
    [(dict(padding="full"), r"sep_bad.*padding.*'full'"),
     (dict(padding="causal"), r"sep_bad.*padding.*'causal'"),
     (dict(data_format="channels_middle"), r"sep_bad.*data_format.*'channels_middle'"),
     (dict(kernel_size=(3, 3, 3)), r"sep_bad.*kernel_size.*\(3, 3, 3\)"),
     (dict(kernel_size=0), r"sep_bad.*kernel_size"),
     (dict(strides=(1, 0)), r"sep_bad.*strides"),
     (dict(depth_multiplier=0), r"sep_bad.*depth_multiplier.*0"),
     (dict(filters=0), r"sep_bad.*filters.*0"),
     (dict(activation="nope"), r"nope"),
     (dict(depthwise_initializer="nope"), r"nope"),
     (dict(pointwise_regularizer="l3"), r"l3"),
     (dict(bias_constraint="maxnorm2"), r"maxnorm2")],
)
def test_bad_arguments(kwargs, match):
    args = dict(filters=2, kernel_size=3, name="sep_bad")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        L.SeparableConv2D(**args)


def test_window_larger_than_input():
    layer = L.SeparableConv2D(2, 5, name="sep_big")
    with pytest.raises(ValueError, match=r"sep_big.*larger"):
        layer(Input((3, 8, 2)))


def test_unknown_keyword_rejected():
    with pytest.raises(TypeError, match="kernel_initializer"):
        L.SeparableConv2D(2, 3, kernel_initializer="ones")


def test_padding_case_insensitive_and_data_format_default():
    from minikeras.backend import config

    layer = L.SeparableConv2D(2, 3, padding="SAME")
    assert layer.padding == "same"
    assert layer.data_format == config.image_data_format()
    old = config.image_data_format()
    try:
        config.set_image_data_format("channels_first")
        assert L.SeparableConv2D(2, 3).data_format == "channels_first"
    finally:
        config.set_image_data_format(old)


# ------------------------------------------------------------------------------------- config

KEYS = {"name", "trainable", "filters", "kernel_size", "strides", "padding", "data_format",
        "dilation_rate", "activation", "use_bias", "bias_initializer", "bias_regularizer",
        "activity_regularizer", "bias_constraint", "depth_multiplier", "depthwise_initializer",
        "pointwise_initializer", "depthwise_regularizer", "pointwise_regularizer",
        "depthwise_constraint", "pointwise_constraint"}


def test_get_config_keys_and_values():
    layer = L.SeparableConv2D(6, 3, name="sep_cfg", depthwise_regularizer="l2",
                              pointwise_constraint="unit_norm", data_format="channels_last")
    config = layer.get_config()
    assert set(config) == KEYS
    assert config["kernel_size"] == (3, 3) and config["strides"] == (1, 1)
    assert config["dilation_rate"] == (1, 1) and config["padding"] == "valid"
    assert config["activation"] == "linear"
    assert config["depthwise_initializer"] == {
        "class_name": "VarianceScaling",
        "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
    assert config["bias_initializer"] == {"class_name": "Zeros", "config": {}}
    assert config["depthwise_regularizer"] == {"class_name": "L1L2",
                                               "config": {"l1": 0.0, "l2": 0.01}}
    assert config["pointwise_constraint"] == {"class_name": "UnitNorm", "config": {"axis": 0}}
    assert config["pointwise_regularizer"] is None and config["bias_constraint"] is None


def test_get_config_with_input_shape_and_dtype():
    layer = L.SeparableConv2D(2, 3, input_shape=(7, 6, 3), dtype="float64")
    config = layer.get_config()
    assert set(config) == KEYS | {"batch_input_shape", "dtype"}
    assert config["batch_input_shape"] == (None, 7, 6, 3) and config["dtype"] == "float64"


def test_from_config_round_trip_and_alias():
    layer = L.SeparableConvolution2D(
        6, (3, 2), strides=(2, 1), padding="same", depth_multiplier=2, activation="relu",
        depthwise_regularizer="l2", pointwise_regularizer="l1", bias_regularizer="l1_l2",
        activity_regularizer="l2", depthwise_constraint="unit_norm",
        pointwise_constraint="max_norm", bias_constraint="non_neg", name="sep_rt")
    assert L.SeparableConvolution2D is L.SeparableConv2D
    config = layer.get_config()
    again = L.SeparableConv2D.from_config(config)
    assert again.get_config() == config
    via_registry = L.deserialize(L.serialize(layer))
    assert type(via_registry) is L.SeparableConv2D
    assert via_registry.get_config() == config


def test_regularizers_show_up_in_losses():
    layer = L.SeparableConv2D(2, 3, depthwise_regularizer="l2", pointwise_regularizer="l1",
                              bias_regularizer="l2", activity_regularizer="l1")
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 2)).astype(np.float32)
    out = layer(x)
    weight_losses = layer.get_losses_for(None)
    assert len(weight_losses) == 3
    dk, pk, b = (w.data.astype(np.float64) for w in layer.weights)
    np.testing.assert_allclose(
        [float(v.data) for v in weight_losses],
        [0.01 * (dk ** 2).sum(), 0.01 * np.abs(pk).sum(), 0.01 * (b ** 2).sum()], rtol=1e-5)
    # the activity loss of the last eager call is there too, computed from the output
    assert len(layer.losses) == 4
    np.testing.assert_allclose(float(layer.losses[-1].data), 0.01 * np.abs(out.data).sum(),
                               rtol=1e-5)


def test_activity_regularizer_conditional_on_inputs_symbolically():
    x = Input((5, 5, 2))
    layer = L.SeparableConv2D(2, 3, activity_regularizer="l2")
    layer(x)
    assert len(layer.get_losses_for(x)) == 1
    assert layer.get_losses_for(None) == []


def test_constraints_recorded():
    layer = L.SeparableConv2D(2, 3, depthwise_constraint="unit_norm", bias_constraint="non_neg")
    layer.build((None, 5, 5, 2))
    assert set(layer.constraints) == {layer.depthwise_kernel, layer.bias}
    assert layer.depthwise_kernel.constraint is layer.constraints[layer.depthwise_kernel]


def test_deepcopy_owns_new_weights():
    layer = L.SeparableConv2D(2, 3)
    layer.build((None, 5, 5, 2))
    clone = copy.deepcopy(layer)
    assert clone.depthwise_kernel is not layer.depthwise_kernel
    np.testing.assert_array_equal(clone.get_weights()[0], layer.get_weights()[0])
    x = np.random.default_rng(0).normal(size=(1, 5, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(clone(x).data, layer(x).data, rtol=1e-6)


def test_seeded_initializers_repeatable():
    def build():
        layer = L.SeparableConv2D(2, 3, depthwise_initializer={"class_name": "RandomNormal",
                                                               "config": {"seed": 3}})
        layer.build((None, 5, 5, 2))
        return layer.get_weights()[0]

    np.testing.assert_array_equal(build(), build())


# --------------------------------------------------------- the seed page's properties and methods

def test_seed_properties_and_methods_on_a_shared_layer():
    layer = L.SeparableConv2D(2, 3, padding="same", name="sep_api")
    with pytest.raises(AttributeError, match="sep_api.*not connected"):
        _ = layer.input
    with pytest.raises(AttributeError, match="sep_api.*never been called"):
        _ = layer.output_shape
    with pytest.raises(RuntimeError, match="sep_api.*never been called"):
        layer.get_input_at(0)
    a, b = Input((5, 5, 2)), Input((7, 7, 2))
    ya = layer.apply(a)  # TF's alias of __call__
    yb = layer(b)
    assert layer.get_input_at(1) is b and layer.get_output_at(0) is ya
    assert layer.get_input_shape_at(1) == (None, 7, 7, 2)
    assert layer.get_output_shape_at(1) == yb.shape == (None, 7, 7, 2)
    assert layer.get_input_mask_at(0) is None and layer.get_output_mask_at(1) is None
    with pytest.raises(ValueError, match="sep_api.*2 inbound node"):
        layer.get_output_at(2)
    for prop in ("input", "output", "input_mask", "output_mask"):
        with pytest.raises(AttributeError, match="multiple inbound nodes"):
            getattr(layer, prop)
    with pytest.raises(AttributeError, match="get_input_shape_at"):
        _ = layer.input_shape
    assert layer.variables == layer.weights == layer.trainable_weights
    assert layer.trainable_variables == layer.trainable_weights
    assert layer.non_trainable_variables == layer.non_trainable_weights == []
    assert layer.updates == [] and layer.losses == []
    assert layer.constraints == {}
    assert layer.scope_name == "sep_api"
    assert layer in layer.graph.layers
    extra = layer.add_variable("extra", (2,), initializer="ones", trainable=False)
    assert extra.name == "sep_api/extra" and layer.non_trainable_weights == [extra]
    assert layer.compute_mask(a, None) is None
    with pytest.raises(TypeError, match="sep_api"):
        layer.compute_mask(a, np.ones((1, 5, 5), bool))
    layer.add_update([(extra, np.zeros(2))], inputs=a)
    assert len(layer.get_updates_for(a)) == 1 and layer.get_updates_for(None) == []


# ----------------------------------------------------------------- random configurations

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def _configs(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dilated = draw(st.booleans())
    if dilated:
        strides, dilation = (1, 1), (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    else:
        strides, dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3))), (1, 1)
    padding = draw(st.sampled_from(["valid", "same"]))
    h = draw(st.integers(kh + (kh - 1) * (dilation[0] - 1), 8))
    w = draw(st.integers(kw + (kw - 1) * (dilation[1] - 1), 8))
    return dict(kernel=(kh, kw), strides=strides, dilation=dilation, padding=padding,
                dm=draw(st.integers(1, 3)), filters=draw(st.integers(1, 4)),
                channels=draw(st.integers(1, 3)), hw=(h, w), batch=draw(st.integers(1, 2)),
                fmt=draw(st.sampled_from(["channels_last", "channels_first"])),
                use_bias=draw(st.booleans()))


@settings(max_examples=40, deadline=None)
@given(_configs())
def test_random_configurations_match_reference(c):
    layer = L.SeparableConv2D(
        c["filters"], c["kernel"], strides=c["strides"], padding=c["padding"],
        data_format=c["fmt"], depth_multiplier=c["dm"], dilation_rate=c["dilation"],
        use_bias=c["use_bias"], dtype="float64", bias_initializer="random_normal")
    if c["fmt"] == "channels_last":
        shape = (c["batch"], *c["hw"], c["channels"])
    else:
        shape = (c["batch"], c["channels"], *c["hw"])
    x = np.random.default_rng(0).normal(size=shape)
    out = layer(x)
    expected = _reference(layer, x, c["fmt"])
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-10)
    assert layer.compute_output_shape(shape) == expected.shape
    assert layer.count_params() == (
        c["kernel"][0] * c["kernel"][1] * c["channels"] * c["dm"]
        + c["channels"] * c["dm"] * c["filters"] + (c["filters"] if c["use_bias"] else 0))
