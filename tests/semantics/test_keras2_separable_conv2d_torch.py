"""SeparableConv2D numbers (outputs and gradients) against PyTorch.

PyTorch computes the depthwise step as a grouped convolution (``groups=in``,
output channel ``c * depth_multiplier + m``, the same order as Keras) and the
pointwise step as a 1x1 convolution; 'same' padding is TensorFlow's (the odd
pixel after), applied with ``F.pad``.
"""

import numpy as np
import pytest

from minikeras import layers as L
from minikeras.autograd import GradientTape, Tensor

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_separable(x_nhwc, dw, pw, bias, strides, padding, dilation):
    x = x_nhwc.permute(0, 3, 1, 2)
    kh, kw, cin, dm = dw.shape
    if padding == "same":
        pads = []
        for length, k, s, d in zip(x.shape[2:], (kh, kw), strides, dilation):
            k_dil = k + (k - 1) * (d - 1)
            out = -(-length // s)
            total = max((out - 1) * s + k_dil - length, 0)
            pads.append((total // 2, total - total // 2))
        x = F.pad(x, (*pads[1], *pads[0]))
    depthwise = dw.permute(2, 3, 0, 1).reshape(cin * dm, 1, kh, kw)
    mid = F.conv2d(x, depthwise, stride=strides, dilation=dilation, groups=cin)
    out = F.conv2d(mid, pw.permute(3, 2, 0, 1), bias=bias)
    return out.permute(0, 2, 3, 1)


CASES = [
    ("valid", (1, 1), 1, (1, 1)), ("same", (1, 1), 2, (1, 1)), ("valid", (2, 2), 2, (1, 1)),
    ("same", (2, 2), 1, (1, 1)), ("same", (2, 1), 3, (1, 1)), ("valid", (1, 1), 1, (2, 2)),
    ("same", (1, 1), 2, (2, 1)),
]


@pytest.mark.parametrize("padding, strides, dm, dilation", CASES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_forward_and_gradients_match_pytorch(padding, strides, dm, dilation, data_format):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 7, 6, 3))
    layer = L.SeparableConv2D(5, (3, 2), strides=strides, padding=padding, depth_multiplier=dm,
                              dilation_rate=dilation, data_format=data_format, dtype="float64",
                              bias_initializer="random_normal")
    x_in = Tensor(x if data_format == "channels_last" else x.transpose(0, 3, 1, 2))
    with GradientTape() as tape:
        tape.watch(x_in)
        y = layer(x_in)
        loss = (y * y).sum()
    grads = tape.gradient(loss, [x_in, *layer.weights])

    tx = torch.tensor(x, requires_grad=True)
    tw = [torch.tensor(w, requires_grad=True) for w in layer.get_weights()]
    ty = torch_separable(tx, *tw, strides, padding, dilation)
    (ty * ty).sum().backward()

    y_np = y.numpy() if data_format == "channels_last" else y.numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(y_np, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    gx = np.asarray(grads[0])  # tape gradients are numpy arrays
    gx = gx if data_format == "channels_last" else gx.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-9, atol=1e-9)
    for ours, theirs in zip(grads[1:], tw):
        np.testing.assert_allclose(np.asarray(ours), theirs.grad.numpy(), rtol=1e-9, atol=1e-9)


def test_float32_forward_matches_pytorch():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 9, 8, 6)).astype("float32")
    layer = L.SeparableConv2D(7, 3, strides=2, padding="same", depth_multiplier=2,
                              activation="relu")
    y = layer(x).numpy()
    tw = [torch.tensor(w) for w in layer.get_weights()]
    expected = torch.relu(torch_separable(torch.tensor(x), *tw, (2, 2), "same", (1, 1)))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected.numpy(), rtol=1e-5, atol=1e-5)
