"""Checks for notebook 2, *Writing an op*: a ``Function``'s forward and backward, by ``gradcheck``.

:func:`check_op` is the general check a teacher can reuse for any op; the others are the
notebook's exercises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minikeras.autograd import Function, GradcheckError, Tensor, gradcheck, no_grad
from minikeras.exercises.core import (
    CheckFailure,
    CheckResult,
    call_answer,
    compare_arrays,
    run_check,
)

__all__ = ["check_op", "check_sigmoid_op", "check_softclip_op", "check_squared_difference_op"]


def _as_function(op: Any, params: dict) -> Callable[..., Tensor]:
    if isinstance(op, type) and issubclass(op, Function):
        return lambda *tensors: op.apply(*tensors, **params)
    return lambda *tensors: op(*tensors, **params)


def _shapes(arrays: Sequence[np.ndarray]) -> str:
    return ", ".join(str(a.shape) for a in arrays)


def _op_tests(op: Any, reference: Callable, cases: Sequence[tuple[Sequence[np.ndarray], dict]],
              hint: str) -> str:
    name = getattr(op, "__name__", "your op")
    for arrays, params in cases:
        func = _as_function(op, params)
        on = f"inputs of shape {_shapes(arrays)}" + (f" with {params}" if params else "")
        with no_grad():
            out = call_answer(func, *[Tensor(a.copy()) for a in arrays], what=f"{name} forward")
        compare_arrays(out, reference(*arrays, **params), "the forward result", on=on,
                       hint="the forward pass computes the function itself, on numpy arrays")
        try:
            call_answer(gradcheck, func, [a.copy() for a in arrays], what=f"{name} backward",
                        passthrough=(GradcheckError,))
        except GradcheckError as err:
            # gradcheck's words, in the student's: which number is theirs, which the referee's
            detail = (str(err).removeprefix("gradcheck: ")
                      .replace("analytic ", "your backward gives ")
                      .replace("numerical ", "finite differences give "))
            raise CheckFailure(
                f"your backward disagrees with finite differences on {on}: {detail}",
                hint=hint) from err
    return f"forward and gradcheck on {len(cases)} inputs"


def check_op(op: Any, reference: Callable, cases: Sequence[tuple[Sequence[np.ndarray], dict]],
             name: str = "op", hint: str = "differentiate the forward formula, then multiply "
             "by the incoming gradient (the chain rule)") -> CheckResult:
    """Check an op: its forward against a numpy reference, its backward by ``gradcheck``.

    Args:
        op: A :class:`~minikeras.autograd.Function` subclass (called with ``apply``) or a
            function of tensors.
        reference: The forward in numpy: ``reference(*arrays, **params)``.
        cases: ``(arrays, params)`` pairs: float64 inputs and keyword parameters.
        name: The op's name in the verdict.
        hint: The hint when the backward is wrong.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check(name, _op_tests, op, reference, cases, hint)


def _unary_cases(params_list: Sequence[dict]) -> list[tuple[list[np.ndarray], dict]]:
    rng = np.random.default_rng(3)
    shapes = [(5,), (3, 4), (2, 3, 2)]
    return [([rng.standard_normal(shape) * 2], params)
            for params in params_list for shape in shapes]


def check_sigmoid_op(op: type) -> CheckResult:
    """Check a ``Sigmoid`` op ``1 / (1 + exp(-x))`` whose backward uses the saved output.

    Args:
        op: The student's ``Function`` subclass.

    Returns:
        The check's result (printed as a verdict).
    """
    return check_op(op, lambda x: 1.0 / (1.0 + np.exp(-x)), _unary_cases([{}]),
                    name="sigmoid op",
                    hint="the backward multiplies the incoming gradient by dy/dx, written with "
                         "the output y that forward saved")


def check_softclip_op(op: type) -> CheckResult:
    """Check a ``Softclip`` op ``limit * tanh(x / limit)`` at several limits.

    Args:
        op: The student's ``Function`` subclass, called as ``op.apply(x, limit=...)``.

    Returns:
        The check's result (printed as a verdict).
    """
    return check_op(op, lambda x, limit: limit * np.tanh(x / limit),
                    _unary_cases([{"limit": 1.0}, {"limit": 0.5}, {"limit": 3.0}]),
                    name="softclip op",
                    hint="the chain rule goes through x / limit as well as through tanh; a bug "
                         "that cancels when limit is 1 shows up at the other limits")


def check_squared_difference_op(op: type) -> CheckResult:
    """Check a binary ``SquaredDifference`` op ``(a - b) ** 2``, broadcasting included.

    Args:
        op: The student's ``Function`` subclass, called as ``op.apply(a, b)``.

    Returns:
        The check's result (printed as a verdict).
    """
    rng = np.random.default_rng(4)
    pairs = [((4,), (4,)), ((3, 4), (4,)), ((2, 1), (1, 3)), ((3, 4), ())]
    cases = [([rng.standard_normal(sa), rng.standard_normal(sb)], {}) for sa, sb in pairs]
    return check_op(op, lambda a, b: (a - b) ** 2, cases, name="squared difference op",
                    hint="each input has its own derivative of (a - b) ** 2, and b enters with a "
                         "minus sign; return both at the broadcast shape and let the tape sum "
                         "them")
