"""Dense, Activation, Dropout, Flatten, Reshape, Permute, Lambda."""

import json

import numpy as np
import pytest

from minikeras import backend as K
from minikeras import layers as L
from minikeras.autograd import GradientTape, Tensor, gradcheck
from minikeras.backend.random import set_seed
from minikeras.engine.input_layer import Input

RNG = np.random.default_rng(0)


def add_one(x):
    return x + 1.0


# ------------------------------------------------------------------------------------ Dense

@pytest.mark.parametrize("activation", [None, "relu", "tanh", "softmax"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5)])
def test_dense_values_and_gradients(activation, use_bias, shape):
    layer = L.Dense(3, activation=activation, use_bias=use_bias, dtype="float64",
                    bias_initializer="random_normal")
    x = RNG.normal(size=shape)
    out = layer(x).data
    z = x @ layer.kernel.data + (layer.bias.data if use_bias else 0)
    ref = {None: z, "relu": np.maximum(z, 0), "tanh": np.tanh(z),
           "softmax": np.exp(z) / np.exp(z).sum(-1, keepdims=True)}[activation]
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    names = ["kernel", "bias"] if use_bias else ["kernel"]

    def f(x, *w):
        saved = [getattr(layer, n) for n in names]
        for n, v in zip(names, w):
            setattr(layer, n, v)
        try:
            return layer.call(x)
        finally:
            for n, v in zip(names, saved):
                setattr(layer, n, v)

    gradcheck(f, [x, *[w.data.copy() for w in layer.weights]])


def test_a_fused_relu_says_so_on_the_tape():
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    fused, plain = L.Dense(2, activation="relu"), L.Dense(2)
    with GradientTape(persistent=True) as tape:
        y = fused(x)
        plain(x)
    assert [r.op_name for r in tape.records] == ["Dense+Relu", "Dense"]
    assert "= Dense+Relu(" in tape.listing()
    # the same numbers as the unfused computation: the ReLU did run
    unfused = np.maximum(x @ fused.kernel.data + fused.bias.data, 0)
    np.testing.assert_allclose(y.data, unfused, rtol=1e-6)
    assert (y.data == 0).any()


def test_dense_params_config_and_input_dim():
    layer = L.Dense(4, input_dim=6, name="dn")
    assert layer.batch_input_shape == (None, 6)
    layer.build((None, 6))
    assert layer.count_params() == 6 * 4 + 4
    config = layer.get_config()
    assert set(config) == {"name", "trainable", "batch_input_shape", "dtype", "units",
                           "activation", "use_bias", "kernel_initializer", "bias_initializer",
                           "kernel_regularizer", "bias_regularizer", "activity_regularizer",
                           "kernel_constraint", "bias_constraint"}
    assert L.Dense.from_config(config).get_config() == config


def test_dense_errors():
    with pytest.raises(ValueError, match="dn_err.*units"):
        L.Dense(0, name="dn_err")
    with pytest.raises(ValueError, match=r"dn_err2.*\(None, None\)"):
        L.Dense(2, name="dn_err2").build((None, None))
    layer = L.Dense(2, name="dn_err3")
    layer(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="dn_err3"):
        layer(np.zeros((1, 4), dtype=np.float32))


# ------------------------------------------------------------------------------- Activation

def test_activation_layer():
    layer = L.Activation("relu")
    np.testing.assert_array_equal(layer(np.array([[-1.0, 2.0]])).data, [[0, 2]])
    assert layer.get_config()["activation"] == "relu"
    with pytest.raises(ValueError, match="nope"):
        L.Activation("nope")


# ---------------------------------------------------------------------------------- Dropout

def test_dropout_only_in_training():
    layer = L.Dropout(0.5)
    x = np.ones((200, 50), dtype=np.float32)
    np.testing.assert_array_equal(layer(x).data, x)
    np.testing.assert_array_equal(layer(x, training=False).data, x)
    set_seed(0)
    out = layer(x, training=True).data
    assert set(np.unique(out)) == {0.0, 2.0}
    assert abs((out == 0).mean() - 0.5) < 0.02
    assert abs(out.mean() - 1.0) < 0.05


