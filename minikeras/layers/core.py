"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, Lambda.

Keras 2 arguments, weights and configs. ``Dense`` runs as one fused op (matmul, bias and a
ReLU when asked) so a training step records one tape entry per layer instead of three.

``Lambda`` and untrusted files: a ``Lambda`` whose function is a named, module-level function
serialises as that name and is found again through ``custom_objects`` or the already-imported
module. An anonymous function (a ``lambda`` or a nested function) serialises as bytecode, and
turning that back into a function runs code from the file: :meth:`Lambda.from_config` refuses
unless you allow it explicitly, with ``safe_mode=False`` or inside
``with unsafe_deserialization():``. Nothing is evaluated by default.
"""

from __future__ import annotations

import base64
import contextlib
import marshal
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from minikeras import activations, constraints, initializers, regularizers
from minikeras import backend as K
from minikeras.autograd import Tensor, no_grad
from minikeras.autograd.ops.fused import DenseOp, DenseReluOp
from minikeras.backend.random import get_rng
from minikeras.engine.base_layer import Layer
from minikeras.engine.fusion import Epilogue
from minikeras.engine.input_spec import InputSpec
from minikeras.generic_utils import get_custom_objects
from minikeras.layers._utils import normalize_data_format, shape_tuple, single_shape, who

__all__ = [
    "Activation", "Dense", "Dropout", "Flatten", "Lambda", "Permute", "Reshape",
    "enable_unsafe_deserialization", "unsafe_deserialization",
]


# ------------------------------------------------------------------------------------ Dense


class Dense(Layer):
    """Densely connected layer: ``activation(inputs @ kernel + bias)``.

    Inputs of rank above 2 are multiplied along their last axis (every other axis is a batch
    axis), as Keras 2 does with TensorFlow.

    Args:
        units: Output size (positive int).
        activation: Name or callable; ``None`` is linear.
        use_bias: Whether to add a bias vector.
        kernel_initializer: Initializer of the ``(input_dim, units)`` kernel.
        bias_initializer: Initializer of the bias.
        kernel_regularizer: Regularizer of the kernel.
        bias_regularizer: Regularizer of the bias.
        activity_regularizer: Regularizer of the output.
        kernel_constraint: Constraint of the kernel.
        bias_constraint: Constraint of the bias.
        **kwargs: Base layer arguments; ``input_dim=n`` is short for ``input_shape=(n,)``.

    Example:
        >>> Dense(4, activation="relu").compute_output_shape((None, 16))
        (None, 4)
    """

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        if "input_shape" not in kwargs and "input_dim" in kwargs:
            kwargs["input_shape"] = (kwargs.pop("input_dim"),)
        super().__init__(**kwargs)
        if not isinstance(units, int | np.integer) or isinstance(units, bool) or units < 1:
            raise ValueError(f"{who(self)}: `units` must be a positive int, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True
        # the fused op handles ReLU itself; other activations run after it
        self._fuse_relu = self.activation is activations.relu
        self._post = None if self._fuse_relu or self.activation is activations.linear \
            else self.activation

    def build(self, input_shape: Any) -> None:
        """Create ``kernel (input_dim, units)`` and ``bias (units,)``."""
        shape = single_shape(self, input_shape)
        if len(shape) < 2 or shape[-1] is None:
            raise ValueError(
                f"{who(self)}: expects an input of rank >= 2 with a defined last dimension, "
                f"got shape {shape}"
            )
        input_dim = shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(input_dim, self.units), initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint,
            )
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True

    def call(self, inputs: Any) -> Any:
        """Fused matmul + bias (+ ReLU), then any other activation."""
        args = (inputs, self.kernel) if self.bias is None else (inputs, self.kernel, self.bias)
        # a fused ReLU is recorded as "Dense+Relu", so the tape shows that the ReLU ran
        op = DenseReluOp if self._fuse_relu else DenseOp
        out = op.apply(*args, relu=self._fuse_relu)
        return out if self._post is None else self._post(out)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        """The input shape with the last axis replaced by ``units``."""
        shape = single_shape(self, input_shape)
        if len(shape) < 2 or shape[-1] is None:
            raise ValueError(
                f"{who(self)}: expects an input of rank >= 2 with a defined last dimension, "
                f"got shape {shape}"
            )
        return (*shape[:-1], self.units)

    def get_config(self) -> dict:
        """Keras 2's keys."""
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }
        return {**super().get_config(), **config}


# ------------------------------------------------------------------------------- Activation


