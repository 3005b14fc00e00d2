"""``BatchNormalization`` (Ioffe & Szegedy, 2015), with Keras 2's arguments and weights.

Training (``training=True``): normalise with the batch's mean and (biased) variance over every
axis but ``axis``, and move the moving averages towards the batch statistics:
``moving = momentum * moving + (1 - momentum) * batch``, the batch variance being the biased one
that normalises the batch (``tf.nn.moments``, as Keras 2.0.8; Keras 2.1.3 moved to the unbiased
``n / (n - 1) * var``). The new moving values go through ``add_update``; an eager call applies
them at once, except under the model's ``predict``/``evaluate``, which run no layer updates.

Inference (``training`` false or ``None``): normalise with the moving mean and variance.

Both run as one op each (forward and backward side by side below), so a training step records
one tape entry per normalisation layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minikeras import constraints, initializers, kernels, regularizers
from minikeras.autograd.ops.fused import BatchNorm, inference_scale_shift
from minikeras.engine.base_layer import Layer
from minikeras.engine.fusion import Epilogue
from minikeras.engine.input_spec import InputSpec
from minikeras.layers._utils import single_shape, who

__all__ = ["BatchNormalization"]


class BatchNormalization(Layer):
    """Normalise the activations of the previous layer per channel.

    Args:
        axis: The feature axis (``-1`` for channels-last, ``1`` after a channels-first conv).
        momentum: Momentum of the moving averages.
        epsilon: Added to the variance before the square root.
        center: Whether to add the learned offset ``beta``.
        scale: Whether to multiply by the learned ``gamma``.
        beta_initializer: Initializer of ``beta``.
        gamma_initializer: Initializer of ``gamma``.
        moving_mean_initializer: Initializer of the moving mean.
        moving_variance_initializer: Initializer of the moving variance.
        beta_regularizer: Regularizer of ``beta``.
        gamma_regularizer: Regularizer of ``gamma``.
        beta_constraint: Constraint of ``beta``.
        gamma_constraint: Constraint of ``gamma``.
        **kwargs: Base layer arguments.

    Weights, in order: ``gamma``, ``beta`` (trainable, when ``scale``/``center``),
    ``moving_mean``, ``moving_variance`` (non-trainable).
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(axis, int | np.integer) or isinstance(axis, bool):
            raise ValueError(f"{who(self)}: `axis` must be an int, got {axis!r}")
        self.supports_masking = True
        self.axis = int(axis)
        self.momentum = momentum
        self.epsilon = epsilon
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def build(self, input_shape: Any) -> None:
        """Create ``gamma``, ``beta``, ``moving_mean`` and ``moving_variance``."""
        shape = single_shape(self, input_shape)
        ndim = len(shape)
        if not -ndim <= self.axis < ndim:
            raise ValueError(
                f"{who(self)}: axis {self.axis} is out of range for an input of shape {shape}"
            )
        dim = shape[self.axis]
        if dim is None:
            raise ValueError(
                f"{who(self)}: axis {self.axis} of the input should have a defined dimension, "
                f"but the layer received an input with shape {shape}"
            )
        self.input_spec = InputSpec(ndim=ndim, axes={self.axis: dim})
        self.gamma = self.beta = None
        if self.scale:
            self.gamma = self.add_weight(
                name="gamma", shape=(dim,), initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer, constraint=self.gamma_constraint,
            )
        if self.center:
            self.beta = self.add_weight(
                name="beta", shape=(dim,), initializer=self.beta_initializer,
                regularizer=self.beta_regularizer, constraint=self.beta_constraint,
            )
        self.moving_mean = self.add_weight(
            name="moving_mean", shape=(dim,), initializer=self.moving_mean_initializer,
            trainable=False,
        )
        self.moving_variance = self.add_weight(
            name="moving_variance", shape=(dim,), initializer=self.moving_variance_initializer,
            trainable=False,
        )
        self._ones = np.ones(dim, dtype=self.dtype)
        self._zeros = np.zeros(dim, dtype=self.dtype)
        self.built = True

    def _call_uses_learning_phase(self, kwargs: dict) -> bool:
        # Keras 2: batch statistics or moving ones, unless `training` is fixed
        return kwargs.get("training") is None

    def call(self, inputs: Any, training: Any = None) -> Any:
        """Normalise with batch statistics (training) or the moving averages (inference)."""
        ndim = inputs.ndim
        axis = self.axis % ndim
        axes = tuple(a for a in range(ndim) if a != axis)
        bshape = [1] * ndim
        bshape[axis] = inputs.shape[axis]
        gamma = self._ones if self.gamma is None else self.gamma
        beta = self._zeros if self.beta is None else self.beta
        if not training:
            return BatchNorm.apply(
                inputs, gamma, beta, mean=self.moving_mean.data.reshape(bshape),
                var=self.moving_variance.data.reshape(bshape), axes=axes, bshape=bshape,
                eps=self.epsilon, batch_stats=False,
            )
        x = inputs.data
        if axis == ndim - 1 and x.dtype.kind == "f":
            # two passes split over the threads, float64 sums (kernels.channel_moments), where
            # numpy took four passes and two temporaries on one thread
            mean, var = (m.astype(x.dtype).reshape(bshape) for m in kernels.channel_moments(x))
        else:
            mean = x.mean(axis=axes, keepdims=True)
            var = np.square(x - mean).mean(axis=axes, keepdims=True)
        out = BatchNorm.apply(inputs, gamma, beta, mean=mean, var=var, axes=axes,
                               bshape=bshape, eps=self.epsilon, batch_stats=True)
        m = self.momentum
        self.add_update(
            [(self.moving_mean, self.moving_mean.data * m + mean.reshape(-1) * (1.0 - m)),
             (self.moving_variance,
              self.moving_variance.data * m + var.reshape(-1) * (1.0 - m))],
            inputs,
        )
        return out

    def inference_epilogue(self, training: Any) -> Epilogue | None:
        """At inference, along the last axis: ``x * scale + shift`` from the moving statistics.

        What lets a model run ``SeparableConv2D -> BatchNormalization`` as one op when nothing
        records (:mod:`minikeras.engine.fusion`); the scale and shift are those :meth:`call`
        would apply, computed the same way.

        Returns:
            The :class:`~minikeras.engine.fusion.Epilogue`, or ``None`` when this call would use
            batch statistics (``training``) or normalises another axis than the last.
        """
        ndim = self.input_spec.ndim if self.input_spec is not None else None
        if training or ndim is None or self.axis % ndim != ndim - 1:
            return None
        gamma = self._ones if self.gamma is None else self.gamma.data
        beta = self._zeros if self.beta is None else self.beta.data
        scale, shift = inference_scale_shift(gamma, beta, self.moving_mean.data,
                                             self.moving_variance.data, self.epsilon,
                                             np.dtype(self.dtype))
        return Epilogue(scale, shift)

    def _symbolic_call(self, inputs: list, kwargs: dict, was_list: bool) -> Any:
        """Connect the layer, and record its two moving-average updates under the inputs.

        Keras 2 runs ``call`` on symbolic tensors, so every symbolic call except one
        with ``training=False`` adds the moving mean and variance updates
        (``bn.updates``, ``bn.get_updates_for(x)``). Data never flows here, so the
        updates are recorded as placeholders; eager calls apply the real ones.
        """
        outputs = super()._symbolic_call(inputs, kwargs, was_list)
        training = kwargs.get("training")
        if training is None or training:
            self.add_update(
                [self._placeholder_update((self.moving_mean, None), "moving_mean_update"),
                 self._placeholder_update((self.moving_variance, None),
                                          "moving_variance_update")],
                inputs if was_list else inputs[0],
            )
        return outputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Unchanged."""
        return input_shape

    def get_config(self) -> dict:
        """Keras 2's keys."""
        config = {
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer":
                initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }
        return {**super().get_config(), **config}
