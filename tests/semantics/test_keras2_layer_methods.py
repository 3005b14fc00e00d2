"""Keras 2 semantics of a layer's methods (KERAS2-SEMANTICS.md, "Layer methods")."""

import copy
import json

import numpy as np
import pytest

import minikeras as mk
from minikeras import layers as L
from minikeras.autograd.tape import GradientTape
from minikeras.autograd.tensor import Tensor
from minikeras.engine import Layer
from minikeras.models import Model, Sequential


# ---- __call__ / apply ------------------------------------------------------------------------
def test_initial_weights_are_set_once_built_symbolic_and_eager():
    kernel, bias = np.arange(6, dtype="float32").reshape(3, 2), np.array([1, 2], "float32")
    symbolic = L.Dense(2, weights=[kernel, bias])
    symbolic(mk.Input((3,)))
    eager = L.Dense(2, weights=[kernel, bias])
    out = eager(np.ones((1, 3), "float32"))
    for layer in (symbolic, eager):
        np.testing.assert_array_equal(layer.get_weights()[0], kernel)
        np.testing.assert_array_equal(layer.get_weights()[1], bias)
    np.testing.assert_allclose(out.numpy(), [[7.0, 11.0]])


def test_initial_weights_of_the_wrong_count_fail_at_build():
    layer = L.Dense(2, weights=[np.zeros((3, 2))])
    with pytest.raises(ValueError, match="1.*2|2.*1"):
        layer(mk.Input((3,)))


