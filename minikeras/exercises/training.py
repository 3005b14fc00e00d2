"""Checks for notebook 8, *Training on the digits*: one training step, and reading the mistakes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from minikeras.autograd import GradientTape
from minikeras.engine import Sequential
from minikeras.exercises.core import (
    CheckFailure,
    CheckResult,
    call_answer,
    compare_arrays,
    run_check,
)
from minikeras.layers import Dense, Flatten
from minikeras.losses import sparse_categorical_crossentropy
from minikeras.optimizers import SGD

__all__ = ["check_confusion_matrix", "check_per_class_accuracy", "check_train_step"]


def _twin_models() -> tuple[Sequential, Sequential]:
    def make() -> Sequential:
        return Sequential([Flatten(input_shape=(8, 8, 1)), Dense(6, activation="tanh"),
                           Dense(10, activation="softmax")])

    first, second = make(), make()
    second.set_weights(first.get_weights())
    return first, second


def _reference_step(model: Sequential, x: np.ndarray, y: np.ndarray) -> float:
    optimizer = SGD(0.5)
    with GradientTape() as tape:
        loss = sparse_categorical_crossentropy(y, model(x, training=True)).mean()
    grads = tape.gradient(loss, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))
    return float(loss.data)


def _train_step_tests(train_step: Callable) -> str:
    rng = np.random.default_rng(10)
    student, reference = _twin_models()
    optimizer = SGD(0.5)
    for step in range(1, 4):
        x = rng.random((8, 8, 8, 1)).astype(np.float32)
        y = rng.integers(0, 10, 8)
        before = [w.copy() for w in student.get_weights()]
        got = call_answer(train_step, student, optimizer, x, y, what="train_step")
        expected_loss = _reference_step(reference, x, y)
        if all(np.array_equal(a, b) for a, b in zip(before, student.get_weights())):
            raise CheckFailure(
                f"step {step} did not change any weight",
                hint="after tape.gradient, let the optimizer apply the gradients: "
                     "optimizer.apply_gradients(zip(grads, model.trainable_weights))")
        try:
            loss = float(np.asarray(getattr(got, "data", got)))
        except (TypeError, ValueError) as err:
            raise CheckFailure(f"train_step must return the loss as a number, got {got!r}",
                               hint="return float(loss.data)") from err
        if not np.isclose(loss, expected_loss, rtol=1e-4):
            raise CheckFailure(
                f"step {step} returned the loss {loss:.6g}, expected {expected_loss:.6g}",
                hint="the loss is the mean over the batch of sparse_categorical_crossentropy("
                     "labels, probabilities), computed before the update")
        for w_got, w_expected, var in zip(student.get_weights(), reference.get_weights(),
                                          student.weights):
            compare_arrays(w_got, w_expected, f"the weight {var.name!r} after step {step}",
                           on="a batch of 8 random images", rtol=1e-4, atol=1e-6,
                           hint="take the gradient of the loss with respect to "
                                "model.trainable_weights, all of them, on the same tape")
    return "3 steps of a small model against a step taken by the library"


def check_train_step(train_step: Callable) -> CheckResult:
    """Check ``train_step(model, optimizer, x, y) -> loss``: one training step by hand.

    The step must compute the mean sparse categorical cross-entropy of the model's
    probabilities on a tape, and apply its gradients to every trainable weight with the given
    optimizer; the weights after three steps must equal those of a step taken by the library.

    Args:
        train_step: The student's function.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("a training step", _train_step_tests, train_step)


def _confusion_tests(confusion_matrix: Callable) -> str:
    rng = np.random.default_rng(11)
    cases = [(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1]), 3),
             (rng.integers(0, 10, 50), rng.integers(0, 10, 50), 10),
             (np.array([3, 3]), np.array([0, 0]), 4)]
    for y_true, y_pred, n in cases:
        expected = np.zeros((n, n), dtype=int)
        np.add.at(expected, (y_true, y_pred), 1)
        got = np.asarray(call_answer(confusion_matrix, y_true.copy(), y_pred.copy(), n,
                                     what="confusion_matrix"))
        on = f"y_true={y_true.tolist()[:8]}..., y_pred={y_pred.tolist()[:8]}..."
        if got.shape == expected.shape and not np.array_equal(expected, expected.T) \
                and np.array_equal(got, expected.T):
            raise CheckFailure(f"your matrix is the transpose of the expected one on {on}",
                               hint="rows are the true classes, columns the predicted ones")
        compare_arrays(got, expected, "the confusion matrix", on=on,
                       hint="add 1 at [true class, predicted class] for every image; with "
                            "repeated pairs, fancy-index assignment counts only once")
    return f"{len(cases)} sets of labels"


def check_confusion_matrix(confusion_matrix: Callable) -> CheckResult:
    """Check ``confusion_matrix(y_true, y_pred, n_classes)``: counts, true classes as rows.

    Args:
        confusion_matrix: The student's function; returns an ``(n, n)`` array.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("the confusion matrix", _confusion_tests, confusion_matrix)


def _per_class_tests(per_class_accuracy: Callable) -> str:
    cases = [np.array([[5, 1], [3, 3]]), np.array([[2, 0, 0], [1, 1, 2], [0, 4, 4]])]
    for confusion in cases:
        expected = np.diag(confusion) / confusion.sum(axis=1)
        got = np.asarray(call_answer(per_class_accuracy, confusion.copy(),
                                     what="per_class_accuracy"), dtype=np.float64)
        if got.shape == expected.shape and np.allclose(got,
                                                       np.diag(confusion) / confusion.sum(axis=0)):
            raise CheckFailure(
                f"on {confusion.tolist()} you divided by the column sums",
                hint="a column counts the images predicted as that class; the accuracy on a "
                     "class is over the images that truly are that class: its row")
        compare_arrays(got, expected, "the per-class accuracy", on=f"{confusion.tolist()}",
                       hint="for each true class: right answers (the diagonal) over all its "
                            "images (its row)")
    return f"{len(cases)} confusion matrices"


def check_per_class_accuracy(per_class_accuracy: Callable) -> CheckResult:
    """Check ``per_class_accuracy(confusion)``: the fraction of each true class predicted right.

    Args:
        per_class_accuracy: The student's function of a confusion matrix (true classes as
            rows); returns one number per class.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("the accuracy per class", _per_class_tests, per_class_accuracy)
