"""Checks for the course's exercises, for the notebooks and for teachers' own.

Each ``check_...`` function runs real tests on a student's answer (a function, an op, a layer
class, a model), prints a verdict in plain words and returns a :class:`CheckResult`:

* passed, with what was tested;
* not done yet, when the answer still raises ``NotImplementedError`` (the blank that the
  student notebooks have where the solution notebooks have the solution);
* not right yet: what is wrong, on which input, expected against got, and one hint.

Example:
    >>> from minikeras.exercises import check_softmax
    >>> result = check_softmax(my_softmax)          # prints the verdict
    >>> result.passed, result.not_done               # what a grader counts

The checks reuse what the library already trusts: ``gradcheck``, the kernels' numpy twins,
``layer_test``, the optimizers themselves and a model's own layer order. One module per topic;
:mod:`minikeras.exercises.core` has the pieces to write new checks. Nothing in the library
imports this package.
"""

from minikeras.exercises.autodiff import (
    check_dual_numbers,
    check_hvp,
    check_jvp_rule,
    check_newton_step,
)
from minikeras.exercises.convolutions import (
    check_conv2d_loops,
    check_conv_output_length,
    check_depthwise_as_standard,
    check_depthwise_loops,
    check_fold_batch_norm,
    check_im2col,
    check_same_pads,
    check_separable_by_hand,
    check_separable_params,
)
from minikeras.exercises.core import CheckFailure, CheckResult, run_check
from minikeras.exercises.graduation import (
    check_keras3_input_config,
    check_onnx_same_pads,
    check_save_for_reader,
)
from minikeras.exercises.graphs import (
    check_inbound_layer_names,
    check_layers_in_order,
    check_siamese_model,
)
from minikeras.exercises.layers import (
    check_clip_layer,
    check_layer,
    check_linear_use_bias,
    check_scale_layer,
)
from minikeras.exercises.mlp import (
    check_mlp_backward,
    check_softmax,
    check_softmax_cross_entropy_grad,
    mlp_cache,
)
from minikeras.exercises.ops import (
    check_op,
    check_sigmoid_op,
    check_softclip_op,
    check_squared_difference_op,
)
from minikeras.exercises.optimisers import (
    check_adam_step,
    check_max_stable_learning_rate,
    check_rmsprop_step,
    check_sgd_momentum_step,
)
from minikeras.exercises.tape import (
    check_central_difference,
    check_neuron_gradients,
    check_neuron_loss,
)
from minikeras.exercises.training import (
    check_confusion_matrix,
    check_per_class_accuracy,
    check_train_step,
)

__all__ = [
    "CheckFailure", "CheckResult", "check_adam_step", "check_central_difference",
    "check_clip_layer", "check_confusion_matrix", "check_conv2d_loops", "check_conv_output_length",
    "check_depthwise_as_standard", "check_depthwise_loops", "check_dual_numbers",
    "check_fold_batch_norm", "check_hvp", "check_im2col", "check_inbound_layer_names",
    "check_jvp_rule", "check_keras3_input_config",
    "check_layer", "check_layers_in_order", "check_linear_use_bias",
    "check_max_stable_learning_rate", "check_mlp_backward", "check_neuron_gradients",
    "check_neuron_loss", "check_newton_step", "check_onnx_same_pads", "check_op",
    "check_per_class_accuracy", "check_rmsprop_step", "check_same_pads", "check_save_for_reader",
    "check_scale_layer", "check_separable_by_hand", "check_separable_params",
    "check_sgd_momentum_step", "check_siamese_model", "check_sigmoid_op", "check_softclip_op",
    "check_softmax", "check_softmax_cross_entropy_grad", "check_squared_difference_op",
    "check_train_step", "mlp_cache", "run_check",
]
