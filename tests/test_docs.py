"""The documentation site builds in strict mode, and covers what it promises.

``mkdocs build --strict`` fails on any warning: a broken link, a page missing from the nav, a
reference mkdocstrings cannot resolve. The other tests keep the site honest without building it:
the set-up commands are the README's, and every public module has an API page.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import minikeras

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _readme_block(marker: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->\s*```sh\n(.*?)```", text, re.S)
    assert match, f"README.md has no <!-- {marker} --> block"
    return match.group(1).strip()


@pytest.mark.parametrize("marker", ["demo-command", "test-command"])
def test_getting_started_shows_the_readme_commands(marker):
    page = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    assert _readme_block(marker) in page


def _public_modules() -> list[str]:
    names = ["minikeras"]
    for info in pkgutil.walk_packages(minikeras.__path__, "minikeras."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def _documented_modules() -> set[str]:
    found = set()
    for page in (DOCS / "api").glob("*.md"):
        found.update(re.findall(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), re.M))
    return found


def test_every_public_module_has_an_api_section():
    missing = sorted(set(_public_modules()) - _documented_modules())
    assert not missing, f"no '::: module' in docs/api/ for: {missing}"


def test_every_exported_name_is_documented_where_it_is_defined():
    documented = _documented_modules()
    missing = []
    for name in _public_modules():
        module = importlib.import_module(name)
        for export in getattr(module, "__all__", []):
            obj = getattr(module, export)
            home = getattr(obj, "__module__", None)
            if home is None or not home.startswith("minikeras") or isinstance(obj, type(module)):
                continue  # constants, submodules, and names from outside minikeras
            if home not in documented:
                missing.append(f"{name}.{export} (defined in {home})")
    assert not missing, f"exported names without an API page: {missing}"


SCRIPT_SRC = re.compile(r"""<script\b[^>]*?\bsrc=["']([^"']*)["']""", re.I)
LINK = re.compile(r"<link\b[^>]*>", re.I)
LINK_HREF = re.compile(r"""\bhref=["']([^"']*)["']""", re.I)
LOADS = re.compile(
    r"""\brel=["'][^"']*\b(stylesheet|preconnect|preload|modulepreload|icon)\b""", re.I
)
REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*:)?//", re.I)  # http://, https://, protocol-relative //


def _check_scripts_ship_with_site(site: Path) -> None:
    """Every ``<script src>`` of every page is a file of the site: nothing comes from a CDN.

    Nor does any ``<link href>``: no stylesheet or web font from the network either.
    """
    remote, missing = [], []
    for page in sorted(site.rglob("*.html")):
        for src in SCRIPT_SRC.findall(page.read_text(encoding="utf-8")):
            if not src:
                continue  # nbconvert's empty MathJax placeholder in the tutorials loads nothing
            where = f"{page.relative_to(site)}: {src}"
            if REMOTE.match(src):
                remote.append(where)
                continue
            path = src.split("?")[0].split("#")[0]
            # 404.html is served from any depth, so MkDocs writes its URLs from the site root
            target = site / path.lstrip("/") if path.startswith("/") else page.parent / path
            if not target.is_file():
                missing.append(where)
        for link in LINK.findall(page.read_text(encoding="utf-8")):
            href = LINK_HREF.search(link)
            # stylesheets and web fonts (Google Fonts' preconnect); a canonical URL is no load
            if LOADS.search(link) and href and REMOTE.match(href.group(1)):
                remote.append(f"{page.relative_to(site)}: {href.group(1)}")
    assert not remote, f"loaded from the network at run time: {sorted(set(remote))[:10]}"
    assert not missing, f"scripts missing from the built site: {missing[:10]}"


