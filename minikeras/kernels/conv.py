"""General 2-D convolution on NHWC arrays (kernel ``(kh, kw, Cin, Cout)``): forward and gradients.

Definition (see :func:`minikeras.kernels.reference.conv2d_forward`)::

    out[n, i, j, o] = sum_{a, b, c} x[n, i*sh + a*dh - pt, j*sw + b*dw - pl, c] * k[a, b, c, o]

A dense convolution is a matrix product once the windows are laid out as rows ("im2col"): one row
per output pixel holding its ``kh*kw*Cin`` inputs. BLAS then does the ``Cout`` dot products far
faster than any loop we could write, so the JIT part here is only the two data movers:

* :func:`_im2col` copies windows into rows (zeros where a tap falls on padding), parallel over rows
  of the output; each tap writes one contiguous run of ``Cin`` numbers.
* :func:`_col2im` adds the rows' gradients back onto the input, in gather form: parallel over rows
  of the *input*, so no two threads ever write the same pixel.

A 1x1 convolution with stride 1 and no padding (the pointwise half of a separable convolution)
skips both movers: it is ``x.reshape(-1, Cin) @ k.reshape(Cin, Cout)``. The products go through
:mod:`minikeras.kernels.matmul`, which splits them by rows over the cores.
"""

from __future__ import annotations

import numpy as np

from minikeras.kernels._jit import njit, prange
from minikeras.kernels.matmul import matmul, matmul_tn
from minikeras.kernels.padding import Pads, output_hw


@njit(parallel=True)
def _im2col(x, cols, kh, kw, sh, sw, dh, dw, pt, pl):  # pragma: no cover - JIT
    # cols: (N, Ho, Wo, kh, kw, C)
    n_img, height, width, channels = x.shape
    _, out_h, out_w = cols.shape[:3]
    for r in prange(n_img * out_h):
        n = r // out_h
        i = r - n * out_h
        crow = cols[n, i]
        for j in range(out_w):
            for a in range(kh):
                y = i * sh + a * dh - pt
                for b in range(kw):
                    xc = j * sw + b * dw - pl
                    dst = crow[j, a, b]
                    if y < 0 or y >= height or xc < 0 or xc >= width:
                        for c in range(channels):
                            dst[c] = 0
                    else:
                        src = x[n, y, xc]
                        for c in range(channels):
                            dst[c] = src[c]


