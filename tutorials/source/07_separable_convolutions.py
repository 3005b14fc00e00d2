# %% [markdown]
# # 4. Separable convolutions
#
# A standard 3x3 convolution from 64 to 128 channels has 73,728 weights and does that many
# multiply-adds at every pixel. MobileNet and Xception showed that most of that work can be
# skipped with little loss in accuracy, by **separating** the convolution into two cheap steps:
#
# 1. a **depthwise** convolution filters each input channel on its own (notebook 6);
# 2. a **pointwise** 1x1 convolution mixes the channels at each pixel.
#
# This notebook takes `SeparableConv2D` apart: what it computes (verified by hand), its weights,
# what it saves against `Conv2D` (a table and a plot), the rules for its output shape, and how
# the batch normalisation that usually follows it folds into it at inference.
#
# **Exercises.** Five exercises ask you to compute what the layer computes, count and size
# things, and fold a batch normalisation into a scale and a shift. Each is a code cell with a
# blank: replace `raise NotImplementedError()` with your code, run the cell, then run the check
# below it. The checks compare your answers with the layers and the library's shape rules on
# many cases, and tell you what is wrong, or "not done yet".

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

from minikeras import GradientTape, Input, Model
from minikeras import backend as K
from minikeras.engine.fusion import FusedStep, inference_fusion
from minikeras.exercises import (
    check_conv_output_length,
    check_fold_batch_norm,
    check_same_pads,
    check_separable_by_hand,
    check_separable_params,
)
from minikeras.kernels import conv_output_length, explicit_pads
from minikeras.layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    Dense,
    GlobalAveragePooling2D,
    SeparableConv2D,
)
from minikeras.utils import set_random_seed

set_random_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## What it computes
#
# Let us make a layer with 4 input channels, a depth multiplier of 2 (each input channel gets two
# depthwise filters) and 5 output filters, and call it on a batch of random images. Calling a
# layer on a numpy array runs it at once ("eagerly") and builds its weights on the way.

# %%
layer = SeparableConv2D(5, 3, depth_multiplier=2, padding="same", activation="relu")
images = rng.standard_normal((2, 6, 6, 4)).astype(np.float32)
output = layer(images)
print("output:", output.shape)
for weight in layer.weights:
    print(f"{weight.name:40s} {weight.shape}")

# %% [markdown]
# Three weights, in Keras's layouts:
#
# * `depthwise_kernel` `(kh, kw, in, depth_multiplier)` = `(3, 3, 4, 2)`: the depthwise filters.
#   Depthwise output channel `c*dm + m` is input channel `c` filtered by `[:, :, c, m]`.
# * `pointwise_kernel` `(1, 1, in*dm, filters)` = `(1, 1, 8, 5)`: a 1x1 convolution, i.e. one
#   8x5 matrix applied at every pixel.
# * `bias` `(filters,)`.
#
# Now compute the same output by hand, step by step, with the backend ops:

# %%
depthwise_kernel, pointwise_kernel, bias = (w.numpy() for w in layer.weights)

step1 = K.depthwise_conv2d(images, depthwise_kernel, padding="same")
print("after the depthwise step:", step1.shape, "(4 channels x depth multiplier 2)")

step2 = K.conv2d(step1, pointwise_kernel)   # a 1x1 convolution...
as_matmul = step1.numpy() @ pointwise_kernel[0, 0]   # ...is a matrix product at every pixel
print("after the pointwise step:", step2.shape,
      " 1x1 conv == matmul:", np.allclose(step2.numpy(), as_matmul, atol=1e-5))

by_hand = np.maximum(step2.numpy() + bias, 0.0)   # bias, then the relu activation
print("layer == depthwise, then pointwise, then bias and relu:",
      np.allclose(output.numpy(), by_hand, atol=1e-5))

# %% [markdown]
# ### Exercise 7.1: a separable convolution from its weights
#
# Write `separable_by_hand(images, depthwise_kernel, pointwise_kernel, bias)`: what a
# `SeparableConv2D` with `padding="valid"` and no activation computes, from its three weights.
# Use the backend ops above, or the numpy twins in `minikeras.kernels.reference`; return a
# numpy array.

