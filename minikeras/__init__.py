"""minikeras: a small, readable, fast deep-learning framework for learning.

The public face of the package: it only hands names on from the floors below.
As in Keras, ``import minikeras`` is enough to reach ``minikeras.layers.Dense``,
``minikeras.optimizers.Adam`` or ``minikeras.utils.plot_model``. Numba is not
imported here: the kernels compile on their first call.
"""

from minikeras.autograd import GradientTape, Tensor, Variable, gradcheck, no_grad

from minikeras import backend, engine  # isort: skip
from minikeras import (  # isort: skip
    activations,
    callbacks,
    constraints,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    utils,
)
from minikeras.engine import Input, Model, Sequential  # isort: skip

from minikeras.version import __version__  # noqa: E402  (written in one place)

__all__ = [
    "GradientTape", "Input", "Model", "Sequential", "Tensor", "Variable", "__version__",
    "activations", "backend", "callbacks", "constraints", "datasets", "engine", "gradcheck",
    "initializers", "layers", "losses", "metrics", "models", "no_grad", "optimizers",
    "regularizers", "utils",
]