class Activation(Layer):
    """Apply an activation function.

    Args:
        activation: Name (``'relu'``...) or callable.
        **kwargs: Base layer arguments.
    """

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True
        self.activation = activations.get(activation)

    def call(self, inputs: Any) -> Any:
        """``activation(inputs)``."""
        return self.activation(inputs)

    def inference_epilogue(self, training: Any) -> Epilogue | None:
        """A ReLU, which the layer before may apply to its output (:mod:`minikeras.engine.fusion`).

        Returns:
            ``Epilogue(relu=True)`` for ``Activation('relu')``, else ``None``.
        """
        return Epilogue(relu=True) if self.activation is activations.relu else None

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Unchanged."""
        return input_shape

    def get_config(self) -> dict:
        """``{'activation': name}``."""
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


# ---------------------------------------------------------------------------------- Dropout


class Dropout(Layer):
    """Randomly zero a fraction ``rate`` of the inputs during training (inverted dropout).

    Only active when called with ``training=True`` (``fit`` does this); the kept inputs are
    scaled by ``1 / (1 - rate)`` so inference needs no rescaling.

    Args:
        rate: Fraction to drop, in ``[0, 1]``.
        noise_shape: Shape of the binary mask, broadcast against the input; ``None`` entries
            take the input's size (e.g. ``(None, 1, None)`` shares the mask over time steps).
        seed: Optional integer seed (a private generator); by default the library's shared one.
        **kwargs: Base layer arguments.
    """

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(rate, int | float) or isinstance(rate, bool):
            raise ValueError(f"{who(self)}: `rate` must be a float in [0, 1], got {rate!r}")
        self.rate = min(1.0, max(0.0, float(rate)))
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)
        self.supports_masking = True

    def _call_uses_learning_phase(self, kwargs: dict) -> bool:
        # Keras 2: a rate strictly between 0 and 1 and no fixed `training` argument
        return 0.0 < self.rate < 1.0 and kwargs.get("training") is None

    def call(self, inputs: Any, training: Any = None) -> Any:
        """Drop (training) or pass through (inference)."""
        if not training or self.rate <= 0.0:
            return inputs
        shape = inputs.shape
        if self.noise_shape is not None:
            shape = tuple(s if n is None else n for n, s in zip(self.noise_shape, inputs.shape))
        if self.rate >= 1.0:  # everything dropped; avoid dividing by zero
            return inputs * np.zeros(shape, dtype=inputs.dtype)
        rng = self._rng or get_rng()
        keep = rng.random(shape) >= self.rate
        mask = keep.astype(inputs.dtype) * inputs.dtype.type(1.0 / (1.0 - self.rate))
        return inputs * mask

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Unchanged."""
        return input_shape

    def get_config(self) -> dict:
        """``{'rate', 'noise_shape', 'seed'}``."""
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape,
                "seed": self.seed}


# ------------------------------------------------------------------ Flatten, Reshape, Permute


class Flatten(Layer):
    """Flatten every axis but the batch axis.

    Args:
        data_format: With ``'channels_first'``, channels are moved last first, so a model
            gives the same flattened order in both formats (Keras 2.1.3+).
        **kwargs: Base layer arguments.
    """

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(self, data_format)
        self.input_spec = InputSpec(min_ndim=3)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        """``(batch, prod(other axes))``.

        Raises:
            ValueError: If a non-batch dimension is unknown.
        """
        shape = single_shape(self, input_shape)
        if not all(shape[1:]):
            raise ValueError(
                f"{who(self)}: the shape of the input is not fully defined (got {shape[1:]}); "
                f"pass a complete input_shape or batch_input_shape to the first layer"
            )
        return (shape[0], int(np.prod(shape[1:])))

    def call(self, inputs: Any) -> Any:
        """Reshape to ``(batch, -1)``."""
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = K.transpose(inputs, (0, *range(2, inputs.ndim), 1))
        return K.reshape(inputs, (inputs.shape[0], -1))

    def get_config(self) -> dict:
        """``{'data_format'}``."""
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape to ``(batch, *target_shape)``; one entry may be ``-1`` (inferred).

    Args:
        target_shape: Shape without the batch axis.
        **kwargs: Base layer arguments.
    """

    def __init__(self, target_shape: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            self.target_shape = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"{who(self)}: `target_shape` must be a tuple of ints, got {target_shape!r}"
            ) from None
        if sum(d == -1 for d in self.target_shape) > 1 or any(
            d < -1 or d == 0 for d in self.target_shape
        ):
            raise ValueError(
                f"{who(self)}: `target_shape` must hold positive ints and at most one -1, "
                f"got {self.target_shape}"
            )

    def _fix_unknown_dimension(self, input_shape: tuple) -> tuple:
        original = int(np.prod(input_shape))
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        output = list(self.target_shape)
        if -1 in output:
            if original % known:
                self._size_error(input_shape)
            output[output.index(-1)] = original // known
        elif original != known:
            self._size_error(input_shape)
        return tuple(output)

    def _size_error(self, input_shape: tuple) -> None:
        raise ValueError(
            f"{who(self)}: total size of the new array must be unchanged: cannot reshape "
            f"input shape {input_shape} (without batch) into {self.target_shape}"
        )

    def compute_output_shape(self, input_shape: Any) -> tuple:
        """``(batch, *target_shape)`` with the ``-1`` resolved when the input is known."""
        shape = single_shape(self, input_shape)
        if None in shape[1:]:
            return (shape[0], *(None if d == -1 else d for d in self.target_shape))
        return (shape[0], *self._fix_unknown_dimension(shape[1:]))

    def call(self, inputs: Any) -> Any:
        """Reshape, keeping the batch axis."""
        target = self._fix_unknown_dimension(tuple(inputs.shape[1:]))
        return K.reshape(inputs, (inputs.shape[0], *target))

    def get_config(self) -> dict:
        """``{'target_shape'}``."""
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Permute the non-batch axes; ``dims`` counts from 1 (``(2, 1)`` swaps the two axes).

    Args:
        dims: A permutation of ``1..n``.
        **kwargs: Base layer arguments.
    """

    def __init__(self, dims: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                f"{who(self)}: `dims` must be a permutation of 1..{len(self.dims)} "
                f"(axis 0 is the batch axis), got {dims!r}"
            )
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        """The input's axes in the new order."""
        shape = single_shape(self, input_shape)
        return (shape[0], *(shape[d] for d in self.dims))

    def call(self, inputs: Any) -> Any:
        """Transpose."""
        return K.transpose(inputs, (0, *self.dims))

    def get_config(self) -> dict:
        """``{'dims'}``."""
        return {**super().get_config(), "dims": self.dims}


