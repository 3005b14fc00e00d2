"""Checks for notebook 1, *Tensors and the tape*: recording, the reverse sweep, finite differences.

The neuron of the notebook is ``L = (tanh(sum(w * x) + b) - t) ** 2``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from minikeras.autograd import GradientTape, Tensor, Variable
from minikeras.exercises.core import (
    CheckFailure,
    CheckResult,
    call_answer,
    compare_arrays,
    run_check,
)

__all__ = ["check_central_difference", "check_neuron_gradients", "check_neuron_loss"]


def _neuron_cases(count: int = 4) -> list[tuple[np.ndarray, float, np.ndarray, float]]:
    rng = np.random.default_rng(1)
    cases = [(np.array([0.5, -1.0, 0.25]), 0.1, np.array([1.0, 2.0, 3.0]), 0.5)]
    for size in range(2, 2 + count - 1):
        cases.append((rng.standard_normal(size) * 0.5, float(rng.standard_normal()),
                      rng.standard_normal(size), float(rng.uniform(-1, 1))))
    return cases


def _neuron_numpy(w: np.ndarray, b: float, x: np.ndarray, t: float) -> float:
    return float((np.tanh(np.sum(w * x) + b) - t) ** 2)


def _neuron_tape_grads(w: np.ndarray, b: float, x: np.ndarray, t: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    wv, bv = Variable(w.copy()), Variable(np.array(b))
    with GradientTape() as tape:
        loss = (((wv * Tensor(x)).sum() + bv).tanh() - t) ** 2
    grad_w, grad_b = tape.gradient(loss, [wv, bv])
    return grad_w, grad_b


def _neuron_loss_tests(neuron_loss: Callable) -> str:
    cases = _neuron_cases()
    for w, b, x, t in cases:
        wv, bv = Variable(w.copy(), name="w"), Variable(np.array(b), name="b")
        with GradientTape() as tape:
            loss = call_answer(neuron_loss, wv, bv, Tensor(x, name="x"), t, what="neuron_loss")
        on = f"w={np.round(w, 3).tolist()}, b={b:.3g}, x={np.round(x, 3).tolist()}, t={t:.3g}"
        if not isinstance(loss, Tensor):
            raise CheckFailure(
                f"neuron_loss returned a {type(loss).__name__}, not a Tensor, on {on}",
                hint="compute with the tensors themselves (w * x, .sum(), .tanh(), ** 2), not "
                     "with numpy on their .data: only tensor ops are recorded on the tape")
        compare_arrays(loss, _neuron_numpy(w, b, x, t), "the loss", on=on,
                       hint="follow the formula: multiply, sum, add b, tanh, subtract t, square")
        if not tape.records:
            raise CheckFailure(
                "the tape recorded no ops, so it cannot give any gradient",
                hint="use tensor ops on w and b inside the function; numpy on .data is invisible "
                     "to the tape")
        grad_w, grad_b = tape.gradient(loss, [wv, bv])
        if grad_w is None or grad_b is None:
            raise CheckFailure(
                "the loss does not depend on " + ("w" if grad_w is None else "b") +
                " on the tape", hint="both w and b must enter the computation as tensors")
        expected_w, expected_b = _neuron_tape_grads(w, b, x, t)
        compare_arrays(grad_w, expected_w, "the tape's gradient of w", on=on,
                       hint="the loss value is right but its gradient is not: was part of the "
                            "computation done outside the tape (on .data or with numpy)?")
    return f"{len(cases)} neurons, values and gradients"


def check_neuron_loss(neuron_loss: Callable) -> CheckResult:
    """Check ``neuron_loss(w, b, x, t)``: the neuron's loss computed with tensor ops.

    The answer must return a ``Tensor`` equal to ``(tanh(sum(w * x) + b) - t) ** 2``, computed
    with ops the tape records, so that ``tape.gradient`` reaches ``w`` and ``b``.

    Args:
        neuron_loss: The student's function of ``w`` and ``b`` (``Variable``), ``x``
            (``Tensor``) and ``t`` (a float).

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("neuron loss on the tape", _neuron_loss_tests, neuron_loss)


