# %% [markdown]
# # 10. Forward and reverse mode, and derivatives of derivatives
#
# Every gradient so far came from **reverse mode**: the tape records the ops, then one sweep
# backwards turns the gradient of a scalar loss into the gradient of every input at once. There
# is a second way, **forward mode**, that carries derivatives *along* with the values as the
# ops run, and the two have opposite costs. And because minikeras records the backward sweep
# itself when another tape is watching, a gradient can be differentiated again: second
# derivatives, Hessian-vector products, Newton's method.
#
# You will
#
# 1. build forward mode from scratch with **dual numbers**;
# 2. write the forward-mode rule (`jvp`) of an op, next to its `forward` and `backward`;
# 3. time a full Jacobian built by columns (forward) and by rows (reverse) as the sizes change;
# 4. differentiate a derivative, and look at the tape of a gradient;
# 5. compute Hessian-vector products, and take Newton steps with them.
#
# **Exercises.** Four exercises; after each, a check tests your answer and says what is wrong,
# or "not done yet".

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from minikeras import GradientTape, Tensor
from minikeras.autograd import (
    ForwardAccumulator,
    Function,
    grad,
    hessian,
    jacfwd,
    jacrev,
)
from minikeras.exercises import (
    check_dual_numbers,
    check_hvp,
    check_jvp_rule,
    check_newton_step,
)
from minikeras.utils import plot_tape

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## Dual numbers: forward mode in twenty lines
#
# Extend the numbers with a symbol $\varepsilon$ whose square is zero: a **dual number** is
# $a + a'\varepsilon$. Arithmetic then carries derivatives by itself. Take $f(x) = x^2$ at
# $x + \varepsilon$:
#
# $$ (x + \varepsilon)^2 = x^2 + 2x\,\varepsilon + \varepsilon^2 = x^2 + 2x\,\varepsilon, $$
#
# and the coefficient of $\varepsilon$ is $f'(x)$. In general $f(a + a'\varepsilon) = f(a) +
# f'(a)\,a'\,\varepsilon$: the **value** part is computed as usual and the **tangent** part
# $a'$ is pushed through each operation by its derivative (the chain rule). Start the input
# with tangent 1 and the output's tangent is $df/dx$; start it with tangent $v$ and you get
# $f'(x)\,v$, a *Jacobian-vector product*.
#
# ### Exercise 10.1: multiplication and sine of dual numbers
#
# Addition is written for you. Write `__mul__` (the product rule, with $\varepsilon^2 = 0$) and
# `sin`. The check differentiates $x^3 + 2x\sin x + 1$ with them.

# %%
class Dual:
    """A dual number ``value + dot·ε`` with ``ε² = 0``."""

    def __init__(self, value, dot=0.0):
        self.value, self.dot = value, dot

    @staticmethod
    def lift(other):
        """Plain numbers are constants: their tangent is 0."""
        return other if isinstance(other, Dual) else Dual(other, 0.0)

    def __add__(self, other):
        other = Dual.lift(other)
        return Dual(self.value + other.value, self.dot + other.dot)

    __radd__ = __add__

    def __mul__(self, other):
        other = Dual.lift(other)
        ### BEGIN SOLUTION
        return Dual(self.value * other.value, self.dot * other.value + self.value * other.dot)
        ### END SOLUTION

    __rmul__ = __mul__

    def sin(self):
        """sin(a + a'ε) = sin(a) + cos(a) a'ε."""
        ### BEGIN SOLUTION
        return Dual(np.sin(self.value), np.cos(self.value) * self.dot)
        ### END SOLUTION

    def __repr__(self):
        return f"Dual({self.value:.6g}, {self.dot:.6g})"


# %%
check_dual_numbers(Dual)

# %% [markdown]
# ## Forward mode in minikeras
#
# minikeras does the same for tensors. Inside a `ForwardAccumulator(primals, tangents)` every
# op computes, next to its output, the output's tangent, with a third method written beside
# `forward` and `backward`: `jvp(ctx, *tangents)`. No tape is needed, and nothing is kept for
# later: the derivative is ready as soon as the value is.

# %%
x = Tensor(np.array([0.5, -1.0, 2.0]))
v = np.array([1.0, 0.0, 0.0])                 # the direction: d/dx0
with ForwardAccumulator(x, v) as acc:
    y = (x * x).tanh().sum()
print("y          =", y.numpy())
print("d y / d x0 =", acc.jvp(y).numpy())

# the same number from the tape, which gives all three partial derivatives in one sweep
with GradientTape() as tape:
    tape.watch(x)
    y = (x * x).tanh().sum()
print("gradient   =", tape.gradient(y, x).numpy())

