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


def _summary(array: np.ndarray) -> str:
    """A short description of an array's contents: the values if few, else statistics."""
    array = np.asarray(array)
    if array.size == 0:
        return "empty"
    if array.size <= 4:
        flat = ", ".join(f"{v:.4g}" if np.issubdtype(array.dtype, np.floating) else str(v)
                         for v in array.reshape(-1).tolist())
        return f"[{flat}]" if array.ndim else flat
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        return f"{array.size} values"
    a = array.astype(np.float64)
    return f"mean {a.mean():.3g} std {a.std():.3g} min {a.min():.3g} max {a.max():.3g}"


def _esc(text: Any) -> str:
    out = str(text).replace("\\", "\\\\")
    for ch in "{}|<>\"":
        out = out.replace(ch, "\\" + ch)
    return out


def tape_to_dot(
    tape: Any,
    show_values: bool = False,
    show_grads: bool = False,
    target: Any = None,
    grads: Mapping[int, Any] | None = None,
    rankdir: str = "LR",
    max_ops: int | None = 500,
) -> DotGraph:
    """Convert a tape's records to a Graphviz graph of tensors and ops.

    Args:
        tape: A :class:`~minikeras.autograd.GradientTape`.
        show_values: Add a summary of each tensor's value (the values
            themselves for up to 4 elements, else mean/std/range).
        show_grads: Add a summary of each tensor's gradient of ``target``.
        target: What ``show_grads`` differentiates (default: the last op's
            output). When given, only the ops ``target`` depends on are drawn.
        grads: Gradients to show instead of computing them: a mapping from
            tensor ``uid`` to array (as ``tape.step_backward`` yields).
        rankdir: ``"LR"`` (left to right, default) or ``"TB"``.
        max_ops: Refuse to draw more ops than this (Graphviz gets slow and the
            picture unreadable); ``None`` draws any number.

    Returns:
        A ``graphviz.Digraph`` (:class:`~minikeras.utils.render.DotGraph`)
        that displays inline in Jupyter.

    Raises:
        ValueError: If ``target`` was not produced on this tape, ``show_grads``
            is asked of a tape whose arrays were freed, or there are more than
            ``max_ops`` ops.
    """
    records = _records_of(tape)
    if target is not None:
        records = _ancestors(records, target)
    if max_ops is not None and len(records) > max_ops:
        raise ValueError(
            f"plot_tape: {len(records)} ops to draw, more than max_ops={max_ops}: the layout "
            "would be slow and unreadable. Record a smaller computation, draw one tensor's "
            "history (plot_tape(tensor, tape=tape)), or pass max_ops=None"
        )
    if show_grads and grads is None:
        grads = tape_gradients(tape, target)
    graph = DotGraph(name="tape")
    graph.attr(rankdir=rankdir, label=f"GradientTape: {len(records)} ops", labelloc="t",
               fontname="Helvetica")
    # Monospace: Graphviz sizes boxes from its own Courier metrics, and every viewer's
    # monospace font has the same advance width, so numbers never overflow their boxes.
    graph.attr("node", fontname="Courier", fontsize="10", margin="0.12,0.055")
    graph.attr("edge", arrowsize="0.6")

    produced = {id(r.output) for r in records}
    drawn: set[int] = set()

    def tensor_node(t: Any) -> str:
        node_id = f"t{t.uid}"
        if id(t) in drawn:
            return node_id
        drawn.add(id(t))
        title = t.name or f"%{t.uid}"
        if isinstance(t, Variable):
            title = f"Variable {title}"
        rows = [f"{title}", f"{tuple(t.shape)} {t.dtype}"]
        if show_values:
            rows.append(f"value {_summary(t.data)}")
        if grads is not None:
            g = grads.get(t.uid)
            rows.append("grad " + ("none" if g is None else _summary(g)))
        label = "|".join(_esc(r) for r in rows)
        if rankdir in ("TB", "BT"):  # records turn with rankdir: keep the rows stacked
            label = "{" + label + "}"
        attrs = {"shape": "record"}
        if id(t) not in produced:  # a leaf: where the computation starts
            colour = "lightblue" if isinstance(t, Variable) and t.trainable else "lightyellow"
            attrs.update(style="filled", fillcolor=colour)
        graph.node(node_id, label, **attrs)
        return node_id

    const_count = 0
    for i, record in enumerate(records):
        op_id = f"op{i}"
        graph.node(op_id, _esc(f"[{i}] {record.op_name}"), shape="ellipse", style="filled",
                   fillcolor="white")
        for position, x in enumerate(record.inputs):
            if isinstance(x, Tensor):
                src = tensor_node(x)
            else:  # a Python scalar or numpy array fed straight to the op
                src = f"c{const_count}"
                const_count += 1
                arr = np.asarray(x)
                text = _summary(arr) if arr.size <= 4 else f"const {tuple(arr.shape)}"
                graph.node(src, _esc(text), shape="plaintext")
            # Number the inputs of ops where the order matters to the reader (a - b, a @ b).
            edge_attrs = ({"headlabel": str(position), "labelfontsize": "8"}
                          if len(record.inputs) > 1 else {})
            graph.edge(src, op_id, **edge_attrs)
        graph.edge(op_id, tensor_node(record.output))
    return graph


def plot_tape(
    tape_or_tensor: Any,
    tape: Any = None,
    show_values: bool = False,
    show_grads: bool = False,
    to_file: str | os.PathLike | None = None,
    target: Any = None,
    grads: Mapping[int, Any] | None = None,
    rankdir: str = "LR",
    max_ops: int | None = 500,
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
        to_file: Also write the drawing here (``.svg`` always works; ``.png``
            and ``.pdf`` need the system Graphviz).
        target: The tensor ``show_grads`` differentiates (default: the last
            op's output, or ``tape_or_tensor`` when it is a tensor).
        grads: Precomputed gradients by tensor ``uid`` to show instead.
        rankdir: ``"LR"`` (default) or ``"TB"``.
        max_ops: Refuse to draw more ops than this; ``None`` for no limit.

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
                        grads=grads, rankdir=rankdir, max_ops=max_ops)
    if to_file is None:
        return Drawing(graph)
    fmt = format_for_path(to_file)
    return Drawing(graph, render(graph, to_file, fmt), fmt)


set_svg_drawer(lambda tape: render_svg(tape_to_dot(tape)))  # GradientTape._repr_svg_
