"""Draw a model's layer graph with Graphviz: ``model_to_dot`` and ``plot_model``.

The drawing follows the Keras 2 node structure, the same one the engine runs:
every call of a layer on symbolic tensors made a :class:`~minikeras.engine.Node`
(``layer._inbound_nodes[i]``) that names the layers, node indices and tensor
indices it read from. A model owns the nodes whose keys
``f"{layer.name}_ib-{i}"`` are in ``model._network_nodes``; an edge is drawn
for each input of each such node.

Two views:

* one box per **layer** (Keras's ``plot_model``): a layer called several times
  (a shared layer) is one box with all its in- and out-edges, and its shapes
  read ``multiple`` when the calls saw different shapes;
* one box per **node** (``node_view=True``): each call is its own box, labelled
  with its node index and that call's shapes -- the inbound-node graph itself.

Nested models are one box, or with ``expand_nested=True`` a dashed
``cluster_`` subgraph whose inner input/output layers the outer edges reach.

Example:
    >>> from minikeras.utils import plot_model
    >>> plot_model(model, to_file="model.svg", show_shapes=True)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from minikeras.generic_utils import as_list
from minikeras.utils.render import DotGraph, Drawing, format_for_path, render

__all__ = ["model_to_dot", "plot_model"]


# ---- reading the node structure (duck-typed: works on any Keras-2-shaped object) ----------


def _inbound_nodes(layer: Any) -> list:
    nodes = getattr(layer, "_inbound_nodes", None)
    if nodes is None:
        nodes = getattr(layer, "inbound_nodes", None)
    return list(nodes or [])


def _is_graph_model(layer: Any) -> bool:
    """True for a model made of layers and nodes (functional or Sequential)."""
    return (
        hasattr(layer, "_network_nodes")
        and hasattr(layer, "layers")
        and hasattr(layer, "inputs")
        and hasattr(layer, "outputs")
        and getattr(layer, "_is_graph_network", True) is not False
    )


def _is_wrapper(layer: Any) -> bool:
    """True for a Wrapper layer (TimeDistributed, Bidirectional...) around another layer."""
    inner = getattr(layer, "layer", None)
    return inner is not None and hasattr(inner, "name") and any(
        c.__name__ == "Wrapper" for c in type(layer).__mro__
    )


def _node_links(node: Any) -> list[tuple[Any, int, int]]:
    """``(inbound_layer, node_index, tensor_index)`` for each input of ``node``, in order."""
    layers = as_list(getattr(node, "inbound_layers", None))
    node_indices = as_list(getattr(node, "node_indices", None))
    tensor_indices = as_list(getattr(node, "tensor_indices", None))
    if len(node_indices) != len(layers) or len(tensor_indices) != len(layers):
        # Fall back on the input tensors' history (the source of truth in Keras 2.3+).
        links = []
        for t in as_list(getattr(node, "input_tensors", None)):
            history = getattr(t, "_keras_history", None)
            if history is not None and history[0] is not None:
                links.append((history[0], history[1], history[2]))
        return links
    return [link for link in zip(layers, node_indices, tensor_indices) if link[0] is not None]


class _Network:
    """The layers and nodes of one model, in drawing order."""

    def __init__(self, model: Any) -> None:
        self.model = model
        layers = list(getattr(model, "layers", None) or [])
        keys = getattr(model, "_network_nodes", None)
        if keys is None:
            # A LayerGraph (``layer.graph``): nodes are given, their keys are derived.
            keys = set()
            for node in getattr(model, "nodes", None) or []:
                layer = node.outbound_layer
                keys.add(f"{layer.name}_ib-{_index_of(_inbound_nodes(layer), node)}")
                if all(x is not layer for x in layers):
                    layers.append(layer)
        self.keys = set(keys)
        # Sequential models may hide their InputLayer from `.layers`; the nodes still name it.
        seen = {id(x) for x in layers}
        hidden: list = []
        for layer in list(layers):
            for _, node in self.nodes_of(layer):
                for src, _, _ in _node_links(node):
                    if id(src) not in seen:
                        seen.add(id(src))
                        hidden.append(src)
        self.layers = hidden + layers

    def nodes_of(self, layer: Any) -> list[tuple[int, Any]]:
        """``(node_index, node)`` for the calls of ``layer`` that belong to this model."""
        return [
            (i, node) for i, node in enumerate(_inbound_nodes(layer))
            if f"{layer.name}_ib-{i}" in self.keys
        ]


def _index_of(items: Sequence, item: Any) -> int:
    for i, x in enumerate(items):
        if x is item:
            return i
    raise ValueError(f"model_to_dot: node of layer {item.outbound_layer.name!r} is not among its "
                     "inbound nodes")


# ---- labels ------------------------------------------------------------------------------


_RECORD_SPECIAL = re.compile(r'([{}|<>"])')


def _esc(text: Any) -> str:
    """Escape text for a Graphviz record label."""
    return _RECORD_SPECIAL.sub(r"\\\1", str(text).replace("\\", "\\\\"))


def _is_single_shape(shape: Any) -> bool:
    return isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape)


def _format_shapes(shapes: Any) -> str:
    """``(None, 3)`` for one shape, ``[(None, 3), (None, 4)]`` for several."""
    if shapes is None:
        return "?"
    if _is_single_shape(shapes):
        return str(tuple(shapes))
    items = [tuple(s) if isinstance(s, (list, tuple)) else s for s in as_list(shapes)]
    if len(items) == 1:
        return str(items[0])
    return "[" + ", ".join(str(s) for s in items) + "]"


def _node_shapes(node: Any, which: str) -> str:
    shapes = getattr(node, f"{which}_shapes", None)
    if shapes is None:
        tensors = as_list(getattr(node, f"{which}_tensors", None))
        if not tensors:
            return "?"
        shapes = [tuple(getattr(t, "shape", ())) for t in tensors]
    return _format_shapes(shapes)


def _merged(values: Iterable[str]) -> str:
    """One value if all calls agree, ``multiple`` if they differ (Keras 2)."""
    distinct = list(dict.fromkeys(values))
    if not distinct:
        return "?"
    return distinct[0] if len(distinct) == 1 else "multiple"


def _activation_name(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    for attr in ("name", "__name__"):
        name = getattr(act, attr, None)
        if isinstance(name, str):
            return name
    return str(act)


def _dtype_name(layer: Any) -> str:
    dtype = getattr(layer, "dtype", None)
    if dtype is None:
        return "?"
    return getattr(dtype, "name", None) or str(dtype)


def _has_weights(layer: Any) -> bool:
    """Whether trainability means anything for ``layer`` (an InputLayer or Flatten has no weights).

    Objects that do not list their weights count as having some.
    """
    weights = getattr(layer, "weights", None)
    return weights is None or len(weights) > 0


class _Options:
    def __init__(self, show_shapes: bool, show_dtype: bool, show_layer_names: bool,
                 rankdir: str, expand_nested: bool, show_layer_activations: bool,
                 show_trainable: bool, node_view: bool) -> None:
        self.show_shapes = show_shapes
        self.show_dtype = show_dtype
        self.show_layer_names = show_layer_names
        self.rankdir = rankdir
        self.expand_nested = expand_nested
        self.show_layer_activations = show_layer_activations
        self.show_trainable = show_trainable
        self.node_view = node_view


def _label(layer: Any, calls: list[tuple[int, Any]], opts: _Options,
           node_index: int | None = None) -> str:
    """A Keras-2 record label: ``name: Class`` with an input:/output: table of shapes.

    ``calls`` are the layer's nodes in the model; ``node_index`` is set in the
    node view, where the box stands for that one call.
    """
    name, cls = layer.name, type(layer).__name__
    if _is_wrapper(layer):
        name = f"{name}({layer.layer.name})"
        cls = f"{cls}({type(layer.layer).__name__})"
    head = [f"{name}: {cls}" if opts.show_layer_names else cls]
    if node_index is not None:
        head.append(f"node {node_index}")
    if opts.show_layer_activations:
        act = _activation_name(layer)
        if act is not None:
            head.append(f"activation: {act}")
    if opts.show_dtype:
        head.append(f"dtype: {_dtype_name(layer)}")
    if opts.show_trainable and _has_weights(layer):
        head.append(f"trainable: {bool(getattr(layer, 'trainable', True))}")
    label = "|".join(_esc(h) for h in head)
    if len(head) > 1:
        label = "{" + label + "}"
    if opts.show_shapes:
        inputs = _merged(_node_shapes(node, "input") for _, node in calls)
        outputs = _merged(_node_shapes(node, "output") for _, node in calls)
        label += f"|{{input:|output:}}|{{{{{_esc(inputs)}}}|{{{_esc(outputs)}}}}}"
    if opts.rankdir in ("LR", "RL"):
        # Records turn with rankdir; one more pair of braces keeps the boxes' Keras look.
        label = "{" + label + "}"
    return label


# ---- the drawing -------------------------------------------------------------------------


class _Drawer:
    """Adds the boxes and edges of one model (and its expanded nested models) to a graph."""

    def __init__(self, opts: _Options) -> None:
        self.opts = opts
        self.edges: set[tuple[str, str]] = set()

    def box_id(self, prefix: str, layer: Any, node_index: int) -> str:
        if self.opts.node_view:
            return f"{prefix}{layer.name}_ib-{node_index}"
        return prefix + layer.name

    def expanded(self, layer: Any) -> bool:
        return self.opts.expand_nested and _is_graph_model(layer)

    def source(self, prefix: str, layer: Any, node_index: int, tensor_index: int) -> str:
        """The box an edge leaves from, for output ``tensor_index`` of a layer's call."""
        while self.expanded(layer):
            history = as_list(layer.outputs)[tensor_index]._keras_history
            prefix = f"{prefix}{layer.name}/"
            layer, node_index, tensor_index = history[0], history[1], history[2]
        return self.box_id(prefix, layer, node_index)

    def sink(self, prefix: str, layer: Any, node_index: int, input_index: int) -> str:
        """The box an edge arrives at, for input ``input_index`` of a layer's call."""
        while self.expanded(layer):
            history = as_list(layer.inputs)[input_index]._keras_history
            prefix = f"{prefix}{layer.name}/"
            layer, node_index, input_index = history[0], history[1], 0
        return self.box_id(prefix, layer, node_index)

    def add_edge(self, graph: DotGraph, src: str, dst: str) -> None:
        if (src, dst) not in self.edges:  # a tensor used twice by one call: one arrow
            self.edges.add((src, dst))
            graph.edge(src, dst)

    def draw(self, graph: DotGraph, model: Any, prefix: str = "",
             layer_range: Sequence[str] | None = None) -> None:
        if not _is_graph_model(model) and not hasattr(model, "nodes"):
            # A subclassed model has no layer graph to follow: one box, as Keras draws it.
            graph.node(prefix + model.name, _esc(model.name))
            return
        net = _Network(model)
        layers = net.layers
        if layer_range is not None:
            lo, hi = _layer_index_bounds(layers, layer_range)
            layers = layers[lo:hi]
        drawn = {id(x) for x in layers}
        for layer in layers:
            calls = net.nodes_of(layer)
            if self.expanded(layer):
                with graph.subgraph(name=f"cluster_{prefix}{layer.name}") as cluster:
                    cluster.attr(label=_esc(layer.name), style="dashed", labeljust="l")
                    self.draw(cluster, layer, prefix=f"{prefix}{layer.name}/")
                continue
            extra = {}
            if (self.opts.show_trainable and _has_weights(layer)
                    and not getattr(layer, "trainable", True)):
                extra = {"style": "filled", "fillcolor": "lightgrey"}
            if self.opts.node_view:
                for i, node in calls or [(0, None)]:
                    one = [(i, node)] if node is not None else []
                    graph.node(self.box_id(prefix, layer, i), _label(layer, one, self.opts, i),
                               **extra)
            else:
                graph.node(self.box_id(prefix, layer, 0), _label(layer, calls, self.opts),
                           **extra)
        for layer in layers:
            for i, node in net.nodes_of(layer):
                for j, (src, src_node, src_tensor) in enumerate(_node_links(node)):
                    if id(src) not in drawn:  # outside layer_range
                        continue
                    self.add_edge(graph, self.source(prefix, src, src_node, src_tensor),
                                  self.sink(prefix, layer, i, j))