# %% [markdown]
# One forward pass gave one directional derivative, $J v$; one reverse sweep gave the whole
# gradient, $u^\top J$ for $u = 1$. That is the trade-off in one line:
#
# * forward mode: one pass per **input** direction (a column of the Jacobian);
# * reverse mode: one sweep per **output** component (a row of the Jacobian).
#
# Hence training uses reverse mode: millions of inputs (the weights), one output (the loss).
#
# ### Exercise 10.2: the forward-mode rule of an op
#
# Here is notebook 2's softclip, $f(x) = \ell \tanh(x / \ell)$, with its forward and backward.
# Write its `jvp`: given the input's tangent `tangent`, return the output's tangent. (Forward
# mode's chain rule is backward's, read the other way: $\dot y = f'(x)\,\dot x$.) The check
# compares your rule with finite differences and with the tape's reverse mode.

# %%
class Softclip(Function):
    """``limit * tanh(x / limit)``."""

    def forward(self, ctx, x, limit=3.0):
        t = np.tanh(x / limit)
        ctx.save(t)
        ctx.limit = limit
        return limit * t

    def jvp(self, ctx, tangent):
        (t,) = ctx.saved
        ### BEGIN SOLUTION
        return (1.0 - t * t) * tangent
        ### END SOLUTION

    def backward(self, ctx, grad):
        (t,) = ctx.saved
        return (grad * (1.0 - t * t),)


def softclip(x, limit=3.0):
    """Softclip, applied as a recorded op."""
    return Softclip.apply(x, limit=limit)


# %%
check_jvp_rule(softclip)

# %% [markdown]
# ## A whole Jacobian: by columns or by rows?
#
# For $f: \mathbb{R}^n \to \mathbb{R}^m$ the Jacobian is $m \times n$. `jacfwd(f)` builds it
# column by column (one forward pass per input), `jacrev(f)` row by row (one reverse sweep per
# output). Same matrix, different bills. Let us time both on $f(x) = \tanh(Wx)$ as $n$ and $m$
# change.

# %%
rng = np.random.default_rng(0)


def timed(jacobian_maker, n, m, repeat=3):
    """Best time of building the m x n Jacobian of tanh(W x)."""
    w = Tensor(rng.normal(size=(m, n)) / np.sqrt(n))
    f = lambda x: (w @ x).tanh()  # noqa: E731
    x = Tensor(rng.normal(size=n))
    jac = jacobian_maker(f)
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        jac(x)
        best = min(best, time.perf_counter() - start)
    return best


w = Tensor(rng.normal(size=(5, 3)))
f = lambda x: (w @ x).tanh()  # noqa: E731
x0 = Tensor(rng.normal(size=3))
print("jacfwd == jacrev:", np.allclose(jacfwd(f)(x0).numpy(), jacrev(f)(x0).numpy()))

sizes = [2, 8, 32, 96, 192]
fixed = 8
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
for ax, vary in zip(axes, ("inputs n", "outputs m")):
    fwd, rev = [], []
    for s in sizes:
        n, m = (s, fixed) if vary == "inputs n" else (fixed, s)
        fwd.append(timed(jacfwd, n, m) * 1e3)
        rev.append(timed(jacrev, n, m) * 1e3)
    ax.plot(sizes, fwd, "o-", label="jacfwd (by columns)")
    ax.plot(sizes, rev, "s-", label="jacrev (by rows)")
    ax.set_xlabel(f"number of {vary} (the other is {fixed})")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("time to build the Jacobian (ms)")
axes[0].legend()
fig.suptitle("Forward mode pays per input, reverse mode per output")
plt.tight_layout()
plt.show()

# %% [markdown]
# On the left the number of inputs grows: `jacfwd` needs one pass per input and slows down,
# while `jacrev` needs only 8 sweeps whatever $n$. On the right it is the other way round. (A
# reverse sweep costs a little more than a forward pass, since it also reads the tape.)
#
# ## Derivatives of derivatives
#
# When a tape computes a gradient while *another* tape is recording, the ops of the backward
# sweep are recorded on the outer tape like any others, so the gradient is itself a function
# that tape can differentiate. This is TensorFlow 2's rule; PyTorch's `create_graph=True` and
# JAX's `grad(grad(f))` do the same.

# %%
x = Tensor(np.array(2.0))
with GradientTape() as outer:
    outer.watch(x)
    with GradientTape() as inner:
        inner.watch(x)
        y = x * x * x
    dy = inner.gradient(y, x)          # 3 x² = 12, recorded on the outer tape
d2y = outer.gradient(dy, x)            # 6 x = 12
print("dy/dx   =", dy.numpy(), "  d2y/dx2 =", d2y.numpy())

# the transforms compose the same way: the third derivative of tanh at 0.5
d3 = grad(grad(grad(lambda t: t.tanh())))(Tensor(np.array(0.5)))
t = np.tanh(0.5)
print("tanh''' (0.5) =", d3.numpy(), "  by hand:", -2 * (1 - t * t) * (1 - 3 * t * t))

# %% [markdown]
# Here is what the outer tape recorded: the forward ops of $x^3$ (two multiplications), then
# the ops of the backward sweep that computed $dy/dx$. That second part is **the graph of the
# derivative**; differentiating it gives the second derivative.

