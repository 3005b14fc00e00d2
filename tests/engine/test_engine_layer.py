import copy

import numpy as np
import pytest
from engine_helpers import Lin, LossInCall, Split2, Square, Stats, TrainingProbe

from minikeras import GradientTape, Input, Tensor, Variable
from minikeras.engine import (
    InputSpec,
    KerasTensor,
    Layer,
    Node,
    collect_call_losses,
    is_keras_tensor,
    reset_names,
)
from minikeras.engine.graph import LayerGraph


def l2(w):
    return (w * w).sum() * 0.01


# ---- names ------------------------------------------------------------------
def test_auto_names_are_snake_case_and_unique_per_class():
    reset_names()

    class SeparableConv2D(Layer):
        pass

    class _Hidden(Layer):
        pass

    assert [SeparableConv2D().name for _ in range(3)] == [
        "separable_conv2d", "separable_conv2d_1", "separable_conv2d_2"]
    assert Lin(2).name == "lin"
    assert SeparableConv2D().name == "separable_conv2d_3"
    assert _Hidden().name == "private__hidden"
    assert Lin(2, name="mine").name == "mine"
    assert Input((2,)).name.startswith("input_")


def test_unknown_kwarg_is_type_error_naming_it():
    with pytest.raises(TypeError, match="bogus"):
        Lin(2, bogus=1)


def test_input_shape_becomes_batch_input_shape_in_config():
    layer = Lin(3, input_shape=(4,), name="a")
    assert layer.batch_input_shape == (None, 4)
    cfg = layer.get_config()
    assert cfg == {"name": "a", "trainable": True, "batch_input_shape": (None, 4),
                   "dtype": "float32", "units": 3, "use_bias": True}
    assert Lin(3, batch_size=8, input_shape=(4,)).batch_input_shape == (8, 4)
    assert set(Lin(3, name="b").get_config()) == {"name", "trainable", "units", "use_bias"}
    assert Lin.from_config(cfg).get_config() == cfg


# ---- weights -------------------------------------------------------------------
def test_weights_order_names_and_trainable_false():
    layer = Stats(name="st")
    layer.build((None, 3))
    assert [w.name for w in layer.weights] == ["st/scale", "st/moving_mean"]
    assert [w.name for w in layer.trainable_weights] == ["st/scale"]
    assert [w.name for w in layer.non_trainable_weights] == ["st/moving_mean"]
    assert layer.variables == layer.weights
    assert layer.trainable_variables == layer.trainable_weights
    assert layer.non_trainable_variables == layer.non_trainable_weights
    layer.trainable = False
    assert layer.trainable_weights == []
    assert [w.name for w in layer.non_trainable_weights] == ["st/scale", "st/moving_mean"]
    assert layer.count_params() == 6
    assert layer.scope_name == "st"


def test_add_weight_registers_constraint_and_regularizer_loss_fresh():
    def clip(a):
        return np.clip(a, -1, 1)

    layer = Layer(name="c")
    w = layer.add_weight("w", (2,), initializer="ones", regularizer=l2, constraint=clip)
    assert layer.constraints == {w: clip} and w.constraint is clip
    assert layer.add_variable("v", (1,), initializer="zeros").name == "c/v"
    assert np.isclose(float(layer.losses[0].data), 0.02)
    w.assign([3.0, 0.0])
    assert np.isclose(float(layer.get_losses_for(None)[0].data), 0.09)
    with GradientTape() as tape:
        loss = layer.get_losses_for(None)[0]
    np.testing.assert_allclose(tape.gradient(loss, w), [0.06, 0.0], rtol=1e-6)


def test_count_params_unbuilt_is_runtime_error_naming_layer():
    with pytest.raises(RuntimeError, match="lin_x.*build"):
        Lin(2, name="lin_x").count_params()


def test_set_weights_checks_count_and_shape_before_assigning():
    layer = Lin(2)
    layer.build((None, 3))
    before = layer.get_weights()
    with pytest.raises(ValueError, match="length 1.*expecting 2"):
        layer.set_weights([before[0]])
    with pytest.raises(ValueError, match=r"\(2,\).*\(5,\)"):
        layer.set_weights([before[0] + 1, np.zeros(5)])
    np.testing.assert_array_equal(layer.get_weights()[0], before[0])  # unchanged
    got = layer.get_weights()
    got[0][...] = 7  # a copy
    assert not np.any(layer.kernel.data == 7)
    layer.set_weights([np.ones((3, 2)), np.zeros(2)])
    np.testing.assert_array_equal(layer.kernel.data, np.ones((3, 2)))


def test_initial_weights_kwarg_applied_when_built():
    w = [np.full((3, 2), 0.5, np.float32), np.ones(2, np.float32)]
    layer = Lin(2, weights=w)
    out = layer(np.ones((1, 3), np.float32))
    np.testing.assert_allclose(out.numpy(), [[2.5, 2.5]])


# ---- masks ----------------------------------------------------------------------
def test_compute_mask_without_support_is_type_error():
    layer = Lin(2, name="nomask")
    with pytest.raises(TypeError, match="nomask"):
        layer.compute_mask(None, mask=np.ones(2, bool))
    assert layer.compute_mask(None, None) is None
    layer.supports_masking = True
    m = np.ones(2, bool)
    assert layer.compute_mask(None, m) is m


# ---- symbolic calls and nodes ------------------------------------------------------
def test_symbolic_call_builds_and_records_node():
    x = Input((4,), name="in_a")
    assert is_keras_tensor(x) and x.shape == (None, 4) and x._keras_shape == (None, 4)
    layer = Lin(3, name="d")
    y = layer(x)
    assert isinstance(y, KerasTensor) and y.shape == (None, 3) and y.dtype == "float32"
    assert layer.built and y._keras_history == (layer, 0, 0)
    node = layer.inbound_nodes[0]
    assert isinstance(node, Node)
    in_layer = x._keras_history[0]
    assert node.inbound_layers == [in_layer] and node.node_indices == [0]
    assert node.tensor_indices == [0] and node.input_tensors == [x]
    assert node.output_tensors == [y] and node.input_shapes == [(None, 4)]
    assert node.output_shapes == [(None, 3)]
    assert in_layer.outbound_nodes == [node] and layer._inbound_nodes is layer.inbound_nodes
    # the invariant
    src = node.inbound_layers[0].inbound_nodes[node.node_indices[0]]
    assert src.output_tensors[node.tensor_indices[0]] is node.input_tensors[0]
    assert layer.input is x and layer.output is y
    assert layer.input_shape == (None, 4) and layer.output_shape == (None, 3)
    assert layer.input_mask is None and layer.output_mask is None
    assert layer.get_input_at(0) is x and layer.get_output_shape_at(0) == (None, 3)


def test_node_accessors_errors_and_unwrapping():
    layer = Lin(2, name="never")
    with pytest.raises(RuntimeError, match="never been called"):
        layer.get_input_at(0)
    with pytest.raises(AttributeError, match="not connected"):
        _ = layer.input
    with pytest.raises(AttributeError, match="not connected"):
        _ = layer.output
    with pytest.raises(AttributeError, match="never been called"):
        _ = layer.input_shape
    a, b = Input((3,)), Input((3,))
    layer(a)
    layer(b)
    with pytest.raises(ValueError, match="only 2 inbound node"):
        layer.get_output_at(2)
    for prop, getter in [("input", "get_input_at"), ("output", "get_output_at"),
                         ("input_mask", "get_input_mask_at"),
                         ("output_mask", "get_output_mask_at")]:
        with pytest.raises(AttributeError, match=getter):
            getattr(layer, prop)
    assert layer.input_shape == (None, 3)  # all nodes agree
    assert layer.get_input_at(1) is b
    c = Input((5,))
    shared = Square(name="sq")
    shared(a)
    shared(c)
    with pytest.raises(AttributeError, match="get_input_shape_at"):
        _ = shared.input_shape
    with pytest.raises(AttributeError, match="get_output_shape_at"):
        _ = shared.output_shape
    assert shared.get_input_shape_at(1) == (None, 5)


def test_multi_input_and_multi_output_lists():
    a, b = Input((2,)), Input((2,))
    from engine_helpers import Add2

    add = Add2()
    s = add([a, b])
    assert add.input == [a, b] and add.input_shape == [(None, 2), (None, 2)]
    assert add.get_input_mask_at(0) == [None, None]
    split = Split2()
    o1, o2 = split(s)
    assert o1._keras_history == (split, 0, 0) and o2._keras_history == (split, 0, 1)
    assert split.output == [o1, o2] and split.output_shape == [(None, 2), (None, 2)]


