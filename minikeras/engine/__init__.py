"""The Keras engine: symbolic tensors, layers, nodes, and models built from them.

Public names: :class:`Layer`, :class:`Node`, :class:`InputSpec`, :class:`InputLayer`,
:func:`Input`, :class:`Container`, :class:`Model`, :class:`Sequential`,
:class:`KerasTensor`, :func:`is_keras_tensor`, :func:`collect_call_losses`,
:func:`get_source_inputs`.
"""

from minikeras.engine.base_layer import Layer, collect_call_losses, reset_names
from minikeras.engine.input_layer import Input, InputLayer
from minikeras.engine.input_spec import InputSpec
from minikeras.engine.keras_tensor import KerasTensor, is_keras_tensor
from minikeras.engine.node import Node
from minikeras.engine.topology import Container, GraphError, get_source_inputs

from minikeras.engine.model import Model  # isort: skip  (needs Container)
from minikeras.engine.sequential import Sequential  # isort: skip  (needs Model)

__all__ = [
    "Container", "GraphError", "Input", "InputLayer", "InputSpec", "KerasTensor", "Layer",
    "Model", "Node", "Sequential", "collect_call_losses", "get_source_inputs",
    "is_keras_tensor", "reset_names",
]
