"""`Container`: a graph of layers from input KerasTensors to output KerasTensors.

Construction walks the layer graph backwards from the outputs (Keras 2's
algorithm): output nodes get depth 0, each inbound node ``max(depth + 1,
previous)``; a layer sits at the depth of its deepest node. ``layers`` is
ordered by decreasing depth (ties by traversal order). Then every node is
checked to be computable from the inputs ("graph disconnected" otherwise).

Running a container on data follows an *execution plan* computed once at
construction: a flat list of :class:`PlanStep` (layer, input slots, output slots,
keyword arguments...) over a list of value slots, run by :func:`run_step`. Each
step calls ``layer.call`` directly, so inner layers get no new nodes and the
per-layer Python cost is a few list operations.
"""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any, NamedTuple

import numpy as np

from minikeras.autograd.tensor import Tensor
from minikeras.engine.base_layer import Layer, _apply_update, call_signature
from minikeras.engine.fusion import FusedStep, fused_plan, run_fused, runs_fused
from minikeras.engine.graph import LayerGraph
from minikeras.engine.input_layer import Input, InputLayer
from minikeras.engine.input_spec import InputSpec
from minikeras.engine.keras_tensor import KerasTensor, describe
from minikeras.engine.node import Node
from minikeras.engine.registry import deserialize_layer, register_layer_class
from minikeras.engine.saving import load_weights, save_weights
from minikeras.generic_utils import as_list, count_params, json_default, optional_module
from minikeras.utils.summary import print_summary
from minikeras.version import __version__

# Keras 2 code imports these from `keras.engine.topology`
__all__ = ["Container", "GraphError", "Input", "InputLayer", "InputSpec", "Layer", "Node",
           "get_source_inputs"]


class GraphError(ValueError, RuntimeError):
    """A malformed layer graph (disconnected, cyclic, duplicate names).

    It is both a ``ValueError`` (Keras >= 2.2) and a ``RuntimeError`` (Keras 2.0/2.1).
    """


class InputNotFromInputLayerError(GraphError, TypeError):
    """A model input that is not an ``Input`` tensor.

    Keras 2 only warned here and then failed on the disconnected graph
    (``RuntimeError``, ``ValueError`` from 2.2); minikeras fails at once, with an
    error that is also a ``TypeError`` (a wrong kind of tensor).
    """


def _unique(items: Any) -> list:
    seen: set[int] = set()
    out = []
    for w in items:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


def node_key(layer: Layer, node_index: int) -> str:
    """Key of a node in ``Container._network_nodes``: ``"<layer name>_ib-<index>"``."""
    return f"{layer.name}_ib-{node_index}"


class PlanStep(NamedTuple):
    """One layer call of a container's execution plan.

    Attributes:
        layer: The layer to call.
        input_slots: Where its inputs are in the list of values.
        output_slots: Where its outputs go.
        kwargs: The call's keyword arguments fixed when the graph was built.
        pass_training: Whether ``call`` takes the run's ``training`` argument.
        pass_mask: Whether ``call`` takes the inputs' mask.
        single_input: The layer takes one tensor (not a list).
        single_output: The layer returns one tensor (not a list).
    """

    layer: Layer
    input_slots: list[int]
    output_slots: list[int]
    kwargs: dict
    pass_training: bool
    pass_mask: bool
    single_input: bool
    single_output: bool


def run_step(step: PlanStep, values: list, masks: list | None, training: Any) -> None:
    """Run one step of a plan: inputs from ``values``, the layer's call, outputs back into them.

    With ``masks`` (one per slot, like ``values``) the inputs' masks go to the layer when its
    ``call`` takes them, and the outputs' masks (``compute_mask``) are written back too.
    """
    ins, layer = step.input_slots, step.layer
    x = values[ins[0]] if step.single_input else [values[i] for i in ins]
    kwargs = step.kwargs
    if step.pass_training and training is not None:
        kwargs = {**kwargs, "training": training}
    if masks is not None:
        m = masks[ins[0]] if step.single_input else [masks[i] for i in ins]
        if step.pass_mask:
            kwargs = {**kwargs, "mask": m}
    y = layer._call_keeping_losses(x, kwargs)
    outs = step.output_slots
    ys = [y] if step.single_output else y
    for slot, t in zip(outs, ys):
        values[slot] = t
    if masks is not None:
        out_mask = layer.compute_mask(x, m)
        out_masks = out_mask if isinstance(out_mask, list) else [out_mask] * len(outs)
        for slot, mk in zip(outs, out_masks):
            masks[slot] = mk


