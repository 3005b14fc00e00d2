# %% [markdown]
# # 4. Optimisers
#
# Notebook 3 trained with the simplest rule there is: $p \leftarrow p - \eta\, g$, a step
# against the gradient $g$ with a **learning rate** $\eta$. Every optimiser in
# `minikeras.optimizers` is a refinement of that rule, and the differences are easiest to see
# on a loss with only two parameters, where we can draw the whole landscape and the path each
# optimiser takes across it.
#
# You will
#
# 1. see what the learning rate does, and compute the largest one that still converges;
# 2. write one step of SGD with momentum, RMSprop and Adam, checked against the library's;
# 3. race the four optimisers across a 2-D loss surface.

# %%
import matplotlib.pyplot as plt
import numpy as np

from minikeras import GradientTape, Tensor, Variable
from minikeras.exercises import (
    check_adam_step,
    check_max_stable_learning_rate,
    check_rmsprop_step,
    check_sgd_momentum_step,
)
from minikeras.optimizers import SGD, Adam, RMSprop

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## A loss surface in two dimensions
#
# A long, narrow valley is the classic difficulty: the loss is steep across the valley and
# nearly flat along it. Here is one, $L(p) = \tfrac12 p^\top A p$ with a tilted $A$; the minimum
# is at the origin. The loss is computed with tensor ops, so the tape gives its gradient.

# %%
A = np.array([[4.0, 1.8], [1.8, 1.0]])
START = np.array([1.5, -2.0])


def loss_fn(p):
    """0.5 p.A.p for a Variable p of shape (2,)."""
    return 0.5 * (p * (Tensor(A) @ p)).sum()


def path_of(optimizer, steps=60, start=START):
    """Run the optimizer from start; return the points it visited and the losses."""
    p = Variable(start.copy())
    points, losses = [p.numpy().copy()], []
    for _ in range(steps):
        with GradientTape() as tape:
            loss = loss_fn(p)
        optimizer.apply_gradients([(tape.gradient(loss, p), p)])
        points.append(p.numpy().copy())
        losses.append(float(loss.data))
    return np.array(points), np.array(losses)


def draw_surface(ax):
    """Contours of the loss, on a log scale of levels."""
    u, v = np.meshgrid(np.linspace(-1.0, 2.0, 200), np.linspace(-2.6, 1.0, 200))
    z = 0.5 * (A[0, 0] * u * u + 2 * A[0, 1] * u * v + A[1, 1] * v * v)
    ax.contour(u, v, z, levels=np.logspace(-2.5, 1.3, 14), cmap="Greys", linewidths=0.7)
    ax.plot(0, 0, "k*", ms=10)
    ax.set_aspect("equal")


print("curvatures along the valley's axes (eigenvalues of A):", np.linalg.eigvalsh(A))

# %% [markdown]
# ## What the learning rate does
#
# Along each axis of the valley the loss is a parabola $\tfrac12 c\,x^2$, whose gradient is
# $c\,x$. One gradient step gives $x \leftarrow x - \eta c x = (1 - \eta c)\,x$: the step
# **multiplies** the distance to the minimum by $1 - \eta c$. With a small rate the factor is
# just below 1 (slow); around $\eta = 1/c$ it is near 0 (fast); past that it turns negative
# (the path zig-zags across the valley) and beyond some rate its size exceeds 1: every step
# overshoots more than the last and the loss explodes.

