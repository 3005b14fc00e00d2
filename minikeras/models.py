"""Models and their (de)serialisation: ``Model``, ``Sequential``, JSON and files.

Example:
    >>> from minikeras.models import Sequential, load_model, save_model
    >>> save_model(model, "digits.npz")
    >>> same = load_model("digits.npz")
"""

from __future__ import annotations

from typing import Any

from minikeras.engine.input_layer import Input, InputLayer
from minikeras.engine.keras_tensor import is_keras_tensor
from minikeras.engine.model import Model
from minikeras.engine.saving import (
    load_model,
    load_weights,
    model_from_config,
    model_from_json,
    save_model,
    save_weights,
)
from minikeras.engine.sequential import Sequential
from minikeras.layers.core import unsafe_deserialization

__all__ = ["Model", "Sequential", "clone_model", "load_model", "load_weights",
           "model_from_config", "model_from_json", "model_from_yaml", "save_model",
           "save_weights"]


def model_from_yaml(yaml_string: str, custom_objects: dict | None = None) -> Any:
    """Make a model from :meth:`Model.to_yaml` output (needs PyYAML).

    Read with ``yaml.safe_load``: a document with Python tags (as Keras 2's
    ``yaml.dump`` wrote for tuples) is refused rather than run.

    Raises:
        ImportError: If PyYAML is not installed.
        ValueError: If the string is not valid YAML or not a model config.
    """
    try:
        import yaml  # optional dependency, as in Keras 2
    except ImportError:
        raise ImportError("model_from_yaml requires the PyYAML package "
                          "(pip install pyyaml)") from None
    try:
        config = yaml.safe_load(yaml_string)
    except yaml.YAMLError as e:
        raise ValueError(f"model_from_yaml: the string is not valid YAML ({e})") from None
    return model_from_config(config, custom_objects=custom_objects)


def _clone_layer(layer: Any) -> Any:
    # a fresh layer (new weights) from the same configuration, as Keras 2. A Lambda's
    # bytecode in that configuration was just made from a live function of this process,
    # so rebuilding it runs nothing foreign: the file-loading opt-in does not apply
    with unsafe_deserialization():
        return layer.__class__.from_config(layer.get_config())


def _clone_functional_model(model: Model, input_tensors: Any = None) -> Model:
    if not isinstance(model, Model):
        raise ValueError(f"clone_model: expected `model` to be a Model instance, got {model!r}")
    if isinstance(model, Sequential):
        raise ValueError("clone_model: expected `model` to be a functional Model instance, "
                         f"got a Sequential instance instead: {model!r}")
    if input_tensors is None:
        input_tensors = [Input(batch_shape=layer.batch_input_shape, dtype=layer.dtype,
                               name=layer.name) for layer in model.input_layers]
    else:
        input_tensors = list(input_tensors) if isinstance(input_tensors, list | tuple) \
            else [input_tensors]
        if len(input_tensors) != len(model.inputs):
            raise ValueError(f"clone_model: model {model.name} has {len(model.inputs)} "
                             f"input(s), got {len(input_tensors)} input tensor(s)")
        for x in input_tensors:
            if not is_keras_tensor(x):
                # Keras 2 wrapped a backend tensor in an Input; minikeras has no graph
                # tensors holding data, so inputs must be symbolic
                raise ValueError(f"clone_model: input_tensors must be KerasTensors (from "
                                 f"Input or a layer), got {type(x).__name__}")
    tensor_map = {id(x): y for x, y in zip(model.inputs, input_tensors)}
    layer_map: dict[int, Any] = {}
    for depth in sorted(model.nodes_by_depth, reverse=True):
        for node in model.nodes_by_depth[depth]:
            layer = node.outbound_layer
            if isinstance(layer, InputLayer):
                continue  # its tensor is the model input mapped above
            new_layer = layer_map.get(id(layer))
            if new_layer is None:
                new_layer = layer_map[id(layer)] = _clone_layer(layer)
            if not all(id(x) in tensor_map for x in node.input_tensors):
                continue
            computed = [tensor_map[id(x)] for x in node.input_tensors]
            outputs = new_layer(computed[0] if len(computed) == 1 else computed,
                                **dict(node.arguments or {}))
            outputs = outputs if isinstance(outputs, list) else [outputs]
            for x, y in zip(node.output_tensors, outputs):
                tensor_map[id(x)] = y
    missing = [x for x in model.outputs if id(x) not in tensor_map]
    if missing:
        raise ValueError(f"clone_model: could not compute output {missing[0]!r} of model "
                         f"{model.name}")
    return Model(input_tensors, [tensor_map[id(x)] for x in model.outputs], name=model.name)


def _clone_sequential_model(model: Sequential, input_tensors: Any = None) -> Sequential:
    if not isinstance(model, Sequential):
        raise ValueError("clone_model: expected `model` to be a Sequential instance, got "
                         f"{model!r}")
    layers = [_clone_layer(layer) for layer in model.layers]
    if input_tensors is None:
        return Sequential(layers=layers, name=model.name)
    tensors = list(input_tensors) if isinstance(input_tensors, list | tuple) \
        else [input_tensors]
    if len(tensors) != 1:
        raise ValueError("clone_model: to clone a Sequential model, pass a single tensor as "
                         f"input, got {len(tensors)}")
    x = tensors[0]
    if not is_keras_tensor(x):
        raise ValueError(f"clone_model: input_tensors must be a KerasTensor (from Input), got "
                         f"{type(x).__name__}")
    origin = x._keras_history[0]
    if not isinstance(origin, InputLayer):
        raise ValueError("clone_model: cannot clone a Sequential model on top of a tensor that "
                         f"comes from a layer other than an InputLayer ({origin.name!r}); use "
                         "the functional API instead")
    return Sequential(layers=[origin, *layers], name=model.name)


def clone_model(model: Model, input_tensors: Any = None) -> Model:
    """A copy of ``model`` with new layers (and new weights) built from their configs.

    As Keras 2: the copy computes the same function as ``model`` would with
    freshly initialised weights; it shares nothing with it (copy the weights
    with ``clone.set_weights(model.get_weights())``). A ``Sequential`` model
    gives a ``Sequential``; any other model a functional ``Model`` with the same
    name.

    Args:
        model: The model to clone.
        input_tensors: Optional KerasTensor(s) to build the clone on (for a
            ``Sequential``, one tensor from an ``Input``); new ``Input``
            placeholders like the model's by default.

    Returns:
        The clone.

    Raises:
        ValueError: If ``model`` is not a model, or the input tensors do not fit.
    """
    if isinstance(model, Sequential):
        return _clone_sequential_model(model, input_tensors=input_tensors)
    return _clone_functional_model(model, input_tensors=input_tensors)