# %%
def separable_by_hand(images, depthwise_kernel, pointwise_kernel, bias):
    """Depthwise, then pointwise, then bias ("valid" padding, no activation)."""
    ### BEGIN SOLUTION
    depthwise = K.depthwise_conv2d(images, depthwise_kernel).numpy()
    return depthwise @ pointwise_kernel[0, 0] + bias   # the 1x1 convolution is a matmul
    ### END SOLUTION


# %%
check_separable_by_hand(separable_by_hand)

# %% [markdown]
# The layer itself does not run two separate ops: it calls one fused op,
# `K.separable_conv2d`, which never stores the depthwise result in a separate tensor on the tape
# and computes both gradients in one backward. The numbers are the same:

# %%
fused = K.separable_conv2d(images, depthwise_kernel, pointwise_kernel, padding="same")
print("fused op == two steps:", np.allclose(fused.numpy(), step2.numpy(), atol=1e-5))

# %% [markdown]
# ## Parameters: a table
#
# For a `k x k` window, `C` input channels, depth multiplier `dm` and `F` filters (with biases):
#
# | layer | weights |
# |---|---|
# | `Conv2D` | $k^2 C F + F$ (the kernel `(k, k, C, F)` and the bias) |
# | `SeparableConv2D` | your turn |
#
# ### Exercise 7.2: count a separable convolution's weights
#
# From the shapes of its three weights (printed at the top of this notebook), write
# `separable_params(k, c, f, dm)`. The check compares it with `count_params()` of real layers.

# %%
def separable_params(k, c, f, dm=1):
    """Number of weights of SeparableConv2D(f, k, depth_multiplier=dm) on c input channels."""
    ### BEGIN SOLUTION
    return k * k * c * dm + c * dm * f + f   # depthwise kernel + pointwise kernel + bias
    ### END SOLUTION


# %%
check_separable_params(separable_params)

# %% [markdown]
# Let the layers count for themselves (`count_params()`) in a table:

# %%
def conv_params(k, c, f):
    return k * k * c * f + f


print(f"{'k':>2} {'in':>4} {'filters':>7} | {'Conv2D':>9} {'Separable':>10} | {'ratio':>6}")
for k, c, f in [(3, 3, 16), (3, 16, 32), (3, 64, 128), (3, 256, 256), (5, 64, 128)]:
    inputs = Input((16, 16, c))
    conv = Conv2D(f, k)
    separable = SeparableConv2D(f, k)
    conv(inputs)          # calling on a symbolic Input builds the weights
    separable(inputs)
    assert conv.count_params() == conv_params(k, c, f)
    ratio = conv.count_params() / separable.count_params()
    print(f"{k:>2} {c:>4} {f:>7} | {conv.count_params():>9,} {separable.count_params():>10,} "
          f"| {ratio:>5.1f}x")

# %% [markdown]
# ## Multiply-adds: a plot
#
# The work per output pixel follows the same pattern (ignoring the bias): a standard convolution
# does $k^2 C F$ multiply-adds, a separable one $k^2 C\,dm + C\,dm\,F$. With $dm = 1$ the ratio is
#
# $$ \frac{\text{separable}}{\text{standard}} = \frac{1}{F} + \frac{1}{k^2}, $$
#
# so for many filters a 3x3 separable convolution costs about 1/9 of a standard one, and a 5x5
# about 1/25: the depthwise step is nearly free and the pointwise step dominates.

# %%
filters = np.array([8, 16, 32, 64, 128, 256, 512])
fig, ax = plt.subplots(figsize=(6, 3.5))
for k in (3, 5, 7):
    ratio = (k * k * 64 + 64 * filters) / (k * k * 64 * filters)
    ax.plot(filters, ratio, "o-", label=f"{k}x{k} window")
    ax.axhline(1 / (k * k), ls=":", color=ax.lines[-1].get_color())
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_yticks([0.02, 0.05, 0.1, 0.2], labels=["2%", "5%", "10%", "20%"])
ax.yaxis.set_minor_formatter(NullFormatter())
ax.set_xticks(filters, labels=[str(f) for f in filters])
ax.set_xlabel("filters F (64 input channels)")
ax.set_ylabel("separable / standard multiply-adds")
ax.set_title("Cost of a separable convolution relative to Conv2D (dotted: 1/k²)")
ax.legend()
ax.grid(alpha=0.3, which="both")
plt.show()

