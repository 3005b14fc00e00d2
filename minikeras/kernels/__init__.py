"""Numba-JIT convolution and pooling kernels on raw NHWC numpy arrays.

Each kernel is a plain function of arrays with a numpy twin in :mod:`.reference` that reads as its
definition. Modules:

* :mod:`.padding` — ``"valid"``/``"same"`` to explicit pads, Keras's ``conv_output_length``.
* :mod:`.depthwise` — depthwise convolution, forward and both gradients, and the separable
  forward that runs each thread's depthwise rows and their 1x1 product back to back.
* :mod:`.depthwise_lanes` — the depthwise kernels that keep four output pixels' sums in
  registers (stride-1 forward and both gradients, 16k channels), written with
  :mod:`.lanes` — vectors of 16 numbers held in registers (load, store, FMA, zeros).
* :mod:`.conv` — general convolution (im2col + BLAS), forward and both gradients.
* :mod:`.pool` — max and average pooling, forward and input gradient (max: also from the
  argmax its forward pass recorded, and the gather at that argmax that forward mode needs).
* :mod:`.matmul` — the 1x1-convolution products, split by rows over threads (and other
  memory-bound passes, in row blocks); :mod:`.narrow` — those with an inner dimension of 1-4,
  as a plain loop; :mod:`.lanes_product` — big float32 ones with their sums and epilogue in
  registers (blocks sized for AVX-512 or AVX2).
* :mod:`.aligned` — arrays on 64-byte boundaries, for the kernels' whole-vector loads.
* :mod:`.affine` — batch normalisation's passes: ``x * scale + shift`` per channel, the
  batch's mean and variance, the sums of the backward pass.
* :mod:`.relu` — the ReLU and its gradient for big arrays, split over the threads.
* :mod:`.optimizer_updates` — SGD-momentum, RMSprop/Adagrad and Adam updates as one loop.
* :mod:`.reference` — the numpy twins.
* :mod:`.threads` — the threading defaults, applied before numba's first parallel call.
* :mod:`.compile_notice` — the one line on stderr while kernels compile (silent when cached);
  :mod:`.warmup` — ``python -m minikeras.kernels.warmup`` compiles them ahead of time
  (``scripts/setup.sh`` runs it).

Importing this package is cheap: numba is imported only when a JIT kernel is first used (the
names below are loaded on first access), and each kernel compiles on its first call, then comes
from numba's on-disk cache in later processes. ``NUMBA_DISABLE_JIT=1`` runs the same kernels as
plain Python, for debugging.
"""

from __future__ import annotations

import importlib

from minikeras.kernels.padding import conv_output_length, explicit_pads, output_hw, same_pads

_LAZY = {
    "depthwise_conv2d_forward": "depthwise",
    "depthwise_conv2d_grad_input": "depthwise",
    "depthwise_conv2d_grad_kernel": "depthwise",
    "separable_forward": "depthwise",
    "conv2d_forward": "conv",
    "conv2d_grad_input": "conv",
    "conv2d_grad_kernel": "conv",
    "max_pool2d_forward": "pool",
    "max_pool2d_grad_input": "pool",
    "max_pool2d_forward_argmax": "pool",
    "max_pool2d_grad_from_argmax": "pool",
    "max_pool2d_gather_from_argmax": "pool",
    "avg_pool2d_forward": "pool",
    "avg_pool2d_grad_input": "pool",
    "channel_affine": "affine",
    "channel_affine2": "affine",
    "channel_moments": "affine",
    "epilogue": "affine",
    "narrow_product": "narrow",
    "lanes_product_rows": "lanes_product",
    "lanes_product_tn": "lanes_product",
    "lanes_product_tn_parts": "lanes_product",
    "wide_registers": "lanes",
    "channel_sums": "affine",
    "relu_forward": "relu",
    "relu_backward": "relu",
    "sgd_momentum_update": "optimizer_updates",
    "rms_update": "optimizer_updates",
    "adam_update": "optimizer_updates",
}

__all__ = ["conv_output_length", "explicit_pads", "output_hw", "same_pads", *_LAZY]


def __getattr__(name: str):
    """Load a JIT kernel (and with it numba) the first time its name is used."""
    if name in _LAZY:
        module = importlib.import_module(f"minikeras.kernels.{_LAZY[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'minikeras.kernels' has no attribute {name!r}")
