"""Metrics: per-sample scores reported during training (Keras 2 semantics).

A metric is a function ``(y_true, y_pred) -> per-sample values`` like a loss.
The training loop calls metrics on plain numpy arrays outside any tape (they
are never differentiated), so the accuracy functions below work on numpy
directly; the loss functions can be used as metrics too.

``"accuracy"`` / ``"acc"`` is resolved per output, as Keras 2 does, by
:func:`resolve_accuracy`: binary accuracy when the output has one unit or the
loss is binary cross-entropy, sparse categorical accuracy for sparse
categorical cross-entropy, categorical accuracy otherwise.

Example:
    >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minikeras import losses
from minikeras.autograd import Tensor

__all__ = [
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "resolve_accuracy", "get", "serialize", "deserialize",
    "mse", "mae", "mape", "msle", "mean_squared_error", "mean_absolute_error",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "hinge", "squared_hinge", "huber", "logcosh", "kullback_leibler_divergence", "kld",
    "poisson", "cosine_proximity",
]


def _np(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float | None = None) -> np.ndarray:
    """Mean over the last axis of ``y_true == round(y_pred)`` (Keras 2.0.8).

    Rounding is half to even, as ``K.round``; for predictions in ``[0, 1]`` it is the
    same as ``y_pred > 0.5``. A ``threshold`` (Keras 2.3's argument) compares with
    ``y_pred > threshold`` instead.
    """
    yt, yp = _np(y_true), _np(y_pred)
    pred = np.round(yp) if threshold is None else (yp > threshold)
    return np.mean(yt == pred, axis=-1)


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """``argmax(y_true) == argmax(y_pred)`` over the last axis, as 0/1 per sample."""
    yt, yp = _np(y_true), _np(y_pred)
    return (np.argmax(yt, axis=-1) == np.argmax(yp, axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Integer label (shape ``(n,)`` or ``(n, 1)``) equals ``argmax(y_pred)``, as 0/1."""
    yt, yp = _np(y_true), _np(y_pred)
    if yt.ndim == yp.ndim:
        yt = yt[..., 0]
    return (yt == np.argmax(yp, axis=-1)).astype(np.float32)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """The fraction of samples whose true class (one-hot targets) is among the ``k`` top scores.

    As in Keras 2.0.8 this is the batch mean (``K.mean(K.in_top_k(...), axis=-1)``), a
    scalar, not one value per sample.
    """
    yt = np.argmax(_np(y_true), axis=-1)
    return np.mean(_in_top_k(_np(y_pred), yt, k), axis=-1)


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """The fraction of samples whose integer label is among the ``k`` top scores (batch mean)."""
    yt, yp = _np(y_true), _np(y_pred)
    if yt.ndim == yp.ndim:
        yt = yt[..., 0]
    return np.mean(_in_top_k(yp, yt.astype(np.intp), k), axis=-1)


def _in_top_k(yp: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    score = np.take_along_axis(yp, labels[..., None], axis=-1)
    # in the top k when fewer than k classes score strictly higher
    return (np.sum(yp > score, axis=-1) < k).astype(np.float32)


def resolve_accuracy(loss_fn: Any, output_shape: tuple) -> Callable:
    """Pick the accuracy function Keras 2 would use for ``"accuracy"``.

    Args:
        loss_fn: The output's loss function (or object).
        output_shape: The output's shape (batch dimension first).
    """
    name = getattr(loss_fn, "__name__", "")
    fn = getattr(type(loss_fn), "fn", None) if isinstance(loss_fn, losses.Loss) else loss_fn
    if (output_shape and output_shape[-1] == 1) or fn is losses.binary_crossentropy \
            or name == "binary_crossentropy":
        return binary_accuracy
    if fn is losses.sparse_categorical_crossentropy or name == "sparse_categorical_crossentropy":
        return sparse_categorical_accuracy
    return categorical_accuracy


mse = MSE = mean_squared_error = losses.mean_squared_error
mae = MAE = mean_absolute_error = losses.mean_absolute_error
mape = MAPE = mean_absolute_percentage_error = losses.mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error = losses.mean_squared_logarithmic_error
binary_crossentropy = losses.binary_crossentropy
categorical_crossentropy = losses.categorical_crossentropy
sparse_categorical_crossentropy = losses.sparse_categorical_crossentropy
hinge = losses.hinge
squared_hinge = losses.squared_hinge
huber = losses.huber
logcosh = losses.logcosh
kld = KLD = kullback_leibler_divergence = losses.kullback_leibler_divergence
poisson = losses.poisson
cosine_proximity = cosine = losses.cosine_proximity

_OWN: dict[str, Callable] = {
    f.__name__: f for f in (
        binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
        top_k_categorical_accuracy, sparse_top_k_categorical_accuracy,
    )
}


def known_names() -> list[str]:
    """All metric names :func:`get` accepts (``"accuracy"`` is resolved by ``compile``)."""
    return sorted({"accuracy", "acc", *_OWN, *losses.known_names()})


def serialize(metric: Any) -> Any:
    """The metric's name (or a loss object's config)."""
    return losses.serialize(metric)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Callable:
    """Resolve a metric by name (own metrics first, then the losses).

    Raises:
        ValueError: On an unknown name, listing the known ones.
    """
    if isinstance(config, str):
        fn = (custom_objects or {}).get(config) or _OWN.get(config)
        if fn is not None:
            return fn
        try:
            return losses.deserialize(config, custom_objects)
        except ValueError:
            raise ValueError(
                f"Unknown metric {config!r}; known metrics: {', '.join(known_names())}"
            ) from None
    return losses.deserialize(config, custom_objects)


def get(identifier: Any) -> Callable:
    """Resolve a metric from a name, a config dict or a callable.

    Raises:
        ValueError: On an unknown name or a non-callable object.
    """
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")
