"""The fused loss ops: each cross-entropy and squared/absolute error as one op.

Their forward and backward are written out by hand, which is both numerically stable and cheaper
than a chain of small recorded ops. Probabilities are clipped into ``[eps, 1 - eps]`` exactly as
Keras does, and no gradient flows through a clipped entry. :mod:`minikeras.losses` checks the
targets and applies these; ``p`` is always the prediction and ``t`` the target.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras.autograd.function import Function

__all__ = [
    "AbsoluteError", "BatchMean", "BinaryCrossentropy", "BinaryCrossentropyLogits",
    "CategoricalCrossentropy", "CategoricalCrossentropyLogits", "SparseCategoricalCrossentropy",
    "SparseCategoricalCrossentropyLogits", "SparseCategoricalCrossentropyLogitsMean",
    "SparseCategoricalCrossentropyMean", "SquaredError", "sample_weight_scale",
]


def _last_axis_n(yp: np.ndarray) -> int:
    return yp.shape[-1] if yp.ndim else 1


class SquaredError(Function):
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


class AbsoluteError(Function):
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


class BinaryCrossentropy(Function):
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


class BinaryCrossentropyLogits(Function):
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


class CategoricalCrossentropy(Function):
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


class CategoricalCrossentropyLogits(Function):
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


class SparseCategoricalCrossentropy(Function):
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


class SparseCategoricalCrossentropyLogits(Function):
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


def sample_weight_scale(weights: np.ndarray, per_shape: tuple, dtype: Any) -> np.ndarray:
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


class BatchMean:
    """Mixin: the batch mean of a per-sample fused loss, still one recorded op.

    ``fit`` uses these on targets it has validated once, so a step records a
    single op for the whole loss. With ``weights`` (one per sample) the mean
    is Keras 2's weighted one (see :func:`sample_weight_scale`).
    """

    def forward(self, ctx, p, *, weights=None, **params):
        per = super().forward(ctx, p, **params)
        ctx.per_shape = per.shape
        if weights is None:
            ctx.scale = None
            return np.asarray(per.mean(), dtype=p.dtype)
        ctx.scale = sample_weight_scale(weights, per.shape, per.dtype)
        return np.asarray((per * ctx.scale).mean(), dtype=p.dtype)

    def backward(self, ctx, grad):
        n = max(int(np.prod(ctx.per_shape)), 1)
        g = np.full(ctx.per_shape, grad / n, dtype=np.result_type(grad))
        if ctx.scale is not None:
            g = g * ctx.scale
        return super().backward(ctx, g)


class SparseCategoricalCrossentropyMean(BatchMean, SparseCategoricalCrossentropy):
    """The batch mean of :class:`SparseCategoricalCrossentropy`, optionally sample-weighted."""

    name = "SparseCategoricalCrossentropyMean"


class SparseCategoricalCrossentropyLogitsMean(BatchMean, SparseCategoricalCrossentropyLogits):
    """The batch mean of :class:`SparseCategoricalCrossentropyLogits`, optionally weighted."""

    name = "SparseCategoricalCrossentropyFromLogitsMean"
