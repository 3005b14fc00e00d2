"""Optimizers: SGD (momentum, Nesterov), RMSprop, Adagrad, Adam (AMSGrad).

The update rules, defaults and constants are Keras 2's (``keras/optimizers.py``
of Keras 2.2), including where epsilon sits (outside the square root:
``g / (sqrt(a) + epsilon)``), the time-based ``decay``
(``lr / (1 + decay * iterations)``, with ``iterations`` counted before the
step) and the *global* gradient norm used by ``clipnorm``.

Every optimizer updates :class:`~minikeras.autograd.Variable` arrays in place
with numpy ufuncs (no recorded ops, few temporaries), then applies each
variable's ``constraint``.

Example:
    >>> from minikeras import optimizers
    >>> opt = optimizers.Adam(learning_rate=1e-3)
    >>> opt.apply_gradients(zip(grads, variables))     # one step
    >>> optimizers.get("sgd").get_config()["learning_rate"]
    0.01
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from minikeras import backend as K
from minikeras import kernels
from minikeras.autograd import GradientTape, Variable
from minikeras.kernels import reference

__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "get", "serialize", "deserialize"]


# Updates run as one fused loop per weight (minikeras.kernels.optimizer_updates) when the arrays
# allow it, else as their numpy twins (minikeras.kernels.reference): the same rules, which are
# written in each class docstring. MINIKERAS_OPTIMIZER_JIT=0 always takes the twins.
_USE_JIT = os.environ.get("MINIKERAS_OPTIMIZER_JIT", "1") != "0"


def _fusable(var: Variable, grad: np.ndarray) -> bool:
    if not _USE_JIT:
        return False
    data = var.data
    return data.flags.c_contiguous and grad.flags.c_contiguous and data.dtype.kind == "f"



class Optimizer:
    """Base class: learning rate, decay, gradient clipping, slots, state and config.

    Subclasses list their per-variable slot names in ``slot_names`` and
    implement :meth:`_update(var, grad, slots, lr)`, which changes
    ``var.data`` in place.

    Args:
        learning_rate: Step size (``lr`` is accepted as Keras 2's older name).
        decay: Time-based decay: the rate used at step ``t`` (counted from 0)
            is ``learning_rate / (1 + decay * t)``.
        clipnorm: If set, all gradients are scaled by ``clipnorm / norm``
            when their global L2 norm exceeds it.
        clipvalue: If set, each gradient entry is clipped into
            ``[-clipvalue, clipvalue]``.

    Attributes:
        iterations: Number of steps taken.
    """

    slot_names: tuple[str, ...] = ()
    _default_lr = 0.01

    def __init__(self, learning_rate: float | None = None, *, lr: float | None = None,
                 decay: float = 0.0, clipnorm: float | None = None,
                 clipvalue: float | None = None, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}; "
                "allowed: learning_rate (or lr), decay, clipnorm, clipvalue and the "
                "optimizer's own arguments"
            )
        if learning_rate is not None and lr is not None and learning_rate != lr:
            raise ValueError(f"{type(self).__name__}: give learning_rate or lr, not both")
        rate = learning_rate if learning_rate is not None else lr
        self.learning_rate = float(self._default_lr if rate is None else rate)
        self.decay = float(decay)
        self.initial_decay = self.decay
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.clipvalue = None if clipvalue is None else float(clipvalue)
        for name, value in (("learning_rate", self.learning_rate), ("decay", self.decay)):
            if value < 0 or not np.isfinite(value):
                raise ValueError(f"{type(self).__name__}: {name} must be >= 0, got {value}")
        for name, value in (("clipnorm", self.clipnorm), ("clipvalue", self.clipvalue)):
            if value is not None and not value > 0:
                raise ValueError(f"{type(self).__name__}: {name} must be > 0, got {value}")
        self.iterations = 0
        self._slots: dict[int, list[np.ndarray]] = {}
        self._variables: list[Variable] = []
        self._pending_state: list[np.ndarray] | None = None

    # ---- the learning rate (Keras 2 code reads and writes `optimizer.lr`) ----
    @property
    def lr(self) -> float:
        """Alias of ``learning_rate``."""
        return self.learning_rate

    @lr.setter
    def lr(self, value: float) -> None:
        self.learning_rate = float(value)

    def current_learning_rate(self) -> float:
        """The rate the next step will use (after ``decay``)."""
        if self.decay > 0:
            return self.learning_rate / (1.0 + self.decay * self.iterations)
        return self.learning_rate

    # ---- slots -----------------------------------------------------------
    def build(self, variables: Iterable[Variable]) -> None:
        """Create the slots (zeros) of every variable not seen yet.

        Called by ``compile`` so that saved state can be restored before the
        first step; :meth:`apply_gradients` calls it for new variables too.
        """
        for var in variables:
            if id(var) not in self._slots:
                self._slots[id(var)] = [self._new_slot(name, var) for name in self.slot_names]
                self._variables.append(var)
        if self._pending_state is not None and self._variables:
            state, self._pending_state = self._pending_state, None
            self.set_state(state)

    def _new_slot(self, name: str, var: Variable) -> np.ndarray:
        return np.zeros(var.shape, dtype=var.dtype)

    # ---- stepping --------------------------------------------------------
    def clip_gradients(self, grads: list[np.ndarray | None]) -> list[np.ndarray | None]:
        """Apply ``clipnorm`` (global norm, Keras 2.2) and ``clipvalue``."""
        if self.clipnorm is not None:
            norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads if g is not None)))
            if norm >= self.clipnorm:
                scale = self.clipnorm / norm
                grads = [None if g is None else g * scale for g in grads]
        if self.clipvalue is not None:
            c = self.clipvalue
            grads = [None if g is None else np.clip(g, -c, c) for g in grads]
        return grads

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Variable]]) -> None:
        """Take one step: update each variable in place from its gradient.

        Variables whose gradient is ``None`` (not connected to the loss) are
        left alone. After the update each variable's ``constraint`` (if any)
        is applied.

        Raises:
            ValueError: If a gradient's shape differs from its variable's.
        """
        pairs = [(g, v) for g, v in grads_and_vars]
        grads = [None if g is None else np.asarray(getattr(g, "data", g)) for g, _ in pairs]
        variables = [v for _, v in pairs]
        for g, v in zip(grads, variables):
            if g is not None and g.shape != v.shape:
                raise ValueError(
                    f"{type(self).__name__}: gradient of shape {g.shape} for variable "
                    f"{v.name!r} of shape {v.shape}"
                )
        if self.clipnorm is not None or self.clipvalue is not None:
            grads = self.clip_gradients(grads)
        slots = self._slots
        if any(id(v) not in slots for v in variables):
            self.build(variables)
        lr = self.current_learning_rate()
        self._begin_step()
        for g, v in zip(grads, variables):
            if g is None:
                continue
            if g.dtype != v.dtype:
                g = g.astype(v.dtype)
            self._update(v, g, slots[id(v)], lr)
            if v.constraint is not None:
                v.data[...] = v.constraint(v.data)
        self.iterations += 1

    def minimize(self, loss_fn: Any, var_list: list[Variable]) -> None:
        """Compute ``loss_fn()`` on a tape and take one step on ``var_list``."""
        with GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, list(var_list))
        self.apply_gradients(zip(grads, var_list))

    def _begin_step(self) -> None:
        """Hook for per-step constants (Adam's bias correction)."""

    def _update(self, var: Variable, grad: np.ndarray, slots: list[np.ndarray],
                lr: float) -> None:
        raise NotImplementedError

    # ---- state and config ------------------------------------------------
    def get_state(self) -> list[np.ndarray]:
        """``[iterations]`` then every slot array, slot kind by slot kind (Keras's order)."""
        state = [np.array(self.iterations, dtype=np.int64)]
        for k in range(len(self.slot_names)):
            state += [self._slots[id(v)][k].copy() for v in self._variables]
        return state

    def set_state(self, state: list[np.ndarray]) -> None:
        """Restore :meth:`get_state`'s output.

        If no variables are known yet, the state is kept and applied when the
        optimizer is built on its variables.

        Raises:
            ValueError: If the number or shapes of the arrays do not match;
                the optimizer is then unchanged.
        """
        state = [np.asarray(s) for s in state]
        if not self._variables:
            if len(state) == 1:
                self.iterations = int(state[0])
            else:
                self._pending_state = state
            return
        expected = 1 + len(self.slot_names) * len(self._variables)
        if len(state) != expected:
            raise ValueError(
                f"{type(self).__name__}.set_state: expected {expected} arrays (iterations and "
                f"{len(self.slot_names)} slot(s) for each of {len(self._variables)} variables), "
                f"got {len(state)}"
            )
        arrays = state[1:]
        i = 0
        for _ in self.slot_names:
            for v in self._variables:
                if arrays[i].shape != v.shape:
                    raise ValueError(
                        f"{type(self).__name__}.set_state: array {i + 1} has shape "
                        f"{arrays[i].shape}, but variable {v.name!r} has shape {v.shape}"
                    )
                i += 1
        i = 0
        for k in range(len(self.slot_names)):
            for v in self._variables:
                self._slots[id(v)][k][...] = arrays[i]
                i += 1
        self.iterations = int(state[0])

    get_weights = get_state
    set_weights = set_state

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (Keras 2 keys; ``learning_rate`` for the rate)."""
        config: dict[str, Any] = {"learning_rate": self.learning_rate, "decay": self.decay}
        if self.clipnorm is not None:
            config["clipnorm"] = self.clipnorm
        if self.clipvalue is not None:
            config["clipvalue"] = self.clipvalue
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """Rebuild from :meth:`get_config`'s output (``lr`` is accepted too)."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    Keras 2 rule: ``v = momentum * v - lr * g``; then ``p += v``, or with
    Nesterov ``p += momentum * v - lr * g``.

    Args:
        learning_rate: Step size (default 0.01).
        momentum: Momentum factor ``>= 0`` (default 0).
        nesterov: Use Nesterov momentum.
        **kwargs: ``lr``, ``decay``, ``clipnorm``, ``clipvalue``.
    """

    _default_lr = 0.01

    def __init__(self, learning_rate: float | None = None, momentum: float = 0.0,
                 nesterov: bool = False, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        if momentum < 0:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def _update(self, var, grad, slots, lr):
        p = var.data
        if not self.momentum:
            p -= lr * grad
            return
        (v,) = slots
        if _fusable(var, grad):
            kernels.sgd_momentum_update(p.reshape(-1), grad.reshape(-1), v.reshape(-1), lr,
                                        self.momentum, self.nesterov)
        else:
            reference.sgd_momentum_update(p, grad, v, lr, self.momentum, self.nesterov)

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop: ``a = rho a + (1 - rho) g²``; ``p -= lr g / (sqrt(a) + epsilon)``.

    Args:
        learning_rate: Step size (default 0.001).
        rho: Decay of the squared-gradient average (default 0.9).
        epsilon: Fuzz factor (default ``backend.epsilon()``, 1e-7).
        **kwargs: ``lr``, ``decay``, ``clipnorm``, ``clipvalue``.
    """

    slot_names = ("accumulator",)
    _default_lr = 0.001

    def __init__(self, learning_rate: float | None = None, rho: float = 0.9,
                 epsilon: float | None = None, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.rho = float(rho)
        self.epsilon = float(K.epsilon() if epsilon is None else epsilon)

    def _update(self, var, grad, slots, lr):
        (a,) = slots
        args = (lr, self.rho, self.epsilon, False)
        if _fusable(var, grad):  # flat views: one compiled signature for every shape
            kernels.rms_update(var.data.reshape(-1), grad.reshape(-1), a.reshape(-1), *args)
        else:
            reference.rms_update(var.data, grad, a, *args)

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adagrad(Optimizer):
    """Adagrad: ``a += g²``; ``p -= lr g / (sqrt(a) + epsilon)`` (accumulators start at 0).

    Args:
        learning_rate: Step size (default 0.01).
        epsilon: Fuzz factor (default 1e-7).
        **kwargs: ``lr``, ``decay``, ``clipnorm``, ``clipvalue``.
    """

    slot_names = ("accumulator",)
    _default_lr = 0.01

    def __init__(self, learning_rate: float | None = None, epsilon: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        self.epsilon = float(K.epsilon() if epsilon is None else epsilon)

    def _update(self, var, grad, slots, lr):
        (a,) = slots
        args = (lr, 0.0, self.epsilon, True)
        if _fusable(var, grad):
            kernels.rms_update(var.data.reshape(-1), grad.reshape(-1), a.reshape(-1), *args)
        else:
            reference.rms_update(var.data, grad, a, *args)

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "epsilon": self.epsilon}


class Adam(Optimizer):
    """Adam (Kingma & Ba), optionally AMSGrad, with Keras 2's bias correction.

    At step ``t`` (from 1): ``lr_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)``,
    ``m = beta_1 m + (1 - beta_1) g``, ``v = beta_2 v + (1 - beta_2) g²``,
    ``p -= lr_t m / (sqrt(v) + epsilon)`` (AMSGrad: ``sqrt(max(v_hat, v))``).

    Args:
        learning_rate: Step size (default 0.001).
        beta_1: First-moment decay (default 0.9).
        beta_2: Second-moment decay (default 0.999).
        epsilon: Fuzz factor (default 1e-7).
        amsgrad: Use the AMSGrad variant.
        **kwargs: ``lr``, ``decay``, ``clipnorm``, ``clipvalue``.
    """

    _default_lr = 0.001

    def __init__(self, learning_rate: float | None = None, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float | None = None, amsgrad: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        for name, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"Adam: {name} must be in [0, 1), got {b}")
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(K.epsilon() if epsilon is None else epsilon)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("m", "v", "vhat") if self.amsgrad else ("m", "v")
        self._lr_t = 0.0

    def _begin_step(self) -> None:
        t = self.iterations + 1
        self._lr_t = np.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)

    def _update(self, var, grad, slots, lr):
        m, v = slots[0], slots[1]
        vhat = slots[2] if self.amsgrad else m  # (not read without amsgrad)
        args = (lr * self._lr_t, self.beta_1, self.beta_2, self.epsilon, self.amsgrad)
        if _fusable(var, grad):
            kernels.adam_update(var.data.reshape(-1), grad.reshape(-1), m.reshape(-1),
                                v.reshape(-1), vhat.reshape(-1), *args)
        else:
            reference.adam_update(var.data, grad, m, v, vhat, *args)

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


_CLASSES: dict[str, type[Optimizer]] = {
    "sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, "adam": Adam,
}


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{'class_name': ..., 'config': ...}``."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None
                ) -> Optimizer:
    """Inverse of :func:`serialize` (class names are case-insensitive, as in Keras 2).

    Raises:
        ValueError: On an unknown class name, listing the known ones.
    """
    name = config.get("class_name", "")
    cls = (custom_objects or {}).get(name) or _CLASSES.get(str(name).lower())
    if cls is None:
        raise ValueError(
            f"Unknown optimizer {name!r}; known optimizers: {', '.join(sorted(_CLASSES))}"
        )
    return cls.from_config(dict(config.get("config", {})))


def get(identifier: Any) -> Optimizer:
    """Resolve an optimizer from a name (``"adam"``), a config dict or an instance.

    A name gives a fresh optimizer with the default settings.

    Raises:
        ValueError: On an unknown name or an object that is not an optimizer.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    raise ValueError(
        f"Could not interpret optimizer identifier: {identifier!r} (expected a name such as "
        f"'adam', a config dict or an Optimizer instance)"
    )
