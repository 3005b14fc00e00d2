"""The README's example must run as written (it is the first code a user copies)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_example_runs_and_writes_the_graph(tmp_path, monkeypatch):
    blocks = _python_blocks()
    assert blocks, "README.md has no python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    model = namespace["model"]
    x_test, y_test = namespace["x_test"], namespace["y_test"]
    accuracy = (model.predict(x_test).argmax(axis=1) == y_test).mean()
    assert accuracy > 0.85, f"README model reached only {accuracy:.3f} test accuracy"
    svg = (tmp_path / "model.svg").read_text(encoding="utf-8")
    for layer in model.layers:
        assert layer.name in svg
