# %% [markdown]
# # 11. Graduation: taking a model to Keras 3 and to ONNX
#
# minikeras is for learning. When a model outgrows it (more data than one machine, a GPU, a
# service that answers requests) you should not have to build it again in another library:
# you take it along. This notebook follows one small model through every hop:
#
# 1. **train** it in minikeras on the bundled digits;
# 2. **save** it as a Keras 3 `.keras` archive and **load** it in Keras 3, on the JAX backend;
# 3. **continue training** there with `keras.distribution.DataParallel`, which splits every
#    batch over several devices (here two pretend CPU devices; on a real machine, GPUs or TPUs);
# 4. bring the improved model **back** to minikeras;
# 5. **export** it to ONNX and **serve** it with ONNX Runtime.
#
# At every hop we check that the numbers are the same, to float32 precision: a file format is
# only useful if the model on the other side computes what the model on this side did.
#
# This notebook needs the `interop` extra: `pip install "minikeras[interop]"` (h5py, onnx,
# onnxruntime, keras, jax). Nothing is downloaded while it runs.
#
# **Exercises.** Three exercises, one for each thing that has to be translated on the way: a
# config key Keras 3 renamed, TensorFlow's `same` padding written as ONNX pads, and which file
# each reader opens. After each, a check tests your answer with the real readers and says what
# is wrong, or "not done yet".

# %% [markdown]
# ## Before any import: two devices on one CPU
#
# JAX reads its settings once, when it starts. `XLA_FLAGS=--xla_force_host_platform_device_count=2`
# asks XLA to present the CPU as two separate devices, so data parallelism can be shown (and
# tested) on a laptop. Each device is a thread that must reach every gradient average; XLA
# waits 40 s for the last one, then stops the process, which a busy two-core machine (a test
# run beside other tests) once hit. Recent jaxlib releases take a longer wait as a flag.
# `KERAS_BACKEND` picks the engine Keras 3 runs on. Both must be set before Keras or JAX is
# imported, so they come first.

# %%
import os
from importlib.metadata import version

# Two pretend devices share the CPU's threads. On a two-core machine, one device's step could
# wait for the other's forever (it hung several of our test runs), so there this notebook
# trains on one device; with three cores or more, on two.
data_parallel = (os.cpu_count() or 1) > 2
flags = [f"--xla_force_host_platform_device_count={2 if data_parallel else 1}"]
jaxlib_version = tuple(int(part) for part in version("jaxlib").split(".")[:2])
if jaxlib_version >= (0, 9):  # (older XLA rejects these flags)
    flags.append("--xla_cpu_collective_timeout_seconds=600")
if jaxlib_version >= (0, 10):  # the 40 s after which XLA stops the process
    flags.append("--xla_cpu_collective_call_terminate_timeout_seconds=600")
os.environ["XLA_FLAGS"] = " ".join(flags)
os.environ["KERAS_BACKEND"] = "jax"
os.environ["JAX_PLATFORMS"] = "cpu"

import json
import zipfile

import matplotlib.pyplot as plt
import numpy as np

from minikeras import Input, Model
from minikeras.datasets import digits
from minikeras.exercises import (
    check_keras3_input_config,
    check_onnx_same_pads,
    check_save_for_reader,
)
from minikeras.export import to_onnx
from minikeras.kernels import explicit_pads
from minikeras.layers import BatchNormalization, Dense, GlobalAveragePooling2D, SeparableConv2D
from minikeras.models import load_model
from minikeras.optimizers import Adam
from minikeras.utils import set_random_seed

set_random_seed(0)


def same(a, b):
    """The check made at every hop: equal to float32 precision."""
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


# %% [markdown]
# ## 1. Train in minikeras
#
# A small network of separable convolutions with batch normalisation, trained for two epochs.
# Four devices will share each batch later, so we keep a multiple of 128 training images. The
# batch normalisation's moving averages use `momentum=0.9` (Keras's default is 0.99) so that they
# settle within these few steps and the model predicts well in inference mode.

# %%
(x_train, y_train), (x_test, y_test) = digits.load_data(normalize=True)
x_train, x_test = x_train[..., None].astype("float32"), x_test[..., None].astype("float32")
n = len(x_train) // 128 * 128
x_train, y_train = x_train[:n], y_train[:n]

