"""plot_tape / tape_to_dot: drawing the autograd tape."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from vis_fakes import dot_structure

from minikeras.autograd import GradientTape, Tensor, Variable
from minikeras.utils.render import Drawing
from minikeras.utils.tape_plot import plot_tape, tape_gradients, tape_to_dot


@pytest.fixture
def no_system_dot(monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None


def small_tape(persistent=True):
    w = Variable(np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 1.0]], dtype=np.float64), name="w")
    x = Tensor(np.arange(6, dtype=np.float64).reshape(2, 3), name="x")
    with GradientTape(persistent=persistent) as tape:
        y = x @ w
        z = (y * y * 2.0).mean()
    return tape, w, x, y, z


def test_ops_in_execution_order_with_tensor_edges():
    tape, w, x, y, z = small_tape()
    s = dot_structure(tape_to_dot(tape))
    ops = sorted((k, v) for k, v in s.nodes.items() if k.startswith("op"))
    assert [v for _, v in ops] == ["[0] MatMul", "[1] Multiply", "[2] Multiply", "[3] Mean"]
    tx, tw, ty, tz = (f"t{t.uid}" for t in (x, w, y, z))
    assert {(tx, "op0"), (tw, "op0"), ("op0", ty), (ty, "op1"), ("op3", tz)} <= s.edges
    assert s.nodes[tw].startswith("Variable w|(3, 2) float64")
    assert s.nodes[tx].startswith("x|(2, 3) float64")
    # the scalar 2.0 fed to the second multiply is a constant node
    consts = [k for k, v in s.nodes.items() if k.startswith("c")]
    assert len(consts) == 1 and s.nodes[consts[0]] == "2" and (consts[0], "op2") in s.edges
    # every op has exactly one output edge
    assert sum(1 for a, _ in s.edges if a.startswith("op")) == 4


def test_leaves_are_shaded_variables_blue():
    tape, w, x, *_ = small_tape()
    src = tape_to_dot(tape).source
    line_w = next(line for line in src.splitlines() if line.strip().startswith(f"t{w.uid} "))
    line_x = next(line for line in src.splitlines() if line.strip().startswith(f"t{x.uid} "))
    assert "lightblue" in line_w and "lightyellow" in line_x


def test_show_values_and_show_grads_change_the_labels():
    tape, w, x, y, z = small_tape()
    plain = dot_structure(tape_to_dot(tape)).nodes[f"t{y.uid}"]
    assert "value" not in plain and "grad" not in plain
    valued = dot_structure(tape_to_dot(tape, show_values=True)).nodes[f"t{y.uid}"]
    assert f"value [{', '.join(f'{v:.4g}' for v in y.data.ravel())}]" in valued
    assert "grad" not in valued
    graded = dot_structure(tape_to_dot(tape, show_grads=True)).nodes
    g_y = 4 * y.data / y.size  # d mean(2 y^2) / dy
    assert f"grad [{', '.join(f'{v:.4g}' for v in g_y.ravel())}]" in graded[f"t{y.uid}"]
    assert graded[f"t{x.uid}"].endswith("grad none")  # x is not watched
    assert "grad mean" in graded[f"t{w.uid}"]  # 6 elements: a summary


def test_side_gradients_match_the_tape_and_leave_it_usable():
    tape, w, x, y, z = small_tape(persistent=False)
    grads = tape_gradients(tape, z)
    plot_tape(tape, show_grads=True)
    np.testing.assert_allclose(grads[w.uid], tape.gradient(z, w))  # still one use left


def test_drawing_a_tensor_draws_only_what_it_depends_on():
    w = Variable(np.ones(3), name="w")
    with GradientTape() as tape:
        a = w * 2.0
        unrelated = w + 1.0
        b = a.sum()
    s = dot_structure(tape_to_dot(tape, target=b))
    assert f"t{unrelated.uid}" not in s.nodes
    assert [v for k, v in sorted(s.nodes.items()) if k.startswith("op")] == [
        "[0] Multiply", "[1] Sum"]
    drawing = plot_tape(b, tape=tape)
    assert f"t{unrelated.uid}" not in drawing.source
    with pytest.raises(TypeError, match="pass its tape"):
        plot_tape(b)
    with pytest.raises(ValueError, match="no op on this tape"):
        plot_tape(Tensor([1.0]), tape=tape)


def test_empty_or_spent_tapes_are_explained():
    with GradientTape() as tape:
        pass
    with pytest.raises(ValueError, match="no recorded ops"):
        plot_tape(tape)
    tape, w, x, y, z = small_tape(persistent=False)
    tape.gradient(z, w)
    with pytest.raises(ValueError, match="persistent=True"):
        plot_tape(tape)
    with pytest.raises(TypeError, match="GradientTape"):
        plot_tape([1, 2, 3])


def test_precomputed_grads_from_step_backward_are_shown():
    tape, w, x, y, z = small_tape()
    grads = {}
    for _, known in tape.step_backward(z):
        grads = known
    nodes = dot_structure(tape_to_dot(tape, grads=grads)).nodes
    assert "grad mean" in nodes[f"t{w.uid}"]


def test_inline_svg_without_system_dot_and_files(no_system_dot, tmp_path):
    tape, w, *_ = small_tape()
    svg = tape._repr_svg_()  # what Jupyter calls on a GradientTape
    texts = [el.text for el in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert "[0] MatMul" in texts and "Variable w" in texts
    drawing = plot_tape(tape, to_file=tmp_path / "tape.svg", rankdir="TB")
    assert isinstance(drawing, Drawing) and (tmp_path / "tape.svg").exists()
    assert "[3] Mean" in drawing._repr_mimebundle_()["image/svg+xml"]


def test_long_tapes_are_refused_unless_asked():
    x = Variable(np.ones(2), name="x")
    with GradientTape() as tape:
        y = x
        for _ in range(30):
            y = y * 1.0
    with pytest.raises(ValueError, match="max_ops=None"):
        tape_to_dot(tape, max_ops=20)
    assert len([k for k in dot_structure(tape_to_dot(tape, max_ops=None)).nodes
                if k.startswith("op")]) == 30