def test_dropout_follows_global_seed_and_own_seed():
    x = np.ones((10, 10), dtype=np.float32)
    set_seed(3)
    a = L.Dropout(0.3)(x, training=True).data
    set_seed(3)
    b = L.Dropout(0.3)(x, training=True).data
    np.testing.assert_array_equal(a, b)
    c = L.Dropout(0.3, seed=7)(x, training=True).data
    d = L.Dropout(0.3, seed=7)(x, training=True).data
    np.testing.assert_array_equal(c, d)


def test_dropout_noise_shape_and_gradient():
    layer = L.Dropout(0.5, noise_shape=(None, 1, 4), seed=0)
    x = np.ones((3, 5, 4), dtype=np.float32)
    out = layer(x, training=True).data
    assert (out == out[:, :1, :]).all()  # one mask shared along axis 1
    xt = Tensor(np.ones((3, 5, 4), dtype=np.float32))
    with GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=True)
        total = y.sum()
    g = tape.gradient(total, xt)
    np.testing.assert_array_equal(g, y.data)  # the gradient is the scaled mask itself


def test_dropout_rate_edges_and_config():
    x = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_array_equal(L.Dropout(0.0)(x, training=True).data, x)
    np.testing.assert_array_equal(L.Dropout(1.0)(x, training=True).data, 0 * x)
    assert L.Dropout(0.2, noise_shape=(None, 1), seed=4).get_config()["noise_shape"] == (None, 1)
    assert {"rate", "noise_shape", "seed"} <= set(L.Dropout(0.2).get_config())


# --------------------------------------------------------------- Flatten, Reshape, Permute

def test_flatten_channels_first_matches_channels_last_order():
    x = RNG.normal(size=(2, 3, 4, 5))  # channels_first (N, C, H, W)
    first = L.Flatten(data_format="channels_first", dtype="float64")(x).data
    last = L.Flatten(data_format="channels_last", dtype="float64")(x.transpose(0, 2, 3, 1)).data
    np.testing.assert_array_equal(first, last)


def test_flatten_errors():
    with pytest.raises(ValueError, match=r"fl.*not fully defined"):
        L.Flatten(name="fl")(Input((None, 3)))


def test_reshape():
    x = RNG.normal(size=(2, 3, 4))
    layer = L.Reshape((4, -1), dtype="float64")
    np.testing.assert_array_equal(layer(x).data, x.reshape(2, 4, 3))
    assert layer.compute_output_shape((None, 3, 4)) == (None, 4, 3)
    assert layer.compute_output_shape((None, None, 4)) == (None, 4, None)
    with pytest.raises(ValueError, match=r"rs.*total size.*\(3, 4\)"):
        L.Reshape((5, -1), name="rs").compute_output_shape((None, 3, 4))
    with pytest.raises(ValueError, match="rs2.*-1"):
        L.Reshape((-1, -1), name="rs2")


def test_permute():
    x = RNG.normal(size=(2, 3, 4, 5))
    layer = L.Permute((3, 1, 2), dtype="float64")
    np.testing.assert_array_equal(layer(x).data, x.transpose(0, 3, 1, 2))
    assert layer.compute_output_shape((None, 3, 4, 5)) == (None, 5, 3, 4)
    with pytest.raises(ValueError, match="pm.*permutation"):
        L.Permute((0, 1), name="pm")
    gradcheck(lambda t: layer.call(t), [x])


# ----------------------------------------------------------------------------------- Lambda

