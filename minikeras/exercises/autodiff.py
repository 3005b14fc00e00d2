"""Checks for notebook 10, forward and reverse mode: dual numbers, a JVP rule, HVPs, Newton.

Each check tests the student's answer against what the library computes another way: dual
numbers against hand-derived derivatives, a ``jvp`` rule with :func:`~minikeras.autograd.jvpcheck`
(finite differences and the tape), a Hessian-vector product against
:func:`~minikeras.autograd.hessian` and against finite differences of gradients, and a Newton
step against the exact minimiser of a quadratic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minikeras.autograd import GradcheckError, GradientTape, Tensor, hessian, jvpcheck
from minikeras.exercises.core import (
    CheckFailure,
    CheckResult,
    call_answer,
    compare_arrays,
    run_check,
)

__all__ = ["check_dual_numbers", "check_hvp", "check_jvp_rule", "check_newton_step"]


# ------------------------------------------------------------------------------- dual numbers
def _dual_tests(dual_cls: type) -> str:
    """``f(x) = x³ + 2x·sin(x) + 1`` through the student's dual numbers, at several points.

    The tangent is 2, not 1, so that a rule forgetting to multiply by the incoming ``dot``
    (the chain rule) is caught: the result's ``dot`` must be ``2 f'(x)``.
    """
    points = (-1.5, 0.0, 0.3, 2.0)
    for x in points:
        d = call_answer(dual_cls, x, 2.0, what=f"{dual_cls.__name__}({x}, 2.0)")
        out = call_answer(lambda d=d: d * d * d + 2 * d * d.sin() + 1,
                          what="x * x * x + 2 * x * sin(x) + 1 on your dual numbers")
        value = getattr(out, "value", None)
        dot = getattr(out, "dot", None)
        if value is None or dot is None:
            raise CheckFailure(
                f"the result on x = {x} has no .value and .dot (got {out!r})",
                hint="every operation on dual numbers returns a new dual number",
            )
        want_value = x ** 3 + 2 * x * np.sin(x) + 1
        want_dot = 2.0 * (3 * x ** 2 + 2 * np.sin(x) + 2 * x * np.cos(x))
        compare_arrays(value, want_value, "the value", on=f"x = {x}",
                       hint="the value part is the ordinary arithmetic, untouched by the dots")
        compare_arrays(dot, want_dot, "the tangent (.dot)", on=f"x = Dual({x}, 2.0)",
                       hint="product rule: (a + a'ε)(b + b'ε) = ab + (a'b + ab')ε, since ε² = 0; "
                            "and sin(a + a'ε) = sin(a) + cos(a) a'ε: the chain rule multiplies "
                            "by the incoming a'")
    return f"f(x) = x³ + 2x·sin(x) + 1 and its tangent at {len(points)} points"


def check_dual_numbers(dual_cls: type) -> CheckResult:
    """Check dual-number multiplication and ``sin``: the derivative of a polynomial-with-sine.

    Args:
        dual_cls: A class ``Dual(value, dot)`` with ``+`` and ``*`` (with numbers too) and a
            ``sin()`` method.
    """
    return run_check("dual numbers", _dual_tests, dual_cls)


# ------------------------------------------------------------------------------- a jvp rule
def _jvp_rule_tests(op: Callable[[Any], Tensor]) -> str:
    rng = np.random.default_rng(0)
    for shape in ((5,), (3, 4)):
        x = rng.normal(size=shape) * 2.0
        try:
            call_answer(jvpcheck, op, [x], seed=1, what="your op in forward mode",
                        passthrough=(GradcheckError,),
                        hint="jvp(self, ctx, tangent) returns one array shaped like the output")
        except GradcheckError as err:
            raise CheckFailure(
                f"your jvp disagrees with the derivative on x of shape {shape}: {err}",
                hint="the tangent of the output is f'(x) times the tangent of the input, "
                     "elementwise; reuse what forward saved on ctx",
            ) from None
    return "forward mode against finite differences and the tape's reverse mode, on 2 shapes"


def check_jvp_rule(op: Callable[[Any], Tensor]) -> CheckResult:
    """Check the ``jvp`` method of an elementwise op with :func:`~minikeras.autograd.jvpcheck`.

    Args:
        op: A function of one tensor that applies the student's ``Function``.
    """
    return run_check("jvp rule", _jvp_rule_tests, op)


# ------------------------------------------------------------------------------- HVP
def _quartic(x: Tensor) -> Tensor:
    """A smooth, non-quadratic test function: ``sum(x⁴)/4 + sum(x[:-1]·x[1:]) + sum(tanh x)``."""
    return (x * x * x * x).sum() / 4.0 + (x[:-1] * x[1:]).sum() + x.tanh().sum()


def _hvp_tests(hvp: Callable) -> str:
    rng = np.random.default_rng(3)
    for n in (3, 6):
        x = rng.normal(size=n)
        v = rng.normal(size=n)
        got = call_answer(hvp, _quartic, Tensor(x), Tensor(v), what="hvp(f, x, v)")
        want = np.asarray(hessian(_quartic)(Tensor(x))) @ v
        compare_arrays(got, want, "the Hessian-vector product", on=f"x of size {n}",
                       rtol=1e-6, atol=1e-9,
                       hint="differentiate the scalar <grad f(x), v> once more: the inner tape's "
                            "gradient must be computed inside the outer tape's `with` block")
        eps = 1e-6
        with GradientTape() as t1:
            xp = Tensor(x + eps * v)
            t1.watch(xp)
            fp = _quartic(xp)
        with GradientTape() as t2:
            xm = Tensor(x - eps * v)
            t2.watch(xm)
            fm = _quartic(xm)
        finite = (np.asarray(t1.gradient(fp, xp)) - np.asarray(t2.gradient(fm, xm))) / (2 * eps)
        compare_arrays(got, finite, "the Hessian-vector product (against finite differences "
                       "of gradients)", on=f"x of size {n}", rtol=1e-4, atol=1e-6)
    return "H·v against the full Hessian and against finite differences of gradients"


def check_hvp(hvp: Callable) -> CheckResult:
    """Check ``hvp(f, x, v)``: the Hessian of ``f`` at ``x`` times ``v``, without the Hessian.

    Args:
        hvp: The student's function of a scalar function, a point and a direction.
    """
    return run_check("Hessian-vector product", _hvp_tests, hvp)


# ------------------------------------------------------------------------------- Newton
def _newton_tests(newton_step: Callable) -> str:
    rng = np.random.default_rng(5)
    a = rng.normal(size=(4, 4))
    h = a @ a.T + 4 * np.eye(4)  # symmetric positive definite
    b = rng.normal(size=4)

    def quadratic(x: Tensor) -> Tensor:
        return 0.5 * (x * (Tensor(h) @ x)).sum() - (Tensor(b) * x).sum()

    x0 = rng.normal(size=4)
    got = call_answer(newton_step, quadratic, Tensor(x0), what="newton_step(f, x)")
    compare_arrays(got, np.linalg.solve(h, b), "one Newton step on a quadratic",
                   on="x0 of size 4", rtol=1e-6, atol=1e-8,
                   hint="x_new = x - H⁻¹ g: solve H d = g with np.linalg.solve, do not subtract "
                        "the gradient itself (that is a gradient-descent step)")
    return "one step lands on a quadratic's minimum, from a random start"


def check_newton_step(newton_step: Callable) -> CheckResult:
    """Check ``newton_step(f, x)``: ``x - H(x)⁻¹ ∇f(x)``, exact in one step on a quadratic.

    Args:
        newton_step: The student's function of a scalar function and a point.
    """
    return run_check("Newton step", _newton_tests, newton_step)
