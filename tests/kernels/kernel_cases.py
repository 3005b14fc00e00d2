"""Hypothesis strategies shared by the kernel tests: window-op problems of many shapes."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from minikeras.kernels.padding import dilated_size, explicit_pads


@st.composite
def window_problems(draw, max_channels=4, depth_multiplier=True):
    """A random NHWC window problem: shapes, strides/dilation, padding, dtype and data.

    Valid-padding problems size the input from the (dilated) window plus a small slack, so
    slack 0 -- a window that barely fits -- comes up often.
    """
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    if draw(st.booleans()):
        strides, dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3))), (1, 1)
    else:
        strides, dilation = (1, 1), (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same"]))
    if padding == "valid":
        height = dilated_size(kh, dilation[0]) + draw(st.integers(0, 4))
        width = dilated_size(kw, dilation[1]) + draw(st.integers(0, 4))
    else:
        height, width = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    batch = draw(st.integers(1, 3))
    channels = draw(st.integers(1, max_channels))
    dm = draw(st.integers(1, 3)) if depth_multiplier else 1
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    pads = explicit_pads(padding, (height, width), (kh, kw), strides, dilation)
    return {
        "shape": (batch, height, width, channels),
        "kernel_hw": (kh, kw),
        "dm": dm,
        "strides": strides,
        "dilation": dilation,
        "pads": pads,
        "dtype": dtype,
        "rng": np.random.default_rng(seed),
    }


def tolerance(dtype):
    """Loose enough for a different summation order (and FMA), tight enough to catch an index."""
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}
