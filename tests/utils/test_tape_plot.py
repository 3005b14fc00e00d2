"""plot_tape / tape_to_dot: drawing the autograd tape."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from vis_fakes import dot_structure

from minikeras.autograd import GradientTape, Tensor, Variable
from minikeras.layers import (
    Dense,
    Dropout,
    GlobalAveragePooling2D,
    Input,
    SeparableConv2D,
)
from minikeras.losses import sparse_categorical_crossentropy
from minikeras.models import Model, Sequential
from minikeras.utils.render import Drawing
from minikeras.utils.tape_plot import plot_tape, tape_gradients, tape_to_dot


@pytest.fixture
def no_system_dot(monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None


def rows(label):
    """The rows of a tensor's label: a record's fields or a box's lines."""
    return re.split(r"\||\\n", label.strip("{}"))


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
    assert rows(s.nodes[tw])[:2] == ["Variable w", "(3, 2) float64"]
    assert rows(s.nodes[tx])[:2] == ["x", "(2, 3) float64"]
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
    assert rows(graded[f"t{x.uid}"])[-1] == "grad none"  # x is not watched
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


def test_long_tapes_fold_the_middle_into_one_box_unless_asked():
    x = Variable(np.ones(2), name="x")
    with GradientTape() as tape:
        y = x
        for _ in range(30):
            y = y * 1.0
    s = dot_structure(tape_to_dot(tape, max_ops=20))
    ops = sorted(int(k[2:]) for k in s.nodes if k.startswith("op"))
    assert ops == list(range(10)) + list(range(20, 30))  # head and tail
    assert "[10]-[19]: 10 ops folded" in s.nodes["fold"] and "Multiply x10" in s.nodes["fold"]
    # the chain runs through the fold: the last head output in, the first tail op out
    assert ("fold", "op20") in s.edges and any(b == "fold" for _, b in s.edges)
    assert "30 ops, 10 folded" in s.attrs["label"]
    assert len([k for k in dot_structure(tape_to_dot(tape, max_ops=None)).nodes
                if k.startswith("op")]) == 30
    with pytest.raises(ValueError, match="max_ops must be at least 2"):
        tape_to_dot(tape, max_ops=1)


def svg_size_px(svg):
    """The drawing's size in CSS pixels (Graphviz writes points; 1 pt = 4/3 px)."""
    root = ET.fromstring(svg)
    return tuple(float(root.get(k).removesuffix("pt")) * 4 / 3 for k in ("width", "height"))


def mlp_training_step():
    """The tape of one training step of a 2-layer MLP: forward pass and loss."""
    rng = np.random.default_rng(0)
    model = Sequential([Dense(16, activation="relu", input_shape=(4,), name="hidden"),
                        Dense(3, activation="softmax", name="classes")])
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.integers(0, 3, size=8)
    with GradientTape(persistent=True) as tape:
        loss = sparse_categorical_crossentropy(y, model(x, training=True)).mean()
    return tape, loss


def neuron_tape():
    """Tutorial 1's neuron: 6 ops (1,689 pt wide when the drawing ran left to right)."""
    x = Tensor(np.array([1.0, 2.0, 3.0]), name="x")
    w = Variable(np.array([0.5, -1.0, 0.25]), name="w")
    b = Variable(np.array(0.1), name="b")
    with GradientTape(persistent=True) as tape:
        y = ((w * x).sum() + b).tanh()
        (y - 0.5) ** 2
    return tape


def digits_training_step():
    """Tutorial 6's step: three SeparableConv2D (three weights per op), pooling, dropout, Dense."""
    inputs = Input(shape=(8, 8, 1))
    x = SeparableConv2D(16, 3, padding="same", activation="relu")(inputs)
    x = SeparableConv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = SeparableConv2D(64, 3, padding="same", activation="relu")(x)
    x = Dropout(0.2)(GlobalAveragePooling2D()(x))
    model = Model(inputs, Dense(10, activation="softmax")(x))
    rng = np.random.default_rng(0)
    with GradientTape(persistent=True) as tape:
        probabilities = model(rng.random((4, 8, 8, 1), dtype=np.float32), training=True)
        sparse_categorical_crossentropy(rng.integers(0, 10, 4), probabilities).mean()
    return tape


@pytest.mark.parametrize("case", ["neuron", "mlp", "digits"])
def test_drawings_fit_a_notebook_column_top_to_bottom(no_system_dot, case):
    # before (left to right): neuron 2,252 px, MLP 3,520 px, digits 5,545 px wide
    tape = {"neuron": neuron_tape, "mlp": lambda: mlp_training_step()[0],
            "digits": digits_training_step}[case]()
    svg = plot_tape(tape, show_values=True, show_grads=True)._repr_svg_()
    width, height = svg_size_px(svg)
    assert width <= 1000, f"{case}: {width:.0f} px wide"
    assert height > width  # top to bottom
    # unscaled: the 10 pt labels stay 10 pt (about 13 px), legible
    assert 'font-size="10.00"' in svg and "scale(1 1)" in svg
    # left to right, as before, is still there and much wider
    wide, _ = svg_size_px(plot_tape(tape, show_values=True, show_grads=True, rankdir="LR").svg)
    assert wide > 1.5 * width


def layer_boxes(structure):
    """Layer boxes by label (clusters; the anonymous same-rank subgraphs are not boxes)."""
    return {label: members for name, (label, members) in structure.clusters.items()
            if name.startswith("cluster")}


def test_ops_are_grouped_by_layer_call_and_fused_ops_say_what_they_fuse():
    tape, loss = mlp_training_step()
    s = dot_structure(tape_to_dot(tape))
    names = [v for k, v in sorted(s.nodes.items()) if k.startswith("op")]
    assert names == ["[0] Dense+Relu", "[1] Dense", "[2] Softmax",
                     "[3] SparseCategoricalCrossentropy", "[4] Mean"]
    boxes = layer_boxes(s)
    assert set(boxes) == {"hidden", "classes"}
    assert "op0" in boxes["hidden"] and {"op1", "op2"} <= boxes["classes"]
    assert not any("op3" in m or "op4" in m for m in boxes.values())  # the loss is outside
    # the layer's weights sit in its box, named without the layer's prefix the box shows
    kernels = {k: v for k, v in s.nodes.items() if "Variable kernel" in v}
    assert len(kernels) == 2 and len(boxes["hidden"] & set(kernels)) == 1
    assert not any("hidden/" in v for v in s.nodes.values())
    assert not layer_boxes(dot_structure(tape_to_dot(tape, group_layers=False)))


def test_a_layer_called_twice_gets_two_boxes():
    layer = Dense(2, name="shared")
    x = np.ones((1, 2), dtype="float32")
    with GradientTape() as tape:
        layer(layer(x))
    labels = sorted(layer_boxes(dot_structure(tape_to_dot(tape))))
    assert labels == ["shared", "shared (call 2)"]