def _neuron_gradients_tests(neuron_grads: Callable) -> str:
    cases = _neuron_cases(5)
    for w, b, x, t in cases:
        on = f"w={np.round(w, 3).tolist()}, b={b:.3g}, x={np.round(x, 3).tolist()}, t={t:.3g}"
        got = call_answer(neuron_grads, w.copy(), b, x.copy(), t, what="neuron_grads")
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise CheckFailure("neuron_grads must return a pair (grad_w, grad_b)",
                               hint="return grad_w, grad_b")
        expected_w, expected_b = _neuron_tape_grads(w, b, x, t)
        hint = ("walk the tape backwards: dL/dy = 2(y - t), then through tanh (1 - y**2), then "
                "the Add passes it to b and to the sum, and the Multiply gives w that times x")
        compare_arrays(got[1], expected_b, "dL/db", on=on, hint=hint)
        compare_arrays(got[0], expected_w, "dL/dw", on=on, hint=hint)
    return f"{len(cases)} neurons against the tape"


def check_neuron_gradients(neuron_grads: Callable) -> CheckResult:
    """Check ``neuron_grads(w, b, x, t) -> (dL/dw, dL/db)`` written with numpy, against the tape.

    Args:
        neuron_grads: The student's function of numpy arrays ``w``, ``x`` and floats ``b``,
            ``t``; it returns the two gradients (``dL/db`` a number or 0-d array).

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("neuron gradients by hand", _neuron_gradients_tests, neuron_grads)


def _test_functions() -> list[tuple[str, Callable, Callable, np.ndarray]]:
    rng = np.random.default_rng(2)
    return [
        ("sum(x**3)", lambda x: float(np.sum(x ** 3)), lambda x: 3 * x ** 2,
         np.array([1.0, -2.0, 0.5])),
        ("sum(sin(x)) * x[0]", lambda x: float(np.sum(np.sin(x)) * x[0]),
         lambda x: np.cos(x) * x[0] + np.eye(x.size)[0] * np.sum(np.sin(x)),
         rng.standard_normal(4)),
        ("log(1 + sum(x**2))", lambda x: float(np.log1p(np.sum(x ** 2))),
         lambda x: 2 * x / (1 + np.sum(x ** 2)), rng.standard_normal((2, 3))),
        ("exp(x[0] * x[1])", lambda x: float(np.exp(x[0] * x[1])),
         lambda x: np.exp(x[0] * x[1]) * np.array([x[1], x[0]]), np.array([0.3, -1.2])),
    ]


def _central_difference_tests(numerical_gradient: Callable) -> str:
    functions = _test_functions()
    for name, f, exact, x in functions:
        before = x.copy()
        got = call_answer(numerical_gradient, f, x, 1e-5, what="numerical_gradient")
        if not np.array_equal(x, before):
            raise CheckFailure(
                f"numerical_gradient changed its input x (for f = {name})",
                hint="after moving one entry by +eps and -eps, put it back (or work on a copy)")
        expected = exact(x)
        got_array = np.asarray(got, dtype=np.float64)
        if got_array.shape == expected.shape:
            error = np.abs(got_array - expected).max()
            if 1e-7 < error < 1e-3:
                raise CheckFailure(
                    f"for f = {name} at x = {np.round(x, 3).tolist()} the largest error is "
                    f"{error:.2g}: close, but too large for a central difference",
                    hint="(f(x + eps) - f(x)) / eps is one-sided: its error grows like eps. "
                         "Step both ways and divide by 2 eps; the error then grows like eps**2")
        compare_arrays(got, expected, "the gradient", on=f"f = {name}, x of shape {x.shape}",
                       rtol=1e-6, atol=1e-7,
                       hint="move one entry at a time by +eps and by -eps, and divide the change "
                            "in f by 2 eps")
    return f"{len(functions)} functions"


def check_central_difference(numerical_gradient: Callable) -> CheckResult:
    """Check ``numerical_gradient(f, x, eps)``: the gradient of ``f`` at ``x``, central differences.

    ``f`` maps a float64 array to a float. The answer must match the exact gradient of four
    functions to about 1e-7 with ``eps=1e-5`` (a one-sided difference is only good to about
    1e-5 and fails), return an array of ``x``'s shape, and leave ``x`` unchanged.

    Args:
        numerical_gradient: The student's function.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("central differences", _central_difference_tests, numerical_gradient)

