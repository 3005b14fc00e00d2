"""`Model`: a :class:`~minikeras.engine.topology.Container` that can be trained."""

from __future__ import annotations

from typing import Any

from minikeras.engine.registry import register_layer_class
from minikeras.engine.saving import save_model_file
from minikeras.engine.topology import Container
from minikeras.engine.training import TrainingMixin


class Model(Container, TrainingMixin):
    """A functional model: layers connected from ``inputs`` to ``outputs``, trainable.

    Args:
        inputs: Input KerasTensor(s) (from ``Input``).
        outputs: Output KerasTensor(s).
        name: Model name (``model``, ``model_1``, ... by default).

    Example:
        >>> x = Input(shape=(4,))
        >>> y = Dense(2)(x)
        >>> model = Model(x, y)
        >>> model(np.ones((3, 4))).shape
        (3, 2)
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        init = TrainingMixin.__dict__.get("__init__")
        if init is not None:
            init(self)

    def save(self, filepath: str, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Save architecture, weights and optimizer state to one ``.npz`` file (atomically).

        Same as ``minikeras.models.save_model(self, filepath, ...)``; load it
        back with ``minikeras.models.load_model``.
        """
        save_model_file(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)


register_layer_class(Model)
register_layer_class(Model, "Functional")  # the name Keras 2.4+ writes in configs
