"""Weight initializers, as Keras 2's ``keras.initializers``.

An initializer is an object called as ``init(shape, dtype=None) -> np.ndarray``. Random ones
take ``seed=None``: with a seed they draw from their own generator (the same numbers every
call), without one from the library's shared generator
(:func:`minikeras.backend.random.get_rng`), so ``set_random_seed(n)`` makes a whole model
repeatable.

The lower-case names are Keras 2's shortcuts: ``glorot_uniform()`` is
``VarianceScaling(scale=1.0, mode='fan_avg', distribution='uniform')`` and serialises as such.

Example:
    >>> from minikeras import initializers
    >>> init = initializers.get("he_normal")
    >>> init((3, 4)).shape
    (3, 4)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minikeras.backend.config import floatx
from minikeras.backend.random import make_rng
from minikeras.generic_utils import (
    deserialize_keras_object,
    resolve_identifier,
    serialize_keras_object,
)

__all__ = [
    "Constant", "Identity", "Initializer", "Ones", "Orthogonal", "RandomNormal",
    "RandomUniform", "TruncatedNormal", "VarianceScaling", "Zeros", "deserialize", "get",
    "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal",
    "lecun_uniform", "serialize",
]


def _dtype(dtype: Any) -> np.dtype:
    return np.dtype(floatx() if dtype is None else dtype)


def _shape(shape: Any) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    if any(d is None or int(d) < 0 for d in shape):
        raise ValueError(f"initializer: shape must be fully defined and non-negative, got {shape}")
    return tuple(int(d) for d in shape)


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype=None)``."""

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        """Return a new array of ``shape`` and ``dtype`` (default ``floatx()``)."""
        raise NotImplementedError

    def get_config(self) -> dict:
        """The constructor arguments, as a JSON-friendly dict."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Initializer:
        """Rebuild from :meth:`get_config`'s output."""
        config = dict(config)
        config.pop("dtype", None)  # written by some later Keras versions; unused here
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        """Zeros of ``shape``."""
        return np.zeros(_shape(shape), dtype=_dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        """Ones of ``shape``."""
        return np.ones(_shape(shape), dtype=_dtype(dtype))


class Constant(Initializer):
    """Every entry equals ``value``.

    Args:
        value: A float.
    """

    def __init__(self, value: float = 0) -> None:
        self.value = value

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        """``value`` everywhere."""
        return np.full(_shape(shape), self.value, dtype=_dtype(dtype))

    def get_config(self) -> dict:
        """``{'value'}``."""
        return {"value": self.value}


class RandomNormal(Initializer):
    """Normal distribution.

    Args:
        mean: Mean.
        stddev: Standard deviation.
        seed: Optional integer seed.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        """Draw from ``N(mean, stddev²)``."""
        rng = make_rng(self.seed)
        return rng.normal(self.mean, self.stddev, _shape(shape)).astype(_dtype(dtype))

    def get_config(self) -> dict:
        """``{'mean', 'stddev', 'seed'}``."""
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    """Uniform distribution on ``[minval, maxval)``.

    Args:
        minval: Lower bound.
        maxval: Upper bound.
        seed: Optional integer seed.
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05,
                 seed: int | None = None) -> None:
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        """Draw from ``U(minval, maxval)``."""
        rng = make_rng(self.seed)
        return rng.uniform(self.minval, self.maxval, _shape(shape)).astype(_dtype(dtype))

    def get_config(self) -> dict:
        """``{'minval', 'maxval', 'seed'}``."""
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


def _truncated_normal(rng: np.random.Generator, mean: float, stddev: float,
                      shape: tuple[int, ...]) -> np.ndarray:
    """Normal draws, re-drawing any that fall more than two standard deviations out."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev + mean


class TruncatedNormal(Initializer):
    """Normal distribution truncated at two standard deviations (re-drawn, as TensorFlow does).

    Args:
        mean: Mean.
        stddev: Standard deviation of the normal before truncation.
        seed: Optional integer seed.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        """Draw from the truncated normal."""
        rng = make_rng(self.seed)
        return _truncated_normal(rng, self.mean, self.stddev, _shape(shape)).astype(_dtype(dtype))

    def get_config(self) -> dict:
        """``{'mean', 'stddev', 'seed'}``."""
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


def _compute_fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """Fan-in and fan-out of a weight shape, Keras 2's rule.

    Dense ``(in, out)``; convolution kernels ``(*spatial, in, out)`` multiply both by the
    receptive field size; other ranks use ``sqrt(size)`` for both.
    """
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    if len(shape) in (3, 4, 5):
        receptive = float(np.prod(shape[:-2]))
        return shape[-2] * receptive, shape[-1] * receptive
    root = math.sqrt(float(np.prod(shape))) if shape else 1.0
    return root, root


