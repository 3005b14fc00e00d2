import copy
import json

import numpy as np
import pytest
from engine_helpers import Add2, Lin, Masker, MaskUser, Split2, Square, Stats, TrainingProbe

from minikeras import GradientTape, Input, Model, Tensor
from minikeras.engine import Container, GraphError, InputLayer, collect_call_losses
from minikeras.models import model_from_config, model_from_json

CUSTOM = {"Lin": Lin, "Add2": Add2, "Split2": Split2, "Square": Square, "Stats": Stats,
          "TrainingProbe": TrainingProbe}


def l2(w):
    return (w * w).sum() * 0.01


def run(model, x):
    out = model(x)
    return [o.numpy() for o in out] if isinstance(out, list) else out.numpy()


def test_layers_by_depth_multi_input_multi_output():
    a, b = Input((3,), name="a"), Input((3,), name="b")
    da = Lin(4, name="da")(a)
    db = Lin(4, name="db")(b)
    s = Add2(name="add")([da, db])
    o1 = Lin(2, name="o1")(s)
    o2 = Lin(1, name="o2")(da)
    model = Model([a, b], [o1, o2], name="mm")
    assert [layer.name for layer in model.layers] == ["a", "b", "da", "db", "add", "o1", "o2"]
    assert model.input_names == ["a", "b"] and model.output_names == ["o1", "o2"]
    assert model.inputs == [a, b] and model.outputs == [o1, o2]
    assert model.get_layer("add").name == "add" and model.get_layer(index=2).name == "da"
    assert model._network_nodes >= {"a_ib-0", "da_ib-0", "add_ib-0", "o2_ib-0"}
    xa, xb = np.ones((2, 3), np.float32), np.full((2, 3), 2.0, np.float32)
    y1, y2 = run(model, [xa, xb])
    la, lb, lo1, lo2 = (model.get_layer(n) for n in ["da", "db", "o1", "o2"])
    ha = la(xa).numpy()
    np.testing.assert_allclose(y1, lo1(ha + lb(xb).numpy()).numpy(), rtol=1e-6)
    np.testing.assert_allclose(y2, lo2(ha).numpy(), rtol=1e-6)
    assert model.compute_output_shape([(None, 3), (None, 3)]) == [(None, 2), (None, 1)]
    assert model.compute_output_shape([(5, 3), (5, 3)]) == [(5, 2), (5, 1)]
    assert model.output_shape == [(None, 2), (None, 1)]
    assert len(model.inbound_nodes) == 1 and model.input == [a, b]
    with pytest.raises(ValueError, match="expects 2 input"):
        model(xa)


def test_get_layer_errors():
    x = Input((2,))
    model = Model(x, Lin(1)(x))
    with pytest.raises(ValueError, match="index 5.*only has 2"):
        model.get_layer(index=5)
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="name or layer index"):
        model.get_layer()


def test_depth_of_shared_layer_is_its_deepest_use():
    x = Input((2,), name="x")
    sq = Square(name="sq")
    h = Lin(2, name="mid")(sq(x))
    y = sq(h)
    model = Model(x, y)
    assert [layer.name for layer in model.layers] == ["x", "sq", "mid"]
    depths = {layer.name: d for d, ls in model.layers_by_depth.items() for layer in ls}
    # sq sits at the deeper of its two nodes (depths 2 and 0 -> 2)
    assert depths["sq"] == 2 and depths["mid"] == 1 and depths["x"] == 3
    data = np.array([[1.0, 2.0]], np.float32)
    expected = model.get_layer("mid")(data * data).numpy() ** 2
    np.testing.assert_allclose(run(model, data), expected, rtol=1e-6)


def test_disconnected_graph_error_names_tensor_and_layer():
    a, b = Input((2,), name="ina"), Input((2,), name="inb")
    s = Add2(name="join")([a, b])
    pattern = "Graph disconnected.*'inb'.*not passed.*\\['ina'\\]"
    with pytest.raises(GraphError, match=pattern) as info:
        Model(a, s)
    assert isinstance(info.value, ValueError) and isinstance(info.value, RuntimeError)


def test_duplicate_layer_names_rejected():
    x = Input((2,))
    y = Lin(2, name="same")(Lin(2, name="same")(x))
    with pytest.raises(GraphError, match='"same" is used 2 times'):
        Model(x, y)


def test_inputs_and_outputs_must_be_keras_tensors_from_input():
    x = Input((2,))
    h = Lin(2)(x)
    with pytest.raises(TypeError, match="Input tensors"):
        Model(np.ones((1, 2)), h)
    with pytest.raises(TypeError, match="Output tensors"):
        Model(x, np.ones(2))
    with pytest.raises(TypeError, match="must come from `Input`"):
        Model(h, Lin(1)(h))


def test_model_call_on_data_adds_no_nodes_and_passes_training():
    x = Input((2,))
    probe = TrainingProbe(name="probe")
    model = Model(x, Lin(2)(probe(x)))
    nodes = [len(layer.inbound_nodes) for layer in model.layers]
    model(np.ones((1, 2)), training=True)
    model(np.ones((1, 2)))
    assert probe.calls == [True, None]
    assert [len(layer.inbound_nodes) for layer in model.layers] == nodes


def test_node_arguments_fix_training_and_are_serialised():
    x = Input((2,))
    probe = TrainingProbe(name="fixed")
    model = Model(x, probe(x, training=False))
    model(np.ones((1, 2)), training=True)
    assert probe.calls == [False]
    cfg = model.get_config()
    assert cfg["layers"][1]["inbound_nodes"] == [[[model.layers[0].name, 0, 0,
                                                   {"training": False}]]]


def test_nested_model_is_a_layer_with_new_node():
    x = Input((3,), name="ix")
    inner = Model(x, Lin(2, name="inner_d")(x), name="inner")
    assert len(inner.inbound_nodes) == 1  # its own node 0
    z = Input((3,), name="iz")
    y = Lin(1, name="head")(inner(z))
    outer = Model(z, y, name="outer")
    assert len(inner.inbound_nodes) == 2 and inner.get_output_shape_at(1) == (None, 2)
    assert [layer.name for layer in outer.layers] == ["iz", "inner", "head"]
    assert len(outer.weights) == 4 and outer.count_params() == 3 * 2 + 2 + 2 + 1
    data = np.ones((2, 3), np.float32)
    expected = outer.get_layer("head")(inner(data)).numpy()
    np.testing.assert_allclose(run(outer, data), expected, rtol=1e-6)
    with pytest.raises(AttributeError, match="get_input_at"):
        _ = inner.input
    restored = Model.from_config(outer.get_config(), custom_objects=CUSTOM)
    restored.set_weights(outer.get_weights())
    np.testing.assert_allclose(run(restored, data), expected, rtol=1e-6)
    assert isinstance(restored.get_layer("inner"), Model)
    with GradientTape() as tape:
        loss = outer(data).sum()
    grads = tape.gradient(loss, outer.trainable_weights)
    assert all(g is not None for g in grads)


def test_shared_layers_at_different_depths_round_trip():
    # A(B(A(B(x)))): node renumbering and the queued node sweep
    x = Input((2,), name="x")
    A, B = Lin(2, name="A"), Lin(2, name="B")
    y = A(B(A(B(x))))
    model = Model(x, y)
    cfg = model.get_config()
    by_name = {entry["name"]: entry for entry in cfg["layers"]}
    assert by_name["A"]["inbound_nodes"] == [[["B", 0, 0, {}]], [["B", 1, 0, {}]]]
    assert by_name["B"]["inbound_nodes"] == [[["x", 0, 0, {}]], [["A", 0, 0, {}]]]
    assert cfg["output_layers"] == [["A", 1, 0]]
    restored = Model.from_config(json.loads(json.dumps(cfg)), custom_objects=CUSTOM)
    restored.set_weights(model.get_weights())
    data = np.array([[1.0, -2.0]], np.float32)
    np.testing.assert_allclose(run(restored, data), run(model, data), rtol=1e-6)
    assert len(restored.get_layer("A").inbound_nodes) == 2


def test_config_renumbers_nodes_outside_the_model():
    shared = Lin(2, name="sh")
    shared(Input((2,), name="elsewhere"))  # node 0 is not part of the model below
    x = Input((2,), name="x")
    model = Model(x, Lin(1, name="top")(shared(x)))
    cfg = model.get_config()
    by_name = {entry["name"]: entry for entry in cfg["layers"]}
    assert by_name["sh"]["inbound_nodes"] == [[["x", 0, 0, {}]]]
    assert by_name["top"]["inbound_nodes"] == [[["sh", 0, 0, {}]]]
    restored = Model.from_config(cfg, custom_objects=CUSTOM)
    assert [layer.name for layer in restored.layers] == ["x", "sh", "top"]


