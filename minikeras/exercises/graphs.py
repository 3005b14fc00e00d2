"""Checks for notebook 5, *Layers, nodes and models*: walking the layer graph, shared layers.

The test models are built inside the checks (a chain, a branch, a shared layer, a nested
model), so an answer that only works on the notebook's own model does not pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minikeras.engine import Input, Model
from minikeras.exercises.core import CheckFailure, CheckResult, call_answer, run_check
from minikeras.layers import Dense, Flatten, concatenate, subtract

__all__ = ["check_inbound_layer_names", "check_layers_in_order", "check_siamese_model"]


def _test_models() -> list[tuple[str, Any]]:
    models = []
    x = Input((4,), name="x")
    models.append(("a chain", Model(x, Dense(2, name="top")(Dense(3, name="bottom")(x)),
                                    name="chain")))
    x = Input((4,), name="x")
    left, right = Dense(3, name="left")(x), Dense(3, name="right")(x)
    out = Dense(1, name="out")(concatenate([left, right], name="join"))
    models.append(("two branches that join", Model(x, out, name="branches")))
    a, b = Input((4,), name="a"), Input((4,), name="b")
    shared = Dense(3, name="shared")
    out = Dense(1, name="score")(concatenate([shared(a), shared(b)], name="both"))
    models.append(("a layer shared by two inputs", Model([a, b], out, name="pair")))
    d = Input((4,), name="d")
    encoder = Model(d, Dense(2, name="code")(d), name="encoder")
    a, b = Input((4,), name="a"), Input((4,), name="b")
    out = Dense(1, name="same")(subtract([encoder(a), encoder(b)], name="difference"))
    models.append(("a nested model called twice", Model([a, b], out, name="siamese")))
    return models


def _names(items: Any, what: str) -> list[str]:
    if not isinstance(items, list | tuple):
        raise CheckFailure(f"{what} must return a list, got {type(items).__name__}",
                           hint="collect the layers (or their names) in a list")
    return [item if isinstance(item, str) else getattr(item, "name", repr(item))
            for item in items]


def _order_tests(layers_in_order: Callable) -> str:
    models = _test_models()
    for description, model in models:
        got = _names(call_answer(layers_in_order, model, what="layers_in_order"),
                     "layers_in_order")
        expected = [layer.name for layer in model.layers]
        on = f"{description} (model {model.name!r}, layers {sorted(expected)})"
        if sorted(set(got)) != sorted(expected):
            missing = sorted(set(expected) - set(got))
            extra = sorted(set(got) - set(expected))
            raise CheckFailure(
                f"on {on} you found the layers {got}; missing {missing}, unexpected {extra}",
                hint="start from each tensor of model.outputs: tensor._keras_history gives "
                     "(layer, node_index, tensor_index); that node's inbound_layers and "
                     "node_indices lead further back, down to the Input layers; a "
                     "shared layer has one node per call, so remember visited nodes, not layers")
        if len(got) != len(set(got)):
            repeated = sorted({n for n in got if got.count(n) > 1})
            raise CheckFailure(
                f"on {on} these layers appear more than once: {repeated}",
                hint="a shared layer is reached along several paths; remember which layers you "
                     "have already listed")
        position = {name: i for i, name in enumerate(got)}
        # the model's own nodes (one per call inside it), as Keras 2 keeps them by depth
        for node in (n for nodes in model.nodes_by_depth.values() for n in nodes):
            layer = node.outbound_layer
            for inbound in node.inbound_layers:
                if position[inbound.name] > position[layer.name]:
                    raise CheckFailure(
                        f"on {on} your order {got} puts {layer.name!r} before "
                        f"{inbound.name!r}, which feeds it",
                        hint="a layer can only run once all the layers feeding it have: "
                             "list a layer after everything it reads (reverse the order "
                             "of a walk that starts at the outputs)")
    return f"{len(models)} models: the same layers as model.layers, in an order that can run"


def check_layers_in_order(layers_in_order: Callable) -> CheckResult:
    """Check ``layers_in_order(model)``: the model's layers found by walking its nodes.

    The answer must return every layer of the model (or its name) exactly once, each after all
    the layers that feed it, as ``model.layers`` does; any such order passes.

    Args:
        layers_in_order: The student's function of a functional model.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("a walk over the nodes", _order_tests, layers_in_order)


