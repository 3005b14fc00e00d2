"""Training: ``compile``, ``fit``, ``evaluate``, ``predict`` and the batch methods.

``TrainingMixin`` is mixed into :class:`minikeras.engine.model.Model`. It
follows Keras 2's ``engine/training.py``: the same arguments, the same names
in the logs (``loss``, ``acc``, ``val_loss``, ``<output>_loss`` for several
outputs), the same order of callbacks.

One training step is short enough to read in one go (see :meth:`_train_step`)::

    with GradientTape() as tape, collect_call_losses() as extra:
        outputs = model(x, training=True)
        loss = mean(loss_fn(y, outputs)) + sum(extra) + sum(model.get_losses_for(None))
    grads = tape.gradient(loss, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))

Weighting (``sample_weight``, ``class_weight``) turns into one weight per
sample for each output. Keras 2 then replaces ``mean(loss)`` by
``mean(loss * w) / mean(w != 0)``, that is ``sum(w * loss) / count(w != 0)``:
samples of weight 0 are left out of the average instead of diluting it.

Everything that can be checked once (input names and shapes, label ranges,
dtypes, weights) is checked once, before the first weight changes, so the loop
itself only slices batches (views, not copies) and steps.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minikeras import callbacks as cbks
from minikeras import losses, optimizers
from minikeras import metrics as metrics_module
from minikeras.autograd import GradientTape, Tensor, no_grad
from minikeras.backend import config as _config
from minikeras.backend import random as _random
from minikeras.engine.base_layer import collect_call_losses
from minikeras.generic_utils import as_list

__all__ = ["TrainingMixin"]


def _name_of(tensor: Any, fallback: str) -> str:
    history = getattr(tensor, "_keras_history", None)
    if history is not None:
        return history[0].name
    return fallback


def _fn_name(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


class _Output:
    """What compile decided for one model output."""

    __slots__ = ("name", "loss", "loss_name", "weight", "metrics", "objective")

    def __init__(self, name: str, loss: Any, weight: float) -> None:
        self.name = name
        self.loss = loss  # as given (metrics such as "accuracy" are resolved from it)
        self.loss_name = _fn_name(loss) if loss is not None else None
        self.weight = float(weight)
        self.metrics: list[tuple[str, Callable]] = []
        # the loss as a Loss object: fit asks it for `batch_mean` and `integer_labels`
        self.objective = losses.as_loss(loss) if loss is not None else None

    @property
    def integer_labels(self) -> bool:
        """Whether this output's targets are integer class labels."""
        return self.objective is not None and self.objective.integer_labels