# %% [markdown]
# The price is expressiveness: a separable convolution can only represent kernels that factor
# into "filter each channel, then mix". In practice networks built from them (MobileNet,
# Xception) reach nearly the same accuracy with far fewer weights; notebook 8 trains one.
#
# ## The output shape rules
#
# Along each spatial axis, with input length $n$, window $k$, stride $s$ and dilation $d$ (the
# dilated window spans $k_d = k + (k - 1)(d - 1)$ pixels), Keras defines:
#
# * `padding="valid"`: windows only where they fit, $\;n_\text{out} = \lceil (n - k_d + 1) / s
#   \rceil$;
# * `padding="same"`: pad with zeros so that $\;n_\text{out} = \lceil n / s \rceil$. The padding
#   needed, $(n_\text{out} - 1)s + k_d - n$, is split in half, the odd pixel going **after**
#   (TensorFlow's convention).
#
# The library's `conv_output_length` is that rule; here it is against what the layer reports
# (`compute_output_shape`) and what a real call produces:

# %%
print(f"{'n':>3} {'k':>2} {'s':>2} {'d':>2} {'padding':>8} | {'formula':>7} {'layer':>5} "
      f"{'call':>4} | pads")
for n, k, s, d, padding in [(8, 3, 1, 1, "valid"), (8, 3, 1, 1, "same"), (8, 3, 2, 1, "valid"),
                            (8, 3, 2, 1, "same"), (7, 3, 2, 1, "same"), (7, 5, 3, 1, "valid"),
                            (9, 3, 1, 2, "valid"), (9, 3, 1, 2, "same")]:
    formula = conv_output_length(n, k, padding, s, d)
    layer = SeparableConv2D(2, k, strides=s, dilation_rate=d, padding=padding)
    declared = layer.compute_output_shape((None, n, n, 1))[1]
    actual = layer(np.zeros((1, n, n, 1), dtype=np.float32)).shape[1]
    pads = explicit_pads(padding, (n, n), (k, k), (s, s), (d, d))[0]
    print(f"{n:>3} {k:>2} {s:>2} {d:>2} {padding:>8} | {formula:>7} {declared:>5} {actual:>4} "
          f"| {pads}")

# %% [markdown]
# ### Exercise 7.3: the output length rule
#
# Write `output_length(n, k, padding, stride, dilation)` from the two rules above, without
# `conv_output_length`. The check tries 200-odd cases.

