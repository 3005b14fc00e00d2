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
* :func:`gradcheck` compares analytic gradients with finite differences;
  :func:`gradgradcheck` does the same for second derivatives.
* ``tape.jacobian`` and ``tape.batch_jacobian`` build Jacobians by rows, and the
  transforms :func:`grad`, :func:`value_and_grad`, :func:`vjp`, :func:`jacrev`
  and :func:`hessian` (JAX's names) wrap the tape for functions.
* Forward mode (:mod:`minikeras.autograd.forward`): :class:`ForwardAccumulator` (TensorFlow 2)
  and the transforms :func:`jvp` and :func:`jacfwd` (JAX); each op's rule is its ``jvp``
  method. :func:`jvpcheck` checks forward mode against finite differences and reverse mode.

Higher-order gradients follow TensorFlow 2: ``tape.gradient`` returns tensors,
and when another tape is recording, the ops that compute the gradient are
recorded on it, so it can be differentiated again (any order). With no tape
recording, the sweep runs on plain arrays and records nothing.

Example:
    >>> from minikeras.autograd import Tensor, GradientTape
    >>> x = Tensor([1.0, 2.0, 3.0])
    >>> with GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = (x * x).sum()
    >>> tape.gradient(y, x).numpy()
    array([2., 4., 6.], dtype=float32)
"""
from minikeras.autograd import _memory

from minikeras.autograd.tensor import Tensor, Variable, as_array  # isort: skip
from minikeras.autograd import operators, ops
from minikeras.autograd.forward import ForwardAccumulator, jacfwd, jvp
from minikeras.autograd.function import Context, Function, Record
from minikeras.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from minikeras.autograd.jvpcheck import jvpcheck
from minikeras.autograd.tape import GradientTape, no_grad
from minikeras.autograd.transforms import grad, hessian, jacrev, value_and_grad, vjp

operators.install()  # x + y, x.sum(), ... on Tensor (see operators.py)

# every training step frees and re-allocates its arrays: keep that memory in the process
# instead of page-faulting it back each step (see _memory.py; MINIKERAS_MALLOC=default opts out)
_memory.keep_freed_memory()

__all__ = [
    "Context", "Function", "GradcheckError", "GradientTape", "Record", "Tensor", "Variable",
    "as_array", "grad", "gradcheck", "gradgradcheck", "hessian", "jacrev", "no_grad", "ops",
    "value_and_grad", "vjp",
    "ForwardAccumulator", "jacfwd", "jvp", "jvpcheck",  # forward mode
]