class VarianceScaling(Initializer):
    """Scale the spread to the weight's fan: variance ``scale / n``.

    ``n`` is the fan-in, the fan-out or their mean (``mode``). With
    ``distribution='normal'`` the draws come from a normal truncated at two standard deviations
    with standard deviation ``sqrt(scale / n)`` (Keras 2.0/2.1); with ``'uniform'`` from
    ``U(-limit, limit)``, ``limit = sqrt(3 scale / n)``.

    Args:
        scale: Positive scaling factor.
        mode: ``'fan_in'``, ``'fan_out'`` or ``'fan_avg'``.
        distribution: ``'normal'`` or ``'uniform'``.
        seed: Optional integer seed.

    Raises:
        ValueError: On a non-positive scale or an unknown mode or distribution.
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "normal",
                 seed: int | None = None) -> None:
        if scale <= 0.0:
            raise ValueError(f"VarianceScaling: scale must be a positive float, got {scale!r}")
        mode = str(mode).lower()
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(
                f"VarianceScaling: mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}"
            )
        distribution = str(distribution).lower()
        if distribution not in ("normal", "uniform"):
            raise ValueError(
                f"VarianceScaling: distribution must be 'normal' or 'uniform', "
                f"got {distribution!r}"
            )
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        """Draw with the fan-scaled spread."""
        shape = _shape(shape)
        fan_in, fan_out = _compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        rng = make_rng(self.seed)
        if self.distribution == "normal":
            out = _truncated_normal(rng, 0.0, math.sqrt(scale), shape)
        else:
            limit = math.sqrt(3.0 * scale)
            out = rng.uniform(-limit, limit, shape)
        return out.astype(_dtype(dtype))

    def get_config(self) -> dict:
        """``{'scale', 'mode', 'distribution', 'seed'}``."""
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


class Orthogonal(Initializer):
    """A random orthogonal matrix (rows or columns orthonormal), times ``gain``.

    Higher-rank shapes are flattened to ``(shape[0], prod(shape[1:]))`` first.

    Args:
        gain: Multiplicative factor.
        seed: Optional integer seed.
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain, self.seed = gain, seed

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        """Draw a random orthogonal matrix via the SVD of a normal one."""
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: needs a shape of rank >= 2, got {shape}")
        flat = (shape[0], int(np.prod(shape[1:])))
        a = make_rng(self.seed).normal(0.0, 1.0, flat)
        u, _, v = np.linalg.svd(a, full_matrices=False)
        q = u if u.shape == flat else v
        return (self.gain * q.reshape(shape)).astype(_dtype(dtype))

    def get_config(self) -> dict:
        """``{'gain', 'seed'}``."""
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D square shapes only).

    Args:
        gain: Multiplicative factor.
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        """``gain * eye(n)``.

        Raises:
            ValueError: If the shape is not 2-D and square.
        """
        shape = _shape(shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(
                f"Identity: can only initialize 2-D square matrices, got shape {shape}"
            )
        return (self.gain * np.eye(shape[0])).astype(_dtype(dtype))

    def get_config(self) -> dict:
        """``{'gain'}``."""
        return {"gain": self.gain}


def glorot_uniform(seed: int | None = None) -> VarianceScaling:
    """Glorot/Xavier uniform: ``U(-l, l)``, ``l = sqrt(6 / (fan_in + fan_out))``."""
    return VarianceScaling(scale=1.0, mode="fan_avg", distribution="uniform", seed=seed)


def glorot_normal(seed: int | None = None) -> VarianceScaling:
    """Glorot/Xavier normal: stddev ``sqrt(2 / (fan_in + fan_out))`` (truncated)."""
    return VarianceScaling(scale=1.0, mode="fan_avg", distribution="normal", seed=seed)


def he_uniform(seed: int | None = None) -> VarianceScaling:
    """He uniform: ``U(-l, l)``, ``l = sqrt(6 / fan_in)``."""
    return VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform", seed=seed)


def he_normal(seed: int | None = None) -> VarianceScaling:
    """He normal: stddev ``sqrt(2 / fan_in)`` (truncated)."""
    return VarianceScaling(scale=2.0, mode="fan_in", distribution="normal", seed=seed)


def lecun_uniform(seed: int | None = None) -> VarianceScaling:
    """LeCun uniform: ``U(-l, l)``, ``l = sqrt(3 / fan_in)``."""
    return VarianceScaling(scale=1.0, mode="fan_in", distribution="uniform", seed=seed)


def lecun_normal(seed: int | None = None) -> VarianceScaling:
    """LeCun normal: stddev ``sqrt(1 / fan_in)`` (truncated)."""
    return VarianceScaling(scale=1.0, mode="fan_in", distribution="normal", seed=seed)


# Keras 2's lower-case aliases (``zero``/``one`` are its older spellings).
zeros = zero = Zeros
ones = one = Ones
constant = Constant
random_normal = normal = RandomNormal
random_uniform = uniform = RandomUniform
truncated_normal = TruncatedNormal
variance_scaling = VarianceScaling
orthogonal = Orthogonal
identity = Identity

_OBJECTS: dict[str, Any] = {
    "Zeros": Zeros, "Ones": Ones, "Constant": Constant, "RandomNormal": RandomNormal,
    "RandomUniform": RandomUniform, "TruncatedNormal": TruncatedNormal,
    "VarianceScaling": VarianceScaling, "Orthogonal": Orthogonal, "Identity": Identity,
    "zeros": zeros, "zero": zero, "ones": ones, "one": one, "constant": constant,
    "random_normal": random_normal, "normal": normal, "random_uniform": random_uniform,
    "uniform": uniform, "truncated_normal": truncated_normal,
    "variance_scaling": variance_scaling, "orthogonal": orthogonal, "identity": identity,
    "glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal,
    "he_uniform": he_uniform, "he_normal": he_normal,
    "lecun_uniform": lecun_uniform, "lecun_normal": lecun_normal,
}


def serialize(initializer: Initializer) -> dict:
    """``{'class_name', 'config'}`` of an initializer."""
    return serialize_keras_object(initializer)


def deserialize(config: Any, custom_objects: dict | None = None) -> Initializer:
    """Build an initializer from a name or a ``{'class_name', 'config'}`` dict.

    Raises:
        ValueError: On an unknown name (the message lists the known ones).
    """
    return deserialize_keras_object(
        config, module_objects=_OBJECTS, custom_objects=custom_objects,
        printable_module_name="initializer",
    )


def get(identifier: Any) -> Initializer | None:
    """Resolve an initializer: a name, a config dict, a callable, or ``None``.

    Raises:
        ValueError: On an unknown name or an uninterpretable identifier.
    """
    return resolve_identifier(identifier, deserialize, "initializer", "glorot_uniform")
