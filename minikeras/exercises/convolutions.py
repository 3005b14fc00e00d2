"""Checks for notebooks 6 and 7, *Convolution kernels* and *Separable convolutions*.

Loops are checked against the numpy reference twins of :mod:`minikeras.kernels.reference`
(which the library's Numba kernels are tested against), shape rules against
:mod:`minikeras.kernels.padding`, weight counts against the layers themselves, and a batch
normalisation folded into a scale and a shift against the layer's own inference output and
:func:`~minikeras.autograd.ops.fused.inference_scale_shift`. Inputs are small: a student's
Python loops are slow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minikeras.autograd.ops.fused import inference_scale_shift
from minikeras.engine import Input
from minikeras.exercises.core import (
    CheckFailure,
    CheckResult,
    call_answer,
    compare_arrays,
    run_check,
)
from minikeras.kernels import conv_output_length, reference, same_pads
from minikeras.layers import BatchNormalization, SeparableConv2D

__all__ = ["check_conv2d_loops", "check_conv_output_length", "check_depthwise_as_standard",
           "check_depthwise_loops", "check_fold_batch_norm", "check_im2col", "check_same_pads",
           "check_separable_by_hand", "check_separable_params"]


def _rng() -> np.random.Generator:
    return np.random.default_rng(9)


def _depthwise_tests(depthwise: Callable) -> str:
    rng = _rng()
    cases = [((1, 5, 5, 1), 3, 1), ((2, 6, 7, 3), 3, 1), ((1, 7, 6, 2), 3, 2), ((1, 8, 8, 2), 2, 3)]
    for shape, k, stride in cases:
        x = rng.standard_normal(shape)
        kernel = rng.standard_normal((k, k, shape[-1]))
        expected = reference.depthwise_conv2d_forward(x, kernel[..., None], strides=(stride,) * 2)
        got = call_answer(depthwise, x.copy(), kernel.copy(), stride, what="depthwise_loops")
        compare_arrays(got, expected, "the output",
                       on=f"x of shape {shape}, a {k}x{k} kernel, stride {stride}",
                       hint="output pixel (i, j) reads the window that starts at input pixel "
                            "(i * stride, j * stride); channel c only meets kernel[:, :, c]")
    return f"{len(cases)} inputs against reference.depthwise_conv2d_forward"


def check_depthwise_loops(depthwise: Callable) -> CheckResult:
    """Check ``depthwise(x, k, stride)``: a depthwise convolution with a stride, no padding.

    Args:
        depthwise: The student's function of ``x`` ``(N, H, W, C)``, ``k`` ``(kh, kw, C)`` and
            an int stride; returns ``(N, Ho, Wo, C)``.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("depthwise convolution with a stride", _depthwise_tests, depthwise)


def _conv2d_tests(conv2d: Callable) -> str:
    rng = _rng()
    cases = [((1, 4, 4, 1), (3, 3, 1, 1)), ((1, 5, 5, 2), (3, 3, 2, 3)),
             ((2, 4, 5, 3), (2, 3, 3, 2))]
    for x_shape, k_shape in cases:
        x, kernel = rng.standard_normal(x_shape), rng.standard_normal(k_shape)
        got = call_answer(conv2d, x.copy(), kernel.copy(), what="conv2d_loops")
        compare_arrays(got, reference.conv2d_forward(x, kernel), "the output",
                       on=f"x of shape {x_shape} and a kernel of shape {k_shape}",
                       hint="output channel o sums x[n, i + a, j + b, c] * k[a, b, c, o] over "
                            "the taps (a, b) and over all input channels c")
    return f"{len(cases)} inputs against reference.conv2d_forward"