class Container(Layer):
    """A directed acyclic graph of layers; itself a layer (it can be nested).

    Args:
        inputs: Input KerasTensor(s) (made by ``Input``).
        outputs: Output KerasTensor(s) computed from them.
        name: Model name (``model``, ``model_1``, ... by default).

    Raises:
        TypeError: If an input or output is not a KerasTensor, or an input does not
            come from an ``InputLayer``.
        GraphError: If the graph is cyclic, disconnected, or layer names repeat.
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.supports_masking = False
        self.built = True
        self.inputs: list[KerasTensor] = []
        self.outputs: list[KerasTensor] = []
        self.layers: list[Layer] = []
        self.input_layers: list[Layer] = []
        self.output_layers: list[Layer] = []
        self.nodes_by_depth: dict[int, list[Node]] = {}
        self.layers_by_depth: dict[int, list[Layer]] = {}
        self._network_nodes: set[str] = set()
        self._plan: list[PlanStep] = []
        self._fused_plan: list = self._plan
        self._input_dtypes: list = []
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise TypeError(f"{type(self).__name__}: both inputs and outputs are required")
            self._init_graph(inputs, outputs)

    # ---- construction -----------------------------------------------------
    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        cls_name = type(self).__name__
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        for x in inputs:
            if not isinstance(x, KerasTensor) or x._keras_history is None:
                hint = ("" if isinstance(x, KerasTensor) else
                        ": a model is built on symbolic inputs, inputs = Input(shape=...), and "
                        "then called on data, model(x) or model.fit(x, y)")
                raise TypeError(
                    f"Input tensors to a {cls_name} must be KerasTensors (from Input). "
                    f"Found: {describe(x)}{hint}"
                )
        for x in outputs:
            if not isinstance(x, KerasTensor) or x._keras_history is None:
                raise TypeError(
                    f"Output tensors to a {cls_name} must be KerasTensors made by layers. "
                    f"Found: {describe(x)}"
                )
        if len({id(x) for x in inputs}) != len(inputs):
            raise ValueError(
                f"The list of inputs passed to the {cls_name} is redundant: each input should "
                f"appear once. Found: {inputs}"
            )
        if len({id(x) for x in outputs}) != len(outputs):
            warnings.warn(
                f"The list of outputs passed to the {cls_name} is redundant: each output "
                f"should appear once. Found: {outputs}",
                stacklevel=3,
            )
        self.inputs, self.outputs = inputs, outputs
        self.input_layers, self.input_layers_node_indices = [], []
        self.input_layers_tensor_indices = []
        for x in inputs:
            layer, node_index, tensor_index = x._keras_history
            if not isinstance(layer, InputLayer):
                raise InputNotFromInputLayerError(
                    f"Input tensors to a {cls_name} must come from `Input`; {x!r} was made by "
                    f"layer {layer.name!r} ({type(layer).__name__}), so the graph is "
                    "disconnected from the model's inputs"
                )
            self.input_layers.append(layer)
            self.input_layers_node_indices.append(node_index)
            self.input_layers_tensor_indices.append(tensor_index)
        self.output_layers, self.output_layers_node_indices = [], []
        self.output_layers_tensor_indices = []
        for x in outputs:
            layer, node_index, tensor_index = x._keras_history
            self.output_layers.append(layer)
            self.output_layers_node_indices.append(node_index)
            self.output_layers_tensor_indices.append(tensor_index)
        self.input_names = [layer.name for layer in self.input_layers]
        self.output_names = [layer.name for layer in self.output_layers]
        self._map_graph()
        self._make_own_node()
        self._build_plan()

    def _map_graph(self) -> None:
        network_nodes: set[str] = set()
        layer_indices: dict[Layer, int] = {}
        nodes_in_order: list[Node] = []  # finished nodes, inputs first
        finished: set[int] = set()

        # iterative depth-first walk (no recursion limit on deep models)
        for out in self.outputs:
            layer, node_index, _ = out._keras_history
            stack = [(layer, node_index, False)]
            in_progress: set[int] = set()
            while stack:
                layer, node_index, expanded = stack.pop()
                node = layer._inbound_nodes[node_index]
                if expanded:
                    in_progress.discard(id(node))
                    if id(node) not in finished:
                        finished.add(id(node))
                        nodes_in_order.append(node)
                    continue
                if id(node) in finished:
                    continue
                if id(node) in in_progress:
                    raise GraphError(
                        f"The tensor {node.output_tensors[0]!r} at layer {layer.name!r} is part "
                        "of a cycle."
                    )
                network_nodes.add(node_key(layer, node_index))
                layer_indices.setdefault(layer, len(layer_indices))
                in_progress.add(id(node))
                stack.append((layer, node_index, True))
                for i in reversed(range(len(node.inbound_layers))):
                    stack.append((node.inbound_layers[i], node.node_indices[i], False))

        nodes_depths: dict[Node, int] = {}
        layers_depths: dict[Layer, int] = {}
        for node in reversed(nodes_in_order):
            depth = nodes_depths.setdefault(node, 0)
            depth = max(depth, layers_depths.get(node.outbound_layer, 0))
            layers_depths[node.outbound_layer] = depth
            nodes_depths[node] = depth
            for inbound_layer, n in zip(node.inbound_layers, node.node_indices):
                inbound_node = inbound_layer._inbound_nodes[n]
                nodes_depths[inbound_node] = max(depth + 1, nodes_depths.get(inbound_node, 0))

        # model inputs that no output depends on still belong to the model
        for layer in self.input_layers:
            if layer not in layers_depths:
                node = layer._inbound_nodes[0]
                depth = max(layers_depths.values(), default=0) + 1
                layers_depths[layer] = depth
                nodes_depths[node] = depth
                layer_indices.setdefault(layer, len(layer_indices))
                network_nodes.add(node_key(layer, 0))

        nodes_by_depth: dict[int, list[Node]] = {}
        for node, depth in nodes_depths.items():
            nodes_by_depth.setdefault(depth, []).append(node)
        layers_by_depth: dict[int, list[Layer]] = {}
        for layer, depth in layers_depths.items():
            layers_by_depth.setdefault(depth, []).append(layer)
        layers: list[Layer] = []
        for depth in sorted(layers_by_depth, reverse=True):
            group = sorted(layers_by_depth[depth], key=lambda lay: layer_indices[lay])
            layers_by_depth[depth] = group
            layers.extend(group)

        # every node must be computable from the inputs
        computable = {id(x) for x in self.inputs}
        reached: list[str] = []
        for depth in sorted(nodes_by_depth, reverse=True):
            for node in nodes_by_depth[depth]:
                layer = node.outbound_layer
                for x in node.input_tensors:
                    if node.inbound_layers and id(x) not in computable:
                        raise GraphError(
                            f"Graph disconnected: cannot obtain value for tensor {x!r} at layer "
                            f"{layer.name!r}. The following previous layers were accessed "
                            f"without issue: {reached}"
                        )
                if not node.inbound_layers and id(node.output_tensors[0]) not in computable:
                    raise GraphError(
                        f"Graph disconnected: cannot obtain value for tensor "
                        f"{node.output_tensors[0]!r} at layer {layer.name!r}: it is an input "
                        f"that was not passed to the model's `inputs`. The following previous "
                        f"layers were accessed without issue: {reached}"
                    )
                computable.update(id(x) for x in node.output_tensors)
                reached.append(layer.name)

        names = [layer.name for layer in layers]
        for name in names:
            if names.count(name) != 1:
                raise GraphError(
                    f'The name "{name}" is used {names.count(name)} times in the model. '
                    "All layer names should be unique."
                )
        self.layers = layers
        self.layers_by_depth = layers_by_depth
        self.nodes_by_depth = nodes_by_depth
        self._network_nodes = network_nodes

    def _make_own_node(self) -> None:
        """Node 0 of a container links its own inputs to its outputs (Keras 2)."""
        if self._inbound_nodes and self._inbound_nodes[0].outbound_layer is self \
                and not self._inbound_nodes[0].inbound_layers:
            old = self._inbound_nodes.pop(0)
            del old
        Node(self, [], [], [], self.inputs, self.outputs,
             [x._keras_mask for x in self.inputs], [x._keras_mask for x in self.outputs],
             [x.shape for x in self.inputs], [x.shape for x in self.outputs])
        self._inbound_nodes.insert(0, self._inbound_nodes.pop())

    def _build_plan(self) -> None:
        slots: dict[int, int] = {}
        slot_tensors: list = []  # the symbolic tensor of each slot (for compute_mask)
        for x in self.inputs:
            if id(x) not in slots:
                slots[id(x)] = len(slots)
                slot_tensors.append(x)
        self._input_slots = [slots[id(x)] for x in self.inputs]
        plan = []
        uses_masks = False
        for depth in sorted(self.nodes_by_depth, reverse=True):
            for node in self.nodes_by_depth[depth]:
                if not node.inbound_layers:
                    continue  # an input layer's node: its value is fed
                layer = node.outbound_layer
                in_slots = [slots[id(x)] for x in node.input_tensors]
                out_slots = []
                for x in node.output_tensors:
                    if id(x) not in slots:
                        slots[id(x)] = len(slots)
                        slot_tensors.append(x)
                    out_slots.append(slots[id(x)])
                sig = call_signature(type(layer))
                kwargs = dict(node.arguments)
                pass_training = (sig.training or sig.var_kwargs) and "training" not in kwargs
                pass_mask = sig.mask and "mask" not in kwargs
                if any(m is not None for m in node.input_masks + node.output_masks):
                    uses_masks = True
                plan.append(PlanStep(layer, in_slots, out_slots, kwargs, pass_training,
                                     pass_mask, len(in_slots) == 1, len(out_slots) == 1))
        self._plan = plan
        self._n_slots = len(slots)
        self._slot_tensors = slot_tensors
        self._output_slots = [slots[id(x)] for x in self.outputs]
        # the same steps with chains like SeparableConv2D -> BatchNormalization -> ReLU as one
        # step, taken when nothing records (minikeras.engine.fusion)
        self._fused_plan = fused_plan(plan, self._output_slots)
        self._uses_masks = uses_masks
        self._input_dtypes = [np.dtype(x.dtype) for x in self.inputs]

    # ---- running ------------------------------------------------------------
    def _convert_inputs(self, inputs: Any) -> Any:
        if type(inputs) is list or type(inputs) is tuple:
            return [self._convert_input(x, i) for i, x in enumerate(inputs)]
        return self._convert_input(inputs, 0)

    def _convert_input(self, x: Any, index: int) -> Tensor:
        dtypes = self._input_dtypes
        return self._convert_one(x, dtypes[index] if index < len(dtypes) else self._np_dtype)

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        """Run the graph on concrete inputs, node by node.

        Args:
            inputs: A Tensor, or a list with one Tensor per model input.
            training: Passed to every layer whose ``call`` accepts ``training``
                (unless the node fixed it when the graph was built).
            mask: Optional input mask(s).

        Returns:
            A Tensor, or a list with one per model output.

        Raises:
            ValueError: On a wrong number of inputs.
        """
        inputs = as_list(inputs)
        n_in = len(self._input_slots)
        if len(inputs) != n_in:
            raise ValueError(
                f"Model {self.name} expects {n_in} input(s), but it received {len(inputs)} "
                f"input tensors"
            )
        masks = None
        if self._uses_masks or (mask is not None and any(m is not None for m in as_list(mask))):
            masks = [None] * self._n_slots
            for slot, m in zip(self._input_slots, as_list(mask) or [None] * n_in):
                masks[slot] = m
        values: list = [None] * self._n_slots
        for slot, x in zip(self._input_slots, inputs):
            values[slot] = x
        if self._fused_plan is not self._plan and runs_fused(masks):
            for step in self._fused_plan:
                if type(step) is FusedStep:
                    run_fused(step, values, training, run_step)
                else:
                    run_step(step, values, None, training)
        else:
            for step in self._plan:
                run_step(step, values, masks, training)
        outs = self._output_slots
        if len(outs) == 1:
            return values[outs[0]]
        return [values[s] for s in outs]

    def _symbolic_call(self, inputs: list, kwargs: dict, was_list: bool) -> Any:
        """Connect the model to new inputs (nested use), keeping Keras 2's loss bookkeeping.

        Keras 2 runs the inner graph on the new inputs, so the inner layers'
        input-dependent losses and updates (activity regularizers, BatchNorm
        moving averages) are added to the model under those inputs. No data
        flows here: placeholders stand for them. (Unconditional ones are not
        repeated: ``get_losses_for(None)`` already collects them from the layers.)
        """
        outputs = super()._symbolic_call(inputs, kwargs, was_list)
        losses, updates = [], []
        for layer in self.layers:
            for node_inputs in self._layer_node_inputs(layer):
                key = node_inputs[0] if len(node_inputs) == 1 else node_inputs
                losses += layer.get_losses_for(key)
                updates += layer.get_updates_for(key)
        arg_inputs = inputs if was_list else inputs[0]
        self.add_loss([KerasTensor((), self.dtype, name=f"{self.name}/inner_loss")
                       for _ in losses], inputs=arg_inputs)
        self.add_update([self._placeholder_update(u, "inner_update") for u in updates],
                        inputs=arg_inputs)
        return outputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape(s) for ``input_shape``, inferred layer by layer through the graph."""
        shapes_in = input_shape if isinstance(input_shape, list) else [input_shape]
        if len(shapes_in) != len(self._input_slots):
            raise ValueError(
                f"Model {self.name} expects {len(self._input_slots)} input shape(s), got "
                f"{input_shape}"
            )
        shapes_in = [tuple(s) for s in shapes_in]
        if shapes_in == [x.shape for x in self.inputs]:
            result = [x.shape for x in self.outputs]
        else:
            shapes: list = [None] * self._n_slots
            for slot, s in zip(self._input_slots, shapes_in):
                shapes[slot] = s
            for step in self._plan:
                ins, outs = step.input_slots, step.output_slots
                s = shapes[ins[0]] if len(ins) == 1 else [shapes[i] for i in ins]
                out = step.layer.compute_output_shape(s)
                out = out if isinstance(out, list) else [out]
                for slot, o in zip(outs, out):
                    shapes[slot] = tuple(o)
            result = [shapes[s] for s in self._output_slots]
        return result[0] if len(result) == 1 else result

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Output mask(s) of the graph for the given input masks (Keras 2).

        With no input mask (``None`` or all ``None``) these are the masks the
        output tensors got when the graph was built. Otherwise the masks are
        carried node by node through the layers' ``compute_mask``.

        Returns:
            The output's mask, or a list with one mask (or ``None``) per output
            for a model with several outputs (so ``[None, None]``, not ``None``).
        """
        if not self.outputs:
            return None  # an unbuilt Sequential: no graph yet
        masks_in = [None] * len(self.inputs) if mask is None else as_list(mask)
        if all(m is None for m in masks_in):
            out = [x._keras_mask for x in self.outputs]
        else:
            masks: list = [None] * self._n_slots
            for slot, m in zip(self._input_slots, masks_in):
                masks[slot] = m
            for layer, ins, outs, *_, single_in, single_out in self._plan:
                x = self._slot_tensors[ins[0]] if single_in else \
                    [self._slot_tensors[i] for i in ins]
                m = masks[ins[0]] if single_in else [masks[i] for i in ins]
                out_mask = layer.compute_mask(x, m)
                ms = out_mask if isinstance(out_mask, list) and not single_out else \
                    [out_mask] * len(outs)
                for slot, mk in zip(outs, ms):
                    masks[slot] = mk
            out = [masks[s] for s in self._output_slots]
        return out[0] if len(out) == 1 else out

    def _output_dtype(self, inputs: list, index: int) -> str:
        return self.outputs[index].dtype if index < len(self.outputs) else self.dtype

    # ---- layers and weights ---------------------------------------------------
    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by index in :attr:`layers`.

        Raises:
            ValueError: If neither is given, the index is out of range, or no layer has that name.
        """
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model {self.name} only "
                    f"has {len(self.layers)} layers."
                )
            return self.layers[index]
        if not name:
            raise ValueError("Provide either a layer name or layer index.")
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name} (model {self.name} has layers "
                         f"{[layer.name for layer in self.layers]})")

    @property
    def stateful(self) -> bool:
        """Whether any layer keeps state between batches (``stateful=True``; Keras 2)."""
        return any(getattr(layer, "stateful", False) for layer in self.layers)

    @property
    def state_updates(self) -> list:
        """The updates of stateful layers (their state, not trained statistics; Keras 2)."""
        return [u for layer in self.layers if getattr(layer, "stateful", False)
                for u in getattr(layer, "updates", [])]

    def reset_states(self) -> None:
        """Call ``reset_states()`` on every stateful layer (Keras 2)."""
        for layer in self.layers:
            if getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
                layer.reset_states()

    @property
    def uses_learning_phase(self) -> bool:
        """Whether any output depends on the learning phase (e.g. through ``Dropout``)."""
        return any(getattr(x, "_uses_learning_phase", False) for x in self.outputs or [])

    @property
    def trainable_weights(self) -> list:
        """Trainable weights of all layers, in layer order (each weight once)."""
        if not self.trainable:
            return []
        return _unique(w for layer in self.layers for w in layer.trainable_weights)

    @trainable_weights.setter
    def trainable_weights(self, weights: list) -> None:
        self._trainable_weights = list(weights)

    @property
    def non_trainable_weights(self) -> list:
        """Non-trainable weights of all layers (every weight when the model is frozen)."""
        weights = [w for layer in self.layers for w in layer.non_trainable_weights]
        if not self.trainable:
            weights = [w for layer in self.layers for w in layer.trainable_weights] + weights
        return _unique(weights)

    @non_trainable_weights.setter
    def non_trainable_weights(self, weights: list) -> None:
        self._non_trainable_weights = list(weights)

    @property
    def weights(self) -> list:
        """``trainable_weights + non_trainable_weights`` (each weight once)."""
        return _unique(self.trainable_weights + self.non_trainable_weights)

    @property
    def constraints(self) -> dict:
        """``{weight: constraint}`` over all layers."""
        out: dict = {}
        for layer in self.layers:
            out.update(layer.constraints)
        return out

    def get_weights(self) -> list[np.ndarray]:
        """All weights as numpy arrays, layer by layer (Keras's layout)."""
        return [w.data.copy() for layer in self.layers for w in layer.weights]

    def set_weights(self, weights: list) -> None:
        """Set all weights from :meth:`get_weights`-style arrays (checked before assigning).

        Raises:
            ValueError: If the count or a shape does not match, naming the layer.
        """
        params = [(layer, w) for layer in self.layers for w in layer.weights]
        if len(params) != len(weights):
            raise ValueError(
                f"You called set_weights(weights) on model {self.name!r} with a weight list of "
                f"length {len(weights)}, but the model was expecting {len(params)} weights"
            )
        arrays = [np.asarray(w) for w in weights]
        for (layer, p), w in zip(params, arrays):
            if p.shape != w.shape:
                raise ValueError(
                    f"Model {self.name!r}, layer {layer.name!r}: weight {p.name!r} has shape "
                    f"{p.shape}, not compatible with the provided weight shape {w.shape}"
                )
        for (_, p), w in zip(params, arrays):
            p.assign(w)

    def count_params(self) -> int:
        """Number of scalars in the model's weights (shared weights counted once)."""
        return count_params(self.weights)

    # ---- losses and updates -----------------------------------------------------
    def _layer_node_inputs(self, layer: Layer) -> list:
        out = []
        for index, node in enumerate(layer._inbound_nodes):
            if node_key(layer, index) in self._network_nodes:
                out.append(node.input_tensors)
        return out

    @property
    def losses(self) -> list:
        """Losses of the layers' nodes inside the model plus all unconditional ones."""
        losses: list = []
        for layer in self.layers:
            for inputs in self._layer_node_inputs(layer):
                key_inputs = inputs[0] if len(inputs) == 1 else inputs
                losses += layer.get_losses_for(key_inputs)
            losses += layer.get_losses_for(None)
            losses += list(getattr(layer, "_eager_losses", []))
        losses += Layer.get_losses_for(self, None)
        return _unique(losses)

    @property
    def updates(self) -> list:
        """Updates of the layers' nodes inside the model plus all unconditional ones."""
        updates: list = []
        for layer in self.layers:
            for inputs in self._layer_node_inputs(layer):
                key_inputs = inputs[0] if len(inputs) == 1 else inputs
                updates += layer.get_updates_for(key_inputs)
            updates += layer.get_updates_for(None)
        updates += Layer.get_updates_for(self, None)
        return _unique(updates)

    def get_losses_for(self, inputs: Any) -> list:
        """Losses for ``inputs``; with ``None``: every unconditional loss in the model, recursively.

        The training loop sums ``model.get_losses_for(None)`` (weight
        regularization, as fresh Tensors) with the per-call losses it collected.
        """
        if inputs is not None:
            return super().get_losses_for(inputs)
        losses = Layer.get_losses_for(self, None)
        for layer in self.layers:
            losses += layer.get_losses_for(None)
        return losses

    def get_updates_for(self, inputs: Any) -> list:
        """Updates for ``inputs``; with ``None``: every unconditional update, recursively."""
        if inputs is not None:
            return super().get_updates_for(inputs)
        updates = Layer.get_updates_for(self, None)
        for layer in self.layers:
            updates += layer.get_updates_for(None)
        return updates

    def apply_updates(self) -> None:
        """Apply every stored update of the model's layers once."""
        for update in self.updates:
            _apply_update(update)

    # ---- config -----------------------------------------------------------------
    def get_config(self) -> dict:
        """``{'name', 'layers', 'input_layers', 'output_layers'}`` with renumbered node indices."""
        conversion: dict[str, int] = {}
        for layer in self.layers:
            kept = 1 if isinstance(layer, Container) else 0
            for index in range(len(layer._inbound_nodes)):
                key = node_key(layer, index)
                if key in self._network_nodes:
                    conversion[key] = kept
                    kept += 1
        layer_configs = []
        for layer in self.layers:
            inbound_nodes = []
            for index, node in enumerate(layer._inbound_nodes):
                if node_key(layer, index) not in self._network_nodes or not node.inbound_layers:
                    continue
                kwargs = node.arguments
                if kwargs:
                    try:
                        json.dumps(kwargs)
                    except TypeError:
                        warnings.warn(
                            f"Layer {layer.name} was passed non-serializable keyword arguments "
                            f"{kwargs}; they will not be included in the model config.",
                            stacklevel=2,
                        )
                        kwargs = {}
                node_data = []
                for inbound, n, t in zip(node.inbound_layers, node.node_indices,
                                         node.tensor_indices):
                    new_n = conversion.get(node_key(inbound, n), 0)
                    node_data.append([inbound.name, new_n, t, dict(kwargs)])
                inbound_nodes.append(node_data)
            layer_configs.append({
                "name": layer.name,
                "class_name": type(layer).__name__,
                "config": layer.get_config(),
                "inbound_nodes": inbound_nodes,
            })

        def ends(layers: list, node_indices: list, tensor_indices: list) -> list:
            return [[layer.name, conversion[node_key(layer, n)], t]
                    for layer, n, t in zip(layers, node_indices, tensor_indices)]

        config = {
            "name": self.name,
            "layers": layer_configs,
            "input_layers": ends(self.input_layers, self.input_layers_node_indices,
                                 self.input_layers_tensor_indices),
            "output_layers": ends(self.output_layers, self.output_layers_node_indices,
                                  self.output_layers_tensor_indices),
        }
        return copy.deepcopy(config)

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Container:
        """Rebuild a model from :meth:`get_config` output (layers, then their nodes).

        Nodes whose inbound layer's node does not exist yet wait in a queue that
        is swept until every node is made, so layers shared at different depths
        rebuild correctly.

        Raises:
            ValueError: If the config is malformed.
        """
        if not isinstance(config, dict) or "layers" not in config:
            raise ValueError(f"{cls.__name__}.from_config: Improperly formatted model config "
                             f"(expected a dict with 'layers'): {str(config)[:200]}")
        created: dict[str, Layer] = {}
        queue: dict[str, list] = {}
        order: list[str] = []
        for layer_data in config["layers"]:
            try:
                name = layer_data["name"]
                nodes = layer_data.get("inbound_nodes", [])
            except (TypeError, KeyError):
                raise ValueError(f"Improperly formatted model config: layer entry "
                                 f"{str(layer_data)[:200]}") from None
            layer = deserialize_layer(layer_data, custom_objects=custom_objects)
            created[name] = layer
            order.append(name)
            queue[name] = list(nodes)

        def try_node(layer: Layer, node_data: list) -> bool:
            input_tensors = []
            kwargs: dict = {}
            if not isinstance(node_data, list) or not node_data:
                raise ValueError(f"Improperly formatted model config: node {node_data!r} of "
                                 f"layer {layer.name}")
            for input_data in node_data:
                if not isinstance(input_data, list) or len(input_data) not in (3, 4):
                    raise ValueError(f"Improperly formatted model config: node entry "
                                     f"{input_data!r} of layer {layer.name}")
                inbound_name, inbound_index, tensor_index = input_data[:3]
                if len(input_data) == 4:
                    kwargs = input_data[3] or {}
                if inbound_name not in created:
                    raise ValueError(f"Improperly formatted model config: layer {layer.name} "
                                     f"refers to unknown layer {inbound_name!r}")
                inbound = created[inbound_name]
                if len(inbound._inbound_nodes) <= inbound_index:
                    return False
                input_tensors.append(
                    inbound._inbound_nodes[inbound_index].output_tensors[tensor_index])
            layer(input_tensors[0] if len(input_tensors) == 1 else input_tensors, **kwargs)
            return True

        while any(queue.values()):
            progress = False
            for name in order:
                pending = queue[name]
                while pending:
                    if not try_node(created[name], pending[0]):
                        break
                    pending.pop(0)
                    progress = True
            if not progress:
                stuck = {k: v for k, v in queue.items() if v}
                raise ValueError(f"Improperly formatted model config: nodes can never be "
                                 f"created (unresolvable inbound nodes): {str(stuck)[:300]}")

        def tensors(entries: Any, what: str) -> list:
            out = []
            for entry in entries:
                try:
                    name, node_index, tensor_index = entry
                    layer = created[name]
                    out.append(layer._inbound_nodes[node_index].output_tensors[tensor_index])
                except (KeyError, IndexError, ValueError, TypeError):
                    raise ValueError(f"Improperly formatted model config: {what} entry "
                                     f"{entry!r}") from None
            return out

        inputs = tensors(config.get("input_layers", []), "input_layers")
        outputs = tensors(config.get("output_layers", []), "output_layers")
        return cls(inputs=inputs, outputs=outputs, name=config.get("name"))

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON: ``{'class_name', 'config', 'keras_version', 'backend'}``."""
        config = {"class_name": type(self).__name__, "config": self.get_config(),
                  "keras_version": f"minikeras-{__version__}", "backend": "minikeras"}
        return json.dumps(config, default=json_default, **kwargs)

    def to_yaml(self, **kwargs: Any) -> str:
        """The architecture as YAML (the :meth:`to_json` document); needs PyYAML.

        Written with ``yaml.safe_dump`` (plain lists, no Python tags), so
        ``models.model_from_yaml`` can read it back with ``yaml.safe_load``.

        Raises:
            ImportError: If PyYAML is not installed.
        """
        yaml = optional_module("yaml", f"Model {self.name}: to_yaml", "pyyaml")
        return yaml.safe_dump(json.loads(self.to_json()), **kwargs)

    # ---- saving, summary, drawing ---------------------------------------------------
    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        """Save all weights to an ``.npz`` file (layer by layer), atomically."""
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: str, by_name: bool = False) -> None:
        """Load weights saved by :meth:`save_weights` (all checked before any is set)."""
        load_weights(self, filepath, by_name=by_name)

    def summary(self, line_length: int | None = None, positions: list | None = None,
                print_fn: Any = None) -> None:
        """Print a table of the layers, their output shapes and parameter counts."""
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)

    def _repr_svg_(self) -> Any:
        return self.graph._repr_svg_()

    @property
    def graph(self) -> Any:
        """The model's own layer graph (its layers and nodes), drawable in notebooks."""
        return LayerGraph.of_model(self)

    def __deepcopy__(self, memo: dict) -> Container:
        """A new model with the same architecture and copied weights."""
        custom = {type(layer).__name__: type(layer) for layer in _all_layers(self)}
        custom[type(self).__name__] = type(self)
        new = type(self).from_config(self.get_config(), custom_objects=custom)
        new.set_weights(self.get_weights())
        new.trainable = self.trainable
        memo[id(self)] = new
        return new


