"""The floor plan holds: contracts kept, no import cycle, few imports inside functions.

The floors are written once, as import-linter contracts in ``pyproject.toml`` (and drawn in
``docs/explanation/design.md``). These tests fail on a new upward import, a new cycle between
two modules (imports inside functions count), or a new lazy import without a reason.
"""

import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "minikeras"
MAX_LAZY_IMPORTS = 10


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The minikeras module an imported name lives in (``a.b.c`` -> ``a.b`` if c is a name)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> list[tuple[ast.AST, list[str], bool]]:
    """Each import statement of ``module``: the node, the names it imports, inside a function?"""
    tree = ast.parse(MODULES[module].read_text())
    found = []

    def visit(node: ast.AST, in_function: bool, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            checking = type_checking or (
                isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, ast.Import):
                found.append((child, [a.name for a in child.names], inside, checking))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = module if MODULES[module].name == "__init__.py" else \
                        module.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                found.append((child, [f"{base}.{a.name}" for a in child.names], inside,
                              checking))
            visit(child, inside, checking)

    visit(tree, False, False)
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for _node, names, _inside, type_checking in _imports(module):
            if type_checking:
                continue  # annotations only: never run
            for name in names:
                target = _resolve(name)
                if target and target != module:
                    graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_between_modules_counting_imports_inside_functions():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_few_imports_inside_functions_each_with_its_reason():
    lazy = []
    for module, path in MODULES.items():
        lines = path.read_text().splitlines()
        for node, names, inside, _ in _imports(module):
            if not inside:
                continue
            # the reason: a comment on the import line, or on the lines just above it
            around = lines[max(node.lineno - 4, 0):node.lineno]
            has_reason = any("#" in line for line in around)
            lazy.append((module, node.lineno, names, has_reason))
    assert len(lazy) <= MAX_LAZY_IMPORTS, lazy
    assert [entry for entry in lazy if not entry[3]] == []


@pytest.mark.skipif(shutil.which("lint-imports") is None and
                    not (pathlib.Path(sys.executable).parent / "lint-imports").exists(),
                    reason="import-linter is installed by the test extra")
def test_import_linter_contracts_are_kept():
    exe = shutil.which("lint-imports") or str(pathlib.Path(sys.executable).parent / "lint-imports")
    run = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 kept, 0 broken" in run.stdout