def check_conv2d_loops(conv2d: Callable) -> CheckResult:
    """Check ``conv2d(x, k)``: a standard convolution (stride 1, no padding) written as loops.

    Args:
        conv2d: The student's function of ``x`` ``(N, H, W, Cin)`` and ``k``
            ``(kh, kw, Cin, Cout)``; returns ``(N, Ho, Wo, Cout)``.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("standard convolution", _conv2d_tests, conv2d)


def _as_standard_tests(as_standard: Callable) -> str:
    rng = _rng()
    cases = [(3, 3, 1), (3, 3, 2), (2, 2, 3)]
    for k, channels, dm in cases:
        dk = rng.standard_normal((k, k, channels, dm))
        x = rng.standard_normal((1, 5, 5, channels))
        standard = np.asarray(call_answer(as_standard, dk.copy(), what="depthwise_as_standard"))
        expected_shape = (k, k, channels, channels * dm)
        if standard.shape != expected_shape:
            raise CheckFailure(
                f"for a depthwise kernel of shape {dk.shape} you made a kernel of shape "
                f"{standard.shape}, expected {expected_shape}",
                hint="a standard kernel is (kh, kw, in channels, out channels), and a depthwise "
                     "convolution has channels * depth_multiplier outputs")
        compare_arrays(reference.conv2d_forward(x, standard),
                       reference.depthwise_conv2d_forward(x, dk),
                       "the standard convolution with your kernel",
                       on=f"a depthwise kernel of shape {dk.shape}",
                       hint="depthwise output channel c * dm + m reads only input channel c, "
                            "with the filter dk[:, :, c, m]; every other entry is zero")
    return f"{len(cases)} depthwise kernels, depth multipliers 1 to 3"


def check_depthwise_as_standard(as_standard: Callable) -> CheckResult:
    """Check ``as_standard(dk)``: the standard kernel that computes a depthwise convolution.

    Args:
        as_standard: The student's function of a depthwise kernel ``(kh, kw, C, dm)``; returns
            a ``(kh, kw, C, C * dm)`` kernel.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("depthwise as a standard convolution", _as_standard_tests, as_standard)


def _im2col_tests(im2col: Callable) -> str:
    rng = _rng()
    cases = [((1, 4, 4, 1), 3, 3), ((2, 5, 4, 2), 3, 2), ((1, 6, 6, 3), 2, 2)]
    for shape, kh, kw in cases:
        x = rng.standard_normal(shape)
        n, h, w, c = shape
        rows = n * (h - kh + 1) * (w - kw + 1)
        got = np.asarray(call_answer(im2col, x.copy(), kh, kw, what="im2col"))
        on = f"x of shape {shape} and a {kh}x{kw} window"
        if got.shape != (rows, kh * kw * c):
            raise CheckFailure(
                f"im2col gave shape {got.shape} on {on}, expected {(rows, kh * kw * c)}",
                hint="one row per output pixel (N * Ho * Wo rows), one column per number the "
                     "window reads (kh * kw * C)")
        kernel = rng.standard_normal((kh, kw, c, 2))
        expected = reference.conv2d_forward(x, kernel).reshape(rows, 2)
        compare_arrays(got @ kernel.reshape(-1, 2), expected,
                       "im2col(x) @ kernel.reshape(-1, filters)", on=on,
                       hint="lay each window out in the kernel's own order, (a, b, c) with c "
                            "fastest, so that the kernel reshaped to a matrix lines up with it")
    return f"{len(cases)} inputs: im2col times the kernel matrix is the convolution"


def check_im2col(im2col: Callable) -> CheckResult:
    """Check ``im2col(x, kh, kw)``: every window as a row, so a convolution is one matmul.

    Args:
        im2col: The student's function of ``x`` ``(N, H, W, C)`` and the window size; returns
            a ``(N * Ho * Wo, kh * kw * C)`` matrix (stride 1, no padding) whose product with
            ``kernel.reshape(-1, filters)`` is the convolution, flattened.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("im2col", _im2col_tests, im2col)


def _length_cases() -> list[tuple[int, int, str, int, int]]:
    cases = []
    for n in (1, 5, 7, 8, 12):
        for k in (1, 2, 3, 5):
            for s in (1, 2, 3):
                for d in (1, 2):
                    for padding in ("valid", "same"):
                        if conv_output_length(n, k, padding, s, d) > 0:
                            cases.append((n, k, padding, s, d))
    return cases


def _length_tests(output_length: Callable) -> str:
    cases = _length_cases()
    for n, k, padding, s, d in cases:
        got = call_answer(output_length, n, k, padding, s, d, what="output_length")
        expected = conv_output_length(n, k, padding, s, d)
        if got != expected:
            span = "" if d == 1 else f" (the dilated window spans {k + (k - 1) * (d - 1)})"
            raise CheckFailure(
                f"n={n}, k={k}, padding={padding!r}, stride={s}, dilation={d}: expected "
                f"{expected}, got {got}{span}",
                hint="'same' keeps ceil(n / stride); 'valid' counts the windows that fit, "
                     "ceil((n - span + 1) / stride), where span is the dilated window's width")
    return f"{len(cases)} cases"


def check_conv_output_length(output_length: Callable) -> CheckResult:
    """Check ``output_length(n, k, padding, stride, dilation)`` against ``conv_output_length``.

    Args:
        output_length: The student's function; returns an int.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("the output length rule", _length_tests, output_length)