inputs = Input((8, 8, 1), name="digit")
x = SeparableConv2D(16, 3, padding="same", activation="relu", name="sep1")(inputs)
x = BatchNormalization(momentum=0.9, name="bn")(x)
x = SeparableConv2D(32, 3, strides=2, padding="same", activation="relu", name="sep2")(x)
x = GlobalAveragePooling2D(name="pool")(x)
outputs = Dense(10, activation="softmax", name="classes")(x)
model = Model(inputs, outputs, name="digits_net")
model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=2, batch_size=32, verbose=0)
print("minikeras training loss per epoch:", np.round(history.history["loss"], 4))
p_minikeras = model.predict(x_test)

# %% [markdown]
# ## 2. Save as a Keras 3 archive
#
# The file extension chooses the format: `.npz` is minikeras's own, `.h5` is Keras 2's HDF5
# file, `.keras` is Keras 3's archive. A `.keras` file is a zip of three members: the
# architecture (`config.json`, in Keras 3's vocabulary), some metadata, and the weights in HDF5.

# %%
model.save("digits.keras")
print(zipfile.ZipFile("digits.keras").namelist())

# %% [markdown]
# `config.json` is the model's config, translated key by key into Keras 3's vocabulary
# (`minikeras.formats.keras3_config` lists every change). Here is the input layer as minikeras
# describes it, in Keras 2's words, and as the archive describes it:

# %%
with zipfile.ZipFile("digits.keras") as archive:
    k3_config = json.loads(archive.read("config.json"))
k3_input = next(layer for layer in k3_config["config"]["layers"]
                if layer["class_name"] == "InputLayer")
print("minikeras, Keras 2 keys:", model.get_layer("digit").get_config())
print("the .keras archive:     ", k3_input["config"])

# %% [markdown]
# ### Exercise 11.1: a config key Keras 3 renamed
#
# One key of the input layer changed its name between Keras 2 and Keras 3 (find it above); its
# value, the input's shape with the batch axis first, did not. Keras 3 still accepts the old
# spelling when it reads an old file, but writes only the new one, and so does minikeras: when
# it reads a Keras 3 file (section 4) it translates the key back.
#
# Write `input_config_to_keras3(config)`: given the config of a Keras 2 `InputLayer`, return its
# Keras 3 config, as a **new** dict (the caller keeps the Keras 2 one, e.g. to write a `.h5`
# file too). The check compares your function with the translation minikeras writes into
# every `.keras` file, on four input layers (a fixed batch size among them).

# %%
def input_config_to_keras3(config):
    """The Keras 3 config of the Keras 2 ``InputLayer`` config ``config`` (a new dict)."""
    ### BEGIN SOLUTION
    new = {key: value for key, value in config.items() if key != "batch_input_shape"}
    new["batch_shape"] = config["batch_input_shape"]
    return new
    ### END SOLUTION


# %%
check_keras3_input_config(input_config_to_keras3)

# %% [markdown]
# ## 3. Load in Keras 3 and train on two devices
#
# `DataParallel` keeps a copy of every weight on each device and gives each device half of
# each batch; the gradients are averaged across devices. The distribution must be set before
# the model is loaded, so that its variables are created on the devices. (On a machine with
# two cores or fewer this notebook keeps to one device: see its first cell.)
#
# **Hop 1**: Keras 3 predicts what minikeras predicted.

# %%
import jax
import keras

devices = jax.devices()
print("devices:", devices)
if data_parallel:
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))

k_model = keras.saving.load_model("digits.keras")
print("hop 1, minikeras -> Keras 3, largest difference:",
      same(k_model.predict(x_test, verbose=0), p_minikeras))

# %% [markdown]
# The model came back compiled: the optimizer, its state (Adam's moving averages of the
# gradients) and the loss travel in the archive, so training goes on where it stopped. The loss
# is measured on the training set before and after two more epochs; before, it is the loss
# minikeras measures too.

