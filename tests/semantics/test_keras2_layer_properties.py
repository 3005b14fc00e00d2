"""Keras 2 semantics of a layer's properties (KERAS2-SEMANTICS.md, "Layer properties").

Each test states what Keras 2.0.x does: which error, when, and the exact
structure returned (a tuple or a list of tuples, a single tensor or a list).
"""

import pytest

import minikeras as mk
from minikeras import layers as L
from minikeras.models import Model


def _shared_dense(shape_b=(4,)):
    """A Dense called twice: on a (None, 4) input and on a ``shape_b`` input."""
    dense = L.Dense(3, name="shared")
    a, b = mk.Input((4,)), mk.Input(shape_b)
    return dense, a, b, dense(a), dense(b)


# ---- input / output --------------------------------------------------------------------------
def test_input_output_of_one_node_are_unwrapped_tensors():
    x = mk.Input((4,))
    dense = L.Dense(3)
    y = dense(x)
    assert dense.input is x
    assert dense.output is y


def test_input_output_of_a_multi_input_layer_are_lists():
    a, b = mk.Input((4,)), mk.Input((4,))
    layer = L.Concatenate()
    y = layer([a, b])
    assert isinstance(layer.input, list) and layer.input[0] is a and layer.input[1] is b
    assert layer.output is y


@pytest.mark.parametrize("prop", ["input", "output"])
def test_input_output_of_a_shared_layer_is_an_attribute_error(prop):
    dense, *_ = _shared_dense()
    with pytest.raises(AttributeError, match="multiple inbound nodes.*get_(in|out)put_at"):
        getattr(dense, prop)


@pytest.mark.parametrize("prop", ["input", "output", "input_mask", "output_mask"])
def test_unconnected_layer_is_an_attribute_error(prop):
    with pytest.raises(AttributeError, match="not connected"):
        getattr(L.Dense(2), prop)


# ---- input_shape / output_shape --------------------------------------------------------------
def test_shapes_are_tuples_with_none_batch():
    dense = L.Dense(3)
    dense(mk.Input((4,)))
    assert dense.input_shape == (None, 4) and type(dense.input_shape) is tuple
    assert dense.output_shape == (None, 3) and type(dense.output_shape) is tuple


def test_multi_input_shape_is_a_list_of_tuples():
    layer = L.Concatenate()
    layer([mk.Input((4,)), mk.Input((2,))])
    assert layer.input_shape == [(None, 4), (None, 2)]
    assert all(type(s) is tuple for s in layer.input_shape)
    assert layer.output_shape == (None, 6)


def test_shared_layer_with_equal_shapes_has_a_shape():
    dense, *_ = _shared_dense()
    assert dense.input_shape == (None, 4)
    assert dense.output_shape == (None, 3)


def test_shared_layer_with_different_shapes_points_to_get_input_shape_at():
    layer = L.Activation("relu")
    layer(mk.Input((4,)))
    layer(mk.Input((5,)))
    with pytest.raises(AttributeError, match="get_input_shape_at"):
        _ = layer.input_shape
    with pytest.raises(AttributeError, match="get_output_shape_at"):
        _ = layer.output_shape
    assert layer.get_input_shape_at(1) == (None, 5)


@pytest.mark.parametrize("prop", ["input_shape", "output_shape"])
def test_never_called_layer_shape_is_an_attribute_error(prop):
    with pytest.raises(AttributeError, match="never been called"):
        getattr(L.Dense(2), prop)


# ---- masks -----------------------------------------------------------------------------------
def test_masks_of_one_node():
    dense = L.Dense(3)
    dense(mk.Input((4,)))
    assert dense.input_mask is None
    assert dense.output_mask is None


def test_masks_of_a_multi_input_layer_are_a_list():
    layer = L.Add()
    layer([mk.Input((4,)), mk.Input((4,))])
    assert layer.input_mask == [None, None]


@pytest.mark.parametrize("prop", ["input_mask", "output_mask"])
def test_masks_of_a_shared_layer_are_an_attribute_error(prop):
    dense, *_ = _shared_dense()
    with pytest.raises(AttributeError, match="multiple inbound nodes"):
        getattr(dense, prop)


# ---- weights ---------------------------------------------------------------------------------
def test_weights_are_trainable_then_non_trainable():
    bn = L.BatchNormalization()
    bn(mk.Input((3,)))
    names = [w.name.split("/")[-1] for w in bn.weights]
    assert names == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert bn.weights == bn.trainable_weights + bn.non_trainable_weights


