"""Loss functions (Keras 2 semantics).

A loss function takes ``(y_true, y_pred)`` and returns one value per sample:
a :class:`~minikeras.autograd.Tensor` of shape ``y_pred.shape[:-1]`` (the mean,
or the sum for cross-entropies, over the last axis). ``fit`` averages it over
the batch.

The cross-entropies and the squared/absolute errors are single fused
:class:`~minikeras.autograd.Function` ops: their forward and backward are
written out by hand, which is both numerically stable and cheaper than a
chain of small recorded ops (issue 9). Probabilities are clipped into
``[epsilon, 1 - epsilon]`` (``epsilon = 1e-7``) exactly as Keras does, and no
gradient flows through a clipped entry.

Example:
    >>> import numpy as np
    >>> from minikeras import losses
    >>> losses.sparse_categorical_crossentropy(np.array([0, 1]),
    ...                                        np.array([[0.9, 0.1], [0.2, 0.8]]))
    Tensor([0.1054 0.2231], shape=(2,), dtype=float64, op=SparseCategoricalCrossentropy)
    >>> loss = losses.get("mse")          # names and aliases
    >>> ce = losses.SparseCategoricalCrossentropy(from_logits=True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minikeras import backend as K
from minikeras.autograd import Tensor
from minikeras.autograd.ops import losses as loss_ops

__all__ = [
    "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Hinge", "Huber",
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "hinge", "squared_hinge", "huber", "logcosh",
    "kullback_leibler_divergence", "poisson", "cosine_proximity",
    "mse", "mae", "mape", "msle", "kld", "as_loss", "batch_mean", "get", "serialize",
    "deserialize",
]


def _arr(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _pred_and_true(name: str, y_true: Any, y_pred: Any) -> tuple[Any, np.ndarray]:
    """Cast ``y_true`` to ``y_pred``'s float dtype and check the shapes agree."""
    yp = _arr(y_pred)
    if yp.dtype.kind != "f":
        raise TypeError(f"{name}: y_pred must be floating, got dtype {yp.dtype}")
    if isinstance(y_true, Tensor):
        if y_true.dtype != yp.dtype:
            y_true = K.cast(y_true, yp.dtype)
        yt = y_true.data
    else:
        yt = np.asarray(y_true)
        if yt.dtype != yp.dtype:
            yt = yt.astype(yp.dtype)
        y_true = yt
    if yt.shape != yp.shape:
        try:
            np.broadcast_shapes(yt.shape, yp.shape)
        except ValueError:
            raise ValueError(
                f"{name}: y_true has shape {yt.shape} but y_pred has shape {yp.shape}"
            ) from None
    return y_true, yp


# ---------------------------------------------------------------------------
# the loss functions
# ---------------------------------------------------------------------------
def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """Mean of ``(y_pred - y_true)²`` over the last axis."""
    y_true, _ = _pred_and_true("mean_squared_error", y_true, y_pred)
    return loss_ops.SquaredError.apply(y_pred, y_true)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """Mean of ``|y_pred - y_true|`` over the last axis."""
    y_true, _ = _pred_and_true("mean_absolute_error", y_true, y_pred)
    return loss_ops.AbsoluteError.apply(y_pred, y_true)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> Tensor:
    """``100 * mean(|y_true - y_pred| / max(|y_true|, epsilon))`` over the last axis."""
    y_true, _ = _pred_and_true("mean_absolute_percentage_error", y_true, y_pred)
    diff = K.abs(K.subtract(y_true, y_pred)) / K.clip(K.abs(y_true), K.epsilon(), None)
    return 100.0 * K.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> Tensor:
    """Mean of ``(log(1 + y_pred) - log(1 + y_true))²`` (values clipped at epsilon)."""
    y_true, _ = _pred_and_true("mean_squared_logarithmic_error", y_true, y_pred)
    a = K.log(K.clip(y_pred, K.epsilon(), None) + 1.0)
    b = K.log(K.clip(y_true, K.epsilon(), None) + 1.0)
    return K.mean(K.square(a - b), axis=-1)


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> Tensor:
    """Binary cross-entropy, averaged over the last axis.

    Args:
        y_true: Targets in ``[0, 1]``, same shape as ``y_pred``.
        y_pred: Probabilities (clipped into ``[1e-7, 1 - 1e-7]``), or logits
            when ``from_logits=True``.
        from_logits: Whether ``y_pred`` holds logits.
    """
    y_true, _ = _pred_and_true("binary_crossentropy", y_true, y_pred)
    if from_logits:
        return loss_ops.BinaryCrossentropyLogits.apply(y_pred, y_true)
    return loss_ops.BinaryCrossentropy.apply(y_pred, y_true, eps=K.epsilon())


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> Tensor:
    """Categorical cross-entropy with one-hot (or soft) targets.

    Args:
        y_true: Target distributions, same shape as ``y_pred``.
        y_pred: Probabilities (renormalised to sum to one, then clipped, as
            Keras does), or logits when ``from_logits=True``.
        from_logits: Whether ``y_pred`` holds logits.
    """
    y_true, _ = _pred_and_true("categorical_crossentropy", y_true, y_pred)
    if from_logits:
        return loss_ops.CategoricalCrossentropyLogits.apply(y_pred, y_true)
    return loss_ops.CategoricalCrossentropy.apply(y_pred, y_true, eps=K.epsilon())