class TrainingMixin:
    """``compile``/``fit``/``evaluate``/``predict`` for models (Keras 2 semantics).

    The mixing class provides ``inputs``, ``outputs`` (KerasTensors),
    ``__call__`` on data, ``trainable_weights``, ``get_losses_for``,
    ``get_weights``/``set_weights``.
    """

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, sample_weight_mode: Any = None,
                **kwargs: Any) -> None:
        """Configure the model for training.

        Args:
            optimizer: A name (``"adam"``, ``"sgd"``, ...) or an optimizer instance.
            loss: A loss name or function for every output, a list with one
                per output, or a dict by output name.
            metrics: A list of metric names/functions (``"accuracy"`` is
                resolved per output like Keras 2), or a dict by output name.
            loss_weights: Weights of the output losses in the total loss
                (list or dict by output name).
            sample_weight_mode: ``None`` (the default): ``sample_weight``
                holds one weight per sample. Keras 2's ``"temporal"`` (one
                weight per time step) is not supported. A list or dict by
                output name is accepted if every entry is ``None``.
            **kwargs: Not supported (Keras 2's ``weighted_metrics`` and the
                like); given, they raise ``TypeError``.

        Raises:
            ValueError: On an unknown optimizer, loss or metric name, or a
                list/dict that does not match the model's outputs.
            TypeError: On an unsupported keyword argument.
            NotImplementedError: For ``sample_weight_mode="temporal"``.
        """
        if kwargs:
            raise TypeError(
                f"Model.compile: unsupported argument(s) {sorted(kwargs)}; minikeras supports "
                "optimizer, loss, metrics and loss_weights"
            )
        if loss is None:
            raise ValueError("Model.compile: a loss is required, e.g. loss='mse'")
        _check_sample_weight_mode(sample_weight_mode)
        self.optimizer = optimizers.get(optimizer)
        # resolve every name now, so a typo fails at compile time
        if isinstance(loss, dict) and set(loss) == {"class_name", "config"}:
            loss = losses.get(loss)  # one serialized loss object, not a dict by output
        if isinstance(loss, dict):
            resolved_loss: Any = {k: losses.get(v) for k, v in loss.items()}
        elif isinstance(loss, (list, tuple)):
            resolved_loss = [losses.get(v) for v in loss]
        else:
            resolved_loss = losses.get(loss)
        for m in _flat_metrics(metrics):
            if not (isinstance(m, str) and m in ("accuracy", "acc")):
                metrics_module.get(m)
        self.loss = loss
        self.loss_functions_arg = resolved_loss
        self.metrics = metrics
        self.loss_weights = loss_weights
        self.sample_weight_mode = sample_weight_mode
        self.stop_training = False
        self._outputs_config: list[_Output] | None = None
        self._metrics_names: list[str] | None = None
        self._is_compiled = False
        if self._graph_known():
            self._prepare()  # a mismatch with the outputs leaves the model uncompiled
            self.optimizer.build(self.trainable_weights)
        self._is_compiled = True

    def _graph_known(self) -> bool:
        return bool(getattr(self, "outputs", None)) and bool(getattr(self, "inputs", None))

    @property
    def metrics_names(self) -> list[str]:
        """``['loss', <output losses when several>, <metrics>]`` in log order."""
        self._require_compiled("metrics_names")
        if self._metrics_names is None:
            if not self._graph_known():
                return ["loss"]
            self._prepare()
        return list(self._metrics_names)

    def _require_compiled(self, what: str) -> None:
        if not getattr(self, "_is_compiled", False):
            raise RuntimeError(
                f"Model.{what}: the model must be compiled first, e.g. "
                "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')"
            )

    def _output_names(self) -> list[str]:
        names = getattr(self, "output_names", None)
        if names:
            return list(names)
        return [_name_of(t, f"output_{i + 1}") for i, t in enumerate(self.outputs)]

    def _input_names(self) -> list[str]:
        names = getattr(self, "input_names", None)
        if names:
            return list(names)
        return [_name_of(t, f"input_{i + 1}") for i, t in enumerate(self.inputs)]

    def _prepare(self) -> None:
        """Match losses, weights and metrics to the outputs (needs the graph)."""
        names = self._output_names()
        n = len(names)
        loss = self.loss_functions_arg
        if isinstance(loss, dict):
            unknown = [k for k in loss if k not in names]
            if unknown:
                raise ValueError(
                    f"Model.compile: unknown output name(s) {unknown} in the loss dict; the "
                    f"model's outputs are {names}"
                )
            for k in names:
                if k not in loss:
                    warnings.warn(
                        f"Model.compile: output {k!r} has no loss in the loss dict; it will "
                        "not be trained", stacklevel=3)
            fns = [loss.get(k) for k in names]
        elif isinstance(loss, list):
            if len(loss) != n:
                raise ValueError(
                    f"Model.compile: the model has {n} output(s) {names} but the loss list has "
                    f"{len(loss)} entries"
                )
            fns = loss
        else:
            fns = [loss] * n
        lw = self.loss_weights
        if lw is None:
            weights = [1.0] * n
        elif isinstance(lw, dict):
            unknown = [k for k in lw if k not in names]
            if unknown:
                raise ValueError(
                    f"Model.compile: unknown output name(s) {unknown} in loss_weights; the "
                    f"model's outputs are {names}"
                )
            weights = [lw.get(k, 1.0) for k in names]
        elif isinstance(lw, (list, tuple)):
            if len(lw) != n:
                raise ValueError(
                    f"Model.compile: the model has {n} output(s) but loss_weights has {len(lw)}"
                )
            weights = list(lw)
        else:
            raise TypeError(f"Model.compile: loss_weights must be a list or dict, got {lw!r}")
        outs = [_Output(name, fn, w) for name, fn, w in zip(names, fns, weights)]
        if all(o.loss is None for o in outs):
            raise ValueError("Model.compile: no output has a loss")
        for o, tensor in zip(outs, self.outputs):
            if o.loss is not None and getattr(tensor, "_keras_mask", None) is not None:
                warnings.warn(
                    f"Model.compile: output {o.name!r} carries a mask; Keras 2 leaves masked "
                    "positions out of the loss, but minikeras's training does not apply output "
                    "masks yet (every position counts)", stacklevel=3)
        mode = getattr(self, "sample_weight_mode", None)
        if isinstance(mode, dict) and any(k not in names for k in mode):
            raise ValueError(
                f"Model.compile: unknown output name(s) {[k for k in mode if k not in names]} "
                f"in sample_weight_mode; the model's outputs are {names}")
        if isinstance(mode, (list, tuple)) and len(mode) != n:
            raise ValueError(
                f"Model.compile: the model has {n} output(s) but sample_weight_mode has "
                f"{len(mode)} entries")

        metrics = self.metrics
        if isinstance(metrics, dict):
            unknown = [k for k in metrics if k not in names]
            if unknown:
                raise ValueError(
                    f"Model.compile: unknown output name(s) {unknown} in metrics; the model's "
                    f"outputs are {names}"
                )
            per_output = [as_list(metrics.get(k)) for k in names]
        else:
            per_output = [as_list(metrics)] * n
        prefix = n > 1
        metric_names = ["loss"]
        if prefix:
            metric_names += [f"{o.name}_loss" for o in outs if o.loss is not None]
        for o, ms, tensor in zip(outs, per_output, self.outputs):
            for m in ms:
                if isinstance(m, str) and m in ("accuracy", "acc"):
                    fn = metrics_module.resolve_accuracy(o.loss, tuple(tensor.shape))
                    label = m
                else:
                    fn = metrics_module.get(m)
                    label = m if isinstance(m, str) else _fn_name(fn)
                full = f"{o.name}_{label}" if prefix else label
                o.metrics.append((full, fn))
                metric_names.append(full)
        self._outputs_config = outs
        self._metrics_names = metric_names

    # ------------------------------------------------------------ data checks
    def _standardize_x(self, x: Any, what: str = "x") -> list[np.ndarray]:
        names = self._input_names()
        arrays = _to_list(x, names, what, "input")
        out = []
        for name, arr, tensor in zip(names, arrays, self.inputs):
            arr = _as_numpy(arr, f"{what} for input {name!r}")
            dtype = getattr(tensor, "dtype", None) or _config.floatx()
            if arr.dtype.kind in "fiub" and np.dtype(dtype).kind == "f" and arr.dtype != dtype:
                arr = arr.astype(dtype)
            _check_shape(arr, tuple(tensor.shape), f"{what}: input {name!r}")
            out.append(arr)
        _check_lengths(out, names, what)
        return out

    def _standardize_y(self, y: Any, what: str = "y") -> list[np.ndarray]:
        names = self._output_names()
        arrays = _to_list(y, names, what, "output")
        out = []
        for o, arr, tensor in zip(self._outputs_config, arrays, self.outputs):
            arr = _as_numpy(arr, f"{what} for output {o.name!r}")
            shape = tuple(tensor.shape)
            if o.integer_labels:
                arr = _check_sparse_labels(arr, shape, f"{what} for output {o.name!r}",
                                           o.loss_name)
            else:
                if arr.dtype.kind in "iub" or (arr.dtype.kind == "f" and
                                               arr.dtype != _config.floatx()):
                    arr = arr.astype(_config.floatx())
                if arr.ndim == 1 and len(shape) == 2 and shape[1] == 1:
                    arr = arr[:, None]  # Keras accepts (n,) targets for a one-unit output
                _check_target(arr, shape, o, what)
            out.append(arr)
        _check_lengths(out, names, what)
        return out

    def _standardize_xy(self, x: Any, y: Any, what: str = "") -> tuple[list, list]:
        xs = self._standardize_x(x, f"{what}x")
        ys = self._standardize_y(y, f"{what}y")
        if xs and ys and len(xs[0]) != len(ys[0]):
            raise ValueError(
                f"Input arrays should have the same number of samples as target arrays: found "
                f"{len(xs[0])} input samples ({what}x) and {len(ys[0])} target samples ({what}y)"
            )
        return xs, ys

    def _standardize_weights(self, ys: list, sample_weight: Any, class_weight: Any,
                             where: str, sw_name: str = "sample_weight") -> list | None:
        """One weight per sample for each output, from ``sample_weight`` or ``class_weight``.

        As Keras 2's ``_standardize_weights``: an output's ``sample_weight``
        (a 1-D array, one weight per sample) is used as given; otherwise its
        ``class_weight`` (``{class index: weight}``) gives each sample the
        weight of its class, the class being the label (sparse targets), the
        ``argmax`` (one-hot targets) or the value itself (one-unit outputs).
        For several outputs both arguments are a list (one entry or ``None``
        per output) or a dict by output name.

        Args:
            ys: The standardized targets, one array per output.
            sample_weight: The user's ``sample_weight`` argument.
            class_weight: The user's ``class_weight`` argument.
            where: The calling method, for messages (``"Model.fit"``).
            sw_name: How to call ``sample_weight`` in messages.

        Returns:
            A list with one float array (or ``None``) per output, or ``None``
            when no output is weighted (then the unweighted fast path runs).

        Raises:
            ValueError, TypeError: On weights that do not fit the outputs or
                the targets; the message names the argument and the output.
        """
        names = self._output_names()
        sws = _per_output(sample_weight, names, sw_name, where)
        cws = _per_output(class_weight, names, "class_weight", where)
        result: list[np.ndarray | None] = []
        for o, y, tensor, sw, cw in zip(self._outputs_config, ys, self.outputs, sws, cws):
            dtype = getattr(tensor, "dtype", None) or _config.floatx()
            if o.loss is None:  # like Keras, only outputs with a loss take weights
                result.append(None)
            elif sw is not None:
                if cw is not None:
                    warnings.warn(
                        f"{where}: output {o.name!r} was given both {sw_name} and class_weight; "
                        f"as in Keras 2 the {sw_name} is used and class_weight is ignored for "
                        "it (multiply the class weights into the sample weights to use both)",
                        stacklevel=3)
                result.append(_check_sample_weight(
                    sw, len(y), dtype, f"{where}: {sw_name} for output {o.name!r}"))
            elif cw is not None:
                result.append(_class_weights_per_sample(
                    cw, y, o, tuple(tensor.shape), dtype,
                    f"{where}: class_weight for output {o.name!r}"))
            else:
                result.append(None)
        return result if any(w is not None for w in result) else None

    def _ensure_ready(self, x: Any, what: str) -> None:
        """Build a model whose graph is not known yet (a Sequential without input shape)."""
        if self._graph_known():
            if getattr(self, "_is_compiled", False) and self._outputs_config is None:
                self._prepare()
                self.optimizer.build(self.trainable_weights)
            return
        first = x
        if isinstance(x, dict):
            first = next(iter(x.values()))
        elif isinstance(x, (list, tuple)) and x and not np.isscalar(x[0]):
            first = x[0] if len(x) == 1 else [a[:1] for a in x]
        sample = first[:1] if not isinstance(first, list) else first
        with no_grad():
            self(sample, training=False)
        if not self._graph_known():
            raise RuntimeError(f"Model.{what}: could not build the model from the data")
        if getattr(self, "_is_compiled", False):
            self._prepare()
            self.optimizer.build(self.trainable_weights)

    # -------------------------------------------------------------------- steps
    def _forward(self, xs: list, training: bool) -> list[Tensor]:
        out = self(xs[0] if len(xs) == 1 else xs, training=training)
        return out if isinstance(out, (list, tuple)) else [out]

    def _losses_and_metrics(self, ys: list, outs: list[Tensor], extra: list,
                            sample_weights: list | None = None) -> tuple:
        """Total loss Tensor, and the log values (floats) after it.

        ``sample_weights`` has one array (or ``None``) per output, or is
        ``None`` when no output is weighted. Each output's loss is Keras 2's
        weighted mean (see :func:`minikeras.losses.batch_mean`); metrics are not
        weighted, as in Keras 2.
        """
        total = None
        values: list[float] = [0.0]
        several = len(outs) > 1
        if sample_weights is None:
            sample_weights = [None] * len(outs)
        for o, y, out, w in zip(self._outputs_config, ys, outs, sample_weights):
            if o.loss is None:
                continue
            per_output = o.objective.batch_mean(y, out, w)
            if several:
                values.append(float(per_output.data))
            term = per_output if o.weight == 1.0 else per_output * o.weight
            total = term if total is None else total + term
        for r in extra:
            total = total + (r if r.ndim == 0 else r.sum())
        for r in self.get_losses_for(None):
            total = total + (r if getattr(r, "ndim", 0) == 0 else r.sum())
        for o, y, out in zip(self._outputs_config, ys, outs):
            for _, fn in o.metrics:
                values.append(_metric_value(fn, y, out.data))
        return total, values

    def _train_step(self, xs: list, ys: list, weights: list,
                    sample_weights: list | None = None) -> list[float] | None:
        """One step. Returns the log values, or ``None`` (and no update) on a non-finite loss."""
        # Watch exactly the weights being trained: frozen layers' variables (still
        # Variable.trainable) are then not recorded, and no gradient is computed for them.
        with GradientTape(watch_accessed_variables=False) as tape, \
                collect_call_losses() as extra:
            tape.watch(weights)
            outs = self._forward(xs, True)
            total, values = self._losses_and_metrics(ys, outs, extra, sample_weights)
        loss = float(total.data)
        values[0] = loss
        if not math.isfinite(loss):
            return None
        if not weights:  # everything frozen: report the loss, nothing to update
            return values
        grads = tape.gradient(total, weights)
        self.optimizer.apply_gradients(zip(grads, weights))
        return values

    def _test_step(self, xs: list, ys: list, sample_weights: list | None = None) -> list[float]:
        with no_grad(), collect_call_losses() as extra:
            outs = self._forward(xs, False)
            total, values = self._losses_and_metrics(ys, outs, extra, sample_weights)
        values[0] = float(total.data)
        return values

    # ---------------------------------------------------------------------- fit
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: int = 1, callbacks: Sequence[Any] | None = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool = True,
            class_weight: Any = None, sample_weight: Any = None, initial_epoch: int = 0,
            **kwargs: Any) -> Any:
        """Train the model for a number of epochs.

        Args:
            x: Inputs: an array, a list of arrays (one per input), or a dict
                by input name.
            y: Targets, in the same forms (by output).
            batch_size: Samples per step (default 32).
            epochs: Index of the last epoch (training runs from
                ``initial_epoch`` to ``epochs``).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch.
            callbacks: :class:`minikeras.callbacks.Callback` instances.
            validation_split: Fraction of the data, taken from the end before
                shuffling, held out for validation.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val,
                val_sample_weight)`` evaluated after each epoch (overrides
                ``validation_split``; ``class_weight`` does not apply to it).
            shuffle: Shuffle the training data before each epoch.
            class_weight: ``{class index: weight}``: each sample's loss is
                weighted by the weight of its class (for several outputs, a
                dict by output name or a list of such dicts). Every class in
                ``y`` needs a weight.
            sample_weight: One weight per sample (a 1-D array; for several
                outputs a list or a dict by output name). It replaces
                ``class_weight`` for its output, as in Keras 2. The weighted
                batch loss is ``sum(w * loss) / count(w != 0)``. With
                ``validation_split`` the held-out part keeps its weights
                (class weights included), as in Keras 2.
            initial_epoch: Epoch to start from (to resume a run).
            **kwargs: Not supported (``steps_per_epoch``,
                ``validation_steps``...); given, they raise ``TypeError``.

        Returns:
            The :class:`~minikeras.callbacks.History` of the run.

        Raises:
            RuntimeError: If the model is not compiled.
            ValueError: On data that does not fit the model or the loss; all
                checks happen before any weight changes.
        """
        if kwargs:
            raise TypeError(f"Model.fit: unsupported argument(s) {sorted(kwargs)}")
        self._require_compiled("fit")
        if x is None or y is None:
            raise ValueError("Model.fit: both x and y are required")
        batch_size = _check_batch_size(batch_size, "fit")
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"Model.fit: epochs must be a non-negative int, got {epochs!r}")
        if verbose not in (0, 1, 2):
            raise ValueError(f"Model.fit: verbose must be 0, 1 or 2, got {verbose!r}")
        self._ensure_ready(x, "fit")
        xs, ys = self._standardize_xy(x, y)
        sws = self._standardize_weights(ys, sample_weight, class_weight, "Model.fit")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(
                    "Model.fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                    f"val_sample_weight), got {type(validation_data).__name__}"
                    + (f" of length {len(validation_data)}"
                       if isinstance(validation_data, (tuple, list)) else "")
                )
            vx, vy = self._standardize_xy(validation_data[0], validation_data[1], "validation_")
            val_sample_weight = validation_data[2] if len(validation_data) == 3 else None
            val = (vx, vy, self._standardize_weights(vy, val_sample_weight, None, "Model.fit",
                                                     "val_sample_weight"))
        elif validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(
                    f"Model.fit: validation_split must be in (0, 1), got {validation_split}")
            split = int(len(xs[0]) * (1.0 - validation_split))
            if split == 0 or split == len(xs[0]):
                raise ValueError(
                    f"Model.fit: validation_split={validation_split} leaves an empty training "
                    f"or validation set for {len(xs[0])} samples")
            val = ([a[split:] for a in xs], [a[split:] for a in ys],
                   _slice_weights(sws, split, None))
            xs, ys, sws = [a[:split] for a in xs], [a[:split] for a in ys], \
                _slice_weights(sws, 0, split)
        n = len(xs[0])
        if n == 0:
            raise ValueError("Model.fit: x is empty")

        names = self.metrics_names
        out_labels = names + [f"val_{k}" for k in names] if val is not None else names
        self.history = cbks.History()
        cb_list = [cbks.BaseLogger()]
        if verbose:
            cb_list.append(cbks.ProgbarLogger(verbose=verbose))
        cb_list += list(callbacks or []) + [self.history]
        for cb in cb_list:
            if not isinstance(cb, cbks.Callback):
                raise TypeError(
                    f"Model.fit: callbacks must be Callback instances, got {type(cb).__name__}")
        cbl = cbks.CallbackList(cb_list)
        steps = math.ceil(n / batch_size)
        cbl.set_model(self)
        cbl.set_params({
            "batch_size": batch_size, "epochs": epochs, "steps": steps, "samples": n,
            "verbose": verbose, "do_validation": val is not None, "metrics": out_labels,
        })
        self.stop_training = False
        weights = list(self.trainable_weights)
        self.optimizer.build(weights)
        rng = _random.get_rng()
        train_step = self._train_step
        cbl.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            epoch_logs: dict[str, float] = {}
            cbl.on_epoch_begin(epoch, epoch_logs)
            if shuffle:
                # one gather per epoch, then every batch is a contiguous view
                perm = rng.permutation(n)
                bx, by = [a[perm] for a in xs], [a[perm] for a in ys]
                bw = _slice_weights(sws, perm)
            else:
                bx, by, bw = xs, ys, sws
            for b in range(steps):
                start = b * batch_size
                stop = min(start + batch_size, n)
                batch_logs: dict[str, Any] = {"batch": b, "size": stop - start}
                cbl.on_batch_begin(b, batch_logs)
                values = train_step([a[start:stop] for a in bx], [a[start:stop] for a in by],
                                    weights, _slice_weights(bw, start, stop))
                if values is None:
                    loss = float("nan")
                    batch_logs["loss"] = loss
                    warnings.warn(
                        f"Model.fit: the loss became non-finite at epoch {epoch + 1}, batch "
                        f"{b}; training stopped and this batch's update was not applied. "
                        "Common causes: a learning rate that is too high, unscaled inputs, or "
                        "NaN values in the data.", RuntimeWarning, stacklevel=2)
                    self.stop_training = True
                    cbl.on_batch_end(b, batch_logs)
                    break
                for k, v in zip(names, values):
                    batch_logs[k] = v
                cbl.on_batch_end(b, batch_logs)
                if self.stop_training:
                    break
            else:
                # like Keras 2, validate only when the epoch ran to its last batch
                if val is not None:
                    val_values = self._evaluate_arrays(val[0], val[1], batch_size, val[2])
                    for k, v in zip(names, val_values):
                        epoch_logs[f"val_{k}"] = v
            cbl.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        cbl.on_train_end()
        return self.history

    # ----------------------------------------------------------------- evaluate
    def _evaluate_arrays(self, xs: list, ys: list, batch_size: int,
                         sample_weights: list | None = None) -> list[float]:
        # like Keras 2: each batch's (weighted) loss, averaged with the batch sizes as weights
        n = len(xs[0])
        totals = None
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            values = self._test_step([a[start:stop] for a in xs], [a[start:stop] for a in ys],
                                     _slice_weights(sample_weights, start, stop))
            size = stop - start
            if totals is None:
                totals = [v * size for v in values]
            else:
                for i, v in enumerate(values):
                    totals[i] += v * size
        return [t / n for t in totals]

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: int = 1, sample_weight: Any = None,
                 **kwargs: Any) -> float | list[float]:
        """The loss (and metrics) on data, in batches, without training.

        Args:
            x: Inputs, as for :meth:`fit`.
            y: Targets, as for :meth:`fit`.
            batch_size: Samples per batch (default 32).
            verbose: 1 prints the results, 0 is silent.
            sample_weight: One weight per sample (per output), as for
                :meth:`fit`. As in Keras 2 the result is the mean of the
                batches' weighted losses, weighted by batch size; metrics are
                not weighted.
            **kwargs: Not supported (``steps``); given, they raise ``TypeError``.

        Returns:
            The scalar loss when there are no metrics and one output, else a
            list in the order of :attr:`metrics_names`.
        """
        if kwargs:
            raise TypeError(f"Model.evaluate: unsupported argument(s) {sorted(kwargs)}")
        self._require_compiled("evaluate")
        if x is None or y is None:
            raise ValueError("Model.evaluate: both x and y are required")
        batch_size = _check_batch_size(batch_size, "evaluate")
        self._ensure_ready(x, "evaluate")
        xs, ys = self._standardize_xy(x, y)
        if len(xs[0]) == 0:
            raise ValueError("Model.evaluate: x is empty")
        sws = self._standardize_weights(ys, sample_weight, None, "Model.evaluate")
        values = self._evaluate_arrays(xs, ys, batch_size, sws)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in zip(self.metrics_names, values)))
        return values[0] if len(values) == 1 else values

    # ------------------------------------------------------------------ predict
    def predict(self, x: Any, batch_size: int | None = None, verbose: int = 0,
                **kwargs: Any) -> np.ndarray | list[np.ndarray]:
        """Outputs for ``x``, computed in batches with recording off.

        Returns:
            A numpy array, or a list of arrays for a model with several outputs.
        """
        if kwargs:
            raise TypeError(f"Model.predict: unsupported argument(s) {sorted(kwargs)}")
        batch_size = _check_batch_size(batch_size, "predict")
        self._ensure_ready(x, "predict")
        xs = self._standardize_x(x)
        n = len(xs[0])
        chunks: list[list[np.ndarray]] | None = None
        with no_grad():
            for start in range(0, n, batch_size):
                outs = self._forward([a[start:start + batch_size] for a in xs], False)
                if chunks is None:
                    chunks = [[] for _ in outs]
                for c, o in zip(chunks, outs):
                    c.append(o.data)
        if chunks is None:
            raise ValueError("Model.predict: x is empty")
        result = [c[0] if len(c) == 1 else np.concatenate(c) for c in chunks]
        return result[0] if len(result) == 1 else result

    # ------------------------------------------------------------ batch methods
    def train_on_batch(self, x: Any, y: Any, sample_weight: Any = None,
                       class_weight: Any = None) -> float | list[float]:
        """One gradient step on one batch; returns the loss (and metrics) before the step.

        Args:
            x: Inputs, as for :meth:`fit`.
            y: Targets, as for :meth:`fit`.
            sample_weight: One weight per sample, as for :meth:`fit`.
            class_weight: ``{class index: weight}``, as for :meth:`fit`.

        Raises:
            RuntimeError: If not compiled.
            FloatingPointError: If the loss is not finite (weights are unchanged).
        """
        self._require_compiled("train_on_batch")
        self._ensure_ready(x, "train_on_batch")
        xs, ys = self._standardize_xy(x, y)
        sws = self._standardize_weights(ys, sample_weight, class_weight, "Model.train_on_batch")
        weights = list(self.trainable_weights)
        values = self._train_step(xs, ys, weights, sws)
        if values is None:
            raise FloatingPointError(
                "Model.train_on_batch: the loss is not finite; the update was not applied")
        return values[0] if len(values) == 1 else values

    def test_on_batch(self, x: Any, y: Any, sample_weight: Any = None) -> float | list[float]:
        """The loss (and metrics) on one batch, without training.

        Args:
            x: Inputs, as for :meth:`fit`.
            y: Targets, as for :meth:`fit`.
            sample_weight: One weight per sample, as for :meth:`fit`.
        """
        self._require_compiled("test_on_batch")
        self._ensure_ready(x, "test_on_batch")
        xs, ys = self._standardize_xy(x, y)
        sws = self._standardize_weights(ys, sample_weight, None, "Model.test_on_batch")
        values = self._test_step(xs, ys, sws)
        return values[0] if len(values) == 1 else values

    def predict_on_batch(self, x: Any) -> np.ndarray | list[np.ndarray]:
        """Outputs for one batch, recording off."""
        self._ensure_ready(x, "predict_on_batch")
        xs = self._standardize_x(x)
        with no_grad():
            outs = self._forward(xs, False)
        result = [o.data for o in outs]
        return result[0] if len(result) == 1 else result