def _check_mathjax_ships(site: Path) -> None:
    """Pages with formulas load the MathJax shipped by docs/_hooks/mathjax.py, by a relative URL."""
    for page, loader in [
        ("how-to/add-an-op/index.html", "../../assets/mathjax/MathJax.js"),  # arithmatex
        ("tutorials/01_tensors_and_the_tape/index.html", "../../assets/mathjax/MathJax.js"),
        ("index.html", "assets/mathjax/MathJax.js"),
    ]:
        assert loader in SCRIPT_SRC.findall((site / page).read_text(encoding="utf-8")), page
    mathjax = site / "assets" / "mathjax"
    assert (mathjax / "config" / "TeX-AMS-MML_HTMLorMML-full.js").is_file()
    assert (mathjax / "jax/output/HTML-CSS/fonts/STIX-Web/fontdata.js").is_file()
    size = sum(f.stat().st_size for f in mathjax.rglob("*") if f.is_file())
    assert size < 4_000_000, f"the shipped MathJax grew to {size} bytes"


# nbconvert's classes for a picture output (a PNG from matplotlib, an SVG from plot_model or
# plot_tape); the copy buttons' icons are SVGs too, so plain <svg> tags do not count
PICTURE = re.compile(r'class="jp-Rendered(Image|SVG)\b')


def _check_tutorials_show_their_pictures(site: Path) -> None:
    """Every tutorial page shows executed outputs, pictures among them (the notebooks are
    committed executed; a page of empty ``In [ ]:`` cells fails here)."""
    for notebook in sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.ipynb")):
        html = (site / "tutorials" / notebook.stem / "index.html").read_text(encoding="utf-8")
        assert 'class="jp-Cell-outputWrapper"' in html, f"tutorial {notebook.name}: no output"
        assert PICTURE.search(html), f"tutorial {notebook.name} shows no picture"


def _check_the_two_graphs(site: Path) -> None:
    """The home and design pages show the layer graph and the tape, drawn at build time."""
    for name in ("layer_graph.svg", "tape.svg"):
        drawing = (site / "assets" / "graphs" / name).read_text(encoding="utf-8")
        assert "<svg" in drawing and "</svg>" in drawing, name
    assert "shared" in (site / "assets" / "graphs" / "layer_graph.svg").read_text("utf-8")
    assert "Tanh" in (site / "assets" / "graphs" / "tape.svg").read_text("utf-8")
    for page, prefix in (("index.html", ""), ("explanation/design/index.html", "../../")):
        html = (site / page).read_text(encoding="utf-8")
        for name in ("layer_graph.svg", "tape.svg"):
            assert f'src="{prefix}assets/graphs/{name}"' in html, (page, name)


def _check_cells_stay_in_the_column(site: Path) -> None:
    """The stylesheet that keeps code cells and pictures inside the page is linked and loaded."""
    css = (site / "stylesheets" / "extra.css").read_text(encoding="utf-8")
    assert "overflow-x: auto" in css and "max-width: 100%" in css
    page = (site / "tutorials" / "01_tensors_and_the_tape" / "index.html").read_text("utf-8")
    assert "stylesheets/extra.css" in page


def test_mkdocs_build_strict(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-10000:]
    # the pages that matter were written, with their content
    assert "minikeras" in (site / "index.html").read_text(encoding="utf-8")
    for notebook in sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.ipynb")):
        page = site / "tutorials" / notebook.stem / "index.html"
        assert page.exists(), f"tutorial {notebook.name} was not rendered"
    api = (site / "api" / "autograd" / "index.html").read_text(encoding="utf-8")
    assert "minikeras.autograd.tape.GradientTape" in api
    assert (site / "how-to" / "add-an-op" / "index.html").exists()
    assert (site / "explanation" / "design" / "index.html").exists()
    # formulas render offline: MathJax ships with the site, and no page loads a script from a CDN
    _check_mathjax_ships(site)
    _check_scripts_ship_with_site(site)
    # every output on the site: executed tutorials with pictures, and the two graphs
    _check_tutorials_show_their_pictures(site)
    _check_the_two_graphs(site)
    _check_cells_stay_in_the_column(site)
