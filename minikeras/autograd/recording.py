"""Whether ops are being recorded, and by which tapes: the state every op reads.

:meth:`Function.apply <minikeras.autograd.function.Function.apply>` asks this module, once per op,
which open tapes watch its inputs; :class:`~minikeras.autograd.tape.GradientTape` opens and
closes itself here, and :func:`no_grad` switches recording off. It sits below the ops and the
tape, so both can read it without importing each other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from minikeras.autograd.tensor import Variable

if TYPE_CHECKING:
    from minikeras.autograd.tape import GradientTape

__all__ = ["RELEASED", "STATE", "enable_grad", "no_grad", "watchers"]


class _Released(tuple):
    """The type of ``ctx.saved`` once released: an empty tuple that is not ``()``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<released>"


#: What ``ctx.saved`` holds once released: empty, but distinguishable from "saved nothing".
RELEASED = _Released()


class _RecordingState:
    """Process-wide recording state: the open tapes and the ``no_grad`` switch.

    ``active`` is what every op looks at: the tapes recording right now (empty
    inside ``no_grad``). It is recomputed whenever a tape opens, closes or
    pauses, so the per-op test is one attribute read.
    """

    __slots__ = ("tapes", "enabled", "active")

    def __init__(self) -> None:
        self.tapes: list[GradientTape] = []
        self.enabled = True
        self.active: list[GradientTape] = []

    def refresh(self) -> None:
        self.active = [t for t in self.tapes if t._recording] if self.enabled else []


STATE = _RecordingState()


def watchers(inputs: tuple) -> tuple[list[GradientTape] | None, tuple[bool, ...] | None]:
    """Find the recording tapes that watch any of ``inputs``.

    Trainable floating variables read inside a tape with
    ``watch_accessed_variables`` are watched on the spot (TensorFlow's behaviour).

    Returns:
        The tapes that must record this op (empty or ``None`` when none), and
        for each input whether its gradient can be needed by any of them
        (``None`` when no tape watches).
    """
    active = STATE.active
    if len(active) == 1:
        # the common case, one open tape: one pass over the inputs, no bookkeeping
        tape = active[0]
        watched = tape._watched
        needs = []
        for x in inputs:
            needs.append(id(x) in watched or (isinstance(x, Variable) and _autowatch(tape, x)))
        return (active, tuple(needs)) if True in needs else (None, None)
    watching = []
    any_needs = [False] * len(inputs)
    for tape in active:
        watched = tape._watched
        needs = [id(x) in watched or (isinstance(x, Variable) and _autowatch(tape, x))
                 for x in inputs]
        if True in needs:
            watching.append(tape)
            any_needs = [a or b for a, b in zip(any_needs, needs)]
    return watching, (tuple(any_needs) if watching else None)


def _autowatch(tape: GradientTape, x: Variable) -> bool:
    """Watch a trainable floating variable the first time an op reads it on ``tape``."""
    if tape._watch_accessed_variables and x.trainable and x.data.dtype.kind == "f":
        tape._watched[id(x)] = x
        return True
    return False


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Turn recording off inside the block, for every tape (also usable as a decorator).

    Forward-mode accumulators stop too: no tangent is computed inside the block.

    Example:
        >>> with no_grad():
        ...     y = model(x)   # nothing is recorded
    """
    previous = STATE.enabled
    STATE.enabled = False
    STATE.refresh()
    try:
        yield
    finally:
        STATE.enabled = previous
        STATE.refresh()


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Turn recording back on inside the block, even within :func:`no_grad`.

    For helpers that need a tape of their own wherever they are called (a
    function that returns a gradient, checked by finite differences that
    evaluate it under ``no_grad``).
    """
    previous = STATE.enabled
    STATE.enabled = True
    STATE.refresh()
    try:
        yield
    finally:
        STATE.enabled = previous
        STATE.refresh()
