"""Student mistakes get a one-line error that names the fix (issue 14).

Each test makes the mistake the way a student would and checks the message: one line, naming
the layer/op involved and the fix.
"""

from __future__ import annotations

import numpy as np
import pytest

from minikeras import layers as L
from minikeras.autograd import GradientTape, Tensor, Variable
from minikeras.autograd.function import Function
from minikeras.engine import Layer
from minikeras.models import Model, Sequential, load_model, save_model


def one_line(info: pytest.ExceptionInfo) -> str:
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ---- custom layers ------------------------------------------------------------------------


class WrongMatmul(Layer):
    def call(self, x):
        return x @ np.ones((5, 2), dtype="float32")  # the input has 3 features, not 5


def test_a_call_failing_during_shape_inference_is_reported_at_the_symbolic_call():
    inputs = L.Input((3,))
    with pytest.raises(ValueError) as info:
        WrongMatmul(name="mine")(inputs)
    message = one_line(info)
    assert "Layer mine (WrongMatmul)" in message and "(None, 3)" in message
    assert "inner dimensions" in message  # the real error, not hidden
    assert "compute_output_shape" in message


def test_a_layer_with_compute_output_shape_is_not_dry_run():
    class Declared(WrongMatmul):
        def compute_output_shape(self, input_shape):
            return input_shape[:-1] + (2,)

    out = Declared()(L.Input((5,)))
    assert out.shape == (None, 2)


class WeightInCall(Layer):
    def call(self, x):
        w = Variable(np.ones((3, 2), dtype="float32"))
        return x @ w


def test_a_variable_made_in_call_is_refused_symbolic_and_eager():
    with pytest.raises(ValueError) as info:
        WeightInCall(name="wic")(L.Input((3,)))
    message = one_line(info)
    assert "Layer wic (WeightInCall)" in message
    assert "create weights in build() with self.add_weight" in message.lower()
    with pytest.raises(ValueError, match="add_weight"):
        WeightInCall()(np.ones((2, 3), dtype="float32"))


def test_weights_made_by_add_weight_in_a_lazy_build_are_fine():
    class Lazy(Layer):
        def call(self, x):
            if not hasattr(self, "w"):
                self.w = self.add_weight("w", (3, 2), initializer="ones")
            return x @ self.w

    layer = Lazy()
    out = layer(np.ones((2, 3), dtype="float32"))
    assert out.shape == (2, 2) and len(layer.trainable_weights) == 1
    # a non-trainable Variable (a constant a layer keeps) is not a weight mistake either

    class Frozen(Layer):
        def call(self, x):
            return x * Variable(np.float32(2.0), trainable=False)

    Frozen()(np.ones((2, 3), dtype="float32"))


def test_a_layer_that_forgot_super_init_says_so():
    class NoSuper(Layer):
        def __init__(self, units):
            self.units = units

        def call(self, x):
            return x

    layer = NoSuper(3)
    with pytest.raises(AttributeError) as info:
        layer(L.Input((3,)))
    message = one_line(info)
    assert "NoSuper.__init__ did not run Layer.__init__" in message
    assert "super().__init__(**kwargs)" in message


def test_properties_keep_their_own_attribute_errors():
    with pytest.raises(AttributeError, match="not connected"):
        L.Dense(2).output  # noqa: B018
    with pytest.raises(AttributeError, match="'Dense' object has no attribute 'nope'"):
        L.Dense(2).nope  # noqa: B018


# ---- autograd -----------------------------------------------------------------------------


class BareBackward(Function):
    def forward(self, ctx, x):
        ctx.save(x)
        return x * x

    def backward(self, ctx, grad):
        (x,) = ctx.saved
        return 2 * x * grad  # should be (2 * x * grad,)


def test_a_backward_returning_a_bare_array_is_told_to_return_a_tuple():
    x = Variable(np.ones(3))
    with GradientTape() as tape:
        y = BareBackward.apply(x).sum()
    with pytest.raises(ValueError) as info:
        tape.gradient(y, x)
    message = one_line(info)
    assert "BareBackward.backward returned a bare ndarray (shape (3,)) for 1 inputs" in message
    assert "(grad_x,)" in message


def test_np_sum_on_a_recorded_tensor_names_what_works():
    w = Variable(np.ones(3))
    with GradientTape() as tape:
        with pytest.raises(TypeError) as info:
            np.sum(w * 2.0)
    message = one_line(info)
    assert "np.sum" in message and "tensor.sum(...)" in message and "K.sum" in message
    assert "np.sum(tensor.numpy())" in message
    assert not tape.records[1:]  # nothing recorded beyond the multiply
    with GradientTape(), pytest.raises(TypeError, match=r"tensor.mean\(\.\.\.\)"):
        np.mean(w)


