"""Checks for notebook 3, *An MLP from scratch*: softmax, its cross-entropy gradient, a backward.

The MLP of the notebook has one hidden ReLU layer. Its parameters are a dict of numpy arrays
``{"W1": (d, h), "b1": (h,), "W2": (h, k), "b2": (k,)}`` and its forward pass keeps the cache
``(x, z1, h)`` with ``z1 = x @ W1 + b1`` and ``h = relu(z1)``; the logits are ``h @ W2 + b2``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from minikeras.activations import relu
from minikeras.autograd import GradientTape, Tensor, Variable
from minikeras.exercises.core import (
    CheckFailure,
    CheckResult,
    call_answer,
    compare_arrays,
    run_check,
)
from minikeras.losses import sparse_categorical_crossentropy

__all__ = ["check_mlp_backward", "check_softmax", "check_softmax_cross_entropy_grad",
           "mlp_cache"]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_tests(softmax: Callable) -> str:
    rng = np.random.default_rng(5)
    cases = [("a row of 3 logits", np.array([[1.0, 2.0, 3.0]])),
             ("4 rows of 10 logits", rng.standard_normal((4, 10))),
             ("equal logits", np.zeros((2, 5))),
             ("large logits (up to 1000)", np.array([[1000.0, 999.0, 0.0], [-5.0, 800.0, 3.0]]))]
    for on, z in cases:
        with np.errstate(all="ignore"):  # an overflowing answer is reported below, not warned
            got = call_answer(softmax, z.copy(), what="softmax")
        got_array = np.asarray(got, dtype=np.float64)
        if got_array.shape == z.shape and not np.isfinite(got_array).all():
            raise CheckFailure(
                f"softmax gave nan or inf on {on}",
                hint="exp(1000) overflows; softmax does not change when you subtract the same "
                     "number from every logit of a row, so subtract the row's largest first")
        if got_array.shape == z.shape and not np.allclose(got_array.sum(axis=-1), 1.0):
            raise CheckFailure(
                f"the rows of softmax do not sum to 1 on {on} (sums {got_array.sum(axis=-1)})",
                hint="normalise each row by its own sum: sum over the last axis, keepdims=True")
        compare_arrays(got, _softmax(z), "softmax", on=on,
                       hint="softmax(z)_i = exp(z_i) / sum_j exp(z_j), row by row")
    return f"{len(cases)} inputs, including large logits"


def check_softmax(softmax: Callable) -> CheckResult:
    """Check a numpy ``softmax(z)`` over the last axis, including logits that overflow ``exp``.

    Args:
        softmax: The student's function of a ``(batch, classes)`` array.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("softmax", _softmax_tests, softmax)


