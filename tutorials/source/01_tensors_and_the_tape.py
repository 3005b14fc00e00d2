# %% [markdown]
# # 1. Tensors and the tape
#
# Every deep-learning library answers one question again and again: *if I nudge this weight,
# how much does the loss change?* That number is the gradient, and minikeras computes it the way
# TensorFlow 2 and PyTorch do: by **recording** the operations as they run, on a *tape*, and then
# **playing the tape backwards**.
#
# In this notebook you will
#
# 1. make tensors and compute with them,
# 2. record a small computation on a `GradientTape`, print it and draw it,
# 3. step through the reverse sweep one operation at a time, checking each step by hand,
# 4. check the final gradient against finite differences.
#
# Nothing here is hidden: the tape is a Python list of records, and the reverse sweep is a loop.
#
# **Exercises.** Three exercises ask you to write a few lines. Each is a code cell with a blank:
# replace `raise NotImplementedError()` with your code, run the cell, then run the check below
# it. The check tests your answer on several inputs and tells you what is wrong, or "not done
# yet".

# %%
import matplotlib.pyplot as plt
import numpy as np

from minikeras import GradientTape, Tensor, Variable, no_grad
from minikeras.exercises import (
    check_central_difference,
    check_neuron_gradients,
    check_neuron_loss,
)
from minikeras.utils import set_random_seed
from minikeras.utils.tape_plot import plot_tape

set_random_seed(0)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## Tensors
#
# A `Tensor` is a numpy array with a name tag and a place on the tape. The array itself is
# always at hand as `.data` (or `.numpy()`); nothing is copied or hidden.
#
# A `Variable` is a tensor that is meant to *change*: the weights of a model. Trainable variables
# are what we usually want gradients for, so a tape watches them automatically.

# %%
x = Tensor(np.array([1.0, 2.0, 3.0]), name="x")   # an input: data, not a parameter
w = Variable(np.array([0.5, -1.0, 0.25]), name="w")  # weights
b = Variable(np.array(0.1), name="b")               # a bias (a 0-d array, shape ())
t = 0.5                                             # the target we want the neuron to output

print(x)
print(w)
print("dtype:", w.dtype, " shape:", w.shape, " the array:", w.data)

# %% [markdown]
# Python lists and floats become `float32` (the usual dtype of deep learning); numpy arrays keep
# their dtype. We use `float64` arrays in this notebook so that finite differences, at the end,
# are accurate to many digits.
#
# Arithmetic on tensors gives tensors. Each result remembers the *name of the op* that made it,
# but not its inputs: the *tape* keeps that.

# %%
z = w * x
print(z, "made by", z.op_name)

# %% [markdown]
# ## Recording a computation
#
# Here is a single neuron and its squared error:
#
# $$ y = \tanh\Big(\sum_i w_i x_i + b\Big), \qquad L = (y - t)^2 . $$
#
# Inside `with GradientTape() as tape:` every op that reads a *watched* tensor is appended to the
# tape. `w` and `b` are trainable variables, so they are watched as soon as an op reads them, and
# every result computed from them is watched in turn. `persistent=True` lets us use the tape more
# than once (a normal tape frees its memory after its first gradient).

# %%
with GradientTape(persistent=True) as tape:
    s = (w * x).sum() + b
    y = s.tanh()
    loss = (y - t) ** 2

print(tape)

# %% [markdown]
# Read the listing line by line. `[i]` is the op's place on the tape; `%n` is a tensor's
# identity number (`tensor.uid`), and `[3]` or `[]` its shape (`[]` is a scalar). Named tensors
# (our variables and `x`) appear by name; a plain number such as `t` appears as a constant.
#
# Each record is a small object you can inspect:

# %%
for record in tape.records:
    print(f"{record.op_name:9s} inputs {record.input_shapes}  ->  output {record.output_shape}")

# %% [markdown]
# ### Exercise 1.1: a computation the tape can record
#
# Write the neuron's loss as a function of `w`, `b`, `x` and `t`. Use the tensors' own
# operations (`*`, `.sum()`, `+`, `.tanh()`, `-`, `** 2`): the check records your function on a
# tape and asks the tape for the gradients of `w` and `b`, which only works if every step was
# an op on tensors.

# %%
def neuron_loss(w, b, x, t):
    """(tanh(sum(w * x) + b) - t) ** 2, as a Tensor recorded on the tape."""
    ### BEGIN SOLUTION
    return (((w * x).sum() + b).tanh() - t) ** 2
    ### END SOLUTION


# %%
check_neuron_loss(neuron_loss)

