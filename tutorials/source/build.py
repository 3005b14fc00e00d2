"""Write the tutorial notebooks (``tutorials/NN_*.ipynb``) from their sources beside this file.

Each source is a Python file in the "percent" format that Jupytext and VS Code understand:
``# %%`` starts a code cell and ``# %% [markdown]`` a markdown cell whose lines are comments.
Keeping the sources as plain Python makes them easy to diff, review and lint (``ruff check``);
the notebooks the reader opens are ordinary ``.ipynb`` files without outputs, committed beside
them. ``tests/test_tutorials.py`` checks the two stay in sync.

Usage::

    python tutorials/source/build.py          # rewrite every notebook
    python tutorials/source/build.py --check  # exit 1 if a notebook is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE
TUTORIALS = HERE.parent

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def parse(text: str) -> list[tuple[str, str]]:
    """Split a percent-format source into ``(kind, text)`` cells, kind "code" or "markdown"."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            kind = "markdown" if "[markdown]" in line else "code"
            cells.append((kind, []))
        elif cells:
            kind, lines = cells[-1]
            if kind == "markdown":
                if line.startswith("# "):
                    line = line[2:]
                elif line.strip() == "#":
                    line = ""
            lines.append(line)
    out = []
    for kind, lines in cells:
        body = "\n".join(lines).strip("\n")
        if body:
            out.append((kind, body))
    return out


def notebook(source: Path) -> nbformat.NotebookNode:
    """The notebook made from one source file (cells without outputs, stable ids)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, body) in enumerate(parse(source.read_text(encoding="utf-8"))):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = make(body)
        cell["id"] = f"{source.stem[:2]}-{i:03d}"  # stable ids keep the diffs small
        nb.cells.append(cell)
    return nb


def render(source: Path) -> str:
    """The ``.ipynb`` text for ``source``."""
    return nbformat.writes(notebook(source)) + "\n"


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def up_to_date(source: Path, target: Path) -> bool:
    """Whether ``target`` has the cells of ``source`` (compared as cells, not as JSON text,
    so a newer nbformat that writes the same notebook differently does not count as a change).
    """
    if not target.exists():
        return False
    return _cells(nbformat.read(target, as_version=4)) == _cells(notebook(source))


def targets() -> list[tuple[Path, Path]]:
    """``(source, notebook)`` pairs, in course order."""
    return [(s, TUTORIALS / f"{s.stem}.ipynb") for s in sorted(SOURCES.glob("[0-9][0-9]_*.py"))]


def main(argv: list[str] | None = None) -> int:
    """Rewrite the notebooks, or with ``--check`` report the stale ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for source, target in targets():
        if up_to_date(source, target):
            continue
        stale.append(target.name)
        if not args.check:
            target.write_text(render(source), encoding="utf-8")
            print(f"wrote {target.relative_to(TUTORIALS.parent)}")
    if args.check and stale:
        print("out of date (run python tutorials/source/build.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
