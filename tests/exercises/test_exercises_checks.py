"""Every check of minikeras.exercises: it passes the right answer, fails a wrong one with a
message that says what is wrong (and a hint), and says "not done yet" for a blank."""

from __future__ import annotations

import os

import exercise_answers as a
import numpy as np
import pytest

from minikeras import exercises as ex

# notebook 11's checks open files with Keras 3 when its backend is chosen: JAX on CPU, as in
# tests/interop (without the interop extra they test what they can without Keras)
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

#: check, right answer, a typical wrong answer, words the failure message must contain
CASES = [
    (ex.check_neuron_loss, a.neuron_loss, a.neuron_loss_on_data, "not a Tensor"),
    (ex.check_neuron_gradients, a.neuron_grads, a.neuron_grads_no_tanh, "dL/d"),
    (ex.check_central_difference, a.numerical_gradient, a.one_sided_gradient,
     "too large for a central difference"),
    (ex.check_central_difference, a.numerical_gradient, a.gradient_that_moves_x,
     "changed its input x"),
    (ex.check_sigmoid_op, a.Sigmoid, a.SigmoidSignError, "disagrees with finite differences"),
    (ex.check_softclip_op, a.Softclip, a.SoftclipChainRuleOnce, "'limit': 0.5"),
    (ex.check_squared_difference_op, a.SquaredDifference, a.SquaredDifferenceSameSign,
     "for input 1"),
    (ex.check_softmax, a.softmax, a.softmax_overflows, "nan or inf on large logits"),
    (ex.check_softmax_cross_entropy_grad, a.ce_grad, a.ce_grad_sum, "times too large"),
    (ex.check_mlp_backward, a.mlp_backward, a.mlp_backward_no_relu, "dL/db1"),
    (ex.check_sgd_momentum_step, a.sgd_momentum_step, a.sgd_momentum_sign_error,
     "p after step 1"),
    (ex.check_rmsprop_step, a.rmsprop_step, a.rmsprop_no_sqrt, "p after step 1"),
    (ex.check_adam_step, a.adam_step, a.adam_no_bias_correction, "p after step 1"),
    (ex.check_max_stable_learning_rate, a.max_stable_lr, a.max_stable_lr_flattest,
     "for curvatures [1.0, 10.0]"),
    (ex.check_layers_in_order, a.layers_in_order, a.layers_in_order_by_layer, "missing ['b']"),
    (ex.check_layers_in_order, a.layers_in_order, a.layers_outputs_first, "which feeds it"),
    (ex.check_inbound_layer_names, a.inbound_layer_names, a.inbound_layer_names_first_call,
     "call 1 of layer 'shared'"),
    (ex.check_siamese_model, a.make_siamese, a.make_siamese_with_a_copy,
     "called 1 time(s)"),
    (ex.check_depthwise_loops, a.depthwise_strided, a.depthwise_ignores_stride, "stride 2"),
    (ex.check_conv2d_loops, a.conv2d_loops, a.conv2d_flipped_kernel, "is wrong at index"),
    (ex.check_depthwise_as_standard, a.depthwise_as_standard,
     a.depthwise_as_standard_wrong_order, "(3, 3, 3, 2)"),
    (ex.check_im2col, a.im2col, a.im2col_channels_first, "im2col(x) @ kernel"),
    (ex.check_conv_output_length, a.output_length, a.output_length_no_dilation,
     "dilated window spans"),
    (ex.check_same_pads, a.same_padding, a.same_padding_odd_before, "expected (before, after)"),
    (ex.check_separable_params, a.separable_params, a.separable_params_no_dm,
     "depth_multiplier=2"),
    (ex.check_separable_by_hand, a.separable_by_hand, a.separable_no_bias, "is wrong at index"),
    # four rows (an even number), so that the rows after them keep their blank test below
    (ex.check_fold_batch_norm, a.fold_batch_norm, a.fold_batch_norm_no_epsilon,
     "x * scale + shift (against the layer's inference output)"),
    (ex.check_fold_batch_norm, a.fold_batch_norm, a.fold_batch_norm_by_the_variance,
     "epsilon=0.001, x of shape (2, 3, 3, 4)"),
    (ex.check_fold_batch_norm, a.fold_batch_norm, a.fold_batch_norm_shift_is_beta,
     "is wrong at index"),
    (ex.check_fold_batch_norm, a.fold_batch_norm, a.fold_batch_norm_swapped,
     "x * scale + shift"),
    (ex.check_train_step, a.train_step, a.train_step_last_layer_only, "after step 1"),
    (ex.check_confusion_matrix, a.confusion_matrix, a.confusion_matrix_buffered,
     "the confusion matrix"),
    (ex.check_per_class_accuracy, a.per_class_accuracy, a.per_class_precision,
     "column sums"),
    (ex.check_scale_layer, a.Scale, a.ScaleOneNumber, "1 parameters, expected 5"),
    (ex.check_clip_layer, a.Clip, a.ClipForgetsSettings, "from_config"),
    (ex.check_linear_use_bias, a.LinearMaybeBias, a.LinearBiasAlways, "use_bias"),
    (ex.check_dual_numbers, a.Dual, a.DualSinWithoutChainRule, "the tangent (.dot)"),
    (ex.check_jvp_rule, a.softclip_jvp, a.softclip_jvp_times_limit,
     "disagrees with finite differences"),
    (ex.check_hvp, a.hvp, a.hvp_gradient_outside_outer_tape, "Hessian-vector product"),
    (ex.check_newton_step, a.newton_step, a.newton_step_is_gradient_descent,
     "one Newton step on a quadratic"),
    (ex.check_keras3_input_config, a.input_config_to_keras3, a.input_config_keeps_both_keys,
     "not in Keras 3's config ['batch_input_shape']"),
    (ex.check_keras3_input_config, a.input_config_to_keras3, a.input_config_in_place,
     "changed the config it was given"),
    (ex.check_onnx_same_pads, a.onnx_same_pads, a.onnx_same_pads_axis_by_axis,
     "ONNX pads [top, left, bottom, right] expected"),
    (ex.check_onnx_same_pads, a.onnx_same_pads, a.onnx_same_pads_odd_first,
     "expected [0, 3, 0, 4], got [0, 4, 0, 3]"),
    (ex.check_save_for_reader, a.save_for, a.save_for_onnx_with_save,
     "ONNX Runtime could not read model_3.onnx, a numpy .npz archive"),
    (ex.check_save_for_reader, a.save_for, a.save_for_keras2_as_keras,
     "reads HDF5 files only, and model_1.keras is a zip archive"),
]
IDS = [f"{check.__name__}-{wrong.__name__}" for check, _, wrong, _ in CASES]


