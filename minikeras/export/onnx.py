"""Write a minikeras model as an ONNX graph, in inference form (Dropout off, BN moving stats).

The model's inputs stay as they are (``channels_last`` images stay NHWC); each
convolution or pooling on ``channels_last`` data is wrapped in a pair of
``Transpose`` nodes (NHWC to NCHW and back), which ONNX Runtime's optimizer
cancels between consecutive layers. Keras's (TensorFlow's) ``padding='same'``
puts the odd pixel of padding at the end; it is written as explicit ``pads``
computed from the layer's input size. ``SeparableConv2D`` becomes a grouped
(depthwise) ``Conv`` followed by a 1x1 ``Conv`` carrying the bias.

Layers that hold Python code (``Lambda``) or that this module does not know
raise ``ValueError`` naming the layer.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from minikeras.engine.topology import Container
from minikeras.engine.weights_h5 import atomic_write
from minikeras.generic_utils import json_default, optional_module

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


class _Graph:
    """Accumulates ONNX nodes and constant initializers with unique names."""

    def __init__(self, helper: Any, numpy_helper: Any, opset: int) -> None:
        self.helper, self.numpy_helper, self.opset = helper, numpy_helper, opset
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}__{self._count}"

    def const(self, hint: str, value: np.ndarray) -> str:
        name = self.name(hint)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = self.name(hint)
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def reduce(self, op_type: str, x: str, axes: list[int], hint: str) -> str:
        # ReduceMean/ReduceMax took `axes` as an attribute until opset 18, as an input since
        if self.opset >= 18:
            return self.op(op_type, [x, self.const(hint + "_axes", np.array(axes, np.int64))],
                           hint, keepdims=0)
        return self.op(op_type, [x], hint, axes=axes, keepdims=0)


def _activation(g: _Graph, x: str, name: Any, layer: str) -> str:
    hint = f"{layer}_act"
    if name in (None, "linear"):
        return x
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus",
              "softsign": "Softsign"}
    if name in simple:
        return g.op(simple[name], [x], hint)
    if name == "softmax":
        return g.op("Softmax", [x], hint, axis=-1)
    if name == "elu":
        return g.op("Elu", [x], hint, alpha=1.0)
    if name == "selu":
        return g.op("Selu", [x], hint, alpha=_SELU_ALPHA, gamma=_SELU_SCALE)
    if name == "hard_sigmoid":  # Keras 2's clip(0.2 x + 0.5, 0, 1), which ONNX has as is
        return g.op("HardSigmoid", [x], hint, alpha=0.2, beta=0.5)
    if name == "relu6":
        return g.op("Clip", [x, g.const(hint + "_lo", np.float32(0)),
                             g.const(hint + "_hi", np.float32(6))], hint)
    if name == "swish":
        return g.op("Mul", [x, g.op("Sigmoid", [x], hint + "_sig")], hint)
    raise ValueError(f"to_onnx: layer {layer!r}: activation {name!r} has no ONNX mapping")


def _act(layer: Any) -> Any:
    return layer.get_config().get("activation")


def _same_pads(shape: tuple, kernel: tuple, strides: tuple, dilation: tuple,
               layer: str) -> list[int]:
    """TensorFlow's 'same' padding as ONNX pads ``[top, left, bottom, right]``."""
    begin, end = [], []
    for size, k, s, d in zip(shape, kernel, strides, dilation):
        if size is None:
            raise ValueError(f"to_onnx: layer {layer!r}: 'same' padding needs a known input "
                             f"size, got spatial shape {shape}")
        effective = (k - 1) * d + 1
        total = max((math.ceil(size / s) - 1) * s + effective - size, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin + end


class _Exporter:
    def __init__(self, g: _Graph) -> None:
        self.g = g

    # ---- layers ---------------------------------------------------------------------------
    def _spatial(self, layer: Any, shape: tuple) -> tuple:
        return shape[1:3] if layer.data_format == "channels_last" else shape[2:4]

    def _nchw(self, layer: Any, x: str, inner: Any) -> str:
        """Run ``inner(x_nchw)`` on NCHW data, transposing a channels_last tensor around it."""
        if layer.data_format == "channels_last":
            x = self.g.op("Transpose", [x], f"{layer.name}_nchw", perm=_TO_NCHW)
            return self.g.op("Transpose", [inner(x)], f"{layer.name}_nhwc", perm=_TO_NHWC)
        return inner(x)

    def _pads(self, layer: Any, shape: tuple, kernel: tuple, dilation: tuple) -> list[int]:
        if layer.padding == "valid":
            return [0, 0, 0, 0]
        return _same_pads(self._spatial(layer, shape), kernel, layer.strides, dilation,
                          layer.name)

    def conv(self, layer: Any, x: str, shape: tuple) -> str:
        g, name = self.g, layer.name
        kind = type(layer).__name__
        pads = self._pads(layer, shape, layer.kernel_size, layer.dilation_rate)
        common = {"strides": list(layer.strides), "dilations": list(layer.dilation_rate)}
        bias = [g.const(f"{name}_bias", layer.bias.data)] if layer.use_bias else []

        def inner(xc: str) -> str:
            if kind in ("Conv2D", "Convolution2D"):
                w = g.const(f"{name}_kernel", np.transpose(layer.kernel.data, (3, 2, 0, 1)))
                return g.op("Conv", [xc, w, *bias], name, pads=pads, **common)
            dk = layer.depthwise_kernel.data  # (kh, kw, in, multiplier)
            kh, kw, channels, mult = dk.shape
            # output channel c*mult + m is input channel c times dk[..., c, m]
            w = np.transpose(dk.reshape(kh, kw, channels * mult), (2, 0, 1))[:, None]
            wd = g.const(f"{name}_depthwise", w)
            if kind == "DepthwiseConv2D":
                return g.op("Conv", [xc, wd, *bias], name, pads=pads, group=channels, **common)
            y = g.op("Conv", [xc, wd], f"{name}_dw", pads=pads, group=channels, **common)
            pw = g.const(f"{name}_pointwise",
                         np.transpose(layer.pointwise_kernel.data, (3, 2, 0, 1)))
            return g.op("Conv", [y, pw, *bias], name)

        return _activation(g, self._nchw(layer, x, inner), _act(layer), name)

    def pool(self, layer: Any, x: str, shape: tuple) -> str:
        op = "MaxPool" if "Max" in type(layer).__name__ else "AveragePool"
        pads = self._pads(layer, shape, layer.pool_size, (1, 1))
        # count_include_pad=0 (the default): TF averages over the real pixels only
        return self._nchw(layer, x, lambda xc: self.g.op(
            op, [xc], layer.name, kernel_shape=list(layer.pool_size),
            strides=list(layer.strides), pads=pads))

    def batchnorm(self, layer: Any, x: str, shape: tuple) -> str:
        g, name, rank = self.g, layer.name, len(shape)
        axis = layer.axis % rank
        dim = shape[axis]
        gamma = layer.gamma.data if layer.scale else np.ones(dim, np.float32)
        beta = layer.beta.data if layer.center else np.zeros(dim, np.float32)
        ins = [g.const(f"{name}_{k}", v) for k, v in (
            ("gamma", gamma), ("beta", beta), ("mean", layer.moving_mean.data),
            ("var", layer.moving_variance.data))]
        if axis == 1:
            return g.op("BatchNormalization", [x, *ins], name, epsilon=float(layer.epsilon))
        perm = [0, axis] + [i for i in range(1, rank) if i != axis]
        back = [int(i) for i in np.argsort(perm)]
        xt = g.op("Transpose", [x], f"{name}_in", perm=perm)
        y = g.op("BatchNormalization", [xt, *ins], f"{name}_bn", epsilon=float(layer.epsilon))
        return g.op("Transpose", [y], name, perm=back)

    def layer(self, layer: Any, xs: list[str], shapes: list[tuple]) -> str:
        g, name, kind = self.g, layer.name, type(layer).__name__
        x, shape = xs[0], shapes[0]
        if kind == "Dense":
            y = g.op("MatMul", [x, g.const(f"{name}_kernel", layer.kernel.data)], f"{name}_mm")
            if layer.use_bias:
                y = g.op("Add", [y, g.const(f"{name}_bias", layer.bias.data)], name)
            return _activation(g, y, _act(layer), name)
        if kind in ("Conv2D", "Convolution2D", "DepthwiseConv2D", "SeparableConv2D",
                    "SeparableConvolution2D"):
            return self.conv(layer, x, shape)
        if kind in ("MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D"):
            return self.pool(layer, x, shape)
        if kind in ("GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPooling2D",
                    "GlobalMaxPool2D"):
            op = "ReduceMax" if "Max" in kind else "ReduceMean"
            axes = [1, 2] if layer.data_format == "channels_last" else [2, 3]
            return g.reduce(op, x, axes, name)
        if kind == "BatchNormalization":
            return self.batchnorm(layer, x, shape)
        if kind == "Activation":
            return _activation(g, x, _act(layer), name)
        if kind == "Dropout":
            return g.op("Identity", [x], name)
        if kind == "Flatten":
            if layer.data_format == "channels_first" and len(shape) > 2:
                x = g.op("Transpose", [x], f"{name}_cl",
                         perm=[0, *range(2, len(shape)), 1])
            return g.op("Flatten", [x], name, axis=1)
        if kind == "Reshape":
            target = np.array([0, *layer.target_shape], np.int64)  # 0 keeps the batch size
            return g.op("Reshape", [x, g.const(f"{name}_shape", target)], name)
        if kind == "Permute":
            return g.op("Transpose", [x], name, perm=[0, *layer.dims])
        if kind == "ZeroPadding2D":
            (top, bottom), (left, right) = layer.padding
            if layer.data_format == "channels_last":
                pads = [0, top, left, 0, 0, bottom, right, 0]
            else:
                pads = [0, 0, top, left, 0, 0, bottom, right]
            return g.op("Pad", [x, g.const(f"{name}_pads", np.array(pads, np.int64))], name)
        if kind in ("Add", "Multiply", "Maximum", "Minimum", "Subtract", "Average"):
            # pairwise, left to right, as minikeras computes (same rounding as an n-ary Sum)
            op = {"Add": "Add", "Average": "Add", "Multiply": "Mul", "Maximum": "Max",
                  "Minimum": "Min", "Subtract": "Sub"}[kind]
            y = xs[0]
            for i, other in enumerate(xs[1:]):
                y = g.op(op, [y, other], f"{name}_{i}")
            if kind == "Average":
                y = g.op("Mul", [y, g.const(f"{name}_inv", np.float32(1.0 / len(xs)))], name)
            return y
        if kind == "Concatenate":
            return g.op("Concat", xs, name, axis=int(layer.axis))
        if kind == "Lambda":
            raise ValueError(f"to_onnx: layer {name!r} is a Lambda (Python code), which ONNX "
                             "cannot express; rewrite it as a layer")
        raise ValueError(f"to_onnx: layer {name!r} of class {kind!r} has no ONNX mapping")

    # ---- graph ----------------------------------------------------------------------------
    def model(self, model: Any, inputs: list[str], shapes: list[tuple]) -> tuple[list, list]:
        """Emit ``model`` on ``inputs``; return its output names and shapes."""
        config = json.loads(json.dumps(model.get_config(), default=json_default))
        if "input_layers" not in config:  # a Sequential: one chain after its input
            x, shape = inputs[0], shapes[0]
            for layer in model.layers:
                x, shape = self.call(layer, [x], [shape])
            return [x], [shape]
        tensors: dict[tuple, tuple[str, tuple]] = {}
        for (name, node, index), x, shape in zip(config["input_layers"], inputs, shapes):
            tensors[(name, node, index)] = (x, shape)
        pending = [(item["name"], k, node) for item in config["layers"]
                   for k, node in enumerate(item["inbound_nodes"])]
        offset = {item["name"]: 1 if item["class_name"] in ("Model", "Sequential") else 0
                  for item in config["layers"]}
        while pending:
            progressed = False
            for entry in list(pending):
                name, k, node = entry
                refs = [tuple(ref[:3]) for ref in node]
                if not all(ref in tensors for ref in refs):
                    continue
                xs, ss = zip(*(tensors[ref] for ref in refs))
                out, shape = self.call(model.get_layer(name), list(xs), list(ss))
                # config node indices of a nested model count its own node as node 0
                tensors[(name, k + offset[name], 0)] = (out, shape)
                pending.remove(entry)
                progressed = True
            if not progressed:
                raise ValueError(f"to_onnx: model {model.name!r}: cannot order the nodes of "
                                 f"{[p[0] for p in pending]}")
        outs = [tensors[tuple(ref)] for ref in config["output_layers"]]
        return [o[0] for o in outs], [o[1] for o in outs]

    def call(self, layer: Any, xs: list[str], shapes: list[tuple]) -> tuple[str, tuple]:
        if isinstance(layer, Container):
            outs, out_shapes = self.model(layer, xs, shapes)
            if len(outs) != 1:
                raise ValueError(f"to_onnx: nested model {layer.name!r} has {len(outs)} "
                                 "outputs; only single-output nested models are mapped")
            return outs[0], out_shapes[0]
        out = self.layer(layer, xs, shapes)
        shape = layer.compute_output_shape(shapes if len(shapes) > 1 else shapes[0])
        return out, tuple(shape)


def to_onnx(model: Any, filepath: str | os.PathLike, opset: int = 17) -> Any:
    """Write ``model`` as an ONNX file that ONNX Runtime runs with the same outputs.

    Args:
        model: A built minikeras ``Model`` or ``Sequential``.
        filepath: Target path (``.onnx``); written atomically.
        opset: ONNX operator set, 13 to 21.

    Returns:
        The ``onnx.ModelProto`` that was written (already checked by ``onnx.checker``).

    Raises:
        ImportError: If ``onnx`` is not installed.
        ValueError: If a layer has no ONNX mapping (named), or ``opset`` is out of range.
    """
    # optional dependency (minikeras[interop]): only the ONNX export needs it
    onnx = optional_module("onnx", "to_onnx", "minikeras[interop]")
    if not 13 <= int(opset) <= 21:
        raise ValueError(f"to_onnx: opset must be between 13 and 21, got {opset!r}")
    if not getattr(model, "inputs", None):
        raise ValueError(f"to_onnx: model {model.name!r} has no inputs yet; build it first")
    helper = onnx.helper
    g = _Graph(helper, onnx.numpy_helper, int(opset))
    names, shapes, graph_inputs = [], [], []
    for i, tensor in enumerate(model.inputs):
        layer = tensor._keras_history[0]
        name = layer.name if layer is not None else f"input_{i}"
        shape = tuple(tensor.shape)
        dims = ["N" if d is None and j == 0 else d for j, d in enumerate(shape)]
        graph_inputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims))
        names.append(name)
        shapes.append(shape)
    outs, out_shapes = _Exporter(g).model(model, names, shapes)
    graph_outputs = []
    for i, (out, shape) in enumerate(zip(outs, out_shapes)):
        final = f"output_{i}"
        g.nodes.append(helper.make_node("Identity", [out], [final], name=final))
        dims = ["N" if d is None and j == 0 else d for j, d in enumerate(shape)]
        graph_outputs.append(helper.make_tensor_value_info(final, onnx.TensorProto.FLOAT, dims))
    graph = helper.make_graph(g.nodes, model.name, graph_inputs, graph_outputs,
                              initializer=g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", int(opset))],
                              producer_name="minikeras")
    # the IR version that introduced this opset, so older runtimes accept the file
    proto.ir_version = min(proto.ir_version, 8 if opset <= 18 else 9 if opset <= 20 else 10)
    onnx.checker.check_model(proto, full_check=True)
    atomic_write(filepath, lambda tmp: onnx.save(proto, tmp))
    return proto