# %%
loss_before = k_model.evaluate(x_train, y_train, batch_size=32, verbose=0)[0]
loss_minikeras = model.evaluate(x_train, y_train, batch_size=32, verbose=0)[0]
print("the same loss on both sides:", loss_before, loss_minikeras)
np.testing.assert_allclose(loss_before, loss_minikeras, rtol=1e-5)
k_model.fit(x_train, y_train, epochs=2, batch_size=32, verbose=0)
loss_after = k_model.evaluate(x_train, y_train, batch_size=32, verbose=0)[0]
print(f"training over {len(devices)} device(s), data-parallel: {data_parallel}: "
      f"loss {loss_before:.4f} -> {loss_after:.4f}")
print("a kernel's sharding:", k_model.get_layer("sep1").depthwise_kernel.value.sharding)
assert len(devices) == (2 if data_parallel else 1) and loss_after < loss_before

# %% [markdown]
# ## 4. Back to minikeras
#
# Keras 3 writes its own `.keras` file; minikeras reads it, translating each Keras 3 config key
# back to its Keras 2 spelling.
#
# **Hop 2**: minikeras predicts what the Keras-trained model predicts.

# %%
k_model.save("digits_trained.keras")
p_keras = k_model.predict(x_test, verbose=0)
trained = load_model("digits_trained.keras")
print("hop 2, Keras 3 -> minikeras, largest difference:", same(trained.predict(x_test), p_keras))

# %% [markdown]
# ## 5. Export to ONNX and serve with ONNX Runtime
#
# ONNX is a graph of standard operators that many serving stacks run. The exported model takes
# the same channels-last images as the minikeras model; inside, each convolution is wrapped in
# transposes to ONNX's channels-first layout (which ONNX Runtime's optimiser removes between
# layers), and Keras's `padding="same"` is written as explicit pads.
#
# **Hop 3**: ONNX Runtime predicts what the model predicts.

# %%
import onnxruntime as ort

to_onnx(trained, "digits.onnx")
session = ort.InferenceSession("digits.onnx", providers=["CPUExecutionProvider"])
print("inputs:", [(i.name, i.shape) for i in session.get_inputs()])
p_onnx = session.run(None, {"digit": x_test})[0]
print("hop 3, minikeras -> ONNX Runtime, largest difference:", same(p_onnx, p_keras))
print("test accuracy served by ONNX Runtime:", float(np.mean(p_onnx.argmax(1) == y_test)))

# %% [markdown]
# ### Where the odd pixel goes
#
# With `padding="same"` a layer with stride $s$ gives $\lceil n / s \rceil$ output pixels per
# axis, and pads the input with just enough zeros for its last window to fit (notebook 7). When
# the total is odd, TensorFlow (and Keras, and minikeras) put the extra pixel at the **end** of
# the axis: at the bottom, on the right. ONNX's `Conv` knows no "same"; it takes explicit
# `pads`, one list for all the spatial axes: first where each axis **begins**, then where each
# **ends**, so `[top, left, bottom, right]` for an image. (Its `auto_pad` attribute, which ONNX
# keeps only for legacy uses, calls TensorFlow's rule `SAME_UPPER`.)
#
# Below, the padding of the model's second convolution, `sep2` (8×8 input, 3×3 kernel, stride
# 2: one pixel, at the bottom and on the right) and of a larger kernel; grey pixels are the
# input, dashed ones the zeros, and the first and last windows are outlined.

