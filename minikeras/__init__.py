"""minikeras: a small, readable, fast deep-learning framework for learning.

The public face of the package: it only hands names on from the floors below.
"""

from minikeras.autograd import GradientTape, Tensor, Variable, gradcheck, no_grad

__version__ = "0.1.0"

__all__ = ["GradientTape", "Tensor", "Variable", "gradcheck", "no_grad", "__version__"]
