"""Plumbing shared by the ports of Keras 2.0.8's training-side tests.

Keras's tests reach the backend through ``K.variable``, ``K.eval``,
``K.placeholder`` and ``K.function``, and build data with
``keras.utils.test_utils.get_test_data`` and ``np_utils.to_categorical``.
minikeras computes eagerly on tensors, so a "placeholder" is nothing more
than the shape it will be fed with and a "function" of it simply applies the
expression to the data it is given. ``get_test_data`` and ``to_categorical``
are Keras's helpers, line for line in behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minikeras import backend as K
from minikeras.autograd import Tensor

# Keras 2.0.8's test-data helpers, shared with the layers half
from ._layers_compat import get_test_data, to_categorical  # noqa: F401


def variable(value: Any, dtype: Any = None) -> Tensor:
    """``K.variable``: a concrete tensor holding ``value`` (floatx unless ``dtype``)."""
    return Tensor(np.asarray(value, dtype=dtype or K.floatx()))


def k_eval(x: Any) -> np.ndarray:
    """``K.eval`` / ``K.get_value``: the numpy value of a tensor (or array, or float)."""
    return np.asarray(x.numpy() if isinstance(x, Tensor) else x)


def function(fn: Callable[[Tensor], Any]) -> Callable[[list], list]:
    """``K.function([x], [fn(x)])`` for one placeholder ``x``.

    Keras builds the expression on a placeholder and runs it on data later;
    here the expression is the Python function, applied when the data comes.
    """
    def run(values: list) -> list:
        return [k_eval(fn(Tensor(np.asarray(values[0], dtype=K.floatx()))))]
    return run


def seed_backend(seed: int) -> None:
    """Seed minikeras's random generator with the seed the Keras test gave numpy.

    Keras 2.0.8's backends drew the seed of every random initializer from
    ``np.random``, so a test's ``np.random.seed(1337)`` fixed its initial
    weights too. minikeras has its own generator; seeding it with the test's
    seed gives the ported tests the same property: deterministic, whatever ran
    before. (The draws differ from TensorFlow's; see the README for what that
    means for the accuracy thresholds of ``optimizers_test``.)
    """
    from minikeras.backend import random as backend_random

    backend_random.set_seed(seed)
