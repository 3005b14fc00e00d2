"""Forward-mode differentiation: :class:`ForwardAccumulator` and the ``jvp``/``jacfwd`` transforms.

Reverse mode (the tape) records the ops, then sweeps them backwards with one *cotangent* per
output: one sweep gives a whole gradient, a row of the Jacobian. Forward mode needs no tape: every
tensor carries a *tangent* (its derivative along one chosen direction of the inputs) computed as
the op runs, from the tangents of the op's inputs. One forward pass gives a Jacobian-vector
product ``J v``, a column of the Jacobian when ``v`` is a basis vector. That is dual numbers,
``(x, dx)``, with each op written as ``f(x + ε dx) = f(x) + ε f'(x) dx``.

Each op's forward-mode rule is the ``jvp(ctx, *tangents)`` method of its
:class:`~minikeras.autograd.function.Function`, beside its ``forward`` and ``backward``: it gets
one tangent per positional input (``None`` for an input without one) and returns the tangent of
the output. A tangent may have a broadcast shape; :func:`fit_tangent` broadcasts it to the
output's shape, as the tape un-broadcasts gradients.

The API follows TensorFlow 2 (:class:`ForwardAccumulator`) and JAX (:func:`jvp`, :func:`jacfwd`):

    >>> x = Tensor(np.array([1.0, 2.0]))
    >>> with ForwardAccumulator(x, np.array([1.0, 0.0])) as acc:
    ...     y = (x * x).sum()
    >>> acc.jvp(y)                # d/dt sum((x + t v)²) = 2 x·v
    Tensor(2., shape=(), dtype=float64)

What forward mode does with ops that have no derivative (JAX's choice): comparisons, ``argmax``,
``argmin`` and casts to integer or boolean give outputs that *have no tangent*. Running them
inside an accumulator is fine (a mask, an accuracy), and tangents do not flow through them; but
asking for the tangent of such an output (``acc.jvp(x > 0)``) raises a ``TypeError`` that names
the op. ``sign`` is differentiable almost everywhere and its tangent is zero, as in JAX.

Nesting: tapes and accumulators can be opened in any order around the same computation; each sees
the ops on the tensors it follows. Forward-over-reverse works: with an accumulator open,
``tape.gradient`` runs its backward as recorded ops, so the tangent of a gradient,
``acc.jvp(tape.gradient(y, x))``, is a Hessian-vector product. The ``jvp`` rules run on numpy
arrays, so the tangent computation itself is not recorded: the tangent of a tangent (nested
accumulators, or a tape's gradient of ``acc.jvp(y)``) is not available, and asking an outer
accumulator for one raises a ``TypeError`` saying so.

Inside :func:`~minikeras.autograd.tape.no_grad` tangents stop, as recording does: nothing in the
block is differentiated in either mode, so ``jacfwd`` and a reverse-mode Jacobian always agree
(PyTorch lets tangents through ``no_grad``, a known source of such disagreements).
``x.detach()`` stops a tangent for one tensor.

Cost: :meth:`Function.apply <minikeras.autograd.function.Function.apply>` checks
``STATE.active`` once per op; with no accumulator open that is all forward mode costs.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from minikeras.autograd import recording as _recording
from minikeras.autograd.tensor import Tensor, as_array

__all__ = ["ForwardAccumulator", "fit_tangent", "jacfwd", "jvp", "tangent_sum"]

_UNCONNECTED = ("none", "zero")
#: Largest Jacobian :func:`jacfwd` builds without being asked to (2**27 entries: 1 GiB in float64).
JACOBIAN_LIMIT = 2**27
#: How many accumulators :func:`jacfwd` runs side by side in one pass of ``f``.
JACFWD_CHUNK = 32


class _ForwardState:
    """The accumulators open right now, innermost last; ``Function.apply`` reads ``active``."""

    __slots__ = ("active",)

    def __init__(self) -> None:
        self.active: list[ForwardAccumulator] = []


STATE = _ForwardState()


class _Ref(weakref.ref):
    """A weak reference to a tensor that remembers the key of its entry."""

    __slots__ = ("key",)


class ForwardAccumulator:
    """Computes Jacobian-vector products by forward mode (TensorFlow 2's ``ForwardAccumulator``).

    Inside ``with ForwardAccumulator(primals, tangents) as acc:``, every op that reads a tensor
    with a tangent computes its output's tangent along with its value. ``acc.jvp(y)`` then gives
    ``J v``: the derivative of ``y`` along ``tangents``.

    Args:
        primals: A floating tensor, or a list/tuple of them (trainable variables included).
        tangents: One tangent per primal, of the primal's shape and dtype (a Python number or
            list is converted to the primal's dtype; an array must already have it).

    Raises:
        TypeError: On a primal that is not a floating :class:`Tensor`, or a tangent of another
            dtype than its primal.
        ValueError: On a tangent of another shape than its primal, or a number of tangents
            different from the number of primals.

    Example:
        >>> w = Variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
        >>> x = Tensor(np.array([1.0, 1.0]))
        >>> with ForwardAccumulator(x, np.array([0.0, 1.0])) as acc:
        ...     y = w @ x
        >>> acc.jvp(y)     # the second column of w
        Tensor([2. 4.], shape=(2,), dtype=float64)

    Tangents are kept only for tensors that are still alive, so an accumulator open around a
    long computation holds no more memory than the computation itself (times two).
    """

    def __init__(self, primals: Any, tangents: Any) -> None:
        flat_p = list(primals) if isinstance(primals, (list, tuple)) else [primals]
        if isinstance(primals, (list, tuple)):
            if not isinstance(tangents, (list, tuple)) or len(tangents) != len(flat_p):
                got = len(tangents) if isinstance(tangents, (list, tuple)) else "one"
                raise ValueError(
                    f"ForwardAccumulator: got {len(flat_p)} primals but {got} tangents; pass "
                    "one tangent per primal, in a list of the same length"
                )
            flat_t = list(tangents)
        else:
            flat_t = [tangents]
        # id(tensor) -> (tensor or weak reference, tangent array)
        self._table: dict[int, tuple[Any, np.ndarray]] = {}
        # id(tensor) -> (weak reference, op name): outputs of non-differentiable ops that read
        # a tensor with a tangent, so that asking for their tangent names the op
        self._dead_ends: dict[int, tuple[Any, str]] = {}
        self._open = False
        table, dead_ends = self._table, self._dead_ends

        def forget(ref: _Ref) -> None:
            # a tensor died: drop its tangent (checking the entry is still this tensor's)
            for d in (table, dead_ends):
                entry = d.get(ref.key)
                if entry is not None and entry[0] is ref:
                    del d[ref.key]

        self._forget = forget
        for i, (p, t) in enumerate(zip(flat_p, flat_t)):
            self._table[id(p)] = (p, _check_tangent(i, p, t, len(flat_p) > 1))

    # ---- the context manager ------------------------------------------------
    def __enter__(self) -> ForwardAccumulator:
        if self._open:
            raise RuntimeError("ForwardAccumulator: this accumulator is already open")
        self._open = True
        STATE.active = [*STATE.active, self]
        return self

    def __exit__(self, *exc: Any) -> None:
        self._open = False
        STATE.active = [a for a in STATE.active if a is not self]

    # ---- what Function.apply calls --------------------------------------------
    def _set(self, tensor: Tensor, tangent: np.ndarray) -> None:
        key = id(tensor)
        ref = _Ref(tensor, self._forget)
        ref.key = key
        self._table[key] = (ref, tangent)

    def _dead_end(self, tensor: Tensor, op_name: str) -> None:
        key = id(tensor)
        ref = _Ref(tensor, self._forget)
        ref.key = key
        self._dead_ends[key] = (ref, op_name)

    # ---- results ---------------------------------------------------------------
    def jvp(self, primals: Any, unconnected_gradients: str = "none") -> Any:
        """The tangent of ``primals``: the derivative along the accumulator's tangents.

        Args:
            primals: A tensor computed inside the accumulator, or a list, tuple or dict of them.
            unconnected_gradients: ``"none"`` gives ``None`` for a tensor that does not depend
                on the accumulator's primals; ``"zero"`` gives zeros of its shape.

        Returns:
            :class:`Tensor` tangents (fresh, not recorded by any tape) in the structure of
            ``primals``.

        Raises:
            TypeError: On something that is not a tensor, on the output of a non-differentiable
                op (comparison, ``argmax``, integer cast) computed from a tensor with a tangent,
                naming the op, or on a tangent returned by another accumulator (nested forward
                mode is not supported).
            ValueError: On a bad ``unconnected_gradients``.
        """
        if unconnected_gradients not in _UNCONNECTED:
            raise ValueError(
                "ForwardAccumulator.jvp: unconnected_gradients must be 'none' or 'zero', got "
                f"{unconnected_gradients!r}"
            )
        flat, rebuild = _flatten(primals)
        return rebuild([self._tangent_of(i, p, unconnected_gradients) for i, p in enumerate(flat)])

    def _tangent_of(self, i: int, p: Any, unconnected: str) -> Tensor | None:
        if not isinstance(p, Tensor):
            raise TypeError(
                f"ForwardAccumulator.jvp: expected minikeras Tensors, got {type(p).__name__} "
                f"for primal {i}; only tensors computed by ops inside the accumulator have "
                "tangents"
            )
        entry = self._table.get(id(p))
        if entry is not None:
            t = Tensor(np.array(entry[1], dtype=p.dtype))  # a copy the caller may change
            _MADE_BY_ACCUMULATOR[id(t)] = t
            return t
        dead = self._dead_ends.get(id(p))
        if dead is not None:
            raise TypeError(
                f"ForwardAccumulator.jvp: primal {i} (shape {p.shape}, dtype {p.dtype}) was made "
                f"by {dead[1]} from a tensor with a tangent, but a {p.dtype} output has no "
                f"tangent: comparisons, argmax/argmin and integer casts are not differentiable "
                f"(JAX's rule). Take the tangent of a floating tensor computed before {dead[1]}"
            )
        if _MADE_BY_ACCUMULATOR.get(id(p)) is p:
            raise TypeError(
                f"ForwardAccumulator.jvp: primal {i} is a tangent returned by another "
                "ForwardAccumulator; nested forward mode (the tangent of a tangent) is not "
                "supported, because jvp rules run on numpy arrays and are not themselves "
                "followed. Take second derivatives with nested GradientTapes"
            )
        if unconnected == "zero" and p.dtype.kind == "f":
            return Tensor(np.zeros(p.shape, dtype=p.dtype))
        return None

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        return f"<ForwardAccumulator {state}, {len(self._table)} tangents>"


# tangents handed out by ForwardAccumulator.jvp, so that an outer accumulator asked for the
# tangent of one can say why there is none (id -> tensor, entries drop with the tensor)
_MADE_BY_ACCUMULATOR: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _check_tangent(i: int, primal: Any, tangent: Any, several: bool) -> np.ndarray:
    """Check one (primal, tangent) pair of a ForwardAccumulator and return the tangent array."""
    which = f"primal {i}" if several else "the primal"
    if not isinstance(primal, Tensor):
        raise TypeError(
            f"ForwardAccumulator: {which} must be a minikeras Tensor, got "
            f"{type(primal).__name__}; wrap arrays with minikeras.Tensor(...) first"
        )
    if primal.dtype.kind != "f":
        raise TypeError(
            f"ForwardAccumulator: {which} has dtype {primal.dtype} (shape {primal.shape}); only "
            "floating tensors have tangents"
        )
    what = f"tangent {i}" if several else "the tangent"
    if isinstance(tangent, (Tensor, np.ndarray, np.generic)):
        arr = tangent.data if isinstance(tangent, Tensor) else np.asarray(tangent)
        if arr.dtype != primal.dtype:
            raise TypeError(
                f"ForwardAccumulator: {what} has dtype {arr.dtype}, but {which} has dtype "
                f"{primal.dtype}; expected a tangent of dtype {primal.dtype} "
                f"(use tangent.astype({primal.dtype.name!r}))"
            )
    else:
        try:
            arr = as_array(tangent, primal.dtype)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"ForwardAccumulator: {what} must be array-like of dtype {primal.dtype}, got "
                f"{type(tangent).__name__} ({err})"
            ) from None
    if arr.shape != primal.shape:
        raise ValueError(
            f"ForwardAccumulator: {what} has shape {arr.shape}, but {which} has shape "
            f"{primal.shape}; expected a tangent of shape {primal.shape}"
        )
    return arr


# ---- the hook in Function.apply ------------------------------------------------------------


def tangents_in(cls: type, ctx: Any, inputs: tuple) -> list | None:
    """Called by ``Function.apply`` before ``forward`` when an accumulator is open.

    Finds, for each open accumulator, the tangents of the op's inputs. For a differentiable op
    it marks the inputs with a tangent in ``ctx.needs_input_grad``, so that ``forward`` keeps
    what the derivative needs (as it does for a tape).

    Returns:
        ``[(accumulator, tangents), ...]`` for the accumulators following an input (``tangents``
        has one entry per input, ``None`` where there is none), or ``None``.
    """
    if not _recording.STATE.enabled:
        return None  # no_grad: nothing inside is differentiated, in either mode
    found = None
    for acc in STATE.active:
        table = acc._table
        tangents = None
        for i, x in enumerate(inputs):
            entry = table.get(id(x))
            if entry is not None:
                if tangents is None:
                    tangents = [None] * len(inputs)
                tangents[i] = entry[1]
        if tangents is not None:
            if found is None:
                found = []
            found.append((acc, tangents))
    if found is not None and cls.differentiable:
        needs = list(ctx.needs_input_grad)
        for _, tangents in found:
            for i, t in enumerate(tangents):
                if t is not None:
                    needs[i] = True
        ctx.needs_input_grad = tuple(needs)
    return found


def tangents_out(fn: Any, ctx: Any, arrays: list, result: Tensor, found: list) -> None:
    """Called by ``Function.apply`` after ``forward``: run the op's ``jvp`` for each accumulator.

    Raises:
        NotImplementedError: For an op without a ``jvp`` method, naming it.
        ValueError, TypeError, IndexError: When ``jvp`` fails or returns a tangent that does not
            fit the output, naming the op and the shapes.
    """
    if not fn.differentiable or result.dtype.kind != "f":
        for acc, _ in found:
            acc._dead_end(result, fn.name)  # no tangent; asking for one names the op
        return
    for acc, tangents in found:
        try:
            t = fn.jvp(ctx, *tangents)
        except (ValueError, TypeError, IndexError) as err:
            if type(err) not in (ValueError, TypeError, IndexError):
                raise  # a custom error type: keep it as its author wrote it
            shapes = ", ".join(str(np.shape(a)) for a in arrays)
            raise type(err)(
                f"{fn.name}.jvp failed for input shapes {shapes} and output shape "
                f"{result.shape}: {err}"
            ) from err
        if t is not None:
            acc._set(result, fit_tangent(t, result, fn.name))


def fit_tangent(tangent: Any, out: Tensor, op_name: str) -> np.ndarray:
    """Broadcast a ``jvp`` result to the output's shape and cast it to the output's dtype.

    A rule may return the tangent of a broadcast input as it is (``Add``'s ``ta`` when ``b`` has
    no tangent); this is the one place where it is broadcast, and where every rule's result is
    checked against the output.

    Raises:
        ValueError: Naming the op and both shapes when the tangent cannot fit the output.
    """
    data = out.data
    if type(tangent) is np.ndarray and tangent.shape == data.shape and tangent.dtype is data.dtype:
        return tangent  # the common case, decided in three cheap checks
    t = np.asarray(tangent)
    if t.shape != out.shape:
        try:
            t = np.broadcast_to(t, out.shape)
        except ValueError:
            raise ValueError(
                f"{op_name}.jvp returned a tangent of shape {t.shape} for an output of shape "
                f"{out.shape}"
            ) from None
    if t.dtype != out.dtype:
        t = t.astype(out.dtype)
    return t


def tangent_sum(*terms: Any) -> Any:
    """Sum the terms that are not ``None`` (``None`` when all are): a jvp rule's ``ta·∂a + tb·∂b``.

    Example:
        >>> def jvp(self, ctx, ta, tb):
        ...     a, b = ctx.saved
        ...     return tangent_sum(None if ta is None else ta * b, None if tb is None else a * tb)
    """
    total = None
    for t in terms:
        if t is not None:
            total = t if total is None else total + t
    return total


# ---- transforms (JAX's names) -----------------------------------------------------------------


def _flatten(tree: Any) -> tuple[list, Callable[[list], Any]]:
    """Flatten a tensor, list, tuple or dict one level, with a function that rebuilds it."""
    if isinstance(tree, dict):
        keys = list(tree)
        return [tree[k] for k in keys], lambda xs: dict(zip(keys, xs))
    if isinstance(tree, (list, tuple)):
        kind = type(tree)
        return list(tree), lambda xs: kind(xs) if kind is tuple else list(xs)
    return [tree], lambda xs: xs[0]


def _as_primal(i: int, x: Any) -> Tensor:
    """An argument of a transformed function as a floating tensor (arrays keep their dtype)."""
    t = x if isinstance(x, Tensor) else Tensor(x)
    if t.dtype.kind != "f":
        raise TypeError(
            f"argument {i} has dtype {t.dtype} (shape {t.shape}); only floating arguments can "
            "be differentiated"
        )
    return t


def jvp(f: Callable[..., Any], primals: Any, tangents: Any) -> tuple[Any, Any]:
    """The value of ``f(*primals)`` and its derivative along ``tangents`` (JAX's ``jax.jvp``).

    One forward pass computes both: the Jacobian-vector product ``J v`` costs about as much as
    ``f`` itself (two to three times), whatever the sizes of the input and output.

    Args:
        f: A function of tensors returning a tensor, or a list, tuple or dict of tensors.
        primals: A tuple (or list) of the positional arguments of ``f``: tensors or arrays.
        tangents: A tuple of the same length: one tangent per argument, of its shape and dtype.

    Returns:
        ``(outputs, tangents_out)``: ``f``'s result, and its tangent in the same structure
        (zeros for an output that does not depend on the arguments).

    Raises:
        TypeError: When ``primals``/``tangents`` are not tuples or lists, on a non-floating
            argument, or on an output with no tangent (made by a comparison, ``argmax``...).
        ValueError: On a tangent of the wrong shape (see :class:`ForwardAccumulator`).

    Example:
        >>> def f(x, y):
        ...     return (x * y).sum()
        >>> x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
        >>> value, slope = jvp(f, (x, y), (np.ones(2), np.zeros(2)))
        >>> float(slope)                     # d/dt f(x + t, y) = sum(y)
        7.0
    """
    if not isinstance(primals, (list, tuple)) or not isinstance(tangents, (list, tuple)):
        raise TypeError(
            "jvp: primals and tangents must be tuples (one entry per argument of f), got "
            f"{type(primals).__name__} and {type(tangents).__name__}; write jvp(f, (x,), (v,))"
        )
    if len(primals) != len(tangents):
        raise ValueError(
            f"jvp: got {len(primals)} primals but {len(tangents)} tangents; pass one tangent per "
            "argument of f"
        )
    args = [_as_primal(i, x) for i, x in enumerate(primals)]
    with ForwardAccumulator(args, list(tangents)) as acc:
        out = f(*args)
    return out, acc.jvp(out, unconnected_gradients="zero")


def _chunks(n: int, size: int) -> Iterator[range]:
    for lo in range(0, n, size):
        yield range(lo, min(lo + size, n))


def jacfwd(f: Callable[..., Tensor], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """The Jacobian of ``f`` by forward mode, one column per input element (JAX's ``jacfwd``).

    Column ``j`` is the tangent of the output along the ``j``-th basis vector of the input.
    Accumulators run side by side (up to ``JACFWD_CHUNK`` in one pass of ``f``), so ``f`` runs
    ``ceil(n / JACFWD_CHUNK)`` times and each op computes ``n`` tangents: forward mode pays per
    *input* element, reverse mode (``jacrev``) per *output* element. Pick forward mode for
    functions with few inputs and many outputs.

    Args:
        f: A function of tensors/arrays returning a tensor (or a list, tuple or dict of them).
        argnums: Which positional argument to differentiate (an int), or several (a tuple).

    Returns:
        A function with ``f``'s arguments returning the Jacobian as a :class:`Tensor` of shape
        ``out.shape + arg.shape``, in the structure of ``f``'s result (and inside a tuple with
        one entry per argument when ``argnums`` is a tuple).

    Raises:
        TypeError: On a non-floating argument, or an output with no tangent.
        ValueError: On an ``argnums`` out of range, or a Jacobian of more than ``JACOBIAN_LIMIT``
            entries (the message says what it would cost).

    Example:
        >>> def f(x):
        ...     return x ** 3
        >>> jacfwd(f)(np.array([1.0, 2.0]))    # diag(3 x²)
        Tensor([[ 3.  0.]
                [ 0. 12.]], shape=(2, 2), dtype=float64)
    """
    several = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if several else (argnums,)

    def jacobian(*args: Any) -> Any:
        for k in nums:
            if not isinstance(k, int) or not -len(args) <= k < len(args):
                raise ValueError(
                    f"jacfwd: argnums {argnums!r} is out of range for {len(args)} arguments"
                )
        tensors = list(args)
        for k in nums:
            tensors[k] = _as_primal(k, args[k])
        jacs = [_jacobian_columns(f, tensors, k % len(args)) for k in nums]
        return tuple(jacs) if several else jacs[0]

    return jacobian


def _jacobian_columns(f: Callable, tensors: list, k: int) -> Any:
    """Build ``d f / d tensors[k]`` column by column, ``JACFWD_CHUNK`` accumulators per pass."""
    x = tensors[k]
    n_in = x.size
    jacs = rebuild = None
    for cols in _chunks(n_in, JACFWD_CHUNK) if n_in else [range(0)]:
        accs = []
        for j in cols:
            basis = np.zeros(n_in, dtype=x.dtype)
            basis[j] = 1
            accs.append(ForwardAccumulator(x, basis.reshape(x.shape)))
        # the accumulators of a chunk all follow one run of f: the values are computed once
        previous = STATE.active
        STATE.active = [*previous, *accs]
        try:
            result = f(*tensors)
        finally:
            STATE.active = previous
        outs, rebuild = _flatten(result)
        for i, out in enumerate(outs):
            if isinstance(out, (np.ndarray, np.generic)):
                outs[i] = Tensor(out)  # an array is a constant: its Jacobian is zero
            elif not isinstance(out, Tensor):
                raise TypeError(
                    f"jacfwd: f must return a minikeras Tensor (or a list, tuple or dict of "
                    f"them), got {type(out).__name__}"
                )
        if jacs is None:
            jacs = [_new_jacobian(out, x, k) for out in outs]
        for out, jac in zip(outs, jacs):
            for j, acc in zip(cols, accs):
                t = acc._tangent_of(0, out, "none")
                if t is not None:
                    jac[:, j] = t.data.reshape(-1)
    return rebuild([Tensor(jac.reshape(out.shape + x.shape)) for out, jac in zip(outs, jacs)])


def _new_jacobian(out: Tensor, x: Tensor, k: int) -> np.ndarray:
    """Zeros for ``d out / d x`` as ``(out.size, x.size)``, unless that is too big to build."""
    n_out, n_in = out.size, x.size
    if n_in * n_out > JACOBIAN_LIMIT:
        raise ValueError(
            f"jacfwd: the Jacobian of an output of shape {out.shape} with respect to argument "
            f"{k} of shape {x.shape} has {n_in * n_out:,} entries "
            f"({n_in * n_out * out.dtype.itemsize / 2**30:.1f} GiB) and would take {n_in:,} "
            "tangents through f; take jvp along the directions you need instead (or a "
            "reverse-mode gradient for a scalar output)"
        )
    return np.zeros((n_out, n_in), dtype=out.dtype if out.dtype.kind == "f" else x.dtype)