def _pads_tests(pads: Callable) -> str:
    cases = [(n, k, s, d) for n in (4, 5, 7, 8) for k in (1, 2, 3, 4) for s in (1, 2, 3)
             for d in (1, 2)]
    for n, k, s, d in cases:
        got = call_answer(pads, n, k, s, d, what="same_padding")
        expected = same_pads(n, k, s, d)
        if tuple(np.asarray(got).tolist()) != expected:
            raise CheckFailure(
                f"n={n}, k={k}, stride={s}, dilation={d}: expected (before, after) = "
                f"{expected}, got {got}",
                hint="the total is what the last window needs beyond the input, "
                     "(n_out - 1) * stride + span - n (never negative); half goes before, the "
                     "odd pixel after")
    return f"{len(cases)} cases"


def check_same_pads(same_padding: Callable) -> CheckResult:
    """Check ``same_padding(n, k, stride, dilation) -> (before, after)`` for ``"same"``.

    Args:
        same_padding: The student's function.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("'same' padding", _pads_tests, same_padding)


def _params_tests(separable_params: Callable) -> str:
    cases = [(3, 3, 16, 1), (3, 16, 32, 1), (5, 8, 4, 2), (1, 4, 4, 3), (3, 64, 128, 4)]
    for k, c, f, dm in cases:
        layer = SeparableConv2D(f, k, depth_multiplier=dm)
        layer(Input((8, 8, c)))
        got = call_answer(separable_params, k, c, f, dm, what="separable_params")
        if got != layer.count_params():
            raise CheckFailure(
                f"k={k}, in={c}, filters={f}, depth_multiplier={dm}: the layer has "
                f"{layer.count_params()} weights, you counted {got}",
                hint="count the three weights separately: the depthwise kernel (kh, kw, in, dm), "
                     "the pointwise kernel (1, 1, in * dm, filters) and the bias (filters,)")
    return f"{len(cases)} layers' count_params()"


def check_separable_params(separable_params: Callable) -> CheckResult:
    """Check ``separable_params(k, c, f, dm)`` against ``SeparableConv2D.count_params()``.

    Args:
        separable_params: The student's function of the window size, input channels, filters
            and depth multiplier.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("the weights of a separable convolution", _params_tests, separable_params)


def _by_hand_tests(separable: Callable) -> str:
    rng = _rng()
    cases = [((1, 5, 5, 2), 3, 1), ((2, 6, 6, 3), 3, 2)]
    for shape, filters, dm in cases:
        layer = SeparableConv2D(filters, 3, depth_multiplier=dm)
        images = rng.standard_normal(shape).astype(np.float32)
        layer(images)   # builds the weights; then random ones, so that a forgotten bias shows
        layer.set_weights([rng.standard_normal(w.shape).astype(np.float32)
                           for w in layer.get_weights()])
        expected = layer(images).numpy()
        weights: list[Any] = [w.copy() for w in layer.get_weights()]
        got = call_answer(separable, images.copy(), *weights, what="separable_by_hand")
        compare_arrays(got, expected, "the output", rtol=1e-4, atol=1e-5,
                       on=f"images of shape {shape}, {filters} filters, depth multiplier {dm}",
                       hint="first the depthwise convolution (each channel with its own dm "
                            "filters), then a matrix product with pointwise_kernel[0, 0] at "
                            "every pixel, then the bias")
    return f"{len(cases)} layers"


