"""Callbacks: hooks ``fit`` calls at the start and end of training, epochs and batches.

The order and the log dictionaries are Keras 2's. ``fit`` builds the list
``[BaseLogger, ProgbarLogger (if verbose), *your callbacks, History]``, so by
the time your ``on_epoch_end`` runs, ``logs`` already holds the epoch
averages (``loss``, metrics, and ``val_*`` after validation).

Example:
    >>> from minikeras import callbacks
    >>> stop = callbacks.EarlyStopping(monitor="val_loss", patience=3,
    ...                                restore_best_weights=True)
    >>> save = callbacks.ModelCheckpoint("best.npz", save_best_only=True)
    >>> model.fit(x, y, validation_split=0.2, epochs=50, callbacks=[stop, save])
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from minikeras.kernels.compile_notice import end_line
from minikeras.utils.progbar import live_bar

__all__ = [
    "Logs", "Callback", "CallbackList", "BaseLogger", "History", "ProgbarLogger", "EarlyStopping",
    "ModelCheckpoint", "LearningRateScheduler", "ReduceLROnPlateau", "CSVLogger",
    "LambdaCallback", "TerminateOnNaN", "RemoteMonitor",
]


class Logs(dict):
    """A log dictionary that also answers to the other spelling of a metric's name.

    ``fit`` logs Keras 2.0's names (``acc``, ``val_acc``, ``mean_squared_error`` for
    ``metrics=["mse"]``, ``<output>_acc`` for several outputs). Code written for modern
    Keras asks for ``accuracy``, ``val_accuracy`` or ``mse``: those names are *aliases*,
    resolved on lookup (``logs["val_accuracy"]``, ``.get``, ``in``, and writing through an
    alias writes the logged entry). Iterating, ``keys()``, ``items()`` and ``len`` see each
    value once, under its logged name, so progress bars and CSV files have no duplicate
    columns.

    Args:
        *args: As for ``dict``.
        aliases: ``{alias: logged name}``.
        **kwargs: As for ``dict``.
    """

    def __init__(self, *args: Any, aliases: dict[str, str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases: dict[str, str] = dict(aliases or {})

    def _key(self, key: Any) -> Any:
        if not dict.__contains__(self, key):
            return self.aliases.get(key, key)
        return key

    def __getitem__(self, key: Any) -> Any:
        return dict.__getitem__(self, self._key(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, self._key(key), value)

    def __contains__(self, key: Any) -> bool:
        return dict.__contains__(self, self._key(key))

    def get(self, key: Any, default: Any = None) -> Any:
        """``self[key]`` (an alias resolves) or ``default``."""
        return dict.get(self, self._key(key), default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """As ``dict.setdefault``, through the aliases."""
        return dict.setdefault(self, self._key(key), default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """As ``dict.update``, through the aliases (an alias updates the logged entry)."""
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def pop(self, key: Any, *default: Any) -> Any:
        """As ``dict.pop``, through the aliases."""
        return dict.pop(self, self._key(key), *default)

    def copy(self) -> Logs:
        """A shallow copy that keeps the aliases."""
        return Logs(self, aliases=self.aliases)


class Callback:
    """Base class: override any of the ``on_*`` methods.

    Attributes:
        model: The model being trained (set by ``fit``).
        params: ``{'epochs', 'steps', 'samples', 'batch_size', 'verbose',
            'do_validation', 'metrics'}``.
        validation_data: Set by ``fit`` when it validates, as Keras 2: the list
            ``[x arrays..., y arrays..., sample weight arrays...]`` (a weight array of
            ones for an output without weights); ``None`` otherwise.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}
        self.validation_data: list | None = None

    def set_params(self, params: dict[str, Any]) -> None:
        """Receive the training parameters."""
        self.params = params

    def set_model(self, model: Any) -> None:
        """Receive the model."""
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Called once before the first epoch."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """Called once after the last epoch."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the start of each epoch (``epoch`` counts from 0)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the end of each epoch with the epoch's averaged logs."""

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each training batch; ``logs`` has ``batch`` and ``size``."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each training batch; ``logs`` has the batch's loss and metrics."""

    # Keras 2.3 names for the same hooks
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Alias hook of :meth:`on_batch_begin` (Keras 2.3)."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Alias hook of :meth:`on_batch_end` (Keras 2.3)."""
        self.on_batch_end(batch, logs)