def _layer_index_bounds(layers: Sequence, layer_range: Sequence[str]) -> tuple[int, int]:
    """``[lo, hi)`` over ``layers`` from two names or regexes (Keras 2.6+ semantics).

    The range starts at the first layer whose name matches ``layer_range[0]``
    and ends at the last layer whose name matches ``layer_range[1]``, both
    included (``re.match``).
    """
    if isinstance(layer_range, str) or len(layer_range) != 2:
        raise ValueError(
            "model_to_dot: layer_range must be a list of two layer names (or regexes), "
            f"got {layer_range!r}"
        )
    if not all(isinstance(x, str) for x in layer_range):
        raise ValueError(
            f"model_to_dot: layer_range must contain strings only, got {layer_range!r}"
        )
    first = [i for i, x in enumerate(layers) if re.match(layer_range[0], x.name)]
    last = [i for i, x in enumerate(layers) if re.match(layer_range[1], x.name)]
    if not first or not last:
        missing = layer_range[0] if not first else layer_range[1]
        raise ValueError(
            f"model_to_dot: layer_range entry {missing!r} matches no layer name; the model's "
            f"layers are {[x.name for x in layers]}"
        )
    if min(first) > max(last):  # given in reverse order: take the span they enclose
        return min(last), max(first) + 1
    return min(first), max(last) + 1