def _inbound_tests(inbound_layer_names: Callable) -> str:
    count = 0
    for description, model in _test_models():
        for layer in model.layers:
            for index, node in enumerate(layer.inbound_nodes):
                expected = [inbound.name for inbound in node.inbound_layers]
                got = _names(call_answer(inbound_layer_names, layer, index,
                                         what="inbound_layer_names"), "inbound_layer_names")
                count += 1
                if got != expected:
                    raise CheckFailure(
                        f"call {index} of layer {layer.name!r} in {description}: expected "
                        f"{expected}, got {got}",
                        hint="each call of a layer is one Node in layer.inbound_nodes; that "
                             "node's inbound_layers are the layers whose outputs it read (an "
                             "Input layer's node, and a model's node 0, read none)")
    return f"{count} calls of layers in 4 models"


def check_inbound_layer_names(inbound_layer_names: Callable) -> CheckResult:
    """Check ``inbound_layer_names(layer, node_index)``: the layers feeding one call of a layer.

    Args:
        inbound_layer_names: The student's function; returns a list of layer names, in the
            order of the call's inputs.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("the inputs of a call", _inbound_tests, inbound_layer_names)


def _siamese_tests(make_siamese: Callable) -> str:
    d = Input((8, 8, 1), name="digit")
    encoder = Model(d, Dense(4, name="features")(Flatten(name="flat")(d)), name="encoder")
    model = call_answer(make_siamese, encoder, what="make_siamese",
                        hint="build the model from the encoder you are given, called once on "
                             "each of two Inputs; a copy of it would not share its weights")
    if not isinstance(model, Model):
        raise CheckFailure(f"make_siamese must return a Model, got {type(model).__name__}",
                           hint="finish with Model([input_a, input_b], output)")
    if len(model.inputs) != 2:
        raise CheckFailure(f"the model has {len(model.inputs)} input(s), expected 2",
                           hint="make two Input((8, 8, 1)) tensors and pass both to Model")
    shapes = [tuple(x.shape) for x in model.inputs]
    if shapes != [(None, 8, 8, 1)] * 2:
        raise CheckFailure(f"the inputs have shapes {shapes}, expected (None, 8, 8, 1) twice",
                           hint="Input(shape) takes the shape of one image, without the batch")
    if encoder not in model.layers:
        raise CheckFailure(
            "the encoder you were given is not a layer of your model",
            hint="call the given encoder itself on each input: encoder(input_a)")
    calls = len(encoder.inbound_nodes) - 1  # node 0 was made with the encoder itself
    if calls != 2:
        raise CheckFailure(
            f"the encoder was called {calls} time(s) on symbolic tensors, expected 2",
            hint="one call per input; every call adds a node and reuses the same weights")
    if tuple(model.output_shape) != (None, 1):
        raise CheckFailure(f"the model's output shape is {model.output_shape}, expected (None, 1)",
                           hint="end with Dense(1, activation='sigmoid'): one score per pair")
    rng = np.random.default_rng(8)
    out = call_answer(model.predict, [rng.random((3, 8, 8, 1)).astype(np.float32),
                                      rng.random((3, 8, 8, 1)).astype(np.float32)],
                      what="model.predict")
    if np.asarray(out).shape != (3, 1):
        raise CheckFailure(
            f"predicting 3 pairs gave shape {np.asarray(out).shape}, expected (3, 1)",
            hint="one score per pair of images")
    return "two inputs, one shared encoder (2 calls), one score per pair"


def check_siamese_model(make_siamese: Callable) -> CheckResult:
    """Check ``make_siamese(encoder)``: a two-input model sharing ``encoder`` between its inputs.

    Args:
        make_siamese: The student's function; given an encoder model of ``(8, 8, 1)`` images,
            it returns a ``Model`` of two such inputs with one output score per pair.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("a siamese model", _siamese_tests, make_siamese)
