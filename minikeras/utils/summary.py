"""``print_summary``: the Keras 2 table of a model's layers, shapes and parameter counts."""

from __future__ import annotations

from typing import Any

from minikeras.generic_utils import count_params


def _is_sequential_like(model: Any) -> bool:
    if type(model).__name__ == "Sequential":
        return True
    for nodes in model.nodes_by_depth.values():
        if len(nodes) > 1 or (len(nodes) == 1 and len(nodes[0].inbound_layers) > 1):
            return False
    return True


def print_summary(model: Any, line_length: int | None = None, positions: list | None = None,
                  print_fn: Any = None) -> None:
    """Print a summary of ``model``: one row per layer, then the parameter totals.

    Sequential-like models get a 65-wide table (``Layer (type)``, ``Output Shape``,
    ``Param #``); others a 100-wide one with a ``Connected to`` column listing
    ``name[node_index][tensor_index]`` for each input of each call.

    Args:
        model: A built model.
        line_length: Total width (65 or 100 by default).
        positions: Right edges of the columns, as fractions of the width or absolute.
        print_fn: Function called with each line (``print`` by default).

    Raises:
        ValueError: If the model is not built yet.
    """
    if print_fn is None:
        print_fn = print
    if not getattr(model, "built", True):
        raise ValueError(
            f"This model ({model.name}) has not yet been built. Build it first by calling "
            "build(input_shape), calling it on data, or giving its first layer an input_shape."
        )
    sequential_like = _is_sequential_like(model)
    if sequential_like:
        line_length = line_length or 65
        positions = positions or [0.45, 0.85, 1.0]
        to_display = ["Layer (type)", "Output Shape", "Param #"]
    else:
        line_length = line_length or 100
        positions = positions or [0.33, 0.55, 0.67, 1.0]
        to_display = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    relevant = {id(n) for nodes in model.nodes_by_depth.values() for n in nodes}

    def print_row(fields: list, positions: list) -> None:
        line = ""
        for i, field in enumerate(fields):
            if i > 0:
                line = line[:-1] + " "
            line += str(field)
            line = line[:positions[i]]
            line += " " * (positions[i] - len(line))
        print_fn(line)

    print_fn("_" * line_length)
    print_row(to_display, positions)
    print_fn("=" * line_length)

    def layer_row(layer: Any) -> list:
        try:
            output_shape = layer.output_shape
        except AttributeError:
            output_shape = "multiple"
        return [f"{layer.name} ({type(layer).__name__})", output_shape, layer.count_params()]

    layers = model.layers
    for i, layer in enumerate(layers):
        fields = layer_row(layer)
        if sequential_like:
            print_row(fields, positions)
        else:
            connections = []
            for node in layer._inbound_nodes:
                if relevant and id(node) not in relevant:
                    continue
                for inbound, n, t in zip(node.inbound_layers, node.node_indices,
                                         node.tensor_indices):
                    connections.append(f"{inbound.name}[{n}][{t}]")
            print_row(fields + [connections[0] if connections else ""], positions)
            for extra in connections[1:]:
                print_row(["", "", "", extra], positions)
        print_fn("=" * line_length if i == len(layers) - 1 else "_" * line_length)

    trainable = count_params(model.trainable_weights)
    non_trainable = count_params(model.non_trainable_weights)
    print_fn(f"Total params: {trainable + non_trainable:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {non_trainable:,}")
    print_fn("_" * line_length)
