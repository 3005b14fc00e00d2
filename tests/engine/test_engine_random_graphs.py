"""Random layer graphs (shared layers, merges, several inputs/outputs) against a reference."""

import json

import numpy as np
from engine_helpers import Add2, Lin
from hypothesis import given, settings
from hypothesis import strategies as st

from minikeras import Input, Model
from minikeras.models import load_model, model_from_json

WIDTH = 3
CUSTOM = {"Lin": Lin, "Add2": Add2}


@st.composite
def recipes(draw):
    n_inputs = draw(st.integers(1, 2))
    steps = []
    n_tensors, n_layers = n_inputs, 0
    for _ in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(["new", "shared", "add"] if n_layers else ["new", "add"]))
        if kind == "new":
            steps.append(("lin", n_layers, draw(st.integers(0, n_tensors - 1))))
            n_layers += 1
        elif kind == "shared":
            steps.append(("lin", draw(st.integers(0, n_layers - 1)),
                          draw(st.integers(0, n_tensors - 1))))
        else:
            a = draw(st.integers(0, n_tensors - 1))
            b = draw(st.integers(0, n_tensors - 1))
            steps.append(("add", a, b))
        n_tensors += 1
    last = n_tensors - 1
    extra = draw(st.lists(st.integers(n_inputs, last), max_size=1))
    outputs = [last] + [e for e in extra if e != last]
    return n_inputs, steps, outputs


def build(recipe):
    n_inputs, steps, outputs = recipe
    tensors = [Input((WIDTH,), name=f"in{i}") for i in range(n_inputs)]
    lins = {}
    for kind, a, b in steps:
        if kind == "lin":
            layer = lins.setdefault(a, Lin(WIDTH, name=f"lin{a}"))
            tensors.append(layer(tensors[b]))
        else:
            tensors.append(Add2()([tensors[a], tensors[b]]))
    model = Model(tensors[:n_inputs], [tensors[i] for i in outputs])
    return model, lins


def reference(recipe, lins, data):
    n_inputs, steps, outputs = recipe
    values = list(data)
    for kind, a, b in steps:
        if kind == "lin":
            layer = lins[a]
            values.append(values[b] @ layer.kernel.data + layer.bias.data)
        else:
            values.append(values[a] + values[b])
    return [values[i] for i in outputs]


def as_list(out):
    return [o.numpy() for o in out] if isinstance(out, list) else [out.numpy()]


@settings(deadline=None, max_examples=40)
@given(recipes(), st.integers(1, 3))
def test_random_graph_runs_and_round_trips(recipe, batch):
    model, lins = build(recipe)
    rng = np.random.default_rng(0)
    data = [rng.normal(size=(batch, WIDTH)).astype(np.float32) for _ in range(recipe[0])]
    out = as_list(model(data if len(data) > 1 else data[0]))
    for got, want in zip(out, reference(recipe, lins, data)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # every node is deeper than the nodes it feeds; a layer sits at its deepest node
    depth_of = {id(n): d for d, nodes in model.nodes_by_depth.items() for n in nodes}
    for depth, nodes in model.nodes_by_depth.items():
        for node in nodes:
            for src, index in zip(node.inbound_layers, node.node_indices):
                assert depth_of[id(src.inbound_nodes[index])] > depth
    for depth, layers in model.layers_by_depth.items():
        for layer in layers:
            assert depth == max(depth_of[id(n)] for n in layer.inbound_nodes
                                if id(n) in depth_of)
    restored = model_from_json(json.dumps(json.loads(model.to_json())), custom_objects=CUSTOM)
    restored.set_weights(model.get_weights())
    again = as_list(restored(data if len(data) > 1 else data[0]))
    for got, want in zip(again, out):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert json.loads(json.dumps(restored.get_config())) == \
        json.loads(json.dumps(model.get_config()))
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[-4] == f"Total params: {model.count_params():,}"


def test_model_save_method(tmp_path):
    model, _ = build((1, [("lin", 0, 0), ("lin", 0, 1)], [2]))
    model.save(tmp_path / "m.npz")
    restored = load_model(tmp_path / "m.npz", custom_objects=CUSTOM)
    data = np.ones((2, WIDTH), np.float32)
    np.testing.assert_allclose(restored(data).numpy(), model(data).numpy(), rtol=1e-6)