def sparse_labels(name: str, y_true: Any, pred_shape: tuple) -> np.ndarray:
    """Integer class labels of shape ``pred_shape[:-1]`` from ``y_true``.

    Accepts labels shaped ``pred_shape[:-1]`` or ``pred_shape[:-1] + (1,)``,
    integer or integral floats.

    Raises:
        ValueError: On a shape that does not fit, a non-integral value, or a
            label outside ``[0, num_classes)``.
    """
    yt = _arr(y_true)
    lead = pred_shape[:-1]
    if yt.shape != lead:
        if yt.shape == (*lead, 1):
            yt = yt.reshape(lead)
        else:
            raise ValueError(
                f"{name}: expected integer labels of shape {lead} (or {(*lead, 1)}) for "
                f"predictions of shape {pred_shape}, got y_true of shape {yt.shape}"
            )
    if yt.dtype.kind not in "iu":
        if yt.dtype.kind == "f" and yt.size and not np.array_equal(yt, np.floor(yt)):
            raise ValueError(f"{name}: labels must be whole numbers, got {yt.ravel()[:5]}...")
        yt = yt.astype(np.intp)
    n = pred_shape[-1]
    if yt.size and (yt.min() < 0 or yt.max() >= n):
        bad = yt[(yt < 0) | (yt >= n)].ravel()[0]
        raise ValueError(
            f"{name}: label {int(bad)} is out of range for {n} classes "
            f"(labels must be in [0, {n - 1}])"
        )
    return yt


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                                    axis: int = -1) -> Tensor:
    """Categorical cross-entropy with integer labels.

    Args:
        y_true: Integer labels, shape ``y_pred.shape[:-1]`` (or with a
            trailing axis of 1).
        y_pred: Probabilities over the last axis (clipped), or logits when
            ``from_logits=True``.
        from_logits: Whether ``y_pred`` holds logits.
        axis: The class axis; only ``-1`` is supported.
    """
    if axis not in (-1, _arr(y_pred).ndim - 1):
        raise ValueError("sparse_categorical_crossentropy: only axis=-1 is supported")
    name = "sparse_categorical_crossentropy"
    labels = sparse_labels(name, y_true, _arr(y_pred).shape)
    if from_logits:
        return loss_ops.SparseCategoricalCrossentropyLogits.apply(y_pred, labels=labels)
    return loss_ops.SparseCategoricalCrossentropy.apply(y_pred, labels=labels, eps=K.epsilon())