def test_previous_mask_is_passed_to_call_when_accepted():
    seen = {}

    class Probe(Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            seen["mask"] = mask
            return inputs

        def compute_output_shape(self, input_shape):
            return input_shape

    class MakeMask(Layer):
        def compute_mask(self, inputs, mask=None):
            return inputs.numpy()[..., 0] != 0  # needs data: symbolic outputs get a placeholder

    x = mk.Input((3, 2))
    masked = MakeMask()(x)
    assert masked._keras_mask is not None
    probe = Probe()
    y = probe(masked)
    assert probe.inbound_nodes[0].arguments == {}  # the node keeps only the user's kwargs
    assert probe.input_mask is masked._keras_mask
    assert y._keras_mask is not None  # passed through (supports_masking)
    data = np.array([[[1, 1], [0, 1], [2, 0]]], "float32")
    Model(x, y)(data)
    np.testing.assert_array_equal(np.asarray(seen["mask"]), [[True, False, True]])


def test_apply_is_call_and_passes_positional_arguments_to_call():
    x = np.ones((4, 3), "float32")
    drop = L.Dropout(0.5)
    out = drop.apply(x, True)  # call(inputs, training=None): positional training
    assert (out.numpy() == 0).any()
    np.testing.assert_array_equal(drop.apply(x, False).numpy(), x)
    with pytest.raises(TypeError, match="dropout"):
        drop.apply(x, True, 1, 2)
    dense = L.Dense(2)
    assert dense.apply(mk.Input((3,))).shape == (None, 2)


def test_symbolic_output_history():
    x = mk.Input((3,))
    dense = L.Dense(2)
    dense(x)
    y = dense(x)
    assert y._keras_history == (dense, 1, 0)


# ---- dtype casting ---------------------------------------------------------------------------
def test_float32_tensor_is_cast_to_a_float64_layer():
    layer = L.Activation("linear", dtype="float64")
    out = layer(Tensor(np.ones((2, 3), "float32")))
    assert out.dtype == np.float64
    out = layer([Tensor(np.ones((2, 3), "float32"))][0])
    assert out.dtype == np.float64


def test_float32_tensor_list_is_cast_too():
    layer = L.Add(dtype="float64")
    a = Tensor(np.ones((2, 3), "float32"))
    assert layer([a, a]).dtype == np.float64


def test_cast_of_a_tensor_is_differentiable():
    layer = L.Dense(2, dtype="float64", kernel_initializer="ones")
    x = Tensor(np.ones((1, 3), "float32"))
    with GradientTape() as tape:
        tape.watch(x)
        loss = layer(x).sum()
    grad = tape.gradient(loss, x)
    assert grad is not None
    np.testing.assert_allclose(np.asarray(grad.numpy() if hasattr(grad, "numpy") else grad),
                               [[2.0, 2.0, 2.0]])


def test_integer_tensor_is_not_cast():
    layer = L.Activation("linear", dtype="float64")
    assert layer(Tensor(np.ones((2, 3), "int32"))).dtype == np.int32


# ---- add_weight / add_variable ---------------------------------------------------------------
def test_add_weight_resolves_names_and_registers_everything():
    layer = Layer(name="custom")
    w = layer.add_weight("w", (2, 3), initializer="ones", regularizer="l2",
                         constraint="non_neg")
    v = layer.add_variable("v", (3,), trainable=False)
    assert w.name == "custom/w" and v.name == "custom/v"
    np.testing.assert_array_equal(w.numpy(), np.ones((2, 3)))
    assert layer.trainable_weights == [w] and layer.non_trainable_weights == [v]
    assert list(layer.constraints) == [w]
    assert len(layer.get_losses_for(None)) == 1  # unconditional
    np.testing.assert_allclose(layer.losses[0].numpy(), 0.01 * 6)


# ---- add_loss / add_update -------------------------------------------------------------------
def test_add_loss_ignores_none_and_empty_and_keys_by_inputs():
    layer = Layer()
    layer.add_loss(None)
    layer.add_loss([])
    assert layer.losses == []
    a, b = mk.Input((2,)), mk.Input((2,))
    la, lb, lu = Tensor(np.float32(1)), Tensor(np.float32(2)), Tensor(np.float32(3))
    layer.add_loss(la, inputs=a)
    layer.add_loss([lb], inputs=[a, b])
    layer.add_loss(lu)
    assert layer.get_losses_for(a) == [la]
    assert layer.get_losses_for([a]) == [la]  # one input or a list of it: the same key
    assert layer.get_losses_for([a, b]) == [lb]
    assert layer.get_losses_for(None) == [lu]
    assert layer.get_losses_for(mk.Input((2,))) == []
    assert layer.losses == [la, lb, lu]


def test_add_update_keys_by_inputs():
    layer = Layer()
    layer.add_update(None)
    layer.add_update([])
    assert layer.updates == []
    a = mk.Input((2,))
    u1, u2 = (lambda: None), (lambda: None)
    layer.add_update(u1, inputs=a)
    layer.add_update([u2])
    assert layer.get_updates_for(a) == [u1]
    assert layer.get_updates_for(None) == [u2]
    assert layer.updates == [u1, u2]


def test_activity_regularizer_loss_is_conditioned_on_the_inputs():
    dense = L.Dense(2, activity_regularizer="l2")
    a, b = mk.Input((3,)), mk.Input((3,))
    dense(a)
    assert len(dense.get_losses_for(a)) == 1
    assert dense.get_losses_for(b) == []
    assert dense.get_losses_for(None) == []


# ---- compute_mask ----------------------------------------------------------------------------
def test_compute_mask_without_masking_support_raises_type_error_naming_the_layer():
    conv = L.Conv2D(2, 3, name="my_conv")
    with pytest.raises(TypeError, match="my_conv"):
        conv.compute_mask(None, np.ones((2, 3), bool))
    with pytest.raises(TypeError, match="my_conv"):
        conv.compute_mask(None, [None, np.ones((2, 3), bool)])
    assert conv.compute_mask(None, None) is None
    assert conv.compute_mask(None, [None, None]) is None


def test_compute_mask_with_masking_support_passes_it_through():
    mask = np.ones((2, 3), bool)
    assert L.Activation("relu").compute_mask(None, mask) is mask


# ---- count_params ----------------------------------------------------------------------------
def test_count_params_unbuilt_is_a_runtime_error_naming_the_layer():
    with pytest.raises(RuntimeError, match=r"sep.*build\(batch_input_shape\)"):
        L.SeparableConv2D(2, 3, name="sep").count_params()


# ---- get_*_at --------------------------------------------------------------------------------
GETTERS = ["get_input_at", "get_output_at", "get_input_shape_at", "get_output_shape_at",
           "get_input_mask_at", "get_output_mask_at"]


@pytest.mark.parametrize("getter", GETTERS)
def test_get_at_never_called_is_a_runtime_error(getter):
    with pytest.raises(RuntimeError, match="never been called"):
        getattr(L.Dense(2), getter)(0)


@pytest.mark.parametrize("getter", GETTERS)
def test_get_at_out_of_range_says_how_many_nodes(getter):
    dense = L.Dense(2)
    dense(mk.Input((3,)))
    dense(mk.Input((3,)))
    with pytest.raises(ValueError, match="2 inbound node"):
        getattr(dense, getter)(2)


def test_get_at_unwraps_single_and_lists_several():
    dense = L.Dense(2)
    a, b = mk.Input((3,)), mk.Input((3,))
    ya, yb = dense(a), dense(b)
    assert dense.get_input_at(1) is b and dense.get_output_at(0) is ya
    assert dense.get_output_at(-1) is yb  # as Keras: the latest call
    assert dense.get_input_shape_at(0) == (None, 3)
    assert dense.get_output_mask_at(1) is None
    concat = L.Concatenate()
    concat([a, b])
    assert concat.get_input_at(0) == [a, b]
    assert concat.get_input_shape_at(0) == [(None, 3), (None, 3)]
    assert concat.get_input_mask_at(0) == [None, None]


# ---- set_weights / get_weights ---------------------------------------------------------------
def test_set_weights_wrong_count_names_both_counts():
    dense = L.Dense(2)
    dense(mk.Input((3,)))
    with pytest.raises(ValueError, match=r"length 1.*expecting 2"):
        dense.set_weights([np.zeros((3, 2))])


def test_set_weights_wrong_shape_names_both_shapes_and_changes_nothing():
    dense = L.Dense(2)
    dense(mk.Input((3,)))
    before = dense.get_weights()
    with pytest.raises(ValueError, match=r"\(2,\).*\(3, 3\)"):
        dense.set_weights([np.zeros((3, 2)) + 5, np.zeros((3, 3))])
    for w0, w1 in zip(before, dense.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_get_weights_are_numpy_copies():
    dense = L.Dense(2)
    dense(mk.Input((3,)))
    weights = dense.get_weights()
    assert all(type(w) is np.ndarray for w in weights)
    weights[0][...] = 42
    assert not (dense.get_weights()[0] == 42).any()


# ---- get_config / from_config ----------------------------------------------------------------
def test_base_config_has_name_and_trainable_only_by_default():
    config = Layer(name="plain").get_config()
    assert config == {"name": "plain", "trainable": True}


def test_base_config_adds_batch_input_shape_and_dtype_when_given():
    config = Layer(name="x", input_shape=(3,)).get_config()
    assert config["batch_input_shape"] == (None, 3)
    assert type(config["batch_input_shape"]) is tuple
    assert config["dtype"] == "float32"
    assert Layer(name="y", batch_input_shape=(8, 3)).get_config()["batch_input_shape"] == (8, 3)
    assert Layer(name="z", dtype="float64").get_config()["dtype"] == "float64"


def test_from_config_is_cls_of_config_and_survives_json():
    dense = L.Dense(4, input_shape=(3,), trainable=False, name="d")
    config = json.loads(json.dumps(dense.get_config()))
    again = L.Dense.from_config(config)
    assert again.get_config() == dense.get_config()  # lists become tuples again
    assert again.trainable is False


# ---- __deepcopy__ ----------------------------------------------------------------------------
def test_deepcopy_owns_new_weights_and_has_no_nodes():
    dense = L.Dense(2, kernel_regularizer="l2", kernel_constraint="max_norm")
    dense(mk.Input((3,)))
    twin = copy.deepcopy(dense)
    assert twin.inbound_nodes == [] and twin.outbound_nodes == []
    assert twin.built
    for w, v in zip(dense.weights, twin.weights):
        assert w is not v
        np.testing.assert_array_equal(w.numpy(), v.numpy())
    twin.kernel.assign(np.zeros((3, 2), "float32"))
    assert dense.kernel.numpy().any()
    assert list(twin.constraints) == [twin.kernel]
    assert len(twin.losses) == 1
    np.testing.assert_allclose(twin.losses[0].numpy(), 0.0)


def test_a_one_element_list_builds_from_its_single_shape():
    seen = []

    class Probe(Layer):
        def build(self, input_shape):
            seen.append(("build", input_shape))
            super().build(input_shape)

        def call(self, inputs):
            return inputs[0]

        def compute_output_shape(self, input_shape):
            seen.append(("compute_output_shape", input_shape))
            return input_shape

    x = mk.Input((3,))
    probe = Probe()
    y = probe([x])
    assert seen == [("build", (None, 3)), ("compute_output_shape", (None, 3))]
    assert y.shape == (None, 3)
    assert probe.input is x and probe.input_shape == (None, 3)
    seen.clear()
    Probe()([np.ones((2, 3), "float32")])
    assert seen == [("build", (2, 3))]


def test_an_explicit_mask_goes_to_call_but_the_output_mask_comes_from_the_inputs():
    class TakesMask(Layer):
        def call(self, inputs, mask=None):
            return inputs

        def compute_output_shape(self, input_shape):
            return input_shape

    x = mk.Input((3,))
    layer = TakesMask()  # supports_masking is False
    y = layer(x, mask=mk.Input((3,), dtype="bool"))  # no TypeError: the previous mask is None
    assert y._keras_mask is None
    assert layer.get_input_mask_at(0) is None
    assert "mask" in layer.inbound_nodes[0].arguments


def test_add_update_accepts_a_tuple_of_updates_and_a_single_pair():
    layer = Layer()
    v = layer.add_weight("v", (2,), initializer="zeros", trainable=False)
    a = mk.Input((2,))
    f, g = (lambda: None), (lambda: None)
    layer.add_update((f, g), inputs=a)
    assert layer.get_updates_for(a) == [f, g]
    pair = (v, np.ones(2, "float32"))
    layer.add_update(pair)
    assert layer.get_updates_for(None) == [pair]
    layer.add_update(())
    assert len(layer.updates) == 3
    layer.apply_updates()
    np.testing.assert_array_equal(v.numpy(), [1.0, 1.0])


@pytest.mark.parametrize("as_tensor", [False, True])
def test_models_cast_floating_inputs_to_their_input_dtype(as_tensor):
    def data():
        x = np.ones((1, 2), "float32")
        return Tensor(x) if as_tensor else x

    seq = Sequential([L.Activation("linear", dtype="float64")])
    assert seq(data()).dtype == np.float64  # first call: builds the model
    assert seq(data()).dtype == np.float64
    x = mk.Input((2,), dtype="float64")
    model = Model(x, L.Activation("linear", dtype="float64")(x))
    assert model(data()).dtype == np.float64


def test_symbolic_call_rejects_keyword_arguments_call_does_not_take():
    x = mk.Input((3,))
    with pytest.raises(TypeError, match=r"named_dense.*\['foo'\]"):
        L.Dense(2, name="named_dense")(x, foo=1)
    # `training` is dropped for a call without it, on symbolic inputs as on data
    model = Model(x, L.Dense(2)(x, training=True))
    assert model.predict(np.ones((1, 3), "float32")).shape == (1, 2)
    assert L.Dense(2)(np.ones((1, 3), "float32"), training=True).shape == (1, 2)