def test_numpy_still_works_on_tensors_where_no_gradient_is_lost():
    t = Tensor(np.arange(3.0))
    assert np.sum(t) == 3.0 and np.asarray(t) is t.data  # no tape open
    np.testing.assert_allclose(np.concatenate([t, t]), np.r_[t.data, t.data])
    w = Variable(np.ones(3))
    with GradientTape():
        assert np.shape(w) == (3,)  # not an op: no gradient to lose
        np.asarray(w)
        np.sum(Tensor(np.ones(2)))  # a tensor no tape watches


def test_variable_reprs_show_values():
    text = repr(Variable(np.array([1.5, -2.0]), name="w"))
    assert text.startswith("Variable([ 1.5 -2. ]") and "name='w'" in text
    assert "trainable=False" in repr(Variable(np.zeros(2), trainable=False))
    x = Variable(np.arange(3.0))
    with GradientTape() as tape:
        y = (x * x).sum()
    grad = tape.gradient(y, x)
    assert "2." in repr(grad) and "4." in repr(grad)  # values, whatever type gradients have


# ---- building models ----------------------------------------------------------------------


def test_model_on_numpy_arrays_shows_type_and_shape_not_the_data():
    data = np.zeros((100, 3))
    with pytest.raises(TypeError) as info:
        Model(data, data)
    message = one_line(info)
    assert "numpy ndarray of shape (100, 3)" in message and "Input(shape=" in message
    assert len(message) < 300


@pytest.mark.parametrize(("make", "expression", "fix"), [
    (lambda h: h * 2, "* 2", "Lambda(lambda t: t * 2)"),
    (lambda h: 2 * h, "2 *", "Lambda(lambda t: 2 * t)"),
    (lambda h: h + h, "+", "Add()([a, b])"),
    (lambda h: h - h, "-", "Subtract()([a, b])"),
    (lambda h: h[:, 0], "[(slice(None, None, None), 0)]", "Lambda(lambda t: t["),
    (lambda h: np.float32(2) * h, "*", "Lambda"),
])
def test_arithmetic_on_a_symbolic_tensor_points_to_lambda_and_merge_layers(make, expression,
                                                                         fix):
    h = L.Dense(4, name="hidden")(L.Input((3,)))
    with pytest.raises(TypeError) as info:
        make(h)
    message = one_line(info)
    assert "hidden/output:0" in message and expression in message and fix in message


# ---- training -----------------------------------------------------------------------------


def test_channels_first_images_for_a_channels_last_model_are_named():
    model = Sequential([L.Conv2D(4, 3, input_shape=(8, 8, 1)), L.Flatten(), L.Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError) as info:
        model.fit(np.zeros((10, 1, 8, 8)), np.zeros((10, 2)), verbose=0)
    message = one_line(info)
    assert "looks channels-first" in message and "x.transpose(0, 2, 3, 1)" in message
    # a plain shape mistake gets no such hint
    with pytest.raises(ValueError) as info:
        model.fit(np.zeros((10, 7, 8, 1)), np.zeros((10, 2)), verbose=0)
    assert "channels" not in str(info.value)


def test_dense_on_3d_input_with_a_sparse_loss_blames_the_model_not_the_labels():
    model = Sequential([L.Dense(4, input_shape=(5, 3)), L.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError) as info:
        model.fit(np.zeros((10, 5, 3)), np.zeros((10,)), verbose=0)
    message = one_line(info)
    assert "output is 3-D" in message and "Flatten()" in message
    with pytest.raises(ValueError, match="output is 3-D"):  # labels as a column, too
        model.fit(np.zeros((10, 5, 3)), np.zeros((10, 1)), verbose=0)


def test_load_model_with_safe_mode_false_loads_lambda_bytecode(tmp_path):
    inputs = L.Input((2,))
    model = Model(inputs, L.Lambda(lambda t: t * 3.0)(inputs))
    path = tmp_path / "lambda_model.npz"
    save_model(model, path)
    with pytest.raises(ValueError, match=r"load_model\(path, safe_mode=False\)"):
        load_model(path)
    again = load_model(path, safe_mode=False)
    x = np.array([[1.0, 2.0]], dtype="float32")
    np.testing.assert_allclose(again(x).data, x * 3)
    with pytest.raises(ValueError, match="bytecode"):  # the switch does not stay on
        load_model(path)
