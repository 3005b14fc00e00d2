"""Checks for notebook 4, *Optimisers*: one step of SGD with momentum, RMSprop and Adam.

Each answer is a numpy function that takes the parameters, the gradient and the optimiser's
state, and returns the new parameters and state. The check runs it for several steps on a
2-D quadratic bowl (the gradient depends on where the step landed, so an error compounds) and
compares every step with minikeras's own optimiser on the same bowl.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minikeras.autograd import Variable
from minikeras.exercises.core import (
    CheckFailure,
    CheckResult,
    call_answer,
    compare_arrays,
    run_check,
)
from minikeras.optimizers import SGD, Adam, Optimizer, RMSprop

__all__ = ["check_adam_step", "check_max_stable_learning_rate", "check_rmsprop_step",
           "check_sgd_momentum_step"]

_BOWL = np.array([[3.0, 0.8], [0.8, 0.5]])  # a tilted, elongated quadratic 0.5 p.A.p
_START = np.array([1.5, -2.0])
_STEPS = 8
_EPS = 1e-7


def _gradient(p: np.ndarray) -> np.ndarray:
    return _BOWL @ p


def _library_path(optimizer: Optimizer) -> list[np.ndarray]:
    var = Variable(_START.copy())
    path = []
    for _ in range(_STEPS):
        optimizer.apply_gradients([(_gradient(var.data.copy()), var)])
        path.append(var.data.copy())
    return path


def _unpack(got: Any, count: int, name: str, returns: str) -> tuple:
    if not isinstance(got, tuple | list) or len(got) != count:
        raise CheckFailure(f"{name} must return {returns}, got {type(got).__name__}",
                           hint=f"end the function with: return {returns}")
    return tuple(got)


def _follow(step: Callable, name: str, returns: str, state: list[np.ndarray],
            expected: list[np.ndarray], settings: str, hint: str,
            extra: Callable[[int], tuple] = lambda t: ()) -> None:
    p = _START.copy()
    for t in range(1, _STEPS + 1):
        g = _gradient(p)
        got = _unpack(call_answer(step, p.copy(), g, *[s.copy() for s in state], *extra(t),
                                  what=name), 1 + len(state), name, returns)
        p = np.asarray(got[0], dtype=np.float64)
        state = [np.asarray(s, dtype=np.float64) for s in got[1:]]
        compare_arrays(p, expected[t - 1], f"p after step {t}",
                       on=f"the bowl 0.5 p.A.p from p0={_START.tolist()}, {settings}",
                       rtol=1e-5, atol=1e-8, hint=hint)


def _sgd_tests(step: Callable) -> str:
    for lr, momentum in [(0.1, 0.0), (0.1, 0.9), (0.05, 0.5)]:
        expected = _library_path(SGD(lr, momentum=momentum))
        _follow(lambda p, g, v, lr=lr, m=momentum: step(p, g, v, lr, m), "sgd_momentum_step",
                "p, v", [np.zeros(2)], expected, f"lr={lr}, momentum={momentum}",
                "the velocity remembers past steps: v = momentum * v - lr * g, then p = p + v "
                "(with momentum 0 this is plain gradient descent)")
    return "3 settings, 8 steps each, against minikeras.optimizers.SGD"


def check_sgd_momentum_step(step: Callable) -> CheckResult:
    """Check ``sgd_momentum_step(p, g, v, lr, momentum) -> (p, v)`` against ``SGD``.

    Args:
        step: The student's function.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("SGD with momentum", _sgd_tests, step)


def _rmsprop_tests(step: Callable) -> str:
    for lr, rho in [(0.1, 0.9), (0.01, 0.5)]:
        expected = _library_path(RMSprop(lr, rho=rho, epsilon=_EPS))
        _follow(lambda p, g, a, lr=lr, rho=rho: step(p, g, a, lr, rho, _EPS), "rmsprop_step",
                "p, a", [np.zeros(2)], expected, f"lr={lr}, rho={rho}",
                "keep a running average of g**2 (a = rho a + (1 - rho) g**2) and divide the "
                "step by its square root (plus eps)")
    return "2 settings, 8 steps each, against minikeras.optimizers.RMSprop"


def check_rmsprop_step(step: Callable) -> CheckResult:
    """Check ``rmsprop_step(p, g, a, lr, rho, _EPS) -> (p, a)`` against ``RMSprop``.

    Args:
        step: The student's function.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("RMSprop", _rmsprop_tests, step)


def _adam_tests(step: Callable) -> str:
    for lr, b1, b2 in [(0.1, 0.9, 0.999), (0.05, 0.5, 0.9)]:
        expected = _library_path(Adam(lr, beta_1=b1, beta_2=b2, epsilon=_EPS))
        _follow(lambda p, g, m, v, t, lr=lr, b1=b1, b2=b2: step(p, g, m, v, t, lr, b1, b2, _EPS),
                "adam_step", "p, m, v", [np.zeros(2), np.zeros(2)], expected,
                f"lr={lr}, beta_1={b1}, beta_2={b2}",
                "m and v are running averages of g and g**2 that start at 0; divide them by "
                "(1 - beta**t) to undo that start (t counts from 1) before the step "
                "lr * m_hat / (sqrt(v_hat) + eps)", extra=lambda t: (t,))
    return "2 settings, 8 steps each, against minikeras.optimizers.Adam"


def check_adam_step(step: Callable) -> CheckResult:
    """Check ``adam_step(p, g, m, v, t, lr, beta_1, beta_2, eps) -> (p, m, v)`` against ``Adam``.

    ``t`` is the step number, from 1. The paper's form (bias-corrected ``m_hat``, ``v_hat``)
    and Keras's (a corrected learning rate) agree to the check's tolerance.

    Args:
        step: The student's function.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("Adam", _adam_tests, step)


def _max_lr_tests(max_stable_lr: Callable) -> str:
    cases = [np.array([1.0]), np.array([1.0, 10.0]), np.array([0.5, 0.5, 2.0]),
             np.array([100.0, 0.01])]
    for curvatures in cases:
        got = float(np.asarray(call_answer(max_stable_lr, curvatures.copy(),
                                           what="max_stable_lr")))
        expected = 2.0 / curvatures.max()
        if not np.isclose(got, expected, rtol=1e-6):
            # show what the answer does, in the student's terms: the factor per step
            factors = np.abs(1.0 - got * curvatures)
            raise CheckFailure(
                f"for curvatures {curvatures.tolist()} you gave {got:.6g}, expected "
                f"{expected:.6g}; with your rate each step multiplies the coordinates by "
                f"{np.round(1.0 - got * curvatures, 4).tolist()} (largest size "
                f"{factors.max():.3g})",
                hint="on 0.5 c x**2 a gradient step gives x <- (1 - lr c) x; it shrinks as "
                     "long as |1 - lr c| < 1 for every curvature c")
    return f"{len(cases)} sets of curvatures"


def check_max_stable_learning_rate(max_stable_lr: Callable) -> CheckResult:
    """Check ``max_stable_lr(curvatures)``: the largest rate at which gradient descent converges.

    On the loss ``sum_i 0.5 c_i x_i**2`` gradient descent converges for ``lr < 2 / max(c)``;
    the answer must return that bound.

    Args:
        max_stable_lr: The student's function of a 1-D array of positive curvatures.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("the largest stable learning rate", _max_lr_tests, max_stable_lr)