def get_source_inputs(tensor: Any, layer: Layer | None = None,
                      node_index: int | None = None) -> list:
    """The input tensors (``Input`` placeholders) that ``tensor`` was computed from.

    Follows ``_keras_history`` back through the layer graph, as Keras 2's
    ``topology.get_source_inputs``.

    Args:
        tensor: A KerasTensor.
        layer: Start from this layer instead of the tensor's own (with ``node_index``).
        node_index: Start from this node of ``layer``.

    Returns:
        The list of source input tensors, each once, in order of discovery
        (``tensor`` itself, unchanged, when it has no history).
    """
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return tensor
    if layer is None or node_index:
        layer, node_index, _ = history
    if not layer._inbound_nodes:
        return [tensor]
    node = layer._inbound_nodes[node_index]
    if not node.inbound_layers:
        return list(node.input_tensors)  # an input layer's node: the placeholder itself
    sources: list = []
    for x, inbound, index in zip(node.input_tensors, node.inbound_layers, node.node_indices):
        for source in get_source_inputs(x, inbound, index):
            if all(source is not s for s in sources):
                sources.append(source)
    return sources


def _all_layers(model: Container) -> list:
    out = []
    for layer in model.layers:
        out.append(layer)
        if isinstance(layer, Container):
            out.extend(_all_layers(layer))
    return out


register_layer_class(Container)