def test_trainable_false_moves_every_weight_to_non_trainable():
    bn = L.BatchNormalization()
    bn(mk.Input((3,)))
    bn.trainable = False
    assert bn.trainable_weights == []
    assert [w.name.split("/")[-1] for w in bn.non_trainable_weights] == [
        "gamma", "beta", "moving_mean", "moving_variance"]
    bn.trainable = True
    assert len(bn.trainable_weights) == 2


def test_variable_aliases():
    dense = L.Dense(2)
    dense(mk.Input((3,)))
    assert dense.variables == dense.weights
    assert dense.trainable_variables == dense.trainable_weights
    assert dense.non_trainable_variables == dense.non_trainable_weights


def test_model_weights_concatenate_layers_and_count_a_shared_weight_once():
    x = mk.Input((3,))
    first = L.Dense(3, name="first")
    h = first(x)
    second = L.Dense(3, name="second")
    y = second(h)
    # tie the second kernel to the first (a weight shared by two layers)
    second._trainable_weights[0] = first.kernel
    second.kernel = first.kernel
    model = Model(x, y)
    assert [w.name for w in model.weights] == ["first/kernel", "first/bias", "second/bias"]
    assert model.count_params() == 9 + 3 + 3
    lines = []
    model.summary(print_fn=lines.append)
    assert "Total params: 15" in lines


def test_constraints_dict():
    dense = L.Dense(2, kernel_constraint="max_norm")
    dense(mk.Input((3,)))
    assert list(dense.constraints) == [dense.kernel]
    assert type(dense.constraints[dense.kernel]).__name__ == "MaxNorm"


# ---- losses / updates ------------------------------------------------------------------------
def test_losses_include_conditional_and_unconditional():
    dense = L.Dense(2, kernel_regularizer="l2", activity_regularizer="l1")
    a, b = mk.Input((3,)), mk.Input((3,))
    dense(a)
    dense(b)
    assert len(dense.losses) == 3  # one weight regularizer, one activity loss per call
    assert len(dense.get_losses_for(None)) == 1
    assert len(dense.get_losses_for(a)) == 1
    assert len(dense.get_losses_for(b)) == 1


def test_model_losses_are_the_layers_nodes_inside_the_model():
    dense = L.Dense(2, activity_regularizer="l1")
    a, b = mk.Input((3,)), mk.Input((3,))
    dense(a)  # a node outside the model
    model = Model(b, dense(b))
    assert len(model.losses) == 1
    assert model.losses[0] is dense.get_losses_for(b)[0]


def test_batchnorm_symbolic_calls_add_two_updates_each_except_with_training_false():
    bn = L.BatchNormalization()
    a, b, c = mk.Input((3,)), mk.Input((3,)), mk.Input((3,))
    bn(a)
    bn(b)
    bn(c, training=False)
    assert [u[0] for u in bn.get_updates_for(a)] == [bn.moving_mean, bn.moving_variance]
    assert len(bn.get_updates_for(b)) == 2
    assert bn.get_updates_for(c) == [] and bn.get_updates_for(None) == []
    assert len(bn.updates) == 4


def test_model_updates_are_the_layers_nodes_inside_the_model():
    bn = L.BatchNormalization()
    a, b = mk.Input((3,)), mk.Input((3,))
    bn(a)
    model = Model(b, bn(b))
    assert len(model.updates) == 2
    assert model.updates == bn.get_updates_for(b)
    model.apply_updates()  # symbolic records change nothing
    assert not bn.moving_mean.numpy().any()


def test_nested_model_call_adds_the_inner_conditional_losses_and_updates():
    i = mk.Input((3,))
    inner = Model(i, L.Dense(2, activity_regularizer="l1", kernel_regularizer="l2")(
        L.BatchNormalization()(i)))
    x = mk.Input((3,))
    outer = Model(x, inner(x))
    assert len(inner.get_losses_for(x)) == 1
    assert len(inner.get_updates_for(x)) == 2
    assert len(outer.losses) == 2  # the activity loss of this call + the kernel regularizer
    assert len(outer.updates) == 2
    assert len(outer.get_losses_for(None)) == 1  # unconditional ones are not repeated


# ---- scope_name / graph ----------------------------------------------------------------------
def test_scope_name_before_use_is_a_value_error():
    with pytest.raises(ValueError, match="sep"):
        _ = L.SeparableConv2D(2, 3, name="sep").scope_name


def test_scope_name_after_use_prefixes_the_weights():
    layer = L.SeparableConv2D(2, 3, name="sep")
    layer(mk.Input((5, 5, 3)))
    assert layer.scope_name == "sep"
    assert all(w.name.startswith("sep/") for w in layer.weights)


def test_graph_lists_the_layer():
    layer = L.Dense(2)
    x = mk.Input((3,))
    layer(x)
    assert layer in layer.graph.layers
    assert x._keras_history[0] in layer.graph.layers
