"""The tape: where ops are recorded as they run, and the reverse sweep over it.

A :class:`GradientTape` follows TensorFlow 2's semantics. Inside
``with GradientTape() as tape:`` every op whose inputs include a *watched*
tensor is appended to the tape as a :class:`~minikeras.autograd.function.Record`;
its output becomes watched in turn. ``tape.gradient(target, sources)`` then
walks the records backwards, once, keeping each tensor's gradient in a dict
keyed by the tensor's identity. The sweep is a plain loop (no recursion), so a
chain of any length works.

Higher-order gradients are not supported: the backward pass is computed on
plain arrays and is not itself recorded on any tape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from minikeras.autograd.function import Record
    from minikeras.autograd.tensor import Tensor


class _RecordingState:
    """Process-wide recording state: the active tapes and the no_grad switch."""

    __slots__ = ("tapes", "enabled")

    def __init__(self) -> None:
        self.tapes: list[GradientTape] = []
        self.enabled = True


STATE = _RecordingState()


def watchers(inputs: tuple) -> tuple[list[GradientTape], tuple[bool, ...]]:
    """Find the active tapes that watch any of ``inputs``.

    Trainable variables read inside a tape with ``watch_accessed_variables``
    are watched on the spot (TensorFlow's behaviour).

    Returns:
        The tapes that must record this op, and for each input whether its
        gradient can be needed by any of them.
    """
    from minikeras.autograd.tensor import Tensor, Variable

    watching = []
    needs = [False] * len(inputs)
    for tape in STATE.tapes:
        if not tape._recording:
            continue
        watched = tape._watched
        hit = False
        for i, x in enumerate(inputs):
            if not isinstance(x, Tensor):
                continue
            key = id(x)
            if key in watched:
                hit = needs[i] = True
            elif (
                tape._watch_accessed_variables
                and isinstance(x, Variable)
                and x.trainable
                and x.dtype.kind == "f"
            ):
                watched[key] = x
                hit = needs[i] = True
        if hit:
            watching.append(tape)
    return watching, tuple(needs)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Turn recording off inside the block, for every tape.

    Example:
        >>> with no_grad():
        ...     y = model(x)   # nothing is recorded
    """
    previous = STATE.enabled
    STATE.enabled = False
    try:
        yield
    finally:
        STATE.enabled = previous


_UNCONNECTED = ("none", "zero")


class GradientTape:
    """Records operations for automatic differentiation (TensorFlow 2 semantics).

    Args:
        persistent: If ``False`` (default) ``gradient`` may be called once and
            the saved arrays are freed afterwards; if ``True`` it may be called
            any number of times.
        watch_accessed_variables: Watch trainable variables automatically when
            an op reads them inside the tape.

    Example:
        >>> x = Variable([1.0, 2.0])
        >>> with GradientTape() as tape:
        ...     y = (x * x).sum()
        >>> tape.gradient(y, x)
        array([2., 4.], dtype=float32)
        >>> print(tape)           # the recorded operations, in order
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        self.persistent = persistent
        self._watch_accessed_variables = watch_accessed_variables
        self._watched: dict[int, Tensor] = {}
        self._records: list[Record] = []
        self._recording = False
        self._used = False
        self._entered = False

    # ---- recording -----------------------------------------------------
    def __enter__(self) -> GradientTape:
        if self._recording:
            raise RuntimeError(
                "GradientTape: this tape is already recording (nested `with` of the same tape)"
            )
        self._recording = True
        self._entered = True
        STATE.tapes.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._recording = False
        STATE.tapes.remove(self)

    def _record(self, record: Record) -> None:
        if record.index < 0:
            record.index = len(self._records)
        self._records.append(record)
        self._watched[id(record.output)] = record.output

    def watch(self, tensor: Tensor | list | tuple) -> None:
        """Ensure ``tensor`` (or each tensor of a list/tuple) is traced by this tape.

        Raises:
            TypeError: If an element is not a :class:`Tensor` or not of a
                floating dtype.
        """
        from minikeras.autograd.tensor import Tensor

        items = tensor if isinstance(tensor, (list, tuple)) else [tensor]
        for t in items:
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"GradientTape.watch: expected a minikeras Tensor, got {type(t).__name__}; "
                    "wrap arrays with minikeras.Tensor(...) first"
                )
            if t.dtype.kind != "f":
                raise TypeError(
                    f"GradientTape.watch: only floating tensors can be watched, got dtype {t.dtype}"
                )
            self._watched[id(t)] = t

    @contextlib.contextmanager
    def stop_recording(self) -> Iterator[None]:
        """Temporarily stop this tape from recording inside the block."""
        if not self._recording:
            raise RuntimeError("GradientTape.stop_recording: the tape is not recording")
        self._recording = False
        try:
            yield
        finally:
            self._recording = True

    def reset(self) -> None:
        """Forget everything recorded so far (watched tensors included)."""
        self._release()
        self._watched.clear()
        self._used = False

    def watched_variables(self) -> list[Tensor]:
        """The variables (and tensors) this tape watches that are not op outputs."""
        outputs = {id(r.output) for r in self._records}
        return [t for k, t in self._watched.items() if k not in outputs]

    # ---- inspection ----------------------------------------------------
    @property
    def records(self) -> list[Record]:
        """The recorded operations, in execution order (a copy of the list)."""
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(list(self._records))

    def listing(self) -> str:
        """A readable listing of the tape: one line per op, in execution order.

        Each line reads ``[i] %out[shape] = Op(%in[shape], ...)``; named
        tensors (variables) are shown by name.
        """
        if not self._records:
            return "<GradientTape: empty>"
        lines = [f"<GradientTape: {len(self._records)} ops, persistent={self.persistent}>"]
        lines += [f"  [{i}] {r!r}" for i, r in enumerate(self._records)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.listing()

    def __repr__(self) -> str:
        return f"<GradientTape ops={len(self._records)} persistent={self.persistent}>"

    def _repr_svg_(self) -> str | None:
        """Inline SVG drawing of the tape in Jupyter (needs minikeras.utils)."""
        try:
            from minikeras.utils.render import render_svg
            from minikeras.utils.tape_plot import tape_to_dot
        except ImportError:  # drawing lives in an upper floor; the tape works without it
            return None
        return render_svg(tape_to_dot(self))

    # ---- the reverse sweep ---------------------------------------------
    def gradient(
        self,
        target: Tensor | list | tuple,
        sources: Any,
        output_gradients: Any = None,
        unconnected_gradients: str = "none",
    ) -> Any:
        """Compute the gradient of ``target`` with respect to ``sources``.

        Args:
            target: A tensor, or a list of tensors whose gradients are summed.
                A non-scalar target is treated as the sum of its elements.
            sources: A tensor, or a list, tuple or dict of tensors.
            output_gradients: Optional seed gradient(s), one per target, of the
                target's shape (default: ones).
            unconnected_gradients: ``"none"`` gives ``None`` for a source the
                target does not depend on; ``"zero"`` gives zeros.

        Returns:
            numpy arrays in the structure of ``sources``.

        Raises:
            RuntimeError: If a non-persistent tape is asked twice, or asked
                while still recording inside its ``with`` block is fine but
                asked after ``reset``.
            ValueError: On a bad ``unconnected_gradients`` or a target that no
                recorded op produced from a watched tensor.
            TypeError: On a source that is not a floating tensor.
        """
        flat_sources, rebuild = _flatten_sources(sources)
        grads = self._start(target, output_gradients, unconnected_gradients, flat_sources)
        keep = {id(s) for s in flat_sources}
        for _ in self._sweep(grads, keep):
            pass
        result = []
        for s in flat_sources:
            g = grads.get(id(s))
            if g is None and unconnected_gradients == "zero":
                g = np.zeros(s.shape, dtype=s.dtype)
            result.append(g)
        if not self.persistent:
            self._release()
        return rebuild(result)

    def step_backward(
        self, target: Tensor, output_gradients: Any = None
    ) -> Iterator[tuple[Record, dict[int, np.ndarray]]]:
        """Walk the reverse sweep one record at a time, for teaching and debugging.

        Yields, after each processed record, the record and the gradients
        known so far (a dict from tensor ``uid`` to gradient array). The tape
        is left intact (it behaves as if persistent for this walk).

        Example:
            >>> for record, grads in tape.step_backward(loss):
            ...     print(record, {k: v.shape for k, v in grads.items()})
        """
        grads = self._start(target, output_gradients, "none", [])
        uid_of = {id(t): t.uid for r in self._records for t in (*r.inputs, r.output)
                  if hasattr(t, "uid")}
        if isinstance(target, (list, tuple)):
            for t in target:
                uid_of[id(t)] = t.uid
        else:
            uid_of[id(target)] = target.uid
        for record in self._sweep(grads, keep=None, release=False):
            yield record, {uid_of.get(k, k): v for k, v in grads.items()}

    def _start(self, target: Any, output_gradients: Any, unconnected: str,
               sources: list) -> dict[int, np.ndarray]:
        from minikeras.autograd.tensor import Tensor

        if unconnected not in _UNCONNECTED:
            raise ValueError(
                f"GradientTape.gradient: unconnected_gradients must be 'none' or 'zero', "
                f"got {unconnected!r}"
            )
        if self._used and not self.persistent:
            raise RuntimeError(
                "GradientTape.gradient: a non-persistent GradientTape can only be used to compute "
                "one set of gradients; create it with GradientTape(persistent=True) to call "
                "gradient() more than once"
            )
        for s in sources:
            if not isinstance(s, Tensor):
                raise TypeError(
                    f"GradientTape.gradient: sources must be minikeras Tensors, got "
                    f"{type(s).__name__}"
                )
            if s.dtype.kind != "f":
                raise TypeError(
                    f"GradientTape.gradient: cannot differentiate with respect to a source of "
                    f"dtype {s.dtype} (shape {s.shape}); sources must be floating tensors"
                )
        targets = list(target) if isinstance(target, (list, tuple)) else [target]
        if output_gradients is None:
            seeds = [None] * len(targets)
        elif isinstance(output_gradients, (list, tuple)) and isinstance(target, (list, tuple)):
            seeds = list(output_gradients)
        else:
            seeds = [output_gradients]
        if len(seeds) != len(targets):
            raise ValueError(
                f"GradientTape.gradient: got {len(seeds)} output_gradients for "
                f"{len(targets)} targets"
            )
        grads: dict[int, np.ndarray] = {}
        for t, seed in zip(targets, seeds):
            if not isinstance(t, Tensor):
                raise TypeError(
                    "GradientTape.gradient: target must be a minikeras Tensor, got "
                    f"{type(t).__name__}"
                )
            if id(t) not in self._watched:
                raise ValueError(
                    f"GradientTape.gradient: the target (shape {t.shape}, made by "
                    f"{t.op_name or 'no op'}) was not computed on this tape from any watched "
                    "tensor; compute it inside `with tape:` from a watched tensor or trainable "
                    "Variable"
                )
            if seed is None:
                g = np.ones(t.shape, dtype=t.dtype)
            else:
                g = np.asarray(seed.data if isinstance(seed, Tensor) else seed, dtype=t.dtype)
                if g.shape != t.shape:
                    raise ValueError(
                        f"GradientTape.gradient: output_gradients has shape {g.shape}, "
                        f"but the target has shape {t.shape}"
                    )
            key = id(t)
            grads[key] = grads[key] + g if key in grads else g
        self._used = True
        return grads

    def _sweep(self, grads: dict[int, np.ndarray], keep: set | None,
               release: bool = True) -> Iterator[Record]:
        from minikeras.autograd.tensor import Tensor

        free = release and not self.persistent
        for record in reversed(self._records):
            key = id(record.output)
            if keep is None or key in keep:
                g = grads.get(key)
            else:
                g = grads.pop(key, None)
            if g is None:
                continue
            ctx = record.ctx
            input_grads = record.function.backward(ctx, g)
            for x, gx, need in zip(record.inputs, input_grads, ctx.needs_input_grad):
                if gx is None or not need or not isinstance(x, Tensor):
                    continue
                gx = fit_gradient(gx, x, record)
                k = id(x)
                prev = grads.get(k)
                # `prev + gx`, never `+=`: an op may hand back the same array for two inputs.
                grads[k] = gx if prev is None else prev + gx
            if free:
                ctx.release()
            yield record

    def _release(self) -> None:
        for record in self._records:
            record.ctx.release()
        self._records = []


def fit_gradient(grad: np.ndarray, x: Tensor, record: Record) -> np.ndarray:
    """Undo broadcasting: sum ``grad`` down to the shape of input ``x``.

    This is the one central place where broadcasting is reversed; it also
    checks that every op's backward produced a gradient of its input's shape.

    Raises:
        ValueError: Naming the op and both shapes when they cannot match.
    """
    shape = x.shape
    if grad.shape != shape:
        grad = np.asarray(grad)
        extra = grad.ndim - len(shape)
        if extra > 0:
            grad = grad.sum(axis=tuple(range(extra)))
        if grad.ndim == len(shape):
            axes = tuple(i for i, (g, s) in enumerate(zip(grad.shape, shape)) if s == 1 and g != 1)
            if axes:
                grad = grad.sum(axis=axes, keepdims=True)
        if grad.shape != shape:
            raise ValueError(
                f"{record.op_name}.backward returned a gradient of shape {grad.shape} "
                f"for an input of shape {shape}"
            )
    if grad.dtype != x.dtype:
        grad = grad.astype(x.dtype, copy=False)
    return grad


def _flatten_sources(sources: Any) -> tuple[list, Any]:
    if isinstance(sources, dict):
        keys = list(sources)
        return [sources[k] for k in keys], lambda gs: dict(zip(keys, gs))
    if isinstance(sources, (list, tuple)):
        kind = type(sources)
        return list(sources), lambda gs: kind(gs) if kind is tuple else list(gs)
    return [sources], lambda gs: gs[0]