# %% [markdown]
# ## Drawing the tape
#
# The same records as a graph: ovals are ops, numbered by their place on the tape; boxes are
# tensors. Leaves, where the computation starts, are shaded: trainable variables blue, other
# tensors yellow. `show_values=True` prints a summary of every value.

# %%
plot_tape(tape, show_values=True)

# %% [markdown]
# ## The reverse sweep, one step at a time
#
# The chain rule says: to get $\partial L/\partial w$, start from $\partial L/\partial L = 1$ and
# walk the ops **backwards**; each op turns the gradient of its output into gradients of its
# inputs, using only its own little derivative. Gradients that reach the same tensor along
# different paths are **added**.
#
# `tape.step_backward(loss)` runs exactly the loop that `tape.gradient` runs, but pauses after
# each op and shows every gradient known so far, keyed by tensor uid (the `%n` of the listing).
# We print only the gradients each step adds, with our own names for the tensors we know:

# %%
names = {x.uid: "x", w.uid: "w", b.uid: "b", s.uid: "s", y.uid: "y", loss.uid: "loss"}
steps = []
seen = {loss.uid}
for record, grads in tape.step_backward(loss):
    steps.append(dict(grads))
    new = {names.get(uid, f"%{uid}"): np.round(g, 4) for uid, g in grads.items()
           if uid not in seen}
    seen.update(grads)
    print(f"{record!r:32s} gives  {new}")

# %% [markdown]
# Walk through it with pencil and paper (the numbers are the ones printed above):
#
# * **Square** ($L = d^2$ with $d = y - t$; minikeras records `** 2` as a `Square`) gives
#   $\partial L/\partial d = 2d$.
# * **Subtract** passes it on unchanged to $y$ (the constant $t$ needs no gradient).
# * **Tanh** multiplies by $1 - y^2$.
# * **Add** passes the same gradient to both of its inputs, the sum and $b$.
# * **Sum** copies its gradient to every element of $w \odot x$.
# * **Multiply** gives $w$ the gradient times $x$ (and would give $x$ the gradient times $w$, but
#   nobody watches `x`, so that half is skipped).
#
# Let us check two of these steps by hand:

# %%
d = y.data - t
g_y = 2 * d
g_s = g_y * (1 - y.data ** 2)
print("dL/dy by hand:", g_y, "  from the sweep:", steps[-1][y.uid])
print("dL/ds by hand:", g_s, "  from the sweep:", steps[-1][s.uid])
print("dL/dw by hand:", g_s * x.data, "  from the sweep:", steps[-1][w.uid])

# %% [markdown]
# ### Exercise 1.2: the whole reverse sweep, by hand
#
# Now do every step yourself, with numpy only: from $L$ back to $w$ and $b$. Write
# `neuron_grads(w, b, x, t)` returning $(\partial L/\partial w, \partial L/\partial b)$ for numpy
# arrays `w`, `x` and numbers `b`, `t`. The check compares your answer with the tape's on five
# different neurons.

# %%
def neuron_grads(w, b, x, t):
    """(dL/dw, dL/db) for L = (tanh(sum(w * x) + b) - t) ** 2, with numpy."""
    ### BEGIN SOLUTION
    y = np.tanh(np.sum(w * x) + b)
    grad_s = 2 * (y - t) * (1 - y ** 2)   # Square, Subtract, then Tanh
    return grad_s * x, grad_s             # Add passes grad_s to b; Sum and Multiply give w
    ### END SOLUTION


# %%
check_neuron_gradients(neuron_grads)

# %% [markdown]
# The drawing can freeze the sweep at any step: `grads=` takes the dictionary a step yields. Here
# is the tape halfway back, after the `Tanh` step. The gradients have reached `s` (the tanh's
# input) but not yet `b` or `w`:

# %%
halfway = next(i for i, (record, _) in enumerate(tape.step_backward(loss))
               if record.op_name == "Tanh")
plot_tape(tape, show_values=True, grads=steps[halfway])

# %% [markdown]
# `tape.gradient` runs the same sweep in one go and returns only what we ask for. The order of
# the results follows the order of the sources:

# %%
grad_w, grad_b = tape.gradient(loss, [w, b])
print("dL/dw =", grad_w)
print("dL/db =", grad_b)

# %% [markdown]
# The drawing can show the gradients too. They are computed on the side, so the tape is not used
# up by drawing it:

# %%
plot_tape(tape, show_values=True, show_grads=True)

