"""Keras 2 semantics of nodes and models (KERAS2-SEMANTICS.md, "Nodes and models")."""

import json

import numpy as np
import pytest

import minikeras as mk
from minikeras import layers as L
from minikeras.engine import Node
from minikeras.models import Model, Sequential


# ---- Node ------------------------------------------------------------------------------------
def test_node_invariant_and_registration():
    a, b = mk.Input((3,), name="a"), mk.Input((3,), name="b")
    dense = L.Dense(3, name="d")
    da = dense(a)
    add = L.Add(name="add")
    add([da, b])
    node = add.inbound_nodes[0]
    assert isinstance(node, Node)
    assert node.outbound_layer is add
    assert node.inbound_layers == [dense, b._keras_history[0]]
    assert node.node_indices == [0, 0] and node.tensor_indices == [0, 0]
    for x, layer, n, t in zip(node.input_tensors, node.inbound_layers, node.node_indices,
                              node.tensor_indices):
        assert x is layer.inbound_nodes[n].output_tensors[t]
    assert node in dense.outbound_nodes and node in b._keras_history[0].outbound_nodes
    assert node.input_shapes == [(None, 3), (None, 3)] and node.output_shapes == [(None, 3)]


def test_input_layer_node_has_no_inbound_layers():
    x = mk.Input((3,))
    layer = x._keras_history[0]
    node = layer.inbound_nodes[0]
    assert node.inbound_layers == []
    assert node.input_tensors == [x] and node.output_tensors == [x]
    assert x._keras_history == (layer, 0, 0)


def test_node_constructor_appends_itself():
    src, dst = L.Dense(1), L.Dense(1)
    x = mk.Input((1,))
    y = src(x)
    node = Node(dst, [src], [0], [0], [y], [y], [None], [None], [(None, 1)], [(None, 1)])
    assert dst.inbound_nodes == [node]
    assert src.outbound_nodes[-1] is node


# ---- construction ----------------------------------------------------------------------------
def test_layers_are_ordered_by_decreasing_depth_and_a_shared_layer_at_its_deepest():
    x = mk.Input((4,), name="x")
    a, b = L.Dense(4, name="A"), L.Dense(4, name="B")
    y = a(b(a(b(x))))
    model = Model(x, y)
    assert [layer.name for layer in model.layers] == ["x", "B", "A"]
    assert sorted(model.layers_by_depth) == [2, 3, 4]  # A: max(0, 2); B: max(1, 3)
    assert [len(nodes) for _, nodes in sorted(model.nodes_by_depth.items())] == [1, 1, 1, 1, 1]


def test_ties_keep_traversal_order():
    x = mk.Input((4,), name="x")
    left, right = L.Dense(2, name="left"), L.Dense(2, name="right")
    out = L.Concatenate(name="cat")([left(x), right(x)])
    model = Model(x, out)
    assert [layer.name for layer in model.layers] == ["x", "left", "right", "cat"]


def test_graph_disconnected_names_the_tensor_the_layer_and_the_layers_reached():
    a, b = mk.Input((2,), name="in_a"), mk.Input((2,), name="in_b")
    out = L.Add(name="add")([L.Dense(2, name="da")(a), b])
    with pytest.raises((ValueError, RuntimeError), match=r"(?s)Graph disconnected.*in_b.*in_a"):
        Model(a, out)


def test_duplicate_layer_names_are_an_error():
    x = mk.Input((2,))
    y = L.Dense(2, name="same")(L.Dense(2, name="same")(x))
    with pytest.raises((ValueError, RuntimeError), match="same.*unique"):
        Model(x, y)


def test_redundant_inputs_are_a_value_error_and_redundant_outputs_warn():
    x = mk.Input((2,))
    y = L.Dense(2)(x)
    with pytest.raises(ValueError, match="redundant"):
        Model([x, x], y)
    with pytest.warns(UserWarning, match="redundant"):
        Model(x, [y, y])


def test_model_makes_its_own_node_and_has_shapes():
    a, b = mk.Input((3,)), mk.Input((4,))
    model = Model([a, b], [L.Dense(1)(a), L.Dense(2)(b)])
    assert len(model.inbound_nodes) == 1
    assert model.inbound_nodes[0].input_tensors == [a, b]
    assert model.input_shape == [(None, 3), (None, 4)]
    assert model.output_shape == [(None, 1), (None, 2)]
    single = Model(a, L.Dense(5)(a))
    assert single.input_shape == (None, 3) and single.output_shape == (None, 5)
    assert single.input is a


