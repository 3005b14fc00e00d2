"""Inference fusion: a layer and the per-channel layers after it, run as one call.

At inference a ``BatchNormalization`` no longer looks at its batch: with its moving statistics it
is ``x * scale + shift`` per channel, and a ReLU is ``max(x, 0)``. A layer that writes its output
block by block (``SeparableConv2D``: each block of the 1x1 product while it is in cache) can apply
both to each block as it goes, instead of two more passes over memory and two output-sized arrays.
So ``SeparableConv2D -> BatchNormalization -> Activation('relu')`` runs as one op,
``SeparableConv2D+BatchNorm+Relu``, giving the same numbers to the last bit (the same arithmetic:
:func:`minikeras.autograd.ops.fused.inference_scale_shift`, one fused multiply-add per number).

The protocol, two methods of :class:`~minikeras.engine.base_layer.Layer`:

* ``layer.inference_epilogue(training)``: what the layer does to its input at inference, as an
  :class:`Epilogue`, or ``None`` (the default: not a per-channel map, or not at inference).
* ``layer.call_with_epilogue(inputs, epilogue)``: run the layer with ``epilogue`` applied to its
  output, or return ``None`` when it cannot (the default).

A model finds chains when its graph is built (:func:`fused_plan`): a layer that can take an
epilogue, then the one layer that reads its output (a batch normalisation or a ReLU), then
optionally a ReLU after a batch normalisation. Every output in the middle of a chain must be read
by that next layer only, and must not be a model output. The chain runs fused only when nothing
records (no tape, no forward-mode accumulator: ``predict``, ``evaluate``, ``no_grad``), there are
no masks, and each layer says at call time that it is in inference mode; otherwise the layers run
one by one as always. :func:`set_inference_fusion` switches it off, e.g. to compare.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from minikeras.autograd import forward as _forward
from minikeras.autograd import recording as _recording
from minikeras.engine.base_layer import Layer

__all__ = ["Epilogue", "FusedStep", "fused_plan", "inference_fusion", "run_fused", "runs_fused",
           "set_inference_fusion"]

_ENABLED = True


@dataclass(frozen=True)
class Epilogue:
    """What is applied to a layer's output, per channel (the last axis): affine, then ReLU.

    Attributes:
        scale: ``(C,)`` or ``None``: ``out * scale + shift``.
        shift: ``(C,)``, given with ``scale``.
        relu: Then ``max(out, 0)``.
    """

    scale: np.ndarray | None = None
    shift: np.ndarray | None = None
    relu: bool = False

    def then(self, later: Epilogue) -> Epilogue | None:
        """This epilogue followed by ``later``, or ``None`` if that is not one epilogue.

        Only "affine, then ReLU" composes: two affine maps in a row would change the rounding,
        and an affine map after a ReLU cannot go before it.
        """
        if self.relu or (later.scale is not None and self.scale is not None):
            return None
        return Epilogue(self.scale if later.scale is None else later.scale,
                        self.shift if later.scale is None else later.shift,
                        later.relu)


@dataclass(frozen=True)
class FusedStep:
    """Steps of an execution plan that run as one call at inference.

    Attributes:
        steps: The original plan steps: the head layer's, then its followers'.
    """

    steps: tuple


def set_inference_fusion(enabled: bool) -> None:
    """Switch inference fusion on (the default) or off, for every model.

    Args:
        enabled: Whether chains like ``SeparableConv2D -> BatchNormalization -> ReLU`` run as
            one op when nothing records.
    """
    global _ENABLED
    _ENABLED = bool(enabled)


@contextlib.contextmanager
def inference_fusion(enabled: bool) -> Iterator[None]:
    """Within the ``with`` block, inference fusion on or off (then as it was).

    Example:
        >>> with inference_fusion(False):
        ...     pass  # every layer runs on its own here
    """
    global _ENABLED
    previous = _ENABLED
    _ENABLED = bool(enabled)
    try:
        yield
    finally:
        _ENABLED = previous


def runs_fused(masks: Any) -> bool:
    """Whether a plan run may take its fused steps: fusion on, no masks, nothing recording."""
    return (_ENABLED and masks is None and not _recording.STATE.active
            and not _forward.STATE.active)


def _can_head(layer: Layer) -> bool:
    overrides = type(layer).call_with_epilogue is not Layer.call_with_epilogue
    return overrides and layer.activity_regularizer is None


def _can_follow(layer: Layer) -> bool:
    overrides = type(layer).inference_epilogue is not Layer.inference_epilogue
    return overrides and layer.activity_regularizer is None


def fused_plan(plan: list, output_slots: list[int]) -> list:
    """``plan`` with each fusable chain of steps replaced by one :class:`FusedStep`.

    Args:
        plan: The container's steps (``PlanStep``), in execution order.
        output_slots: The slots holding the model's outputs (never fused away).

    Returns:
        ``plan`` itself if nothing fuses, else a new list.
    """
    readers: dict[int, int] = {}
    for step in plan:
        for slot in step.input_slots:
            readers[slot] = readers.get(slot, 0) + 1
    for slot in output_slots:
        readers[slot] = readers.get(slot, 0) + 1
    by_input: dict[int, Any] = {}
    for step in plan:
        if step.single_input:
            by_input.setdefault(step.input_slots[0], step)

    def private_reader(step: Any) -> Any:
        """The single-input step that alone reads this step's only output, if any."""
        if not step.single_output or readers.get(step.output_slots[0], 0) != 1:
            return None
        nxt = by_input.get(step.output_slots[0])
        if nxt is None or not nxt.single_output or not _can_follow(nxt.layer):
            return None
        return nxt

    fused: list = []
    absorbed: set[int] = set()
    for step in plan:
        if id(step) in absorbed:
            continue
        chain = [step]
        if step.single_input and not step.kwargs and _can_head(step.layer):
            while len(chain) < 3:
                nxt = private_reader(chain[-1])
                if nxt is None:
                    break
                chain.append(nxt)
        if len(chain) == 1:
            fused.append(step)
            continue
        absorbed.update(id(s) for s in chain[1:])
        fused.append(FusedStep(tuple(chain)))
    return plan if not absorbed else fused


def _training_of(step: Any, training: Any) -> Any:
    if "training" in step.kwargs:
        return step.kwargs["training"]
    return training if step.pass_training else None


def run_fused(fused: FusedStep, values: list, training: Any, run_step: Any) -> None:
    """Run a fused chain: the head layer with its followers' epilogue, or one by one.

    Args:
        fused: The chain.
        values: The plan's value slots (read and written as ``run_step`` does).
        training: The run's ``training`` argument.
        run_step: The plan's step runner, for the fallback.
    """
    head, *followers = fused.steps
    epilogue: Epilogue | None = Epilogue()
    for step in followers:
        nxt = step.layer.inference_epilogue(_training_of(step, training))
        epilogue = None if nxt is None else epilogue.then(nxt)
        if epilogue is None:
            break
    out = None
    if epilogue is not None:
        x = values[head.input_slots[0]]
        out = head.layer.call_with_epilogue(x, epilogue)
    if out is None:  # a follower in training mode, or the head declined: the plain way
        for step in fused.steps:
            run_step(step, values, None, training)
        return
    for step in fused.steps:
        if step.layer._eager_losses:  # as each layer's own call would: last call's losses go
            step.layer._eager_losses = []
    values[followers[-1].output_slots[0]] = out
