"""Independent numpy-loop references for the convolution layers (NHWC, Keras weight layouts)."""

import math

import numpy as np


def same_pads(length, kernel, stride, dilation):
    k = kernel + (kernel - 1) * (dilation - 1)
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + k - length, 0)
    return total // 2, total - total // 2


def out_length(length, kernel, stride, dilation, padding):
    k = kernel + (kernel - 1) * (dilation - 1)
    if padding == "same":
        return math.ceil(length / stride)
    return math.ceil((length - k + 1) / stride)


def pad_input(x, kernel_hw, strides, dilation, padding):
    if padding == "valid":
        return x
    (t, b) = same_pads(x.shape[1], kernel_hw[0], strides[0], dilation[0])
    (left, r) = same_pads(x.shape[2], kernel_hw[1], strides[1], dilation[1])
    return np.pad(x, ((0, 0), (t, b), (left, r), (0, 0)))


def depthwise(x, dk, strides=(1, 1), dilation=(1, 1), padding="valid"):
    """x (N, H, W, C), dk (kh, kw, C, dm) -> (N, H', W', C*dm); channel c*dm + m."""
    n, h, w, c = x.shape
    kh, kw, _, dm = dk.shape
    oh = out_length(h, kh, strides[0], dilation[0], padding)
    ow = out_length(w, kw, strides[1], dilation[1], padding)
    xp = pad_input(x, (kh, kw), strides, dilation, padding)
    out = np.zeros((n, oh, ow, c * dm), dtype=np.float64)
    for i in range(oh):
        for j in range(ow):
            for ch in range(c):
                for m in range(dm):
                    acc = np.zeros(n)
                    for a in range(kh):
                        for b in range(kw):
                            acc += xp[:, i * strides[0] + a * dilation[0],
                                      j * strides[1] + b * dilation[1], ch] * dk[a, b, ch, m]
                    out[:, i, j, ch * dm + m] = acc
    return out


def pointwise(y, pk, bias=None):
    """y (N, H, W, K), pk (1, 1, K, F) -> (N, H, W, F)."""
    n, h, w, k = y.shape
    f = pk.shape[3]
    out = np.zeros((n, h, w, f))
    for o in range(f):
        for i in range(k):
            out[..., o] += y[..., i] * pk[0, 0, i, o]
        if bias is not None:
            out[..., o] += bias[o]
    return out


def conv(x, kernel, strides=(1, 1), dilation=(1, 1), padding="valid"):
    """Dense convolution: x (N, H, W, C), kernel (kh, kw, C, F)."""
    n, h, w, c = x.shape
    kh, kw, _, f = kernel.shape
    oh = out_length(h, kh, strides[0], dilation[0], padding)
    ow = out_length(w, kw, strides[1], dilation[1], padding)
    xp = pad_input(x, (kh, kw), strides, dilation, padding)
    out = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    patch = xp[:, i * strides[0] + a * dilation[0],
                               j * strides[1] + b * dilation[1], :]
                    out[:, i, j, :] += patch @ kernel[a, b]
    return out


def pool(x, pool_size, strides, padding, mode):
    """Pooling ignoring padded pixels: x (N, H, W, C)."""
    n, h, w, c = x.shape
    oh = out_length(h, pool_size[0], strides[0], 1, padding)
    ow = out_length(w, pool_size[1], strides[1], 1, padding)
    t = same_pads(h, pool_size[0], strides[0], 1)[0] if padding == "same" else 0
    left = same_pads(w, pool_size[1], strides[1], 1)[0] if padding == "same" else 0
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * strides[0] - t, j * strides[1] - left
            win = x[:, max(r0, 0):min(r0 + pool_size[0], h), max(c0, 0):min(c0 + pool_size[1], w)]
            out[:, i, j] = win.max(axis=(1, 2)) if mode == "max" else win.mean(axis=(1, 2))
    return out


def to_nhwc(x, data_format):
    return x if data_format == "channels_last" else x.transpose(0, 2, 3, 1)


def from_nhwc(x, data_format):
    return x if data_format == "channels_last" else x.transpose(0, 3, 1, 2)
