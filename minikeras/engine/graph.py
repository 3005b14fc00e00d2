"""`LayerGraph`: the layer graph a layer or model belongs to, as an object you can draw."""

from __future__ import annotations

from typing import Any

from minikeras.utils.render import render_svg
from minikeras.utils.vis_utils import model_to_dot


class LayerGraph:
    """The layers and nodes connected to a layer (or inside a model).

    In a notebook it displays itself as an SVG drawing (through
    ``minikeras.utils.vis_utils.model_to_dot``).

    Args:
        layers: The layers, in graph order.
        nodes: The nodes (calls) linking them.
        name: A name for the drawing.

    Attributes:
        layers: The layers.
        nodes: The nodes.
        name: The graph's name.
    """

    def __init__(self, layers: list, nodes: list, name: str = "graph") -> None:
        self.layers = list(layers)
        self.nodes = list(nodes)
        self.name = name

    @classmethod
    def around(cls, layer: Any) -> LayerGraph:
        """Every layer and node reachable from ``layer`` through inbound and outbound nodes."""
        layers: dict[int, Any] = {id(layer): layer}
        nodes: dict[int, Any] = {}
        todo = [layer]
        while todo:
            current = todo.pop()
            for node in list(current._inbound_nodes) + list(current._outbound_nodes):
                if id(node) in nodes:
                    continue
                nodes[id(node)] = node
                for other in [node.outbound_layer, *node.inbound_layers]:
                    if id(other) not in layers:
                        layers[id(other)] = other
                        todo.append(other)
        ordered_nodes = _topological(list(nodes.values()))
        order = []
        seen: set[int] = set()
        for node in ordered_nodes:
            for lay in [*node.inbound_layers, node.outbound_layer]:
                if id(lay) not in seen:
                    seen.add(id(lay))
                    order.append(lay)
        if id(layer) not in seen:
            order.append(layer)
        return cls(order, ordered_nodes, name=layer.name)

    @classmethod
    def of_model(cls, model: Any) -> LayerGraph:
        """The nodes that belong to ``model`` (its ``_network_nodes``) and its layers."""
        nodes = []
        for depth in sorted(model.nodes_by_depth, reverse=True):
            nodes.extend(model.nodes_by_depth[depth])
        return cls(model.layers, nodes, name=model.name)

    def _repr_svg_(self) -> Any:
        return render_svg(model_to_dot(self, show_shapes=True))

    def __repr__(self) -> str:
        return f"<LayerGraph {self.name!r}: {len(self.layers)} layers, {len(self.nodes)} nodes>"


def _topological(nodes: list) -> list:
    """Order nodes so that every node comes after the nodes that produced its inputs."""
    ids = {id(n) for n in nodes}
    done: set[int] = set()
    out = []
    for start in nodes:
        stack = [(start, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                done.add(id(node))
                out.append(node)
                continue
            stack.append((node, True))
            for lay, n in zip(node.inbound_layers, node.node_indices):
                parent = lay._inbound_nodes[n]
                if id(parent) in ids and id(parent) not in done:
                    stack.append((parent, False))
    return out
