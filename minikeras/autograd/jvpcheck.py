"""Checking forward mode: each input's JVP against finite differences and against reverse mode.

For every input ``i`` of ``func`` a random tangent ``v_i`` is drawn, and the forward-mode tangent
of the output along it, ``J_i v_i``, is computed by a :class:`ForwardAccumulator` (one per input,
plus one with every input's tangent at once, all following the same run of ``func``). It must
match:

* the central difference ``(func(x_i + ε v_i) - func(x_i - ε v_i)) / 2ε``, output element by
  output element (float64, tolerances as :func:`~minikeras.autograd.gradcheck.gradcheck`);
* reverse mode: the tape's Jacobian rows times ``v_i`` (one reverse sweep per output element
  when the output is small), or else the projection ``<w, J_i v_i> = <J_iᵀ w, v_i>`` on a random
  ``w`` (one sweep). Both sides are exact, so the tolerance is much tighter.

On failure the message names the op that made the output, the input, the worst output index
and the errors, as ``gradcheck`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minikeras.autograd.forward import ForwardAccumulator
from minikeras.autograd.gradcheck import GradcheckError, worst_mismatch
from minikeras.autograd.tape import GradientTape, no_grad
from minikeras.autograd.tensor import Tensor

__all__ = ["jvpcheck"]

_FULL_ROWS = 256  # outputs up to this size are compared with the whole reverse Jacobian


def _evaluate(func: Callable, arrays: list[np.ndarray]) -> np.ndarray:
    with no_grad():
        out = func(*[Tensor(a) for a in arrays])
    return np.array(out.data if isinstance(out, Tensor) else out, dtype=np.float64)


def jvpcheck(
    func: Callable[..., Tensor],
    inputs: Sequence[Any],
    *,
    tangents: Sequence[Any] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    reverse_atol: float = 1e-9,
    reverse_rtol: float = 1e-7,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Check ``func``'s forward-mode derivatives against finite differences and reverse mode.

    Args:
        func: Function of tensors returning one tensor.
        inputs: The point at which to check: arrays (converted to float64).
        tangents: One tangent per input (default: standard normal draws).
        eps: Finite-difference step.
        atol: Absolute tolerance against finite differences.
        rtol: Relative tolerance against finite differences.
        reverse_atol: Absolute tolerance against reverse mode (both sides are analytic).
        reverse_rtol: Relative tolerance against reverse mode.
        seed: Seed of the random tangents and projection.
        raise_exception: Raise :class:`GradcheckError` on failure (else return ``False``).

    Returns:
        ``True`` when forward mode agrees with both.

    Raises:
        GradcheckError: Naming the op, the input, the worst output index and the errors.
        TypeError: When ``func`` does not return a float64 tensor.
        ValueError: On a number of tangents different from the number of inputs.

    Example:
        >>> jvpcheck(lambda x, w: (x @ w).tanh(), [np.ones((2, 3)), np.ones((3, 4))])
        True
    """
    arrays = [np.array(np.asarray(getattr(x, "data", x)), dtype=np.float64) for x in inputs]
    rng = np.random.default_rng(seed)
    if tangents is None:
        vs = [rng.standard_normal(a.shape) for a in arrays]
    else:
        if len(tangents) != len(arrays):
            raise ValueError(
                f"jvpcheck: got {len(tangents)} tangents for {len(arrays)} inputs"
            )
        vs = [np.asarray(getattr(v, "data", v), dtype=np.float64) for v in tangents]
    # each input alone (so a failure names it), then all together (so a rule is also run with
    # tangents on several inputs at once, the case ``tangent_sum`` adds up)
    cases = [(f"input {i} (shape {a.shape})", [i]) for i, a in enumerate(arrays)]
    if len(arrays) > 1:
        cases.append(("all inputs together", list(range(len(arrays)))))
    forward, op = _forward_mode(func, arrays, vs, cases)
    message = None
    for (what, which), jvp in zip(cases, forward):
        saved = [arrays[i].copy() for i in which]
        for i in which:
            arrays[i] += eps * vs[i]
        up = _evaluate(func, arrays)
        for i, old in zip(which, saved):
            arrays[i][...] = old - eps * vs[i]
        down = _evaluate(func, arrays)
        for i, old in zip(which, saved):
            arrays[i][...] = old
        message = _report(op, what, jvp, (up - down) / (2 * eps), atol, rtol, "finite differences")
        if message:
            break
    if message is None:
        message = _against_reverse(func, arrays, vs, cases, forward, op, reverse_atol,
                                   reverse_rtol, rng)
    if message is None:
        return True
    if raise_exception:
        raise GradcheckError(message)
    return False


