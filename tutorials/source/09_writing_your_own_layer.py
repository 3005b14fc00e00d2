# %% [markdown]
# # 7. Writing your own layer, saving and loading
#
# Every layer in `minikeras.layers` is an ordinary Python class, and yours can be a first-class
# citizen too: usable in functional and `Sequential` models, drawn by `plot_model`, trained by
# `fit`, saved to a file and loaded back. A layer implements up to five methods:
#
# | method | what it does | when it runs |
# |---|---|---|
# | `__init__(..., **kwargs)` | store the layer's *settings* | once |
# | `build(input_shape)` | create the *weights*, now that the input shape is known | first call |
# | `call(inputs)` | the computation, with backend ops on tensors | every call on data |
# | `compute_output_shape(input_shape)` | the output shape, without data | symbolic calls |
# | `get_config()` | the settings as a dict, so the layer can be rebuilt | saving |
#
# We will write two layers, test them, train a model with them, and save and load that model.
#
# **Exercises.** Three exercises ask you to write layers. Each is a code cell with a blank:
# replace `raise NotImplementedError()` with your code, run the cell, then run the check below
# it. The checks put your layer through `layer_test` (see below) and a few tests of their own,
# and tell you what is wrong, or "not done yet".

# %%
import json

import numpy as np

from minikeras import Input, Model, Sequential
from minikeras import backend as K
from minikeras.activations import get as get_activation
from minikeras.activations import serialize as serialize_activation
from minikeras.datasets import digits
from minikeras.engine import Layer
from minikeras.exercises import check_clip_layer, check_linear_use_bias, check_scale_layer
from minikeras.layers import Flatten
from minikeras.models import load_model, model_from_json, save_model
from minikeras.testing import layer_test
from minikeras.utils import plot_model, set_random_seed

set_random_seed(0)

# %% [markdown]
# ## A dense layer, from scratch
#
# `Linear` computes `activation(x @ kernel + bias)`. Its settings are the number of units and the
# activation; its weights, created in `build`, depend on the input's last dimension.
#
# * `self.add_weight(name, shape, initializer=...)` creates a trainable `Variable` named
#   `"<layer name>/<name>"` and registers it with the layer (so `layer.weights`, `fit` and
#   `save_model` find it).
# * `call` receives a `Tensor` and uses ops: `K.matmul`, `+`, the activation function. The tape
#   records them, so the layer has gradients with no extra code.
# * `get_config` calls `super().get_config()` (name, trainable, dtype) and adds the settings,
#   as JSON-friendly values: the activation is stored by name.