class CallbackList:
    """A list of callbacks called in order.

    Only callbacks that override a batch hook are called per batch, so an
    epoch-level callback costs nothing per step.
    """

    def __init__(self, callbacks: Iterable[Callback] | None = None,
                 queue_length: int = 10) -> None:
        self.callbacks = list(callbacks or [])
        self.queue_length = queue_length  # Keras 2's argument (its slow-callback statistics)
        self._refresh()

    def _refresh(self) -> None:
        def overrides(cb: Callback, name: str) -> bool:
            return name in vars(cb) or getattr(type(cb), name) is not getattr(Callback, name)

        self._batch_begin = [cb for cb in self.callbacks
                             if overrides(cb, "on_batch_begin")
                             or overrides(cb, "on_train_batch_begin")]
        self._batch_end = [cb for cb in self.callbacks
                           if overrides(cb, "on_batch_end")
                           or overrides(cb, "on_train_batch_end")]

    def append(self, callback: Callback) -> None:
        """Add a callback at the end."""
        self.callbacks.append(callback)
        self._refresh()

    @property
    def wants_batch_logs(self) -> bool:
        """Whether any callback looks at per-batch hooks."""
        return bool(self._batch_begin or self._batch_end)

    def set_params(self, params: dict[str, Any]) -> None:
        """Pass the training parameters to every callback."""
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model: Any) -> None:
        """Pass the model to every callback."""
        for cb in self.callbacks:
            cb.set_model(model)

    def on_train_begin(self, logs: dict | None = None) -> None:  # noqa: D102
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: dict | None = None) -> None:  # noqa: D102
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:  # noqa: D102
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:  # noqa: D102
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:  # noqa: D102
        for cb in self._batch_begin:
            cb.on_train_batch_begin(batch, logs)

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:  # noqa: D102
        for cb in self._batch_end:
            cb.on_train_batch_end(batch, logs)

    def __iter__(self):
        return iter(self.callbacks)


class BaseLogger(Callback):
    """Averages the batch logs over the epoch, weighted by batch size (always added first)."""

    def on_epoch_begin(self, epoch, logs=None):  # noqa: D102
        self.seen = 0
        self.totals: dict[str, float] = {}

    def on_batch_end(self, batch, logs=None):  # noqa: D102
        logs = logs or {}
        size = logs.get("size", 0)
        self.seen += size
        for k, v in logs.items():
            if k in ("batch", "size"):
                continue
            self.totals[k] = self.totals.get(k, 0.0) + v * size

    def on_epoch_end(self, epoch, logs=None):  # noqa: D102
        if logs is None or not self.seen:
            return
        for k in self.params.get("metrics", self.totals):
            if k in self.totals:
                logs[k] = self.totals[k] / self.seen


class History(Callback):
    """Records each epoch's logs; ``fit`` returns it.

    Attributes:
        epoch: The epoch indices seen.
        history: ``{name: [value per epoch]}`` under the logged names (Keras 2.0's,
            e.g. ``acc``); a :class:`Logs`, so ``history["accuracy"]`` finds ``acc`` too.
    """

    def on_train_begin(self, logs=None):  # noqa: D102
        self.epoch: list[int] = []
        self.history: Logs = Logs()

    def on_epoch_end(self, epoch, logs=None):  # noqa: D102
        self.epoch.append(epoch)
        self.history.aliases.update(getattr(logs, "aliases", {}))
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def _format_logs(logs: dict, keys: Iterable[str]) -> str:
    parts = []
    for k in keys:
        if k in logs:
            v = logs[k]
            parts.append(f"{k}: {v:.4f}" if isinstance(v, (float, np.floating)) else f"{k}: {v}")
    return " - ".join(parts)


def _dynamic_display() -> bool:
    """Whether a live bar will render: a terminal, or a Jupyter kernel."""
    ipython = sys.modules.get("IPython")
    if ipython is not None:  # a Jupyter kernel, not just a process that imported ipykernel
        try:
            shell = ipython.get_ipython()
        except Exception:  # noqa: BLE001 - any failure means "not in a kernel"
            shell = None
        if shell is not None and getattr(shell, "kernel", None) is not None:
            return True
    stream = sys.stderr
    return hasattr(stream, "isatty") and stream.isatty()


class ProgbarLogger(Callback):
    """Progress output: a tqdm bar per epoch at ``verbose=1``, one line per epoch at 2.

    At ``verbose=1`` the bar is ``tqdm.auto`` (a widget in Jupyter, a text bar
    in a terminal). When the output is not a terminal (a log file, CI) a bar
    would fill the log with carriage returns, so one line per epoch is
    printed instead.

    Args:
        verbose: 1 (bar) or 2 (one line per epoch).
        file: Where the epoch lines go (default ``sys.stdout``).
    """

    def __init__(self, verbose: int = 1, file: Any = None) -> None:
        super().__init__()
        self.verbose = verbose
        self.file = file
        self._bar = None

    def _print(self, text: str) -> None:
        end_line()  # a "compiling the kernels..." line still open must not get this text
        print(text, file=self.file or sys.stdout, flush=True)

    def on_train_begin(self, logs=None):  # noqa: D102
        self.epochs = self.params.get("epochs", 1)
        self.use_bar = self.verbose == 1 and self.file is None and _dynamic_display()

    def on_epoch_begin(self, epoch, logs=None):  # noqa: D102
        self._start = time.perf_counter()
        self.seen = 0
        self._totals: dict[str, float] = {}
        if self.use_bar:
            self._bar = live_bar(total=self.params.get("samples") or self.params.get("steps"),
                                 desc=f"Epoch {epoch + 1}/{self.epochs}", unit="sample",
                                 leave=True, dynamic_ncols=True, mininterval=0.1)
            self._next_postfix = 0.0
        elif self.verbose == 1:
            self._print(f"Epoch {epoch + 1}/{self.epochs}")

    def on_batch_end(self, batch, logs=None):  # noqa: D102
        if self._bar is None:
            return
        size = logs.get("size", 1)
        self.seen += size
        for k in self.params.get("metrics", ()):
            if k in logs:
                self._totals[k] = self._totals.get(k, 0.0) + logs[k] * size
        self._bar.update(size)
        now = time.perf_counter()
        if now >= self._next_postfix:  # formatting the postfix costs more than a small step
            self._next_postfix = now + 0.2
            self._bar.set_postfix_str(
                _format_logs({k: v / self.seen for k, v in self._totals.items()}, self._totals),
                refresh=False,
            )

    def on_epoch_end(self, epoch, logs=None):  # noqa: D102
        logs = logs or {}
        keys = [k for k in self.params.get("metrics", ()) if k in logs]
        keys += [k for k in logs if k not in keys and k != "lr"]
        elapsed = time.perf_counter() - self._start
        if self._bar is not None:
            self._bar.set_postfix_str(_format_logs(logs, keys), refresh=False)
            self._bar.close()
            self._bar = None
            return
        prefix = f"Epoch {epoch + 1}/{self.epochs} - " if self.verbose == 2 else ""
        self._print(f"{prefix}{elapsed:.2f}s - {_format_logs(logs, keys)}")

    def on_train_end(self, logs=None):  # noqa: D102
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class TerminateOnNaN(Callback):
    """Stop training when a batch loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):  # noqa: D102
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


def _monitor_op(mode: str, monitor: str, who: str) -> Callable[[float, float], bool]:
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{who}: mode {mode!r} is unknown, falling back to 'auto'", stacklevel=3)
        mode = "auto"
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.startswith("fmeasure")) else "min"
    return np.greater if mode == "max" else np.less


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving.

    Args:
        monitor: Log key to watch (default ``"val_loss"``).
        min_delta: Smallest change that counts as an improvement.
        patience: Epochs without improvement before stopping.
        verbose: Print a line when stopping.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max when the name contains ``acc``).
        baseline: Value the quantity must beat; training stops if it does not
            within ``patience`` epochs.
        restore_best_weights: Put back the weights of the best epoch when stopping.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False) -> None:
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.monitor_op = _monitor_op(mode, monitor, "EarlyStopping")
        self.min_delta = abs(min_delta) if self.monitor_op is np.greater else -abs(min_delta)
        self.best_weights = None

    def on_train_begin(self, logs=None):  # noqa: D102
        self.wait = 0
        self.stopped_epoch = 0
        if self.baseline is not None:
            self.best = self.baseline
        else:
            self.best = -np.inf if self.monitor_op is np.greater else np.inf

    def on_epoch_end(self, epoch, logs=None):  # noqa: D102
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"EarlyStopping: monitor {self.monitor!r} is not in the logs; available: "
                f"{', '.join(sorted(logs or {}))}", RuntimeWarning, stacklevel=2)
            return
        if self.monitor_op(current - self.min_delta, self.best):
            self.best = current
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                if self.restore_best_weights and self.best_weights is not None:
                    if self.verbose > 0:
                        print("Restoring model weights from the end of the best epoch")
                    self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):  # noqa: D102
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1:05d}: early stopping")


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after epochs; optionally only the best one.

    Each save is atomic: the file is written under a temporary name in the
    same directory and then renamed over ``filepath``, so an interrupted run
    never leaves a half-written checkpoint.

    Args:
        filepath: Path, may contain format fields filled from the epoch
            (counted from 1) and the logs, e.g. ``"w-{epoch:02d}-{val_loss:.2f}.npz"``.
        monitor: Log key compared when ``save_best_only``.
        verbose: Print a line per save.
        save_best_only: Only save when ``monitor`` improved.
        save_weights_only: ``model.save_weights`` instead of ``model.save``.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        period: Epochs between checkpoints.
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", period: int = 1) -> None:
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.period = period
        self.monitor_op = _monitor_op(mode, monitor, "ModelCheckpoint")
        self.best = -np.inf if self.monitor_op is np.greater else np.inf
        self.epochs_since_last_save = 0

    def on_epoch_end(self, epoch, logs=None):  # noqa: D102
        logs = logs or {}
        self.epochs_since_last_save += 1
        if self.epochs_since_last_save < self.period:
            return
        self.epochs_since_last_save = 0
        try:
            # format_map through Logs: "{val_accuracy:.2f}" finds the logged val_acc too
            filepath = self.filepath.format_map(
                Logs(logs, aliases=getattr(logs, "aliases", None), epoch=epoch + 1))
        except KeyError as e:
            raise KeyError(
                f"ModelCheckpoint: filepath {self.filepath!r} uses {e} which is not in the logs "
                f"(available: epoch, {', '.join(sorted(logs))})"
            ) from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(
                    f"ModelCheckpoint: can save best model only with {self.monitor!r} in the "
                    f"logs, skipping", RuntimeWarning, stacklevel=2)
                return
            if not self.monitor_op(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1:05d}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1:05d}: {self.monitor} improved from {self.best:.5f} "
                      f"to {current:.5f}, saving model to {filepath}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1:05d}: saving model to {filepath}")
        self._save(filepath)

    def _save(self, filepath: str) -> None:
        directory = os.path.dirname(os.path.abspath(filepath))
        base = os.path.basename(filepath)
        suffix = "".join(s for s in os.path.splitext(base)[1:])  # keep the format extension
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{suffix}", dir=directory)
        os.close(fd)
        try:
            if self.save_weights_only:
                self.model.save_weights(tmp)
            else:
                self.model.save(tmp)
            # numpy's savez appends ".npz" to a name without it; take whichever was written
            written = tmp + ".npz" if os.path.exists(tmp + ".npz") else tmp
            with open(written, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(written, filepath)
        finally:
            for leftover in (tmp, tmp + ".npz"):
                if os.path.exists(leftover):
                    os.remove(leftover)


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of every epoch.

    Args:
        schedule: ``schedule(epoch, lr) -> new lr`` (or the older
            ``schedule(epoch)``), ``epoch`` counted from 0.
        verbose: Print the new rate.
    """

    def __init__(self, schedule: Callable, verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):  # noqa: D102
        optimizer = self.model.optimizer
        lr = float(optimizer.lr)
        try:
            new_lr = self.schedule(epoch, lr)
        except TypeError:  # the one-argument form of Keras 2.0
            new_lr = self.schedule(epoch)
        if not isinstance(new_lr, (float, int, np.floating, np.integer)) or \
                isinstance(new_lr, bool) or not np.isfinite(new_lr):
            raise ValueError(
                f"LearningRateScheduler: the schedule must return a finite float, got {new_lr!r}"
            )
        optimizer.lr = float(new_lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1:05d}: LearningRateScheduler setting learning rate to "
                  f"{new_lr}.")

    def on_epoch_end(self, epoch, logs=None):  # noqa: D102
        if logs is not None:
            logs["lr"] = float(self.model.optimizer.lr)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when a quantity stops improving.

    Args:
        monitor: Log key to watch.
        factor: Multiplier of the rate, ``< 1``.
        patience: Epochs without improvement before reducing.
        verbose: Print a line on each reduction.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
        min_delta: Smallest change that counts as an improvement.
        epsilon: Keras 2.0's name for ``min_delta`` (give one of the two).
        cooldown: After a reduction, epochs during which no waiting is counted
            (Keras 2 counts again in the last of them, so ``cooldown=1`` has no
            effect).
        min_lr: Lower bound of the rate.

    Raises:
        ValueError: If ``factor >= 1``.
        TypeError: If both ``min_delta`` and ``epsilon`` are given.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float | None = None,
                 cooldown: int = 0, min_lr: float = 0.0, epsilon: float | None = None) -> None:
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        if min_delta is not None and epsilon is not None:
            raise TypeError("ReduceLROnPlateau: give min_delta or epsilon (its Keras 2.0 name), "
                            "not both")
        if min_delta is None:
            min_delta = 1e-4 if epsilon is None else epsilon
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = patience
        self.verbose = verbose
        self.min_delta = float(min_delta)
        self.epsilon = self.min_delta  # Keras 2.0's attribute name
        self.cooldown = cooldown
        self.min_lr = float(min_lr)
        self.maximize = _monitor_op(mode, monitor, "ReduceLROnPlateau") is np.greater
        self._reset()

    def _reset(self) -> None:
        self.best = -np.inf if self.maximize else np.inf
        self.wait = 0
        self.cooldown_counter = 0

    def _improved(self, current: float) -> bool:
        if self.maximize:
            return current > self.best + self.min_delta
        return current < self.best - self.min_delta

    def on_train_begin(self, logs=None):  # noqa: D102
        self._reset()

    def on_epoch_end(self, epoch, logs=None):  # noqa: D102
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["lr"] = float(optimizer.lr)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"ReduceLROnPlateau: monitor {self.monitor!r} is not in the logs; available: "
                f"{', '.join(sorted(logs))}", RuntimeWarning, stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        # checked after the decrement, as Keras 2 does: the last cooldown epoch counts again
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(optimizer.lr)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    optimizer.lr = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1:05d}: ReduceLROnPlateau reducing learning "
                              f"rate to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` then the log keys in sorted order.

    Args:
        filename: The CSV file.
        separator: Field separator.
        append: Append to an existing file instead of overwriting it.
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",",
                 append: bool = False) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys: list[str] | None = None
        self._file = None
        self._writer = None

    def on_train_begin(self, logs=None):  # noqa: D102
        has_header = self.append and os.path.exists(self.filename) and \
            os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="",  # noqa: SIM115
                          encoding="utf-8")
        self._has_header = has_header
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):  # noqa: D102
        logs = dict(logs or {})
        if self.keys is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *self.keys],
                                          delimiter=self.sep, extrasaction="ignore")
            if not self._has_header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update({k: logs.get(k, "NA") for k in self.keys})
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):  # noqa: D102
        if self._file is not None:
            self._file.close()
            self._file = None