def _tape_ce_grad(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = Tensor(logits)
    with GradientTape() as tape:
        tape.watch(z)
        loss = sparse_categorical_crossentropy(labels, z, from_logits=True).mean()
    return tape.gradient(loss, z)


def _ce_grad_tests(grad_fn: Callable) -> str:
    rng = np.random.default_rng(6)
    for batch, classes in [(1, 3), (4, 10), (7, 5)]:
        logits = rng.standard_normal((batch, classes)) * 2
        labels = rng.integers(0, classes, batch)
        on = f"{batch} rows of {classes} logits, labels {labels.tolist()}"
        got = call_answer(grad_fn, logits.copy(), labels.copy(), what="softmax_cross_entropy_grad")
        expected = _tape_ce_grad(logits, labels)
        got_array = np.asarray(got, dtype=np.float64)
        if batch > 1 and got_array.shape == expected.shape \
                and np.allclose(got_array, expected * batch, atol=1e-7):
            raise CheckFailure(
                f"the gradient on {on} is {batch} times too large",
                hint="the loss is the mean over the batch, so each row's gradient is divided by "
                     "the batch size")
        compare_arrays(got, expected, "dL/dlogits", on=on,
                       hint="for one row, d/dz of -log softmax(z)[y] is softmax(z) minus the "
                            "one-hot vector of the label")
    return "3 batches against the tape"


def check_softmax_cross_entropy_grad(grad_fn: Callable) -> CheckResult:
    """Check ``grad_fn(logits, labels)``: the gradient of the mean softmax cross-entropy.

    The loss is ``mean_n(-log softmax(logits[n])[labels[n]])``; the answer must equal the
    tape's gradient of minikeras's ``sparse_categorical_crossentropy(..., from_logits=True)``.

    Args:
        grad_fn: The student's function of ``(batch, classes)`` logits and integer labels.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("softmax cross-entropy gradient", _ce_grad_tests, grad_fn)


def mlp_cache(params: dict[str, np.ndarray], x: np.ndarray
              ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The MLP's forward pass in numpy: the logits and the cache ``(x, z1, h)``.

    Args:
        params: ``{"W1", "b1", "W2", "b2"}``.
        x: ``(batch, d)`` inputs.

    Returns:
        ``(logits, (x, z1, h))``.
    """
    z1 = x @ params["W1"] + params["b1"]
    h = np.maximum(z1, 0.0)
    return h @ params["W2"] + params["b2"], (x, z1, h)


def _tape_mlp_grads(params: dict[str, np.ndarray], x: np.ndarray, grad_logits: np.ndarray
                    ) -> dict[str, np.ndarray]:
    names = ["W1", "b1", "W2", "b2"]
    variables = {n: Variable(params[n].copy(), name=n) for n in names}
    with GradientTape() as tape:
        h = relu(Tensor(x) @ variables["W1"] + variables["b1"])
        logits = h @ variables["W2"] + variables["b2"]
        # a scalar whose gradient with respect to the logits is grad_logits
        target = (logits * Tensor(grad_logits)).sum()
    grads = tape.gradient(target, [variables[n] for n in names])
    return dict(zip(names, grads))


def _mlp_backward_tests(backward: Callable) -> str:
    rng = np.random.default_rng(7)
    sizes = [(2, 3, 4, 2), (5, 8, 6, 10)]
    for batch, d, hidden, k in sizes:
        params = {"W1": rng.standard_normal((d, hidden)), "b1": rng.standard_normal(hidden) * 0.5,
                  "W2": rng.standard_normal((hidden, k)), "b2": rng.standard_normal(k)}
        x = rng.standard_normal((batch, d))
        grad_logits = rng.standard_normal((batch, k))
        _, cache = mlp_cache(params, x)
        got = call_answer(backward, {n: p.copy() for n, p in params.items()},
                          tuple(c.copy() for c in cache), grad_logits.copy(),
                          what="mlp_backward")
        if not isinstance(got, dict) or set(got) != set(params):
            raise CheckFailure(
                "mlp_backward must return a dict with the keys W1, b1, W2, b2, got "
                f"{sorted(got) if isinstance(got, dict) else type(got).__name__}",
                hint="one gradient per parameter, under the parameter's name")
        expected = _tape_mlp_grads(params, x, grad_logits)
        on = f"a batch of {batch}, {d} inputs, {hidden} hidden units, {k} classes"
        hints = {
            "W2": "logits = h @ W2 + b2, so dL/dW2 = h.T @ dL/dlogits",
            "b2": "b2 is added to every row: its gradient sums dL/dlogits over the batch",
            "b1": "go back through the ReLU first: its gradient passes only where z1 > 0",
            "W1": "dL/dh = dL/dlogits @ W2.T; mask it by z1 > 0; then dL/dW1 = x.T @ dL/dz1",
        }
        for n in ["W2", "b2", "b1", "W1"]:
            compare_arrays(got[n], expected[n], f"dL/d{n}", on=on, hint=hints[n],
                           shape_hint="a gradient has the shape of its parameter: sum over the "
                                      "batch axis where the parameter was broadcast")
    return f"{len(sizes)} networks against the tape"


def check_mlp_backward(backward: Callable) -> CheckResult:
    """Check a hand-written ``backward(params, cache, grad_logits)`` of the MLP against the tape.

    Args:
        backward: The student's function; it returns ``{"W1", "b1", "W2", "b2"}`` gradients
            given the parameters, the cache ``(x, z1, h)`` of :func:`mlp_cache` and the gradient
            of the loss with respect to the logits.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("MLP backward", _mlp_backward_tests, backward)