@njit(parallel=True)
def _col2im(gcols, gx, sh, sw, dh, dw, pt, pl):  # pragma: no cover - JIT
    # gcols: (N, Ho, Wo, kh, kw, C) -> gx: (N, H, W, C)
    n_img, height, width, channels = gx.shape
    _, out_h, out_w, kh, kw, _ = gcols.shape
    for r in prange(n_img * height):
        n = r // height
        y = r - n * height
        gxrow = gx[n, y]
        gxrow[:, :] = 0
        for a in range(kh):
            q = y + pt - a * dh
            if q < 0 or q % sh != 0 or q // sh >= out_h:
                continue
            grow = gcols[n, q // sh]
            for b in range(kw):
                shift = b * dw - pl
                j0 = max(0, -(shift // sw))
                j1 = min(out_w, (width - 1 - shift) // sw + 1)
                for j in range(j0, j1):
                    src = grow[j, a, b]
                    dst = gxrow[j * sw + shift]
                    for c in range(channels):
                        dst[c] += src[c]


def _is_pointwise(kernel_hw, strides, pads) -> bool:
    return tuple(kernel_hw) == (1, 1) and tuple(strides) == (1, 1) and pads == ((0, 0), (0, 0))


def _columns(x, kh, kw, strides, dilation, pads) -> np.ndarray:
    n_img, height, width, channels = x.shape
    out_h, out_w = output_hw((height, width), (kh, kw), strides, dilation, pads)
    cols = np.empty((n_img, out_h, out_w, kh, kw, channels), dtype=x.dtype)
    if cols.size:
        _im2col(x, cols, kh, kw, *strides, *dilation, pads[0][0], pads[1][0])
    return cols


def conv2d_forward(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = ((0, 0), (0, 0)),
) -> np.ndarray:
    """Convolution of NHWC ``x`` with a ``(kh, kw, Cin, Cout)`` kernel.

    Args:
        x: ``(N, H, W, Cin)``, float32 or float64.
        kernel: ``(kh, kw, Cin, Cout)``; cast to ``x.dtype``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit ``((top, bottom), (left, right))`` zero padding.

    Returns:
        ``(N, Ho, Wo, Cout)``.
    """
    x = np.ascontiguousarray(x)
    kernel = np.asarray(kernel, dtype=x.dtype)
    kh, kw, c_in, c_out = kernel.shape
    if _is_pointwise((kh, kw), strides, pads):
        return matmul(x.reshape(-1, c_in), kernel.reshape(c_in, c_out)).reshape(*x.shape[:3], c_out)
    cols = _columns(x, kh, kw, strides, dilation, pads)
    out = matmul(cols.reshape(-1, kh * kw * c_in), kernel.reshape(kh * kw * c_in, c_out))
    return out.reshape(*cols.shape[:3], c_out)


def conv2d_grad_input(
    grad: np.ndarray,
    kernel: np.ndarray,
    input_shape: tuple[int, int, int, int],
    strides: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = ((0, 0), (0, 0)),
) -> np.ndarray:
    """Gradient of :func:`conv2d_forward` with respect to its input.

    Args:
        grad: ``(N, Ho, Wo, Cout)``.
        kernel: ``(kh, kw, Cin, Cout)``.
        input_shape: ``(N, H, W, Cin)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads used in the forward pass.

    Returns:
        ``(N, H, W, Cin)``.
    """
    grad = np.ascontiguousarray(grad)
    kernel = np.asarray(kernel, dtype=grad.dtype)
    kh, kw, c_in, c_out = kernel.shape
    if _is_pointwise((kh, kw), strides, pads):
        gx = np.empty(tuple(input_shape), dtype=grad.dtype)  # owns its memory: no copy later
        matmul(grad.reshape(-1, c_out), kernel.reshape(c_in, c_out).T, out=gx.reshape(-1, c_in))
        return gx
    gcols = matmul(grad.reshape(-1, c_out), kernel.reshape(kh * kw * c_in, c_out).T)
    gcols = gcols.reshape(*grad.shape[:3], kh, kw, c_in)
    gx = np.empty(tuple(input_shape), dtype=grad.dtype)
    if gx.size:
        _col2im(gcols, gx, *strides, *dilation, pads[0][0], pads[1][0])
    return gx


def conv2d_grad_kernel(
    x: np.ndarray,
    grad: np.ndarray,
    kernel_shape: tuple[int, int, int, int],
    strides: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = ((0, 0), (0, 0)),
) -> np.ndarray:
    """Gradient of :func:`conv2d_forward` with respect to its kernel.

    Args:
        x: ``(N, H, W, Cin)``.
        grad: ``(N, Ho, Wo, Cout)``.
        kernel_shape: ``(kh, kw, Cin, Cout)``.
        strides: ``(sh, sw)``.
        dilation: ``(dh, dw)``.
        pads: Explicit pads used in the forward pass.

    Returns:
        ``(kh, kw, Cin, Cout)``.
    """
    x = np.ascontiguousarray(x)
    grad = np.ascontiguousarray(grad, dtype=x.dtype)
    kh, kw, c_in, c_out = kernel_shape
    if _is_pointwise((kh, kw), strides, pads):
        return matmul_tn(x.reshape(-1, c_in), grad.reshape(-1, c_out)).reshape(kernel_shape)
    cols = _columns(x, kh, kw, strides, dilation, pads)
    return matmul_tn(cols.reshape(-1, kh * kw * c_in), grad.reshape(-1, c_out)).reshape(
        kernel_shape
    )