def test_running_a_model_adds_no_nodes_to_inner_layers():
    x = mk.Input((3,))
    dense = L.Dense(2)
    model = Model(x, dense(x))
    model(np.ones((2, 3), "float32"))
    model(mk.Input((3,)))  # a nested use: a node for the model only
    assert len(dense.inbound_nodes) == 1
    assert len(model.inbound_nodes) == 2


# ---- get_layer -------------------------------------------------------------------------------
def test_get_layer_errors_are_value_errors():
    x = mk.Input((2,))
    model = Model(x, L.Dense(2, name="d")(x))
    assert model.get_layer("d") is model.layers[1]
    assert model.get_layer(index=1).name == "d"
    with pytest.raises(ValueError, match="index 5.*2 layers"):
        model.get_layer(index=5)
    with pytest.raises(ValueError, match="nope"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="name or layer index"):
        model.get_layer()


# ---- weights and parameters ------------------------------------------------------------------
def test_nested_model_count_params_and_weights():
    inner_in = mk.Input((4,))
    inner = Model(inner_in, L.Dense(3)(inner_in), name="inner")
    x = mk.Input((4,))
    outer = Model(x, L.Dense(2)(inner(x)))
    assert outer.count_params() == 15 + 8
    assert len(outer.weights) == 4
    assert [w.shape for w in outer.get_weights()] == [(4, 3), (3,), (3, 2), (2,)]


def test_model_trainable_false():
    x = mk.Input((2,))
    model = Model(x, L.Dense(2)(x))
    model.trainable = False
    assert model.trainable_weights == []
    assert len(model.non_trainable_weights) == 2


# ---- config ----------------------------------------------------------------------------------
def test_functional_config_structure():
    x = mk.Input((4,), name="x")
    dense = L.Dense(2, name="d")
    dense(mk.Input((4,), name="elsewhere"))  # node 0 of d is outside the model
    model = Model(x, dense(x), name="m")
    config = model.get_config()
    assert set(config) == {"name", "layers", "input_layers", "output_layers"}
    assert config["name"] == "m"
    assert [entry["name"] for entry in config["layers"]] == ["x", "d"]
    assert set(config["layers"][1]) == {"name", "class_name", "config", "inbound_nodes"}
    assert config["layers"][0]["inbound_nodes"] == []
    # d's node 1 is the model's first node of d: renumbered to 0
    assert config["layers"][1]["inbound_nodes"] == [[["x", 0, 0, {}]]]
    assert config["input_layers"] == [["x", 0, 0]]
    assert config["output_layers"] == [["d", 0, 0]]


def test_from_config_rebuilds_a_layer_shared_at_different_depths():
    x = mk.Input((4,))
    a, b = L.Dense(4, name="A"), L.Dense(4, name="B")
    model = Model(x, a(b(a(b(x)))))
    config = json.loads(json.dumps(model.get_config()))
    assert config["layers"][1]["inbound_nodes"] == [[[x._keras_history[0].name, 0, 0, {}]],
                                                    [["A", 0, 0, {}]]]
    again = Model.from_config(config)
    again.set_weights(model.get_weights())
    data = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(again.predict(data), model.predict(data), rtol=1e-6)
    assert [len(layer.inbound_nodes) for layer in again.layers] == [1, 2, 2]


def test_from_config_of_a_nested_model_used_twice():
    inner_in = mk.Input((3,))
    inner = Model(inner_in, L.Dense(3)(inner_in), name="inner")
    x = mk.Input((3,))
    outer = Model(x, inner(inner(x)))
    config = outer.get_config()
    # a container starts with its own node: the model's calls are nodes 1 and 2
    assert config["layers"][1]["inbound_nodes"][1] == [["inner", 1, 0, {}]]
    assert config["output_layers"] == [["inner", 2, 0]]
    again = Model.from_config(json.loads(json.dumps(config)))
    again.set_weights(outer.get_weights())
    data = np.ones((2, 3), "float32")
    np.testing.assert_allclose(again.predict(data), outer.predict(data), rtol=1e-6)


@pytest.mark.parametrize("config", [
    [1, 2],
    {"layers": [{"name": "x"}]},
    {"name": "m", "layers": [], "input_layers": [["missing", 0, 0]], "output_layers": []},
])
def test_from_config_malformed_is_a_value_error(config):
    with pytest.raises(ValueError):
        Model.from_config(config)


def test_call_kwargs_are_kept_in_the_config():
    x = mk.Input((4,))
    y = L.Dropout(0.5, name="drop")(x, training=True)
    config = Model(x, y).get_config()
    assert config["layers"][1]["inbound_nodes"] == [[[x._keras_history[0].name, 0, 0,
                                                      {"training": True}]]]


# ---- Sequential ------------------------------------------------------------------------------
def test_sequential_pop_on_empty_is_a_type_error():
    with pytest.raises(TypeError, match="no layers"):
        Sequential().pop()


def test_sequential_pop_updates_outputs():
    model = Sequential([L.Dense(3, input_shape=(4,)), L.Dense(2)])
    assert model.output_shape == (None, 2)
    model.pop()
    assert model.output_shape == (None, 3)
    assert len(model.layers) == 1


def test_sequential_shapes_and_layers():
    model = Sequential([L.Dense(3, input_shape=(4,)), L.Dense(2)])
    assert model.input_shape == (None, 4)
    assert model.output_shape == (None, 2)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]


def test_sequential_add_non_layer_is_a_type_error():
    with pytest.raises(TypeError, match="Layer"):
        Sequential().add(42)


# ---- summary ---------------------------------------------------------------------------------
def _summary(model, **kwargs):
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return lines


def test_sequential_like_summary_format():
    x = mk.Input((4,), name="x")
    model = Model(x, L.Dense(1000, name="d")(x))
    lines = _summary(model)
    assert all(len(line) == 65 for line in lines if not line.startswith(("Total", "Train",
                                                                           "Non-")))
    assert lines[0] == "_" * 65
    assert lines[1].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    assert lines[2] == "=" * 65
    assert lines[3].startswith("x (InputLayer)")
    assert lines[4] == "_" * 65
    assert lines[5].split() == ["d", "(Dense)", "(None,", "1000)", "5000"]
    assert lines[6] == "=" * 65
    assert lines[7:10] == ["Total params: 5,000", "Trainable params: 5,000",
                           "Non-trainable params: 0"]
    assert lines[10] == "_" * 65


def test_summary_with_connections_lists_one_per_row():
    a, b = mk.Input((4,), name="a"), mk.Input((4,), name="b")
    shared = L.Dense(3, name="shared")
    model = Model([a, b], L.Concatenate(name="cat")([shared(a), shared(b)]))
    lines = _summary(model)
    assert lines[0] == "_" * 100
    assert lines[1].split()[-2:] == ["Connected", "to"]
    row = lines.index(next(line for line in lines if line.startswith("shared (Dense)")))
    assert lines[row].split()[-1] == "a[0][0]"
    assert lines[row + 1].split() == ["b[0][0]"]
    cat = lines.index(next(line for line in lines if line.startswith("cat (Concatenate)")))
    assert lines[cat].split()[-1] == "shared[0][0]"
    assert lines[cat + 1].split() == ["shared[1][0]"]


def test_summary_of_a_nested_model_and_multiple_shapes():
    inner_in = mk.Input((4,))
    inner = Model(inner_in, L.Dense(3)(inner_in), name="inner")
    x = mk.Input((4,), name="x")
    act = L.Activation("relu", name="act")
    act(mk.Input((7,)))  # a second, differently shaped use elsewhere
    model = Model(x, act(inner(x)))
    lines = _summary(model)
    inner_row = next(line for line in lines if line.startswith("inner (Model)"))
    assert inner_row.split()[2:] == ["(None,", "3)", "15"]
    act_row = next(line for line in lines if line.startswith("act (Activation)"))
    assert act_row.split()[2:] == ["multiple", "0"]


def test_a_model_input_that_is_not_an_input_tensor_fails_like_a_disconnected_graph():
    x = mk.Input((3,))
    h = L.Dense(3)(x)
    with pytest.raises(RuntimeError, match="Input"):
        Model(h, L.Dense(1)(h))
    with pytest.raises(ValueError, match="disconnected"):
        Model(h, L.Dense(1)(h))
