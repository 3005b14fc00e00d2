"""Every tutorial notebook runs top to bottom without an error.

Each notebook is copied into a fresh temporary directory and executed there with nbclient
(so the files it writes, such as saved models and drawings, never land in the checkout).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="install the 'tutorials' extra")
nbclient = pytest.importorskip("nbclient", reason="install the 'tutorials' extra")

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))

#: The course: one notebook per topic of issue 8, in this order, then graduation (issue 16).
EXPECTED = ["01", "02", "03", "04", "05", "06", "07", "08"]


def test_the_course_is_complete():
    assert [nb.name[:2] for nb in NOTEBOOKS] == EXPECTED


def test_notebooks_match_their_sources():
    proc = subprocess.run(
        [sys.executable, str(TUTORIALS / "source" / "build.py"), "--check"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: commit notebooks without outputs"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    shutil.copy(path, work / path.name)
    nb = nbformat.read(work / path.name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{path.name} failed:\n{err}")
    elapsed = time.perf_counter() - start
    print(f"{path.name}: {elapsed:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
