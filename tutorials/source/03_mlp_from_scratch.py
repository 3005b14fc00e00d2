# %% [markdown]
# # 3. An MLP from scratch
#
# Before any `Layer` or `Model`, let us train a real network on the handwritten digits with
# nothing but numpy and the chain rule, and then let the tape check our work. The network is a
# **multi-layer perceptron** (MLP) with one hidden layer:
#
# $$ z_1 = x W_1 + b_1, \qquad h = \max(z_1, 0), \qquad z = h W_2 + b_2,
#    \qquad p = \operatorname{softmax}(z), $$
#
# and the loss is the mean **cross-entropy** $L = -\frac1N \sum_n \log p_{n, y_n}$, where
# $y_n$ is the label of image $n$.
#
# You will
#
# 1. write a numerically safe softmax,
# 2. derive the gradient of the softmax cross-entropy, and write it,
# 3. write the whole backward pass of the MLP by hand and compare it with the tape's,
# 4. train the network with your backward pass.
#
# **Exercises.** Each exercise is a code cell with a blank: replace
# `raise NotImplementedError()` with your code, run the cell, then run the check below it. The
# check tests your answer on several inputs and tells you what is wrong, or "not done yet".

# %%
import matplotlib.pyplot as plt
import numpy as np

from minikeras import GradientTape, Tensor, Variable
from minikeras.activations import relu
from minikeras.datasets import digits
from minikeras.exercises import check_mlp_backward, check_softmax, check_softmax_cross_entropy_grad
from minikeras.losses import sparse_categorical_crossentropy

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## The data
#
# 1,797 digits of 8x8 pixels ship with minikeras. An MLP does not know that pixels have
# neighbours: we flatten each image into a vector of 64 numbers.

# %%
(x_train, y_train), (x_test, y_test) = digits.load_data(normalize=True)
x_train = x_train.reshape(len(x_train), -1).astype(np.float64)
x_test = x_test.reshape(len(x_test), -1).astype(np.float64)
print("train:", x_train.shape, " test:", x_test.shape, " classes:", np.unique(y_train))

# %% [markdown]
# ## Softmax, safely
#
# The softmax turns a row of scores ("logits") into probabilities:
# $\operatorname{softmax}(z)_i = e^{z_i} / \sum_j e^{z_j}$. Written literally, it fails on large
# logits: `np.exp(1000.0)` is `inf`, and `inf / inf` is `nan`. But adding the same number to
# every logit of a row multiplies numerator and denominator by the same factor, so the result
# does not change.
#
# ### Exercise 3.1: a softmax that never overflows
#
# Write `softmax(z)` for a `(batch, classes)` array, row by row, so that it works for logits
# as large as 1000.

# %%
def softmax(z):
    """Row-wise softmax of a (batch, classes) array."""
    ### BEGIN SOLUTION
    shifted = z - z.max(axis=1, keepdims=True)   # the largest logit of each row becomes 0
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)
    ### END SOLUTION


# %%
check_softmax(softmax)

# %% [markdown]
# ## The gradient of the softmax cross-entropy
#
# For one row with logits $z$, probabilities $p = \operatorname{softmax}(z)$ and label $y$, the
# loss is $\ell = -\log p_y = -z_y + \log \sum_j e^{z_j}$. Differentiate with respect to $z_i$:
#
# $$ \frac{\partial \ell}{\partial z_i} = -[i = y] + \frac{e^{z_i}}{\sum_j e^{z_j}}
#    = p_i - [i = y]. $$
#
# That is all: **probabilities minus the one-hot label**. The softmax's own Jacobian and the
# logarithm's $1/p$ cancel, which is why libraries fuse the two into one op (minikeras's
# `sparse_categorical_crossentropy(..., from_logits=True)`): it is simpler *and* more accurate.
# The loss of a batch is the mean of the rows' losses, so each row's gradient is divided by $N$.
#
# ### Exercise 3.2: the gradient of the mean cross-entropy
#
# Write `softmax_cross_entropy_grad(logits, labels)`, the gradient of the mean loss with respect
# to the logits. `labels` holds one integer class per row.

