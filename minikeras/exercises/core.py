"""What every check shares: the result object, the verdict, and the comparisons.

A check runs real tests on a student's answer and prints a verdict in plain words: passed; not
done yet (the answer still raises ``NotImplementedError``, as an nbgrader student notebook's
blanks do); or what is wrong, on which input, expected against got, and one hint. It never lets a
traceback through, and it returns a :class:`CheckResult` a grader can count.

A teacher writes a new check as tests that raise :class:`CheckFailure` with a message and a
hint when the answer is wrong, run by :func:`run_check`::

    def _square_tests(square):
        for x in (0.0, 1.5, -2.0):
            got = call_answer(square, x)
            if got != x * x:
                raise CheckFailure(f"square({x}) gave {got}, expected {x * x}",
                                   hint="multiply the number by itself")
        return "3 inputs"

    def check_square(square):
        return run_check("my square", _square_tests, square)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CheckFailure", "CheckResult", "call_answer", "compare_arrays", "run_check"]

#: What a check prints when the student's answer is still a blank.
NOT_DONE = "replace `raise NotImplementedError()` with your code, run that cell, then this one"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check, for a person (the printed verdict) and a grader (the fields).

    Attributes:
        name: What was checked, e.g. ``"sigmoid backward"``.
        passed: Whether every test passed.
        not_done: Whether the answer is still a blank (it raised ``NotImplementedError``).
        message: The verdict's explanation: what was tested, or what went wrong.
        hint: One hint pointing at the concept ("" when passed or not done).
    """

    name: str
    passed: bool
    not_done: bool
    message: str
    hint: str = ""

    @property
    def status(self) -> str:
        """``"passed"``, ``"not done yet"`` or ``"failed"``."""
        if self.passed:
            return "passed"
        return "not done yet" if self.not_done else "failed"

    def verdict(self) -> str:
        """The plain-words verdict the check printed."""
        if self.passed:
            return f"[passed] {self.name}: {self.message}"
        if self.not_done:
            return f"[not done yet] {self.name}: {self.message}"
        text = f"[not right yet] {self.name}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        # The check has already printed its verdict; showing the result as a cell's value
        # would print it twice.
        pass


class CheckFailure(Exception):
    """Raised inside a check when the answer is wrong: a message and a hint for the student.

    Args:
        message: What is wrong, on which input, expected against got.
        hint: One sentence that points at the concept, not at the answer.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class _NotDone(Exception):
    """The answer raised ``NotImplementedError``: the blank is still there."""


def call_answer(func: Callable, *args: Any, what: str | None = None,
                passthrough: tuple[type[BaseException], ...] = (), hint: str = "",
                **kwargs: Any) -> Any:
    """Call the student's ``func`` and turn its errors into verdicts.

    ``NotImplementedError`` means the blank is not filled in yet; any other exception becomes
    a :class:`CheckFailure` that names the error and the call (not a traceback).

    Args:
        func: The student's function (or class, or method).
        *args: Positional arguments.
        what: How to describe the call in a message (default: the function's name).
        passthrough: Exception types the check handles itself (re-raised unchanged).
        hint: The hint when ``func`` raises (a general one by default).
        **kwargs: Keyword arguments.

    Returns:
        Whatever ``func`` returns.

    Raises:
        CheckFailure: If ``func`` raised anything but ``NotImplementedError``.
    """
    try:
        return func(*args, **kwargs)
    except NotImplementedError as err:
        raise _NotDone from err
    except (CheckFailure, *passthrough):
        raise
    except Exception as err:  # noqa: BLE001 - any student error becomes a verdict
        name = what or getattr(func, "__name__", "your code")
        raise CheckFailure(
            f"{name} raised {type(err).__name__}: {err}",
            hint=hint or "read the error: it says what Python could not do; print the shapes "
                         "of your arrays just before that line",
        ) from err


def _describe(value: Any) -> str:
    array = np.asarray(value)
    if array.size <= 6:
        return np.array2string(array, precision=5, separator=", ")
    return f"array of shape {array.shape}"


def compare_arrays(got: Any, expected: Any, what: str, *, on: str = "", hint: str = "",
                   rtol: float = 1e-5, atol: float = 1e-7, shape_hint: str = "") -> None:
    """Raise :class:`CheckFailure` unless ``got`` matches ``expected`` (shape, then values).

    Args:
        got: The student's result.
        expected: The right result.
        what: What the array is, e.g. ``"the gradient of w"``.
        on: The input it was computed on, e.g. ``"x of shape (3, 4)"``.
        hint: The hint when the values differ.
        shape_hint: The hint when the shapes differ (a general one by default).
        rtol: Relative tolerance.
        atol: Absolute tolerance.

    Raises:
        CheckFailure: Naming the first mismatch.
    """
    where = f" on {on}" if on else ""
    if got is None:
        raise CheckFailure(f"{what}{where} is None", hint="return the value, do not only print it")
    got_array = np.asarray(getattr(got, "data", got), dtype=np.float64)
    expected = np.asarray(getattr(expected, "data", expected), dtype=np.float64)
    if got_array.shape != expected.shape:
        raise CheckFailure(
            f"{what}{where} has shape {got_array.shape}, expected {expected.shape}",
            hint=shape_hint or "the shape is wrong before any value is: work out the size of "
                               "each axis of the result from the sizes of the inputs",
        )
    bad = ~np.isclose(got_array, expected, rtol=rtol, atol=atol)
    if bad.any():
        index = np.unravel_index(np.argmax(bad), bad.shape)
        at = f" at index {tuple(int(i) for i in index)}" if got_array.ndim else ""
        raise CheckFailure(
            f"{what}{where} is wrong{at}: expected {expected[index]:.6g}, got "
            f"{got_array[index]:.6g} ({int(bad.sum())} of {bad.size} entries differ)",
            hint=hint,
        )


def run_check(name: str, tests: Callable[..., str | None], *args: Any) -> CheckResult:
    """Run ``tests(*args)``, print the verdict, and return the result.

    ``tests`` raises :class:`CheckFailure` when the answer is wrong and returns a short
    description of what passed (e.g. ``"12 inputs"``) or ``None``. A ``NotImplementedError``
    from the student's code (called through :func:`call_answer`, or directly) reports "not
    done yet"; any other exception is reported by name, never as a traceback.

    Args:
        name: What is checked, shown at the start of the verdict.
        tests: The tests, a function of ``args``.
        *args: The student's answer (and anything else ``tests`` takes).

    Returns:
        The result; ``bool(result)`` is whether it passed.
    """
    try:
        detail = tests(*args)
    except (_NotDone, NotImplementedError):
        result = CheckResult(name, False, True, NOT_DONE)
    except CheckFailure as failure:
        result = CheckResult(name, False, False, failure.message, failure.hint)
    except Exception as err:  # noqa: BLE001 - the student sees a sentence, not a trace
        result = CheckResult(
            name, False, False, f"the check could not run: {type(err).__name__}: {err}",
            "make sure you pass the object the exercise asks for, with the signature it shows",
        )
    else:
        result = CheckResult(name, True, False,
                             f"all tests pass ({detail})" if detail else "all tests pass")
    print(result.verdict())
    return result
