"""Merge layers: combine a list of tensors into one (``Add``, ``Multiply``, ``Concatenate``...).

Elementwise merges follow Keras 2: inputs of lower rank get length-1 axes inserted after the
batch axis, then the usual broadcasting applies; shapes that cannot broadcast, or different
batch sizes, are a ``ValueError`` naming the layer and the shapes.
"""

from __future__ import annotations

from typing import Any

from minikeras import backend as K
from minikeras.engine.base_layer import Layer
from minikeras.layers._utils import shape_tuple, who

__all__ = [
    "Add", "Average", "Concatenate", "Maximum", "Minimum", "Multiply", "Subtract", "add",
    "average", "concatenate", "maximum", "minimum", "multiply", "subtract",
]


def _shapes(layer: Any, input_shape: Any) -> list[tuple]:
    if not isinstance(input_shape, list) or not input_shape or \
            not isinstance(input_shape[0], list | tuple):
        raise ValueError(f"{who(layer)}: a merge layer should be called on a list of inputs, "
                         f"got input shape {input_shape}")
    if len(input_shape) < 2:
        raise ValueError(f"{who(layer)}: a merge layer should be called on a list of at least "
                         f"2 inputs, got {len(input_shape)} input")
    return [shape_tuple(s) for s in input_shape]


class _Merge(Layer):
    """Elementwise merge base: subclasses implement ``_merge(list_of_tensors)``."""

    _min_inputs = 2

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def _elemwise_shape(self, a: tuple, b: tuple) -> tuple:
        """Broadcast two shapes without their batch axis, aligned at the end."""
        if len(a) < len(b):
            a, b = b, a
        out = list(a[: len(a) - len(b)])
        for i, j in zip(a[len(a) - len(b):], b):
            if i is None or j is None:
                out.append(None)
            elif i == 1:
                out.append(j)
            elif j == 1 or i == j:
                out.append(i)
            else:
                raise ValueError(f"{who(self)}: operands could not be broadcast together with "
                                 f"shapes {a} {b}")
        return tuple(out)

    def _check(self, shapes: list[tuple]) -> tuple:
        batches = {s[0] for s in shapes if s and s[0] is not None}
        if len(batches) > 1:
            raise ValueError(f"{who(self)}: can not merge tensors with different batch sizes, "
                             f"got tensors with shapes {shapes}")
        out = shapes[0][1:]
        for s in shapes[1:]:
            out = self._elemwise_shape(out, s[1:])
        batch = next(iter(batches)) if batches else None
        return (batch, *out)

    def build(self, input_shape: Any) -> None:
        """Check the shapes merge (no weights)."""
        shapes = _shapes(self, input_shape)
        if len(shapes) < self._min_inputs:
            raise ValueError(f"{who(self)}: needs {self._min_inputs} inputs, got {len(shapes)}")
        self._check(shapes)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> tuple:
        """The broadcast shape of the inputs."""
        return self._check(_shapes(self, input_shape))

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """No output mask unless every input mask is ``None`` (then ``None`` too)."""
        return None

    def call(self, inputs: Any) -> Any:
        """Merge the list of tensors."""
        if not isinstance(inputs, list | tuple):
            raise ValueError(f"{who(self)}: a merge layer should be called on a list of inputs")
        ndim = max(x.ndim for x in inputs)
        aligned = []
        for x in inputs:
            while x.ndim < ndim:  # Keras 2: insert axes after the batch axis
                x = K.expand_dims(x, 1)
            aligned.append(x)
        return self._merge(aligned)

    def _merge(self, inputs: list) -> Any:
        raise NotImplementedError


class Add(_Merge):
    """Elementwise sum of a list of tensors."""

    def _merge(self, inputs: list) -> Any:
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    def build(self, input_shape: Any) -> None:
        """Check there are exactly two inputs."""
        shapes = _shapes(self, input_shape)
        if len(shapes) != 2:
            raise ValueError(f"{who(self)}: should be called on exactly 2 inputs, "
                             f"got {len(shapes)}")
        super().build(input_shape)

    def _merge(self, inputs: list) -> Any:
        return inputs[0] - inputs[1]


class Multiply(_Merge):
    """Elementwise product of a list of tensors."""

    def _merge(self, inputs: list) -> Any:
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


class Average(_Merge):
    """Elementwise mean of a list of tensors."""

    def _merge(self, inputs: list) -> Any:
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out * (1.0 / len(inputs))


class Maximum(_Merge):
    """Elementwise maximum of a list of tensors."""

    def _merge(self, inputs: list) -> Any:
        out = inputs[0]
        for x in inputs[1:]:
            out = K.maximum(out, x)
        return out


class Minimum(_Merge):
    """Elementwise minimum of a list of tensors."""

    def _merge(self, inputs: list) -> Any:
        out = inputs[0]
        for x in inputs[1:]:
            out = K.minimum(out, x)
        return out


class Concatenate(_Merge):
    """Concatenate a list of tensors along ``axis``.

    Args:
        axis: The concatenation axis (``-1``: the last).
        **kwargs: Base layer arguments.
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def _check(self, shapes: list[tuple]) -> tuple:
        ndim = len(shapes[0])
        if any(len(s) != ndim for s in shapes) or not -ndim <= self.axis < ndim:
            raise ValueError(f"{who(self)}: requires inputs of the same rank with axis "
                             f"{self.axis} inside it, got input shapes {shapes}")
        axis = self.axis % ndim
        out = list(shapes[0])
        for s in shapes[1:]:
            for i, (a, b) in enumerate(zip(out, s)):
                if i == axis:
                    out[i] = None if a is None or b is None else a + b
                elif a is None:
                    out[i] = b
                elif b is not None and a != b:
                    raise ValueError(
                        f"{who(self)}: requires inputs with matching shapes except for the "
                        f"concat axis {self.axis}, got input shapes {shapes}"
                    )
        return tuple(out)

    def call(self, inputs: Any) -> Any:
        """Concatenate."""
        if not isinstance(inputs, list | tuple):
            raise ValueError(f"{who(self)}: a merge layer should be called on a list of inputs")
        return K.concatenate(list(inputs), axis=self.axis % inputs[0].ndim)

    def get_config(self) -> dict:
        """``{'axis'}``."""
        return {**super().get_config(), "axis": self.axis}


def _functional(cls: type, inputs: list, **kwargs: Any) -> Any:
    return cls(**kwargs)(inputs)


def add(inputs: list, **kwargs: Any) -> Any:
    """Functional form of :class:`Add`."""
    return _functional(Add, inputs, **kwargs)


def subtract(inputs: list, **kwargs: Any) -> Any:
    """Functional form of :class:`Subtract`."""
    return _functional(Subtract, inputs, **kwargs)


def multiply(inputs: list, **kwargs: Any) -> Any:
    """Functional form of :class:`Multiply`."""
    return _functional(Multiply, inputs, **kwargs)


def average(inputs: list, **kwargs: Any) -> Any:
    """Functional form of :class:`Average`."""
    return _functional(Average, inputs, **kwargs)


def maximum(inputs: list, **kwargs: Any) -> Any:
    """Functional form of :class:`Maximum`."""
    return _functional(Maximum, inputs, **kwargs)


def minimum(inputs: list, **kwargs: Any) -> Any:
    """Functional form of :class:`Minimum`."""
    return _functional(Minimum, inputs, **kwargs)


def concatenate(inputs: list, axis: int = -1, **kwargs: Any) -> Any:
    """Functional form of :class:`Concatenate`."""
    return _functional(Concatenate, inputs, axis=axis, **kwargs)
