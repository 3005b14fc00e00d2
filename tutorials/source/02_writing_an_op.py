# %% [markdown]
# # 2. Writing an op
#
# In the first notebook the tape recorded ops such as `Multiply` and `Tanh`, and each op turned
# the gradient of its output into gradients of its inputs. In this notebook you write such ops
# yourself. An op in minikeras is one class with two methods that sit side by side:
#
# * `forward(ctx, *arrays, **params)` computes the result from **numpy arrays**;
# * `backward(ctx, grad)` receives the gradient of the loss with respect to that result and
#   returns one gradient per input.
#
# That is the whole contract. The library's own ops (in `minikeras/autograd/ops/`) and its
# convolutions (in `minikeras/backend/conv.py`) are written exactly like the ones below.
#
# **Exercises.** Three exercises ask you to write an op's backward (once its forward too). Each
# is a code cell with a blank: replace `raise NotImplementedError()` with your code, run the
# cell, then run the check below it. The check runs your op's forward against numpy and its
# backward through `gradcheck`, on several inputs, and tells you what is wrong, or "not done
# yet".

# %%
import matplotlib.pyplot as plt
import numpy as np

from minikeras import GradientTape, Tensor, gradcheck
from minikeras.autograd import Function, GradcheckError
from minikeras.exercises import check_sigmoid_op, check_softclip_op, check_squared_difference_op
from minikeras.utils import set_random_seed

set_random_seed(0)
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## A first op: Swish
#
# Swish is the activation $f(x) = x\,\sigma(\beta x)$, where $\sigma$ is the logistic sigmoid.
# With $s = \sigma(\beta x)$ its derivative is
#
# $$ f'(x) = s + \beta x\, s (1 - s) = s\,\big(1 + \beta x (1 - s)\big). $$
#
# The forward pass computes $s$ anyway, so it **saves** what the backward pass will need on the
# context object `ctx`. `beta` is a keyword parameter: it is passed to `forward` but is not
# differentiated, and forward stores it on `ctx` like any other attribute.

# %%
class Swish(Function):
    """``x * sigmoid(beta * x)``."""

    def forward(self, ctx, x, beta=1.0):
        s = 1.0 / (1.0 + np.exp(-beta * x))
        ctx.save(x, s)          # arrays the backward pass needs
        ctx.beta = beta         # any other value: a plain attribute
        return x * s

    def backward(self, ctx, grad):
        x, s = ctx.saved
        return (grad * s * (1.0 + ctx.beta * x * (1.0 - s)),)   # one gradient per input


def swish(x, beta=1.0):
    """Swish activation: the public function users call."""
    return Swish.apply(x, beta=beta)

# %% [markdown]
# `Swish.apply(...)` does the bookkeeping: it unwraps tensors into arrays, calls `forward`, wraps
# the result into a new `Tensor` and, if a tape is recording and an input is watched, appends a
# record to the tape. Our op is now a first-class citizen:

# %%
x = Tensor(np.linspace(-4, 4, 9))
with GradientTape() as tape:
    tape.watch(x)
    y = swish(x, beta=1.5)
    total = y.sum()
print(tape)
print("y      =", y.numpy())
print("dy/dx  =", tape.gradient(total, x))

# %% [markdown]
# A picture of the function and of the derivative our backward computes:

# %%
xs = Tensor(np.linspace(-6, 6, 241))
fig, ax = plt.subplots(figsize=(6, 3.5))
for beta in (0.5, 1.0, 3.0):
    with GradientTape() as tape:
        tape.watch(xs)
        ys = swish(xs, beta=beta)
    dys = tape.gradient(ys, xs)   # a non-scalar target counts as the sum of its elements
    line, = ax.plot(xs.data, ys.data, label=f"swish, beta={beta}")
    ax.plot(xs.data, dys, "--", color=line.get_color(), alpha=0.7)
ax.set_title("Swish (solid) and its derivative from backward (dashed)")
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## One op or many?
#
# We could have written Swish with existing ops, `x * (beta * x).sigmoid()`. The tape then holds
# three records, keeps three sets of arrays alive, and runs three backward functions. A fused op
# is one record. Both are correct; the fused one is faster and uses less memory, which is why the
# library fuses its hot ops (for example `Dense`'s matmul-plus-bias and the softmax
# cross-entropy).