def hinge(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(max(1 - y_true * y_pred, 0), -1)``; targets are expected in ``{-1, 1}``."""
    y_true, _ = _pred_and_true("hinge", y_true, y_pred)
    return K.mean(K.maximum(1.0 - K.multiply(y_true, y_pred), 0.0), axis=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(max(1 - y_true * y_pred, 0)², -1)``."""
    y_true, _ = _pred_and_true("squared_hinge", y_true, y_pred)
    return K.mean(K.square(K.maximum(1.0 - K.multiply(y_true, y_pred), 0.0)), axis=-1)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Tensor:
    """Huber loss: quadratic for ``|error| <= delta``, linear beyond; mean over the last axis."""
    y_true, _ = _pred_and_true("huber", y_true, y_pred)
    abs_err = K.abs(K.subtract(y_pred, y_true))
    quadratic = K.minimum(abs_err, delta)
    linear = abs_err - quadratic
    return K.mean(0.5 * K.square(quadratic) + delta * linear, axis=-1)


def logcosh(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(log(cosh(y_pred - y_true)), -1)``, computed stably."""
    y_true, _ = _pred_and_true("logcosh", y_true, y_pred)
    x = K.subtract(y_pred, y_true)
    return K.mean(x + K.softplus(-2.0 * x) - float(np.log(2.0)), axis=-1)


def kullback_leibler_divergence(y_true: Any, y_pred: Any) -> Tensor:
    """``sum(t log(t / p), -1)`` with both clipped into ``[epsilon, 1]``."""
    y_true, _ = _pred_and_true("kullback_leibler_divergence", y_true, y_pred)
    t = K.clip(y_true, K.epsilon(), 1.0)
    p = K.clip(y_pred, K.epsilon(), 1.0)
    return K.sum(t * K.log(t / p), axis=-1)


def poisson(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(p - t log(p + epsilon), -1)``."""
    y_true, _ = _pred_and_true("poisson", y_true, y_pred)
    return K.mean(y_pred - K.multiply(y_true, K.log(K.add(y_pred, K.epsilon()))), axis=-1)


def _l2_normalize(x: Any) -> Tensor:
    return x / K.sqrt(K.maximum(K.sum(K.square(x), axis=-1, keepdims=True), 1e-12))


def cosine_proximity(y_true: Any, y_pred: Any) -> Tensor:
    """``-sum(l2_normalize(t) * l2_normalize(p), -1)``."""
    y_true, _ = _pred_and_true("cosine_proximity", y_true, y_pred)
    if not isinstance(y_true, Tensor):
        y_true = Tensor(y_true)
    return -K.sum(_l2_normalize(y_true) * _l2_normalize(y_pred), axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence
cosine = cosine_proximity


# ---------------------------------------------------------------------------
# loss objects (configurable, serialisable)
# ---------------------------------------------------------------------------
def batch_mean(per_sample: Tensor, sample_weight: Any = None) -> Tensor:
    """The batch's loss from per-sample losses: their mean, or Keras 2's weighted mean.

    With ``sample_weight`` (one weight per sample) it is ``sum(w * loss) / count(w != 0)``:
    samples of weight 0 are left out of the average instead of pulling it towards 0. Extra
    axes of the per-sample losses (time steps) share their sample's weight. A batch whose
    weights are all 0 gives 0 (Keras 2 computes 0 / 0 = NaN there).

    Args:
        per_sample: A loss function's output, shape ``(batch, ...)``.
        sample_weight: ``None``, or one weight per sample.
    """
    if sample_weight is None:
        return per_sample.mean() if per_sample.ndim else per_sample
    scale = loss_ops.sample_weight_scale(sample_weight, per_sample.shape, per_sample.dtype)
    return (per_sample * scale).mean()


class Loss:
    """A configurable loss: calling it gives per-sample losses like the functions.

    ``fit`` asks every loss the same thing, :meth:`batch_mean`: the one number it minimises
    for a batch. A fused loss overrides it to compute that number as a single op.

    Subclasses set ``fn`` and keep their keyword arguments in ``self._kwargs``.

    Args:
        name: Name used in logs (defaults to the function's name).

    Attributes:
        integer_labels: Whether the targets are integer class labels (one per sample) rather
            than arrays shaped like the predictions; ``fit`` checks them as such.
    """

    fn: Callable[..., Tensor]
    integer_labels: bool = False

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        self.name = name or self.fn.__name__
        self._kwargs = kwargs

    @property
    def __name__(self) -> str:  # lets logs and serialize treat objects like functions
        return self.name

    def __call__(self, y_true: Any, y_pred: Any) -> Tensor:
        """Per-sample losses."""
        return type(self).fn(y_true, y_pred, **self._kwargs)

    def batch_mean(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        """The batch's loss: the (weighted) mean of the per-sample losses (see :func:`batch_mean`).

        Args:
            y_true: The targets.
            y_pred: The predictions.
            sample_weight: ``None``, or one weight per sample.
        """
        return batch_mean(self(y_true, y_pred), sample_weight)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, for serialisation."""
        return {"name": self.name, **self._kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """Rebuild from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items())
        return f"{type(self).__name__}({args})"


class LossFunctionWrapper(Loss):
    """Any loss function ``fn(y_true, y_pred)`` as a :class:`Loss` (your own ones too).

    Args:
        fn: The function, returning per-sample losses.
        name: Name used in logs (defaults to the function's name).
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        self.fn = fn
        super().__init__(name or getattr(fn, "__name__", type(fn).__name__))

    def __call__(self, y_true: Any, y_pred: Any) -> Tensor:
        """Per-sample losses: ``fn(y_true, y_pred)``."""
        return self.fn(y_true, y_pred)


class MeanSquaredError(Loss):
    """:func:`mean_squared_error` as an object."""

    fn = staticmethod(mean_squared_error)

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)


class MeanAbsoluteError(Loss):
    """:func:`mean_absolute_error` as an object."""

    fn = staticmethod(mean_absolute_error)

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)


class BinaryCrossentropy(Loss):
    """:func:`binary_crossentropy` with a ``from_logits`` switch."""

    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits: bool = False, name: str | None = None) -> None:
        super().__init__(name, from_logits=bool(from_logits))


class CategoricalCrossentropy(Loss):
    """:func:`categorical_crossentropy` with a ``from_logits`` switch."""

    fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits: bool = False, name: str | None = None) -> None:
        super().__init__(name, from_logits=bool(from_logits))


class SparseCategoricalCrossentropy(Loss):
    """:func:`sparse_categorical_crossentropy` with a ``from_logits`` switch."""

    fn = staticmethod(sparse_categorical_crossentropy)
    integer_labels = True

    def __init__(self, from_logits: bool = False, name: str | None = None) -> None:
        super().__init__(name, from_logits=bool(from_logits))

    def batch_mean(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        """The (weighted) batch mean as one fused op: one tape record for the whole loss."""
        labels = sparse_labels("sparse_categorical_crossentropy", y_true, _arr(y_pred).shape)
        if self._kwargs["from_logits"]:
            return loss_ops.SparseCategoricalCrossentropyLogitsMean.apply(
                y_pred, labels=labels, weights=sample_weight)
        return loss_ops.SparseCategoricalCrossentropyMean.apply(
            y_pred, labels=labels, eps=K.epsilon(), weights=sample_weight)


class Hinge(Loss):
    """:func:`hinge` as an object."""

    fn = staticmethod(hinge)

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)


class Huber(Loss):
    """:func:`huber` with its ``delta``."""

    fn = staticmethod(huber)

    def __init__(self, delta: float = 1.0, name: str | None = None) -> None:
        super().__init__(name, delta=float(delta))


_FUNCTIONS: dict[str, Callable] = {
    f.__name__: f for f in (
        mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
        mean_squared_logarithmic_error, binary_crossentropy, categorical_crossentropy,
        sparse_categorical_crossentropy, hinge, squared_hinge, huber, logcosh,
        kullback_leibler_divergence, poisson, cosine_proximity,
    )
}
_ALIASES = {
    "mse": mse, "MSE": mse, "mae": mae, "MAE": mae, "mape": mape, "MAPE": mape,
    "msle": msle, "MSLE": msle, "kld": kld, "KLD": kld, "cosine": cosine,
    "huber_loss": huber,
}
_CLASSES: dict[str, type[Loss]] = {
    c.__name__: c for c in (
        MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy, CategoricalCrossentropy,
        SparseCategoricalCrossentropy, Hinge, Huber,
    )
}


# The built-in functions' Loss classes, so that a loss given by name or function is asked for
# its batch mean like any Loss (and the fused ones give theirs as one op).
_CLASS_OF_FUNCTION: dict[Callable, type[Loss]] = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy, hinge: Hinge, huber: Huber,
}


def as_loss(loss: Any) -> Loss:
    """``loss`` as a :class:`Loss` object: itself, its built-in class, or a wrapper.

    Args:
        loss: A :class:`Loss`, a loss function (built-in or your own) or anything :func:`get`
            resolves.

    Raises:
        ValueError: If ``loss`` cannot be resolved to a callable.
    """
    loss = get(loss)
    if isinstance(loss, Loss):
        return loss
    cls = _CLASS_OF_FUNCTION.get(loss)
    if cls is not None:
        return cls(name=loss.__name__)
    return LossFunctionWrapper(loss)


def known_names() -> list[str]:
    """All names :func:`get` accepts."""
    return sorted({*_FUNCTIONS, *_ALIASES, *_CLASSES})


def serialize(loss: Any) -> Any:
    """A function's name, or ``{'class_name', 'config'}`` for a :class:`Loss` object."""
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    name = getattr(loss, "__name__", None)
    if name is None:
        raise ValueError(f"losses.serialize: cannot serialize {loss!r}")
    return name


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """Inverse of :func:`serialize` (names, aliases and class configs).

    Raises:
        ValueError: On an unknown name, listing the known ones.
    """
    custom_objects = custom_objects or {}
    if isinstance(config, dict):
        cls_name = config.get("class_name")
        cls = custom_objects.get(cls_name) or _CLASSES.get(cls_name)
        if cls is None:
            raise ValueError(
                f"Unknown loss class {cls_name!r}; known: {sorted(_CLASSES)}"
            )
        return cls.from_config(dict(config.get("config", {})))
    if isinstance(config, str):
        fn = custom_objects.get(config) or _FUNCTIONS.get(config) or _ALIASES.get(config)
        if fn is None and config in _CLASSES:
            fn = _CLASSES[config]()
        if fn is None:
            raise ValueError(f"Unknown loss {config!r}; known losses: {', '.join(known_names())}")
        return fn
    raise ValueError(f"losses.deserialize: cannot interpret {config!r}")


def get(identifier: Any) -> Any:
    """Resolve a loss from a name, a config dict, a callable or ``None``.

    Raises:
        ValueError: On an unknown name or an object that is not callable.
    """
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")