# %%
class Linear(Layer):
    """A fully connected layer: ``activation(inputs @ kernel + bias)``.

    Args:
        units: Size of the output's last dimension.
        activation: Activation name or function (``None``: linear).
        **kwargs: Base layer arguments (``name``, ``input_shape``, ...).
    """

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = get_activation(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight("bias", (self.units,), initializer="zeros")
        super().build(input_shape)   # marks the layer as built

    def call(self, inputs):
        return self.activation(K.matmul(inputs, self.kernel) + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=serialize_activation(self.activation))
        return config

# %% [markdown]
# Called on data, the layer builds itself from the data's shape and computes; called on a
# symbolic `Input`, it builds from the symbolic shape and only works out the output shape:

# %%
layer = Linear(3, activation="relu", name="linear")
print(layer(np.ones((2, 4))))
print([w.name for w in layer.weights])
print(Linear(5)(Input((7,))))

# %% [markdown]
# ## A layer with a learnable activation
#
# The second layer has no fixed shape change but a learnable parameter per channel: the Swish
# activation of notebook 2, $x\,\sigma(\beta x)$, with $\beta$ **learned** for each channel.
# Here we write it with existing ops (`K.sigmoid`, `*`), so the tape differentiates it with
# respect to both `x` and `beta`. (Notebook 2's fused op treated `beta` as a constant; a fused
# version would have to return a gradient for it too.)

# %%
class LearnableSwish(Layer):
    """``x * sigmoid(beta * x)`` with one learned ``beta`` per channel (last axis).

    Args:
        beta_initial: Starting value of every ``beta``.
        **kwargs: Base layer arguments.
    """

    def __init__(self, beta_initial=1.0, **kwargs):
        super().__init__(**kwargs)
        self.beta_initial = float(beta_initial)

    def build(self, input_shape):
        self.beta = self.add_weight(
            "beta", (input_shape[-1],),
            initializer=lambda shape, dtype=None: np.full(shape, self.beta_initial, dtype=dtype))
        super().build(input_shape)

    def call(self, inputs):
        return inputs * K.sigmoid(inputs * self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["beta_initial"] = self.beta_initial
        return config

# %% [markdown]
# ## Testing a layer
#
# `minikeras.testing.layer_test` is the check every built-in layer goes through. It builds the
# layer from keyword arguments and tries it every way it will be used: symbolic and eager calls,
# output shape against `compute_output_shape`, weights and `count_params`, the config round trip
# (`get_config` then `from_config` must give the same outputs), a deep copy, gradients reaching
# every weight, a training step, and the same inside a `Sequential` model. It raises an
# `AssertionError` that says what went wrong, and returns the output on random data.

# %%
out = layer_test(Linear, kwargs={"units": 3, "activation": "tanh"}, input_shape=(2, 5),
                 expected_num_weights=2, expected_num_params=5 * 3 + 3)
print("Linear passes, output shape", out.shape)
out = layer_test(LearnableSwish, kwargs={"beta_initial": 2.0}, input_shape=(2, 4, 3))
print("LearnableSwish passes, output shape", out.shape)

# %% [markdown]
# A bug the test catches: a `compute_output_shape` that disagrees with what `call` returns.

# %%
class WrongShape(Linear):
    """Declares the wrong output shape (a deliberate bug)."""

    def compute_output_shape(self, input_shape):
        return input_shape


try:
    layer_test(WrongShape, kwargs={"units": 3}, input_shape=(2, 5))
except AssertionError as err:
    print("AssertionError:", err)

# %% [markdown]
# ### Exercise 9.1: a layer with a weight per channel
#
# Write `Scale`: it multiplies its input by one learned factor per channel (the last axis),
# every factor starting at 1 (`initializer="ones"`). Write `build` and `call`; its output shape
# is its input shape.

# %%
class Scale(Layer):
    """``inputs * scale``, one learned ``scale`` per channel (last axis), starting at 1."""

    def build(self, input_shape):
        ### BEGIN SOLUTION
        self.scale = self.add_weight("scale", (input_shape[-1],), initializer="ones")
        super().build(input_shape)
        ### END SOLUTION

    def call(self, inputs):
        ### BEGIN SOLUTION
        return inputs * self.scale   # broadcasts along the last axis
        ### END SOLUTION

    def compute_output_shape(self, input_shape):
        return input_shape


# %%
check_scale_layer(Scale)

# %% [markdown]
# ## Using the layers in a model
#
# Our layers mix freely with the built-in ones. A small classifier on the digits:

# %%
(x_train, y_train), (x_test, y_test) = digits.load_data(normalize=True)

inputs = Input((8, 8), name="digit")
h = Flatten(name="flatten")(inputs)
h = Linear(32, name="hidden")(h)
h = LearnableSwish(name="swish")(h)
outputs = Linear(10, activation="softmax", name="classes")(h)
model = Model(inputs, outputs, name="custom_mlp")
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()
plot_model(model, to_file=None, show_shapes=True, rankdir="LR")

# %%
history = model.fit(x_train, y_train, batch_size=32, epochs=8, verbose=2,
                    validation_data=(x_test, y_test))
beta = model.get_layer("swish").beta.numpy()
print(f"learned betas: mean {beta.mean():.3f}, min {beta.min():.3f}, max {beta.max():.3f}")

# %% [markdown]
# The betas moved away from their initial value 1.0: they are weights like any other.
#
# ## Configs: the architecture as data
#
# A model's config is its layers' configs plus the nodes that connect them; `to_json` writes it
# as JSON. Our layers appear under their class names, with the settings from `get_config`:

# %%
config = json.loads(model.to_json())
hidden = next(layer for layer in config["config"]["layers"] if layer["name"] == "hidden")
print(json.dumps(hidden, indent=2))

# %% [markdown]
# ### Exercise 9.2: settings that survive a config
#
# `Clip(min_value, max_value)` limits its input to an interval; it has no weights, only
# settings. Write its `get_config`, so that `Clip.from_config(layer.get_config())` rebuilds
# the same layer (the check compares the rebuilt layer's output with the original's).

# %%
class Clip(Layer):
    """Limits the input to ``[min_value, max_value]``."""

    def __init__(self, min_value=0.0, max_value=1.0, **kwargs):
        super().__init__(**kwargs)
        self.min_value = float(min_value)
        self.max_value = float(max_value)

    def call(self, inputs):
        return K.clip(inputs, self.min_value, self.max_value)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        ### BEGIN SOLUTION
        config = super().get_config()   # name, trainable, dtype
        config.update(min_value=self.min_value, max_value=self.max_value)
        return config
        ### END SOLUTION


# %%
check_clip_layer(Clip)

# %% [markdown]
# To rebuild a model, minikeras must turn the name `"Linear"` back into a class. It knows its
# own layers; yours must be passed in `custom_objects`. Without them, the error says so:

# %%
try:
    model_from_json(model.to_json())
except ValueError as err:
    print("ValueError:", err)

rebuilt = model_from_json(model.to_json(),
                          custom_objects={"Linear": Linear, "LearnableSwish": LearnableSwish})
print("rebuilt:", [layer.name for layer in rebuilt.layers])

# %% [markdown]
# A rebuilt model has the same architecture but **fresh weights**. To keep the weights too, save
# the whole model.
#
# ## Saving and loading a model
#
# `save_model` writes one `.npz` file (numpy's zip of arrays) with the architecture as JSON,
# every weight, and, for a compiled model, the training configuration and the optimizer's state.
# The file is written atomically: a crash mid-save never leaves half a file behind.

# %%
save_model(model, "custom_mlp.npz")
with np.load("custom_mlp.npz", allow_pickle=False) as contents:
    names = sorted(contents.files)
weight_names = [n for n in names if n.startswith("weights/") and "__" not in n]
print(len(names), "arrays, e.g.:", weight_names[:4])

# %%
custom = {"Linear": Linear, "LearnableSwish": LearnableSwish}
loaded = load_model("custom_mlp.npz", custom_objects=custom)
same = np.allclose(loaded.predict(x_test), model.predict(x_test), atol=1e-6)
print("same predictions after loading:", same)
print("compiled with:", type(loaded.optimizer).__name__, "- steps taken so far:",
      loaded.optimizer.iterations)

# %% [markdown]
# Because the optimizer's state came back too (Adam's moment estimates and its step count),
# training can simply continue where it stopped:

# %%
loaded.fit(x_train, y_train, batch_size=32, epochs=2, verbose=2)
test_loss, test_accuracy = loaded.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy after two more epochs: {test_accuracy:.1%}")

# %% [markdown]
# And the layers work in a `Sequential` model exactly the same way:

# %%
sequential = Sequential([Flatten(input_shape=(8, 8)), Linear(16), LearnableSwish(),
                         Linear(10, activation="softmax")])
sequential.summary()

# %% [markdown]
# ## Summary
#
# * A layer stores settings in `__init__`, creates weights with `add_weight` in `build`, computes
#   with tensor ops in `call`, declares its output shape in `compute_output_shape`, and returns
#   its settings from `get_config`.
# * `minikeras.testing.layer_test` checks all of that in one call.
# * `save_model` / `load_model` keep architecture, weights and optimizer state in one `.npz`;
#   your classes come back through `custom_objects`.
#
# ### Exercise 9.3: an optional bias
#
# Many Keras layers take `use_bias=True`. Give `Linear` that setting: with `use_bias=False` it
# creates no bias weight and adds none, and `get_config` records the setting. The check runs
# `layer_test` with both settings and counts the weights.

# %%
class LinearMaybeBias(Linear):
    """``Linear`` with a ``use_bias`` setting."""

    def __init__(self, units, activation=None, use_bias=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        ### BEGIN SOLUTION
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      initializer="glorot_uniform")
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), initializer="zeros")
        Layer.build(self, input_shape)   # not Linear.build, which would add a bias
        ### END SOLUTION

    def call(self, inputs):
        ### BEGIN SOLUTION
        outputs = K.matmul(inputs, self.kernel)
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)
        ### END SOLUTION

    def get_config(self):
        ### BEGIN SOLUTION
        config = super().get_config()
        config["use_bias"] = self.use_bias
        return config
        ### END SOLUTION


# %%
check_linear_use_bias(LinearMaybeBias)

# %% [markdown]
# **Going further** (no check): save a model that uses `LinearMaybeBias(..., use_bias=False)`
# and load it back with `custom_objects`.