# %%
with GradientTape() as composed:
    composed.watch(x)
    y2 = x * (1.5 * x).sigmoid()
print(composed)
print("same values:", np.allclose(y2.numpy(), y.numpy()))

# %% [markdown]
# ## Checking the backward: `gradcheck`
#
# A backward function is easy to get subtly wrong, so every op in minikeras is tested against
# finite differences (notebook 1) with `gradcheck(func, inputs)`. It runs in float64 and has two
# modes:
#
# * `"full"` builds the whole Jacobian both ways, entry by entry: exact, for small inputs;
# * `"directional"` projects the output on a random vector and moves the input along a random
#   direction: one number to compare, cheap for big inputs.
#
# `"auto"` (the default) picks full for small problems.

# %%
rng = np.random.default_rng(0)
point = rng.standard_normal((3, 4))
print("full:       ", gradcheck(lambda t: swish(t, beta=1.5), [point], mode="full"))
print("directional:", gradcheck(lambda t: swish(t, beta=1.5), [rng.standard_normal((64, 64))],
                                mode="directional"))

# %% [markdown]
# ## Seeing gradcheck catch a wrong backward
#
# A check that never fails proves nothing. Here is a classic mistake: forgetting the chain rule
# through $\beta x$, i.e. dropping the factor $\beta$ in the second term.

# %%
class BuggySwish(Swish):
    """Swish whose backward forgets the factor beta (a deliberate bug)."""

    def backward(self, ctx, grad):
        x, s = ctx.saved
        return (grad * s * (1.0 + x * (1.0 - s)),)   # wrong unless beta == 1


try:
    gradcheck(lambda t: BuggySwish.apply(t, beta=1.5), [point])
except GradcheckError as err:
    print("GradcheckError:", err)

# %% [markdown]
# The message names the input, the worst entry, both values and the errors. Note that with
# `beta=1.0` the buggy op would *pass*: a gradient check only tests the points and parameters you
# give it, so test several.

# %%
print("beta=1 hides the bug:", gradcheck(lambda t: BuggySwish.apply(t, beta=1.0), [point]))

# %% [markdown]
# ### Exercise 2.1: the sigmoid's backward, from what forward saved
#
# The sigmoid $y = 1/(1 + e^{-x})$ has a derivative that needs only its *output*:
# $dy/dx = y\,(1 - y)$. So forward saves `y`, not `x`. Write the backward.

# %%
class Sigmoid(Function):
    """``1 / (1 + exp(-x))``."""

    def forward(self, ctx, x):
        y = 1.0 / (1.0 + np.exp(-x))
        ctx.save(y)
        return y

    def backward(self, ctx, grad):
        ### BEGIN SOLUTION
        (y,) = ctx.saved
        return (grad * y * (1.0 - y),)
        ### END SOLUTION


# %%
check_sigmoid_op(Sigmoid)

# %% [markdown]
# ### Exercise 2.2: an op with a parameter
#
# `Softclip` squashes values smoothly into $(-\ell, \ell)$: $f(x) = \ell \tanh(x / \ell)$, with
# the limit $\ell$ a keyword parameter (like Swish's `beta`). Its derivative is
# $f'(x) = 1 - \tanh^2(x/\ell)$. Save what the backward needs in forward, and write the
# backward. The check tries the limits 0.5, 1 and 3.

# %%
class Softclip(Function):
    """``limit * tanh(x / limit)``."""

    def forward(self, ctx, x, limit=1.0):
        ### BEGIN SOLUTION
        th = np.tanh(x / limit)
        ctx.save(th)
        return limit * th
        ### END SOLUTION

    def backward(self, ctx, grad):
        ### BEGIN SOLUTION
        (th,) = ctx.saved
        return (grad * (1.0 - th * th),)
        ### END SOLUTION


# %%
check_softclip_op(Softclip)

