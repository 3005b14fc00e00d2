"""Models and their (de)serialisation: ``Model``, ``Sequential``, JSON and files.

Example:
    >>> from minikeras.models import Sequential, load_model, save_model
    >>> save_model(model, "digits.npz")
    >>> same = load_model("digits.npz")
"""

from minikeras import formats  # noqa: F401 - registers the .h5 and .keras formats
from minikeras.engine.model import Model
from minikeras.engine.saving import (
    load_model,
    load_weights,
    model_from_config,
    model_from_json,
    save_model,
    save_weights,
)
from minikeras.engine.sequential import Sequential

__all__ = ["Model", "Sequential", "load_model", "load_weights", "model_from_config",
           "model_from_json", "save_model", "save_weights"]