# ----------------------------------------------------------------------------------- Lambda

_UNSAFE = {"allowed": False}


def enable_unsafe_deserialization() -> None:
    """Allow :meth:`Lambda.from_config` to rebuild anonymous functions from bytecode for good.

    Only do this for files you trust: the bytecode runs as your program.
    """
    _UNSAFE["allowed"] = True


@contextlib.contextmanager
def unsafe_deserialization() -> Iterator[None]:
    """Within the block, ``Lambda`` bytecode may be deserialised (trusted files only)."""
    before = _UNSAFE["allowed"]
    _UNSAFE["allowed"] = True
    try:
        yield
    finally:
        _UNSAFE["allowed"] = before


def _is_named(fn: Any) -> bool:
    """Whether ``fn`` can be found again by module and name."""
    name = getattr(fn, "__qualname__", None)
    module = getattr(fn, "__module__", None)
    return bool(name and module and "<" not in name and isinstance(fn, types.FunctionType)
                or isinstance(fn, types.BuiltinFunctionType))


def _dump(fn: Callable) -> tuple[Any, str, str | None]:
    """``(function, function_type, module)`` for a config."""
    if _is_named(fn):
        return fn.__qualname__, "function", fn.__module__
    if isinstance(fn, types.FunctionType):
        stored = getattr(fn, "_minikeras_bytecode", None)
        if stored is not None and stored[1] is fn.__code__:
            # loaded from a config: give back the same text (marshal's output for a code
            # object depends on reference counts, so dumping it again can differ)
            code = stored[0]
        else:
            code = base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")
        closure = None if fn.__closure__ is None else [c.cell_contents for c in fn.__closure__]
        return [code, fn.__defaults__, closure], "lambda", None
    raise ValueError(f"Lambda: cannot serialize {fn!r}: use a named module-level function")


def _find_named(name: str, module: str | None, custom_objects: dict | None, what: str) -> Any:
    """Look a function up by name without importing anything new."""
    for table in (custom_objects or {}, get_custom_objects()):
        if name in table:
            return table[name]
    for table in (vars(activations), vars(K)):
        if module in (None, activations.__name__, K.__name__) and name in table:
            return table[name]
    mod = sys.modules.get(module) if module else None
    if mod is not None:
        obj: Any = mod
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if callable(obj):
            return obj
    raise ValueError(
        f"Lambda: cannot find the {what} {name!r} (module {module!r}); pass it in "
        f"custom_objects={{{name!r}: ...}} or import its module first"
    )