# %%
rates = [0.05, 0.2, 0.4, 0.45]
fig, (ax_path, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
draw_surface(ax_path)
for lr in rates:
    points, losses = path_of(SGD(lr), steps=40)
    # leave out the points that flew off the chart
    shown = (np.abs(points[:, 0] - 0.5) < 1.5) & (np.abs(points[:, 1] + 0.8) < 1.8)
    ax_path.plot(points[shown, 0], points[shown, 1], ".-", ms=3, label=f"lr = {lr}")
    ax_loss.semilogy(losses, label=f"lr = {lr}")
ax_path.set_title("gradient descent paths")
ax_path.legend(fontsize=8)
ax_loss.set_xlabel("step")
ax_loss.set_title("loss (log scale)")
ax_loss.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ### Exercise 4.1: the largest stable learning rate
#
# On a loss $\sum_i \tfrac12 c_i x_i^2$ with curvatures $c_i > 0$, gradient descent converges
# exactly when every factor $1 - \eta c_i$ has a size below 1. Write `max_stable_lr(curvatures)`,
# the rate at which it stops converging. Then compare it with the plot above, using the
# curvatures printed earlier.

# %%
def max_stable_lr(curvatures):
    """The learning rate beyond which gradient descent diverges on sum_i 0.5 c_i x_i**2."""
    ### BEGIN SOLUTION
    # |1 - lr c| < 1  <=>  0 < lr < 2 / c, for every c: the steepest direction decides
    return 2.0 / np.max(curvatures)
    ### END SOLUTION


# %%
check_max_stable_learning_rate(max_stable_lr)

# %% [markdown]
# The steepest direction limits the rate, and the flattest direction then crawls: the
# condition number $c_\max / c_\min$ (here about 30) measures how hard a valley is for plain
# gradient descent. The other optimisers are ways around it.
#
# ## Momentum
#
# A heavy ball rolling down the valley does not stop at every zig-zag: it keeps a **velocity**
# $v$ that remembers past gradients. Keras's rule, with momentum $\mu$ (typically 0.9):
#
# $$ v \leftarrow \mu v - \eta g, \qquad p \leftarrow p + v . $$
#
# Across the valley the gradients alternate in sign and cancel in $v$; along it they agree and
# add up, so the ball speeds up where plain descent crawls.
#
# ### Exercise 4.2: one step of SGD with momentum
#
# Write `sgd_momentum_step(p, g, v, lr, momentum)`, returning the new `p` and `v` (numpy
# arrays). The check runs it for 8 steps against `minikeras.optimizers.SGD`.

# %%
def sgd_momentum_step(p, g, v, lr, momentum):
    """One step of SGD with momentum; returns (p, v)."""
    ### BEGIN SOLUTION
    v = momentum * v - lr * g
    return p + v, v
    ### END SOLUTION


# %%
check_sgd_momentum_step(sgd_momentum_step)

# %% [markdown]
# ## RMSprop: a learning rate per parameter
#
# Another fix: divide each parameter's step by the typical size of its gradient, so steep and
# flat directions move at similar speeds. RMSprop keeps a running average $a$ of $g^2$:
#
# $$ a \leftarrow \rho a + (1 - \rho) g^2, \qquad p \leftarrow p - \eta\,
#    \frac{g}{\sqrt{a} + \epsilon} . $$
#
# ### Exercise 4.3: one step of RMSprop
#
# Write `rmsprop_step(p, g, a, lr, rho, eps)`, returning the new `p` and `a`.

# %%
def rmsprop_step(p, g, a, lr, rho, eps):
    """One step of RMSprop; returns (p, a)."""
    ### BEGIN SOLUTION
    a = rho * a + (1.0 - rho) * g * g
    return p - lr * g / (np.sqrt(a) + eps), a
    ### END SOLUTION


# %%
check_rmsprop_step(rmsprop_step)

# %% [markdown]
# ## Adam: both at once
#
# Adam keeps a running average $m$ of the gradients (momentum) and $v$ of their squares
# (RMSprop). Both start at zero, so early averages are too small; dividing by $1 - \beta^t$
# (with $t$ the step number, from 1) corrects that start:
#
# $$ m \leftarrow \beta_1 m + (1 - \beta_1) g, \quad v \leftarrow \beta_2 v + (1 - \beta_2) g^2,
#    \quad \hat m = \frac{m}{1 - \beta_1^t}, \quad \hat v = \frac{v}{1 - \beta_2^t}, \quad
#    p \leftarrow p - \eta \frac{\hat m}{\sqrt{\hat v} + \epsilon} . $$
#
# ### Exercise 4.4: one step of Adam
#
# Write `adam_step(p, g, m, v, t, lr, beta_1, beta_2, eps)`, returning the new `p`, `m`, `v`.

# %%
def adam_step(p, g, m, v, t, lr, beta_1, beta_2, eps):
    """One step of Adam (t counts from 1); returns (p, m, v)."""
    ### BEGIN SOLUTION
    m = beta_1 * m + (1.0 - beta_1) * g
    v = beta_2 * v + (1.0 - beta_2) * g * g
    m_hat = m / (1.0 - beta_1 ** t)
    v_hat = v / (1.0 - beta_2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
    ### END SOLUTION


# %%
check_adam_step(adam_step)

# %% [markdown]
# ## The race
#
# The library's four optimisers from the same start, 60 steps each. (minikeras writes Adam's
# bias correction into the learning rate, as Keras 2 does; it takes the same steps as your
# version up to the tiny $\epsilon$.)

# %%
racers = {"SGD, lr 0.2": SGD(0.2), "momentum 0.9, lr 0.05": SGD(0.05, momentum=0.9),
          "RMSprop, lr 0.05": RMSprop(0.05), "Adam, lr 0.2": Adam(0.2)}
fig, (ax_path, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
draw_surface(ax_path)
for name, optimizer in racers.items():
    points, losses = path_of(optimizer)
    ax_path.plot(points[:, 0], points[:, 1], ".-", ms=3, lw=1, label=name)
    ax_loss.semilogy(losses, label=name)
ax_path.set_title("60 steps from the same start")
ax_path.legend(fontsize=8, loc="upper right")
ax_loss.set_xlabel("step")
ax_loss.set_title("loss (log scale)")
ax_loss.set_ylim(1e-5, 1e1)
ax_loss.grid(alpha=0.3)
ax_loss.legend(fontsize=8)
plt.show()

# %% [markdown]
# Read the paths. Plain SGD drops down the steep wall in one step, then crawls along the flat
# valley floor: its rate is capped by the wall. Momentum swings from side to side, but its
# velocity builds up along the floor. RMSprop divides each coordinate's step by its own gradient
# size, so it moves along the floor at nearly the speed it moved down the wall. Adam, momentum
# and RMSprop together, swings like momentum and travels like RMSprop. On real networks there is
# no single winner: Adam is a robust default, and well-tuned SGD with momentum often
# generalises a little better.
#
# ## Summary
#
# * A gradient step multiplies each direction's distance to the minimum by $1 - \eta c$: too
#   small a rate crawls, beyond $2 / c_\max$ it diverges.
# * Momentum accumulates a velocity; RMSprop divides by a running RMS of the gradient; Adam
#   does both, with a correction for their zero start.
# * Each is a few lines of numpy: `minikeras/optimizers.py` holds the same updates, with fused
#   Numba kernels for speed.
