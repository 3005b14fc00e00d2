"""Write the course's notebooks from their sources beside this file, with jupytext.

Each source ``NN_name.py`` is a Python file in jupytext's "percent" format (``# %%`` starts a
code cell, ``# %% [markdown]`` a text cell), so the course is easy to diff, review and lint.
Exercises mark their answers the way nbgrader does::

    def sigmoid_backward(ctx, grad):
        ### BEGIN SOLUTION
        (y,) = ctx.saved
        return (grad * y * (1 - y),)
        ### END SOLUTION

and every source gives two notebooks:

* ``tutorials/NN_name.ipynb``, the **student notebook**: each solution region is replaced by
  ``raise NotImplementedError()`` (nbgrader's blank), so the check that follows it reports
  "not done yet" and the notebook still runs to the end. It is committed **executed**, with
  its outputs (pictures included): that is what the documentation site shows.
* ``tutorials/solutions/NN_name.ipynb``, the **solution notebook**: the source as it is,
  markers included, and its exercise cells tagged with nbgrader's metadata, so a teacher who
  uses nbgrader can take it as a source notebook unchanged. It is committed without outputs.

Notebooks are executed with nbclient in a temporary folder (files they write never land in
the checkout), on the minikeras of this checkout. ``tests/test_tutorials.py`` checks that the
committed notebooks match their sources.

Usage::

    python tutorials/source/build.py            # rebuild (and execute) the stale notebooks
    python tutorials/source/build.py --all      # rebuild and execute every notebook
    python tutorials/source/build.py --check    # exit 1 if a notebook is out of date
    python tutorials/source/build.py 03 04      # only these notebooks
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbclient
import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE
TUTORIALS = HERE.parent
SOLUTIONS = TUTORIALS / "solutions"
ROOT = TUTORIALS.parent

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
# nbgrader's own blank for a code answer
BLANK = ["# YOUR CODE HERE", "raise NotImplementedError()"]
_REGION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[ \t]*\n.*?^[ \t]*{re.escape(END)}[ \t]*$",
                     re.M | re.S)


def blank_out(code: str) -> str:
    """``code`` with each nbgrader solution region replaced by the blank, at its indentation."""
    def blank(match: re.Match) -> str:
        indent = match.group(1)
        return "\n".join(indent + line for line in BLANK)

    return _REGION.sub(blank, code)


def has_solution(code: str) -> bool:
    """Whether a code cell holds a solution region."""
    return BEGIN in code


def _read(source: Path) -> nbformat.NotebookNode:
    nb = jupytext.reads(source.read_text(encoding="utf-8"), fmt="py:percent")
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    cells = []
    for cell in nb.cells:
        if not cell.source.strip():
            continue
        cell.metadata = {}
        cells.append(cell)
    for i, cell in enumerate(cells):
        cell["id"] = f"{source.stem[:2]}-{i:03d}"  # stable ids keep the diffs small
    nb.cells = cells
    return nb


def solution_notebook(source: Path) -> nbformat.NotebookNode:
    """The solution notebook (nbgrader source notebook) made from ``source``, without outputs."""
    nb = _read(source)
    for cell in nb.cells:
        if cell.cell_type == "code" and has_solution(cell.source):
            cell.metadata["nbgrader"] = {
                "grade": False, "grade_id": cell["id"], "locked": False, "schema_version": 3,
                "solution": True, "task": False,
            }
    return nb


def student_notebook(source: Path) -> nbformat.NotebookNode:
    """The student notebook made from ``source``: solution regions blanked, without outputs."""
    nb = _read(source)
    for cell in nb.cells:
        if cell.cell_type == "code" and has_solution(cell.source):
            cell.source = blank_out(cell.source)
    return nb


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def up_to_date(expected: nbformat.NotebookNode, target: Path) -> bool:
    """Whether ``target`` has the cells of ``expected`` (compared as cells, not as JSON text,
    so outputs, and a newer nbformat that writes the same notebook differently, do not count).
    """
    if not target.exists():
        return False
    return _cells(nbformat.read(target, as_version=4)) == _cells(expected)


def execute(nb: nbformat.NotebookNode, name: str, timeout: int = 600) -> float:
    """Run ``nb`` in place with nbclient, in a temporary folder, on this checkout's minikeras.

    Returns:
        The run time in seconds.

    Raises:
        nbclient.exceptions.CellExecutionError: If a cell fails.
    """
    saved = {key: os.environ.get(key) for key in ("PYTHONPATH", "MPLBACKEND")}
    # the kernel is a new process: make it import minikeras from this checkout, and draw
    # figures inline even if the shell asked for a backend without output (CI sets Agg)
    path = saved["PYTHONPATH"]
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    work = Path(tempfile.mkdtemp(prefix=f"minikeras-{name}-"))
    try:
        # no per-cell timestamps: a rebuild then changes only what the reader sees
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                         record_timing=False,
                                         resources={"metadata": {"path": str(work)}})
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def write(nb: nbformat.NotebookNode, target: Path) -> None:
    """Write ``nb`` to ``target`` (with a final newline, as editors do)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def sources(only: list[str] | None = None) -> list[Path]:
    """The sources, in course order (``only``: numbers such as ``"03"``)."""
    found = sorted(SOURCES.glob("[0-9][0-9]_*.py"))
    return [s for s in found if not only or s.stem[:2] in only]


def targets(source: Path) -> tuple[Path, Path]:
    """``(student notebook, solution notebook)`` paths of ``source``."""
    return TUTORIALS / f"{source.stem}.ipynb", SOLUTIONS / f"{source.stem}.ipynb"


def main(argv: list[str] | None = None) -> int:
    """Rebuild the stale notebooks, or with ``--check`` report them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("numbers", nargs="*", help="only these notebooks, e.g. 03 04")
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    parser.add_argument("--all", action="store_true", help="rebuild even up-to-date notebooks")
    parser.add_argument("--no-execute", action="store_true",
                        help="write the student notebooks without running them")
    args = parser.parse_args(argv)
    stale = []
    for source in sources(args.numbers):
        student_path, solution_path = targets(source)
        solution = solution_notebook(source)
        if args.all or not up_to_date(solution, solution_path):
            stale.append(solution_path.relative_to(ROOT).as_posix())
            if not args.check:
                write(solution, solution_path)
                print(f"wrote {stale[-1]}")
        student = student_notebook(source)
        if args.all or not up_to_date(student, student_path):
            stale.append(student_path.relative_to(ROOT).as_posix())
            if not args.check:
                if not args.no_execute:
                    seconds = execute(student, source.stem)
                    print(f"executed {source.stem} in {seconds:.1f} s")
                write(student, student_path)
                print(f"wrote {stale[-1]}")
    if args.check and stale:
        print("out of date (run python tutorials/source/build.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