def _load(value: Any, kind: str, module: str | None, custom_objects: dict | None,
          safe_mode: bool | None, what: str) -> Any:
    if kind == "function":
        return _find_named(value, module, custom_objects, what)
    if kind == "lambda":
        allowed = _UNSAFE["allowed"] if safe_mode is None else not safe_mode
        if not allowed:
            raise ValueError(
                f"Lambda: the {what} is stored as Python bytecode, and loading it would run "
                "code from the file. This is refused by default. If you trust the file, pass "
                "safe_mode=False (minikeras.models.load_model(path, safe_mode=False), or "
                "minikeras.layers.deserialize(config, safe_mode=False)) "
                "or load it inside `with minikeras.layers.unsafe_deserialization():`"
            )
        code_b64, defaults, closure = value
        code = marshal.loads(base64.b64decode(code_b64.encode("ascii")))  # noqa: S302 - opted in
        cells = None if closure is None else tuple(types.CellType(c) for c in closure)
        globs = {**vars(K), "K": K, "np": np, **(custom_objects or {})}
        fn = types.FunctionType(code, globs, code.co_name,
                                None if defaults is None else tuple(defaults), cells)
        fn._minikeras_bytecode = (code_b64, code)  # so get_config gives the same config back
        return fn
    return value  # raw: a shape tuple or None


class Lambda(Layer):
    """Wrap an arbitrary function of tensors as a layer.

    Args:
        function: ``f(inputs, **arguments)`` working on Tensors (use :mod:`minikeras.backend`
            ops to stay differentiable).
        output_shape: Output shape without the batch axis, or a function
            ``input_shape -> output_shape`` (with the batch axis); ``None``: inferred by
            running ``function`` once on zeros.
        mask: ``None``, a mask, or a function ``(inputs, mask) -> mask``.
        arguments: Extra keyword arguments for ``function``.
        **kwargs: Base layer arguments.

    Serialisation: see the module docstring (anonymous functions load only with
    ``safe_mode=False``).
    """

    def __init__(self, function: Callable, output_shape: Any = None, mask: Any = None,
                 arguments: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"{who(self)}: `function` must be callable, got {function!r}")
        self.function = function
        self.arguments = dict(arguments or {})
        self.supports_masking = mask is not None
        self.mask = mask
        if output_shape is None or callable(output_shape):
            self._output_shape = output_shape
        else:
            self._output_shape = shape_tuple(output_shape)

    def call(self, inputs: Any, mask: Any = None) -> Any:
        """``function(inputs, **arguments)`` (and ``mask=`` if the function takes it)."""
        return self.function(inputs, **self.arguments)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The ``mask`` argument (called if it is a function)."""
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def compute_output_shape(self, input_shape: Any) -> Any:
        """From ``output_shape``, or by running the function once on zeros."""
        if callable(self._output_shape):
            shape = self._output_shape(input_shape)
            return [shape_tuple(s) for s in shape] if isinstance(shape, list) \
                else shape_tuple(shape)
        if self._output_shape is not None:
            first = input_shape[0] if isinstance(input_shape, list) else input_shape
            return (first[0], *self._output_shape)
        return self._infer_shape(input_shape)

    def _infer_shape(self, input_shape: Any) -> Any:
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        dummies = [Tensor(np.zeros([1 if d is None else d for d in s], dtype=self.dtype))
                   for s in shapes]
        try:
            with no_grad():
                out = self.function(dummies if isinstance(input_shape, list) else dummies[0],
                                    **self.arguments)
        except Exception as exc:
            raise ValueError(
                f"{who(self)}: could not infer the output shape by running the function on "
                f"zeros of shape {input_shape} ({type(exc).__name__}: {exc}); pass output_shape"
            ) from exc
        batch = shapes[0][0]
        outs = out if isinstance(out, list | tuple) else [out]
        result = [(batch, *tuple(o.shape)[1:]) for o in outs]
        return result if isinstance(out, list | tuple) else result[0]

    def get_config(self) -> dict:
        """``function``/``function_type``/``module`` and the same for ``output_shape``.

        ``function_type`` is ``'function'`` (a name) or ``'lambda'`` (bytecode, loadable only
        with explicit permission).
        """
        function, function_type, module = _dump(self.function)
        if callable(self._output_shape):
            output_shape, output_shape_type, output_shape_module = _dump(self._output_shape)
        else:
            output_shape, output_shape_type, output_shape_module = \
                self._output_shape, "raw", None
        config = {
            "function": function, "function_type": function_type, "module": module,
            "output_shape": output_shape, "output_shape_type": output_shape_type,
            "output_shape_module": output_shape_module, "arguments": self.arguments,
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None,
                    safe_mode: bool | None = None) -> Lambda:
        """Rebuild; bytecode (``function_type='lambda'``) needs ``safe_mode=False``.

        Raises:
            ValueError: On bytecode without permission, or a named function not found.
        """
        config = dict(config)
        function = _load(config.pop("function"), config.pop("function_type", "function"),
                         config.pop("module", None), custom_objects, safe_mode, "function")
        output_shape = _load(config.pop("output_shape", None),
                             config.pop("output_shape_type", "raw"),
                             config.pop("output_shape_module", None), custom_objects,
                             safe_mode, "output_shape function")
        return cls(function, output_shape=output_shape, **config)
