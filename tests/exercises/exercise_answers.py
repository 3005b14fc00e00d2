"""Right and wrong answers to the course's exercises, for the checks' tests.

Each wrong answer is a mistake students make (a sign error, a forgotten mean, a transposed
matrix, one-sided differences, a layer-based walk that misses a shared layer's second call).
"""

from __future__ import annotations

import numpy as np

from minikeras import GradientTape, Input, Model
from minikeras import backend as K
from minikeras.activations import get as get_activation
from minikeras.activations import serialize as serialize_activation
from minikeras.autograd import Function, grad, hessian
from minikeras.engine import Layer
from minikeras.kernels import conv_output_length, same_pads
from minikeras.layers import Dense, subtract
from minikeras.losses import sparse_categorical_crossentropy


# ---- notebook 1
def neuron_loss(w, b, x, t):
    return (((w * x).sum() + b).tanh() - t) ** 2


def neuron_loss_on_data(w, b, x, t):   # computes with numpy: the tape sees nothing
    return float((np.tanh(np.sum(w.data * x.data) + b.data) - t) ** 2)


def neuron_grads(w, b, x, t):
    y = np.tanh(np.sum(w * x) + b)
    grad_s = 2 * (y - t) * (1 - y ** 2)
    return grad_s * x, grad_s


def neuron_grads_no_tanh(w, b, x, t):   # forgets the Tanh step
    y = np.tanh(np.sum(w * x) + b)
    grad_s = 2 * (y - t)
    return grad_s * x, grad_s