def test_input_spec_errors_symbolic_and_eager():
    layer = Lin(2, name="spec")
    layer(Input((3,)))
    with pytest.raises(ValueError, match="spec.*axis -1.*value 3"):
        layer(Input((4,)))
    with pytest.raises(ValueError, match="min_ndim=2"):
        layer(np.ones(3))
    with pytest.raises(ValueError, match="axis -1"):
        layer(np.ones((2, 4)))

    class Four(Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.input_spec = InputSpec(ndim=4, dtype="float32")

    with pytest.raises(ValueError, match="expected ndim=4, found ndim=2"):
        Four()(Input((3,)))
    with pytest.raises(ValueError, match="dtype=float32, found dtype=int32"):
        Four()(Input((1, 2, 3), dtype="int32"))

    class Two(Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.input_spec = [InputSpec(ndim=2), InputSpec(ndim=2)]

    with pytest.raises(ValueError, match="expects 2 input"):
        Two()(Input((3,)))
    assert repr(InputSpec(ndim=2)) == "InputSpec(ndim=2)"


def test_mixed_symbolic_and_concrete_is_value_error():
    from engine_helpers import Add2

    with pytest.raises(ValueError, match="isn't a symbolic tensor"):
        Add2()([Input((2,)), np.ones((1, 2))])


# ---- eager calls ------------------------------------------------------------------
def test_eager_call_builds_casts_and_adds_no_node():
    layer = Lin(2)
    out = layer(np.ones((4, 3), dtype=np.float64))
    assert isinstance(out, Tensor) and out.dtype == np.float32 and out.shape == (4, 2)
    assert layer.built and layer.inbound_nodes == []
    with GradientTape() as tape:
        loss = layer(Tensor(np.ones((4, 3)))).sum()
    g = tape.gradient(loss, layer.kernel)
    np.testing.assert_allclose(g, np.full((3, 2), 4.0))
    assert layer.apply(np.ones((1, 3))).shape == (1, 2)


def test_layer_dtype_float64():
    layer = Lin(2, dtype="float64")
    out = layer(np.ones((1, 3), np.float32))
    assert out.dtype == np.float64 and layer.kernel.dtype == np.float64


def test_training_kwarg_passed_only_when_accepted():
    probe = TrainingProbe()
    probe(np.ones((1, 2)), training=True)
    assert probe.calls == [True]
    out = Lin(2)(np.ones((1, 2)), training=True)  # Lin.call has no `training`
    assert out.shape == (1, 2)


def test_eager_updates_apply_at_once_and_symbolic_ones_are_recorded():
    layer = Stats()
    x = np.array([[1.0, 3.0], [3.0, 5.0]], np.float32)
    layer(x, training=True)
    np.testing.assert_allclose(layer.moving.data, [1.0, 2.0])
    assert layer.updates == []
    layer(x)  # inference: no update
    np.testing.assert_allclose(layer.moving.data, [1.0, 2.0])
    t = Input((2,))
    upd = (layer.moving, np.zeros(2))
    layer.add_update(upd, inputs=t)
    layer.add_update(None)
    layer.add_update([])
    assert layer.updates == [upd] and layer.get_updates_for(t) == [upd]
    assert layer.get_updates_for(None) == []
    layer.apply_updates()
    np.testing.assert_allclose(layer.moving.data, [0.0, 0.0])


def test_activity_regularizer_eager_goes_to_collector_and_last_call_list():
    layer = Square(regularize=True)
    x = np.array([[1.0, 2.0]], np.float32)
    with collect_call_losses() as extra:
        layer(x)
    assert len(extra) == 1 and np.isclose(float(extra[0].data), 1.7)
    layer(x)
    layer(x)
    assert len(layer.losses) == 1  # replaced each call, never accumulating
    assert layer.get_losses_for(None) == []


def test_activity_regularizer_symbolic_is_conditional_on_inputs():
    layer = Square(regularize=True)
    a, b = Input((2,)), Input((2,))
    layer(a)
    assert len(layer.get_losses_for(a)) == 1
    assert layer.get_losses_for(b) == [] and layer.get_losses_for(None) == []


def test_add_loss_in_call_is_collected_and_ignored_values():
    layer = LossInCall()
    with collect_call_losses() as extra:
        layer(np.array([[1.0, 3.0]], np.float32))
    assert len(extra) == 1 and float(extra[0].data) == 2.0
    layer.add_loss(None)
    layer.add_loss([])
    t = Tensor(1.0)
    layer.add_loss(t)
    assert layer.get_losses_for(None) == [t]
    layer.add_loss(lambda: Tensor(5.0))
    assert float(layer.get_losses_for(None)[1].data) == 5.0


# ---- deepcopy, graph ------------------------------------------------------------------
def test_deepcopy_owns_weights_and_has_no_nodes():
    layer = Lin(2, kernel_regularizer=l2)
    layer(Input((3,)))
    twin = copy.deepcopy(layer)
    assert twin.inbound_nodes == [] and twin.outbound_nodes == []
    assert twin.name == layer.name and twin.built
    for a, b in zip(twin.weights, layer.weights):
        assert a is not b and isinstance(a, Variable)
        np.testing.assert_array_equal(a.data, b.data)
    twin.kernel.assign(np.zeros((3, 2)))
    assert float(twin.losses[0].data) == 0.0  # the regularizer follows the copy's weight
    assert float(layer.losses[0].data) > 0.0
    assert twin.trainable_weights[0] is twin.kernel
    out = twin(np.ones((1, 3)))
    np.testing.assert_allclose(out.numpy(), [[0.0, 0.0]])


def test_graph_property_collects_connected_layers_and_nodes():
    x = Input((3,))
    a, b = Lin(2, name="ga"), Lin(1, name="gb")
    b(a(x))
    g = a.graph
    assert isinstance(g, LayerGraph)
    assert [layer.name for layer in g.layers][-2:] == ["ga", "gb"]
    assert len(g.nodes) == 3 and "3 layers" in repr(g)


# ---- shape inference for layers without compute_output_shape ----------------------
def test_missing_compute_output_shape_is_inferred_by_a_side_effect_free_dry_run():
    class FirstTwoAndArgmax(Layer):
        def build(self, input_shape):
            self.moving = self.add_weight("moving", (1,), initializer="zeros", trainable=False)
            super().build(input_shape)

        def call(self, x):
            self.add_update((self.moving, np.ones(1)))
            self.add_loss(x.sum())
            from minikeras import backend as K

            return [x[:, :2] * 1.0, K.argmax(x, axis=-1)]

    layer = FirstTwoAndArgmax()
    with collect_call_losses() as extra, GradientTape() as tape:
        a, b = layer(Input((5,)))
    assert a.shape == (None, 2) and a.dtype == "float32"
    assert b.shape == (None,) and b.dtype.startswith("int")
    assert extra == [] and len(tape) == 0 and layer.moving.data[0] == 0.0
    assert layer.output_shape == [(None, 2), (None,)]

    class Broken(Layer):
        def call(self, x):
            raise RuntimeError("needs real data")

    # no silent fallback to identity (Keras 2's; summary() then showed a wrong shape and the
    # error surfaced in fit): the error now comes here, naming the layer and the fix
    with pytest.raises(RuntimeError, match=r"Layer broken \(Broken\).*needs real data.*"
                       r"compute_output_shape"):
        Broken(name="broken")(Input((3,)))


def test_data_dependent_compute_mask_gets_a_symbolic_placeholder():
    class ZeroMask(Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.supports_masking = True

        def compute_mask(self, inputs, mask=None):
            return inputs.data != 0  # needs values

        def compute_output_shape(self, input_shape):
            return input_shape

    y = ZeroMask(name="zm")(Input((4, 3)))
    assert isinstance(y._keras_mask, KerasTensor)
    assert y._keras_mask.shape == (None, 4) and y._keras_mask.dtype == "bool"
    with pytest.raises(TypeError, match="does not support masking"):
        Lin(2, name="nomask2")(y)


def test_scope_name_before_use_raises_value_error():
    layer = Stats(name="unused")
    with pytest.raises(ValueError, match="unused.*not been used"):
        _ = layer.scope_name
    layer.build((None, 3))
    assert layer.scope_name == "unused"