# %%
def draw_same_padding(ax, n, k, stride):
    """The 'same' padding of an n x n input for a k x k kernel, with the first and last window."""
    (top, bottom), (left, right) = explicit_pads("same", (n, n), (k, k), (stride, stride))
    rows, cols = top + n + bottom, left + n + right
    for i in range(rows):
        for j in range(cols):
            inside = top <= i < top + n and left <= j < left + n
            ax.add_patch(plt.Rectangle((j, i), 1, 1, facecolor="0.82" if inside else "white",
                                       edgecolor="0.45", linestyle="-" if inside else "--",
                                       linewidth=0.8))
    last = (-(-n // stride) - 1) * stride
    for start, color, label in ((0, "tab:blue", "first window"),
                                (last, "tab:red", "last window")):
        ax.add_patch(plt.Rectangle((start, start), k, k, fill=False, edgecolor=color,
                                   linewidth=3, label=label))
    ax.set_xlim(-0.3, cols + 0.3)
    ax.set_ylim(rows + 0.3, -0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"{n}×{n} input, {k}×{k} kernel, stride {stride}\n"
                 f"pads = {[top, left, bottom, right]}", fontsize=11)


fig, axes = plt.subplots(1, 2, figsize=(9, 4.6))
draw_same_padding(axes[0], 8, 3, 2)
draw_same_padding(axes[1], 7, 4, 1)
axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
fig.suptitle("TensorFlow's 'same' padding as ONNX pads [top, left, bottom, right]")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 11.2: TensorFlow's `same` padding as ONNX pads
#
# Write `onnx_same_pads(input_hw, kernel_hw, strides, dilation)`; each argument is a
# `(height, width)` pair. Return the ONNX `pads` `[top, left, bottom, right]` that make an ONNX
# `Conv` compute what Keras's `padding="same"` computes. A kernel of $k$ taps with dilation $d$
# spans $(k - 1)\,d + 1$ input pixels. The check compares with the pads minikeras's kernels use
# (and `to_onnx` writes) on 120 cases (odd and even sizes, kernels 1 to 5, strides 1 to 3,
# dilations 1 and 2), then runs convolutions with your pads in ONNX Runtime against
# `Conv2D(padding="same")`.

# %%
def onnx_same_pads(input_hw, kernel_hw, strides, dilation):
    """TensorFlow's 'same' padding as ONNX pads ``[top, left, bottom, right]``."""
    ### BEGIN SOLUTION
    begins, ends = [], []
    for n, k, s, d in zip(input_hw, kernel_hw, strides, dilation):
        out = -(-n // s)                                   # ceil(n / s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)                    # the odd pixel at the end
    return begins + ends
    ### END SOLUTION


# %%
check_onnx_same_pads(onnx_same_pads)

# %% [markdown]
# ## What does not cross
#
# Some things have no equivalent on the other side, and the export says so instead of writing a
# file that computes something else. A `Lambda` layer holds Python code, which a file should not
# carry; Keras 3 changed the formula of `hard_sigmoid`. The error names the layer and the key.

# %%
from minikeras.layers import Lambda

x = Input((3,))
with_lambda = Model(x, Lambda(lambda t: 2 * t, name="double")(x))
try:
    with_lambda.save("lambda.keras")
except ValueError as e:
    print(e)

# %% [markdown]
# ## Which file for which reader
#
# One model, four readers, and each opens its own kind of file: minikeras reads its `.npz` (and
# the Keras files too), tf.keras 2 reads HDF5 files, Keras 3 its `.keras` archives (and, through
# a legacy path, old HDF5 files), ONNX Runtime an ONNX graph. A file's name does not make its
# format: `model.save` chooses a format by the extension, and writes its own `.npz` for one it
# does not know.
#
# ### Exercise 11.3: which file for which reader
#
# Write `save_for(model, reader, stem)`: save `model` so that `reader` can open it, in a file
# named `stem` plus the right extension, and return that file's path. `reader` is one of
# `"minikeras"`, `"Keras 2"`, `"Keras 3"` and `"ONNX Runtime"`. The check trains a small
# model, calls your function for each reader, then opens each file with that reader (for
# Keras 2, the HDF5 reader tf.keras 2 used, which Keras 3 keeps for old files) and compares the
# predictions and, for the readers that go on training, the optimizer's step count.

# %%
def save_for(model, reader, stem):
    """Save ``model`` for ``reader`` as ``stem`` plus an extension; return the path."""
    ### BEGIN SOLUTION
    if reader == "ONNX Runtime":
        to_onnx(model, stem + ".onnx")          # an export: model.save has no ONNX format
        return stem + ".onnx"
    path = stem + {"minikeras": ".npz", "Keras 2": ".h5", "Keras 3": ".keras"}[reader]
    model.save(path)
    return path
    ### END SOLUTION


# %%
check_save_for_reader(save_for)

# %% [markdown]
# ## Where to go from here
#
# The same Keras 3 model runs on TensorFlow or PyTorch too (set `KERAS_BACKEND`), and
# `keras.distribution.ModelParallel` splits the weights themselves when they outgrow one device.
# The how-to guide "Graduate to Keras 3 and ONNX" in the documentation lists which layers go
# to which format.