def model_to_dot(
    model: Any,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 96,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    layer_range: Sequence[str] | None = None,
    node_view: bool = False,
) -> DotGraph:
    """Convert a model's layer graph to a Graphviz graph.

    Args:
        model: A functional or Sequential model, or a ``layer.graph``.
        show_shapes: Add an input:/output: table of shapes to each box
            (``multiple`` when the calls of a shared layer saw different shapes).
        show_dtype: Add each layer's dtype.
        show_layer_names: Label boxes ``name: ClassName`` (else ``ClassName``).
        rankdir: Graphviz ``rankdir``: ``"TB"`` top to bottom, ``"LR"`` left
            to right (also ``"BT"``, ``"RL"``).
        expand_nested: Draw nested models as dashed clusters of their layers
            instead of one box.
        dpi: Graphviz ``dpi`` (resolution of bitmap output).
        show_layer_activations: Add the activation of layers that have one.
        show_trainable: Add whether each layer that has weights is trainable;
            frozen layers are shaded grey.
        layer_range: Two layer names (or regexes, matched with ``re.match``):
            draw only the layers from the first match of the first to the last
            match of the second, both included, and the edges between them.
        node_view: One box per node (per call of a layer) instead of per layer;
            each box shows its node index and the shapes of that call.

    Returns:
        A ``graphviz.Digraph`` (subclass :class:`~minikeras.utils.render.DotGraph`
        that displays inline in Jupyter with or without the system Graphviz);
        ``.source`` is the DOT text.

    Raises:
        ValueError: On a model that is not built, a bad ``rankdir`` or
            ``layer_range``.
    """
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"model_to_dot: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    if getattr(model, "built", True) is False:
        raise ValueError(
            f"model_to_dot: model {getattr(model, 'name', model)!r} is not built yet, so it has "
            "no layer graph to draw; give its first layer an input_shape, call build(), or "
            "call it on data first"
        )
    if (not hasattr(model, "_network_nodes") and not hasattr(model, "nodes")
            and hasattr(model, "graph")):
        model = model.graph  # a plain layer: draw the graph around it
    opts = _Options(show_shapes, show_dtype, show_layer_names, rankdir, expand_nested,
                    show_layer_activations, show_trainable, node_view)
    graph = DotGraph(name=getattr(model, "name", None) or "model")
    graph.attr(rankdir=rankdir, dpi=str(dpi), fontname="Helvetica")
    graph.attr("node", shape="record", fontname="Helvetica", fontsize="11", margin="0.16,0.055")
    graph.attr("edge", arrowsize="0.7")
    _Drawer(opts).draw(graph, model, layer_range=layer_range)
    return graph