def numerical_gradient(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    flat, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        flat_grad[i] = (up - down) / (2 * eps)
    return grad


def one_sided_gradient(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    flat, flat_grad = x.reshape(-1), grad.reshape(-1)
    f0 = f(x)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        flat_grad[i] = (f(x) - f0) / eps
        flat[i] = old
    return grad


def gradient_that_moves_x(f, x, eps=1e-6):
    flat = x.reshape(-1)
    grad = np.zeros_like(x)
    for i in range(flat.size):
        flat[i] += eps
        up = f(x)
        flat[i] -= 2 * eps
        grad.reshape(-1)[i] = (up - f(x)) / (2 * eps)   # never moves it back
    return grad


# ---- notebook 2
class Sigmoid(Function):
    def forward(self, ctx, x):
        y = 1.0 / (1.0 + np.exp(-x))
        ctx.save(y)
        return y

    def backward(self, ctx, grad):
        (y,) = ctx.saved
        return (grad * y * (1.0 - y),)


class SigmoidSignError(Sigmoid):
    def backward(self, ctx, grad):
        (y,) = ctx.saved
        return (grad * y * (y - 1.0),)


class Softclip(Function):
    def forward(self, ctx, x, limit=1.0):
        th = np.tanh(x / limit)
        ctx.save(th)
        return limit * th

    def backward(self, ctx, grad):
        (th,) = ctx.saved
        return (grad * (1.0 - th * th),)


class SoftclipChainRuleOnce(Softclip):   # divides by the limit twice: right only at limit 1
    def forward(self, ctx, x, limit=1.0):
        ctx.limit = limit
        return super().forward(ctx, x, limit)

    def backward(self, ctx, grad):
        (th,) = ctx.saved
        return (grad * (1.0 - th * th) / ctx.limit,)


class SquaredDifference(Function):
    def forward(self, ctx, a, b):
        diff = a - b
        ctx.save(diff)
        return diff * diff

    def backward(self, ctx, grad):
        (diff,) = ctx.saved
        return (2.0 * diff * grad, -2.0 * diff * grad)


class SquaredDifferenceSameSign(SquaredDifference):
    def backward(self, ctx, grad):
        (diff,) = ctx.saved
        return (2.0 * diff * grad, 2.0 * diff * grad)


# ---- notebook 3
def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_overflows(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def ce_grad(logits, labels):
    grad = softmax(logits)
    grad[np.arange(len(labels)), labels] -= 1.0
    return grad / len(labels)


def ce_grad_sum(logits, labels):   # forgets that the loss is a mean
    return ce_grad(logits, labels) * len(labels)


def mlp_backward(params, cache, grad_logits):
    x, z1, h = cache
    grad_h = grad_logits @ params["W2"].T
    grad_z1 = grad_h * (z1 > 0)
    return {"W1": x.T @ grad_z1, "b1": grad_z1.sum(axis=0), "W2": h.T @ grad_logits,
            "b2": grad_logits.sum(axis=0)}


def mlp_backward_no_relu(params, cache, grad_logits):   # ignores the ReLU's mask
    x, z1, h = cache
    grad_z1 = grad_logits @ params["W2"].T
    return {"W1": x.T @ grad_z1, "b1": grad_z1.sum(axis=0), "W2": h.T @ grad_logits,
            "b2": grad_logits.sum(axis=0)}


# ---- notebook 4
def sgd_momentum_step(p, g, v, lr, momentum):
    v = momentum * v - lr * g
    return p + v, v


def sgd_momentum_sign_error(p, g, v, lr, momentum):
    v = momentum * v + lr * g
    return p + v, v


def rmsprop_step(p, g, a, lr, rho, eps):
    a = rho * a + (1.0 - rho) * g * g
    return p - lr * g / (np.sqrt(a) + eps), a


def rmsprop_no_sqrt(p, g, a, lr, rho, eps):
    a = rho * a + (1.0 - rho) * g * g
    return p - lr * g / (a + eps), a


def adam_step(p, g, m, v, t, lr, beta_1, beta_2, eps):
    m = beta_1 * m + (1.0 - beta_1) * g
    v = beta_2 * v + (1.0 - beta_2) * g * g
    m_hat, v_hat = m / (1.0 - beta_1 ** t), v / (1.0 - beta_2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def adam_no_bias_correction(p, g, m, v, t, lr, beta_1, beta_2, eps):
    m = beta_1 * m + (1.0 - beta_1) * g
    v = beta_2 * v + (1.0 - beta_2) * g * g
    return p - lr * m / (np.sqrt(v) + eps), m, v


def max_stable_lr(curvatures):
    return 2.0 / np.max(curvatures)


def max_stable_lr_flattest(curvatures):
    return 2.0 / np.min(curvatures)


# ---- notebook 5
def layers_in_order(model):
    calls, visited = [], set()

    def visit(layer, node_index):
        if (layer.name, node_index) in visited:
            return
        visited.add((layer.name, node_index))
        node = layer.inbound_nodes[node_index]
        for inbound_layer, inbound_index in zip(node.inbound_layers, node.node_indices):
            visit(inbound_layer, inbound_index)
        calls.append(layer)

    for tensor in model.outputs:
        layer, node_index, _ = tensor._keras_history
        visit(layer, node_index)
    order = []
    for layer in calls:
        if layer in order:
            order.remove(layer)
        order.append(layer)
    return order


def layers_in_order_by_layer(model):   # marks layers, not nodes: misses a shared layer's 2nd call
    order = []

    def visit(layer, node_index):
        if layer in order:
            return
        node = layer.inbound_nodes[node_index]
        for inbound_layer, inbound_index in zip(node.inbound_layers, node.node_indices):
            visit(inbound_layer, inbound_index)
        order.append(layer)

    for tensor in model.outputs:
        visit(*tensor._keras_history[:2])
    return order


def layers_outputs_first(model):
    return list(reversed(layers_in_order(model)))


def inbound_layer_names(layer, node_index):
    return [inbound.name for inbound in layer.inbound_nodes[node_index].inbound_layers]


def inbound_layer_names_first_call(layer, node_index):
    return [inbound.name for inbound in layer.inbound_nodes[0].inbound_layers]


def make_siamese(encoder):
    first, second = Input((8, 8, 1)), Input((8, 8, 1))
    difference = subtract([encoder(first), encoder(second)])
    return Model([first, second], Dense(1, activation="sigmoid")(difference))


def make_siamese_with_a_copy(encoder):   # a second encoder: no weights shared
    copy = Model.from_config({**encoder.get_config(), "name": "encoder_copy"})
    first, second = Input((8, 8, 1)), Input((8, 8, 1))
    difference = subtract([encoder(first), copy(second)])
    return Model([first, second], Dense(1, activation="sigmoid")(difference))


# ---- notebooks 6 and 7
def depthwise_strided(x, k, stride):
    n, h, w, c = x.shape
    kh, kw, _ = k.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            window = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = (window * k).sum(axis=(1, 2))
    return out


def depthwise_ignores_stride(x, k, stride):
    return depthwise_strided(x, k, 1)


def conv2d_loops(x, k):
    n, h, w, _ = x.shape
    kh, kw, _, c_out = k.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, c_out))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            out[:, i, j, :] = np.tensordot(x[:, i:i + kh, j:j + kw, :], k, axes=3)
    return out


def conv2d_flipped_kernel(x, k):   # a true convolution flips the kernel; Keras's does not
    return conv2d_loops(x, k[::-1, ::-1])


def depthwise_as_standard(dk):
    kh, kw, c, dm = dk.shape
    standard = np.zeros((kh, kw, c, c * dm))
    for ch in range(c):
        for m in range(dm):
            standard[:, :, ch, ch * dm + m] = dk[:, :, ch, m]
    return standard


def depthwise_as_standard_wrong_order(dk):   # output channel m * C + c instead of c * dm + m
    kh, kw, c, dm = dk.shape
    standard = np.zeros((kh, kw, c, c * dm))
    for ch in range(c):
        for m in range(dm):
            standard[:, :, ch, m * c + ch] = dk[:, :, ch, m]
    return standard


def im2col(x, kh, kw):
    n, h, w, c = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    cols = np.empty((n, oh, ow, kh, kw, c))
    for a in range(kh):
        for b in range(kw):
            cols[:, :, :, a, b, :] = x[:, a:a + oh, b:b + ow, :]
    return cols.reshape(n * oh * ow, kh * kw * c)


def im2col_channels_first(x, kh, kw):   # columns in (c, a, b) order: does not match the kernel
    n, h, w, c = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    cols = np.empty((n, oh, ow, c, kh, kw))
    for a in range(kh):
        for b in range(kw):
            cols[:, :, :, :, a, b] = x[:, a:a + oh, b:b + ow, :]
    return cols.reshape(n * oh * ow, kh * kw * c)


def output_length(n, k, padding, stride, dilation=1):
    return conv_output_length(n, k, padding, stride, dilation)


def output_length_no_dilation(n, k, padding, stride, dilation=1):
    return conv_output_length(n, k, padding, stride, 1)


def same_padding(n, k, stride, dilation=1):
    return same_pads(n, k, stride, dilation)


def same_padding_odd_before(n, k, stride, dilation=1):
    before, after = same_pads(n, k, stride, dilation)
    return after, before


def separable_params(k, c, f, dm=1):
    return k * k * c * dm + c * dm * f + f


def separable_params_no_dm(k, c, f, dm=1):
    return k * k * c + c * f + f


def separable_by_hand(images, depthwise_kernel, pointwise_kernel, bias):
    return K.depthwise_conv2d(images, depthwise_kernel).numpy() @ pointwise_kernel[0, 0] + bias


def separable_no_bias(images, depthwise_kernel, pointwise_kernel, bias):
    return K.depthwise_conv2d(images, depthwise_kernel).numpy() @ pointwise_kernel[0, 0]


def fold_batch_norm(gamma, beta, moving_mean, moving_variance, epsilon):
    scale = gamma / np.sqrt(moving_variance + epsilon)
    return scale, beta - moving_mean * scale


def fold_batch_norm_no_epsilon(gamma, beta, moving_mean, moving_variance, epsilon):
    scale = gamma / np.sqrt(moving_variance)
    return scale, beta - moving_mean * scale


def fold_batch_norm_by_the_variance(gamma, beta, moving_mean, moving_variance, epsilon):
    scale = gamma / (moving_variance + epsilon)   # the variance, not its square root
    return scale, beta - moving_mean * scale


def fold_batch_norm_shift_is_beta(gamma, beta, moving_mean, moving_variance, epsilon):
    return gamma / np.sqrt(moving_variance + epsilon), beta


def fold_batch_norm_swapped(gamma, beta, moving_mean, moving_variance, epsilon):
    scale, shift = fold_batch_norm(gamma, beta, moving_mean, moving_variance, epsilon)
    return shift, scale


# ---- notebook 8
def train_step(model, optimizer, x, y):
    with GradientTape() as tape:
        loss = sparse_categorical_crossentropy(y, model(x, training=True)).mean()
    grads = tape.gradient(loss, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))
    return float(loss.data)


def train_step_last_layer_only(model, optimizer, x, y):
    weights = model.layers[-1].trainable_weights
    with GradientTape() as tape:
        loss = sparse_categorical_crossentropy(y, model(x, training=True)).mean()
    optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
    return float(loss.data)


def confusion_matrix(y_true, y_pred, n_classes):
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(confusion, (y_true, y_pred), 1)
    return confusion


def confusion_matrix_buffered(y_true, y_pred, n_classes):   # repeated pairs count once
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    confusion[y_true, y_pred] += 1
    return confusion


def per_class_accuracy(confusion):
    return np.diag(confusion) / confusion.sum(axis=1)


def per_class_precision(confusion):
    return np.diag(confusion) / confusion.sum(axis=0)


# ---- notebook 9
class Scale(Layer):
    def build(self, input_shape):
        self.scale = self.add_weight("scale", (input_shape[-1],), initializer="ones")
        super().build(input_shape)

    def call(self, inputs):
        return inputs * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape


class ScaleOneNumber(Scale):   # one scale for all channels
    def build(self, input_shape):
        self.scale = self.add_weight("scale", (1,), initializer="ones")
        Layer.build(self, input_shape)


class Clip(Layer):
    def __init__(self, min_value=0.0, max_value=1.0, **kwargs):
        super().__init__(**kwargs)
        self.min_value, self.max_value = float(min_value), float(max_value)

    def call(self, inputs):
        return K.clip(inputs, self.min_value, self.max_value)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(min_value=self.min_value, max_value=self.max_value)
        return config


class ClipForgetsSettings(Clip):
    def get_config(self):
        return Layer.get_config(self)


class LinearMaybeBias(Layer):
    def __init__(self, units, activation=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.units, self.use_bias = int(units), bool(use_bias)
        self.activation = get_activation(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        outputs = K.matmul(inputs, self.kernel)
        return self.activation(outputs + self.bias if self.use_bias else outputs)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, use_bias=self.use_bias,
                      activation=serialize_activation(self.activation))
        return config


class LinearBiasAlways(LinearMaybeBias):   # ignores the setting when building
    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.bias = self.add_weight("bias", (self.units,), initializer="zeros")
        Layer.build(self, input_shape)


# ---- notebook 10: forward and reverse mode
class Dual:
    def __init__(self, value, dot=0.0):
        self.value, self.dot = value, dot

    @staticmethod
    def lift(other):
        return other if isinstance(other, Dual) else Dual(other, 0.0)

    def __add__(self, other):
        other = Dual.lift(other)
        return Dual(self.value + other.value, self.dot + other.dot)

    __radd__ = __add__

    def __mul__(self, other):
        other = Dual.lift(other)
        return Dual(self.value * other.value, self.dot * other.value + self.value * other.dot)

    __rmul__ = __mul__

    def sin(self):
        return Dual(np.sin(self.value), np.cos(self.value) * self.dot)


class DualSinWithoutChainRule(Dual):
    def sin(self):
        return DualSinWithoutChainRule(np.sin(self.value), np.cos(self.value))

    def __mul__(self, other):
        out = super().__mul__(other)
        return DualSinWithoutChainRule(out.value, out.dot)

    __rmul__ = __mul__


class _SoftclipJvp(Function):
    def forward(self, ctx, x, limit=3.0):
        t = np.tanh(x / limit)
        ctx.save(t)
        return limit * t

    def jvp(self, ctx, tangent):
        (t,) = ctx.saved
        return (1.0 - t * t) * tangent

    def backward(self, ctx, grad):
        (t,) = ctx.saved
        return (grad * (1.0 - t * t),)


class _SoftclipJvpTimesLimit(_SoftclipJvp):
    def jvp(self, ctx, tangent):
        (t,) = ctx.saved
        return 3.0 * (1.0 - t * t) * tangent


def softclip_jvp(x):
    return _SoftclipJvp.apply(x)


def softclip_jvp_times_limit(x):
    return _SoftclipJvpTimesLimit.apply(x)


def hvp(f, x, v):
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        g = inner.gradient(y, x)
        s = (g * v).sum()
    return outer.gradient(s, x)


def hvp_gradient_outside_outer_tape(f, x, v):
    with GradientTape() as inner:
        inner.watch(x)
        y = f(x)
    g = inner.gradient(y, x)
    return g * v  # the gradient, not differentiated again


def newton_step(f, x):
    g = np.asarray(grad(f)(x))
    return np.asarray(x) - np.linalg.solve(np.asarray(hessian(f)(x)), g)


def newton_step_is_gradient_descent(f, x):
    return np.asarray(x) - np.asarray(grad(f)(x))


# ---- notebook 11
def input_config_to_keras3(config):
    new = {key: value for key, value in config.items() if key != "batch_input_shape"}
    new["batch_shape"] = config["batch_input_shape"]
    return new


def input_config_keeps_both_keys(config):   # adds the new key, forgets to drop the old one
    return {**config, "batch_shape": config["batch_input_shape"]}


def input_config_in_place(config):   # right keys, but the caller's dict is changed too
    config["batch_shape"] = config.pop("batch_input_shape")
    return config


def onnx_same_pads(input_hw, kernel_hw, strides, dilation):
    begins, ends = [], []
    for n, k, s, d in zip(input_hw, kernel_hw, strides, dilation):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def onnx_same_pads_axis_by_axis(input_hw, kernel_hw, strides, dilation):
    (top, bottom), (left, right) = [same_pads(*args) for args in
                                    zip(input_hw, kernel_hw, strides, dilation)]
    return [top, bottom, left, right]   # minikeras's ((top, bottom), (left, right)), flattened


def onnx_same_pads_odd_first(input_hw, kernel_hw, strides, dilation):
    (top, bottom), (left, right) = [same_pads(*args) for args in
                                    zip(input_hw, kernel_hw, strides, dilation)]
    return [bottom, right, top, left]   # SAME_LOWER: the odd pixel at the beginning


def save_for(model, reader, stem):
    from minikeras.export import to_onnx

    if reader == "ONNX Runtime":
        to_onnx(model, stem + ".onnx")
        return stem + ".onnx"
    path = stem + {"minikeras": ".npz", "Keras 2": ".h5", "Keras 3": ".keras"}[reader]
    model.save(path)
    return path


def save_for_onnx_with_save(model, reader, stem):   # model.save has no ONNX format
    path = stem + {"minikeras": ".npz", "Keras 2": ".h5", "Keras 3": ".keras",
                   "ONNX Runtime": ".onnx"}[reader]
    model.save(path)
    return path


def save_for_keras2_as_keras(model, reader, stem):   # tf.keras 2 reads HDF5 only
    if reader == "Keras 2":
        model.save(stem + ".keras")
        return stem + ".keras"
    return save_for(model, reader, stem)