def test_multi_output_layer_round_trip():
    x = Input((2,), name="x")
    p, q = Split2(name="split")(x)
    model = Model(x, [Lin(1, name="l1")(p), q])
    cfg = model.get_config()
    assert cfg["output_layers"] == [["l1", 0, 0], ["split", 0, 1]]
    restored = model_from_json(model.to_json(), custom_objects=CUSTOM)
    restored.set_weights(model.get_weights())
    data = np.array([[1.0, 2.0]], np.float32)
    for a, b in zip(run(restored, data), run(model, data)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_malformed_configs_raise_value_error():
    x = Input((2,), name="x")
    cfg = Model(x, Lin(1, name="d")(x)).get_config()
    bad = copy.deepcopy(cfg)
    bad["layers"][1]["inbound_nodes"] = [[["x", 0]]]
    with pytest.raises(ValueError, match="Improperly formatted"):
        Model.from_config(bad, custom_objects=CUSTOM)
    bad = copy.deepcopy(cfg)
    bad["layers"][1]["inbound_nodes"] = [[["x", 3, 0, {}]]]
    with pytest.raises(ValueError, match="never be created"):
        Model.from_config(bad, custom_objects=CUSTOM)
    bad = copy.deepcopy(cfg)
    bad["layers"][1]["inbound_nodes"] = [[["ghost", 0, 0, {}]]]
    with pytest.raises(ValueError, match="ghost"):
        Model.from_config(bad, custom_objects=CUSTOM)
    with pytest.raises(ValueError, match="Improperly formatted"):
        Model.from_config({"name": "m"})
    with pytest.raises(TypeError, match="not a list"):
        model_from_config([cfg])
    with pytest.raises(ValueError, match="not valid JSON"):
        model_from_json("{nope")


def test_to_json_and_custom_objects():
    x = Input((2,))
    model = Model(x, Lin(3)(x), name="js")
    text = model.to_json()
    parsed = json.loads(text)
    assert parsed["class_name"] == "Model" and parsed["config"]["name"] == "js"
    restored = model_from_json(text, custom_objects={"Lin": Lin})
    assert restored.name == "js" and restored.count_params() == model.count_params()


def test_model_weights_trainable_flag_and_shared_weight_counted_once():
    x = Input((2,))
    st = Stats(name="st")
    d = Lin(2, name="d")
    y = st(d(d(x)))
    model = Model(x, y)
    names = [w.name for w in model.weights]
    assert names == ["d/kernel", "d/bias", "st/scale", "st/moving_mean"]
    assert [w.name for w in model.non_trainable_weights] == ["st/moving_mean"]
    assert model.count_params() == 4 + 2 + 2 + 2
    model.trainable = False
    assert model.trainable_weights == []
    assert len(model.non_trainable_weights) == 4
    model.trainable = True
    d.trainable = False
    assert [w.name for w in model.trainable_weights] == ["st/scale"]
    assert len(model.get_weights()) == 4
    with pytest.raises(ValueError, match="expecting 4 weights"):
        model.set_weights(model.get_weights()[:3])
    wrong = model.get_weights()
    wrong[3] = np.zeros(5)
    before = model.get_weights()
    with pytest.raises(ValueError, match="st/moving_mean"):
        model.set_weights(wrong)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_model_losses_include_nested_regularizers_and_activity_losses():
    x = Input((2,))
    inner_in = Input((2,))
    inner = Model(inner_in, Lin(2, kernel_regularizer=l2, name="reg")(inner_in), name="inn")
    sq = Square(regularize=True, name="sqr")
    model = Model(x, sq(inner(x)))
    uncond = model.get_losses_for(None)
    assert len(uncond) == 1 and isinstance(uncond[0], Tensor)
    kernel = inner.get_layer("reg").kernel
    assert np.isclose(float(uncond[0].data), 0.01 * float((kernel.data ** 2).sum()), rtol=1e-5)
    assert len(model.losses) == 2  # the regularizer and sqr's symbolic activity loss
    data = np.ones((1, 2), np.float32)
    with collect_call_losses() as extra:
        out = model(data)
    assert len(extra) == 1
    np.testing.assert_allclose(float(extra[0].data), 0.1 * float((out.numpy() ** 2).sum()),
                               rtol=1e-5)
    with GradientTape() as tape:
        total = sum(model.get_losses_for(None))
    assert tape.gradient(total, kernel) is not None


def test_model_updates_applied_in_training_call():
    x = Input((2,))
    st = Stats()
    model = Model(x, st(x))
    model(np.array([[2.0, 4.0]], np.float32), training=True)
    np.testing.assert_allclose(st.moving.data, [1.0, 2.0])


def test_masks_propagate_through_model_call():
    x = Input((3,))
    user = MaskUser()
    model = Model(x, user(Masker()(x)))
    assert user.inbound_nodes[0].input_masks == ["symbolic-mask"]
    out = model(np.array([[1.0, 0.0, 2.0]], np.float32))
    np.testing.assert_allclose(out.numpy(), [[1.0, 0.0, 2.0]])
    assert isinstance(user.seen[-1], np.ndarray)
    np.testing.assert_array_equal(user.seen[-1], [[True, False, True]])


def test_model_deepcopy_is_independent():
    x = Input((2,))
    model = Model(x, Lin(2)(x))
    twin = copy.deepcopy(model)
    data = np.ones((1, 2), np.float32)
    np.testing.assert_allclose(run(twin, data), run(model, data))
    twin.layers[1].kernel.assign(np.zeros((2, 2)))
    assert not np.allclose(run(twin, data), run(model, data))


def test_model_input_dtype_cast_and_input_layer():
    x = Input((2,), dtype="float64")
    model = Model(x, Lin(1, dtype="float64")(x))
    assert model(np.ones((1, 2), np.float32)).dtype == np.float64
    layer = InputLayer(input_shape=(3,), name="il")
    assert layer.get_config() == {"batch_input_shape": (None, 3), "dtype": "float32",
                                  "sparse": False, "name": "il"}
    with pytest.raises(ValueError, match="shape"):
        Input()
    with pytest.raises(ValueError, match="not both"):
        InputLayer(input_shape=(2,), batch_input_shape=(None, 2))
    assert isinstance(model, Container)


def test_model_graph_and_layer_graph_nodes():
    x = Input((2,))
    model = Model(x, Lin(2)(x))
    g = model.graph
    assert g.layers == model.layers and len(g.nodes) == 2
