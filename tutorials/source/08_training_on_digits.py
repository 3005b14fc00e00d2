# %% [markdown]
# # 6. Training a small model on the digits
#
# Everything so far comes together here: a functional model of separable convolutions
# (notebooks 5 and 7), trained with the tape (notebooks 1 and 2) on the handwritten digits that
# ship with minikeras. We will
#
# 1. look at the data;
# 2. build the model;
# 3. take **one training step by hand**, to see what `fit` does;
# 4. train with `fit`, and plot the loss and accuracy curves;
# 5. evaluate on the test set, and look at the **mistakes**.
#
# **Exercises.** Three exercises: a training step as a function, and two ways of reading the
# mistakes. Each is a code cell with a blank: replace `raise NotImplementedError()` with your
# code, run the cell, then run the check below it. The checks tell you what is wrong, or "not
# done yet"; the notebook uses your answers once they pass.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from minikeras import GradientTape, Input, Model
from minikeras.datasets import digits
from minikeras.exercises import (
    check_confusion_matrix,
    check_per_class_accuracy,
    check_train_step,
)
from minikeras.layers import Dense, Dropout, GlobalAveragePooling2D, SeparableConv2D
from minikeras.losses import sparse_categorical_crossentropy
from minikeras.optimizers import Adam
from minikeras.utils import plot_model, set_random_seed
from minikeras.utils.tape_plot import plot_tape

set_random_seed(0)   # weights, shuffling and dropout all draw from one seeded generator

# %% [markdown]
# ## The data
#
# The UCI digits are 1,797 scans of handwritten digits, 8x8 pixels with 17 grey levels, bundled
# with the library (nothing is downloaded). `load_data` shuffles them with a fixed seed and
# splits them 80/20; `normalize=True` scales the pixels to `[0, 1]`.

# %%
(x_train, y_train), (x_test, y_test) = digits.load_data(normalize=True)
x_train, x_test = x_train[..., None], x_test[..., None]   # add the channel axis: NHWC
print("train:", x_train.shape, x_train.dtype, " test:", x_test.shape)
print("images per class (train):", np.bincount(y_train))

fig, axes = plt.subplots(2, 10, figsize=(10, 2.4))
for ax, img, label in zip(axes.ravel(), x_train, y_train):
    ax.imshow(img[..., 0], cmap="gray_r")
    ax.set_title(str(label))
    ax.axis("off")
plt.suptitle("The first training images and their labels")
plt.show()

# %% [markdown]
# ## The model
#
# A small MobileNet-style network: three separable convolutions, the middle one strided to halve
# the resolution, global average pooling to one vector per image, dropout, and a softmax over
# the 10 classes. (The demo, `python -m minikeras.demo`, trains a bigger one with batch
# normalisation.)

# %%
inputs = Input(shape=(8, 8, 1), name="digit")
x = SeparableConv2D(16, 3, padding="same", activation="relu", name="sep1")(inputs)
x = SeparableConv2D(32, 3, strides=2, padding="same", activation="relu", name="sep2")(x)
x = SeparableConv2D(64, 3, padding="same", activation="relu", name="sep3")(x)
x = GlobalAveragePooling2D(name="pool")(x)
x = Dropout(0.2, name="dropout")(x)
outputs = Dense(10, activation="softmax", name="classes")(x)
model = Model(inputs, outputs, name="digits_net")
model.summary()
plot_model(model, to_file=None, show_shapes=True, rankdir="LR")

# %% [markdown]
# ## One training step by hand
#
# `fit` repeats one simple step. Let us take that step ourselves on a batch of 32 images:
#
# 1. open a tape and run the model on the batch with `training=True` (so dropout is active);
# 2. compute the loss: the mean cross-entropy between the predicted probabilities and the labels;
# 3. ask the tape for the gradient of the loss with respect to every trainable weight;
# 4. let the optimizer update the weights in place.

# %%
batch_x, batch_y = x_train[:32], y_train[:32]
optimizer = Adam(learning_rate=0.01)

with GradientTape() as tape:
    probabilities = model(batch_x, training=True)
    loss = sparse_categorical_crossentropy(batch_y, probabilities).mean()

