"""`InputSpec`: what a layer accepts (rank, dtype, fixed axis sizes)."""

from __future__ import annotations

from typing import Any


class InputSpec:
    """Specifies the rank, dtype and shape of every input to a layer.

    Layers set ``self.input_spec`` (one spec, or a list with one per input)
    and ``Layer.__call__`` checks every input against it, raising a
    ``ValueError`` that names the layer and what was expected.

    Args:
        dtype: Expected dtype name, or ``None``.
        shape: Expected shape tuple (``None`` entries match anything), or ``None``.
        ndim: Expected rank, or ``None``.
        max_ndim: Largest accepted rank, or ``None``.
        min_ndim: Smallest accepted rank, or ``None``.
        axes: Dict mapping axis index (may be negative) to its required size.
    """

    __slots__ = ("dtype", "shape", "ndim", "max_ndim", "min_ndim", "axes")

    def __init__(self, dtype: str | None = None, shape: tuple | None = None,
                 ndim: int | None = None, max_ndim: int | None = None,
                 min_ndim: int | None = None, axes: dict | None = None) -> None:
        self.dtype = dtype
        self.shape = None if shape is None else tuple(shape)
        self.ndim = len(self.shape) if shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.axes = dict(axes or {})

    def __repr__(self) -> str:
        parts = [f"{k}={getattr(self, k)!r}" for k in self.__slots__
                 if getattr(self, k) not in (None, {})]
        return f"InputSpec({', '.join(parts)})"


def _dtype_name(x: Any) -> str:
    dt = x.dtype
    return dt if isinstance(dt, str) else dt.name


def assert_input_compatibility(layer: Any, input_spec: Any, inputs: list) -> None:
    """Check ``inputs`` (a list of tensors or KerasTensors) against ``input_spec``.

    Raises:
        ValueError: On a wrong number of inputs, rank, dtype or axis size,
            naming the layer, the input index, what was expected and what came.
    """
    specs = input_spec if isinstance(input_spec, (list, tuple)) else [input_spec]
    if len(specs) != len(inputs):
        raise ValueError(
            f"Layer {layer.name} expects {len(specs)} input(s), but it received "
            f"{len(inputs)} input tensors. Inputs received: {inputs}"
        )
    for index, (spec, x) in enumerate(zip(specs, inputs)):
        if spec is None:
            continue
        shape = tuple(x.shape)
        ndim = len(shape)
        if spec.ndim is not None and ndim != spec.ndim:
            raise ValueError(
                f"Input {index} is incompatible with layer {layer.name}: expected "
                f"ndim={spec.ndim}, found ndim={ndim} (input shape {shape})"
            )
        if spec.max_ndim is not None and ndim > spec.max_ndim:
            raise ValueError(
                f"Input {index} is incompatible with layer {layer.name}: expected "
                f"max_ndim={spec.max_ndim}, found ndim={ndim} (input shape {shape})"
            )
        if spec.min_ndim is not None and ndim < spec.min_ndim:
            raise ValueError(
                f"Input {index} is incompatible with layer {layer.name}: expected "
                f"min_ndim={spec.min_ndim}, found ndim={ndim} (input shape {shape})"
            )
        if spec.dtype is not None and _dtype_name(x) != spec.dtype:
            raise ValueError(
                f"Input {index} is incompatible with layer {layer.name}: expected "
                f"dtype={spec.dtype}, found dtype={_dtype_name(x)}"
            )
        for axis, value in spec.axes.items():
            if value is None:
                continue
            try:
                dim = shape[int(axis)]
            except IndexError:
                raise ValueError(
                    f"Input {index} is incompatible with layer {layer.name}: expected axis "
                    f"{axis} of the input shape to have value {value}, but the input has "
                    f"shape {shape}"
                ) from None
            if dim is not None and dim != value:
                raise ValueError(
                    f"Input {index} is incompatible with layer {layer.name}: expected axis "
                    f"{axis} of the input shape to have value {value}, but got shape {shape}"
                )
        if spec.shape is not None:
            for spec_dim, dim in zip(spec.shape, shape):
                if spec_dim is not None and dim is not None and spec_dim != dim:
                    raise ValueError(
                        f"Input {index} is incompatible with layer {layer.name}: expected "
                        f"shape={spec.shape}, found shape={shape}"
                    )
