"""The course: notebooks in sync with their sources, executed, and their exercises graded.

Each source in ``tutorials/source/`` gives a student notebook (``tutorials/``, blanks, committed
executed with its outputs for the site) and a solution notebook (``tutorials/solutions/``,
nbgrader source notebook, committed without outputs). Both are executed here with nbclient, in
a fresh temporary directory (so the files they write never land in the checkout): in the
solution notebooks every check must pass; in the student notebooks every check must say "not
done yet" and the notebook must still run to the end.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="install the 'tutorials' extra")
nbclient = pytest.importorskip("nbclient", reason="install the 'tutorials' extra")
pytest.importorskip("jupytext", reason="install the 'tutorials' extra")

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
SOLUTIONS = TUTORIALS / "solutions"
STUDENT = sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))
SOLVED = sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))

#: The course, in order: the tape, an MLP and optimisers trained early, then the Keras engine
#: and the convolutions.
EXPECTED = ["01_tensors_and_the_tape", "02_writing_an_op", "03_mlp_from_scratch",
            "04_optimisers", "05_layers_nodes_and_models", "06_convolution_kernels",
            "07_separable_convolutions", "08_training_on_digits", "09_writing_your_own_layer",
            "10_forward_and_reverse_mode", "11_graduation_keras3_onnx"]

CHECK_CALL = re.compile(r"\bcheck_\w+\(")
VERDICT = re.compile(r"^\[(passed|not done yet|not right yet)\] ", re.M)


def _build():
    spec = importlib.util.spec_from_file_location("tutorials_build",
                                                  TUTORIALS / "source" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _build()


def _checks_in(nb) -> int:
    return sum(len(CHECK_CALL.findall(cell.source)) for cell in nb.cells
               if cell.cell_type == "code")


def _verdicts(nb) -> list[str]:
    text = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []) if out.get("output_type") == "stream")
    return VERDICT.findall(text)


def _execute(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    work = tmp_path / "run"
    work.mkdir()
    shutil.copy(path, work / path.name)
    nb = nbformat.read(work / path.name, as_version=4)
    # the kernel is a new process: make it import minikeras from this checkout
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{path.name} failed:\n{err}")
    print(f"{path.relative_to(ROOT)}: {time.perf_counter() - start:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    return nb


def test_the_course_is_complete():
    assert [nb.stem for nb in STUDENT] == EXPECTED
    assert [nb.stem for nb in SOLVED] == EXPECTED


def test_notebooks_match_their_sources():
    proc = subprocess.run(
        [sys.executable, str(TUTORIALS / "source" / "build.py"), "--check"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_notebook_has_three_exercises_and_the_course_thirty():
    counts = {}
    for source in build.sources():
        nb = build.solution_notebook(source)
        solutions = sum(build.has_solution(c.source) for c in nb.cells if c.cell_type == "code")
        counts[source.stem] = (solutions, _checks_in(nb))
    assert all(solutions >= 3 and checks >= 3 for solutions, checks in counts.values()), counts
    assert sum(checks for _, checks in counts.values()) >= 30, counts


def test_exercises_are_numbered_by_their_notebook():
    for source in build.sources():
        numbers = re.findall(r"^# ### Exercise (\d+)\.(\d+):", source.read_text("utf-8"), re.M)
        expected = [(str(int(source.stem[:2])), str(k)) for k in range(1, len(numbers) + 1)]
        assert numbers == expected, source.name


def test_blank_out_keeps_the_indentation_and_the_code_around():
    code = ("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n"
            "    ### END SOLUTION\n\n\nz = 2\n")
    assert build.blank_out(code) == ("def f(x):\n    y = 1\n    # YOUR CODE HERE\n"
                                     "    raise NotImplementedError()\n\n\nz = 2\n")


def test_student_notebooks_have_no_solutions_and_solutions_are_tagged():
    for path in STUDENT:
        text = path.read_text(encoding="utf-8")
        assert build.BEGIN not in text and build.END not in text, path.name
        assert "raise NotImplementedError()" in text, path.name
    for path in SOLVED:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        assert tagged and all(build.has_solution(c.source) for c in tagged), path.name


@pytest.mark.parametrize("path", STUDENT, ids=[p.stem for p in STUDENT])
def test_student_notebook_is_committed_executed(path):
    """The site renders the committed outputs: every code cell ran, none failed."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{path.name}: run build.py"
    assert not [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert set(_verdicts(nb)) == {"not done yet"}
    pictures = [o for c in code for o in c.outputs
                if any(key.startswith("image/") for key in o.get("data", {}))]
    assert pictures, f"{path.name} was executed without drawing its figures"


@pytest.mark.parametrize("path", SOLVED, ids=[p.stem for p in SOLVED])
def test_solution_notebook_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", SOLVED, ids=[p.stem for p in SOLVED])
def test_solution_notebook_passes_every_check(path, tmp_path, monkeypatch):
    nb = _execute(path, tmp_path, monkeypatch)
    verdicts = _verdicts(nb)
    assert len(verdicts) == _checks_in(nb) >= 3
    assert set(verdicts) == {"passed"}, verdicts


@pytest.mark.parametrize("path", STUDENT, ids=[p.stem for p in STUDENT])
def test_student_notebook_runs_to_the_end_and_says_not_done_yet(path, tmp_path, monkeypatch):
    nb = _execute(path, tmp_path, monkeypatch)
    verdicts = _verdicts(nb)
    assert len(verdicts) == _checks_in(nb) >= 3
    assert set(verdicts) == {"not done yet"}, verdicts