class LambdaCallback(Callback):
    """A callback made from plain functions.

    Args:
        on_epoch_begin: ``f(epoch, logs)``.
        on_epoch_end: ``f(epoch, logs)``.
        on_batch_begin: ``f(batch, logs)``.
        on_batch_end: ``f(batch, logs)``.
        on_train_begin: ``f(logs)``.
        on_train_end: ``f(logs)``.
    """

    def __init__(self, on_epoch_begin: Callable | None = None,
                 on_epoch_end: Callable | None = None, on_batch_begin: Callable | None = None,
                 on_batch_end: Callable | None = None, on_train_begin: Callable | None = None,
                 on_train_end: Callable | None = None) -> None:
        super().__init__()
        # Assign only the hooks given, so CallbackList skips the per-batch ones otherwise.
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_batch_begin", on_batch_begin), ("on_batch_end", on_batch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end)):
            if fn is not None:
                setattr(self, name, fn)


class RemoteMonitor(Callback):
    """Send each epoch's logs to a server as an HTTP POST (Keras 2.0.8's callback).

    After every epoch, ``{'epoch': epoch, **logs}`` is encoded as JSON and posted,
    form-encoded under ``field``, to ``root + path``. An unreachable server gives a
    warning, not an error, so training goes on. Python's standard library does the
    request (Keras 2 used ``requests``).

    Args:
        root: The server's root URL.
        path: Path, relative to ``root``, the events are sent to.
        field: Form field holding the JSON.
        headers: Extra HTTP headers.
    """

    def __init__(self, root: str = "http://localhost:9000", path: str = "/publish/epoch/end/",
                 field: str = "data", headers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers

    def on_epoch_end(self, epoch, logs=None):  # noqa: D102
        send: dict[str, Any] = {"epoch": epoch}
        for k, v in (logs or {}).items():
            # numpy scalars are not JSON: their Python value is sent
            send[k] = v.item() if isinstance(v, np.generic) else v
        data = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf-8")
        request = urllib.request.Request(self.root + self.path, data=data,
                                         headers=dict(self.headers or {}), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except (urllib.error.URLError, OSError):
            warnings.warn(f"RemoteMonitor: could not reach the server at {self.root}",
                          stacklevel=2)