def test_lambda_named_function_round_trip_through_json():
    layer = L.Lambda(add_one, name="lam")
    config = json.loads(json.dumps(L.serialize(layer)))
    assert config["config"]["function_type"] == "function"
    assert config["config"]["function"] == "add_one"
    again = L.deserialize(config, custom_objects={"add_one": add_one})
    assert again.function is add_one
    # found again through its already-imported module, without custom_objects
    assert L.deserialize(config).function is add_one


def test_lambda_backend_function_by_name():
    layer = L.Lambda(K.relu)
    again = L.deserialize(json.loads(json.dumps(L.serialize(layer))))
    np.testing.assert_array_equal(again(np.array([[-1.0, 1.0]])).data, [[0, 1]])


def test_lambda_bytecode_refused_unless_allowed():
    scale = 3.0
    layer = L.Lambda(lambda x, k=2.0: x * k * scale, output_shape=lambda s: s)
    config = json.loads(json.dumps(L.serialize(layer)))
    assert config["config"]["function_type"] == "lambda"
    with pytest.raises(ValueError, match="bytecode.*safe_mode=False"):
        L.deserialize(config)
    with pytest.raises(ValueError, match="bytecode"):
        L.Lambda.from_config(config["config"])
    x = np.array([[1.0, 2.0]], dtype=np.float32)
    allowed = L.deserialize(config, safe_mode=False)
    np.testing.assert_allclose(allowed(x).data, x * 6)
    with L.unsafe_deserialization():
        again = L.deserialize(config)
    np.testing.assert_allclose(again(x).data, x * 6)
    with pytest.raises(ValueError, match="bytecode"):  # the permission ended with the block
        L.deserialize(config)


def test_lambda_unknown_function_name():
    config = {"class_name": "Lambda",
              "config": {"name": "lam_x", "trainable": True, "function": "no_such_fn",
                         "function_type": "function", "module": "no_such_module",
                         "output_shape": None, "output_shape_type": "raw", "arguments": {}}}
    with pytest.raises(ValueError, match="no_such_fn.*custom_objects"):
        L.deserialize(config)


def test_lambda_shapes_arguments_and_lists():
    x = Input((4,))
    y = L.Lambda(lambda t, n: t[:, :n], arguments={"n": 2})(x)
    assert y.shape == (None, 2)
    out = L.Lambda(lambda t, n: t[:, :n], arguments={"n": 3})(np.ones((2, 4), np.float32))
    assert out.shape == (2, 3)
    joined = L.Lambda(lambda ts: K.concatenate(ts, axis=-1))([Input((2,)), Input((3,))])
    assert joined.shape == (None, 5)
    fixed = L.Lambda(lambda t: t, output_shape=(7,))
    assert fixed.compute_output_shape((None, 7)) == (None, 7)
    with pytest.raises(ValueError, match="could not infer"):
        L.Lambda(lambda t: t @ np.ones((9, 9)))(Input((4,)))


def test_model_with_lambda_from_json_needs_permission():
    from minikeras.engine import Model
    from minikeras.models import model_from_json

    x = Input((3,))
    model = Model(x, L.Dense(2)(L.Lambda(lambda t: t * 3.0)(x)))
    text = model.to_json()
    with pytest.raises(ValueError, match="bytecode"):
        model_from_json(text)
    with L.unsafe_deserialization():
        again = model_from_json(text)
    again.set_weights(model.get_weights())
    data = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_allclose(again(data).data, model(data).data, rtol=1e-6)


def test_lambda_bytecode_config_survives_from_config_unchanged():
    layer = L.Lambda(lambda x, a=2.0: x * a, output_shape=lambda s: s)
    config = layer.get_config()
    assert config["function_type"] == "lambda"
    with L.unsafe_deserialization():
        again = L.Lambda.from_config(config)
        twice = L.Lambda.from_config(again.get_config())
    assert again.get_config()["function"] == config["function"]
    assert again.get_config()["output_shape"] == config["output_shape"]
    np.testing.assert_allclose(twice(np.ones((1, 2), "float32")).numpy(), [[2.0, 2.0]])
