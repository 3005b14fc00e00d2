"""Compile the kernels once, ahead of time, into numba's on-disk cache.

Run by ``sh scripts/setup.sh`` after installing, so that the README's demo and the tutorials start
warm::

    python -m minikeras.kernels.warmup          # compile what is not cached yet; quiet if all is
    python -m minikeras.kernels.warmup --list   # the variants it covers

Each kernel is compiled per *variant*: per dtype and array layout of its arguments, and per
driver (a serial function for small problems, a parallel one for big ones). :data:`VARIANTS`
calls the public kernels on tiny arrays chosen to reach every variant the README example, the
demo and the notebooks use (found by recording numba's compilations while they ran from an empty
cache); a variant that is already cached costs a few milliseconds to load. Other variants (say
float64 pooling) still compile on their first call, announced by
:mod:`minikeras.kernels.compile_notice`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np

from minikeras.kernels import (
    affine,
    compile_notice,
    conv,
    depthwise,
    matmul,
    narrow,
    optimizer_updates,
    pool,
    relu,
)

F32, F64 = np.float32, np.float64
SAME3 = ((1, 1), (1, 1))  # "same" pads of a 3x3 window


def _rand(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.random.default_rng(0).random(shape).astype(dtype)


def _depthwise(dtype: type, shape: tuple[int, int, int, int]) -> None:
    x = _rand(shape, dtype)
    k = _rand((3, 3, shape[3], 1), dtype)
    y = depthwise.depthwise_conv2d_forward(x, k, pads=SAME3)
    depthwise.depthwise_conv2d_grad_input(y, k, x.shape, pads=SAME3)
    depthwise.depthwise_conv2d_grad_kernel(x, y, k.shape, pads=SAME3)


def _strided(shape: tuple[int, int, int, int]) -> None:
    x = _rand(shape, F32)
    k = _rand((3, 3, shape[3], 1), F32)
    depthwise.depthwise_conv2d_forward(x, k, (2, 2), pads=((0, 1), (0, 1)))


def _conv() -> None:
    x = _rand((2, 6, 6, 3), F32)
    k = _rand((3, 3, 3, 4), F32)
    y = conv.conv2d_forward(x, k, pads=SAME3)
    conv.conv2d_grad_input(y, k, x.shape, pads=SAME3)
    conv.conv2d_grad_kernel(x, y, k.shape, pads=SAME3)


def _max_pool(shape: tuple[int, int, int, int], train: bool) -> None:
    x = _rand(shape, F32)
    pool.max_pool2d_forward(x, (2, 2), (2, 2))
    if train:
        y, where = pool.max_pool2d_forward_argmax(x, (2, 2), (2, 2))
        pool.max_pool2d_grad_from_argmax(where, y, x.shape)


def _avg_pool() -> None:
    x = _rand((2, 6, 6, 4), F32)
    y = pool.avg_pool2d_forward(x, (2, 2), (2, 2))
    pool.avg_pool2d_grad_input(y, x.shape, (2, 2), (2, 2))


def _batch_norm(dtype: type) -> None:
    x, v = _rand((4, 3), dtype), _rand((3,), dtype)
    affine.channel_affine(x, v, v)
    affine.epilogue(x, v, v, v, relu=True)  # a product's bias, batch norm, ReLU (predict)
    affine.channel_affine2(x, x, v, v, v)
    affine.channel_sums(x, x)
    affine.channel_moments(x)  # a training step's batch statistics


def _relu() -> None:
    x = _rand((64,), F32)
    relu.relu_backward(x, relu.relu_forward(x))


def _narrow() -> None:
    a, b = _rand((16, 1), F32), _rand((1, 8), F32)
    narrow.narrow_product(a, b, np.empty((16, 8), F32), _rand((8,), F32))


def _register_products() -> None:
    # big enough for matmul to take the register kernels (and the fused separable forward)
    a, b = _rand((2048, 32), F32), _rand((32, 64), F32)
    matmul.matmul(a, b)
    matmul.matmul_tn(a, _rand((2048, 64), F32))
    # the fused separable forward with both halves in registers (depthwise_lanes)
    x, k = _rand((8, 32, 32, 32), F32), _rand((3, 3, 32, 1), F32)
    depthwise.separable_forward(x, k, b, None, pads=SAME3)


def _optimizers() -> None:
    p, g, m, v, w = (_rand((8,), F32) for _ in range(5))
    optimizer_updates.sgd_momentum_update(p, g, v, 0.1, 0.9, False)
    optimizer_updates.rms_update(p, g, v, 0.1, 0.9, 1e-7, False)
    optimizer_updates.adam_update(p, g, m, v, w, 0.1, 0.9, 0.999, 1e-7, False)


#: ``(what, how)``: each call compiles (or loads) one group of kernel variants.
VARIANTS: list[tuple[str, Callable[[], None]]] = [
    ("depthwise, float32, serial", lambda: _depthwise(F32, (2, 6, 6, 8))),
    # big enough for the parallel drivers (and the fused separable forward's threads)
    ("depthwise, float32, parallel", lambda: _depthwise(F32, (2, 32, 32, 64))),
    ("depthwise, float64 (gradient checks)", lambda: _depthwise(F64, (2, 6, 6, 8))),
    # stride 2 over 32+ channels (a MobileNet-style lab): the pixel-by-pixel forward
    ("depthwise, strided, 32+ channels", lambda: _strided((2, 6, 6, 32))),
    ("depthwise, strided, 32+ channels, parallel", lambda: _strided((8, 64, 64, 32))),
    # stride 2 over fewer channels (the README example's second layer, 8x8x16): the forward
    # that splits rows into phases as it goes
    ("depthwise, strided, under 32 channels", lambda: _strided((2, 6, 6, 16))),
    ("depthwise, strided, under 32 channels, parallel", lambda: _strided((8, 32, 32, 16))),
    ("1x1 products of 1-4 channels", _narrow),
    ("1x1 products in registers", _register_products),
    ("convolution", _conv),
    ("max pooling, serial", lambda: _max_pool((2, 6, 6, 4), train=True)),
    # predict in batches of 256 on the demo's 8x8x32 maps
    ("max pooling, parallel forward", lambda: _max_pool((4, 32, 32, 64), train=False)),
    ("average pooling", _avg_pool),
    ("optimizer updates", _optimizers),
    ("batch normalisation", lambda: [_batch_norm(t) for t in (F32, F64)]),
    ("ReLU of big arrays", _relu),
]


def main(argv: list[str] | None = None) -> int:
    """Compile (or load) every variant in :data:`VARIANTS`, saying what compiled.

    Args:
        argv: Command-line arguments (``--list``, ``--quiet``).

    Returns:
        The exit status, 0.
    """
    parser = argparse.ArgumentParser(prog="python -m minikeras.kernels.warmup", description=__doc__)
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(what for what, _ in VARIANTS))
        return 0
    notice = compile_notice.installed()  # (the kernel modules' import installed it)
    if notice is not None:
        notice.quiet = True  # one line per variant below instead
    say = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    start = time.perf_counter()
    compiled = 0
    for what, run in VARIANTS:
        before = notice.compiled if notice is not None else 0
        t0 = time.perf_counter()
        run()
        count = (notice.compiled if notice is not None else 0) - before
        if count:
            compiled += count
            say(f"minikeras: compiled {what} ({count} kernels, {time.perf_counter() - t0:.1f} s)")
    elapsed = time.perf_counter() - start
    if compiled:
        say(f"minikeras: {compiled} kernels compiled and cached in {elapsed:.1f} s")
    else:
        say(f"minikeras: the kernels were already compiled ({elapsed:.1f} s to check)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