ops = [record.op_name for record in tape.records]
print(f"the tape holds {len(ops)} ops:", ", ".join(dict.fromkeys(ops)))
print("loss before the step:", float(loss.data))
plot_tape(loss, tape=tape, rankdir="TB")   # before tape.gradient, which frees the records

# %%

grads = tape.gradient(loss, model.trainable_weights)
for weight, grad in list(zip(model.trainable_weights, grads))[:4]:
    print(f"  {weight.name:28s} grad norm {np.linalg.norm(grad):.4f}")
optimizer.apply_gradients(zip(grads, model.trainable_weights))

after = sparse_categorical_crossentropy(batch_y, model(batch_x, training=True)).mean()
print("loss after the step: ", float(after.data))

# %% [markdown]
# Notice that the tape contains ops, not layers: the layer graph was only a plan, and the model
# ran it by calling each layer on real arrays, each layer's ops being recorded as they ran. The
# drawing shows them: one fused `SeparableConv2D` op per layer (with the `Relu` its activation
# adds), the pooling `Mean`, dropout's `Multiply` by a random mask, the fused `Dense`, the
# `Softmax`, and the loss.
# (`fit` also adds the layers' regularisation losses, applies weight constraints and runs the
# layers' updates, such as batch normalisation's moving averages; our model has none of these.)
#
# ### Exercise 8.1: a training step as a function
#
# Package the step as `train_step(model, optimizer, x, y)`: it runs the model on a tape (in
# training mode), computes the mean cross-entropy, applies the gradients of **all** trainable
# weights with `optimizer`, and returns the loss (a number, computed before the update). The
# check runs three steps on a small model of its own and compares the weights with a step the
# library takes.

# %%
def train_step(model, optimizer, x, y):
    """One step of gradient descent on a batch; returns the loss before the step."""
    ### BEGIN SOLUTION
    with GradientTape() as tape:
        loss = sparse_categorical_crossentropy(y, model(x, training=True)).mean()
    grads = tape.gradient(loss, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))
    return float(loss.data)
    ### END SOLUTION


# %%
check_train_step(train_step)

# %% [markdown]
# ## Training with `fit`
#
# Rebuild the weights from scratch, so the curves start from the beginning, then `compile` (pick
# the optimizer, loss and metrics) and `fit`. `verbose=2` prints one line per epoch; the
# validation data is evaluated after every epoch.

# %%
set_random_seed(1)
model = Model.from_config(model.get_config())   # same architecture, fresh weights
model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
start = time.perf_counter()
history = model.fit(x_train, y_train, batch_size=32, epochs=10, verbose=2,
                    validation_data=(x_test, y_test))
print(f"trained in {time.perf_counter() - start:.1f} s")

# %% [markdown]
# `fit` returns a `History` whose `.history` dict has one list per metric, one entry per epoch:

# %%
h = history.history
epochs = np.arange(1, len(h["loss"]) + 1)
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
ax_loss.plot(epochs, h["loss"], "o-", label="training")
ax_loss.plot(epochs, h["val_loss"], "s-", label="validation")
ax_loss.set_title("loss (cross-entropy)")
ax_acc.plot(epochs, h["accuracy"], "o-", label="training")
ax_acc.plot(epochs, h["val_accuracy"], "s-", label="validation")
ax_acc.set_title("accuracy")
for ax in (ax_loss, ax_acc):
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend()
plt.show()

# %% [markdown]
# The training loss is measured *during* each epoch, with dropout on and the weights still
# moving, while the validation loss is measured at the end of the epoch with dropout off. That
# is why the validation curve can lie below the training one early on.
#
# ## Evaluating, and looking at the mistakes
#
# `evaluate` gives the loss and metrics on the test set; `predict` the probabilities.

# %%
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test loss {test_loss:.3f}, test accuracy {test_accuracy:.1%}")
probabilities = model.predict(x_test)
predicted = probabilities.argmax(axis=1)
print("mistakes:", int((predicted != y_test).sum()), "of", len(y_test))

# %% [markdown]
# A **confusion matrix** counts, for each true class (row), how often each class was predicted
# (column). The diagonal holds the correct answers; everything off the diagonal is a mistake, and
# tells *which* digits get confused.

