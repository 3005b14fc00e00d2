"""``Progbar``: Keras 2's progress bar for hand-written training loops, drawn by tqdm.

Example:
    >>> from minikeras.utils.progbar import Progbar
    >>> bar = Progbar(target=len(batches))
    >>> for i, (x, y) in enumerate(batches):
    ...     loss = train_step(x, y)
    ...     bar.update(i + 1, values=[("loss", loss)])
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["Progbar", "live_bar"]


def live_bar(**options: Any) -> Any:
    """A tqdm progress bar: a widget in Jupyter, a text line in a terminal.

    The one place minikeras makes a bar (``Progbar`` and ``fit``'s progress both use it).

    Args:
        **options: ``tqdm``'s arguments (``total``, ``desc``, ``unit``...).
    """
    # deferred: tqdm.auto costs ~50 ms to import (it looks for Jupyter), a fifth of
    # `import minikeras`, and only a live bar needs it
    from tqdm.auto import tqdm

    return tqdm(**options)


class Progbar:
    """A progress bar with running averages of the values passed to :meth:`update`.

    Values are averaged over the steps seen, weighted by the step size, as in
    Keras 2; names in ``stateful_metrics`` are shown as given instead.

    Args:
        target: Total number of steps (``None`` if unknown).
        width: Kept for Keras compatibility (tqdm sizes the bar itself).
        verbose: 0 silent, 1 live bar (``tqdm.auto``: a widget in Jupyter),
            2 one line when the target is reached.
        interval: Minimum seconds between redraws.
        stateful_metrics: Names whose values are shown as they are, not averaged.
        unit_name: The unit shown in the bar.
    """

    def __init__(self, target: int | None, width: int = 30, verbose: int = 1,
                 interval: float = 0.05, stateful_metrics: Iterable[str] | None = None,
                 unit_name: str = "step") -> None:
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.stateful_metrics = set(stateful_metrics or ())
        self.unit_name = unit_name
        self._sums: dict[str, list[float]] = {}
        self._order: list[str] = []
        self._seen = 0
        self._bar = None
        if verbose == 1:
            self._bar = live_bar(total=target, unit=unit_name, mininterval=interval,
                                 dynamic_ncols=True, file=sys.stderr)

    def _values_text(self) -> str:
        parts = []
        for k in self._order:
            total, count = self._sums[k]
            v = total if k in self.stateful_metrics else total / max(count, 1)
            parts.append(f"{k}: {v:.4f}" if abs(v) >= 1e-3 else f"{k}: {v:.4e}")
        return " - ".join(parts)

    def update(self, current: int, values: list[tuple[str, Any]] | None = None) -> None:
        """Move to step ``current`` and fold in ``values`` (a list of ``(name, value)``)."""
        step = max(current - self._seen, 1)
        for k, v in values or []:
            v = float(v)
            if k not in self._sums:
                self._order.append(k)
                self._sums[k] = [0.0, 0]
            if k in self.stateful_metrics:
                self._sums[k] = [v, 1]
            else:
                self._sums[k][0] += v * step
                self._sums[k][1] += step
        if self._bar is not None:
            self._bar.update(current - self._seen)
            self._bar.set_postfix_str(self._values_text(), refresh=False)
            if self.target is not None and current >= self.target:
                self._bar.close()
        elif self.verbose == 2 and self.target is not None and current >= self.target:
            print(f"{current}/{self.target} - {self._values_text()}", flush=True)
        self._seen = current

    def add(self, n: int, values: list[tuple[str, Any]] | None = None) -> None:
        """Advance by ``n`` steps."""
        self.update(self._seen + n, values)
