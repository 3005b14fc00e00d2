"""The tape-based autograd engine: tensors, ops, the tape, and gradient checking.

* :class:`Tensor` wraps a numpy array (``float32`` by default); arithmetic on
  tensors runs the ops of :mod:`minikeras.autograd.ops`.
* :class:`Variable` is a named, mutable, optionally trainable tensor.
* :class:`Function` is one op: ``forward`` and ``backward`` on numpy arrays,
  side by side; ``Cls.apply(*inputs)`` runs it and records it on the tape.
* :class:`GradientTape` records ops and runs the reverse sweep (TensorFlow 2
  semantics); :func:`no_grad` switches recording off. A tape can be printed
  (one line per op), iterated (:class:`Record` objects) and stepped backwards
  (``tape.step_backward(target)``).
* :func:`gradcheck` compares analytic gradients with finite differences.

Higher-order gradients are not supported: backward runs on plain arrays and is
not recorded.

Example:
    >>> from minikeras.autograd import Tensor, GradientTape
    >>> x = Tensor([1.0, 2.0, 3.0])
    >>> with GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = (x * x).sum()
    >>> tape.gradient(y, x)
    array([2., 4., 6.], dtype=float32)
"""
from minikeras.autograd import _memory

from minikeras.autograd.tensor import Tensor, Variable, as_array  # isort: skip
from minikeras.autograd import operators, ops
from minikeras.autograd.function import Context, Function, Record
from minikeras.autograd.gradcheck import GradcheckError, gradcheck
from minikeras.autograd.tape import GradientTape, no_grad

operators.install()  # x + y, x.sum(), ... on Tensor (see operators.py)

# every training step frees and re-allocates its arrays: keep that memory in the process
# instead of page-faulting it back each step (see _memory.py; MINIKERAS_MALLOC=default opts out)
_memory.keep_freed_memory()

__all__ = [
    "Context", "Function", "GradcheckError", "GradientTape", "Record", "Tensor", "Variable",
    "as_array", "gradcheck", "no_grad", "ops",
]
