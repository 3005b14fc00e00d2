"""Plain numpy twins of every kernel: read these as the definitions.

Each function pads the input with explicit zeros and then loops over the kernel's *taps*. For one
tap ``(a, b)`` the input pixels it meets form a strided window of the padded input::

    window(a, b) = xp[:, a*dh : a*dh + (Ho-1)*sh + 1 : sh,  b*dw : b*dw + (Wo-1)*sw + 1 : sw, :]

which has the output's spatial shape, so a convolution is "sum over taps of window times weight",
and each gradient is the same sum run backwards (scatter the output gradient onto the windows, or
correlate the windows with it). The JIT kernels compute the same numbers in another loop order;
the tests hold them to these twins.

All arrays are NHWC; pads are ``((top, bottom), (left, right))``.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels.padding import Pads, output_hw


def _window(xp: np.ndarray, a: int, b: int, out_hw, strides, dilation) -> tuple[slice, slice]:
    """The (row, column) slices of the padded input that tap ``(a, b)`` reads."""
    (out_h, out_w), (sh, sw), (dh, dw) = out_hw, strides, dilation
    rows = slice(a * dh, a * dh + (out_h - 1) * sh + 1, sh)
    cols = slice(b * dw, b * dw + (out_w - 1) * sw + 1, sw)
    return rows, cols


def _pad(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def _crop(xp: np.ndarray, pads: Pads, shape) -> np.ndarray:
    (pt, _), (pl, _) = pads
    return xp[:, pt : pt + shape[1], pl : pl + shape[2], :]


# --------------------------------------------------------------------------------- depthwise


def depthwise_conv2d_forward(x, kernel, strides=(1, 1), dilation=(1, 1), pads=((0, 0), (0, 0))):
    """Depthwise convolution: ``out[..., c*dm + m] = sum_taps window[..., c] * kernel[a, b, c, m]``.

    Args:
        x: ``(N, H, W, C)``.
        kernel: ``(kh, kw, C, dm)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit zero pads.

    Returns:
        ``(N, Ho, Wo, C*dm)``.
    """
    kh, kw, channels, dm = kernel.shape
    out_hw = output_hw(x.shape[1:3], (kh, kw), strides, dilation, pads)
    xp = _pad(x, pads)
    out = np.zeros((x.shape[0], *out_hw, channels, dm), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _window(xp, a, b, out_hw, strides, dilation)
            out += xp[:, rows, cols, :, None] * kernel[a, b]
    return out.reshape(x.shape[0], *out_hw, channels * dm)


def depthwise_conv2d_grad_input(
    grad, kernel, input_shape, strides=(1, 1), dilation=(1, 1), pads=((0, 0), (0, 0))
):
    """Input gradient: scatter ``grad * kernel[a, b]`` (summed over ``m``) back onto each window.

    Args:
        grad: ``(N, Ho, Wo, C*dm)``.
        kernel: ``(kh, kw, C, dm)``.
        input_shape: ``(N, H, W, C)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit zero pads.

    Returns:
        ``(N, H, W, C)``.
    """
    kh, kw, channels, dm = kernel.shape
    n_img, out_h, out_w, _ = grad.shape
    g = grad.reshape(n_img, out_h, out_w, channels, dm)
    gxp = _pad(np.zeros(input_shape, dtype=grad.dtype), pads)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _window(gxp, a, b, (out_h, out_w), strides, dilation)
            gxp[:, rows, cols, :] += (g * kernel[a, b]).sum(axis=-1)
    return _crop(gxp, pads, input_shape).copy()


def depthwise_conv2d_grad_kernel(
    x, grad, kernel_shape, strides=(1, 1), dilation=(1, 1), pads=((0, 0), (0, 0))
):
    """Kernel gradient: ``gk[a, b, c, m] = sum over n, i, j of window[..., c] * grad[..., c, m]``.

    Args:
        x: ``(N, H, W, C)``.
        grad: ``(N, Ho, Wo, C*dm)``.
        kernel_shape: ``(kh, kw, C, dm)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit zero pads.

    Returns:
        ``(kh, kw, C, dm)``.
    """
    kh, kw, channels, dm = kernel_shape
    n_img, out_h, out_w, _ = grad.shape
    g = grad.reshape(n_img, out_h, out_w, channels, dm)
    xp = _pad(x, pads)
    gk = np.zeros(kernel_shape, dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _window(xp, a, b, (out_h, out_w), strides, dilation)
            gk[a, b] = np.einsum("nhwc,nhwcm->cm", xp[:, rows, cols, :], g)
    return gk


# ---------------------------------------------------------------------------------- conv2d


def conv2d_forward(x, kernel, strides=(1, 1), dilation=(1, 1), pads=((0, 0), (0, 0))):
    """Convolution: ``out = sum over taps of window @ kernel[a, b]`` (a matmul over channels).

    Args:
        x: ``(N, H, W, Cin)``.
        kernel: ``(kh, kw, Cin, Cout)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit zero pads.

    Returns:
        ``(N, Ho, Wo, Cout)``.
    """
    kh, kw, _, c_out = kernel.shape
    out_hw = output_hw(x.shape[1:3], (kh, kw), strides, dilation, pads)
    xp = _pad(x, pads)
    out = np.zeros((x.shape[0], *out_hw, c_out), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _window(xp, a, b, out_hw, strides, dilation)
            out += xp[:, rows, cols, :] @ kernel[a, b]
    return out


def conv2d_grad_input(
    grad, kernel, input_shape, strides=(1, 1), dilation=(1, 1), pads=((0, 0), (0, 0))
):
    """Input gradient: scatter ``grad @ kernel[a, b].T`` back onto each window.

    Args:
        grad: ``(N, Ho, Wo, Cout)``.
        kernel: ``(kh, kw, Cin, Cout)``.
        input_shape: ``(N, H, W, Cin)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit zero pads.

    Returns:
        ``(N, H, W, Cin)``.
    """
    kh, kw = kernel.shape[:2]
    gxp = _pad(np.zeros(input_shape, dtype=grad.dtype), pads)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _window(gxp, a, b, grad.shape[1:3], strides, dilation)
            gxp[:, rows, cols, :] += grad @ kernel[a, b].T
    return _crop(gxp, pads, input_shape).copy()


def conv2d_grad_kernel(
    x, grad, kernel_shape, strides=(1, 1), dilation=(1, 1), pads=((0, 0), (0, 0))
):
    """Kernel gradient: ``gk[a, b] = window^T @ grad`` summed over all output pixels.

    Args:
        x: ``(N, H, W, Cin)``.
        grad: ``(N, Ho, Wo, Cout)``.
        kernel_shape: ``(kh, kw, Cin, Cout)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit zero pads.

    Returns:
        ``(kh, kw, Cin, Cout)``.
    """
    kh, kw = kernel_shape[:2]
    xp = _pad(x, pads)
    gk = np.zeros(kernel_shape, dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _window(xp, a, b, grad.shape[1:3], strides, dilation)
            gk[a, b] = np.einsum("nhwi,nhwo->io", xp[:, rows, cols, :], grad)
    return gk


# --------------------------------------------------------------------------------- pooling
# Padding never takes part in a pool: max ignores it, average divides by the number of real
# pixels in the window (TensorFlow's rule). A window made only of padding (possible only with
# dilation) gives 0 and passes no gradient.


def _valid_mask(input_shape, pads: Pads) -> np.ndarray:
    """1 where the padded input holds a real pixel, 0 on padding: shape ``(1, Hp, Wp, 1)``."""
    return _pad(np.ones((1, input_shape[1], input_shape[2], 1)), pads)


def max_pool2d_forward(x, pool_size, strides, dilation=(1, 1), pads=((0, 0), (0, 0))):
    """Max pooling: the largest real pixel of each window, per channel.

    Args:
        x: ``(N, H, W, C)``.
        pool_size: ``(ph, pw)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads (never selected).

    Returns:
        ``(N, Ho, Wo, C)``.
    """
    out_hw = output_hw(x.shape[1:3], pool_size, strides, dilation, pads)
    xp = _pad(x, pads, value=-np.inf)
    out = np.full((x.shape[0], *out_hw, x.shape[3]), -np.inf, dtype=x.dtype)
    for a in range(pool_size[0]):
        for b in range(pool_size[1]):
            rows, cols = _window(xp, a, b, out_hw, strides, dilation)
            out = np.maximum(out, xp[:, rows, cols, :])
    return np.where(np.isneginf(out), 0, out).astype(x.dtype)


def max_pool2d_grad_input(x, grad, pool_size, strides, dilation=(1, 1), pads=((0, 0), (0, 0))):
    """Max-pool gradient: each output's gradient goes to the *first* maximum of its window.

    "First" means in tap order (row by row through the window), which is what the JIT kernel does.

    Args:
        x: Forward input ``(N, H, W, C)``.
        grad: ``(N, Ho, Wo, C)``.
        pool_size: ``(ph, pw)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads.

    Returns:
        ``(N, H, W, C)``.
    """
    out_hw = grad.shape[1:3]
    xp = _pad(x, pads, value=-np.inf)
    best = np.full(grad.shape, -np.inf, dtype=x.dtype)
    for a in range(pool_size[0]):
        for b in range(pool_size[1]):
            rows, cols = _window(xp, a, b, out_hw, strides, dilation)
            best = np.maximum(best, xp[:, rows, cols, :])
    gxp = np.zeros(xp.shape, dtype=grad.dtype)
    routed = np.isneginf(best)  # empty windows route nowhere
    for a in range(pool_size[0]):
        for b in range(pool_size[1]):
            rows, cols = _window(xp, a, b, out_hw, strides, dilation)
            hit = (xp[:, rows, cols, :] == best) & ~routed
            gxp[:, rows, cols, :] += np.where(hit, grad, 0)
            routed |= hit
    return _crop(gxp, pads, x.shape).copy()


def max_pool2d_argmax(x, pool_size, strides, dilation=(1, 1), pads=((0, 0), (0, 0))):
    """Where each window's first maximum is, as a flat pixel index ``y * W + x`` in its image.

    What a training step keeps from the forward pass so that the backward pass need not search
    the windows again. -1 marks a window with no real pixel.

    Args:
        x: ``(N, H, W, C)``.
        pool_size: ``(ph, pw)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads (never selected).

    Returns:
        int32 ``(N, Ho, Wo, C)``.
    """
    n_img, height, width, channels = x.shape
    out_hw = output_hw(x.shape[1:3], pool_size, strides, dilation, pads)
    xp = _pad(x, pads, value=-np.inf)
    # the flat index of every padded position (-1 on padding, which never wins: it is -inf)
    index = _pad(np.arange(height * width).reshape(1, height, width, 1), pads, value=-1)
    best = np.full((n_img, *out_hw, channels), -np.inf, dtype=x.dtype)
    where = np.full(best.shape, -1)
    for a in range(pool_size[0]):
        for b in range(pool_size[1]):
            rows, cols = _window(xp, a, b, out_hw, strides, dilation)
            window = xp[:, rows, cols, :]
            better = window > best  # strict: a later equal value does not take over
            best = np.where(better, window, best)
            where = np.where(better, index[:, rows, cols, :], where)
    return where.astype(np.int32)


def max_pool2d_grad_from_argmax(where, grad, input_shape):
    """Max-pool gradient from :func:`max_pool2d_argmax`: ``grad`` scattered to those pixels.

    Equal to :func:`max_pool2d_grad_input` for the same input (overlapping windows may route
    several gradients to one pixel; ``np.add.at`` adds them all).

    Args:
        where: int32 ``(N, Ho, Wo, C)``.
        grad: ``(N, Ho, Wo, C)``.
        input_shape: ``(N, H, W, C)``.

    Returns:
        ``(N, H, W, C)``.
    """
    n_img, height, width, channels = input_shape
    gx = np.zeros((n_img, height * width, channels), dtype=grad.dtype)
    n, i, j, c = np.nonzero(where >= 0)
    np.add.at(gx, (n, where[n, i, j, c], c), grad[n, i, j, c])
    return gx.reshape(input_shape)


def max_pool2d_gather_from_argmax(where, values):
    """Each window's entry of ``values`` at the pixel :func:`max_pool2d_argmax` chose (0 at -1).

    The tangent of max pooling along ``values``, and the adjoint of
    :func:`max_pool2d_grad_from_argmax`.

    Args:
        where: int32 ``(N, Ho, Wo, C)``.
        values: ``(N, H, W, C)``.

    Returns:
        ``(N, Ho, Wo, C)``.
    """
    n_img, height, width, channels = values.shape
    index = where.reshape(n_img, -1, channels)
    flat = values.reshape(n_img, height * width, channels)
    out = np.take_along_axis(flat, np.maximum(index, 0), axis=1)
    return np.where(index >= 0, out, 0).astype(values.dtype).reshape(where.shape)


def avg_pool2d_forward(x, pool_size, strides, dilation=(1, 1), pads=((0, 0), (0, 0))):
    """Average pooling over the real pixels of each window.

    Args:
        x: ``(N, H, W, C)``.
        pool_size: ``(ph, pw)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads (not counted).

    Returns:
        ``(N, Ho, Wo, C)``.
    """
    out_hw = output_hw(x.shape[1:3], pool_size, strides, dilation, pads)
    xp, mask = _pad(x, pads), _valid_mask(x.shape, pads)
    total = np.zeros((x.shape[0], *out_hw, x.shape[3]), dtype=x.dtype)
    count = np.zeros((1, *out_hw, 1))
    for a in range(pool_size[0]):
        for b in range(pool_size[1]):
            rows, cols = _window(xp, a, b, out_hw, strides, dilation)
            total += xp[:, rows, cols, :]
            count += mask[:, rows, cols, :]
    return (total / np.maximum(count, 1)).astype(x.dtype)


def avg_pool2d_grad_input(
    grad, input_shape, pool_size, strides, dilation=(1, 1), pads=((0, 0), (0, 0))
):
    """Average-pool gradient: each window's real pixels get ``grad / count``.

    Args:
        grad: ``(N, Ho, Wo, C)``.
        input_shape: ``(N, H, W, C)``.
        pool_size: ``(ph, pw)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads.

    Returns:
        ``(N, H, W, C)``.
    """
    out_hw = grad.shape[1:3]
    mask = _valid_mask(input_shape, pads)
    count = np.zeros((1, *out_hw, 1))
    for a in range(pool_size[0]):
        for b in range(pool_size[1]):
            rows, cols = _window(mask, a, b, out_hw, strides, dilation)
            count += mask[:, rows, cols, :]
    share = grad / np.maximum(count, 1)
    gxp = _pad(np.zeros(input_shape, dtype=grad.dtype), pads)
    for a in range(pool_size[0]):
        for b in range(pool_size[1]):
            rows, cols = _window(gxp, a, b, out_hw, strides, dilation)
            gxp[:, rows, cols, :] += share
    return _crop(gxp, pads, input_shape).astype(grad.dtype)


# ---------------------------------------------------------------------------------- optimizers
# Twins of kernels/optimizer_updates.py: the same rules, whole arrays at a time, in place.


def sgd_momentum_update(p, g, v, lr, momentum, nesterov):
    """``v = momentum v - lr g``; ``p += v`` (Nesterov: ``p += momentum v - lr g``)."""
    v *= momentum
    v -= lr * g
    if nesterov:
        p += momentum * v - lr * g
    else:
        p += v


def rms_update(p, g, a, lr, rho, eps, adagrad):
    """``a = rho a + (1 - rho) g²`` (Adagrad: ``a += g²``); ``p -= lr g / (sqrt(a) + eps)``."""
    if adagrad:
        a += g * g
    else:
        a *= rho
        a += (1.0 - rho) * (g * g)
    p -= lr * g / (np.sqrt(a) + eps)


def adam_update(p, g, m, v, vhat, step, b1, b2, eps, amsgrad):
    """``m``, ``v`` moving averages; ``p -= step m / (sqrt(v) + eps)`` (AMSGrad: max of ``v``)."""
    m *= b1
    m += (1.0 - b1) * g
    v *= b2
    v += (1.0 - b2) * (g * g)
    if amsgrad:
        np.maximum(vhat, v, out=vhat)
        v = vhat
    p -= step * m / (np.sqrt(v) + eps)


# Twins of kernels/relu.py.


def relu_forward(x):
    """``max(x, 0)`` as numpy makes it."""
    return np.maximum(x, 0)


def relu_backward(grad, y):
    """``grad`` where ``y > 0``, times zero elsewhere."""
    return grad * (y > 0)


# Twin of kernels/affine.py.


def channel_affine(x, scale, shift):
    """``x * scale + shift``, ``scale`` and ``shift`` along the last axis."""
    return x * scale.astype(x.dtype) + shift.astype(x.dtype)


def channel_affine2(u, v, a, b, c):
    """``u * a + v * b + c``, ``a``, ``b``, ``c`` along the last axis."""
    dt = u.dtype
    return u * a.astype(dt) + v.astype(dt) * b.astype(dt) + c.astype(dt)


def channel_moments(x):
    """Per channel (last axis): mean and biased variance, computed in float64."""
    axes = tuple(range(x.ndim - 1))
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes)
    return mean, np.square(x64 - mean).mean(axis=axes)


def channel_sums(u, v):
    """Per channel (last axis): ``(sum u, sum u*v)``, products in ``u``'s dtype, sums in float64."""
    axes = tuple(range(u.ndim - 1))
    uv = u * v.astype(u.dtype)
    return u.astype(np.float64).sum(axis=axes), uv.astype(np.float64).sum(axis=axes)