def check_separable_by_hand(separable: Callable) -> CheckResult:
    """Check ``separable(images, depthwise_kernel, pointwise_kernel, bias)`` against the layer.

    Args:
        separable: The student's function; computes what ``SeparableConv2D`` (``"valid"``,
            no activation) computes from its three weights.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("a separable convolution by hand", _by_hand_tests, separable)


#: BatchNormalization settings the fold is checked on, with the number of channels
_FOLD_CASES: list[tuple[dict, int]] = [
    ({}, 4), ({"epsilon": 0.1}, 3), ({"center": False}, 5), ({"scale": False}, 3),
    ({"center": False, "scale": False, "epsilon": 1e-5}, 2),
]


def _close(a: Any, b: np.ndarray) -> bool:
    a = np.asarray(getattr(a, "data", a), dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-6))


def _fold_hint(scale: Any, shift: Any, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
               var: np.ndarray, eps: float) -> str:
    """The hint for a wrong fold: which of the usual mistakes ``(scale, shift)`` looks like."""
    g, b, m, v = (np.asarray(a, dtype=np.float64) for a in (gamma, beta, mean, var))
    right_scale = g / np.sqrt(v + eps)
    right_shift = b - m * right_scale
    if _close(scale, right_shift) and _close(shift, right_scale):
        return ("the check reads the answer as `scale, shift = fold_batch_norm(...)`: the "
                "number that multiplies x comes first, then the one that is added")
    if _close(scale, g / np.sqrt(v)):
        return ("the layer adds epsilon to the moving variance before the square root (it keeps "
                "a channel of variance near 0 from dividing by 0); use the epsilon you are given")
    if _close(scale, g / (v + eps)):
        return ("normalising divides by the standard deviation, not by the variance: the square "
                "root of (moving_variance + epsilon)")
    if _close(scale, right_scale):
        return ("expand (x - moving_mean) * scale + beta: the mean is multiplied by the scale "
                "too, and what is left over once x is taken out is the shift")
    return ("write the layer's formula (x - moving_mean) / sqrt(moving_variance + epsilon) * "
            "gamma + beta as x * scale + shift: the scale is everything that multiplies x, the "
            "shift is everything else")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fold_tests(fold_batch_norm: Callable) -> str:
    rng = _rng()
    for kwargs, channels in _FOLD_CASES:
        layer = BatchNormalization(**kwargs)
        x = (rng.standard_normal((2, 3, 3, channels)) * 2.0).astype(np.float32)
        layer(x)   # builds the weights; then random ones, so that every term of the fold shows
        weights = [rng.standard_normal(channels) for _ in range(len(layer.weights) - 2)]
        weights += [rng.standard_normal(channels) * 2.0, rng.uniform(0.05, 2.0, channels)]
        layer.set_weights([w.astype(np.float32) for w in weights])
        gamma = layer.gamma.numpy() if layer.gamma is not None else np.ones(channels, np.float32)
        beta = layer.beta.numpy() if layer.beta is not None else np.zeros(channels, np.float32)
        mean, var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
        eps = layer.epsilon
        settings = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "epsilon")
        on = f"BatchNormalization({settings}) with epsilon={eps:g}, x of shape {x.shape}"
        got = call_answer(fold_batch_norm, gamma.copy(), beta.copy(), mean.copy(), var.copy(),
                          eps, what="fold_batch_norm")
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise CheckFailure(
                f"fold_batch_norm returned {type(got).__name__} {_short(got)} on {on}, "
                "expected a pair (scale, shift)",
                hint="return two arrays of one number per channel: `return scale, shift`")
        scale, shift = got
        if scale is None or shift is None:
            raise CheckFailure(f"fold_batch_norm returned ({_short(scale)}, {_short(shift)}) "
                               f"on {on}", hint="return the values, do not only print them")
        scale, shift = (np.asarray(getattr(a, "data", a)) for a in (scale, shift))
        for name, value in (("scale", scale), ("shift", shift)):
            if value.shape != (channels,):
                raise CheckFailure(
                    f"{name} has shape {value.shape} on {on}, expected ({channels},)",
                    hint="one number per channel: gamma, beta and the moving statistics are "
                         "(channels,) arrays, and so are the scale and the shift")
        hint = _fold_hint(scale, shift, gamma, beta, mean, var, eps)
        compare_arrays(x * scale + shift, layer(x, training=False).numpy(),
                       "x * scale + shift (against the layer's inference output)", on=on,
                       hint=hint, rtol=1e-5, atol=1e-5)
        right_scale, right_shift = inference_scale_shift(gamma, beta, mean, var, eps,
                                                         np.dtype(np.float32))
        compare_arrays(scale, right_scale, "scale", on=on, hint=hint, rtol=1e-5, atol=1e-6)
        compare_arrays(shift, right_shift, "shift", on=on, hint=hint, rtol=1e-5, atol=1e-6)
    return (f"{len(_FOLD_CASES)} BatchNormalization layers, center=False and scale=False "
            "included, epsilon from 1e-5 to 0.1")


def check_fold_batch_norm(fold_batch_norm: Callable) -> CheckResult:
    """Check ``fold_batch_norm(gamma, beta, moving_mean, moving_variance, epsilon)``.

    At inference a ``BatchNormalization`` is ``x * scale + shift`` per channel. The check calls
    the answer on the weights of several layers with random weights (``center=False`` layers
    pass a ``beta`` of zeros, ``scale=False`` layers a ``gamma`` of ones; one has a non-default
    epsilon) and compares ``x * scale + shift`` with the layer's own ``layer(x, training=False)``,
    then ``scale`` and ``shift`` with
    :func:`~minikeras.autograd.ops.fused.inference_scale_shift`.

    Args:
        fold_batch_norm: The student's function of four ``(C,)`` arrays and a float; returns
            ``(scale, shift)``, two ``(C,)`` arrays.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("batch normalisation folded into a scale and a shift", _fold_tests,
                     fold_batch_norm)