# ---------------------------------------------------------------------- helpers
def _flat_metrics(metrics: Any) -> list:
    if metrics is None:
        return []
    if isinstance(metrics, dict):
        return [m for v in metrics.values() for m in as_list(v)]
    if isinstance(metrics, (str,)) or callable(metrics):
        raise TypeError(
            f"Model.compile: metrics must be a list (or a dict by output), e.g. "
            f"metrics=[{metrics!r}]"
        )
    return as_list(metrics)


def _check_batch_size(batch_size: Any, what: str) -> int:
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size <= 0:
        raise ValueError(f"Model.{what}: batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def _to_list(data: Any, names: list[str], what: str, kind: str) -> list:
    """Arrays in model order from an array, a list, or a dict by name."""
    if isinstance(data, dict):
        missing = [k for k in names if k not in data]
        unknown = [k for k in data if k not in names]
        if missing or unknown:
            raise ValueError(
                f"{what}: the dict must have one entry per model {kind} {names}; "
                + (f"missing {missing}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"unknown {unknown}" if unknown else "")
            )
        return [data[k] for k in names]
    if isinstance(data, (list, tuple)) and len(names) > 1:
        if len(data) != len(names):
            raise ValueError(
                f"{what}: the model has {len(names)} {kind}s {names} but {len(data)} arrays "
                "were given"
            )
        return list(data)
    if isinstance(data, (list, tuple)) and len(data) == 1 and isinstance(
            data[0], (np.ndarray, Tensor)):
        return [data[0]]
    if len(names) > 1:
        raise ValueError(
            f"{what}: the model has {len(names)} {kind}s {names}; pass a list of arrays or a "
            f"dict by name, got a single {type(data).__name__}"
        )
    return [data]


def _as_numpy(x: Any, what: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, np.ndarray):
        return x
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{what}: could not convert {type(x).__name__} to an array ({e})") \
            from None
    if arr.dtype.kind == "O":
        raise TypeError(f"{what}: expected numeric array data, got {type(x).__name__} of "
                        "objects (ragged lists?)")
    return arr


def _check_shape(arr: np.ndarray, expected: tuple, what: str) -> None:
    if arr.ndim != len(expected) or any(
            e is not None and a != e for a, e in zip(arr.shape[1:], expected[1:])):
        exp = ("(batch, " + ", ".join("None" if d is None else str(d) for d in expected[1:])
               + ")") if expected else "()"
        raise ValueError(
            f"{what} expected arrays of shape {exp}, got an array of shape {arr.shape}"
        )


def _check_lengths(arrays: list[np.ndarray], names: list[str], what: str) -> None:
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        detail = ", ".join(f"{n}: {len(a)}" for n, a in zip(names, arrays))
        raise ValueError(f"{what}: all arrays must have the same number of samples ({detail})")


def _check_sparse_labels(arr: np.ndarray, shape: tuple, what: str, loss: str) -> np.ndarray:
    lead = shape[:-1]
    if arr.ndim == len(shape) and arr.shape[-1] == 1:
        arr = arr.reshape(arr.shape[:-1])
    if arr.ndim != len(lead) or any(e is not None and a != e
                                    for a, e in zip(arr.shape[1:], lead[1:])):
        hint = ""
        if arr.ndim == len(shape) and shape[-1] is not None and arr.shape[-1] == shape[-1]:
            hint = " (these look like one-hot targets: use loss='categorical_crossentropy')"
        raise ValueError(
            f"{what}: {loss} expects integer class labels of shape (batch,"
            f"{''.join(f' {d},' for d in lead[1:])}) for an output of shape {shape}, got "
            f"shape {arr.shape}{hint}"
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.floor(arr)):
            raise ValueError(f"{what}: {loss} expects whole-number class labels")
        arr = arr.astype(np.intp)
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{what}: {loss} expects integer class labels, got dtype {arr.dtype}")
    n = shape[-1]
    if arr.size and n is not None and (arr.min() < 0 or arr.max() >= n):
        bad = arr[(arr < 0) | (arr >= n)].ravel()[0]
        raise ValueError(
            f"{what}: label {int(bad)} is out of range for {loss} with {n} classes "
            f"(labels must be in [0, {n - 1}])"
        )
    return arr.astype(np.intp, copy=False)


def _check_target(arr: np.ndarray, shape: tuple, o: _Output, what: str) -> None:
    loss = o.loss_name
    if arr.ndim != len(shape) or any(
            e is not None and a != e for a, e in zip(arr.shape[1:], shape[1:])):
        hint = ""
        if loss == "categorical_crossentropy" and (arr.ndim == 1 or arr.shape[-1] == 1):
            hint = (" (these look like integer labels: use "
                    "loss='sparse_categorical_crossentropy', or one-hot encode them)")
        exp = "(batch, " + ", ".join("None" if d is None else str(d) for d in shape[1:]) + ")"
        raise ValueError(
            f"{what}: targets for output {o.name!r} should have shape {exp}, got {arr.shape}"
            f"{hint}"
        )
    if loss in ("binary_crossentropy", "categorical_crossentropy") and arr.size and \
            (arr.min() < 0 or arr.max() > 1):
        raise ValueError(
            f"{what}: {loss} expects targets in [0, 1] for output {o.name!r}, got values in "
            f"[{arr.min()}, {arr.max()}]"
        )


# ------------------------------------------------------------ sample weights
def _check_sample_weight_mode(mode: Any) -> None:
    """``None`` (per output too) is supported; Keras 2's ``"temporal"`` is not."""
    modes = list(mode.values()) if isinstance(mode, dict) else \
        list(mode) if isinstance(mode, (list, tuple)) else [mode]
    for m in modes:
        if m == "temporal":
            raise NotImplementedError(
                "Model.compile: sample_weight_mode='temporal' (one weight per time step) is "
                "not supported by minikeras; only sample_weight_mode=None (one weight per "
                "sample) is")
        if m is not None:
            raise ValueError(
                f"Model.compile: sample_weight_mode should be None or 'temporal', got {m!r}")


def _per_output(arg: Any, names: list[str], argname: str, where: str) -> list:
    """``sample_weight`` or ``class_weight`` as one entry (or ``None``) per output.

    Keras 2's rules: for one output the argument itself (or a one-element
    list, or a dict by the output's name); for several, a list with one entry
    per output or a dict by output name. Empty means no weights.
    """
    n = len(names)
    if arg is None or (isinstance(arg, (list, tuple, dict)) and len(arg) == 0):
        return [None] * n
    is_class = argname == "class_weight"
    if isinstance(arg, dict):
        if is_class and n == 1 and names[0] not in arg:
            return [arg]  # {class index: weight} for the only output
        unknown = [k for k in arg if k not in names]
        if is_class and unknown and not any(isinstance(k, str) for k in arg):
            raise ValueError(
                f"{where}: the model has {n} outputs {names}, so class_weight must be a dict by "
                f"output name (e.g. {{{names[0]!r}: {{0: 1.0, 1: 5.0}}}}) or a list with one "
                f"dict (or None) per output; got a dict with keys {list(arg)[:10]}")
        if unknown:
            raise ValueError(
                f"{where}: unknown output name(s) {unknown} in {argname}; the model's outputs "
                f"are {names}")
        return [arg.get(k) for k in names]
    if isinstance(arg, (list, tuple)):
        if n == 1:
            if len(arg) == 1 and (isinstance(arg[0], dict) or not np.isscalar(arg[0])):
                return [arg[0]]  # [weights] or [{class: weight}]
            return [arg]  # a plain list of sample weights (a class_weight fails its check)
        if len(arg) != n:
            raise ValueError(
                f"{where}: {argname} is a list of {len(arg)} entries but the model has {n} "
                f"outputs {names}; give one entry (or None) per output")
        return list(arg)
    if n > 1:
        raise TypeError(
            f"{where}: the model has {n} outputs {names}, so {argname} must be a list with one "
            f"entry per output or a dict by output name, got {type(arg).__name__}")
    return [arg]


def _check_sample_weight(w: Any, n: int, dtype: Any, what: str) -> np.ndarray:
    """A 1-D array of ``n`` finite, non-negative weights in ``dtype``."""
    arr = _as_numpy(w, what)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{what}: expected numeric weights, got dtype {arr.dtype}")
    if arr.ndim != 1:
        hint = (" (a 2-D array means one weight per time step, Keras 2's "
                "sample_weight_mode='temporal', which minikeras does not support)"
                if arr.ndim == 2 else "")
        raise ValueError(
            f"{what}: expected a 1-D array with one weight per sample, shape ({n},), got "
            f"shape {arr.shape}{hint}")
    if len(arr) != n:
        raise ValueError(
            f"{what}: expected one weight per sample ({n} samples in y), got {len(arr)} weights")
    arr = arr.astype(dtype, copy=False)
    _check_weight_values(arr, what)
    return arr


def _check_weight_values(arr: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise ValueError(f"{what}: weights must be finite numbers, got {bad}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{what}: weights must be >= 0, got {arr.min()}")


def _class_weights_per_sample(class_weight: Any, y: np.ndarray, o: _Output, shape: tuple,
                              dtype: Any, what: str) -> np.ndarray:
    """Each sample's weight from ``{class index: weight}`` (Keras 2's lookup).

    The class of a sample is its label (sparse targets), the ``argmax`` of its
    one-hot target, or, for a one-unit output, the target value itself.
    """
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"{what}: expected a dict {{class index: weight}}, got {type(class_weight).__name__}")
    n_classes = shape[-1] if shape and shape[-1] is not None and shape[-1] > 1 else None
    table: dict[int, float] = {}
    for key, value in class_weight.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer, float,
                                                                     np.floating)) \
                or not float(key).is_integer():
            raise TypeError(f"{what}: keys must be integer class indices, got {key!r}")
        if n_classes is not None and not 0 <= key < n_classes:
            raise ValueError(
                f"{what}: key {int(key)} is out of range; output {o.name!r} has {n_classes} "
                f"classes, so keys must be in [0, {n_classes - 1}]")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise TypeError(f"{what}: the weight of class {int(key)} must be a number, got "
                            f"{value!r}")
        table[int(key)] = float(value)
    _check_weight_values(np.array(list(table.values())), what)
    if o.integer_labels:
        classes = y  # integer labels, checked against the classes already
    elif y.ndim == 2 and y.shape[1] > 1:
        classes = y.argmax(axis=1)  # one-hot targets
    elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
        classes = y.reshape(len(y))  # one value per sample: the value is the class
        if classes.size and not np.array_equal(classes, np.floor(classes)):
            bad = classes[classes != np.floor(classes)][0]
            raise ValueError(
                f"{what}: with a one-unit output each target value is looked up as a class, "
                f"so the targets must be whole numbers; got {bad}")
    else:
        classes = y
    if classes.ndim != 1:
        raise ValueError(
            f"{what}: class_weight needs one class per sample (targets of shape (samples,), "
            f"(samples, 1) or one-hot (samples, classes)); output {o.name!r} has targets of "
            f"shape {y.shape}")
    present, index = np.unique(classes.astype(np.intp), return_inverse=True)
    missing = [int(c) for c in present if int(c) not in table]
    if missing:
        raise ValueError(
            f"{what}: no weight for class(es) {missing} found in y; as in Keras 2 every class "
            f"in the data needs a weight (the dict has keys {sorted(table)})")
    return np.array([table[int(c)] for c in present], dtype=dtype)[index.reshape(-1)]


def _slice_weights(weights: list | None, start: Any, stop: int | None = None) -> list | None:
    """Each output's ``w[start:stop]`` (or ``w[indices]``); ``None`` stays ``None``."""
    if weights is None:
        return None
    if stop is None and not isinstance(start, int):
        return [None if w is None else w[start] for w in weights]
    return [None if w is None else w[start:stop] for w in weights]


def _metric_value(fn: Callable, y: np.ndarray, pred: np.ndarray) -> float:
    value = fn(y, pred)
    value = value.data if isinstance(value, Tensor) else value
    return float(np.mean(value))