# ### Exercise 8.2: the confusion matrix
#
# Write `confusion_matrix(y_true, y_pred, n_classes)`: an `(n, n)` array of counts with the
# true classes as rows and the predicted classes as columns. Careful: with numpy,
# `m[rows, cols] += 1` counts a repeated `(row, col)` pair only once.

# %%
def confusion_matrix(y_true, y_pred, n_classes):
    """Counts of (true class, predicted class) pairs."""
    ### BEGIN SOLUTION
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(confusion, (y_true, y_pred), 1)   # unbuffered: repeated pairs all count
    return confusion
    ### END SOLUTION


# %%
confusion_check = check_confusion_matrix(confusion_matrix)

# %% [markdown]
# The picture uses your function once it passes its check (until then, numpy's `histogram2d`
# counts the same pairs):

# %%
if confusion_check.passed:
    confusion = confusion_matrix(y_test, predicted, 10)
else:
    confusion = np.histogram2d(y_test, predicted, bins=10, range=[[0, 10], [0, 10]])[0]
    confusion = confusion.astype(int)

fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.imshow(confusion, cmap="Blues")
for i in range(10):
    for j in range(10):
        if confusion[i, j]:
            ax.text(j, i, confusion[i, j], ha="center", va="center",
                    color="white" if confusion[i, j] > confusion.max() / 2 else "black")
ax.set_xticks(range(10))
ax.set_yticks(range(10))
ax.set_xlabel("predicted")
ax.set_ylabel("true")
ax.set_title("Confusion matrix (test set)")
plt.show()

# %% [markdown]
# ### Exercise 8.3: which digits are hard?
#
# Write `per_class_accuracy(confusion)`: for each true class, the fraction of its images that
# the model got right.

# %%
def per_class_accuracy(confusion):
    """Right answers over all images, for each true class (row)."""
    ### BEGIN SOLUTION
    return np.diag(confusion) / confusion.sum(axis=1)
    ### END SOLUTION


# %%
if check_per_class_accuracy(per_class_accuracy):
    for digit, accuracy in enumerate(per_class_accuracy(confusion)):
        print(f"digit {digit}: {accuracy:.0%}", end="   " if digit % 5 < 4 else "\n")

# %% [markdown]
# And the mistakes themselves, most confident first. Each title reads
# `true -> predicted (confidence)`. Some are genuinely ambiguous at 8x8 pixels; others show what
# the model has not learned yet.

# %%
wrong = np.flatnonzero(predicted != y_test)
wrong = wrong[np.argsort(-probabilities[wrong].max(axis=1))][:12]
if len(wrong):
    fig, axes = plt.subplots(1, len(wrong), figsize=(1.2 * len(wrong), 1.8), squeeze=False)
    for ax, i in zip(axes[0], wrong):
        ax.imshow(x_test[i, ..., 0], cmap="gray_r")
        ax.set_title(f"{y_test[i]}->{predicted[i]} ({probabilities[i].max():.0%})", fontsize=8)
        ax.axis("off")
    plt.show()

# %% [markdown]
# Finally, how sure is the model when it is right and when it is wrong? A well-behaved classifier
# is mostly confident when right and less so when wrong.

# %%
confidence = probabilities.max(axis=1)
right = predicted == y_test
fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(confidence[right], bins=20, range=(0, 1), alpha=0.7, label="right")
ax.hist(confidence[~right], bins=20, range=(0, 1), alpha=0.7, label="wrong")
ax.set_xlabel("confidence (highest probability)")
ax.set_ylabel("test images")
ax.set_yscale("log")
ax.legend()
plt.show()

# %% [markdown]
# ## Summary
#
# * A training step is: tape open, model run with `training=True`, loss, `tape.gradient` with
#   respect to `model.trainable_weights`, `optimizer.apply_gradients`.
# * `compile` + `fit` repeat that step over shuffled batches and epochs and return a `History`.
# * The loss and accuracy curves, a confusion matrix and the mistakes themselves tell you far
#   more than one accuracy number.
#
# **Going further** (no check): replace the separable convolutions by `Conv2D` layers with the
# same filters. Compare `count_params()`, the time per epoch and the test accuracy.
