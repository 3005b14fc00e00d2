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
from minikeras.autograd import Function, Tensor

__all__ = [
    "Loss", "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Hinge", "Huber",
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "hinge", "squared_hinge", "huber", "logcosh",
    "kullback_leibler_divergence", "poisson", "cosine_proximity",
    "mse", "mae", "mape", "msle", "kld", "get", "serialize", "deserialize",
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


def _last_axis_n(yp: np.ndarray) -> int:
    return yp.shape[-1] if yp.ndim else 1


# ---------------------------------------------------------------------------
# fused ops: forward and backward side by side
# ---------------------------------------------------------------------------
class _SquaredError(Function):
    """``mean((p - t)², -1)``; ``d/dp = 2 (p - t) / n``."""

    name = "MeanSquaredError"

    def forward(self, ctx, p, t):
        d = p - t
        ctx.save(d)
        return np.mean(d * d, axis=-1)

    def backward(self, ctx, grad):
        (d,) = ctx.saved
        g = grad[..., None] * d * (2.0 / _last_axis_n(d))
        return g, -g


class _AbsoluteError(Function):
    """``mean(|p - t|, -1)``; ``d/dp = sign(p - t) / n``."""

    name = "MeanAbsoluteError"

    def forward(self, ctx, p, t):
        d = p - t
        ctx.save(d)
        return np.mean(np.abs(d), axis=-1)

    def backward(self, ctx, grad):
        (d,) = ctx.saved
        g = grad[..., None] * np.sign(d) / _last_axis_n(d)
        return g, -g


def _clip_mask(p: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip into ``[eps, 1 - eps]`` and tell where the value passed unclipped."""
    c = np.clip(p, eps, 1.0 - eps)
    return c, c == p


class _BinaryCrossentropy(Function):
    """``-mean(t log p + (1 - t) log(1 - p), -1)`` with ``p`` clipped."""

    name = "BinaryCrossentropy"

    def forward(self, ctx, p, t, *, eps):
        c, mask = _clip_mask(p, eps)
        log_c, log_1c = np.log(c), np.log1p(-c)
        ctx.save(c, mask, t, log_c, log_1c)
        return -np.mean(t * log_c + (1 - t) * log_1c, axis=-1)

    def backward(self, ctx, grad):
        c, mask, t, log_c, log_1c = ctx.saved
        g = grad[..., None] / _last_axis_n(c)
        gp = g * mask * (c - t) / (c * (1 - c)) if ctx.needs_input_grad[0] else None
        gt = -g * (log_c - log_1c) if ctx.needs_input_grad[1] else None
        return gp, gt


class _BinaryCrossentropyLogits(Function):
    """Sigmoid cross-entropy on logits ``z``: ``max(z, 0) - z t + log(1 + e^-|z|)``."""

    name = "BinaryCrossentropyFromLogits"

    def forward(self, ctx, z, t):
        ctx.save(z, t)
        per = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        return np.mean(per, axis=-1)

    def backward(self, ctx, grad):
        z, t = ctx.saved
        g = grad[..., None] / _last_axis_n(z)
        e = np.exp(-np.abs(z))
        sig = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
        gz = g * (sig - t) if ctx.needs_input_grad[0] else None
        gt = -g * z if ctx.needs_input_grad[1] else None
        return gz, gt


class _CategoricalCrossentropy(Function):
    """Keras's probability form: ``q = p / sum(p)``, clip, ``-sum(t log q, -1)``."""

    name = "CategoricalCrossentropy"

    def forward(self, ctx, p, t, *, eps):
        s = p.sum(axis=-1, keepdims=True)
        q = p / s
        c, mask = _clip_mask(q, eps)
        log_c = np.log(c)
        ctx.save(p, s, c, mask, t, log_c)
        return -np.sum(t * log_c, axis=-1)

    def backward(self, ctx, grad):
        p, s, c, mask, t, log_c = ctx.saved
        g = grad[..., None]
        gp = gt = None
        if ctx.needs_input_grad[0]:
            gq = -g * t / c * mask  # through the clip
            # through q = p / s: dq_k/dp_j = (δ_jk s - p_k) / s²
            gp = gq / s - np.sum(gq * p, axis=-1, keepdims=True) / (s * s)
        if ctx.needs_input_grad[1]:
            gt = -g * log_c
        return gp, gt


class _CategoricalCrossentropyLogits(Function):
    """Softmax cross-entropy on logits: ``sum(t (logsumexp(z) - z), -1)``."""

    name = "CategoricalCrossentropyFromLogits"

    def forward(self, ctx, z, t):
        m = z.max(axis=-1, keepdims=True)
        e = np.exp(z - m)
        se = e.sum(axis=-1, keepdims=True)
        log_sm = z - m - np.log(se)
        ctx.save(e / se, t, log_sm)
        return -np.sum(t * log_sm, axis=-1)

    def backward(self, ctx, grad):
        sm, t, log_sm = ctx.saved
        g = grad[..., None]
        gz = g * (sm * t.sum(axis=-1, keepdims=True) - t) if ctx.needs_input_grad[0] else None
        gt = -g * log_sm if ctx.needs_input_grad[1] else None
        return gz, gt


def _rows(a: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``a`` as ``(samples, classes)``, the flat labels, and each row's index."""
    a2 = a.reshape(-1, a.shape[-1])
    flat = labels.reshape(-1)
    return a2, flat, np.arange(len(flat))


class _SparseCategoricalCrossentropy(Function):
    """Keras's probability form: clip, then ``log(sum(c)) - log(c[label])``.

    (Keras takes ``log`` of the clipped probabilities and feeds them to a
    softmax cross-entropy, which renormalises by their sum.)
    """

    name = "SparseCategoricalCrossentropy"

    def forward(self, ctx, p, *, labels, eps):
        c, mask = _clip_mask(p, eps)
        c2, flat, rows = _rows(c, labels)
        s = c2.sum(axis=-1)
        c_y = c2[rows, flat]
        ctx.save(c2, mask, s, c_y, flat, rows, p.shape)
        return (np.log(s) - np.log(c_y)).reshape(labels.shape)

    def backward(self, ctx, grad):
        c2, mask, s, c_y, flat, rows, shape = ctx.saved
        g1 = grad.reshape(-1)
        g = np.empty_like(c2)
        g[...] = (g1 / s)[:, None]
        g[rows, flat] -= g1 / c_y
        g = g.reshape(shape)
        g *= mask
        return (g,)


class _SparseCategoricalCrossentropyLogits(Function):
    """Softmax cross-entropy on logits with integer labels: ``logsumexp(z) - z[label]``."""

    name = "SparseCategoricalCrossentropyFromLogits"

    def forward(self, ctx, z, *, labels):
        z2, flat, rows = _rows(z, labels)
        m = z2.max(axis=-1, keepdims=True)
        e = np.exp(z2 - m)
        se = e.sum(axis=-1, keepdims=True)
        out = m[:, 0] + np.log(se[:, 0]) - z2[rows, flat]
        ctx.save(e, se, flat, rows, z.shape)
        return out.reshape(labels.shape)

    def backward(self, ctx, grad):
        e, se, flat, rows, shape = ctx.saved
        g = e / se
        g[rows, flat] -= 1
        g *= grad.reshape(-1, 1)
        return (g.reshape(shape),)


def _sample_weight_scale(weights: np.ndarray, per_shape: tuple, dtype: Any) -> np.ndarray:
    """Keras 2's per-sample factors ``w / mean(w != 0)``, shaped to multiply per-sample losses.

    Keras 2 multiplies each sample's loss by its weight and divides by the
    fraction of non-zero weights, so the batch loss is
    ``sum(w * loss) / count(w != 0)``: zero-weight samples are left out of
    the average instead of pulling it towards zero. A batch whose weights are
    all zero makes Keras divide 0 by 0 (a NaN loss); here its factors stay
    zero, so such a batch contributes a loss of 0 and no gradient.

    Args:
        weights: One weight per sample, shape ``(batch,)``.
        per_shape: Shape of the per-sample losses, ``(batch, ...)``; extra
            axes (e.g. time steps) share their sample's weight.
        dtype: The loss's float dtype.
    """
    w = np.asarray(weights, dtype=dtype)
    nonzero = np.count_nonzero(w)
    if nonzero:
        w = w / np.asarray(nonzero / w.size, dtype=dtype)
    return w.reshape(w.shape + (1,) * (len(per_shape) - 1))


class _BatchMean:
    """Mixin: the batch mean of a per-sample fused loss, still one recorded op.

    ``fit`` uses these on targets it has validated once, so a step records a
    single op for the whole loss. With ``weights`` (one per sample) the mean
    is Keras 2's weighted one (see :func:`_sample_weight_scale`).
    """

    def forward(self, ctx, p, *, weights=None, **params):
        per = super().forward(ctx, p, **params)
        ctx.per_shape = per.shape
        if weights is None:
            ctx.scale = None
            return np.asarray(per.mean(), dtype=p.dtype)
        ctx.scale = _sample_weight_scale(weights, per.shape, per.dtype)
        return np.asarray((per * ctx.scale).mean(), dtype=p.dtype)

    def backward(self, ctx, grad):
        n = max(int(np.prod(ctx.per_shape)), 1)
        g = np.full(ctx.per_shape, grad / n, dtype=np.result_type(grad))
        if ctx.scale is not None:
            g = g * ctx.scale
        return super().backward(ctx, g)


class _SparseCategoricalCrossentropyMean(_BatchMean, _SparseCategoricalCrossentropy):
    name = "SparseCategoricalCrossentropyMean"


class _SparseCategoricalCrossentropyLogitsMean(_BatchMean, _SparseCategoricalCrossentropyLogits):
    name = "SparseCategoricalCrossentropyFromLogitsMean"


# ---------------------------------------------------------------------------
# the loss functions
# ---------------------------------------------------------------------------
def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """Mean of ``(y_pred - y_true)²`` over the last axis."""
    y_true, _ = _pred_and_true("mean_squared_error", y_true, y_pred)
    return _SquaredError.apply(y_pred, y_true)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """Mean of ``|y_pred - y_true|`` over the last axis."""
    y_true, _ = _pred_and_true("mean_absolute_error", y_true, y_pred)
    return _AbsoluteError.apply(y_pred, y_true)


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
        return _BinaryCrossentropyLogits.apply(y_pred, y_true)
    return _BinaryCrossentropy.apply(y_pred, y_true, eps=K.epsilon())


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
        return _CategoricalCrossentropyLogits.apply(y_pred, y_true)
    return _CategoricalCrossentropy.apply(y_pred, y_true, eps=K.epsilon())


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
        return _SparseCategoricalCrossentropyLogits.apply(y_pred, labels=labels)
    return _SparseCategoricalCrossentropy.apply(y_pred, labels=labels, eps=K.epsilon())


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
class Loss:
    """A configurable loss: calling it gives per-sample losses like the functions.

    Subclasses set ``fn`` and keep their keyword arguments in ``self._kwargs``.

    Args:
        name: Name used in logs (defaults to the function's name).
    """

    fn: Callable[..., Tensor]

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        self.name = name or self.fn.__name__
        self._kwargs = kwargs

    @property
    def __name__(self) -> str:  # lets logs and serialize treat objects like functions
        return self.name

    def __call__(self, y_true: Any, y_pred: Any) -> Tensor:
        """Per-sample losses."""
        return type(self).fn(y_true, y_pred, **self._kwargs)

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

    def __init__(self, from_logits: bool = False, name: str | None = None) -> None:
        super().__init__(name, from_logits=bool(from_logits))


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
