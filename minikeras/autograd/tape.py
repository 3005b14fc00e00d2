"""The tape: where ops are recorded as they run, and the reverse sweep over it.

A :class:`GradientTape` follows TensorFlow 2's semantics. Inside
``with GradientTape() as tape:`` every op whose inputs include a *watched*
tensor is appended to the tape as a :class:`~minikeras.autograd.function.Record`;
its output becomes watched in turn. Tensors are watched with ``tape.watch(x)``;
trainable :class:`~minikeras.autograd.tensor.Variable` objects are watched
automatically the first time an op reads them (unless the tape was made with
``watch_accessed_variables=False``).

``tape.gradient(target, sources)`` then walks the records backwards, once,
keeping each tensor's gradient in a dict keyed by the tensor's identity. The
sweep is a plain loop (no recursion), so a chain of any length works. A
non-persistent tape frees every array its ops saved as soon as the sweep has
used it, and refuses a second ``gradient`` call.

Looking at the tape (the whole point of a teaching engine)::

    with GradientTape(persistent=True) as tape:
        y = (w * x + b).tanh().sum()
    print(tape)                 # one line per recorded op, in execution order
    tape.records[0].op_name     # "Multiply"; .input_shapes, .output_shape, .inputs, .output
    for record, grads in tape.step_backward(y):   # the reverse sweep, one record at a time
        print(record, {uid: g.shape for uid, g in grads.items()})

Nested tapes each record the ops on the tensors *they* watch. Recording is
switched off for one tape by ``with tape.stop_recording():`` and for every tape
by ``with no_grad():``.

Higher-order gradients follow TensorFlow 2: ``gradient`` returns tensors, and
when another tape is recording during the call, the ops that compute the
gradient are recorded on it, so ``outer.gradient(inner.gradient(y, x), x)`` is
the second derivative (any order works; see
:meth:`~minikeras.autograd.function.Function.differentiable_backward`). With no
tape recording, the sweep runs on plain arrays and records nothing: first-order
gradients cost what they always did. ``jacobian`` and ``batch_jacobian`` build
Jacobians from one sweep per output element.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from minikeras.autograd import forward as _forward
from minikeras.autograd import ops as _ops
from minikeras.autograd.function import Function, Record
from minikeras.autograd.recording import (  # noqa: F401 - no_grad & co. are the tape's API too
    RELEASED,
    STATE,
    _autowatch,
    enable_grad,
    no_grad,
    watchers,
)
from minikeras.autograd.tensor import Tensor

_UNCONNECTED = ("none", "zero")

#: Default ``max_elements`` of the Jacobians: 2**26 entries (256 MiB of float32).
JACOBIAN_MAX_ELEMENTS = 2 ** 26


class BackwardStep(NamedTuple):
    """One step of :meth:`GradientTape.step_backward`.

    Attributes:
        record: The record whose backward just ran.
        grads: Every gradient known after this step, keyed by tensor ``uid``
            (the ``%uid`` of the tape listing).
    """

    record: Record
    grads: dict[int, np.ndarray]


class GradientTape:
    """Records operations for automatic differentiation (TensorFlow 2 semantics).

    Args:
        persistent: If ``False`` (default) ``gradient`` may be called once and
            the saved arrays are freed during that call; if ``True`` it may be
            called any number of times (free the memory with :meth:`reset` or
            by dropping the tape).
        watch_accessed_variables: Watch trainable variables automatically when
            an op reads them inside the tape.

    Example:
        >>> x = Variable([1.0, 2.0])
        >>> with GradientTape() as tape:
        ...     y = (x * x).sum()
        >>> tape.gradient(y, x).numpy()
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
        #: ``(layer_name, start, stop)``: the records ``[start, stop)`` made by one layer call,
        #: noted by the layer engine (nested calls nest); drawings group ops by them. ``None``
        #: turns the noting off (``fit`` does, for its own tape).
        self.layer_calls: list[tuple[str, int, int]] | None = []

    # ---- recording -----------------------------------------------------
    def __enter__(self) -> GradientTape:
        if self in STATE.tapes:
            raise RuntimeError(
                "GradientTape: this tape is already open (nested `with` of the same tape)"
            )
        self._recording = True
        STATE.tapes.append(self)
        STATE.refresh()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._recording = False
        STATE.tapes.remove(self)
        STATE.refresh()

    def _record(self, record: Record) -> None:
        if record.index < 0:
            record.index = len(self._records)
        record.holders += 1
        self._records.append(record)
        self._watched[id(record.output)] = record.output

    def watch(self, tensor: Tensor | list | tuple) -> None:
        """Ensure ``tensor`` (or each tensor of a list/tuple/dict) is traced by this tape.

        Raises:
            TypeError: If an element is not a :class:`Tensor` or not of a
                floating dtype.
        """
        if isinstance(tensor, dict):
            tensor = list(tensor.values())
        items = tensor if isinstance(tensor, (list, tuple)) else [tensor]
        for t in items:
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"GradientTape.watch: expected a minikeras Tensor, got {type(t).__name__}; "
                    "wrap arrays with minikeras.Tensor(...) first"
                )
            if t.dtype.kind != "f":
                raise TypeError(
                    f"GradientTape.watch: only floating tensors can be watched, got a tensor of "
                    f"dtype {t.dtype} and shape {t.shape}"
                )
            self._watched[id(t)] = t

    @contextlib.contextmanager
    def stop_recording(self) -> Iterator[None]:
        """Temporarily stop this tape (only this one) from recording inside the block.

        Raises:
            RuntimeError: If the tape is not recording (outside its ``with``
                block, or already stopped).
        """
        if not self._recording:
            raise RuntimeError("GradientTape.stop_recording: the tape is not recording")
        self._recording = False
        STATE.refresh()
        try:
            yield
        finally:
            self._recording = self in STATE.tapes
            STATE.refresh()

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
        """The recorded operations, in execution order (a copy of the list).

        Each :class:`~minikeras.autograd.function.Record` has ``op_name``,
        ``inputs``, ``output``, ``input_shapes`` and ``output_shape``.
        """
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(list(self._records))

    def listing(self) -> str:
        """A readable listing of the tape: one line per op, in execution order.

        Each line reads ``[i] %out[shape] = Op(%in[shape], ...)``: ``%n`` is a
        tensor's ``uid``, named tensors (variables) are shown by name and
        constants by value or shape.

        Example::

            <GradientTape: 2 ops, persistent=False>
              [0] %7[3] = Multiply(w[3], %5[3])
              [1] %8[] = Sum(%7[3])
        """
        if not self._records:
            return f"<GradientTape: empty, persistent={self.persistent}>"
        lines = [f"<GradientTape: {len(self._records)} ops, persistent={self.persistent}>"]
        lines += [f"  [{i}] {r!r}" for i, r in enumerate(self._records)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.listing()

    def __repr__(self) -> str:
        return f"<GradientTape ops={len(self._records)} persistent={self.persistent}>"

    def _repr_svg_(self) -> str | None:
        """Inline SVG drawing of the tape in Jupyter (drawn by :mod:`minikeras.utils.tape_plot`)."""
        return None if _svg_drawer is None else _svg_drawer(self)

    # ---- the reverse sweep ---------------------------------------------
    def gradient(
        self,
        target: Tensor | list | tuple,
        sources: Any,
        output_gradients: Any = None,
        unconnected_gradients: str = "none",
    ) -> Any:
        """Compute the gradient of ``target`` with respect to ``sources``.

        When another tape is recording at the time of the call (an outer
        ``with GradientTape() as outer:`` around this one), the ops that
        compute the gradient are recorded on it too, so the gradient can be
        differentiated again: ``outer.gradient(inner.gradient(y, x), x)`` is
        the second derivative (TensorFlow 2's nested tapes). With no tape
        recording, the sweep runs on plain arrays and records nothing.

        Args:
            target: A tensor, or a list/tuple of tensors whose gradients are
                summed. A non-scalar target is treated as the sum of its
                elements (its seed gradient is all ones).
            sources: A tensor, or a list, tuple or dict of tensors.
            output_gradients: Optional seed gradient(s), one per target, of the
                target's shape (default: ones). A seed that is a tensor watched
                by a recording tape is differentiated through.
            unconnected_gradients: ``"none"`` gives ``None`` for a source the
                target does not depend on; ``"zero"`` gives zeros.

        Returns:
            :class:`Tensor` objects in the structure of ``sources``: one
            tensor, or a list, tuple or dict. They are array-like
            (``np.asarray(g)``, ``g.numpy()``); their arrays are fresh and
            writable, never shared between sources.

        Raises:
            RuntimeError: If a non-persistent tape is asked a second time.
            ValueError: On a bad ``unconnected_gradients``, a target that no
                recorded op produced from a watched tensor, or an
                ``output_gradients`` of the wrong shape or count.
            TypeError: On a source that is not a floating tensor.

        Example:
            >>> x = Variable(2.0)
            >>> with GradientTape() as outer:
            ...     with GradientTape() as inner:
            ...         y = x * x * x
            ...     dy = inner.gradient(y, x)       # 3 x² = 12, recorded on `outer`
            >>> float(outer.gradient(dy, x))        # 6 x = 12
            12.0
        """
        flat_sources, rebuild = _flatten_sources(sources)
        result = self._gradient(target, flat_sources, output_gradients, unconnected_gradients)
        if not self.persistent:
            self._release()
        return rebuild(result)

    def _gradient(self, target: Any, flat_sources: list, output_gradients: Any,
                  unconnected: str, release: bool = True, again: bool = False) -> list:
        """One reverse sweep for :meth:`gradient` and the Jacobians: a flat list of results.

        ``again``: a further sweep of one Jacobian (allowed on a non-persistent tape, which
        keeps its saved arrays until the Jacobian's last row, swept with ``release=False``).
        """
        # An outer tape recording right now, or an open forward-mode accumulator, makes this a
        # sweep of recorded ops (higher order; forward-over-reverse: tangents flow through it).
        graph = bool(STATE.active) or bool(_forward.STATE.active)
        used, self._used = self._used, self._used and not again
        grads, seeds = self._start(target, output_gradients, unconnected, flat_sources, graph)
        self._used = True if not again else used
        keep = {id(s) for s in flat_sources}
        for _ in self._sweep(grads, keep, release=release, graph=graph):
            pass
        result = []
        # The caller's seed arrays were used as they are (no copy up front). One of them can
        # reach a source unchanged (the target is a source, or ops that pass the gradient
        # through): it is copied below, so the caller never gets its own seed back as a result.
        seen: set[int] = {id(a) for a in seeds}
        wrap = Tensor._wrap
        for s in flat_sources:
            g = grads.get(id(s))
            if g is None:
                if unconnected == "zero":
                    g = np.zeros(s.shape, dtype=s.dtype)
            elif isinstance(g, Tensor):
                result.append(g)  # a tensor made by recorded ops (higher order): keep its history
                continue
            elif (type(g) is not np.ndarray or not g.flags.owndata or not g.flags.writeable
                  or id(g) in seen):
                # a view (of a broadcast, a reshape, ...), a caller's seed, or an array handed
                # to two sources: give the caller an array of its own, safe to update in place
                g = np.array(g, dtype=s.dtype)
            if g is not None:
                seen.add(id(g))
                g = wrap(g, None)
            result.append(g)
        return result

    # ---- Jacobians -------------------------------------------------------
    def jacobian(self, target: Tensor, sources: Any, unconnected_gradients: str = "none",
                 max_elements: int = JACOBIAN_MAX_ELEMENTS) -> Any:
        """The full Jacobian of ``target`` with respect to each source (TensorFlow 2).

        One reverse sweep per element of ``target`` (the rows, by vector-Jacobian
        products with one-hot seeds): the cost grows with the *output* size,
        which is why reverse mode suits many inputs and few outputs. Under a
        recording outer tape the rows are recorded ops, so a Jacobian can be
        differentiated again (a Hessian is the Jacobian of a gradient).

        Args:
            target: The tensor to differentiate (any shape).
            sources: A tensor, or a list, tuple or dict of tensors.
            unconnected_gradients: ``"none"`` gives ``None`` for a source the
                target does not depend on; ``"zero"`` gives zeros.
            max_elements: Refuse a Jacobian with more entries than this (it
                would take that many numbers of memory and ``target.size``
                sweeps); raise it knowingly.

        Returns:
            For each source a tensor of shape ``target.shape + source.shape``,
            in the structure of ``sources``.

        Raises:
            ValueError: If a Jacobian has more than ``max_elements`` entries
                (saying what it would cost and what to do instead), or as
                :meth:`gradient`.

        Example:
            >>> x = Tensor([1.0, 2.0])
            >>> with GradientTape() as tape:
            ...     tape.watch(x)
            ...     y = x * x
            >>> tape.jacobian(y, x).numpy()
            array([[2., 0.],
                   [0., 4.]], dtype=float32)
        """
        flat_sources, rebuild = _flatten_sources(sources)
        if not isinstance(target, Tensor):
            raise TypeError(
                f"GradientTape.jacobian: target must be a minikeras Tensor, got "
                f"{type(target).__name__}"
            )
        for i, s in enumerate(flat_sources):
            if isinstance(s, Tensor):
                _check_jacobian_size("jacobian", target, s, i, target.size * s.size,
                                     target.size, max_elements)
        rows = []
        for j in range(target.size):
            seed = np.zeros(target.size, dtype=target.dtype)
            seed[j] = 1
            rows.append(self._gradient(target, flat_sources, seed.reshape(target.shape),
                                       unconnected_gradients, release=False, again=j > 0))
        if target.size == 0:  # still check the arguments
            self._start(target, None, unconnected_gradients, flat_sources)
        result = [_assemble(target, s, [row[i] for row in rows], unconnected_gradients,
                            target.shape + s.shape, axis=0)
                  for i, s in enumerate(flat_sources)]
        self._used = True
        if not self.persistent:
            self._release()
        return rebuild(result)

    def batch_jacobian(self, target: Tensor, source: Tensor, unconnected_gradients: str = "none",
                       max_elements: int = JACOBIAN_MAX_ELEMENTS) -> Tensor | None:
        """Per-example Jacobians: ``result[b] = d target[b] / d source[b]`` (TensorFlow 2).

        Assumes, as TensorFlow does, that example ``b`` of the target depends on
        example ``b`` of the source only (a batch of independent rows), so one
        sweep per element of ``target[0]`` gives every example's Jacobian.

        Args:
            target: A tensor of shape ``(batch, ...)``.
            source: A tensor of shape ``(batch, ...)``.
            unconnected_gradients: ``"none"`` or ``"zero"``, as for :meth:`jacobian`.
            max_elements: As for :meth:`jacobian`.

        Returns:
            A tensor of shape ``(batch,) + target.shape[1:] + source.shape[1:]``,
            or ``None`` for an unconnected source with ``"none"``.

        Raises:
            ValueError: If the batch sizes differ, a tensor is a scalar, or the
                result would have more than ``max_elements`` entries.
        """
        for name, t in (("target", target), ("source", source)):
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"GradientTape.batch_jacobian: {name} must be a minikeras Tensor, got "
                    f"{type(t).__name__}"
                )
            if t.ndim == 0:
                raise ValueError(
                    f"GradientTape.batch_jacobian: {name} must have a batch axis, got a scalar"
                )
        if target.shape[0] != source.shape[0]:
            raise ValueError(
                f"GradientTape.batch_jacobian: target and source must have the same batch size "
                f"(first axis), got shapes {target.shape} and {source.shape}"
            )
        batch = target.shape[0]
        per = target.size // batch if batch else 0
        _check_jacobian_size("batch_jacobian", target, source, 0, per * source.size, per,
                             max_elements)
        rows = []
        for j in range(per):
            seed = np.zeros((batch, per), dtype=target.dtype)
            seed[:, j] = 1
            rows.append(self._gradient(target, [source], seed.reshape(target.shape),
                                       unconnected_gradients, release=False, again=j > 0)[0])
        shape = (batch, *target.shape[1:], *source.shape[1:])
        result = _assemble(target, source, rows, unconnected_gradients, shape, axis=1)
        self._used = True
        if not self.persistent:
            self._release()
        return result

    def step_backward(self, target: Tensor | list | tuple,
                      output_gradients: Any = None) -> Iterator[BackwardStep]:
        """Walk the reverse sweep one record at a time, for teaching and debugging.

        The same sweep as :meth:`gradient`, paused after each record whose
        output received a gradient. Records the target does not depend on are
        skipped. The tape is left intact (nothing is released and a
        non-persistent tape can still answer ``gradient`` afterwards).

        Args:
            target: As for :meth:`gradient`.
            output_gradients: As for :meth:`gradient`.

        Yields:
            :class:`BackwardStep` ``(record, grads)``: the record whose backward
            just ran, and every gradient known so far keyed by tensor ``uid``
            (the ``%uid`` of the listing; leaves included, nothing discarded).

        Example:
            >>> for record, grads in tape.step_backward(loss):
            ...     print(record, {uid: g.shape for uid, g in grads.items()})
        """
        grads, _ = self._start(target, output_gradients, "none", [])  # validate now, not lazily
        uid_of = {id(t): t.uid for r in self._records for t in (*r.inputs, r.output)
                  if isinstance(t, Tensor)}
        for t in (target if isinstance(target, (list, tuple)) else [target]):
            uid_of[id(t)] = t.uid

        def steps() -> Iterator[BackwardStep]:
            for record in self._sweep(grads, keep=None, release=False):
                yield BackwardStep(record, {uid_of.get(k, k): v for k, v in grads.items()})

        return steps()

    def _start(self, target: Any, output_gradients: Any, unconnected: str,
               sources: list, graph: bool = False) -> tuple[dict[int, Any], list[np.ndarray]]:
        """Check the arguments of a sweep and seed the gradient dict with the targets'.

        Returns the dict and the caller's arrays it holds without a copy (the seeds given in
        ``output_gradients`` that already had the target's dtype). Nothing writes into a
        gradient in place (the sweep adds with ``prev + g``, and backward methods return new
        arrays), so borrowing them is safe; only handing one back as a result is not. In a
        ``graph`` sweep a seed that is a tensor stays a tensor, so an outer tape can follow it.
        """
        if unconnected not in _UNCONNECTED:
            raise ValueError(
                f"GradientTape.gradient: unconnected_gradients must be 'none' or 'zero', "
                f"got {unconnected!r}"
            )
        if self._used and not self.persistent:
            raise RuntimeError(
                "GradientTape.gradient: a non-persistent GradientTape can only be used to compute "
                "one set of gradients (its saved arrays are freed by the first call); create it "
                "with GradientTape(persistent=True) to call gradient() more than once"
            )
        for i, s in enumerate(sources):
            if not isinstance(s, Tensor):
                raise TypeError(
                    f"GradientTape.gradient: sources must be minikeras Tensors, got "
                    f"{type(s).__name__} for source {i}"
                )
            if s.dtype.kind != "f":
                raise TypeError(
                    f"GradientTape.gradient: cannot differentiate with respect to source {i} of "
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
        grads: dict[int, Any] = {}
        borrowed: list[np.ndarray] = []
        for t, seed in zip(targets, seeds):
            if not isinstance(t, Tensor):
                raise TypeError(
                    "GradientTape.gradient: target must be a minikeras Tensor, got "
                    f"{type(t).__name__}"
                )
            if id(t) not in self._watched:
                raise ValueError(_not_on_tape(t))
            if seed is None:
                g = np.ones(t.shape, dtype=t.dtype)
            elif graph and isinstance(seed, Tensor):
                g = seed if seed.dtype == t.dtype else seed.astype(t.dtype)
                if g.shape != t.shape:
                    raise ValueError(
                        f"GradientTape.gradient: output_gradients has shape {g.shape}, "
                        f"but the target has shape {t.shape}"
                    )
            else:
                # no copy (a seed can be as big as a batch of images): `gradient` copies it
                # only if it would come back to the caller as a result
                given = seed.data if isinstance(seed, Tensor) else seed
                g = np.asarray(given, dtype=t.dtype)
                if g.shape != t.shape:
                    raise ValueError(
                        f"GradientTape.gradient: output_gradients has shape {g.shape}, "
                        f"but the target has shape {t.shape}"
                    )
                if g is given or np.may_share_memory(g, given):
                    borrowed.append(g)
            key = id(t)
            grads[key] = grads[key] + g if key in grads else g
        return grads, borrowed

    def _sweep(self, grads: dict[int, Any], keep: set | None, release: bool = True,
               graph: bool = False) -> Iterator[Record]:
        """The reverse sweep: walk the records backwards, pushing gradients to inputs.

        This is the one sweep of the engine (``gradient``, ``step_backward``, the Jacobians and
        the tape drawing all run it). ``grads`` maps ``id(tensor)`` to its gradient and is
        updated in place. An op output's gradient is dropped once its record has run, unless
        its id is in ``keep`` (``None`` keeps all). Yields each record it ran.

        With ``graph`` (a tape is recording), a record whose inputs, output or incoming
        gradient a recording tape watches runs its ``differentiable_backward``: its gradients
        are tensors made by recorded ops. Every other record, and every record of a plain
        sweep, runs ``backward`` on arrays.
        """
        free = release and not self.persistent
        get, pop = grads.get, grads.pop
        released = RELEASED
        for record in reversed(self._records):
            key = id(record.output)
            g = get(key) if keep is None or key in keep else pop(key, None)
            if g is None:
                continue  # the target does not depend on this op
            ctx = record.ctx
            if ctx.saved is released:
                raise RuntimeError(
                    f"GradientTape.gradient: the arrays saved by {record.op_name} were already "
                    "released by a non-persistent tape's gradient(); use persistent=True"
                )
            try:
                if not graph:  # first order: arrays only, one test per record
                    input_grads = record.function.backward(ctx, g)
                elif _records_backward(record, g):
                    if type(g) is not Tensor:
                        g = Tensor._wrap(np.asarray(g), None)
                    input_grads = _differentiable_backward(record, ctx, g)
                else:
                    if isinstance(g, Tensor):
                        g = g.data  # a tensor no recording tape follows: its array will do
                    input_grads = record.function.backward(ctx, g)
            except (ValueError, TypeError, IndexError) as err:
                if type(err) not in (ValueError, TypeError, IndexError):
                    raise  # a custom error type: keep it as its author wrote it
                raise type(err)(
                    f"{record.op_name}.backward failed for output shape {record.output.shape} "
                    f"and input shapes {record.input_shapes}: {err}"
                ) from err
            if not isinstance(input_grads, (tuple, list)) or len(input_grads) != len(record.inputs):
                got = (f"{len(input_grads)} gradients" if isinstance(input_grads, (tuple, list))
                       else f"a bare {type(input_grads).__name__} (shape {np.shape(input_grads)})")
                raise ValueError(
                    f"{record.op_name}.backward returned {got} for {len(record.inputs)} inputs; "
                    "return a tuple with one gradient (or None) per input, e.g. (grad_x,)"
                )
            for x, gx, need in zip(record.inputs, input_grads, ctx.needs_input_grad):
                if not need or gx is None:
                    continue  # only watched tensors are marked as needing a gradient
                xd = x.data
                # fast path: the common gradient already has its input's shape and dtype
                # (`is not` on dtypes: numpy shares one dtype object per builtin type)
                if type(gx) is not np.ndarray or gx.shape != xd.shape or gx.dtype is not xd.dtype:
                    gx = fit_gradient(gx, x, record)
                k = id(x)
                prev = get(k)
                # `prev + gx`, never `+=`: an op may hand back the same array for two inputs.
                grads[k] = gx if prev is None else prev + gx
            if free and record.holders <= 1:
                ctx.release()  # nobody else holds the record: free its saved arrays now
            yield record

    def _release(self) -> None:
        """Drop the records (and their saved arrays, if no other tape holds them)."""
        watched = self._watched
        for record in self._records:
            watched.pop(id(record.output), None)
            record.holders -= 1
            if record.holders <= 0 and record.ctx.saved is not RELEASED:
                record.ctx.release()
        self._records = []
        if self.layer_calls:
            self.layer_calls = []


# Drawing a tape is the job of minikeras.utils.tape_plot, a floor above this one. It hands its
# drawer to the tape when it is imported (``import minikeras`` imports it), so the tape never
# imports upward; without a drawer a tape shows its listing instead of a picture.
_svg_drawer: Callable[[GradientTape], str] | None = None


def set_svg_drawer(drawer: Callable[[GradientTape], str] | None) -> None:
    """Set the function that draws a tape as SVG for Jupyter (``tape._repr_svg_()``)."""
    global _svg_drawer
    _svg_drawer = drawer


def composite_backward(composite: Any, ctx: Any, grad: Tensor, record: Record) -> tuple:
    """The gradients of ``composite(*record.inputs, **record.params)``, made of recorded ops.

    The chain is run again on a scratch tape that watches the inputs needing a gradient, and
    that tape's sweep (a recording one: the outer tapes are still recording) gives the
    gradients as tensors the outer tapes can differentiate again.
    """
    needs = ctx.needs_input_grad
    sources = [x for x, need in zip(record.inputs, needs) if need]
    if not sources:
        return (None,) * len(needs)
    with GradientTape(watch_accessed_variables=False) as scratch:
        scratch.watch(sources)
        out = composite(*record.inputs, **(record.params or {}))
    if out.shape != record.output.shape:
        raise ValueError(
            f"{record.op_name}.composite gave shape {out.shape}, but the op gave "
            f"{record.output.shape}"
        )
    grads = iter(scratch.gradient(out, sources, output_gradients=grad))
    return tuple(next(grads) if need else None for need in needs)


def _differentiable_backward(record: Record, ctx: Any, grad: Tensor) -> tuple:
    """A record's gradients as recorded ops: its chain (``composite``) or its own rule."""
    fn = record.function
    if type(fn).differentiable_backward is Function.differentiable_backward and \
            type(fn).composite is not Function.composite:
        return composite_backward(fn.composite, ctx, grad, record)
    return fn.differentiable_backward(ctx, grad, record)


def _check_jacobian_size(method: str, target: Tensor, source: Tensor, index: int,
                         elements: int, sweeps: int, limit: int) -> None:
    """Refuse a Jacobian larger than ``limit`` entries, saying what it would cost."""
    if elements <= limit:
        return
    nbytes = elements * np.dtype(target.dtype).itemsize
    raise ValueError(
        f"GradientTape.{method}: the Jacobian of a target of shape {target.shape} with respect "
        f"to source {index} of shape {source.shape} has {elements:,} entries "
        f"({nbytes / 2 ** 30:,.2f} GiB of {target.dtype}) and takes {sweeps:,} reverse sweeps "
        f"(over max_elements={limit:,}). Take what you need instead: a gradient of a scalar "
        "(tape.gradient), a vector-Jacobian product (tape.gradient with output_gradients=v), "
        "per-example Jacobians (batch_jacobian), or a few rows; or pass a larger max_elements "
        "if you mean it."
    )


def _assemble(target: Tensor, source: Tensor, rows: list, unconnected: str,
              shape: tuple, axis: int) -> Any:
    """Stack the Jacobian's rows (arrays, or recorded tensors) into ``shape``."""
    if not rows or rows[0] is None:
        # no row, or a source the target does not reach (that is structural: every row agrees)
        if rows and unconnected == "none":
            return None
        return Tensor._wrap(np.zeros(shape, dtype=source.dtype), None)
    if any(r.op is not None for r in rows):  # recorded rows: stacking is recorded too
        return _ops.reshape(_ops.stack(rows, axis=axis), shape)
    return Tensor._wrap(np.stack([r.data for r in rows], axis=axis).reshape(shape), None)


def _records_backward(record: Record, grad: Any) -> bool:
    """Whether a recording tape follows anything this record's backward reads.

    Its inputs, its output or the incoming gradient: if none is watched, the gradients it
    gives are constants to every tape, and the plain array backward is exact and cheaper.
    With a forward-mode accumulator open the backward is recorded too (forward-over-reverse).
    """
    if _forward.STATE.active:
        return True  # an accumulator may follow any of them: its tangents need the ops
    involved = (*record.inputs, record.output, grad) if type(grad) is Tensor else \
        (*record.inputs, record.output)
    watching, _ = watchers(involved)
    return bool(watching)


def _not_on_tape(t: Tensor) -> str:
    """The message for a target this tape did not record, naming it and what to do."""
    label = repr(t.name) if t.name else f"%{t.uid}"
    return (
        f"GradientTape.gradient: the target (shape {t.shape}, made by {t.op_name or 'no op'}) "
        f"was not computed on this tape from any watched tensor: no op recorded here produced "
        f"tensor {label}. Compute it inside `with tape:` from a watched tensor (tape.watch(x)) "
        "or a trainable Variable. To differentiate a gradient, call the inner tape's gradient() "
        "inside the outer tape's `with` block: the ops computing the gradient are then recorded "
        "on the outer tape."
    )


def fit_gradient(grad: Any, x: Tensor, record: Record) -> np.ndarray:
    """Undo broadcasting: sum ``grad`` down to the shape of input ``x``, in its dtype.

    This is the one central place where broadcasting is reversed; it also
    checks that every op's backward produced a gradient of its input's shape.

    Raises:
        ValueError: Naming the op and both shapes when they cannot match.
    """
    if isinstance(grad, Tensor):
        return _fit_recorded_gradient(grad, x, record)
    grad = np.asarray(grad)
    shape = x.shape
    if grad.shape != shape:
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


def _fit_recorded_gradient(grad: Tensor, x: Tensor, record: Record) -> Tensor:
    """:func:`fit_gradient` for a gradient made by recorded ops: the same steps, as ops."""
    shape = x.shape
    if grad.shape != shape:
        extra = grad.ndim - len(shape)
        if extra > 0:
            grad = _ops.sum(grad, axis=tuple(range(extra)))
        if grad.ndim == len(shape):
            axes = tuple(i for i, (g, s) in enumerate(zip(grad.shape, shape)) if s == 1 and g != 1)
            if axes:
                grad = _ops.sum(grad, axis=axes, keepdims=True)
        if grad.shape != shape:
            raise ValueError(
                f"{record.op_name}.differentiable_backward returned a gradient of shape "
                f"{grad.shape} for an input of shape {shape}"
            )
    if grad.dtype != x.dtype:
        grad = _ops.cast(grad, x.dtype)
    return grad


def _flatten_sources(sources: Any) -> tuple[list, Any]:
    """Flatten a source, list, tuple or dict, with a function that rebuilds the structure."""
    if isinstance(sources, dict):
        keys = list(sources)
        return [sources[k] for k in keys], lambda gs: dict(zip(keys, gs))
    if isinstance(sources, (list, tuple)):
        kind = type(sources)
        return list(sources), lambda gs: kind(gs) if kind is tuple else list(gs)
    return [sources], lambda gs: gs[0]
