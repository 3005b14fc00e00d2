"""Tiny stand-ins for the Keras 2 node structure (layers, nodes, symbolic tensors, models).

They carry exactly the attributes the drawing code reads (see the contracts), so the drawing
can be tested on its own, independent of the engine.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass

import pytest


class FakeTensor:
    def __init__(self, shape, history, dtype="float32"):
        self.shape = tuple(shape)
        self.dtype = dtype
        self._keras_history = history


class FakeNode:
    def __init__(self, outbound_layer, input_tensors, output_tensors):
        self.outbound_layer = outbound_layer
        self.input_tensors = list(input_tensors)
        self.output_tensors = list(output_tensors)
        self.inbound_layers = [t._keras_history[0] for t in input_tensors]
        self.node_indices = [t._keras_history[1] for t in input_tensors]
        self.tensor_indices = [t._keras_history[2] for t in input_tensors]
        self.input_shapes = [t.shape for t in input_tensors]
        self.output_shapes = [t.shape for t in output_tensors]
        self.arguments = {}


class FakeLayer:
    def __init__(self, name, units=None, n_out=1, activation=None, trainable=True,
                 dtype="float32"):
        self.name = name
        self.units = units
        self.n_out = n_out
        self.activation = activation
        self.trainable = trainable
        self.dtype = dtype
        self._inbound_nodes = []
        self._outbound_nodes = []

    def output_shapes(self, input_shapes):
        shape = input_shapes[0]
        if self.units is not None:
            shape = shape[:-1] + (self.units,)
        return [shape] * self.n_out

    def __call__(self, inputs):
        ins = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        index = len(self._inbound_nodes)
        outs = [FakeTensor(s, (self, index, k))
                for k, s in enumerate(self.output_shapes([t.shape for t in ins]))]
        node = FakeNode(self, ins, outs)
        self._inbound_nodes.append(node)
        for t in ins:
            t._keras_history[0]._outbound_nodes.append(node)
        return outs[0] if len(outs) == 1 else outs


class InputLayer(FakeLayer):
    pass


def Input(shape, name):  # noqa: N802 (mirrors keras.Input)
    layer = InputLayer(name)
    t = FakeTensor((None, *shape), (layer, 0, 0))
    node = FakeNode(layer, [], [t])
    node.input_tensors = [t]
    node.input_shapes = [t.shape]
    layer._inbound_nodes.append(node)
    return t


class Functional(FakeLayer):
    """A graph model: its layers in topological order and the keys of its nodes."""

    def __init__(self, inputs, outputs, name):
        super().__init__(name)
        self.inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self.outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        self.built = True
        layers, keys, done = [], set(), set()

        def visit(tensor):
            layer, node_index, _ = tensor._keras_history
            key = f"{layer.name}_ib-{node_index}"
            if key in done:
                return
            done.add(key)
            node = layer._inbound_nodes[node_index]
            for t in node.input_tensors:
                if t._keras_history[0] is not layer:
                    visit(t)
            keys.add(key)
            if all(x is not layer for x in layers):
                layers.append(layer)

        for t in self.outputs:
            visit(t)
        self.layers = layers
        self._network_nodes = keys

    def output_shapes(self, input_shapes):
        return [t.shape for t in self.outputs]


# ---- reading a drawn graph back -------------------------------------------------------------


def system_dot(test):
    """Mark a test that runs the system Graphviz `dot`; it skips itself where `dot` is absent."""
    test = pytest.mark.skipif(
        shutil.which("dot") is None,
        reason="needs the system Graphviz `dot` program (apt-get install graphviz); "
               ".ci/run installs it for its system_dot run",
    )(test)
    return pytest.mark.system_dot(test)


@dataclass
class Structure:
    nodes: dict  # node id -> label
    edges: set  # (tail id, head id)
    clusters: dict  # cluster name -> (label, set of node ids)
    attrs: dict  # graph attributes


def dot_structure(graph) -> Structure:
    """Parse a graph with Graphviz itself (its JSON output) into nodes, edges and clusters.

    This compares structure, never layout bytes.
    """
    from minikeras.utils.render import render_bytes

    data = json.loads(render_bytes(graph, "json"))
    objects = data.get("objects", [])
    nodes = {o["name"]: o.get("label", "") for o in objects if "nodes" not in o}
    edges = {(objects[e["tail"]]["name"], objects[e["head"]]["name"])
             for e in data.get("edges", [])}
    clusters = {o["name"]: (o.get("label", ""), {objects[i]["name"] for i in o["nodes"]})
                for o in objects if "nodes" in o}
    attrs = {k: v for k, v in data.items() if isinstance(v, str)}
    return Structure(nodes, edges, clusters, attrs)
