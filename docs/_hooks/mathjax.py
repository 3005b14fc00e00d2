"""MkDocs hook: ship MathJax with the site, so formulas render without a network.

Nothing is downloaded when the site is read: MathJax comes from the ``jupyter-server-mathjax``
package (MathJax 2.7, installed with the ``docs`` extra), and this hook adds the few of its
files that the pages use to the site under ``assets/mathjax/``. ``mkdocs.yml`` loads
``assets/mathjax/MathJax.js`` through ``extra_javascript``, which MkDocs makes relative to each
page, so the site also works opened from disk or served from any sub-path.

What is shipped (see ``SHIPPED``): the loader, the combined TeX + AMS + HTML-CSS configuration,
the HTML-CSS output's font metrics and lazily loaded parts, the STIX web fonts it draws with,
and the operator tables and menu extensions MathJax fetches on demand. The package's other
files (localisations, MathML and AsciiMath inputs, image fonts, the SVG fonts without their
output jax) are left out.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

PACKAGE = "jupyter_server_mathjax"
DEST = "assets/mathjax"

# paths inside the package's static/ folder; a folder means every file below it
SHIPPED = (
    "LICENSE",
    "MathJax.js",
    "config/TeX-AMS-MML_HTMLorMML-full.js",
    "jax/output/HTML-CSS",
    "jax/element/mml/optable",
    "fonts/HTML-CSS/STIX-Web/woff",
    "extensions/MathMenu.js",  # the right-click menu, its help and zoom: loaded on use
    "extensions/HelpDialog.js",
    "extensions/MathZoom.js",
)


def mathjax_root() -> Path:
    """The static/ folder of the installed package (found without importing it)."""
    spec = find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PluginError(
            f"MathJax for the docs comes from the {PACKAGE.replace('_', '-')} package: "
            "install the docs extra (pip install -e '.[docs]')"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def shipped_files(root: Path) -> list[Path]:
    """Every file of ``SHIPPED``, as absolute paths under ``root``."""
    found = []
    for rel in SHIPPED:
        path = root / rel
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        else:
            raise PluginError(f"{PACKAGE} has no static/{rel}: has its layout changed?")
    return found


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the MathJax files to the site, under ``assets/mathjax/``."""
    root = mathjax_root()
    for path in shipped_files(root):
        uri = f"{DEST}/{path.relative_to(root).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
