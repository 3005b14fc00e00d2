"""Finite-difference gradient checking, in float64.

Two modes:

* ``"full"`` builds the whole Jacobian both ways (analytic, one reverse sweep
  per output element; numerical, two evaluations per input element) and
  compares them entry by entry. Exact but costly: for small inputs.
* ``"directional"`` projects the output on a random vector ``w`` and moves
  each input along a random direction ``v``: the analytic
  ``<grad(w·f), v>`` must equal the central difference
  ``(w·f(x + εv) - w·f(x - εv)) / 2ε``. Cheap for big inputs.

On failure the checker names the input, the worst index and the absolute and
relative errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from minikeras.autograd.tape import GradientTape, enable_grad, no_grad
from minikeras.autograd.tensor import Tensor

_FULL_LIMIT = 4096  # Jacobian entries below which "auto" picks the full check


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when analytic and numerical gradients disagree."""


def gradgradcheck(
    func: Callable[..., Tensor],
    inputs: Sequence[Any],
    *,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    mode: str = "auto",
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Check ``func``'s second derivatives against finite differences of its gradient, in float64.

    For a random output projection ``w``, the gradient ``g_k = d<w, func(x)>/dx_k`` of each
    input is itself a function of the inputs and of ``w``. It is computed by the tape (its
    ops recorded, the higher-order path) and handed to :func:`gradcheck`: the tape's
    derivatives of ``g_k`` (second derivatives, and the derivative with respect to the
    incoming gradient ``w``) must match central differences of ``g_k``, which run the plain
    first-order sweep.

    Args:
        func: Function of tensors returning one tensor.
        inputs: The point at which to check: arrays (converted to float64).
        eps: Finite-difference step.
        atol: Absolute tolerance.
        rtol: Relative tolerance.
        mode: ``"full"``, ``"directional"`` or ``"auto"``, as for :func:`gradcheck`.
        seed: Seed of the random projections.
        raise_exception: Raise :class:`GradcheckError` on failure (else return ``False``).

    Returns:
        ``True`` when every second derivative matches.

    Raises:
        GradcheckError: Naming the function, which input's gradient, the input it was
            differentiated by, and the worst index.

    Example:
        >>> gradgradcheck(lambda x: (x * x * x).sum(), [np.array([1.0, 2.0])])
        True
    """
    arrays = [np.array(np.asarray(getattr(x, "data", x)), dtype=np.float64) for x in inputs]
    out0 = _evaluate(func, arrays)
    w = np.random.default_rng(seed + 1).standard_normal(out0.shape)
    n = len(arrays)
    name = getattr(func, "__qualname__", type(func).__name__)
    for k in range(n):
        def grad_k(*args: Tensor, k: int = k) -> Tensor:
            xs, wt = args[:n], args[n]
            with enable_grad(), GradientTape() as tape:  # also when evaluated under no_grad
                tape.watch(list(xs))
                out = func(*xs)
            g = tape.gradient(out, xs[k], output_gradients=wt, unconnected_gradients="zero")
            if g.op is None:
                g = g + wt.sum() * 0.0  # a constant gradient: keep it on the checker's tape
            return g

        try:
            gradcheck(grad_k, [*arrays, w], eps=eps, atol=atol, rtol=rtol, mode=mode, seed=seed)
        except GradcheckError as err:
            if not raise_exception:
                return False
            raise GradcheckError(
                f"gradgradcheck: {name}: the derivative of the gradient for input {k} is wrong "
                f"(input {n} below is the output gradient w seeding the first sweep): {err}"
            ) from None
    return True


def _evaluate(func: Callable, arrays: list[np.ndarray]) -> np.ndarray:
    with no_grad():
        out = func(*[Tensor(a) for a in arrays])
    # a copy: the output of a view op (reshape, transpose, slicing) shares memory with the
    # input, which the finite differences perturb in place
    return np.array(out.data if isinstance(out, Tensor) else out, dtype=np.float64)


def _analytic(func: Callable, arrays: list[np.ndarray], seeds: list[np.ndarray],
              ) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    tensors = [Tensor(a) for a in arrays]
    with GradientTape(persistent=True) as tape:
        tape.watch(tensors)
        out = func(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: func must return a Tensor, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise TypeError(f"gradcheck: func must compute in float64, got output dtype {out.dtype}")
    results = []
    for seed in seeds:
        grads = tape.gradient(out, tensors, output_gradients=seed, unconnected_gradients="zero")
        results.append([g.numpy() for g in grads])
    return out.data, results


def gradcheck(
    func: Callable[..., Tensor],
    inputs: Sequence[Any],
    *,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    mode: str = "auto",
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Check ``func``'s gradients against finite differences in float64.

    Args:
        func: Function of tensors returning one tensor.
        inputs: The point at which to check: arrays (converted to float64).
        eps: Finite-difference step.
        atol: Absolute tolerance.
        rtol: Relative tolerance.
        mode: ``"full"``, ``"directional"`` or ``"auto"`` (full when the
            Jacobian has at most 4,096 entries).
        seed: Seed of the random projections.
        raise_exception: Raise :class:`GradcheckError` on failure (else
            return ``False``).

    Returns:
        ``True`` when every gradient matches.

    Raises:
        GradcheckError: Naming the input, the worst index and the errors.
        ValueError: On an unknown ``mode``.
    """
    if mode not in ("auto", "full", "directional"):
        raise ValueError(
            f"gradcheck: mode must be 'auto', 'full' or 'directional', got {mode!r}"
        )
    arrays = [np.array(np.asarray(getattr(x, "data", x)), dtype=np.float64) for x in inputs]
    out0 = _evaluate(func, arrays)
    total = out0.size * sum(a.size for a in arrays)
    if mode == "auto":
        mode = "full" if total <= _FULL_LIMIT else "directional"
    rng = np.random.default_rng(seed)
    check = _full if mode == "full" else _directional
    message = check(func, arrays, out0, eps, atol, rtol, rng)
    if message is None:
        return True
    if raise_exception:
        raise GradcheckError(message)
    return False


def _numeric_grad(func: Callable, arrays: list[np.ndarray], i: int, w: np.ndarray,
                  eps: float) -> np.ndarray:
    """Numerical gradient of ``w·func`` with respect to input ``i``, element by element."""
    x = arrays[i]
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + eps
        up = np.sum(w * _evaluate(func, arrays))
        flat[j] = old - eps
        down = np.sum(w * _evaluate(func, arrays))
        flat[j] = old
        g.reshape(-1)[j] = (up - down) / (2 * eps)
    return g


class Mismatch(NamedTuple):
    """The worst entry of a comparison: where, the two values, and how far apart."""

    index: tuple[int, ...]
    got: float
    want: float
    detail: str  # "absolute error .., relative error .. (k of n entries out of tolerance)"


def worst_mismatch(got: np.ndarray, want: np.ndarray, atol: float,
                   rtol: float) -> Mismatch | None:
    """The entry where ``got`` is furthest outside ``atol + rtol * |want|`` (``None``: all in)."""
    err = np.abs(got - want)
    bad = err > atol + rtol * np.abs(want)
    if not bad.any():
        return None
    worst = np.unravel_index(np.argmax(np.where(bad, err, -1)), err.shape)
    a, n = got[worst], want[worst]
    rel = abs(a - n) / max(abs(n), 1e-300)
    return Mismatch(tuple(int(k) for k in worst), float(a), float(n),
                    f"absolute error {abs(a - n):.3g}, relative error {rel:.3g} "
                    f"({int(bad.sum())} of {bad.size} entries out of tolerance)")


def _report(i: int, shape: tuple, analytic: np.ndarray, numeric: np.ndarray, atol: float,
            rtol: float, what: str) -> str | None:
    m = worst_mismatch(analytic, numeric, atol, rtol)
    if m is None:
        return None
    return (f"gradcheck: {what} for input {i} (shape {shape}) disagrees at index {m.index}: "
            f"analytic {m.got:.8g}, numerical {m.want:.8g}, {m.detail}")


def _full(func, arrays, out0, eps, atol, rtol, rng) -> str | None:
    seeds = []
    for k in range(out0.size):
        s = np.zeros(out0.size)
        s[k] = 1.0
        seeds.append(s.reshape(out0.shape))
    _, rows = _analytic(func, arrays, seeds)
    for i, x in enumerate(arrays):
        analytic = np.stack([row[i].reshape(-1) for row in rows]) if rows else \
            np.zeros((0, x.size))
        numeric = np.zeros_like(analytic)
        flat = x.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            up = _evaluate(func, arrays).reshape(-1)
            flat[j] = old - eps
            down = _evaluate(func, arrays).reshape(-1)
            flat[j] = old
            numeric[:, j] = (up - down) / (2 * eps)
        msg = _report(i, x.shape, analytic, numeric, atol, rtol,
                      "the Jacobian (flat output index, flat input index)")
        if msg:
            return msg
    return None


def _directional(func, arrays, out0, eps, atol, rtol, rng) -> str | None:
    w = rng.standard_normal(out0.shape)
    _, (grads,) = _analytic(func, arrays, [w])
    for i, x in enumerate(arrays):
        v = rng.standard_normal(x.shape)
        analytic = np.sum(grads[i] * v)
        saved = x.copy()
        x += eps * v
        up = np.sum(w * _evaluate(func, arrays))
        x[...] = saved - eps * v
        down = np.sum(w * _evaluate(func, arrays))
        x[...] = saved
        numeric = (up - down) / (2 * eps)
        scale = max(1.0, np.sqrt(x.size))
        if abs(analytic - numeric) > atol * scale + rtol * abs(numeric):
            if x.size <= 20000:
                # find where it goes wrong, so the message names an index
                full = _numeric_grad(func, arrays, i, w, eps)
                msg = _report(i, x.shape, grads[i], full, atol, rtol,
                              "the gradient of a random projection")
                if msg:
                    return msg
            return (
                f"gradcheck: directional derivative for input {i} (shape {x.shape}) disagrees: "
                f"analytic {analytic:.8g}, numerical {numeric:.8g}, absolute error "
                f"{abs(analytic - numeric):.3g}"
            )
    return None