# %%
def output_length(n, k, padding, stride, dilation=1):
    """Output length along one axis for "valid" or "same" padding."""
    ### BEGIN SOLUTION
    if padding == "same":
        return -(-n // stride)                       # ceil(n / stride)
    span = k + (k - 1) * (dilation - 1)              # the dilated window
    return -(-(n - span + 1) // stride)              # ceil((n - span + 1) / stride)
    ### END SOLUTION


# %%
check_conv_output_length(output_length)

# %% [markdown]
# ### Exercise 7.4: the "same" padding
#
# Write `same_padding(n, k, stride, dilation)` returning `(before, after)`: the total padding
# the last window needs beyond the input (never negative), split in half with the odd pixel
# after.

# %%
def same_padding(n, k, stride, dilation=1):
    """(before, after) zero padding for padding="same" along one axis."""
    ### BEGIN SOLUTION
    out = -(-n // stride)
    span = k + (k - 1) * (dilation - 1)
    total = max((out - 1) * stride + span - n, 0)
    return total // 2, total - total // 2
    ### END SOLUTION


# %%
check_same_pads(same_padding)

# %% [markdown]
# A picture makes the rule concrete. Each row below is one output pixel; the shaded cells are
# the input pixels its window reads (grey cells are zero padding). Input length 7, a 3-wide window
# and stride 2:

# %%
def draw_windows(ax, n, k, s, padding):
    before, after = explicit_pads(padding, (n, n), (k, k), (s, s))[0]
    out = conv_output_length(n, k, padding, s)
    for i in range(out):
        for p in range(-before, n + after):
            start = i * s - before
            inside = start <= p < start + k
            pad = p < 0 or p >= n
            colour = ("tab:blue" if inside and not pad else "lightgrey" if inside
                      else "whitesmoke" if pad else "white")
            ax.add_patch(plt.Rectangle((p, -i), 0.9, 0.9, color=colour, ec="grey"))
    ax.set_xlim(-before - 0.2, n + after + 0.1)
    ax.set_ylim(-out + 0.8, 1.1)
    ax.set_title(f'padding="{padding}": {out} outputs, pads {(before, after)}')
    ax.set_xticks([p + 0.45 for p in range(n)], labels=[str(p) for p in range(n)])
    ax.set_yticks([])
    ax.set_xlabel("input pixel")


fig, axes = plt.subplots(1, 2, figsize=(9, 2.6))
draw_windows(axes[0], 7, 3, 2, "valid")
draw_windows(axes[1], 7, 3, 2, "same")
plt.tight_layout()
plt.show()

# %% [markdown]
# When a `"valid"` window does not fit at all, the layer says so when it is called (here on a
# symbolic `Input`, before any data flows):

# %%
try:
    SeparableConv2D(4, 5)(Input((3, 3, 1)))
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## Batch normalisation folds in at inference
#
# In MobileNet and Xception a separable convolution is nearly always followed by a
# `BatchNormalization` and a ReLU. While training, the normalisation uses the batch's own mean
# and variance. At inference (`training=False`, and so `predict`) it uses its **moving**
# statistics instead, numbers fixed per channel:
#
# $$ y = \frac{x - \text{moving\_mean}}{\sqrt{\text{moving\_variance} + \epsilon}}\,\gamma
#    + \beta. $$
#
# Everything but $x$ is a constant of the channel, so this is an **affine map per channel**:
# $y = x \cdot \text{scale} + \text{shift}$, one multiply-add per number. The ReLU after it,
# $\max(y, 0)$, also looks at one number at a time. So both can be done by the convolution
# itself, on each block of its output while that block is still in cache. Run one by one, the
# normalisation reads the whole convolution output and writes a new array of the same size,
# then the ReLU reads that and writes another: folding them in saves **two passes over memory
# and two output-sized arrays**, and gives the same numbers.
#
# ### Exercise 7.5: fold a batch normalisation
#
# Write `fold_batch_norm(gamma, beta, moving_mean, moving_variance, epsilon)` returning
# `(scale, shift)`, two arrays with one number per channel, such that `x * scale + shift` is
# the layer's output at inference. The check takes the weights of several `BatchNormalization`
# layers with random weights and compares `x * scale + shift` with the layer's own
# `layer(x, training=False)`. A layer made with `center=False` has no `beta` (the check passes
# zeros) and one with `scale=False` no `gamma` (the check passes ones).

# %%
def fold_batch_norm(gamma, beta, moving_mean, moving_variance, epsilon):
    """(scale, shift) per channel: batch normalisation at inference is x * scale + shift."""
    ### BEGIN SOLUTION
    scale = gamma / np.sqrt(moving_variance + epsilon)
    shift = beta - moving_mean * scale   # (x - mean) * scale + beta, expanded
    return scale, shift
    ### END SOLUTION


# %%
check_fold_batch_norm(fold_batch_norm)

# %% [markdown]
# ### The library folds it for you
#
# A model does this by itself. Here is a small one, with the chain
# `SeparableConv2D -> BatchNormalization -> Activation("relu")`; its normalisation gets random
# moving statistics (as if it had been trained), so the fold has real work to do:

# %%
bn = BatchNormalization()
inputs = Input((8, 8, 3))
h = SeparableConv2D(16, 3, padding="same", use_bias=False)(inputs)
h = bn(h)
h = Activation("relu")(h)
h = GlobalAveragePooling2D()(h)
model = Model(inputs, Dense(10)(h))

gamma, beta = rng.uniform(0.5, 2.0, 16), rng.standard_normal(16)
moving_mean, moving_variance = rng.standard_normal(16), rng.uniform(0.1, 3.0, 16)
bn.set_weights([w.astype(np.float32) for w in (gamma, beta, moving_mean, moving_variance)])

# what the layer hands the convolution at inference: your fold, computed by the library
epilogue = bn.inference_epilogue(training=False)
print("scale == gamma / sqrt(moving_variance + epsilon):",
      np.allclose(epilogue.scale, gamma / np.sqrt(moving_variance + bn.epsilon), rtol=1e-6))

# %% [markdown]
# When its graph is built, the model looks for such chains and plans to run each as one step,
# a `FusedStep`:

# %%
plan = model._fused_plan
print("the steps predict runs:", [type(step).__name__ for step in plan])
fused = next(step for step in plan if isinstance(step, FusedStep))
print("the FusedStep runs as one call:", [type(s.layer).__name__ for s in fused.steps])

# %% [markdown]
# `predict` runs it as one op, `SeparableConv2D+BatchNorm+Relu`. `inference_fusion(False)`
# turns that off, so each layer runs on its own: the predictions are **bit for bit** the same,
# since both do the same arithmetic (one multiply-add per number, with the same scale and shift).

# %%
x = rng.standard_normal((64, 8, 8, 3)).astype(np.float32)
fused_predictions = model.predict(x)
with inference_fusion(False):
    one_by_one = model.predict(x)
print("bit-identical:", np.array_equal(fused_predictions, one_by_one))

# %% [markdown]
# Folding is for inference only. Under a `GradientTape` the layers run one by one again: the
# backward pass needs what each op saved (the normalisation's input, the ReLU's output), and
# the tape shows the three ops separately:

# %%
with GradientTape() as tape:
    model(x[:2])
print([record.op_name for record in tape.records])

# %% [markdown]
# What does it save? Timed on a larger batch, 512 images of 32x32x3 through 32 filters, the
# best of 5 `predict` calls each way. These times were measured on the machine that built this
# notebook; run the cell to measure yours.

# %%
def block_model(filters):
    inputs = Input((32, 32, 3))
    h = SeparableConv2D(filters, 3, padding="same", use_bias=False)(inputs)
    h = Activation("relu")(BatchNormalization()(h))
    return Model(inputs, Dense(10)(GlobalAveragePooling2D()(h)))


def best_time(model, images, repeats=5):
    model.predict(images, batch_size=len(images))            # compile and warm up first
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(images, batch_size=len(images))
        times.append(time.perf_counter() - start)
    return min(times)


big_model = block_model(32)
images = rng.standard_normal((512, 32, 32, 3)).astype(np.float32)
fused_time = best_time(big_model, images)
with inference_fusion(False):
    unfused_time = best_time(big_model, images)
print(f"fused: {fused_time * 1e3:.1f} ms, one by one: {unfused_time * 1e3:.1f} ms")

fig, ax = plt.subplots(figsize=(6, 2.2))
bars = ax.barh(["fused", "one by one"], [fused_time * 1e3, unfused_time * 1e3],
               color=["tab:green", "tab:grey"])
ax.bar_label(bars, fmt="%.1f ms", padding=3)
ax.invert_yaxis()
ax.set_xlim(0, unfused_time * 1e3 * 1.25)
ax.set_xlabel("predict time, best of 5 (ms)")
ax.set_title("512 images 32x32x3, SeparableConv2D(32) -> BN -> ReLU\n"
             "(measured on the machine that built this notebook)", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Summary
#
# * `SeparableConv2D` = depthwise convolution (`(kh, kw, in, dm)`), then a 1x1 pointwise
#   convolution (`(1, 1, in*dm, filters)`), then bias and activation; the library fuses them.
# * It needs about $1/F + 1/k^2$ of the weights and multiply-adds of a `Conv2D`.
# * Output length: `valid` $\lceil (n - k_d + 1)/s \rceil$, `same` $\lceil n/s \rceil$ with the
#   odd padding pixel after.
# * At inference a `BatchNormalization` is `x * scale + shift` per channel, with
#   `scale = gamma / sqrt(moving_variance + epsilon)` and `shift = beta - moving_mean * scale`.
#   `predict` folds it, and the ReLU after it, into the separable convolution: one op, two
#   passes over memory fewer, the same numbers. Under a tape the layers run one by one.
#
# **Going further** (no check): with `depth_multiplier=4`, when is a separable convolution
# *more* expensive than a standard one? Work it out with `separable_params`, then check with
# `count_params()`.
