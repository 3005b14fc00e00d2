"""model_to_dot / plot_model on the Keras 2 node structure.

The first part builds graphs from small stand-ins (vis_fakes) that carry exactly the node
attributes the contracts promise, so every drawing rule is tested on its own; the structure of
each drawing is read back through Graphviz (never by comparing layout bytes).
"""

from __future__ import annotations

import os
import shutil
import struct
import xml.etree.ElementTree as ET

import pytest
from vis_fakes import FakeLayer, Functional, Input, dot_structure, system_dot

from minikeras.utils import render as render_mod
from minikeras.utils.render import DotGraph, Drawing, GraphvizNotFoundError
from minikeras.utils.vis_utils import model_to_dot, plot_model


@pytest.fixture
def no_system_dot(monkeypatch, tmp_path):
    """Hide the system Graphviz: an empty PATH, so `shutil.which('dot')` finds nothing."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None


def build_big():
    """Two inputs, a shared layer seen with two shapes, a nested two-output model, two outputs.

    in_a (4) -> shared -> inner[in 4 -> (d2: 2, d3: 3)] -> (o1, o2)
    in_b (6) -> shared
    concat(o1, shared(b)) -> head -> out ; o2 is the second model output
    """
    a, b = Input((4,), "in_a"), Input((6,), "in_b")
    shared = FakeLayer("shared", activation="relu")
    ha, hb = shared(a), shared(b)
    inner_in = Input((4,), "inner_in")
    d2 = FakeLayer("d2", units=2)(inner_in)
    d3 = FakeLayer("d3", units=3)(inner_in)
    inner = Functional(inner_in, [d2, d3], "inner")
    o1, o2 = inner(ha)
    cat = FakeLayer("concat")([o1, hb])
    out = FakeLayer("head", units=1, trainable=False, activation="sigmoid")(cat)
    return Functional([a, b], [out, o2], "outer")


def build_chain(names=("inp", "l1", "l2", "l3")):
    x = Input((3,), names[0])
    t = x
    for n in names[1:]:
        t = FakeLayer(n, units=5)(t)
    return Functional(x, t, "chain")


# ---- structure -------------------------------------------------------------------------------


def test_layer_view_has_one_box_per_layer_and_the_inbound_edges():
    s = dot_structure(model_to_dot(build_big()))
    assert set(s.nodes) == {"in_a", "in_b", "shared", "inner", "concat", "head"}
    assert s.edges == {
        ("in_a", "shared"), ("in_b", "shared"), ("shared", "inner"),
        ("inner", "concat"), ("shared", "concat"), ("concat", "head"),
    }
    assert s.clusters == {}
    assert s.nodes["shared"] == "shared: FakeLayer"
    assert s.nodes["inner"] == "inner: Functional"


def test_node_view_draws_each_call_of_a_shared_layer():
    s = dot_structure(model_to_dot(build_big(), node_view=True, show_shapes=True))
    assert {"shared_ib-0", "shared_ib-1"} <= set(s.nodes)
    assert s.edges == {
        ("in_a_ib-0", "shared_ib-0"), ("in_b_ib-0", "shared_ib-1"),
        ("shared_ib-0", "inner_ib-0"), ("inner_ib-0", "concat_ib-0"),
        ("shared_ib-1", "concat_ib-0"), ("concat_ib-0", "head_ib-0"),
    }
    assert "node 0" in s.nodes["shared_ib-0"] and "(None, 4)" in s.nodes["shared_ib-0"]
    assert "node 1" in s.nodes["shared_ib-1"] and "(None, 6)" in s.nodes["shared_ib-1"]
    assert "multiple" not in s.nodes["shared_ib-1"]


def test_expand_nested_draws_a_cluster_wired_to_the_inner_inputs_and_outputs():
    s = dot_structure(model_to_dot(build_big(), expand_nested=True))
    assert "inner" not in s.nodes  # the model's own box gives way to its layers
    label, members = s.clusters["cluster_inner"]
    assert label == "inner"
    assert members == {"inner/inner_in", "inner/d2", "inner/d3"}
    # into the nested model: its input layer; out of its first output: the layer making it
    assert ("shared", "inner/inner_in") in s.edges
    assert ("inner/d2", "concat") in s.edges
    assert ("inner/d3", "concat") not in s.edges  # o2 is not fed to concat
    assert {("inner/inner_in", "inner/d2"), ("inner/inner_in", "inner/d3")} <= s.edges
    assert not any("inner" == e[0] or "inner" == e[1] for e in s.edges)


def test_expand_nested_wires_each_input_and_output_to_the_right_inner_layer():
    # a nested model with two inputs and two outputs, whose outputs are used crosswise
    p, q = Input((2,), "p"), Input((3,), "q")
    fp, fq = FakeLayer("fp")(p), FakeLayer("fq")(q)
    sub = Functional([p, q], [fp, fq], "sub")
    x, y = Input((2,), "x"), Input((3,), "y")
    s0, s1 = sub([x, y])
    use_second = FakeLayer("use_second")(s1)
    use_first = FakeLayer("use_first")(s0)
    model = Functional([x, y], [use_first, use_second], "cross")
    s = dot_structure(model_to_dot(model, expand_nested=True))
    assert {("x", "sub/p"), ("y", "sub/q")} <= s.edges
    assert {("sub/fq", "use_second"), ("sub/fp", "use_first")} <= s.edges
    assert ("sub/fp", "use_second") not in s.edges
    # node view: the same wiring between call boxes
    s = dot_structure(model_to_dot(model, expand_nested=True, node_view=True))
    assert {("x_ib-0", "sub/p_ib-0"), ("sub/fq_ib-0", "use_second_ib-0")} <= s.edges


def test_two_levels_of_nesting_expand_into_nested_clusters():
    i = Input((2,), "i")
    core = Functional(i, FakeLayer("leaf")(i), "core")
    j = Input((2,), "j")
    mid = Functional(j, core(j), "mid")
    x = Input((2,), "x")
    top = Functional(x, FakeLayer("after")(mid(x)), "top")
    s = dot_structure(model_to_dot(top, expand_nested=True))
    assert {"cluster_mid", "cluster_mid/core"} <= set(s.clusters)
    assert ("x", "mid/j") in s.edges
    assert ("mid/j", "mid/core/i") in s.edges
    assert ("mid/core/leaf", "after") in s.edges
    collapsed = dot_structure(model_to_dot(top))
    assert collapsed.edges == {("x", "mid"), ("mid", "after")}


def test_sequential_like_model_whose_layers_hide_the_input_layer():
    model = build_chain()
    model.layers = [x for x in model.layers if x.name != "inp"]  # Keras 2 Sequential.layers
    s = dot_structure(model_to_dot(model))
    assert ("inp", "l1") in s.edges and "inp" in s.nodes


def test_nodes_outside_the_model_are_not_drawn():
    model = build_chain()
    l1 = next(x for x in model.layers if x.name == "l1")
    other = Input((3,), "elsewhere")
    l1(other)  # a second call of l1 that belongs to no model drawn here
    s = dot_structure(model_to_dot(model, node_view=True))
    assert "l1_ib-1" not in s.nodes and "elsewhere_ib-0" not in s.nodes
    assert dot_structure(model_to_dot(model, show_shapes=True)).nodes["l1"].count("multiple") == 0


# ---- each option changes what it should --------------------------------------------------


def test_show_shapes_adds_the_input_output_table_and_multiple_for_shared_layers():
    plain = dot_structure(model_to_dot(build_big())).nodes
    shaped = dot_structure(model_to_dot(build_big(), show_shapes=True)).nodes
    assert "input:" not in plain["concat"]
    assert shaped["concat"] == (
        "concat: FakeLayer|{input:|output:}|{{[(None, 2), (None, 6)]}|{(None, 2)}}"
    )
    assert shaped["shared"].endswith("{{multiple}|{multiple}}")  # seen with (None,4), (None,6)
    assert "[(None, 2), (None, 3)]" in shaped["inner"]  # two outputs


def test_a_shared_layer_with_one_shape_shows_it():
    x, y = Input((4,), "x"), Input((4,), "y")
    shared = FakeLayer("shared", units=2)
    m = Functional([x, y], [shared(x), shared(y)], "m")
    label = dot_structure(model_to_dot(m, show_shapes=True)).nodes["shared"]
    assert "multiple" not in label and "{{(None, 4)}|{(None, 2)}}" in label


def test_show_layer_names_false_shows_class_names_only():
    nodes = dot_structure(model_to_dot(build_chain(), show_layer_names=False)).nodes
    assert nodes["l1"] == "FakeLayer"
    assert all("l1" not in label for label in nodes.values())


def test_show_dtype_show_activations_and_show_trainable():
    base = dot_structure(model_to_dot(build_big())).nodes
    assert all("dtype" not in v and "activation" not in v and "trainable" not in v
               for v in base.values())
    dt = dot_structure(model_to_dot(build_big(), show_dtype=True)).nodes
    assert "dtype: float32" in dt["head"]
    act = dot_structure(model_to_dot(build_big(), show_layer_activations=True)).nodes
    assert "activation: sigmoid" in act["head"] and "activation: relu" in act["shared"]
    assert "activation" not in act["concat"]  # no activation attribute set
    graph = model_to_dot(build_big(), show_trainable=True)
    tr = dot_structure(graph).nodes
    assert "trainable: False" in tr["head"] and "trainable: True" in tr["concat"]
    head_line = next(line for line in graph.source.splitlines() if line.strip().startswith("head"))
    assert "fillcolor=lightgrey" in head_line  # frozen layers are shaded


def test_dpi_and_rankdir():
    s = dot_structure(model_to_dot(build_chain(), dpi=150, rankdir="LR", show_shapes=True))
    assert s.attrs["dpi"] == "150" and s.attrs["rankdir"] == "LR"
    # records turn with rankdir; the extra braces keep the Keras layout of the box
    assert s.nodes["l1"].startswith("{l1: FakeLayer|") and s.nodes["l1"].endswith("}")
    with pytest.raises(ValueError, match="rankdir"):
        model_to_dot(build_chain(), rankdir="sideways")


def test_layer_range_selects_layers_by_name_and_regex():
    model = build_chain(("inp", "l1", "l2", "l3"))
    s = dot_structure(model_to_dot(model, layer_range=["l1", "l2"]))
    assert set(s.nodes) == {"l1", "l2"} and s.edges == {("l1", "l2")}
    s = dot_structure(model_to_dot(model, layer_range=["l.", "l."]))  # first .. last match
    assert set(s.nodes) == {"l1", "l2", "l3"}
    s = dot_structure(model_to_dot(model, layer_range=["l3", "l2"]))  # reversed order
    assert set(s.nodes) == {"l2", "l3"}
    with pytest.raises(ValueError, match="matches no layer"):
        model_to_dot(model, layer_range=["nope", "l2"])
    with pytest.raises(ValueError, match="two layer names"):
        model_to_dot(model, layer_range=["l1"])
    with pytest.raises(ValueError, match="strings only"):
        model_to_dot(model, layer_range=[0, 2])


def test_special_characters_in_names_are_escaped():
    x = Input((2,), "in{put}")
    m = Functional(x, FakeLayer("a|b<c>")(x), "m")
    s = dot_structure(model_to_dot(m, show_shapes=True))
    assert s.nodes["a|b<c>"].startswith("a\\|b\\<c\\>: FakeLayer|")
    svg = render_mod.render_svg(model_to_dot(m))
    assert "a|b&lt;c&gt;: FakeLayer" in svg


def test_unbuilt_model_is_a_clear_error():
    model = build_chain()
    model.built = False
    with pytest.raises(ValueError, match="not built"):
        model_to_dot(model)


def test_model_to_dot_returns_a_graphviz_digraph():
    import graphviz

    graph = model_to_dot(build_chain())
    assert isinstance(graph, graphviz.Digraph) and isinstance(graph, DotGraph)
    assert graph.source.startswith("digraph chain {")


# ---- rendering -------------------------------------------------------------------------------


def svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [el.text for el in root.iter("{http://www.w3.org/2000/svg}text") if el.text]


def test_svg_of_a_small_model_shows_every_layer_name_without_system_dot(no_system_dot, tmp_path):
    drawing = plot_model(build_big(), to_file=tmp_path / "m.svg", show_shapes=True)
    texts = " ".join(svg_texts((tmp_path / "m.svg").read_text()))
    for name in ("in_a", "in_b", "shared", "inner", "concat", "head"):
        assert f"{name}:" in texts
    assert isinstance(drawing, Drawing) and drawing.format == "svg"
    assert set(drawing._repr_mimebundle_()) == {"image/svg+xml"}
    assert sorted(os.listdir(tmp_path)) == ["empty-bin", "m.svg"]  # no temporary file left


def test_pdf_without_system_dot_says_what_to_install(no_system_dot, tmp_path):
    target = tmp_path / "model.pdf"
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz.*or .png"):
        plot_model(build_chain(), to_file=target)
    assert not target.exists()


def test_plot_model_with_keras_defaults_writes_a_png_without_system_dot(no_system_dot,
                                                                        monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    drawing = plot_model(build_big(), show_shapes=True)  # to_file="model.png", as in Keras
    data = (tmp_path / "model.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    # the size `dot -Tpng` gives: plot_model sets dpi=96, and Graphviz's SVG is already scaled
    # to that dpi (its points are then pixels)
    svg = ET.fromstring(drawing.svg)
    assert abs(width - float(svg.get("width").removesuffix("pt"))) <= 1
    assert abs(height - float(svg.get("height").removesuffix("pt"))) <= 1
    plot_model(build_big(), show_shapes=True, to_file="big.png", dpi=192)
    assert abs(struct.unpack(">I", (tmp_path / "big.png").read_bytes()[16:20])[0]
               - 2 * width) <= 2
    assert drawing._repr_mimebundle_() == {"image/png": data}  # inline in Jupyter


def test_plot_model_without_a_file_displays_inline_without_system_dot(no_system_dot):
    drawing = plot_model(build_chain(), to_file=None)
    assert drawing.path is None
    names = " ".join(svg_texts(drawing._repr_svg_()))
    assert "l1: FakeLayer" in names
    # the graph object itself also shows inline without `dot`
    bundle = model_to_dot(build_chain())._repr_mimebundle_()
    assert "l3: FakeLayer" in " ".join(svg_texts(bundle["image/svg+xml"]))


@system_dot
def test_png_with_system_dot(tmp_path):
    drawing = plot_model(build_big(), to_file=tmp_path / "m.png", expand_nested=True)
    data = (tmp_path / "m.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert drawing._repr_mimebundle_() == {"image/png": data}


@system_dot
def test_svg_with_system_dot_shows_every_layer_name(tmp_path):
    plot_model(build_big(), to_file=tmp_path / "m.svg", node_view=True)
    texts = " ".join(svg_texts((tmp_path / "m.svg").read_text()))
    for name in ("in_a", "in_b", "shared", "inner", "concat", "head"):
        assert f"{name}:" in texts
    assert texts.count("shared: FakeLayer") == 2  # node view: both calls


# ---- the same on real minikeras models ---------------------------------------------------


def real_big():
    """Two inputs, a Dense shared by both, a nested two-output model, two outputs."""
    import minikeras as mk
    from minikeras import layers as L

    a, b = mk.Input((4,), name="in_a"), mk.Input((4,), name="in_b")
    shared = L.Dense(3, activation="relu", name="shared")
    ha, hb = shared(a), shared(b)
    inner_in = mk.Input((3,), name="inner_in")
    d1 = L.Dense(2, name="d1")(inner_in)
    d2 = L.Dense(5, name="d2")(inner_in)
    inner = mk.Model(inner_in, [d1, d2], name="inner")
    o1, o2 = inner(ha)
    cat = L.Concatenate(name="cat")([o1, hb])
    out = L.Dense(1, activation="sigmoid", name="head")(cat)
    return mk.Model([a, b], [out, o2], name="outer")


def test_real_model_layer_view_node_view_and_expanded():
    model = real_big()
    s = dot_structure(model_to_dot(model, show_shapes=True))
    assert set(s.nodes) == {"in_a", "in_b", "shared", "inner", "cat", "head"}
    assert s.edges == {("in_a", "shared"), ("in_b", "shared"), ("shared", "inner"),
                       ("inner", "cat"), ("shared", "cat"), ("cat", "head")}
    assert s.nodes["shared"].endswith("{{(None, 4)}|{(None, 3)}}")
    assert "[(None, 2), (None, 5)]" in s.nodes["inner"]
    assert s.nodes["cat"].startswith("cat: Concatenate|")

    n = dot_structure(model_to_dot(model, node_view=True))
    inner_call = f"inner_ib-{len(model.get_layer('inner')._inbound_nodes) - 1}"
    assert {("in_a_ib-0", "shared_ib-0"), ("in_b_ib-0", "shared_ib-1"),
            ("shared_ib-0", inner_call), (inner_call, "cat_ib-0"),
            ("shared_ib-1", "cat_ib-0")} <= n.edges

    e = dot_structure(model_to_dot(model, expand_nested=True))
    assert e.clusters["cluster_inner"][1] == {"inner/inner_in", "inner/d1", "inner/d2"}
    assert {("shared", "inner/inner_in"), ("inner/d1", "cat")} <= e.edges
    assert ("inner/d2", "cat") not in e.edges


def test_real_shared_layer_with_two_shapes_reads_multiple():
    import minikeras as mk
    from minikeras import layers as L

    x, y = mk.Input((4,), name="x"), mk.Input((6,), name="y")
    act = L.Activation("relu", name="act")
    model = mk.Model([x, y], [act(x), act(y)], name="m")
    s = dot_structure(model_to_dot(model, show_shapes=True))
    assert s.nodes["act"].endswith("{{multiple}|{multiple}}")
    n = dot_structure(model_to_dot(model, show_shapes=True, node_view=True))
    assert "(None, 4)" in n.nodes["act_ib-0"] and "(None, 6)" in n.nodes["act_ib-1"]


def test_real_sequential_draws_its_input_layer():
    import minikeras as mk
    from minikeras import layers as L

    seq = mk.Sequential([L.Dense(4, input_shape=(3,), name="s1"), L.Dense(2, name="s2")],
                        name="seq")
    s = dot_structure(model_to_dot(seq))
    (inp,) = set(s.nodes) - {"s1", "s2"}
    assert s.edges == {(inp, "s1"), ("s1", "s2")}
    assert s.nodes[inp].endswith(": InputLayer")


def test_real_options_activation_and_trainable():
    model = real_big()
    model.get_layer("head").trainable = False
    graph = model_to_dot(model, show_layer_activations=True, show_trainable=True)
    s = dot_structure(graph)
    assert "activation: relu" in s.nodes["shared"] and "activation: sigmoid" in s.nodes["head"]
    assert "activation" not in s.nodes["cat"]
    assert "trainable: False" in s.nodes["head"] and "trainable: True" in s.nodes["shared"]
    assert "trainable" not in s.nodes["in_a"]  # no weights: nothing to train or freeze
    line = next(x for x in graph.source.splitlines() if x.strip().startswith("head "))
    assert "lightgrey" in line


def test_real_model_svg_and_layer_graph_inline_without_system_dot(no_system_dot, tmp_path):
    model = real_big()
    plot_model(model, to_file=tmp_path / "m.svg", expand_nested=True, show_shapes=True)
    texts = " ".join(svg_texts((tmp_path / "m.svg").read_text()))
    for name in ("in_a", "in_b", "shared", "inner_in", "d1", "d2", "cat", "head"):
        assert f"{name}:" in texts
    assert "inner" in svg_texts((tmp_path / "m.svg").read_text())  # the cluster's label
    # Model and layer.graph display inline through the engine's _repr_svg_
    assert "head: Dense" in " ".join(svg_texts(model._repr_svg_()))
    around = " ".join(svg_texts(model.get_layer("shared").graph._repr_svg_()))
    assert "shared: Dense" in around and "in_b: InputLayer" in around
    # model_to_dot accepts a plain layer: it draws the graph around it
    assert "in_a" in dot_structure(model_to_dot(model.get_layer("shared"))).nodes


def test_jupyter_shows_drawings_models_and_graphs_as_svg_without_system_dot(no_system_dot):
    formatters = pytest.importorskip("IPython.core.formatters")
    from minikeras.autograd import GradientTape, Variable

    fmt = formatters.DisplayFormatter()
    model = real_big()
    w = Variable([1.0, 2.0], name="w")
    with GradientTape() as tape:
        (w * w).sum()
    shown = [plot_model(model, to_file=None), model_to_dot(model), model,
             model.get_layer("shared").graph, tape]
    for obj in shown:
        data, _ = fmt.format(obj)
        assert "image/svg+xml" in data, type(obj).__name__
        svg_texts(data["image/svg+xml"])  # parses as SVG


def test_real_nested_sequential_expands_with_its_input_layer():
    import minikeras as mk
    from minikeras import layers as L

    seq = mk.Sequential([L.Dense(4, input_shape=(3,), name="s1"), L.Dense(2, name="s2")],
                        name="seq")
    x = mk.Input((3,), name="x")
    model = mk.Model(x, L.Dense(1, name="out")(seq(x)), name="m")
    s = dot_structure(model_to_dot(model, expand_nested=True))
    (inp,) = s.clusters["cluster_seq"][1] - {"seq/s1", "seq/s2"}
    assert s.edges == {("x", inp), (inp, "seq/s1"), ("seq/s1", "seq/s2"), ("seq/s2", "out")}
    assert dot_structure(model_to_dot(model)).edges == {("x", "seq"), ("seq", "out")}
    with pytest.raises(ValueError, match="not built"):
        model_to_dot(mk.Sequential([L.Dense(3)]))
