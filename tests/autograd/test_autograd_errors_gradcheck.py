"""gradcheck catches wrong gradients; bad input gives errors that name the op and the values."""

from __future__ import annotations

import numpy as np
import pytest

from minikeras.autograd import (
    Function,
    GradcheckError,
    GradientTape,
    Tensor,
    Variable,
    gradcheck,
    ops,
)

# ---------------------------------------------------------------- gradcheck itself


class WrongSquare(Function):
    """x², with a deliberately wrong backward (3x instead of 2x)."""

    def forward(self, ctx, x):
        ctx.save(x)
        return x * x

    def backward(self, ctx, grad):
        (x,) = ctx.saved
        return (3 * x * grad,)


class WrongOnOneElement(Function):
    """Identity whose gradient is wrong only at flat index 4."""

    def forward(self, ctx, x):
        return x.copy()

    def backward(self, ctx, grad):
        g = grad.copy()
        g.reshape(-1)[4] += 0.5
        return (g,)


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_gradcheck_fails_on_wrong_gradient(mode):
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: WrongSquare.apply(t), [x], mode=mode)
    msg = str(info.value)
    assert "input 0" in msg and "index" in msg and "absolute error" in msg
    assert "analytic" in msg and "numerical" in msg
    assert gradcheck(lambda t: WrongSquare.apply(t), [x], mode=mode,
                     raise_exception=False) is False


def test_gradcheck_names_the_input_and_worst_index():
    a, b = np.ones(3), np.arange(6.0).reshape(2, 3)
    with pytest.raises(GradcheckError, match=r"input 1 .*index \(1, 1\)") as info:
        gradcheck(lambda s, t: s * 0.0 + WrongOnOneElement.apply(t) * 1.0, [a, b],
                  mode="directional")
    assert "relative error" in str(info.value)
    with pytest.raises(GradcheckError, match=r"input 1 .*index \(\d+, 4\)"):
        gradcheck(lambda s, t: (s.sum() + WrongOnOneElement.apply(t)), [a, b], mode="full")


def test_gradcheck_passes_on_correct_gradients_and_checks_arguments():
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert gradcheck(lambda t: ops.tanh(t) * t, [x], mode="full")
    assert gradcheck(lambda t: ops.tanh(t) * t, [x], mode="directional")
    with pytest.raises(ValueError, match="mode must be"):
        gradcheck(ops.tanh, [x], mode="exact")
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: ops.cast(t, np.float32), [x])


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide", "maximum", "power"])
def test_incompatible_shapes_name_op_and_both_shapes(op):
    with pytest.raises(ValueError, match=rf"{op}: .*\(2, 3\) and \(4,\)"):
        getattr(ops, op)(np.ones((2, 3)), Tensor(np.ones(4)))


def test_operator_shape_error_names_the_op():
    with pytest.raises(ValueError, match=r"add: .*\(3,\) and \(2,\)"):
        Tensor(np.ones(3)) + Tensor(np.ones(2))


def test_matmul_and_dot_shape_errors():
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: shapes \(2, 3\) and "
                                         r"\(4, 5\)"):
        ops.matmul(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul: batch dimensions .*\(2, 2, 3\).*\(3, 3, 1\)"):
        ops.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 1)))
    with pytest.raises(ValueError, match=r"dot: shapes \(2, 3\) and \(5, 4, 2\) are not aligned"):
        ops.dot(np.ones((2, 3)), np.ones((5, 4, 2)))


def test_shape_op_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"reshape: .*\(2, 3\) into shape \(4,\)"):
        x.reshape(4)
    with pytest.raises(ValueError, match=r"transpose: axes \(0, 0\).*\(2, 3\)"):
        x.transpose(0, 0)
    with pytest.raises(ValueError, match=r"squeeze: .*axis 1.*\(2, 3\)"):
        x.squeeze(1)
    with pytest.raises(ValueError, match=r"broadcast_to: .*\(2, 3\) to \(3, 3\)"):
        x.broadcast_to((3, 3))
    with pytest.raises(ValueError, match=r"concatenate: .*\[\(2, 3\), \(2, 4\)\]"):
        ops.concatenate([x, np.ones((2, 4))], axis=0)
    with pytest.raises(ValueError, match=r"stack: .*\[\(2, 3\), \(3,\)\]"):
        ops.stack([x, np.ones(3)])
    with pytest.raises(ValueError, match=r"split: axis 1 of length 3 .*2 equal parts"):
        ops.split(x, 2, axis=1)
    with pytest.raises(ValueError, match=r"pad: .*shape \(2, 3\)"):
        ops.pad(x, ((1, 1),) * 3)
    with pytest.raises(ValueError, match=r"sum: axis 2 is out of range .*rank 2"):
        x.sum(axis=2)
    with pytest.raises(ValueError, match=r"softmax: axis 5 is out of range"):
        ops.softmax(x, axis=5)
    with pytest.raises(ValueError, match=r"where: .*\(2,\), \(2, 3\) and \(2, 3\)"):
        ops.where(np.ones(2, bool), x, x)
    with pytest.raises(ValueError, match=r"clip: lo must be <= hi, got lo=2 and hi=1"):
        ops.clip(x, 2, 1)
    with pytest.raises(ValueError, match=r"max: cannot reduce an empty tensor of shape \(0,\)"):
        ops.max(np.ones(0))


def test_indexing_out_of_range_names_shape_and_index():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(IndexError, match=r"getitem: index 5 is invalid for a tensor of shape "
                                         r"\(2, 3\)"):
        x[5]
    with pytest.raises(IndexError, match=r"getitem: index \(slice\(None, None, None\), 3\) .*"
                                         r"\(2, 3\)"):
        x[:, 3]
    with pytest.raises(IndexError, match=r"getitem: .*\(2, 3\)"):
        x[np.array([0, 2])]


def test_gradient_argument_errors():
    x = Tensor(np.ones(2))
    unwatched = Tensor(np.ones(2))
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * 2.0
        other = unwatched * 2.0
    with pytest.raises(ValueError, match=r"target \(shape \(2,\), made by Multiply\) was not "
                                         r"computed on this tape"):
        tape.gradient(other, x)
    with pytest.raises(TypeError, match=r"source 0 of dtype int64 \(shape \(2,\)\)"):
        tape.gradient(y, Tensor(np.array([1, 2])))
    with pytest.raises(TypeError, match="sources must be minikeras Tensors, got ndarray"):
        tape.gradient(y, np.ones(2))
    with pytest.raises(TypeError, match="target must be a minikeras Tensor, got ndarray"):
        tape.gradient(np.ones(2), x)
    with pytest.raises(ValueError, match="got 2 output_gradients for 1 targets"):
        tape.gradient([y], x, output_gradients=[np.ones(2), np.ones(2)])


class BadShapeGrad(Function):
    def forward(self, ctx, x):
        return x * 2

    def backward(self, ctx, grad):
        return (grad[:1],)


class Crashes(Function):
    def forward(self, ctx, x):
        return np.reshape(x, (7, 7))


def test_custom_op_errors_name_the_op():
    x = Variable(np.ones(3))
    with GradientTape() as tape:
        y = BadShapeGrad.apply(x)
    with pytest.raises(ValueError, match=r"BadShapeGrad.backward returned a gradient of shape "
                                         r"\(1,\) for an input of shape \(3,\)"):
        tape.gradient(y, x)
    with pytest.raises(ValueError, match=r"Crashes: .*input shapes: \(3,\)"):
        Crashes.apply(x)