def plot_model(
    model: Any,
    to_file: str | os.PathLike | None = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 96,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    layer_range: Sequence[str] | None = None,
    node_view: bool = False,
) -> Drawing:
    """Draw a model's layer graph to a file and return a drawing Jupyter shows inline.

    The file's extension picks the format: ``.svg`` works after a pip-only
    install (Graphviz in WebAssembly); ``.png`` and ``.pdf`` need the Graphviz
    program (``apt-get install graphviz``). The file is written atomically.

    Args:
        model: A functional or Sequential model, or a ``layer.graph``.
        to_file: Where to write (``None``: write nothing, just return the drawing).
        show_shapes: Add an input:/output: table of shapes (see :func:`model_to_dot`).
        show_dtype: Add each layer's dtype.
        show_layer_names: Label boxes ``name: ClassName`` (else ``ClassName``).
        rankdir: ``"TB"`` (top to bottom) or ``"LR"`` (left to right), ``"BT"``, ``"RL"``.
        expand_nested: Draw nested models as clusters of their layers.
        dpi: Graphviz ``dpi`` (resolution of PNG output).
        show_layer_activations: Add the activation of layers that have one.
        show_trainable: Add whether each layer is trainable (frozen ones shaded).
        layer_range: Two layer names or regexes bounding the layers drawn.
        node_view: One box per node (per call of a layer) instead of per layer.

    Returns:
        A :class:`~minikeras.utils.render.Drawing` (``.graph``, ``.source``,
        ``.svg``, ``.path``).

    Raises:
        minikeras.utils.render.GraphvizNotFoundError: For PNG/PDF without the
            system Graphviz (nothing is written; the message says what to install).
    """
    dot = model_to_dot(
        model, show_shapes=show_shapes, show_dtype=show_dtype,
        show_layer_names=show_layer_names, rankdir=rankdir, expand_nested=expand_nested,
        dpi=dpi, show_layer_activations=show_layer_activations, show_trainable=show_trainable,
        layer_range=layer_range, node_view=node_view,
    )
    if to_file is None:
        return Drawing(dot)
    fmt = format_for_path(to_file)
    path = render(dot, to_file, fmt)
    return Drawing(dot, path, fmt)
