"""`Sequential`: a linear stack of layers, built now or on first use."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from minikeras.engine.base_layer import Layer
from minikeras.engine.input_layer import Input, InputLayer
from minikeras.engine.keras_tensor import KerasTensor
from minikeras.engine.model import Model
from minikeras.engine.registry import deserialize_layer, register_layer_class
from minikeras.engine.topology import Container


class Sequential(Model):
    """A model that is a plain stack of single-input, single-output layers.

    The graph is built as soon as the input shape is known: when the first
    layer has an ``input_shape``/``batch_input_shape`` (or is an
    ``InputLayer`` or an already-connected model), else on ``build(shape)``,
    the first call on data, or the first call on a KerasTensor.

    Args:
        layers: Optional list of layers to add.
        name: Model name (``sequential``, ``sequential_1``, ... by default).

    Example:
        >>> model = Sequential([Dense(32, input_shape=(8,)), Dense(10)])
        >>> model.output_shape
        (None, 10)
    """

    def __init__(self, layers: list | None = None, name: str | None = None,
                 **kwargs: Any) -> None:
        self._stack: list[Layer] = []
        self._input_tensor: KerasTensor | None = None
        super().__init__(name=name, **kwargs)
        self.built = False
        for layer in layers or []:
            self.add(layer)

    # `Container` assigns `self.layers`; Sequential shows only the added layers
    @property
    def layers(self) -> list[Layer]:  # type: ignore[override]
        """The added layers, in order (an automatic ``InputLayer`` is not listed)."""
        return [layer for layer in self._stack if not isinstance(layer, InputLayer)]

    @layers.setter
    def layers(self, value: list) -> None:
        self._graph_layers = list(value)

    def add(self, layer: Layer) -> None:
        """Append a layer on top of the stack.

        Raises:
            TypeError: If ``layer`` is not a Layer, or has several output tensors.
            ValueError: If a layer with the same name is already in the model.
        """
        if not isinstance(layer, Layer):
            raise TypeError(
                f"The added layer must be an instance of class Layer. Found: {layer!r}"
            )
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(
                f'Sequential {self.name}: a layer named "{layer.name}" is already in the model. '
                "All layer names should be unique."
            )
        if not self._stack and self._input_tensor is None:
            if len(layer._inbound_nodes) > 1:
                raise ValueError(
                    f"Sequential {self.name}: a layer added to a Sequential model must not "
                    f"already be connected somewhere else. Model received layer {layer.name} "
                    f"which has {len(layer._inbound_nodes)} pre-existing inbound connections."
                )
            if isinstance(layer, InputLayer):
                self._stack.append(layer)
                self._input_tensor = layer._inbound_nodes[0].output_tensors[0]
                return
            batch_shape = _known_batch_shape(layer)
            self._stack.append(layer)
            if batch_shape is not None:
                self._input_tensor = Input(batch_shape=batch_shape, dtype=_input_dtype(layer),
                                           name=f"{layer.name}_input")
                self._input_tensor._keras_history[0]._auto = True
                self._connect_all()
            return
        self._stack.append(layer)
        if self.built:
            try:
                out = layer(self.outputs[0])
            except Exception:
                self._stack.pop()
                raise
            if isinstance(out, list):
                self._stack.pop()
                raise TypeError(
                    "All layers in a Sequential model should have a single output tensor. "
                    "For multi-output layers, use the functional API."
                )
            self._init_graph(self._input_tensor, out)
            self.built = True
        elif self._input_tensor is not None:
            self._connect_all()

    def _connect_all(self) -> None:
        x = self._input_tensor
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if isinstance(x, list):
                self._stack.remove(layer)
                # Keras 2: ValueError for the first layer (checked as the input is made),
                # TypeError for a layer added on top
                raise (ValueError if i == 0 else TypeError)(
                    "All layers in a Sequential model should have a single output tensor. "
                    "For multi-output layers, use the functional API."
                )
        if x is self._input_tensor:
            return
        self._init_graph(self._input_tensor, x)
        self.built = True

    def pop(self) -> None:
        """Remove the last layer.

        Raises:
            TypeError: If there are no layers.
        """
        layers = self.layers
        if not layers:
            raise TypeError("There are no layers in the model.")
        last = layers[-1]
        self._stack.remove(last)
        if not self.built:
            return
        previous = layers[-2] if len(layers) > 1 else None
        if previous is None:
            self._reset_graph()
            return
        # the popped layer's node in this model consumed the new output
        for node in previous._outbound_nodes:
            if node.outbound_layer is last:
                previous._outbound_nodes.remove(node)
                break
        new_output = self.outputs[0]
        for node in last._inbound_nodes:
            if node.output_tensors[0] is self.outputs[0]:
                new_output = node.input_tensors[0]
        self._init_graph(self._input_tensor, new_output)

    def _reset_graph(self) -> None:
        auto = getattr(self._input_tensor._keras_history[0], "_auto", False) \
            if self._input_tensor is not None else True
        if auto:
            self._input_tensor = None
        self.inputs, self.outputs, self._plan = [], [], []
        self._fused_plan = self._plan
        self._graph_layers = []
        self._inbound_nodes = []
        self.built = False

    def build(self, input_shape: Any = None) -> None:
        """Build the graph for ``input_shape`` (with the batch dimension) if not built.

        Raises:
            TypeError: If the model has no layers (as Keras 2).
            ValueError: If no input shape is known.
        """
        if self.built:
            return
        if not self.layers:
            raise TypeError(f"Sequential model {self.name} cannot be built: the model is empty "
                            "(no layers). Add some layers first.")
        if self._input_tensor is None:
            if input_shape is None:
                raise ValueError(
                    f"Sequential {self.name}: cannot build without an input shape; pass one "
                    "to build(), give the first layer an input_shape, or call the model on data"
                )
            if isinstance(input_shape, list):
                raise ValueError(f"Sequential {self.name} takes one input, got shapes "
                                 f"{input_shape}")
            first = self.layers[0] if self.layers else None
            self._input_tensor = Input(batch_shape=tuple(input_shape),
                                       dtype=_input_dtype(first) if first else None,
                                       name=f"{first.name}_input" if first else None)
            self._input_tensor._keras_history[0]._auto = True
        self._connect_all()

    def _convert_input(self, x: Any, index: int) -> Any:
        if not self._input_dtypes and self.layers:
            # not built yet: convert as the Input the first layer will get
            return self._convert_one(x, np.dtype(_input_dtype(self.layers[0])))
        return super()._convert_input(x, index)

    def _build_for_eager(self, inputs: Any) -> None:
        first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        shape = tuple(np.shape(first))
        self.build((None,) + shape[1:])

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape for ``input_shape`` (builds the model first if needed)."""
        if not self.built:
            self.build(input_shape)
        return super().compute_output_shape(input_shape)

    def count_params(self) -> int:
        """Number of scalars in the weights.

        Raises:
            RuntimeError: If the model is not built yet.
        """
        if not self.built:
            return Layer.count_params(self)
        return super().count_params()

    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 10,
            verbose: int = 1, callbacks: Any = None, validation_split: float = 0.0,
            validation_data: Any = None, shuffle: bool = True, class_weight: Any = None,
            sample_weight: Any = None, initial_epoch: int = 0, **kwargs: Any) -> Any:
        """Train the model; as :meth:`Model.fit` (same arguments), but ``epochs`` defaults to 10.

        Keras 2.0's ``Sequential.fit`` had ``epochs=10`` (its functional
        ``Model.fit``, ``epochs=1``), so Keras 2.0 code that calls
        ``model.fit(x, y)`` on a ``Sequential`` trains for 10 epochs.

        Returns:
            The ``History`` callback.
        """
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                           callbacks=callbacks, validation_split=validation_split,
                           validation_data=validation_data, shuffle=shuffle,
                           class_weight=class_weight, sample_weight=sample_weight,
                           initial_epoch=initial_epoch, **kwargs)

    def predict_proba(self, x: Any, batch_size: int | None = 32, verbose: int = 1) -> np.ndarray:
        """Class probabilities: :meth:`predict` output, with a warning when it is not in [0, 1].

        Returns:
            The predictions.
        """
        preds = self.predict(x, batch_size=batch_size, verbose=verbose)
        if preds.min() < 0.0 or preds.max() > 1.0:
            warnings.warn(f"Sequential {self.name}: the network returns values outside [0, 1]; "
                          "the last layer might not normalize predictions into probabilities "
                          "(as softmax or sigmoid would)", stacklevel=2)
        return preds

    def predict_classes(self, x: Any, batch_size: int | None = 32,
                        verbose: int = 1) -> np.ndarray:
        """Class predictions: the argmax over the last axis, or ``> 0.5`` for one unit.

        Returns:
            Integer class indices (``int32`` 0/1 of the output's shape for a
            single-unit output, as Keras 2).
        """
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def get_config(self) -> dict:
        """``{'name', 'layers': [{'class_name', 'config'}, ...]}``."""
        configs = []
        for i, layer in enumerate(self.layers):
            config = layer.get_config()
            if i == 0 and self._input_tensor is not None and "batch_input_shape" not in config \
                    and not isinstance(layer, Container):
                config["batch_input_shape"] = self._input_tensor.shape
                config["dtype"] = self._input_tensor.dtype
            configs.append({"class_name": type(layer).__name__, "config": config})
        if self._input_tensor is not None and isinstance(self.layers[0] if self.layers else None,
                                                         Container):
            shape_cfg = InputLayer.get_config(self._input_tensor._keras_history[0])
            configs.insert(0, {"class_name": "InputLayer", "config": shape_cfg})
        return {"name": self.name, "layers": configs}

    @classmethod
    def from_config(cls, config: Any, custom_objects: dict | None = None) -> Sequential:
        """Rebuild from :meth:`get_config` (a bare list of layer configs is accepted too).

        Raises:
            ValueError: If the config is malformed.
        """
        if isinstance(config, dict):
            name, layer_configs = config.get("name"), config.get("layers")
        else:
            name, layer_configs = None, config
        if not isinstance(layer_configs, list):
            raise ValueError(f"Sequential.from_config: improperly formatted config "
                             f"{str(config)[:200]}")
        model = cls(name=name)
        for layer_config in layer_configs:
            model.add(deserialize_layer(layer_config, custom_objects=custom_objects))
        return model


def _known_batch_shape(layer: Layer) -> tuple | None:
    if hasattr(layer, "batch_input_shape"):
        return tuple(layer.batch_input_shape)
    if isinstance(layer, Container) and layer.inputs:
        if len(layer.inputs) != 1:
            raise ValueError(f"A Sequential model's first layer must have one input; model "
                             f"{layer.name} has {len(layer.inputs)}")
        return layer.inputs[0].shape
    if layer._inbound_nodes:
        shape = layer._inbound_nodes[0].input_shapes
        if len(shape) == 1:
            return shape[0]
    return None


def _input_dtype(layer: Layer) -> str:
    if isinstance(layer, Container) and layer.inputs:
        return layer.inputs[0].dtype
    return layer.dtype


register_layer_class(Sequential)
