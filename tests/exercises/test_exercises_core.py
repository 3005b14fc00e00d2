"""The machinery every check shares: verdicts, "not done yet", errors as sentences."""

from __future__ import annotations

import numpy as np
import pytest

from minikeras.exercises import CheckFailure, CheckResult, run_check
from minikeras.exercises.core import call_answer, compare_arrays


def _tests(answer):
    got = call_answer(answer, 3.0, what="square")
    if got != 9.0:
        raise CheckFailure(f"square(3.0) gave {got}, expected 9.0", hint="multiply")
    return "1 input"


def test_a_right_answer_passes_and_says_what_was_tested(capsys):
    result = run_check("square", _tests, lambda x: x * x)
    assert result.passed and not result.not_done and bool(result)
    assert result.status == "passed"
    assert capsys.readouterr().out == "[passed] square: all tests pass (1 input)\n"


def test_a_wrong_answer_fails_with_its_message_and_hint(capsys):
    result = run_check("square", _tests, lambda x: x + x)
    assert not result.passed and not result.not_done and result.status == "failed"
    out = capsys.readouterr().out
    assert out.startswith("[not right yet] square: square(3.0) gave 6.0, expected 9.0")
    assert "hint: multiply" in out


def test_a_blank_is_not_done_yet(capsys):
    def blank(x):
        raise NotImplementedError()

    result = run_check("square", _tests, blank)
    assert result.not_done and not result.passed and result.status == "not done yet"
    assert capsys.readouterr().out.startswith("[not done yet] square: replace")


def test_an_error_in_the_answer_is_a_sentence_not_a_traceback(capsys):
    result = run_check("square", _tests, lambda x: x @ x)
    out = capsys.readouterr().out
    assert not result.passed and not result.not_done
    assert "square raised TypeError" in out and "Traceback" not in out


def test_an_answer_of_the_wrong_kind_is_reported(capsys):
    result = run_check("square", _tests, 3)   # not callable: call_answer's TypeError
    assert not result.passed
    assert "raised TypeError" in capsys.readouterr().out


def test_compare_arrays_names_the_shape_then_the_first_wrong_entry():
    with pytest.raises(CheckFailure, match=r"has shape \(2,\), expected \(3,\)"):
        compare_arrays(np.zeros(2), np.zeros(3), "the output")
    with pytest.raises(CheckFailure, match=r"wrong at index \(1,\): expected 2, got 5 "
                                           r"\(1 of 3 entries differ\)") as err:
        compare_arrays([1.0, 5.0, 3.0], [1.0, 2.0, 3.0], "the output", hint="look again")
    assert err.value.hint == "look again"
    with pytest.raises(CheckFailure, match="is None"):
        compare_arrays(None, [1.0], "the output")
    compare_arrays([1.0, 2.0 + 1e-9], [1.0, 2.0], "the output")   # within tolerance


def test_a_result_shown_as_a_cell_value_prints_nothing_more(capsys):
    result = CheckResult("x", True, False, "all tests pass")
    result._ipython_display_()
    assert capsys.readouterr().out == ""
    assert "passed" in result.verdict()
