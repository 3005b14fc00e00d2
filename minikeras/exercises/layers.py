"""Checks for notebook 9, *Your own layer*: custom layers, by ``minikeras.testing.layer_test``.

:func:`check_layer` is the general check a teacher can reuse for any layer class; the others
are the notebook's exercises.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras.exercises.core import (
    CheckFailure,
    CheckResult,
    call_answer,
    compare_arrays,
    run_check,
)
from minikeras.testing import layer_test

__all__ = ["check_clip_layer", "check_layer", "check_linear_use_bias", "check_scale_layer"]


def _layer_test(layer_cls: type, hint: str, **kwargs: Any) -> np.ndarray:
    call = (f"layer_test({layer_cls.__name__}, kwargs={kwargs.get('kwargs') or {}}, "
            f"input_shape={kwargs.get('input_shape')})")
    try:
        return layer_test(layer_cls, **kwargs)
    except NotImplementedError:
        raise
    except AssertionError as err:
        lines = " ".join(line.strip() for line in str(err).strip().splitlines()[:6])
        raise CheckFailure(f"{call} failed: {lines}", hint=hint) from err
    except Exception as err:  # noqa: BLE001 - the student's layer failed inside layer_test
        raise CheckFailure(f"{call} stopped with {type(err).__name__}: {err}", hint=hint) from err


def _generic_tests(layer_cls: type, cases: list[dict], hint: str) -> str:
    for case in cases:
        _layer_test(layer_cls, hint, **case)
    return f"layer_test on {len(cases)} setting(s)"


def check_layer(layer_cls: type, cases: list[dict], name: str = "layer",
                hint: str = "layer_test's message names the step that failed: a symbolic "
                            "call, the output shape, the config round trip, or the gradients"
                ) -> CheckResult:
    """Check a layer class with :func:`minikeras.testing.layer_test` on several settings.

    Args:
        layer_cls: The student's layer class.
        cases: Keyword arguments of ``layer_test`` for each setting, e.g.
            ``[{"kwargs": {"units": 3}, "input_shape": (2, 5)}]``.
        name: The layer's name in the verdict.
        hint: The hint when ``layer_test`` fails.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check(name, _generic_tests, layer_cls, cases, hint)


def _scale_tests(scale_cls: type) -> str:
    hint = ("build creates one weight of shape (channels,) = (input_shape[-1],) with "
            "add_weight, initialised to ones; call multiplies the inputs by it")
    for shape in [(2, 5), (2, 3, 4)]:
        _layer_test(scale_cls, hint, input_shape=shape, expected_num_weights=1,
                    expected_num_params=shape[-1])
    layer = call_answer(scale_cls, what=scale_cls.__name__)
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    out = call_answer(layer, x, what=f"{scale_cls.__name__} call")
    compare_arrays(out, x, "a new layer's output", on="x of shape (2, 2, 3)",
                   hint="the scale starts at ones, so a new layer leaves its input unchanged")
    layer.set_weights([np.array([1.0, 2.0, -1.0], dtype=np.float32)])
    compare_arrays(call_answer(layer, x, what=f"{scale_cls.__name__} call"),
                   x * np.array([1.0, 2.0, -1.0]), "the output with scale [1, 2, -1]",
                   on="x of shape (2, 2, 3)", hint="multiply each channel (the last axis) by "
                                                   "its own scale")
    return "layer_test on 2 shapes, and the values"


def check_scale_layer(scale_cls: type) -> CheckResult:
    """Check a ``Scale`` layer: one learned factor per channel (last axis), starting at 1.

    Args:
        scale_cls: The student's layer class (no constructor arguments needed).

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("a Scale layer", _scale_tests, scale_cls)


def _use_bias_tests(linear_cls: type) -> str:
    hint = ("with use_bias=False, build creates only the kernel, call adds no bias, and "
            "get_config records use_bias so that the layer can be rebuilt the same")
    for use_bias, weights in [(True, 2), (False, 1)]:
        _layer_test(linear_cls, hint, kwargs={"units": 3, "use_bias": use_bias},
                    input_shape=(2, 5), expected_num_weights=weights,
                    expected_num_params=15 + (3 if use_bias else 0))
    layer = call_answer(linear_cls, 3, use_bias=False, what=linear_cls.__name__)
    config = call_answer(layer.get_config, what="get_config")
    if config.get("use_bias") is not False:
        raise CheckFailure(f"get_config() of Linear(3, use_bias=False) is {config}",
                           hint="add use_bias to the dict that get_config returns")
    return "layer_test with and without a bias"


def check_linear_use_bias(linear_cls: type) -> CheckResult:
    """Check a ``Linear`` layer with a ``use_bias`` setting (no bias weight when false).

    Args:
        linear_cls: The student's layer class, ``Linear(units, activation=None,
            use_bias=True, **kwargs)``.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("Linear with use_bias", _use_bias_tests, linear_cls)


def _clip_tests(clip_cls: type) -> str:
    hint = ("get_config must return the settings given to __init__ (min_value and max_value) "
            "on top of super().get_config(), so that from_config rebuilds the same layer")
    for low, high in [(1.0, 5.0), (-2.0, 0.5)]:
        _layer_test(clip_cls, hint, kwargs={"min_value": low, "max_value": high},
                    input_shape=(3, 4), expected_num_weights=0)
        layer = call_answer(clip_cls, min_value=low, max_value=high, what=clip_cls.__name__)
        rebuilt = call_answer(clip_cls.from_config, layer.get_config(), what="from_config")
        x = np.linspace(-4, 8, 12, dtype=np.float32).reshape(3, 4)
        compare_arrays(call_answer(rebuilt, x, what="the rebuilt layer"), np.clip(x, low, high),
                       "the output of the layer rebuilt from its config",
                       on=f"min_value={low}, max_value={high}", hint=hint)
    return "layer_test and the config round trip on 2 settings"


def check_clip_layer(clip_cls: type) -> CheckResult:
    """Check a ``Clip(min_value, max_value)`` layer, in particular its ``get_config``.

    Args:
        clip_cls: The student's layer class.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("a Clip layer and its config", _clip_tests, clip_cls)