# %%
def softmax_cross_entropy_grad(logits, labels):
    """dL/dlogits for L = mean over rows of -log softmax(logits)[label]."""
    ### BEGIN SOLUTION
    n = len(labels)
    grad = softmax(logits)
    grad[np.arange(n), labels] -= 1.0   # minus the one-hot label
    return grad / n                     # the loss is a mean over the batch
    ### END SOLUTION


# %%
check_softmax_cross_entropy_grad(softmax_cross_entropy_grad)

# %% [markdown]
# The check compared your gradient with the one the tape computes through the library's fused
# loss. Here is that tape computation, for one small batch, so you can see the pattern
# "probabilities minus one-hot, over $N$" in the numbers:

# %%
logits = Tensor(rng.standard_normal((2, 4)))
labels = np.array([1, 3])
with GradientTape() as tape:
    tape.watch(logits)
    loss = sparse_categorical_crossentropy(labels, logits, from_logits=True).mean()
print("probabilities:\n", np.exp(logits.data) / np.exp(logits.data).sum(axis=1, keepdims=True))
print("tape's dL/dlogits:\n", tape.gradient(loss, logits))

# %% [markdown]
# ## The MLP's forward pass
#
# The parameters live in a dict of arrays. The forward pass returns the logits and a **cache**
# of what the backward pass will need, exactly like `ctx.save` in an op (notebook 2).

# %%
def init_params(n_in=64, n_hidden=32, n_out=10, seed=0):
    """Small random weights (He initialisation for the ReLU layer), zero biases."""
    r = np.random.default_rng(seed)
    return {"W1": r.standard_normal((n_in, n_hidden)) * np.sqrt(2.0 / n_in),
            "b1": np.zeros(n_hidden),
            "W2": r.standard_normal((n_hidden, n_out)) * np.sqrt(1.0 / n_hidden),
            "b2": np.zeros(n_out)}


def forward(params, x):
    """Logits of the MLP, and the cache (x, z1, h) for the backward pass."""
    z1 = x @ params["W1"] + params["b1"]
    h = np.maximum(z1, 0.0)
    logits = h @ params["W2"] + params["b2"]
    return logits, (x, z1, h)


params = init_params()
logits, cache = forward(params, x_train[:5])
print("logits:", logits.shape, " hidden:", cache[2].shape)

# %% [markdown]
# ## The backward pass, by hand
#
# Walk the forward pass backwards, one line at a time, as the tape does. Given
# $G = \partial L / \partial z$ (the gradient of the logits, shape `(batch, 10)`):
#
# * $z = h W_2 + b_2$: $\;\partial L/\partial W_2 = h^\top G$, $\;\partial L/\partial b_2 =
#   \sum_n G_n$ (the bias was added to every row), $\;\partial L/\partial h = G W_2^\top$;
# * $h = \max(z_1, 0)$: the gradient passes where $z_1 > 0$ and stops elsewhere;
# * $z_1 = x W_1 + b_1$: the same rule as the first line, with $x$ in place of $h$.
#
# Check each shape: a gradient always has the shape of the thing it is the gradient of.
#
# ### Exercise 3.3: the MLP's backward pass
#
# Write `mlp_backward(params, cache, grad_logits)`. It returns a dict with the gradients of
# `"W1"`, `"b1"`, `"W2"` and `"b2"`.

# %%
def mlp_backward(params, cache, grad_logits):
    """Gradients of the loss with respect to every parameter, from dL/dlogits."""
    x, z1, h = cache
    ### BEGIN SOLUTION
    grad_W2 = h.T @ grad_logits
    grad_b2 = grad_logits.sum(axis=0)
    grad_h = grad_logits @ params["W2"].T
    grad_z1 = grad_h * (z1 > 0)          # the ReLU lets the gradient through where it was open
    grad_W1 = x.T @ grad_z1
    grad_b1 = grad_z1.sum(axis=0)
    return {"W1": grad_W1, "b1": grad_b1, "W2": grad_W2, "b2": grad_b2}
    ### END SOLUTION


