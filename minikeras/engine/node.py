"""`Node`: one call of a layer on symbolic inputs, the edge record of the layer graph.

Each time a layer is called on KerasTensors, a Node is appended to that
layer's ``inbound_nodes`` (and to the ``outbound_nodes`` of every layer that
produced one of the inputs). The lists ``inbound_layers``, ``node_indices``
and ``tensor_indices`` run in parallel with ``input_tensors``, with this
invariant::

    input_tensors[i] == inbound_layers[i].inbound_nodes[node_indices[i]]
                                     .output_tensors[tensor_indices[i]]

So a node knows exactly which earlier call produced each of its inputs; a
layer called twice (a shared layer) has two nodes and ``get_input_at(1)``
reads the second. An ``InputLayer``'s node has no inbound layers: its
placeholder is both its input and its output.
"""

from __future__ import annotations

from typing import Any


class Node:
    """A connection between layers: ``outbound_layer`` applied to ``input_tensors``.

    Args:
        outbound_layer: The layer that was called (it gains this node as an inbound node).
        inbound_layers: For each input tensor, the layer that produced it.
        node_indices: For each input tensor, the index of the producing node in its layer.
        tensor_indices: For each input tensor, its index among that node's outputs.
        input_tensors: The KerasTensors the layer was called on.
        output_tensors: The KerasTensors it returned.
        input_masks: Masks of the inputs (``None`` entries when unmasked).
        output_masks: Masks of the outputs.
        input_shapes: Shapes of the inputs.
        output_shapes: Shapes of the outputs.
        arguments: The keyword arguments given to the call (serialised in model configs).
    """

    __slots__ = ("outbound_layer", "inbound_layers", "node_indices", "tensor_indices",
                 "input_tensors", "output_tensors", "input_masks", "output_masks",
                 "input_shapes", "output_shapes", "arguments", "__weakref__")

    def __init__(self, outbound_layer: Any, inbound_layers: list, node_indices: list,
                 tensor_indices: list, input_tensors: list, output_tensors: list,
                 input_masks: list, output_masks: list, input_shapes: list,
                 output_shapes: list, arguments: dict | None = None) -> None:
        self.outbound_layer = outbound_layer
        self.inbound_layers = list(inbound_layers)
        self.node_indices = list(node_indices)
        self.tensor_indices = list(tensor_indices)
        self.input_tensors = list(input_tensors)
        self.output_tensors = list(output_tensors)
        self.input_masks = list(input_masks)
        self.output_masks = list(output_masks)
        self.input_shapes = list(input_shapes)
        self.output_shapes = list(output_shapes)
        self.arguments = dict(arguments or {})
        for layer in self.inbound_layers:
            if layer is not None:
                layer._outbound_nodes.append(self)
        outbound_layer._inbound_nodes.append(self)

    def get_config(self) -> dict:
        """The node by layer names: outbound layer, inbound layers, node and tensor indices."""
        return {
            "outbound_layer": self.outbound_layer.name,
            "inbound_layers": [layer.name for layer in self.inbound_layers],
            "node_indices": list(self.node_indices),
            "tensor_indices": list(self.tensor_indices),
        }

    def __repr__(self) -> str:
        srcs = ", ".join(f"{layer.name}[{n}][{t}]" for layer, n, t in
                         zip(self.inbound_layers, self.node_indices, self.tensor_indices))
        return f"<Node {self.outbound_layer.name}({srcs})>"