def _forward_mode(func: Callable, arrays: list[np.ndarray], vs: list[np.ndarray], cases: list,
                  ) -> tuple[list[np.ndarray], str]:
    """One run of ``func`` followed by one accumulator per case: each case's ``J v``."""
    tensors = [Tensor(a.copy()) for a in arrays]
    accs = [ForwardAccumulator([tensors[i] for i in which], [vs[i] for i in which])
            for _, which in cases]
    for acc in accs:
        acc.__enter__()
    try:
        out = func(*tensors)
    finally:
        for acc in reversed(accs):
            acc.__exit__(None, None, None)
    if not isinstance(out, Tensor):
        raise TypeError(f"jvpcheck: func must return a Tensor, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise TypeError(f"jvpcheck: func must compute in float64, got output dtype {out.dtype}")
    jvps = [np.asarray(acc.jvp(out, unconnected_gradients="zero").data) for acc in accs]
    return jvps, out.op_name or "the identity"


def _report(op: str, what: str, forward: np.ndarray, other: np.ndarray, atol: float,
            rtol: float, against: str) -> str | None:
    m = worst_mismatch(forward, other, atol, rtol)
    if m is None:
        return None
    return (f"jvpcheck: the JVP of {op} for {what} disagrees with {against} at output index "
            f"{m.index}: forward mode {m.got:.8g}, {against} {m.want:.8g}, {m.detail}")


def _against_reverse(func, arrays, vs, cases, forward, op, atol, rtol, rng) -> str | None:
    tensors = [Tensor(a.copy()) for a in arrays]
    with GradientTape(persistent=True) as tape:
        tape.watch(tensors)
        out = func(*tensors)
    size = out.size
    if size <= _FULL_ROWS:
        # the reverse Jacobian, one row per output element, times each input's tangent
        products = [np.zeros(out.shape) for _ in arrays]
        for k in range(size):
            seed = np.zeros(size)
            seed[k] = 1.0
            rows = tape.gradient(out, tensors, output_gradients=seed.reshape(out.shape),
                                 unconnected_gradients="zero")
            for i, (row, v) in enumerate(zip(rows, vs)):
                products[i].reshape(-1)[k] = np.sum(np.asarray(row) * v)
        for (what, which), jvp in zip(cases, forward):
            message = _report(op, what, jvp, sum(products[i] for i in which), atol, rtol,
                              "reverse mode (Jacobian rows · tangent)")
            if message:
                return message
        return None
    w = rng.standard_normal(out.shape)
    grads = tape.gradient(out, tensors, output_gradients=w, unconnected_gradients="zero")
    scale = max(1.0, np.sqrt(size))
    for (what, which), jvp in zip(cases, forward):
        fwd = np.sum(w * jvp)
        rev = sum(np.sum(np.asarray(grads[i]) * vs[i]) for i in which)
        if abs(fwd - rev) > atol * scale + rtol * abs(rev):
            return (
                f"jvpcheck: the JVP of {op} for {what} disagrees with reverse mode on a random "
                f"projection of the output (shape {out.shape}): <w, J v> is {fwd:.8g} by "
                f"forward mode and {rev:.8g} by reverse mode, absolute error {abs(fwd - rev):.3g}"
            )
    return None