# %%
backward_check = check_mlp_backward(mlp_backward)

# %% [markdown]
# ## The same gradients from the tape
#
# The check compared your backward with this: the same forward pass written with tensor ops,
# recorded on a tape, and `tape.gradient`. Nothing about the network is hand-derived here:

# %%
def tape_gradients(params, x, y):
    """The loss and the gradients of every parameter, computed by the tape."""
    variables = {name: Variable(value) for name, value in params.items()}
    with GradientTape() as tape:
        h = relu(Tensor(x) @ variables["W1"] + variables["b1"])
        logits = h @ variables["W2"] + variables["b2"]
        loss = sparse_categorical_crossentropy(y, logits, from_logits=True).mean()
    grads = tape.gradient(loss, list(variables.values()))
    return float(loss.data), dict(zip(variables, grads))


def hand_gradients(params, x, y):
    """The loss and the gradients from your softmax, loss gradient and backward."""
    logits, cache = forward(params, x)
    p = softmax(logits)
    loss = -np.log(p[np.arange(len(y)), y]).mean()
    return float(loss), mlp_backward(params, cache, softmax_cross_entropy_grad(logits, y))


loss, grads = tape_gradients(params, x_train[:64], y_train[:64])
print(f"loss {loss:.4f}; gradient norms:",
      {name: round(float(np.linalg.norm(g)), 4) for name, g in grads.items()})

# %% [markdown]
# ## Training with your backward pass
#
# Plain gradient descent: compute the gradients on a batch, move every parameter a small step
# against its gradient, repeat. We train with **your** gradients once your backward passes its
# check (until then, with the tape's, so this notebook runs either way).

# %%
gradients = hand_gradients if backward_check.passed else tape_gradients
print("training with", gradients.__name__)

params = init_params()
learning_rate, batch_size = 0.5, 64
losses, accuracies = [], []
order = np.random.default_rng(1)
for _epoch in range(15):
    perm = order.permutation(len(x_train))
    for start in range(0, len(x_train), batch_size):
        idx = perm[start:start + batch_size]
        loss, grads = gradients(params, x_train[idx], y_train[idx])
        for name in params:
            params[name] -= learning_rate * grads[name]
        losses.append(loss)
    accuracies.append((forward(params, x_test)[0].argmax(axis=1) == y_test).mean())

fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.2))
ax_loss.plot(losses, lw=0.8)
ax_loss.set_xlabel("step")
ax_loss.set_title("training loss (one batch per step)")
ax_acc.plot(np.arange(1, len(accuracies) + 1), accuracies, "o-")
ax_acc.set_xlabel("epoch")
ax_acc.set_title("test accuracy")
for ax in (ax_loss, ax_acc):
    ax.grid(alpha=0.3)
plt.show()
print(f"test accuracy after {len(accuracies)} epochs: {accuracies[-1]:.1%}")

# %% [markdown]
# About 96% of test digits right, from 2,410 numbers and a page of numpy. The first-layer
# weights are 32 little 8x8 images: what each hidden unit looks for.

# %%
fig, axes = plt.subplots(2, 16, figsize=(12, 1.8))
for ax, w in zip(axes.ravel(), params["W1"].T):
    ax.imshow(w.reshape(8, 8), cmap="RdBu")
    ax.axis("off")
plt.suptitle("What the 32 hidden units respond to (red: negative, blue: positive weight)")
plt.show()

# %% [markdown]
# ## Summary
#
# * Subtract each row's maximum before `exp`: the softmax is unchanged and cannot overflow.
# * The gradient of the mean softmax cross-entropy is $(p - \text{one-hot}(y)) / N$.
# * A backward pass walks the forward pass in reverse; each line's gradient has the shape of
#   the thing it is the gradient of, and a bias's gradient is summed over the batch.
# * The tape computes the same numbers with no derivation at all: notebooks 5 and 8 let
#   `Dense` layers and `fit` do all of this for us.