# %%
x = Tensor(np.array(2.0))
with GradientTape(persistent=True) as outer:
    outer.watch(x)
    with GradientTape() as inner:
        inner.watch(x)
        y = x * x * x
    dy = inner.gradient(y, x)
print(outer)
plot_tape(outer)

# %% [markdown]
# ## Hessian-vector products
#
# The Hessian $H$ of a function of $n$ inputs has $n^2$ entries: too many for a big model. But
# many methods only need $H v$ for a vector $v$, and that costs about two gradients:
#
# $$ H v = \nabla_x \big( \nabla_x f(x) \cdot v \big). $$
#
# ### Exercise 10.3: a Hessian-vector product with two tapes
#
# Write `hvp(f, x, v)`: compute the gradient of `f` at `x` with an inner tape, take its dot
# product with `v` (a scalar), and differentiate that with the outer tape. The check compares
# with `hessian(f)(x) @ v` and with finite differences of gradients.

# %%
def hvp(f, x, v):
    """The Hessian of scalar f at x times v, without forming the Hessian."""
    ### BEGIN SOLUTION
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        g = inner.gradient(y, x)       # recorded on `outer`
        g_dot_v = (g * v).sum()
    return outer.gradient(g_dot_v, x)
    ### END SOLUTION


# %%
check_hvp(hvp)

# %% [markdown]
# ## Newton's method
#
# Gradient descent steps along $-\nabla f$ with a learning rate you must choose. Newton's
# method fits a quadratic to $f$ at $x$, using the Hessian, and jumps to that quadratic's
# minimum:
#
# $$ x \leftarrow x - H(x)^{-1}\, \nabla f(x). $$
#
# On a quadratic it lands on the minimum in one step, whatever the valley's shape; near a
# minimum of a smooth function it converges very fast (the error is squared at each step).
#
# ### Exercise 10.4: one Newton step
#
# Write `newton_step(f, x)` with `grad(f)(x)` and `hessian(f)(x)`; solve the linear system with
# `np.linalg.solve` rather than inverting $H$. Return the new point as a numpy array.

# %%
def newton_step(f, x):
    """x - H(x)^-1 grad f(x), as a numpy array."""
    ### BEGIN SOLUTION
    g = np.asarray(grad(f)(x))
    h = np.asarray(hessian(f)(x))
    return np.asarray(x) - np.linalg.solve(h, g)
    ### END SOLUTION


# %%
check_newton_step(newton_step)

# %% [markdown]
# Newton's method against gradient descent on a curved valley,
# $f(p) = (1 - p_0)^2 + 5\,(p_1 - p_0^2)^2$ (a gentle Rosenbrock function), minimum at
# $(1, 1)$. The Newton steps below use the library's `grad` and `hessian` directly, so this
# cell runs whether or not your exercise is done.

# %%
def valley(p):
    return (1.0 - p[0]) ** 2 + 5.0 * (p[1] - p[0] * p[0]) ** 2


def library_newton(f, p):
    return np.asarray(p) - np.linalg.solve(np.asarray(hessian(f)(p)), np.asarray(grad(f)(p)))


start = np.array([-1.2, 1.0])
paths = {"Newton": [start], "gradient descent (lr 0.02)": [start]}
for _ in range(8):
    paths["Newton"].append(library_newton(valley, Tensor(paths["Newton"][-1])))
p = start
for _ in range(400):
    p = p - 0.02 * np.asarray(grad(valley)(Tensor(p)))
    paths["gradient descent (lr 0.02)"].append(p)

g0, g1 = np.meshgrid(np.linspace(-1.6, 1.6, 200), np.linspace(-0.8, 2.0, 200))
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 4))
ax.contour(g0, g1, (1 - g0) ** 2 + 5 * (g1 - g0 ** 2) ** 2, levels=np.geomspace(0.01, 30, 14),
           cmap="Greys")
for name, path in paths.items():
    path = np.array(path)
    ax.plot(path[:, 0], path[:, 1], "o-" if name == "Newton" else "-", ms=4, label=name)
    ax2.semilogy([valley(Tensor(q)).numpy() + 1e-16 for q in path], label=name)
ax.plot([1], [1], "k*", ms=12)
ax.set_title("paths to the minimum (star)")
ax.legend(loc="lower left")
ax2.set_xscale("symlog")
ax2.set_xlabel("step")
ax2.set_ylabel("f")
ax2.set_title("loss per step")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Newton reaches the minimum to machine precision in eight steps; gradient descent, after 400,
# is still on its way along the valley floor. The price is the Hessian: $n^2$ entries and
# a linear solve, which is why deep learning uses first-order methods and, where curvature
# helps, Hessian-vector products (conjugate gradients, for instance) instead.
#
# ## What to remember
#
# * Forward mode pushes tangents through the ops with the computation (dual numbers; a `jvp`
#   method per op): one pass per input direction.
# * Reverse mode records the ops and sweeps back with gradients: one sweep per output, so one
#   sweep gives the whole gradient of a loss.
# * A gradient computed while another tape records is itself recorded: differentiate it again
#   for second derivatives, Hessian-vector products and Newton steps.