# %% [markdown]
# ## Checking a gradient by finite differences
#
# A gradient is a derivative, and a derivative can be estimated without any calculus: move one
# input a tiny step $\varepsilon$ each way and look at the change,
#
# $$ \frac{\partial L}{\partial w_i} \approx
#    \frac{L(w + \varepsilon e_i) - L(w - \varepsilon e_i)}{2\varepsilon}. $$
#
# This *central difference* is slow (two evaluations per input element) but independent of the
# tape, which makes it the referee for every backward function. We do not need gradients while
# we evaluate, so we switch recording off with `no_grad()`.

# %%
def loss_at(w_values: np.ndarray) -> float:
    """The loss for given weights, computed without recording anything."""
    with no_grad():
        s = (Tensor(w_values) * x).sum() + b
        return float(((s.tanh() - t) ** 2).data)


eps = 1e-6
numeric = np.zeros_like(w.data)
for i in range(w.data.size):
    step = np.zeros_like(w.data)
    step[i] = eps
    numeric[i] = (loss_at(w.data + step) - loss_at(w.data - step)) / (2 * eps)

print("tape:     ", grad_w)
print("numerical:", numeric)
print("largest difference:", np.abs(grad_w - numeric).max())

# %% [markdown]
# They agree to about ten digits. Why not pick $\varepsilon$ as small as possible? Two errors
# pull in opposite directions: a big step sees the curvature of the function (error $\propto
# \varepsilon^2$), a tiny step loses digits to rounding (error $\propto 1/\varepsilon$). The
# best step for float64 is around $10^{-5}$ to $10^{-6}$:

# %%
epsilons = np.logspace(-12, -1, 23)
errors = []
for e in epsilons:
    step = np.zeros_like(w.data)
    step[0] = e
    estimate = (loss_at(w.data + step) - loss_at(w.data - step)) / (2 * e)
    errors.append(abs(estimate - grad_w[0]) + 1e-18)

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.loglog(epsilons, errors, "o-")
ax.set_xlabel("step $\\varepsilon$")
ax.set_ylabel("|numerical - tape|")
ax.set_title("Central differences: rounding (left) vs truncation (right)")
ax.grid(True, which="both", alpha=0.3)
plt.show()

# %% [markdown]
# ### Exercise 1.3: central differences for any function
#
# Turn the loop above into a function: `numerical_gradient(f, x, eps)` returns the gradient of
# a function `f` (from a float64 array to a number) at `x`, by central differences, one entry
# of `x` at a time. Leave `x` as you found it. The check tries it on four functions whose
# gradients are known exactly.

# %%
def numerical_gradient(f, x, eps=1e-6):
    """The gradient of f at x by central differences (an array of x's shape)."""
    ### BEGIN SOLUTION
    grad = np.zeros_like(x)
    flat, flat_grad = x.reshape(-1), grad.reshape(-1)   # views: writing them writes x, grad
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old                                     # put x back as it was
        flat_grad[i] = (up - down) / (2 * eps)
    return grad
    ### END SOLUTION


# %%
check_central_difference(numerical_gradient)

# %% [markdown]
# minikeras packages this check as `gradcheck`, which you will meet properly in the next
# notebook. It takes a function of tensors and the point at which to check it:

# %%
from minikeras import gradcheck

gradcheck(lambda w_: ((((w_ * x).sum() + b).tanh() - t) ** 2), [w.data])

# %% [markdown]
# ## What the tape frees, and when
#
# Ops keep some arrays for their backward pass (`Multiply` keeps both inputs, `Tanh` its output).
# A normal (non-persistent) tape frees them during its one and only `gradient` call, so training
# loops do not hold on to memory. Asking again is an error that says what to do:

# %%
with GradientTape() as once:
    out = (w * x).sum()
print(once.gradient(out, w))
try:
    once.gradient(out, w)
except RuntimeError as err:
    print("RuntimeError:", err)

# %% [markdown]
# Two more switches you will see in the library: `with no_grad():` records nothing at all
# (used for evaluation), and `with tape.stop_recording():` pauses one tape.
#
# ## Summary
#
# * A `Tensor` is a numpy array; a `Variable` is a tensor you train.
# * A `GradientTape` records every op on watched tensors, in order: `print(tape)`,
#   `tape.records`, `plot_tape(tape)`.
# * The reverse sweep walks the records backwards, each op turning its output gradient into
#   input gradients; gradients meeting at a tensor add up. `tape.step_backward` shows each step.
# * Finite differences check any gradient without trusting the tape.
#
# **Going further** (no check): use `x` twice, e.g.
# `loss = ((w * x).sum() * (w * x).sum())`, and watch in the step-by-step sweep how the two
# paths' gradients are added at `w`.
