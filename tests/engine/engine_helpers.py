"""Small layers for the engine tests (built only from backend ops)."""

import numpy as np

from minikeras import backend as K
from minikeras.engine import InputSpec, Layer


class Lin(Layer):
    """A Dense-like layer: ``x @ kernel + bias``."""

    def __init__(self, units, kernel_regularizer=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_regularizer = kernel_regularizer
        self.use_bias = use_bias

    def build(self, input_shape):
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_shape[-1]})
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), initializer="zeros")
        super().build(input_shape)

    def call(self, x):
        y = K.matmul(x, self.kernel)
        return y + self.bias if self.use_bias else y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias}


class Stats(Layer):
    """A layer with a non-trainable moving mean updated in training mode (BatchNorm-like)."""

    def build(self, input_shape):
        self.scale = self.add_weight("scale", (input_shape[-1],), initializer="ones")
        self.moving = self.add_weight("moving_mean", (input_shape[-1],), initializer="zeros",
                                      trainable=False)
        super().build(input_shape)

    def call(self, x, training=None):
        if training:
            self.add_update((self.moving, 0.5 * self.moving.data + 0.5 * x.data.mean(axis=0)))
            return x * self.scale
        return (x - self.moving) * self.scale


class Add2(Layer):
    """Adds a list of two tensors."""

    def call(self, inputs):
        a, b = inputs
        return a + b

    def compute_output_shape(self, input_shape):
        return input_shape[0]


class Split2(Layer):
    """Returns two outputs: the input and its double."""

    def call(self, x):
        return [x, x * 2.0]

    def compute_output_shape(self, input_shape):
        return [input_shape, input_shape]


class Square(Layer):
    """Elementwise square, with an optional activity regularizer (sum of squares * 0.1)."""

    def __init__(self, regularize=False, **kwargs):
        super().__init__(**kwargs)
        self.regularize = regularize
        if regularize:
            self.activity_regularizer = lambda y: (y * y).sum() * 0.1

    def call(self, x):
        return x * x

    def get_config(self):
        return {**super().get_config(), "regularize": self.regularize}


class LossInCall(Layer):
    """Adds ``mean(x)`` as a loss from inside ``call``."""

    def call(self, x):
        self.add_loss(x.mean(), inputs=x)
        return x


class Masker(Layer):
    """Makes a mask ``x != 0`` (Masking-like) and passes values through."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x):
        return x

    def compute_mask(self, inputs, mask=None):
        if isinstance(inputs, np.ndarray) or hasattr(inputs, "data"):
            return np.asarray(inputs.data if hasattr(inputs, "data") else inputs) != 0
        return "symbolic-mask"


class MaskUser(Layer):
    """Multiplies by its mask (records what mask it saw)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.seen = []

    def call(self, x, mask=None):
        self.seen.append(mask)
        if mask is None or isinstance(mask, str):
            return x
        return x * mask.astype(np.float32)

    def compute_mask(self, inputs, mask=None):
        return None


class TrainingProbe(Layer):
    """Records the ``training`` value it was called with."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = []

    def call(self, x, training=None):
        self.calls.append(training)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape
