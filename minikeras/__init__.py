"""minikeras: a small, readable, fast deep-learning framework for learning.

The public face of the package: it only hands names on from the floors below.
"""

from minikeras.autograd import GradientTape, Tensor, Variable, gradcheck, no_grad

from minikeras import engine, models  # isort: skip
from minikeras.engine import Input, Model, Sequential  # isort: skip

__version__ = "0.1.0"

__all__ = ["GradientTape", "Input", "Model", "Sequential", "Tensor", "Variable", "engine",
           "gradcheck", "models", "no_grad", "__version__"]