# %% [markdown]
# ## Two inputs and broadcasting
#
# Now a binary op, $h = \sqrt{a^2 + b^2}$ (`hypot`), with $\partial h/\partial a = a/h$ and
# $\partial h/\partial b = b/h$. Two things are new:
#
# * **`ctx.needs_input_grad`** says, for each input, whether anybody needs its gradient. Skipping
#   the ones nobody needs (return `None`) saves work: think of the input images of a network.
# * **Broadcasting.** numpy lets `a` of shape `(3, 4)` meet `b` of shape `(4,)`: `b` is used
#   once per row. Its gradient must therefore be the *sum* over the rows. You do not write that
#   sum: `backward` may return a gradient of the broadcast shape `(3, 4)`, and the tape reduces
#   it to each input's shape in one central place (`minikeras.autograd.tape.fit_gradient`),
#   which also checks that every gradient ends up with its input's shape.

# %%
class Hypot(Function):
    """``sqrt(a**2 + b**2)``, with numpy broadcasting."""

    def forward(self, ctx, a, b):
        h = np.sqrt(a * a + b * b)
        ctx.save(a, b, h)
        return h

    def backward(self, ctx, grad):
        a, b, h = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (grad * a / h if need_a else None,
                grad * b / h if need_b else None)


a = Tensor(rng.standard_normal((3, 4)))
b = Tensor(rng.standard_normal(4))
with GradientTape() as tape:
    tape.watch([a, b])
    h = Hypot.apply(a, b)
ga, gb = tape.gradient(h, [a, b])
print("h:", h.shape, " grad a:", ga.shape, " grad b:", gb.shape)
print("grad b equals the column sums of the broadcast gradient:",
      np.allclose(gb, (b.data / h.data).sum(axis=0)))

# %% [markdown]
# `gradcheck` checks both inputs at once, broadcasting included:

# %%
gradcheck(Hypot.apply, [rng.standard_normal((3, 4)), rng.standard_normal(4)])

# %% [markdown]
# ### Exercise 2.3: two inputs, with broadcasting
#
# Write `SquaredDifference`, $(a - b)^2$ elementwise, whose inputs may broadcast against each
# other (the check tries shapes `(3, 4)` with `(4,)`, `(2, 1)` with `(1, 3)`, and a scalar `b`).
# Return one gradient per input, skip the ones nobody needs, and let the tape sum the broadcast
# gradients back to each input's shape.

# %%
class SquaredDifference(Function):
    """``(a - b) ** 2``, with numpy broadcasting."""

    def forward(self, ctx, a, b):
        diff = a - b
        ctx.save(diff)
        return diff * diff

    def backward(self, ctx, grad):
        ### BEGIN SOLUTION
        (diff,) = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (2.0 * diff * grad if need_a else None,
                -2.0 * diff * grad if need_b else None)
        ### END SOLUTION


# %%
check_squared_difference_op(SquaredDifference)

# %% [markdown]
# If a backward returns a gradient whose shape cannot be reduced to its input's, the tape says
# which op did it rather than failing somewhere far away:

# %%
class BadShape(Function):
    """Returns a gradient of the wrong shape (a deliberate bug)."""

    def forward(self, ctx, a):
        return a.sum(axis=0)

    def backward(self, ctx, grad):
        return (grad,)   # should be broadcast back to the input's shape


v = Tensor(rng.standard_normal((3, 4)))
with GradientTape() as tape:
    tape.watch(v)
    out = BadShape.apply(v)
try:
    tape.gradient(out, v)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## Using the new op in a model
#
# A Keras layer's `activation` can be any function of tensors, so our `swish` plugs straight into
# the layers you will meet in notebook 5:

# %%
from minikeras.layers import Dense

layer = Dense(3, activation=swish)
print(layer(np.ones((2, 5))))

# %% [markdown]
# ## Summary
#
# * An op is a `Function` subclass: `forward` on arrays saves what `backward` needs on `ctx`;
#   `backward` returns one gradient per positional input (or `None`).
# * Keyword arguments to `apply` are non-differentiable parameters.
# * Return gradients of the broadcast shape; the tape sums them back to each input's shape.
# * Always check a new op with `gradcheck` in float64, at several points and parameters.
#
# **Going further** (no check): break your `Softclip` backward on purpose (drop a factor, flip
# a sign) and read what `check_softclip_op` and `gradcheck` say.
