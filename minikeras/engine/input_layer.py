"""`InputLayer` and `Input`: where a functional model's graph starts."""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras.backend.config import floatx
from minikeras.engine.base_layer import Layer, unique_name
from minikeras.engine.keras_tensor import KerasTensor
from minikeras.engine.node import Node
from minikeras.engine.registry import register_layer_class


class InputLayer(Layer):
    """The layer behind ``Input``: it owns a placeholder KerasTensor and one node.

    Args:
        input_shape: Shape without the batch dimension.
        batch_size: Optional fixed batch size.
        batch_input_shape: Full shape including the batch dimension (instead of ``input_shape``).
        dtype: Dtype of the input (``floatx()`` by default).
        input_tensor: Optional existing KerasTensor to use as the placeholder.
        sparse: Accepted for Keras compatibility; must be ``False``.
        name: Layer name (``input_1``, ``input_2``, ... by default).

    Raises:
        ValueError: If neither ``input_shape`` nor ``batch_input_shape`` is given,
            or both are, or ``sparse`` is ``True``.
    """

    def __init__(self, input_shape: tuple | None = None, batch_size: int | None = None,
                 batch_input_shape: tuple | None = None, dtype: Any = None,
                 input_tensor: KerasTensor | None = None, sparse: bool = False,
                 name: str | None = None) -> None:
        if not name:
            name = unique_name("input", zero_based=False)
        super().__init__(name=name, dtype=dtype or floatx())
        if sparse:
            raise ValueError(f"InputLayer {name}: sparse inputs are not supported")
        self.sparse = False
        self.trainable = False
        self.built = True
        if input_shape is not None and batch_input_shape is not None:
            raise ValueError(
                f"InputLayer {name}: only provide the input_shape or the batch_input_shape "
                "argument, not both"
            )
        if input_tensor is not None and batch_input_shape is None:
            batch_input_shape = input_tensor.shape
        if batch_input_shape is None:
            if input_shape is None:
                raise ValueError(
                    f"InputLayer {name}: an input_shape or batch_input_shape argument is required"
                )
            batch_input_shape = (batch_size,) + tuple(input_shape)
        self.batch_input_shape = tuple(None if d is None else int(d) for d in batch_input_shape)
        self.dtype = np.dtype(dtype or floatx()).name
        if input_tensor is None:
            input_tensor = KerasTensor(self.batch_input_shape, self.dtype, name=name)
        input_tensor._keras_history = (self, 0, 0)
        input_tensor._keras_mask = None
        Node(self, [], [], [], [input_tensor], [input_tensor], [None], [None],
             [self.batch_input_shape], [self.batch_input_shape])

    def get_config(self) -> dict:
        """``{'batch_input_shape', 'dtype', 'sparse', 'name'}``."""
        return {"batch_input_shape": self.batch_input_shape, "dtype": self.dtype,
                "sparse": self.sparse, "name": self.name}


def Input(shape: tuple | None = None, batch_shape: tuple | None = None,  # noqa: N802
          name: str | None = None, dtype: Any = None, sparse: bool = False,
          tensor: KerasTensor | None = None) -> KerasTensor:
    """Start a functional model: a symbolic input tensor.

    Args:
        shape: Shape without the batch dimension, e.g. ``(8, 8, 1)``.
        batch_shape: Full shape with the batch dimension, e.g. ``(32, 8, 8, 1)``.
        name: Name of the input layer.
        dtype: Dtype (``floatx()`` by default).
        sparse: Must be ``False`` (accepted for Keras compatibility).
        tensor: Optional existing KerasTensor to wrap.

    Returns:
        A KerasTensor whose shape starts with the batch dimension (``None``).

    Raises:
        ValueError: If neither ``shape`` nor ``batch_shape`` (nor ``tensor``) is given.

    Example:
        >>> x = Input(shape=(784,))
        >>> x.shape
        (None, 784)
    """
    if shape is None and batch_shape is None and tensor is None:
        raise ValueError(
            "Please provide to Input either a `shape` or a `batch_shape` argument. Note that "
            "`shape` does not include the batch dimension."
        )
    if shape is not None and batch_shape is None:
        if isinstance(shape, int):
            shape = (shape,)
        batch_shape = (None,) + tuple(shape)
    layer = InputLayer(batch_input_shape=batch_shape, name=name, dtype=dtype, sparse=sparse,
                       input_tensor=tensor)
    return layer._inbound_nodes[0].output_tensors[0]


register_layer_class(InputLayer)