def _blank(*args, **kwargs):
    raise NotImplementedError()


class _BlankMeta(type):
    """A class whose every use raises NotImplementedError, like a student's blank class."""

    def __call__(cls, *args, **kwargs):
        raise NotImplementedError()

    def __getattr__(cls, name):
        raise NotImplementedError()


def _skip_without_its_readers(check):
    """Notebook 11's file check opens files with h5py and ONNX Runtime (the interop extra)."""
    if check is ex.check_save_for_reader:
        for name in ("h5py", "onnx", "onnxruntime"):
            pytest.importorskip(name, reason="install the 'interop' extra")


@pytest.mark.parametrize(("check", "right", "wrong", "words"), CASES, ids=IDS)
def test_the_right_answer_passes(check, right, wrong, words, capsys):
    _skip_without_its_readers(check)
    result = check(right)
    out = capsys.readouterr().out
    assert result.passed, out
    assert out.startswith("[passed] ")


@pytest.mark.parametrize(("check", "right", "wrong", "words"), CASES, ids=IDS)
def test_a_wrong_answer_fails_and_says_why(check, right, wrong, words, capsys):
    _skip_without_its_readers(check)
    result = check(wrong)
    out = capsys.readouterr().out
    assert not result.passed and not result.not_done, out
    assert out.startswith("[not right yet] ")
    assert words in result.message, result.message
    assert result.hint and "hint: " in out
    assert "Traceback" not in out


