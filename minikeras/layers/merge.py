"""Merge layers: combine a list of tensors into one (``Add``, ``Multiply``, ``Concatenate``...).

Elementwise merges follow Keras 2: inputs of lower rank get length-1 axes inserted after the
batch axis, then the usual broadcasting applies; shapes that cannot broadcast, or different
batch sizes, are a ``ValueError`` naming the layer and the shapes.

Masks (Keras 2): every merge layer supports masking. An elementwise merge's output mask is
``None`` when no input has a mask, else the logical AND of the input masks that are given.
``Concatenate`` concatenates the masks along its axis (an unmasked input counts as all
``True``; a mask with one axis fewer than its input is expanded on the last axis), then keeps
the positions where every entry along the last axis is ``True``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras import backend as K
from minikeras.autograd import Tensor
from minikeras.engine.base_layer import Layer
from minikeras.engine.keras_tensor import KerasTensor
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


def _given_masks(layer: Any, inputs: Any, mask: Any) -> list | None:
    """The list of input masks (Keras 2's checks), or ``None`` when no input has one."""
    if mask is None:
        return None
    if not isinstance(mask, list | tuple):
        raise ValueError(f"{who(layer)}: `mask` should be a list (one mask or None per input), "
                         f"got {type(mask).__name__}")
    if not isinstance(inputs, list | tuple):
        raise ValueError(f"{who(layer)}: `inputs` should be a list, got {type(inputs).__name__}")
    if len(mask) != len(inputs):
        raise ValueError(f"{who(layer)}: the lists `inputs` and `mask` should have the same "
                         f"length, got {len(inputs)} inputs and {len(mask)} masks")
    if all(m is None for m in mask):
        return None
    return list(mask)


def _is_symbolic(masks: list) -> bool:
    # Keras 2 combines the masks alone: concrete masks give a concrete mask even when the
    # inputs are symbolic (only a symbolic mask makes the result a placeholder)
    return any(isinstance(m, KerasTensor) for m in masks)


def _mask_array(mask: Any) -> np.ndarray:
    return np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=bool)


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
        """The logical AND of the given input masks; ``None`` when no input has a mask.

        Masks of lower rank are aligned like the inputs (axes inserted after
        the batch axis), then broadcast.

        Raises:
            ValueError: If ``mask`` is not a list as long as ``inputs``, or the
                masks cannot be combined.
        """
        masks = _given_masks(self, inputs, mask)
        if masks is None:
            return None
        present = [m for m in masks if m is not None]
        if _is_symbolic(present):
            shapes = [tuple(m.shape) for m in present if hasattr(m, "shape")]
            shape = self._check(shapes) if len(shapes) == len(present) else \
                self.compute_output_shape([tuple(x.shape) for x in inputs])[:-1]
            return KerasTensor(shape, "bool", name=f"{self.name}/mask")
        arrays = [_mask_array(m) for m in present]
        ndim = max(a.ndim for a in arrays)
        out = None
        for a in arrays:
            while a.ndim < ndim:
                a = np.expand_dims(a, 1)
            try:
                out = a if out is None else np.logical_and(out, a)
            except ValueError:
                raise ValueError(f"{who(self)}: input masks of shapes "
                                 f"{[m.shape for m in arrays]} cannot be combined") from None
        return out

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
        try:
            return self._merge(aligned)
        except ValueError:
            # a built layer called again on shapes that do not merge: say which layer
            self._check([tuple(x.shape) for x in inputs])
            raise

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
    """``inputs[0] - inputs[1]``: exactly two inputs of the same shape (no broadcasting).

    As Keras 2 (whose ``_merge_function`` checks on every call), the checks run
    on every call, symbolic or eager, not only when the layer is built.
    """

    def _check(self, shapes: list[tuple]) -> tuple:
        if len(shapes) != 2:
            raise ValueError(f"{who(self)}: should be called on exactly 2 inputs, "
                             f"got {len(shapes)}")
        out = super()._check(shapes)  # shapes that cannot merge at all: the broadcast error
        if tuple(shapes[0]) != tuple(shapes[1]):
            raise ValueError(f"{who(self)}: should be called on inputs of the same shape, "
                             f"got input shapes {[tuple(s) for s in shapes]}")
        return out

    def call(self, inputs: Any) -> Any:
        """``inputs[0] - inputs[1]``, after the checks."""
        if isinstance(inputs, list | tuple):
            self._check([tuple(x.shape) for x in inputs])
        return super().call(inputs)

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
        try:
            return K.concatenate(list(inputs), axis=self.axis % inputs[0].ndim)
        except ValueError:
            self._check([tuple(x.shape) for x in inputs])  # names the layer and the shapes
            raise

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The masks concatenated along ``axis``, then AND-ed over the last axis (Keras 2).

        An unmasked input counts as all ``True``; a mask with one axis fewer
        than its input is expanded on the last axis. The result has the
        output's shape without its last axis.

        Raises:
            ValueError: If ``mask`` is not a list as long as ``inputs``, or a
                mask does not fit its input.
        """
        masks = _given_masks(self, inputs, mask)
        if masks is None:
            return None
        # an unmasked input contributes ones of its own shape: symbolic if the input is
        if _is_symbolic(masks) or any(m is None and isinstance(x, KerasTensor)
                                      for x, m in zip(inputs, masks)):
            shape = self.compute_output_shape([tuple(x.shape) for x in inputs])[:-1]
            return KerasTensor(shape, "bool", name=f"{self.name}/mask")
        full = []
        for x, m in zip(inputs, masks):
            shape = tuple(x.shape)
            if m is None:
                full.append(np.ones(shape, dtype=bool))
                continue
            a = _mask_array(m)
            if a.ndim < len(shape):
                a = a[..., None]
            if len(shape) == a.ndim:
                # a symbolic input's unknown dimensions are the mask's
                shape = tuple(d if s is None else s for s, d in zip(shape, a.shape))
            try:
                # spelled out to the input's shape, so unmasked and masked inputs concatenate
                full.append(np.broadcast_to(a, shape))
            except ValueError:
                raise ValueError(f"{who(self)}: a mask of shape {_mask_array(m).shape} does "
                                 f"not fit its input of shape {shape}") from None
        return np.concatenate(full, axis=self.axis).all(axis=-1)

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
