"""`Layer`: the base class of every layer, with Keras 2 semantics.

A layer is called two ways:

* on **KerasTensors** (symbolic, from ``Input``): it builds itself from the
  input shapes if needed, checks its ``input_spec``, infers output shapes with
  ``compute_output_shape``, records a :class:`~minikeras.engine.node.Node`
  and returns new KerasTensors. No data flows.
* on **numpy arrays or Tensors** (eager): it builds itself from the concrete
  shape if needed, casts floating input (numpy or Tensor; the cast of a Tensor
  is recorded, so gradients flow back) to its dtype, runs ``call`` and
  returns Tensors. Any active ``GradientTape`` records the ops.

Losses and updates
------------------
A *loss* is a Tensor or a zero-argument callable returning one. Weight
regularizers are stored as callables, so ``layer.losses`` always computes
fresh Tensors from the current weights (recorded by an active tape).
Losses added during an eager call (the activity regularizer, or ``add_loss``
inside ``call``) go to the active :func:`collect_call_losses` list, and are also
kept in the layer's last-call list (replaced at every call, never accumulating).

An *update* is a pair ``(variable, new_value)`` or a zero-argument callable.
Eager calls apply updates at once; symbolic ones record them
(``updates``, ``get_updates_for``).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from minikeras import constraints, initializers, regularizers
from minikeras.autograd import tape as _tape
from minikeras.autograd.ops import cast
from minikeras.autograd.tape import no_grad
from minikeras.autograd.tensor import Tensor, Variable
from minikeras.backend.config import floatx
from minikeras.engine.graph import LayerGraph
from minikeras.engine.input_spec import assert_input_compatibility
from minikeras.engine.keras_tensor import KerasTensor
from minikeras.engine.node import Node
from minikeras.generic_utils import as_list, count_params

# ---------------------------------------------------------------------------
# names


_name_counters: dict[str, int] = {}


def to_snake_case(name: str) -> str:
    """``SeparableConv2D`` -> ``separable_conv2d`` (Keras's rule; ``_X`` -> ``private_x``)."""
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    insecure = re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()
    if insecure[0] != "_":
        return insecure
    return "private" + insecure


def unique_name(prefix: str, zero_based: bool = True) -> str:
    """Next name for ``prefix``: ``prefix``, ``prefix_1``, ... (counters kept per prefix).

    Args:
        prefix: The base name, e.g. ``"dense"``.
        zero_based: If ``True`` the first name is ``prefix`` itself; else ``prefix_1``.
    """
    n = _name_counters.get(prefix, 0)
    _name_counters[prefix] = n + 1
    if zero_based:
        return prefix if n == 0 else f"{prefix}_{n}"
    return f"{prefix}_{n + 1}"


def reset_names() -> None:
    """Forget the automatic name counters (the next ``Dense()`` is named ``dense`` again)."""
    _name_counters.clear()


# ---------------------------------------------------------------------------
# per-call losses


class _CallState:
    """Process-wide state of eager calls: nesting depth and the active loss collectors."""

    __slots__ = ("depth", "collectors", "dry_run", "added_trainable", "skip_updates")

    def __init__(self) -> None:
        self.depth = 0
        self.collectors: list[list] = []
        self.dry_run = False  # shape inference by running `call` on zeros: no side effects
        self.skip_updates = False  # inside no_layer_updates(): eager updates are dropped
        # trainable variables made by add_weight: any other made during `call` is a mistake
        self.added_trainable = 0


_REWORDABLE = (ValueError, TypeError, IndexError, KeyError, AttributeError, RuntimeError,
               NotImplementedError, ZeroDivisionError)


def _inference_error(layer: Layer, input_shapes: list, err: Exception) -> Exception:
    """``call`` failed while its output shape was inferred: name the layer and the fix."""
    shapes = ", ".join(str(s) for s in input_shapes)
    message = (
        f"Layer {layer.name} ({type(layer).__name__}): call() failed on zeros of input "
        f"shape {shapes} while its output shape was inferred: {type(err).__name__}: {err}. "
        f"Fix call(), or implement {type(layer).__name__}.compute_output_shape(input_shape)"
    )
    kind = type(err) if type(err) in _REWORDABLE else ValueError
    return kind(message)


def _stray_variables() -> int:
    """Trainable variables made so far other than by ``add_weight`` (compared around ``call``)."""
    return Variable.made_trainable - CALL_STATE.added_trainable


class _WeightMadeInCall(ValueError):
    """A layer's ``call`` made a trainable Variable (the message says where weights belong)."""


def _variable_in_call_error(layer: Layer) -> ValueError:
    return _WeightMadeInCall(
        f"Layer {layer.name} ({type(layer).__name__}): call() created a trainable Variable; a "
        "weight made in call is new at every call and is never trained (the model does not "
        "list it in trainable_weights). Create weights in build() with self.add_weight(...)"
    )


CALL_STATE = _CallState()


@contextlib.contextmanager
def collect_call_losses() -> Iterator[list]:
    """Collect the per-call losses of eager layer calls made inside the block.

    Activity-regularizer losses and ``add_loss`` calls made inside ``call``
    during eager execution are appended to the yielded list (Tensors).

    Example:
        >>> with GradientTape() as tape, collect_call_losses() as extra:
        ...     y = model(x, training=True)
        ...     loss = data_loss(y) + sum(extra)
    """
    bucket: list = []
    CALL_STATE.collectors.append(bucket)
    try:
        yield bucket
    finally:
        CALL_STATE.collectors.remove(bucket)


@contextlib.contextmanager
def no_layer_updates(active: bool = True) -> Iterator[None]:
    """Drop the updates eager layer calls make inside the block (e.g. moving averages).

    Keras 2 runs layer updates only in its training function: ``predict`` and
    ``evaluate`` leave a ``BatchNormalization``'s moving statistics alone even
    when it was called with ``training=True`` in the graph. The model's
    inference paths run under this context for the same effect.

    Args:
        active: ``False`` makes the block a no-op (convenient for a flag).
    """
    previous = CALL_STATE.skip_updates
    CALL_STATE.skip_updates = previous or active
    try:
        yield
    finally:
        CALL_STATE.skip_updates = previous


def _route_call_loss(layer: Layer, loss: Any) -> None:
    """Deliver a loss made during an eager call to the collector and the last-call list."""
    if callable(loss) and not isinstance(loss, Tensor):
        loss = loss()
    layer._eager_losses.append(loss)
    if CALL_STATE.collectors:
        CALL_STATE.collectors[-1].append(loss)


class WeightRegularization:
    """A weight regularizer's loss as a callable: ``regularizer(variable)`` on demand.

    Stored instead of a closure so ``copy.deepcopy`` of a layer rebinds it to
    the copy's variable.
    """

    __slots__ = ("regularizer", "variable")

    def __init__(self, regularizer: Any, variable: Variable) -> None:
        self.regularizer = regularizer
        self.variable = variable

    def __call__(self) -> Tensor:
        """The regularization loss of the variable's current value."""
        return self.regularizer(self.variable)

    def __repr__(self) -> str:
        return f"<WeightRegularization of {self.variable.name!r}>"


def _inputs_key(inputs: Any) -> Any:
    """Key identifying a set of inputs (``None`` for unconditional entries)."""
    if inputs is None:
        return None
    if isinstance(inputs, (list, tuple)):
        if not inputs:
            return None
        return tuple(id(x) for x in inputs)
    return (id(inputs),)


def _is_update_pair(update: Any) -> bool:
    """Whether ``update`` is one ``(variable, new_value)`` pair (not a tuple of updates)."""
    return isinstance(update, tuple) and len(update) == 2 and isinstance(update[0], Variable)


def _apply_update(update: Any) -> None:
    if isinstance(update, tuple):
        variable, value = update
        if isinstance(value, KerasTensor):
            # a symbolic call's record of an update; the real one happens in eager calls
            return
        variable.assign(value.data if isinstance(value, Tensor) else value)
    elif callable(update):
        update()
    else:
        raise TypeError(
            f"An update must be a (variable, new_value) pair or a zero-argument callable, "
            f"got {type(update).__name__}"
        )


def _cast_floating(x: Tensor, dtype: np.dtype) -> Tensor:
    """``x`` in ``dtype`` when both are floating (a recorded, differentiable cast), else ``x``.

    Keras casts a layer's floating inputs to the layer dtype; doing it as an op
    keeps the gradient flowing back to a float32 input of a float64 layer.
    """
    source = x.data.dtype
    if source == dtype or source.kind != "f" or dtype.kind != "f":
        return x
    return cast(x, dtype)


def _unwrap(xs: list) -> Any:
    return xs[0] if len(xs) == 1 else xs


# ---------------------------------------------------------------------------
# call signature cache


class CallSignature:
    """What a layer class's ``call`` accepts (inspected once per class)."""

    __slots__ = ("training", "mask", "var_kwargs", "names")

    def __init__(self, fn: Any) -> None:
        params = inspect.signature(fn).parameters
        self.var_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
        self.training = "training" in params
        self.mask = "mask" in params
        self.names = frozenset(name for name, p in params.items()
                               if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


_signatures: dict[type, CallSignature] = {}


def call_signature(cls: type) -> CallSignature:
    """The cached :class:`CallSignature` of ``cls.call``."""
    sig = _signatures.get(cls)
    if sig is None:
        sig = _signatures[cls] = CallSignature(cls.call)
    return sig


def _shape_of(x: Any) -> tuple:
    return tuple(x.shape)


_ALLOWED_KWARGS = frozenset({"input_shape", "batch_input_shape", "batch_size", "dtype", "name",
                             "trainable", "weights", "input_dtype"})


class Layer:
    """Base class of all layers (Keras 2 API).

    Subclasses implement ``build(input_shape)`` (create weights with
    :meth:`add_weight`, then call ``super().build(input_shape)`` or set
    ``self.built = True``), ``call(inputs, **kwargs)`` (may accept
    ``training=None`` and/or ``mask=None``), ``compute_output_shape`` and
    ``get_config``.

    Args:
        name: Layer name; unique by default (``dense``, ``dense_1``, ...).
        trainable: Whether the layer's weights are trained.
        dtype: Dtype of weights and (cast) inputs; ``floatx()`` by default.
        input_shape: Shape without the batch dimension (first layer of a ``Sequential``).
        batch_input_shape: Full input shape including the batch dimension.
        batch_size: Batch size to combine with ``input_shape``.
        weights: Initial weight values (numpy arrays) set once built.
        input_dtype: Legacy alias of ``dtype``.

    Raises:
        TypeError: On an unknown keyword argument.

    Example:
        >>> class Scale(Layer):
        ...     def build(self, input_shape):
        ...         self.w = self.add_weight("w", (input_shape[-1],), initializer="ones")
        ...         super().build(input_shape)
        ...     def call(self, x):
        ...         return x * self.w
    """

    activity_regularizer: Any = None

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails. A subclass whose __init__ forgot
        # super().__init__() lacks every attribute Layer.__init__ sets: say so.
        if not name.startswith("__") and "_inbound_nodes" not in self.__dict__:
            cls = type(self).__name__
            raise AttributeError(
                f"{cls} has no attribute {name!r} because {cls}.__init__ did not run "
                f"Layer.__init__: add super().__init__(**kwargs) at the top of {cls}.__init__"
            )
        attr = getattr(type(self), name, None)
        if isinstance(attr, property):  # a property raised AttributeError: let its words through
            return attr.fget(self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __init__(self, **kwargs: Any) -> None:
        for kwarg in kwargs:
            if kwarg not in _ALLOWED_KWARGS:
                raise TypeError(
                    f"{type(self).__name__}: keyword argument not understood: {kwarg!r} "
                    f"(accepted: {', '.join(sorted(_ALLOWED_KWARGS))})"
                )
        name = kwargs.get("name")
        if not name:
            name = unique_name(to_snake_case(type(self).__name__))
        self.name: str = name
        self.trainable: bool = kwargs.get("trainable", True)
        self.built = False
        self.input_spec: Any = None
        self.supports_masking = False
        self._trainable_weights: list[Variable] = []
        self._non_trainable_weights: list[Variable] = []
        self._constraints: dict = {}
        self._inbound_nodes: list[Node] = []
        self._outbound_nodes: list[Node] = []
        self._losses: list = []            # every loss added outside eager calls, in order
        self._per_input_losses: dict = {}  # inputs key (None = unconditional) -> list
        self._updates: list = []
        self._per_input_updates: dict = {}
        self._eager_losses: list = []      # losses of the last eager call
        self._build_input_shape: Any = None
        self._dtype_given = bool(kwargs.get("dtype") or kwargs.get("input_dtype"))
        if "input_shape" in kwargs or "batch_input_shape" in kwargs:
            if "batch_input_shape" in kwargs:
                batch_input_shape = tuple(kwargs["batch_input_shape"])
            else:
                batch_input_shape = (kwargs.get("batch_size"),) + tuple(kwargs["input_shape"])
            self.batch_input_shape = tuple(None if d is None else int(d)
                                           for d in batch_input_shape)
        self.dtype = kwargs.get("dtype") or kwargs.get("input_dtype") or floatx()
        self._initial_weights = kwargs.get("weights")

    # ---- weights --------------------------------------------------------
    def add_weight(self, name: str, shape: tuple, dtype: Any = None, initializer: Any = None,
                   regularizer: Any = None, trainable: bool = True,
                   constraint: Any = None) -> Variable:
        """Create a weight ``Variable`` named ``"<layer name>/<name>"``.

        Args:
            name: Weight name, e.g. ``"kernel"``.
            shape: Shape tuple.
            dtype: Dtype (the layer's dtype by default).
            initializer: Initializer instance, name or callable ``(shape, dtype) -> array``
                (``glorot_uniform`` by default, ``zeros`` for integer dtypes).
            regularizer: Optional regularizer (``reg(weight) -> Tensor``); its loss is
                added unconditionally and recomputed from the current value on demand.
            trainable: Whether optimizers should update it (if the layer is trainable).
            constraint: Optional constraint applied after optimizer steps.

        Returns:
            The new ``Variable``.
        """
        dtype = np.dtype(dtype or self.dtype).name
        shape = tuple(int(d) for d in shape)
        init = _get_initializer(initializer, dtype)
        value = np.asarray(init(shape, dtype=dtype), dtype=dtype)
        if value.shape != shape:
            value = np.broadcast_to(value, shape)
        regularizer = regularizers.get(regularizer)
        constraint = constraints.get(constraint)
        weight = Variable(value, trainable=trainable, name=f"{self.name}/{name}", dtype=dtype,
                          constraint=constraint)
        if trainable:
            CALL_STATE.added_trainable += 1
        if regularizer is not None:
            loss = WeightRegularization(regularizer, weight)
            self._losses.append(loss)
            self._per_input_losses.setdefault(None, []).append(loss)
        if constraint is not None:
            self._constraints[weight] = constraint
        if trainable:
            self._trainable_weights.append(weight)
        else:
            self._non_trainable_weights.append(weight)
        return weight

    def add_variable(self, name: str, shape: tuple, dtype: Any = None, initializer: Any = None,
                     regularizer: Any = None, trainable: bool = True,
                     constraint: Any = None) -> Variable:
        """Alias of :meth:`add_weight` (TensorFlow's name)."""
        return self.add_weight(name, shape, dtype=dtype, initializer=initializer,
                               regularizer=regularizer, trainable=trainable,
                               constraint=constraint)

    @property
    def trainable_weights(self) -> list[Variable]:
        """Weights trained by optimizers (``[]`` when ``trainable`` is ``False``)."""
        return list(self._trainable_weights) if self.trainable else []

    @trainable_weights.setter
    def trainable_weights(self, weights: list) -> None:
        self._trainable_weights = list(weights)

    @property
    def non_trainable_weights(self) -> list[Variable]:
        """Weights not trained (all of them when ``trainable`` is ``False``)."""
        if self.trainable:
            return list(self._non_trainable_weights)
        return self._trainable_weights + self._non_trainable_weights

    @non_trainable_weights.setter
    def non_trainable_weights(self, weights: list) -> None:
        self._non_trainable_weights = list(weights)

    @property
    def weights(self) -> list[Variable]:
        """``trainable_weights + non_trainable_weights``."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def variables(self) -> list[Variable]:
        """Alias of :attr:`weights`."""
        return self.weights

    @property
    def trainable_variables(self) -> list[Variable]:
        """Alias of :attr:`trainable_weights`."""
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[Variable]:
        """Alias of :attr:`non_trainable_weights`."""
        return self.non_trainable_weights

    @property
    def constraints(self) -> dict:
        """``{weight: constraint}`` for weights created with a constraint."""
        return dict(self._constraints)

    def get_weights(self) -> list[np.ndarray]:
        """Current weight values as numpy arrays (copies), in :attr:`weights` order."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, weights: list) -> None:
        """Set weight values from numpy arrays (all checked before any is assigned).

        Raises:
            ValueError: If the number of arrays or any shape does not match.
        """
        params = self.weights
        if len(params) != len(weights):
            raise ValueError(
                f"You called set_weights(weights) on layer {self.name!r} with a weight list of "
                f"length {len(weights)}, but the layer was expecting {len(params)} weights"
            )
        arrays = [np.asarray(w) for w in weights]
        for p, w in zip(params, arrays):
            if p.shape != w.shape:
                raise ValueError(
                    f"Layer {self.name!r}: weight {p.name!r} has shape {p.shape}, not "
                    f"compatible with the provided weight shape {w.shape}"
                )
        for p, w in zip(params, arrays):
            p.assign(w)

    def count_params(self) -> int:
        """Total number of scalars in the layer's weights.

        Raises:
            RuntimeError: If the layer is not built yet.
        """
        if not self.built:
            raise RuntimeError(
                f"You tried to call count_params on layer {self.name!r}, but the layer isn't "
                f"built. You can build it manually via: `{self.name}.build(batch_input_shape)`."
            )
        return count_params(self.weights)

    # ---- the layer interface --------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Create the layer's weights for ``input_shape``; subclasses call ``super().build``."""
        self._build_input_shape = input_shape
        self.built = True

    def call(self, inputs: Any, **kwargs: Any) -> Any:
        """The layer's computation on Tensors (identity by default)."""
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape(s) for ``input_shape`` (the same shape by default)."""
        return input_shape

    # ---- inference fusion (minikeras.engine.fusion) ------------------------
    def inference_epilogue(self, training: Any) -> Any:
        """This layer as a per-channel map another layer can apply to its output, or ``None``.

        Overridden by layers that are, at inference, ``x * scale + shift`` per channel
        (``BatchNormalization``) or ``max(x, 0)`` (``Activation('relu')``), so that a model can
        run them inside the layer before them (:mod:`minikeras.engine.fusion`).

        Args:
            training: The ``training`` argument this call would get.

        Returns:
            A :class:`minikeras.engine.fusion.Epilogue`, or ``None`` (the default).
        """
        return None

    def call_with_epilogue(self, inputs: Any, epilogue: Any) -> Any:
        """``call``, with ``epilogue`` applied to the output, or ``None`` if this layer cannot.

        Overridden by layers that can apply a per-channel affine map and a ReLU to their output
        as they write it (``SeparableConv2D``). Only called when nothing records.

        Args:
            inputs: As for ``call``.
            epilogue: A :class:`minikeras.engine.fusion.Epilogue`.

        Returns:
            The output Tensor, or ``None`` (the default): the layers then run one by one.
        """
        return None

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Output mask for ``inputs`` given the input ``mask``.

        Raises:
            TypeError: If a mask is given to a layer that does not support masking.
        """
        if not self.supports_masking:
            if mask is not None:
                masks = mask if isinstance(mask, list) else [mask]
                if any(m is not None for m in masks):
                    raise TypeError(
                        f"Layer {self.name} does not support masking, but was passed an "
                        f"input_mask: {mask}"
                    )
            return None
        return mask

    def get_config(self) -> dict:
        """``{'name', 'trainable'}`` plus ``batch_input_shape``/``dtype`` when given."""
        config: dict = {"name": self.name, "trainable": self.trainable}
        if hasattr(self, "batch_input_shape"):
            config["batch_input_shape"] = self.batch_input_shape
        if hasattr(self, "batch_input_shape") or self._dtype_given:
            config["dtype"] = self.dtype
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """Create a layer from its config (``cls(**config)``)."""
        return cls(**config)

    # ---- calling ----------------------------------------------------------
    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Call the layer: symbolic on KerasTensors, eager on arrays/Tensors.

        Raises:
            ValueError: On inputs incompatible with the layer's ``input_spec``,
                or a mix of symbolic and concrete inputs.
        """
        # the eager path is the hot one (every training step): keep it flat
        if not isinstance(inputs, Tensor):
            if type(inputs) is list or type(inputs) is tuple:
                if not inputs:
                    raise ValueError(f"Layer {self.name} was called on an empty list of inputs")
                if isinstance(inputs[0], KerasTensor):
                    return self._symbolic_call(list(inputs), kwargs, True)
            elif isinstance(inputs, KerasTensor):
                return self._symbolic_call([inputs], kwargs, False)
        # numpy arrays become Tensors; floating inputs (arrays or Tensors) take the layer dtype
        inputs = self._convert_inputs(inputs)
        if not self.built:
            self._build_for_eager(inputs)
        if self.input_spec is not None:
            assert_input_compatibility(self, self.input_spec, as_list(inputs))
        if kwargs and "training" in kwargs:
            sig = _signatures.get(type(self)) or call_signature(type(self))
            if not (sig.training or sig.var_kwargs):
                del kwargs["training"]
        state = CALL_STATE
        state.depth += 1
        try:
            return self._call_keeping_losses(inputs, kwargs)
        finally:
            state.depth -= 1

    def _call_keeping_losses(self, inputs: Any, kwargs: dict) -> Any:
        """``call`` on concrete inputs, with the bookkeeping of this call's losses.

        The losses of the previous call are dropped and the activity regularizer's loss on
        each output is delivered (:func:`_route_call_loss`). The one place this happens,
        whether the layer is called on its own or runs as a step of a model's plan.
        """
        if self._eager_losses:
            self._eager_losses = []
        tapes = _tape.STATE.active
        if tapes and tapes[-1].layer_calls is None:
            tapes = None  # a tape nobody draws (fit's own): no bookkeeping on the hot path
        if tapes:  # note which records this call makes, so a tape drawing can group them
            starts = [len(tape) for tape in tapes]
        stray = Variable.made_trainable - CALL_STATE.added_trainable  # (inlined: hot path)
        outputs = self.call(inputs, **kwargs)
        if Variable.made_trainable - CALL_STATE.added_trainable != stray:
            raise _variable_in_call_error(self)
        if tapes:
            for tape, start in zip(tapes, starts):
                if tape.layer_calls is not None and len(tape) > start:
                    tape.layer_calls.append((self.name, start, len(tape)))
        if self.activity_regularizer is not None:
            for y in as_list(outputs):
                _route_call_loss(self, self.activity_regularizer(y))
        return outputs

    def apply(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """Same as calling the layer (TensorFlow's name).

        Extra positional arguments go to ``call``'s parameters after ``inputs``,
        in order (``layer.apply(x, True)`` is ``layer(x, training=True)`` for a
        ``call(self, inputs, training=None)``).

        Raises:
            TypeError: If ``call`` takes fewer positional arguments, or one is
                also given by keyword.
        """
        if args:
            params = [p for p in inspect.signature(self.call).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][1:]
            if len(args) > len(params):
                raise TypeError(
                    f"Layer {self.name}: apply() got {len(args)} extra positional argument(s) "
                    f"but {type(self).__name__}.call accepts {len(params)} after the inputs "
                    f"({', '.join(p.name for p in params) or 'none'})"
                )
            for param, value in zip(params, args):
                if param.name in kwargs:
                    raise TypeError(f"Layer {self.name}: apply() got argument {param.name!r} "
                                    "both by position and by keyword")
                kwargs[param.name] = value
        return self.__call__(inputs, **kwargs)

    def assert_input_compatibility(self, inputs: Any) -> None:
        """Check ``inputs`` (a tensor or a list) against the layer's ``input_spec`` (Keras 2).

        Raises:
            ValueError: On a wrong number of inputs, rank, dtype or axis size.
        """
        if self.input_spec is not None:
            assert_input_compatibility(self, self.input_spec, as_list(inputs))

    @property
    def dtype(self) -> str:
        """Dtype name of the layer's weights and (cast) floating inputs."""
        return self._dtype

    @dtype.setter
    def dtype(self, value: Any) -> None:
        self._np_dtype = np.dtype(value)
        self._dtype = self._np_dtype.name

    def _convert_inputs(self, inputs: Any) -> Any:
        """Turn inputs into Tensors; floating ones (numpy or Tensor) cast to the layer dtype."""
        if type(inputs) is list or type(inputs) is tuple:
            return [self._convert_one(x, self._np_dtype) for x in inputs]
        return self._convert_one(inputs, self._np_dtype)

    def _convert_one(self, x: Any, dtype: np.dtype) -> Tensor:
        if isinstance(x, Tensor):
            return _cast_floating(x, dtype)
        if isinstance(x, KerasTensor):
            raise ValueError(
                f"Layer {self.name} was called on a mix of symbolic (KerasTensor) and concrete "
                "inputs; pass all KerasTensors or all arrays/Tensors"
            )
        arr = np.asarray(x)
        kind = arr.dtype.kind
        if kind == "f":
            if arr.dtype != dtype and dtype.kind == "f":
                arr = arr.astype(dtype)
        elif kind == "O":
            raise TypeError(f"Layer {self.name}: cannot convert input of type "
                            f"{type(x).__name__} to a tensor")
        return Tensor(arr)

    def _build_for_eager(self, inputs: Any) -> None:
        """Build from the concrete input shape(s) on the first eager call."""
        if self.input_spec is not None:
            assert_input_compatibility(self, self.input_spec, as_list(inputs))
        if isinstance(inputs, list) and len(inputs) > 1:
            self._build_and_set_initial_weights([_shape_of(x) for x in inputs])
        elif isinstance(inputs, list):  # a list of one builds from that shape, as in Keras 2
            self._build_and_set_initial_weights(_shape_of(inputs[0]))
        else:
            self._build_and_set_initial_weights(_shape_of(inputs))

    def _build_and_set_initial_weights(self, input_shape: Any) -> None:
        self.build(input_shape)
        self.built = True
        if self._build_input_shape is None:
            self._build_input_shape = input_shape
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _symbolic_call(self, inputs: list, kwargs: dict, was_list: bool) -> Any:
        for x in inputs:
            if not isinstance(x, KerasTensor):
                raise ValueError(
                    f"Layer {self.name} was called with an input that isn't a symbolic tensor: "
                    f"{x!r}. All inputs to the layer should be KerasTensors (from Input or "
                    "another layer), or all should be concrete arrays/Tensors."
                )
        arg_inputs = inputs if was_list else inputs[0]
        if not self.built:
            if self.input_spec is not None:
                assert_input_compatibility(self, self.input_spec, inputs)
            # Keras 2 builds from one shape whenever there is one input, even in a list
            shapes = [x.shape for x in inputs]
            self._build_and_set_initial_weights(shapes if len(shapes) > 1 else shapes[0])
        if self.input_spec is not None:
            assert_input_compatibility(self, self.input_spec, inputs)
        sig = call_signature(type(self))
        if kwargs:
            self._check_call_kwargs(sig, kwargs)
        user_kwargs = dict(kwargs)
        input_masks = [x._keras_mask for x in inputs]
        previous_mask = input_masks if was_list else input_masks[0]
        if sig.mask and "mask" not in kwargs:
            kwargs["mask"] = previous_mask
        input_shapes = [x.shape for x in inputs]
        inferred_dtypes = None
        if type(self).compute_output_shape is Layer.compute_output_shape and \
                type(self).call is not Layer.call:
            output_shape, inferred_dtypes = self._infer_by_dry_run(inputs, was_list, kwargs)
        else:
            output_shape = self.compute_output_shape(
                input_shapes if len(input_shapes) > 1 else input_shapes[0])
        multi = isinstance(output_shape, list)
        output_shapes = output_shape if multi else [output_shape]
        if not all(isinstance(s, (tuple, list)) for s in output_shapes):
            raise TypeError(
                f"Layer {self.name}: compute_output_shape must return a shape tuple (or a list "
                f"of them) for input shape(s) {input_shapes}, got {output_shape!r}"
            )
        # as Keras 2: the output mask comes from the previous layers' masks, even when
        # the caller passed `mask=` explicitly (that one goes to `call` only)
        output_mask = self._symbolic_mask(arg_inputs, previous_mask, output_shapes)
        output_masks = output_mask if isinstance(output_mask, list) else \
            [output_mask] * len(output_shapes)
        node_index = len(self._inbound_nodes)
        outputs = []
        for i, shape in enumerate(output_shapes):
            dtype = inferred_dtypes[i] if inferred_dtypes else self._output_dtype(inputs, i)
            t = KerasTensor(tuple(shape), dtype,
                            name=f"{self.name}/output:{node_index}:{i}" if len(output_shapes) > 1
                            else f"{self.name}/output:{node_index}")
            t._keras_history = (self, node_index, i)
            t._keras_mask = output_masks[i] if i < len(output_masks) else None
            outputs.append(t)
        # Keras 2: an output depends on the learning phase when the layer's call does (with
        # these arguments), when the layer is a model whose outputs do, or when an input does
        uses_lp = (self._call_uses_learning_phase(user_kwargs)
                   or getattr(self, "uses_learning_phase", False)
                   or any(x._uses_learning_phase for x in inputs))
        for t in outputs:
            t._uses_learning_phase = uses_lp
        inbound_layers, node_indices, tensor_indices = [], [], []
        for x in inputs:
            layer, n, t = x._keras_history
            inbound_layers.append(layer)
            node_indices.append(n)
            tensor_indices.append(t)
        Node(self, inbound_layers, node_indices, tensor_indices, inputs, outputs, input_masks,
             [t._keras_mask for t in outputs], input_shapes, [t.shape for t in outputs],
             user_kwargs)
        if self.activity_regularizer is not None:
            # symbolic placeholders: the real losses are computed by eager calls
            self.add_loss([KerasTensor((), self.dtype, name=f"{self.name}/activity_regularization")
                           for _ in outputs], inputs=arg_inputs)
        return outputs if multi else outputs[0]

    def _call_uses_learning_phase(self, kwargs: dict) -> bool:
        """Whether ``call`` with ``kwargs`` gives outputs that depend on the learning phase.

        Keras 2 marked a tensor this way when ``call`` chose between a training
        and an inference branch with ``training=None`` (``K.in_train_phase``).
        Layers with such a branch (``Dropout``, ``BatchNormalization``)
        override this; ``False`` by default.
        """
        return False

    def _placeholder_update(self, update: Any, what: str) -> Any:
        """A symbolic record of ``update``: ``(variable, KerasTensor)`` for a pair.

        Keras 2 runs ``call`` on symbolic tensors, so a symbolic call adds its
        updates (e.g. BatchNormalization's moving averages) under its inputs.
        Here ``call`` runs only on data, where updates are applied at once; a
        symbolic call records these placeholders instead, which
        ``apply_updates`` skips.
        """
        if isinstance(update, tuple):
            variable = update[0]
            return (variable, KerasTensor(tuple(variable.shape), np.dtype(variable.dtype).name,
                                          name=f"{self.name}/{what}"))
        return update

    def _check_call_kwargs(self, sig: CallSignature, kwargs: dict) -> None:
        """Fail now on keyword arguments ``call`` does not take (Keras 2 ran ``call`` here).

        ``training`` is dropped instead, as in eager calls, for a ``call`` without it.

        Raises:
            TypeError: Naming the layer and the unexpected arguments.
        """
        if sig.var_kwargs:
            return
        if "training" in kwargs and not sig.training:
            del kwargs["training"]
        unexpected = sorted(k for k in kwargs if k not in sig.names)
        if unexpected:
            raise TypeError(
                f"Layer {self.name}: {type(self).__name__}.call() got unexpected keyword "
                f"argument(s) {unexpected}; it accepts {sorted(sig.names - {'self'})}"
            )

    def _symbolic_mask(self, inputs: Any, mask: Any, output_shapes: list) -> Any:
        """``compute_mask`` on KerasTensors; a mask computed from values becomes a placeholder.

        A layer whose ``compute_mask`` needs data (e.g. ``x != 0``) cannot run
        on symbolic inputs; its output is then marked as masked with a boolean
        KerasTensor of the output shape without the last axis. The real masks
        are computed when the model runs on data.
        """
        try:
            return self.compute_mask(inputs, mask)
        except TypeError:
            if not self.supports_masking and mask is not None:
                raise
        except (AttributeError, ValueError, IndexError):
            pass
        masks = [KerasTensor(tuple(s)[:-1], "bool", name=f"{self.name}/mask") for s in
                 output_shapes]
        return masks if len(masks) > 1 else masks[0]

    def _infer_by_dry_run(self, inputs: list, was_list: bool, kwargs: dict) -> tuple:
        """Output shapes and dtypes of a layer without ``compute_output_shape``.

        Runs ``call`` once on zeros (unknown dimensions set to 2) with recording,
        losses and updates switched off, then marks as unknown (``None``) every
        output dimension that changes when the unknown input dimensions change
        (checked with a second run where they are 3).

        Raises:
            The error ``call`` raised on zeros, re-worded (same type for the common
            built-in errors) to name the layer and the fix: ``compute_output_shape``.
        """
        def run(fill: int) -> list:
            arrays = [Tensor(np.zeros(tuple(fill if d is None else d for d in x.shape),
                                      dtype=x.dtype)) for x in inputs]
            call_kwargs = {k: v for k, v in kwargs.items() if k != "mask"}
            state = CALL_STATE
            previous = state.dry_run, state.depth
            state.dry_run, state.depth = True, state.depth + 1
            stray = _stray_variables()
            try:
                with no_grad():
                    out = self.call(arrays if was_list else arrays[0], **call_kwargs)
            finally:
                state.dry_run, state.depth = previous
            if _stray_variables() != stray:
                raise _variable_in_call_error(self)
            return out if isinstance(out, (list, tuple)) else [out]

        input_shapes = [x.shape for x in inputs]
        try:
            first = run(2)
            second = run(3) if any(d is None for s in input_shapes for d in s) else first
        except _WeightMadeInCall:
            raise
        except Exception as err:
            # Keras 2 silently took such a layer as shape-preserving; then summary() shows a
            # wrong shape and the real error surfaces only in fit. Say it here, with the fix.
            raise _inference_error(self, input_shapes, err) from err
        shapes = []
        for a, b in zip(first, second):
            shapes.append(tuple(d if d == e else None for d, e in zip(a.shape, b.shape)))
        dtypes = [np.dtype(a.dtype).name for a in first]
        return (shapes if len(shapes) > 1 else shapes[0]), dtypes

    def _output_dtype(self, inputs: list, index: int) -> str:
        """Dtype of symbolic output ``index`` (the layer's dtype)."""
        return self.dtype

    # ---- losses and updates ---------------------------------------------
    def add_loss(self, losses: Any, inputs: Any = None) -> None:
        """Add loss tensor(s) or zero-argument callables, conditional on ``inputs``.

        During an eager ``call`` the losses go to the active
        :func:`collect_call_losses` list and the layer's last-call list.
        Otherwise they are stored under ``inputs`` (``None``: unconditional).
        """
        if losses is None or (isinstance(losses, (list, tuple)) and not losses):
            return
        items = list(losses) if isinstance(losses, (list, tuple)) else [losses]
        if CALL_STATE.dry_run:
            return
        if CALL_STATE.depth > 0 and not any(isinstance(x, KerasTensor) for x in items):
            for loss in items:
                _route_call_loss(self, loss)
            return
        self._losses.extend(items)
        self._per_input_losses.setdefault(_inputs_key(inputs), []).extend(items)

    def add_update(self, updates: Any, inputs: Any = None) -> None:
        """Add update(s): ``(variable, new_value)`` pairs or zero-argument callables.

        ``updates`` is one update, or a list or tuple of them (a 2-tuple starting
        with a ``Variable`` is one pair). ``None`` and empty lists are ignored.
        During an eager ``call`` they are applied at once; otherwise they are
        stored under ``inputs`` (``None``: unconditional) for the training loop.
        """
        if updates is None or (isinstance(updates, (list, tuple)) and not updates):
            return
        if isinstance(updates, list):
            items = updates
        elif isinstance(updates, tuple) and not _is_update_pair(updates):
            items = list(updates)  # a tuple of updates, as Keras accepts
        else:
            items = [updates]
        if CALL_STATE.dry_run:
            return
        if CALL_STATE.depth > 0:
            if not CALL_STATE.skip_updates:
                for update in items:
                    _apply_update(update)
            return
        self._updates.extend(items)
        self._per_input_updates.setdefault(_inputs_key(inputs), []).extend(items)

    @property
    def losses(self) -> list:
        """All losses: the stored ones (callables evaluated now) and the last eager call's."""
        out = [loss() if callable(loss) else loss for loss in self._losses]
        return out + list(self._eager_losses)

    @property
    def updates(self) -> list:
        """All stored (symbolic-call and unconditional) updates."""
        return list(self._updates)

    def get_losses_for(self, inputs: Any) -> list:
        """Losses conditional on ``inputs`` (``None``: unconditional ones, e.g. regularizers)."""
        items = self._per_input_losses.get(_inputs_key(inputs), [])
        return [loss() if callable(loss) else loss for loss in items]

    def get_updates_for(self, inputs: Any) -> list:
        """Updates conditional on ``inputs`` (``None``: unconditional ones)."""
        return list(self._per_input_updates.get(_inputs_key(inputs), []))

    def apply_updates(self) -> None:
        """Apply every stored update once (the training loop calls this after a step)."""
        for update in self._updates:
            _apply_update(update)

    # ---- nodes ----------------------------------------------------------
    @property
    def inbound_nodes(self) -> list[Node]:
        """The nodes where this layer was called (one per call on symbolic inputs)."""
        return self._inbound_nodes

    @property
    def outbound_nodes(self) -> list[Node]:
        """The nodes of calls that consumed this layer's outputs."""
        return self._outbound_nodes

    def _node_attr(self, node_index: int, attr: str, attr_name: str) -> Any:
        if not self._inbound_nodes:
            raise RuntimeError(
                f"The layer {self.name} has never been called and thus has no defined "
                f"{attr_name}."
            )
        # like a Python list (and Keras 2), -1 is the latest call
        if not -len(self._inbound_nodes) <= node_index < len(self._inbound_nodes):
            raise ValueError(
                f"Asked to get {attr_name} at node {node_index}, but the layer {self.name} has "
                f"only {len(self._inbound_nodes)} inbound node(s)."
            )
        values = getattr(self._inbound_nodes[node_index], attr)
        return values[0] if len(values) == 1 else list(values)

    def get_input_at(self, node_index: int) -> Any:
        """Input tensor(s) of the call number ``node_index``.

        Raises:
            RuntimeError: If the layer was never called.
            ValueError: If ``node_index`` is out of range.
        """
        return self._node_attr(node_index, "input_tensors", "input")

    def get_output_at(self, node_index: int) -> Any:
        """Output tensor(s) of the call number ``node_index`` (errors as :meth:`get_input_at`)."""
        return self._node_attr(node_index, "output_tensors", "output")

    def get_input_shape_at(self, node_index: int) -> Any:
        """Input shape(s) of the call number ``node_index`` (errors as :meth:`get_input_at`)."""
        return self._node_attr(node_index, "input_shapes", "input shape")

    def get_output_shape_at(self, node_index: int) -> Any:
        """Output shape(s) of the call number ``node_index`` (errors as :meth:`get_input_at`)."""
        return self._node_attr(node_index, "output_shapes", "output shape")

    def get_input_mask_at(self, node_index: int) -> Any:
        """Input mask(s) of the call number ``node_index`` (errors as :meth:`get_input_at`)."""
        return self._node_attr(node_index, "input_masks", "input mask")

    def get_output_mask_at(self, node_index: int) -> Any:
        """Output mask(s) of the call number ``node_index`` (errors as :meth:`get_input_at`)."""
        return self._node_attr(node_index, "output_masks", "output mask")

    def _single_node_attr(self, attr: str, what: str, getter: str) -> Any:
        if len(self._inbound_nodes) > 1:
            raise AttributeError(
                f"Layer {self.name} has multiple inbound nodes, hence the notion of "
                f'"layer {what}" is ill-defined. Use `{getter}(node_index)` instead.'
            )
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name} is not connected, no {what} to return.")
        return self._node_attr(0, attr, what)

    @property
    def input(self) -> Any:
        """Input tensor(s) of the only inbound node.

        Raises:
            AttributeError: If the layer has several inbound nodes or none.
        """
        return self._single_node_attr("input_tensors", "input", "get_input_at")

    @property
    def output(self) -> Any:
        """Output tensor(s) of the only inbound node (errors as :attr:`input`)."""
        return self._single_node_attr("output_tensors", "output", "get_output_at")

    @property
    def input_mask(self) -> Any:
        """Input mask(s) of the only inbound node (errors as :attr:`input`)."""
        return self._single_node_attr("input_masks", "input mask", "get_input_mask_at")

    @property
    def output_mask(self) -> Any:
        """Output mask(s) of the only inbound node (errors as :attr:`input`)."""
        return self._single_node_attr("output_masks", "output mask", "get_output_mask_at")

    def _common_shape(self, attr: str, what: str, getter: str) -> Any:
        if not self._inbound_nodes:
            raise AttributeError(
                f"The layer {self.name} has never been called and thus has no defined {what}."
            )
        shapes = {repr(getattr(node, attr)) for node in self._inbound_nodes}
        if len(shapes) != 1:
            raise AttributeError(
                f'The layer "{self.name}" has multiple inbound nodes with different {what}s. '
                f'Hence the notion of "{what}" is ill-defined for the layer. '
                f"Use `{getter}(node_index)` instead."
            )
        return self._node_attr(0, attr, what)

    @property
    def input_shape(self) -> Any:
        """Input shape if every inbound node agrees (a tuple, or a list of tuples).

        Raises:
            AttributeError: If the layer was never called, or its nodes' shapes differ.
        """
        return self._common_shape("input_shapes", "input shape", "get_input_shape_at")

    @property
    def output_shape(self) -> Any:
        """Output shape if every inbound node agrees (errors as :attr:`input_shape`)."""
        return self._common_shape("output_shapes", "output shape", "get_output_shape_at")

    # ---- misc -------------------------------------------------------------
    @property
    def scope_name(self) -> str:
        """The name scope the layer's weights live under (``"<name>/..."``).

        Raises:
            ValueError: Before the layer is built or called, as TensorFlow's
                layers did: the scope only exists once weights are created.
        """
        if not self.built and not self._inbound_nodes:
            raise ValueError(
                f"No name scope available for layer {self.name!r}: it has not been used yet. "
                "The scope is set the first time the layer is built or called."
            )
        return self.name

    @property
    def graph(self) -> Any:
        """The layer graph this layer belongs to (drawable in notebooks)."""
        return LayerGraph.around(self)

    def __deepcopy__(self, memo: dict) -> Layer:
        """An independent copy: same config and state, its own weights, no nodes."""
        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        for w in self._trainable_weights + self._non_trainable_weights:
            if id(w) not in memo:
                memo[id(w)] = Variable(w.data, trainable=w.trainable, name=w.name,
                                       dtype=w.dtype, constraint=w.constraint)
        fresh = {"_inbound_nodes": [], "_outbound_nodes": [], "_eager_losses": []}
        for key, value in self.__dict__.items():
            if key in fresh:
                new.__dict__[key] = fresh[key]
            else:
                new.__dict__[key] = copy.deepcopy(value, memo)
        # conditional losses/updates belong to the original's calls
        new._per_input_losses = {k: v for k, v in new._per_input_losses.items() if k is None}
        new._losses = list(new._per_input_losses.get(None, []))
        new._per_input_updates = {k: v for k, v in new._per_input_updates.items() if k is None}
        new._updates = list(new._per_input_updates.get(None, []))
        new._constraints = {memo.get(id(w), w): c for w, c in self._constraints.items()}
        return new

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _get_initializer(identifier: Any, dtype: str) -> Any:
    """Keras's default initializer by dtype (glorot_uniform for floats, zeros otherwise)."""
    if identifier is None:
        identifier = "glorot_uniform" if np.dtype(dtype).kind == "f" else "zeros"
    return initializers.get(identifier)