def _blank_like(right):
    if isinstance(right, type):
        # a class with blank methods: the student notebook's version of it
        methods = {name: _blank for name in ("forward", "backward", "build", "call",
                                             "get_config", "__mul__", "sin")
                   if hasattr(right, name)}
        return type(right.__name__, (right,), methods)
    return _blank


@pytest.mark.parametrize(("check", "right", "wrong", "words"), CASES[::2], ids=IDS[::2])
def test_a_blank_is_not_done_yet(check, right, wrong, words, capsys):
    result = check(_blank_like(right))
    out = capsys.readouterr().out
    assert result.not_done and not result.passed, out
    assert out.startswith("[not done yet] ")


def test_every_check_is_exported_and_tested():
    exported = {name for name in ex.__all__ if name.startswith("check_")}
    tested = {check.__name__ for check, *_ in CASES}
    generic = {"check_op", "check_layer"}   # tested below, with arguments of their own
    assert exported - generic == tested
    assert len(tested) >= 30


@pytest.mark.parametrize(("wrong", "hint"), [
    (a.fold_batch_norm_no_epsilon, "adds epsilon to the moving variance"),
    (a.fold_batch_norm_by_the_variance, "not by the variance"),
    (a.fold_batch_norm_shift_is_beta, "the mean is multiplied by the scale"),
    (a.fold_batch_norm_swapped, "`scale, shift = fold_batch_norm(...)`"),
], ids=lambda value: getattr(value, "__name__", ""))
def test_each_fold_mistake_gets_its_own_hint(wrong, hint, capsys):
    result = ex.check_fold_batch_norm(wrong)
    assert not result.passed and hint in result.hint, result.hint


def test_the_fold_check_covers_layers_without_gamma_or_beta(capsys):
    """A fold that drops beta or gamma passes the default layer's test only: the others catch it."""
    def ignores_a_missing_weight(gamma, beta, moving_mean, moving_variance, epsilon):
        scale = gamma / np.sqrt(moving_variance + epsilon)
        if not beta.any():   # a center=False layer passes zeros: here the fold goes wrong
            return scale, moving_mean * scale
        return a.fold_batch_norm(gamma, beta, moving_mean, moving_variance, epsilon)

    result = ex.check_fold_batch_norm(ignores_a_missing_weight)
    assert not result.passed and "center=False" in result.message, result.message


def test_check_op_takes_any_op_and_reference(capsys):
    cases = [([np.linspace(-2, 2, 5)], {})]
    assert ex.check_op(a.Sigmoid, lambda x: 1 / (1 + np.exp(-x)), cases, name="sig").passed
    result = ex.check_op(a.Sigmoid, np.tanh, cases, name="sig")
    assert not result.passed and "forward result" in result.message


def test_check_layer_runs_layer_test_on_each_setting(capsys):
    cases = [{"kwargs": {"units": 2, "use_bias": b}, "input_shape": (2, 3)} for b in (1, 0)]
    assert ex.check_layer(a.LinearMaybeBias, cases).passed
    wrong = [{"kwargs": {"units": 2}, "input_shape": (2, 3), "expected_num_weights": 5}]
    result = ex.check_layer(a.LinearMaybeBias, wrong)
    assert not result.passed and "layer_test(LinearMaybeBias" in result.message


def test_the_onnx_pads_check_agrees_with_the_exporter():
    """check_onnx_same_pads's reference (the kernels' pads) is what to_onnx writes."""
    from minikeras.exercises.graduation import _onnx_pads, _pads_cases
    from minikeras.export.onnx import _same_pads

    for case in _pads_cases():
        assert _same_pads(*case, layer="conv") == _onnx_pads(*case), case


def test_importing_the_checks_imports_no_optional_library():
    import subprocess
    import sys

    code = ("import sys, minikeras.exercises; heavy = {'keras', 'jax', 'onnx', 'onnxruntime', "
            "'h5py'} & set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
