"""ONNX export: every model of the set, checked by onnx.checker and run by onnxruntime."""

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from interop_models import BUILDERS, as_list, assert_same

from minikeras import layers as L
from minikeras.export import to_onnx
from minikeras.models import Model, Sequential


def run(path, model, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == [t._keras_history[0].name for t in model.inputs]
    return session.run(None, dict(zip(names, as_list(x))))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_onnx_matches_predict(zoo, tmp_path, name):
    model, x, want = zoo[name]
    path = tmp_path / f"{name}.onnx"
    to_onnx(model, str(path))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert_same(run(path, model, x), want)


@pytest.mark.parametrize("opset", [13, 21])
def test_opset_range(zoo, tmp_path, opset):
    model, x, want = zoo["conv_cl"]
    path = tmp_path / "m.onnx"
    proto = to_onnx(model, str(path), opset=opset)
    assert proto.opset_import[0].version == opset
    assert_same(run(path, model, x), want)


def test_inputs_stay_channels_last_and_same_padding_is_explicit(zoo, tmp_path):
    model = zoo["conv_cl"][0]
    proto = to_onnx(model, str(tmp_path / "m.onnx"))
    dims = [d.dim_value or d.dim_param for d in
            proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 9, 9, 3]
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    pads = {n.name.split("__")[0]: list(next((a.ints for a in n.attribute if a.name == "pads"), []))
            for n in convs}
    # 9x9 input, 3x3 kernel, stride 2, 'same': TensorFlow pads 1 before and 1 after
    assert pads["conv2d"] == [1, 1, 1, 1]
    # 2x2 kernel, stride 1, 'same': the odd pixel goes after (TensorFlow), not before
    assert pads["depthwise_conv2d"] == [0, 0, 1, 1]
    # SeparableConv2D: a grouped Conv then a 1x1 Conv
    groups = {n.name.split("__")[0]: next((a.i for a in n.attribute if a.name == "group"), 1)
              for n in convs}
    assert groups["separable_conv2d_dw"] == 4 and groups["separable_conv2d"] == 1


def test_unmappable_layers_are_refused_by_name(tmp_path):
    x = L.Input((3,))
    lam = Model(x, L.Lambda(lambda t: t * 2, name="double")(x))
    with pytest.raises(ValueError, match="'double'.*Lambda"):
        to_onnx(lam, str(tmp_path / "m.onnx"))
    unbuilt = Sequential([L.Dense(2)])
    with pytest.raises(ValueError, match="no inputs"):
        to_onnx(unbuilt, str(tmp_path / "m.onnx"))
    assert os.listdir(tmp_path) == []


def test_hard_sigmoid_is_keras2s(tmp_path):
    # clip(0.2 x + 0.5, 0, 1): ONNX's HardSigmoid with alpha 0.2, beta 0.5 (not Keras 3's)
    model = Sequential([L.Activation("hard_sigmoid", input_shape=(5,))])
    path = tmp_path / "hs.onnx"
    to_onnx(model, str(path))
    x = np.array([[-4, -1, 0, 1.5, 4]], "float32")
    want = np.clip(0.2 * x + 0.5, 0, 1)
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-6)
    np.testing.assert_allclose(run(path, model, x)[0], want, rtol=1e-6)


def test_batchnorm_is_the_inference_form(tmp_path):
    model = Sequential([L.BatchNormalization(input_shape=(4,), name="bn")])
    bn = model.get_layer("bn")
    bn.moving_mean.assign(np.array([1, 2, 3, 4], "float32"))
    bn.moving_variance.assign(np.array([4, 1, 0.25, 9], "float32"))
    path = tmp_path / "bn.onnx"
    to_onnx(model, str(path))
    x = np.ones((2, 4), "float32")
    expected = (x - [1, 2, 3, 4]) / np.sqrt(np.array([4, 1, 0.25, 9]) + bn.epsilon)
    np.testing.assert_allclose(run(path, model, x)[0], expected, rtol=1e-5, atol=1e-6)
