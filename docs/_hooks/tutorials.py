"""MkDocs hook: publish the notebooks of ``tutorials/`` as pages under ``tutorials/``.

The notebooks live in the repository's ``tutorials/`` folder, where students open them; MkDocs
only reads files inside ``docs/``. Rather than keeping copies or symlinks, this hook adds each
``tutorials/NN_*.ipynb`` to the site's files before the mkdocs-jupyter plugin looks at them
(hence the high priority), so the plugin renders them like any notebook in ``docs/``, without
executing them.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]


@event_priority(100)  # before mkdocs-jupyter's on_files, which wraps .ipynb files
def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add ``tutorials/NN_*.ipynb`` from the repository root to the site's files."""
    for notebook in sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.ipynb")):
        path = notebook.relative_to(ROOT).as_posix()
        if files.get_file_from_path(path) is None:
            files.append(File(path, str(ROOT), config.site_dir, config.use_directory_urls))
    return files
