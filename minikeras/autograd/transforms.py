"""Function transforms with JAX's names: grad, value_and_grad, vjp, jacrev, hessian.

Each takes a function ``f`` of tensors (or arrays) and returns a new function. They are thin
layers over :class:`~minikeras.autograd.GradientTape`: the transformed function opens a tape,
watches the arguments being differentiated, runs ``f`` and sweeps. Because a sweep under a
recording tape is itself recorded, the transforms compose: ``grad(grad(f))`` is the second
derivative, ``jacrev(jacrev(f))`` the Hessian.

Arguments being differentiated are used as they are when they are :class:`Tensor` objects
(so an enclosing transform, or tape, can follow them) and converted with
:func:`~minikeras.autograd.as_array` otherwise (Python floats become ``float32``; pass
``float64`` arrays for finite-difference work). Results are tensors.

Example:
    >>> import numpy as np
    >>> from minikeras.autograd import grad, hessian
    >>> f = lambda x: (x ** 3).sum()
    >>> grad(f)(np.array([1.0, 2.0])).numpy()          # 3 x²
    array([ 3., 12.])
    >>> grad(grad(lambda x: x ** 3))(np.array(2.0)).numpy()   # 6 x
    array(12.)
    >>> hessian(f)(np.array([1.0, 2.0])).numpy()       # diag(6 x)
    array([[ 6.,  0.],
           [ 0., 12.]])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minikeras.autograd.tape import GradientTape, enable_grad
from minikeras.autograd.tensor import Tensor

__all__ = ["grad", "hessian", "jacrev", "value_and_grad", "vjp"]


def _argnums(name: str, argnums: int | Sequence[int], n_args: int) -> tuple[int, ...]:
    """Normalise ``argnums`` against the number of positional arguments."""
    nums = (argnums,) if isinstance(argnums, (int, np.integer)) else tuple(argnums)
    for a in nums:
        if not -n_args <= a < n_args:
            raise ValueError(
                f"{name}: argnums {argnums!r} points past the {n_args} positional argument(s) "
                "the function was called with"
            )
    return tuple(int(a) % n_args for a in nums)


def _as_source(name: str, value: Any, position: int) -> Tensor:
    """An argument to differentiate: the tensor itself, or a new tensor of the array."""
    t = value if isinstance(value, Tensor) else Tensor(value)
    if t.dtype.kind != "f":
        raise TypeError(
            f"{name}: cannot differentiate with respect to argument {position} of dtype "
            f"{t.dtype} (shape {t.shape}); pass a floating array or tensor"
        )
    return t


def _output(name: str, out: Any) -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(
            f"{name}: the function must return a minikeras Tensor (computed from its "
            f"arguments with minikeras ops), got {type(out).__name__}"
        )
    return out


def _sweep(name: str, f: Callable, argnums: int | Sequence[int], args: tuple,
           persistent: bool = False) -> tuple[GradientTape, Tensor, list[Tensor], list]:
    """Run ``f`` on a tape watching the chosen arguments."""
    nums = _argnums(name, argnums, len(args))
    args = list(args)
    for i in nums:
        args[i] = _as_source(name, args[i], i)
    sources = [args[i] for i in nums]
    # Only the chosen arguments: a pure function's derivative, not the Variables it reads.
    # enable_grad: a transformed function computes its derivative even when called inside
    # no_grad() (a finite-difference check evaluates it there).
    with enable_grad(), GradientTape(persistent=persistent,
                                     watch_accessed_variables=False) as tape:
        tape.watch(sources)
        out = _output(name, f(*args))
    return tape, out, sources, nums


def _reached(tape: GradientTape, out: Tensor) -> bool:
    """Whether ``out`` was computed on ``tape`` from a watched argument."""
    return id(out) in tape._watched


def _shape(result: list, argnums: int | Sequence[int]) -> Any:
    return result[0] if isinstance(argnums, (int, np.integer)) else tuple(result)


def value_and_grad(f: Callable[..., Tensor],
                   argnums: int | Sequence[int] = 0) -> Callable[..., tuple[Tensor, Any]]:
    """Make a function returning ``f``'s value and its gradient, in one forward pass.

    Args:
        f: A function of tensors returning a scalar tensor.
        argnums: Which positional argument(s) to differentiate: an int, or a
            sequence of ints (then the gradient is a tuple).

    Returns:
        A function with ``f``'s signature returning ``(value, gradient)``.

    Raises:
        TypeError: If ``f`` returns something other than a scalar tensor, or
            an argument to differentiate is not floating.
        ValueError: If ``argnums`` points past the arguments.

    Example:
        >>> value, g = value_and_grad(lambda x, y: (x * y).sum(), argnums=(0, 1))(
        ...     np.array([1.0, 2.0]), np.array([3.0, 4.0]))
        >>> float(value), g[0].numpy(), g[1].numpy()
        (11.0, array([3., 4.]), array([1., 2.]))
    """

    def value_and_grad_f(*args: Any) -> tuple[Tensor, Any]:
        tape, out, sources, _ = _sweep("value_and_grad", f, argnums, args)
        if out.size != 1:
            raise TypeError(
                f"grad/value_and_grad: the function must return a scalar, got a tensor of shape "
                f"{out.shape}; use jacrev for a vector output, or vjp to pull back a vector"
            )
        if not _reached(tape, out):  # f does not depend on the arguments: zero gradients
            grads = [Tensor(np.zeros(s.shape, s.dtype)) for s in sources]
        else:
            grads = tape.gradient(out, sources, unconnected_gradients="zero")
        return out, _shape(grads, argnums)

    value_and_grad_f.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    return value_and_grad_f


def grad(f: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """Make a function returning the gradient of scalar-valued ``f``.

    Transforms compose: ``grad(grad(f))`` is the second derivative of a
    function of one variable.

    Args:
        f: A function of tensors returning a scalar tensor.
        argnums: Which positional argument(s) to differentiate (an int, or a
            sequence of ints for a tuple of gradients).

    Returns:
        A function with ``f``'s signature returning the gradient(s), tensors
        shaped like the arguments.

    Example:
        >>> df = grad(lambda x: x.tanh())
        >>> round(float(df(np.array(0.0))), 6)      # 1 - tanh(0)²
        1.0
        >>> round(float(grad(grad(grad(lambda x: x.tanh())))(np.array(0.0))), 6)   # -2
        -2.0
    """
    vg = value_and_grad(f, argnums)

    def grad_f(*args: Any) -> Any:
        return vg(*args)[1]

    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    return grad_f


def vjp(f: Callable[..., Tensor], *primals: Any) -> tuple[Tensor, Callable[[Any], tuple]]:
    """Run ``f`` at ``primals`` and return its output with its vector-Jacobian product.

    ``vjp_fn(v)`` is ``vᵀ J``: the gradient of ``<v, f(primals)>`` with
    respect to every primal, one reverse sweep, whatever the output's size.
    It may be called several times (the tape is kept).

    Args:
        f: A function of tensors returning a tensor.
        *primals: The point: one value per positional argument of ``f``.

    Returns:
        ``(out, vjp_fn)``; ``vjp_fn(cotangent)`` takes an array or tensor of
        ``out``'s shape and returns a tuple with one gradient per primal.

    Example:
        >>> out, vjp_fn = vjp(lambda x: x * x, np.array([1.0, 2.0, 3.0]))
        >>> vjp_fn(np.array([1.0, 0.0, 1.0]))[0].numpy()
        array([2., 0., 6.])
    """
    tape, out, sources, _ = _sweep("vjp", f, tuple(range(len(primals))), primals,
                                   persistent=True)

    def vjp_fn(cotangent: Any) -> tuple:
        shape = np.shape(cotangent.data if isinstance(cotangent, Tensor) else cotangent)
        if shape != out.shape:
            raise ValueError(
                f"vjp: the cotangent must have the output's shape {out.shape}, got {shape}"
            )
        if not _reached(tape, out):
            return tuple(Tensor(np.zeros(s.shape, s.dtype)) for s in sources)
        return tuple(tape.gradient(out, sources, output_gradients=cotangent,
                                   unconnected_gradients="zero"))

    return out, vjp_fn


def jacrev(f: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """Make a function returning ``f``'s Jacobian, built by rows (reverse mode).

    One reverse sweep per element of ``f``'s output: cheap for few outputs
    and many inputs (see ``GradientTape.jacobian`` for the size limit).

    Args:
        f: A function of tensors returning a tensor.
        argnums: Which positional argument(s) to differentiate.

    Returns:
        A function with ``f``'s signature returning the Jacobian(s), each of
        shape ``out.shape + argument.shape``.

    Example:
        >>> jacrev(lambda x: x * x)(np.array([1.0, 2.0])).numpy()
        array([[2., 0.],
               [0., 4.]])
    """

    def jacrev_f(*args: Any) -> Any:
        tape, out, sources, _ = _sweep("jacrev", f, argnums, args)
        if not _reached(tape, out):
            jacs = [Tensor(np.zeros(out.shape + s.shape, s.dtype)) for s in sources]
        else:
            jacs = tape.jacobian(out, sources, unconnected_gradients="zero")
        return _shape(jacs, argnums)

    jacrev_f.__name__ = f"jacrev({getattr(f, '__name__', 'f')})"
    return jacrev_f


def hessian(f: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """Make a function returning the Hessian of scalar-valued ``f``.

    Computed as ``jacrev(jacrev(f))``: reverse over reverse, one sweep of the
    recorded gradient per input element.

    Args:
        f: A function of tensors returning a scalar tensor.
        argnums: Which positional argument to differentiate (an int).

    Returns:
        A function with ``f``'s signature returning the Hessian, of shape
        ``argument.shape + argument.shape``.

    Example:
        >>> hessian(lambda x: (x[0] * x[1] ** 2))(np.array([1.0, 3.0])).numpy()
        array([[0., 6.],
               [6., 2.]])
    """
    if not isinstance(argnums, (int, np.integer)):
        raise TypeError(
            f"hessian: argnums must be one int (the Hessian of one argument), got {argnums!r}; "
            "for mixed second derivatives nest jacrev by hand"
        )
    # The seam for forward mode: forward-over-reverse, jacfwd(jacrev(f)), costs one JVP per
    # input element instead of one reverse sweep of the recorded gradient; switch to it here.
    return _HESSIAN_OUTER(jacrev(f, argnums), argnums)


#: The outer transform of :func:`hessian` (``jacrev`` until forward mode offers ``jacfwd``).
_HESSIAN_OUTER = jacrev
