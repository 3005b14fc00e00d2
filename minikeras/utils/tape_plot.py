"""Draw the autograd tape: tensors and the ops between them, in execution order.

Like micrograd's ``draw_dot``, but for a :class:`~minikeras.autograd.GradientTape`:
each recorded op is an oval numbered by its place on the tape (``[3] MatMul``),
each tensor a box with its name (or ``%uid``), shape and dtype, and optionally
a summary of its value and of its gradient. Leaves are shaded: trainable
variables blue, other leaf tensors yellow; constants fed straight to an op are
small plain text.

A tensor does not remember the ops that made it (the tape does), so drawing a
tensor needs its tape: ``plot_tape(loss, tape=tape)`` draws only the ops that
``loss`` depends on.

The drawing is made to be read in a notebook column (about 1,000 px): it runs
top to bottom, each weight sits beside the op that reads it, the ops of each
layer call are boxed and named after the layer (the engine notes them on
``tape.layer_calls``), and a tape longer than ``max_ops`` folds its middle
into one box. One training step of a small MLP, values and gradients shown, is
about 760 px wide (it was 3,500 px left to right).

Example:
    >>> with GradientTape(persistent=True) as tape:
    ...     loss = ((x @ w) ** 2).mean()
    >>> plot_tape(tape, show_values=True, show_grads=True)   # inline in Jupyter
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from minikeras.autograd.tape import set_svg_drawer
from minikeras.autograd.tensor import Tensor, Variable
from minikeras.utils.render import DotGraph, Drawing, format_for_path, render, render_svg

__all__ = ["plot_tape", "tape_to_dot", "tape_gradients"]


def _records_of(tape: Any) -> list:
    records = getattr(tape, "records", None)
    if records is None:
        raise TypeError(
            f"plot_tape: expected a minikeras GradientTape (or a Tensor with tape=...), got "
            f"{type(tape).__name__}"
        )
    return list(records)


def _ancestors(records: list, tensor: Any) -> list:
    """The records ``tensor`` depends on, in execution order."""
    needed = {id(tensor)}
    kept = []
    for record in reversed(records):
        if id(record.output) in needed:
            kept.append(record)
            needed.update(id(x) for x in record.inputs)
    if not kept:
        raise ValueError(
            f"plot_tape: no op on this tape produced the given tensor (shape {tensor.shape}); "
            "was it computed inside `with tape:` from a watched tensor or trainable Variable?"
        )
    kept.reverse()
    return kept


def tape_gradients(tape: Any, target: Any = None) -> dict[int, np.ndarray]:
    """Gradients of ``target`` with respect to every tensor on the tape, without using it up.

    The reverse sweep is run on the side: the tape keeps its saved arrays and
    can still be used for ``gradient`` afterwards, persistent or not.

    Args:
        tape: A :class:`~minikeras.autograd.GradientTape` with its records.
        target: The tensor to differentiate (default: the output of the last
            recorded op); a non-scalar target counts as the sum of its elements.

    Returns:
        A dict from tensor ``uid`` to gradient array.

    Raises:
        ValueError: If the tape's saved arrays were already freed by
            ``gradient()`` on a non-persistent tape.
    """
    records = _records_of(tape)
    if not records:
        return {}
    if target is None:
        target = records[-1].output
    for i, record in enumerate(records):
        if record.ctx.released:
            raise ValueError(
                f"plot_tape: op [{i}] {record.op_name} has freed its saved arrays (a "
                "non-persistent tape frees them in gradient()); draw gradients before calling "
                "gradient(), or record with GradientTape(persistent=True)"
            )
    # The tape's own sweep, paused after each record and leaving the tape intact; the dict of
    # the last step holds every gradient.
    grads = {target.uid: np.ones(target.shape, dtype=target.dtype)}
    for step in tape.step_backward(target):
        grads = step.grads
    return dict(grads)


def _summary(array: np.ndarray, stacked: bool = False) -> list[str]:
    """A short description of an array's contents: the values if few, else statistics.

    Returns one line, or with ``stacked`` two (mean/std, then min/max): a narrow box
    keeps a top-to-bottom drawing within a notebook column.
    """
    array = np.asarray(array)
    if array.size == 0:
        return ["empty"]
    if array.size <= 4:
        flat = ", ".join(f"{v:.4g}" if np.issubdtype(array.dtype, np.floating) else str(v)
                         for v in array.reshape(-1).tolist())
        return [f"[{flat}]" if array.ndim else flat]
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        return [f"{array.size} values"]
    a = array.astype(np.float64)
    first, second = f"mean {a.mean():.3g} std {a.std():.3g}", f"min {a.min():.3g} max {a.max():.3g}"
    return [first, "  " + second] if stacked else [f"{first} {second}"]


def _esc(text: Any) -> str:
    out = str(text).replace("\\", "\\\\")
    for ch in "{}|<>\"":
        out = out.replace(ch, "\\" + ch)
    return out


def _esc_plain(text: Any) -> str:
    """Escape text for a plain (non-record) label, where only backslashes and quotes matter."""
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def _layer_of(tape: Any, records: list) -> dict[int, str]:
    """The layer call each record was made in, by ``id(record)`` (innermost call wins).

    The layer engine notes ``(layer_name, start, stop)`` spans on ``tape.layer_calls``; a
    layer called twice on one tape gets ``name (call 2)`` for its second span.
    """
    spans = list(getattr(tape, "layer_calls", ()) or ())
    if not spans:
        return {}
    counts: dict[str, int] = {}
    labelled = []
    for name, start, stop in spans:  # spans are noted when a call ends: order them by start
        labelled.append((start, stop, name))
    labelled.sort(key=lambda span: (span[0], -span[1]))
    titles = []
    for start, stop, name in labelled:
        counts[name] = counts.get(name, 0) + 1
        titles.append((start, stop, name if counts[name] == 1 else f"{name} (call {counts[name]})"))
    all_records = _records_of(tape)
    owner: dict[int, tuple[int, str]] = {}
    for start, stop, title in titles:
        for record in all_records[start:stop]:
            size = stop - start
            known = owner.get(id(record))
            if known is None or size <= known[0]:
                owner[id(record)] = (size, title)
    return {id(r): owner[id(r)][1] for r in records if id(r) in owner}


def tape_to_dot(
    tape: Any,
    show_values: bool = False,
    show_grads: bool = False,
    target: Any = None,
    grads: Mapping[int, Any] | None = None,
    rankdir: str = "TB",
    max_ops: int | None = 60,
    group_layers: bool = True,
) -> DotGraph:
    """Convert a tape's records to a Graphviz graph of tensors and ops.

    The default layout reads top to bottom and keeps boxes narrow, so one
    training step of a small model fits a notebook column (about 1,000 px).

    Args:
        tape: A :class:`~minikeras.autograd.GradientTape`.
        show_values: Add a summary of each tensor's value (the values
            themselves for up to 4 elements, else mean/std/range).
        show_grads: Add a summary of each tensor's gradient of ``target``.
        target: What ``show_grads`` differentiates (default: the last op's
            output). When given, only the ops ``target`` depends on are drawn.
        grads: Gradients to show instead of computing them: a mapping from
            tensor ``uid`` to array (as ``tape.step_backward`` yields).
        rankdir: ``"TB"`` (top to bottom, default) or ``"LR"`` (left to right).
        max_ops: Fold a longer tape: its first and last ``max_ops // 2`` ops
            are drawn and the ops between become one box that names how many
            ops of which kinds it holds. ``None`` draws every op.
        group_layers: Draw the ops each layer call made inside a dashed box
            named after the layer (ops recorded outside layers, such as a
            loss, stay outside).

    Returns:
        A ``graphviz.Digraph`` (:class:`~minikeras.utils.render.DotGraph`)
        that displays inline in Jupyter.

    Raises:
        ValueError: If ``target`` was not produced on this tape, ``show_grads``
            is asked of a tape whose arrays were freed, or ``max_ops`` is less than 2.
    """
    if max_ops is not None and max_ops < 2:
        raise ValueError(f"plot_tape: max_ops must be at least 2 (or None), got {max_ops}")
    records = _records_of(tape)
    total = len(records)
    if target is not None:
        records = _ancestors(records, target)
    if show_grads and grads is None:
        grads = tape_gradients(tape, target)
    layer_of = _layer_of(tape, records) if group_layers else {}
    # Folding: keep the head and the tail, one box for the middle.
    shown = list(enumerate(records))
    hidden: list = []
    if max_ops is not None and len(records) > max_ops:
        head = max_ops // 2
        tail = max_ops - head
        hidden = [r for _, r in shown[head:len(shown) - tail]]
        shown = shown[:head] + shown[len(shown) - tail:]
    stacked = rankdir in ("TB", "BT")

    graph = DotGraph(name="tape")
    title = f"GradientTape: {total} ops"
    if len(records) != total:
        title += f", {len(records)} drawn (those the target depends on)"
    if hidden:
        title += f", {len(hidden)} folded"
    graph.attr(rankdir=rankdir, label=_esc(title), labelloc="t", fontname="Helvetica",
               nodesep="0.2", ranksep="0.3")
    # Monospace: Graphviz sizes boxes from its own Courier metrics, and every viewer's
    # monospace font has the same advance width, so numbers never overflow their boxes.
    graph.attr("node", fontname="Courier", fontsize="10", margin="0.08,0.04", height="0.3")
    graph.attr("edge", arrowsize="0.6")

    produced = {id(r.output) for r in records}
    drawn: set[int] = set()
    clusters: dict[str, Any] = {}

    def where(record: Any) -> Any:
        """The (sub)graph a record's op and output go into: its layer's cluster, or the graph."""
        name = layer_of.get(id(record))
        if name is None:
            return graph
        if name not in clusters:
            cluster = DotGraph(name=f"cluster_{len(clusters)}")
            cluster.attr(label=_esc(name), style="rounded,dashed", color="gray50",
                         fontname="Helvetica", fontsize="10", labeljust="l")
            clusters[name] = cluster
        return clusters[name]

    def tensor_node(t: Any, into: Any = graph, plain_box: bool = False,
                    layer: str | None = None) -> str:
        node_id = f"t{t.uid}"
        if id(t) in drawn:
            return node_id
        drawn.add(id(t))
        title = t.name or f"%{t.uid}"
        if layer is not None:  # in the layer's box, which names the layer: "kernel" will do
            scope = layer.split(" (call ")[0] + "/"
            title = title.removeprefix(scope) or title
        if isinstance(t, Variable):
            title = f"Variable {title}"
        rows = [f"{title}", f"{tuple(t.shape)} {t.dtype}"]
        if show_values:
            lines = _summary(t.data, stacked=True)
            rows += [f"value {lines[0]}", *lines[1:]]
        if grads is not None:
            g = grads.get(t.uid)
            lines = ["none"] if g is None else _summary(g, stacked=True)
            rows += [f"grad {lines[0]}", *lines[1:]]
        if plain_box:
            # a weight on its op's row: Graphviz draws no edge between two nodes of one rank
            # when either is a record, so this one is a box with a line per row
            attrs = {"shape": "box", "label": "\\n".join(_esc_plain(r) for r in rows)}
        else:
            label = "|".join(_esc(r) for r in rows)
            attrs = {"shape": "record", "label": "{" + label + "}" if stacked else label}
        if id(t) not in produced:  # a leaf: where the computation starts
            colour = "lightblue" if isinstance(t, Variable) and t.trainable else "lightyellow"
            attrs.update(style="filled", fillcolor=colour)
        into.node(node_id, **attrs)
        return node_id

    const_count = 0
    hidden_outputs = {id(r.output) for r in hidden}
    fold_id = "fold"
    for i, record in shown:
        op_id = f"op{i}"
        box = where(record)
        box.node(op_id, _esc(f"[{i}] {record.op_name}"), shape="ellipse", style="filled",
                 fillcolor="white")
        # Weights and constants first drawn here sit beside their op, so the chain of ops
        # stays narrow: two on the op's row (left and right), any more on its output's row.
        side: list[str] = []
        lower: list[str] = []
        for position, x in enumerate(record.inputs):
            leaf_here = stacked and (not isinstance(x, Tensor)
                                     or isinstance(x, Variable) and id(x) not in drawn)
            if isinstance(x, Tensor):
                if id(x) in hidden_outputs:
                    src = fold_id
                elif isinstance(x, Variable):  # a layer's variables sit in its box
                    src = tensor_node(x, box, plain_box=leaf_here,
                                      layer=layer_of.get(id(record)))
                else:
                    src = tensor_node(x)
            else:  # a Python scalar or numpy array fed straight to the op
                src = f"c{const_count}"
                const_count += 1
                arr = np.asarray(x)
                text = _summary(arr)[0] if arr.size <= 4 else f"const {tuple(arr.shape)}"
                box.node(src, _esc(text), shape="plaintext")
            if leaf_here:
                (side if len(side) < 2 else lower).append(src)
            # Number the inputs of ops where the order matters to the reader (a - b, a @ b).
            edge_attrs = ({"headlabel": str(position), "labelfontsize": "8"}
                          if len(record.inputs) > 1 else {})
            if len(side) == 2 and side[1] == src:
                # the second goes to the op's right: a flat edge runs left to right, so it is
                # drawn reversed (rather than arching over the first)
                graph.edge(op_id, src, dir="back", **({"taillabel": str(position),
                                                        "labelfontsize": "8"}
                                                       if edge_attrs else {}))
                continue
            if src in lower:  # a row below the op: its edge must not push the op down
                edge_attrs["constraint"] = "false"
            graph.edge(src, op_id, **edge_attrs)
        out_id = tensor_node(record.output, box)
        graph.edge(op_id, out_id)
        for first, others in ((op_id, side), (out_id, lower)):
            if others:
                with box.subgraph() as row:
                    row.attr(rank="same")
                    for node_id in (first, *others):
                        row.node(node_id)
    if hidden:
        kinds: dict[str, int] = {}
        for record in hidden:
            kinds[record.op_name] = kinds.get(record.op_name, 0) + 1
        first = max_ops // 2  # the folded ops start after the head
        what = ", ".join(f"{name} x{n}" for name, n in kinds.items())
        text = f"... [{first}]-[{first + len(hidden) - 1}]: {len(hidden)} ops folded ..."
        label = _esc(text) + "|" + _esc(what)
        graph.node(fold_id, "{" + label + "}" if stacked else label, shape="record",
                   style="dashed")
        # edges into the fold: drawn tensors the folded ops read
        fed: set[int] = set()
        for record in hidden:
            for x in record.inputs:
                if (isinstance(x, Tensor) and id(x) not in hidden_outputs and id(x) in drawn
                        and id(x) not in fed):
                    fed.add(id(x))
                    graph.edge(f"t{x.uid}", fold_id, style="dashed")
    for cluster in clusters.values():
        graph.subgraph(cluster)
    return graph


def plot_tape(
    tape_or_tensor: Any,
    tape: Any = None,
    show_values: bool = False,
    show_grads: bool = False,
    to_file: str | os.PathLike | None = None,
    target: Any = None,
    grads: Mapping[int, Any] | None = None,
    rankdir: str = "TB",
    max_ops: int | None = 60,
    group_layers: bool = True,
) -> Drawing:
    """Draw the operations a tape recorded; shows inline in Jupyter.

    Args:
        tape_or_tensor: A :class:`~minikeras.autograd.GradientTape`, or a
            tensor computed on ``tape`` (then only the ops it depends on are
            drawn, and it is the target of ``show_grads``).
        tape: The tape, when ``tape_or_tensor`` is a tensor.
        show_values: Add a summary of each tensor's value.
        show_grads: Add each tensor's gradient (computed on the side; the tape
            is not used up). Needs the tape's saved arrays: draw before
            ``gradient()`` or use a persistent tape.
        to_file: Also write the drawing here (``.svg`` and ``.png`` always
            work; ``.pdf`` needs the system Graphviz).
        target: The tensor ``show_grads`` differentiates (default: the last
            op's output, or ``tape_or_tensor`` when it is a tensor).
        grads: Precomputed gradients by tensor ``uid`` to show instead.
        rankdir: ``"TB"`` (top to bottom, default) or ``"LR"``.
        max_ops: Fold a longer tape (the ops in the middle become one box);
            ``None`` draws every op.
        group_layers: Box the ops of each layer call, named after the layer.

    Returns:
        A :class:`~minikeras.utils.render.Drawing`.

    Raises:
        TypeError: If a tensor is given without its tape.
        ValueError: If the tape recorded nothing (a non-persistent tape forgets
            its records in ``gradient()``), or the tensor is not on it.
    """
    if isinstance(tape_or_tensor, Tensor):
        if tape is None:
            raise TypeError(
                "plot_tape: a Tensor does not remember the ops that made it; pass its tape too: "
                "plot_tape(tensor, tape=tape)"
            )
        target = tape_or_tensor if target is None else target
    else:
        tape = tape_or_tensor
    if not _records_of(tape):
        raise ValueError(
            "plot_tape: the tape holds no recorded ops. Ops are recorded inside `with tape:` "
            "when an input is watched (tape.watch(x)) or is a trainable Variable, and a "
            "non-persistent tape forgets them once gradient() has run; draw it before, or use "
            "GradientTape(persistent=True)"
        )
    graph = tape_to_dot(tape, show_values=show_values, show_grads=show_grads, target=target,
                        grads=grads, rankdir=rankdir, max_ops=max_ops,
                        group_layers=group_layers)
    if to_file is None:
        return Drawing(graph)
    fmt = format_for_path(to_file)
    return Drawing(graph, render(graph, to_file, fmt), fmt)


set_svg_drawer(lambda tape: render_svg(tape_to_dot(tape)))  # GradientTape._repr_svg_
