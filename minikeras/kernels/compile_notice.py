"""One line on stderr while kernels compile, so a first run does not look frozen.

The first call of a kernel in a fresh environment compiles it (0.2-1.5 s each; the README example
needs about ten), and numba's on-disk cache makes every later run skip that. A student in a fresh
notebook would otherwise stare at a silent cell, so the first compilation in a process writes::

    minikeras: compiling the convolution kernels once (a few seconds; cached for later runs)...

and, once that has taken more than a second, a dot every half second, then ``done (2.4 s)`` and
the end of the line when no kernel has compiled for a moment. Kernels loaded from the cache compile
nothing, so a warm run prints nothing. ``MINIKERAS_COMPILE_NOTICE=0`` silences the line.

How: numba announces every real compilation (never a cache load) as a ``numba:compile`` event;
:func:`install` registers a listener that keeps count of those of minikeras's kernels (nested ones,
a kernel's callees, count once) and a small daemon thread that draws the dots and ends the line.
The thread exists only while compiling. Code that prints (``fit``'s epoch lines) calls
:func:`end_line` first, so its text never lands on the end of this line. This module does not
import numba (``install`` is handed numba's event module), so such callers can import it freely.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from types import ModuleType
from typing import Any, TextIO

MESSAGE = (
    "minikeras: compiling the convolution kernels once (a few seconds; cached for later runs)..."
)

#: Seconds of compilation before progress dots appear, and between two dots.
PROGRESS_AFTER = 1.0
TICK = 0.5
#: The line ends once no kernel has compiled for this long. The kernels of one training step
#: compile one after the other with a millisecond or so of running in between; a longer wait
#: would let the output that follows (the end of the first epoch of the README example comes
#: ~0.1 s after its last compilation) land on this line.
IDLE = 0.05


class CompileNotice:
    """What to do on numba's ``numba:compile`` events: draw the notice line.

    Args:
        stream: Where to write; ``None`` means ``sys.stderr`` at the time of writing (so
            Jupyter's and pytest's replacements are honoured).
        prefix: Only functions whose module starts with this are announced.
    """

    def __init__(self, stream: TextIO | None = None, prefix: str = "minikeras.") -> None:
        self._stream = stream
        self._prefix = prefix
        self._lock = threading.Lock()
        self._depth = 0  # compilations in progress (a kernel's callees compile inside it)
        self._kernels = 0  # top-level compilations in this line
        self._started = 0.0  # when this line began
        self._last_end = 0.0
        self._ticker: threading.Thread | None = None
        #: Kernels compiled in this process so far (top-level compilations).
        self.compiled = 0
        #: When true, count but write nothing (``python -m minikeras.kernels.warmup`` reports
        #: its own progress).
        self.quiet = False

    def _ours(self, ev: Any) -> bool:
        dispatcher = (ev.data or {}).get("dispatcher")
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        return module.startswith(self._prefix)

    def _write(self, text: str) -> None:
        stream = self._stream or sys.stderr
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must never stop a kernel
            pass

    def on_start(self, ev: Any) -> None:
        """A compilation starts: open the line (and start the ticker) if none is open."""
        if not self._ours(ev):
            return
        with self._lock:
            self._depth += 1
            if self._ticker is None and not self.quiet:
                self._started = time.perf_counter()
                self._kernels = 0
                self._write(MESSAGE)
                self._ticker = threading.Thread(
                    target=self._tick, name="minikeras-compile-notice", daemon=True
                )
                self._ticker.start()

    def on_end(self, ev: Any) -> None:
        """A compilation ends: count it if it was a kernel, not one of a kernel's callees."""
        if not self._ours(ev):
            return
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._kernels += 1
                self.compiled += 1
                self._last_end = time.perf_counter()

    def _tick(self) -> None:
        next_dot = self._started + PROGRESS_AFTER
        while True:
            time.sleep(IDLE / 2)
            with self._lock:
                now = time.perf_counter()
                if self._ticker is None:  # closed by close()
                    return
                if self._depth == 0 and now - self._last_end >= IDLE:
                    self._write(f" done ({self._last_end - self._started:.1f} s)\n")
                    self._ticker = None
                    return
                if now >= next_dot:
                    self._write(".")
                    next_dot = now + TICK

    def close(self) -> None:
        """End an open line now (at exit: the daemon thread would die before it can)."""
        with self._lock:
            if self._ticker is not None:
                self._write(f" done ({time.perf_counter() - self._started:.1f} s)\n")
                self._ticker = None

    def wait(self, timeout: float = 5.0) -> None:
        """Block until the current line (if any) has ended; for tests and scripts."""
        ticker = self._ticker
        if ticker is not None:
            ticker.join(timeout)


_installed: CompileNotice | None = None


def install(event: ModuleType) -> CompileNotice | None:
    """Register the notice once per process, unless ``MINIKERAS_COMPILE_NOTICE=0``.

    Args:
        event: ``numba.core.event`` (passed in, so that this module does not import numba).

    Returns:
        The notice, or ``None`` when silenced.
    """
    global _installed
    if _installed is None and os.environ.get("MINIKERAS_COMPILE_NOTICE", "1") != "0":
        notice = CompileNotice()

        class _Listener(event.Listener):
            def on_start(self, ev: Any) -> None:
                notice.on_start(ev)

            def on_end(self, ev: Any) -> None:
                notice.on_end(ev)

        event.register("numba:compile", _Listener())
        atexit.register(notice.close)
        _installed = notice
    return _installed


def installed() -> CompileNotice | None:
    """The notice :func:`install` registered, or ``None`` (not yet, or silenced)."""
    return _installed


def end_line() -> None:
    """End the notice line now if one is open; call before printing a line of your own."""
    if _installed is not None:
        _installed.close()
