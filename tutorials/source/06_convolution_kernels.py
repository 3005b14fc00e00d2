# %% [markdown]
# # 3. Convolution kernels
#
# Convolutions are where a small deep-learning library spends nearly all of its time. This
# notebook looks at how minikeras computes them, from the definition to a fast kernel:
#
# 1. the definition, and the **numpy reference twin** that reads like it;
# 2. the **Numba kernel** the library runs, checked against the twin;
# 3. why **loop order and memory layout** decide the speed: three versions of the same loop;
# 4. a **timing plot** of kernel against reference;
# 5. **depthwise vs standard** convolution.
#
# **Exercises.** Four exercises ask you to write convolution loops and layouts. Each is a code
# cell with a blank: replace `raise NotImplementedError()` with your code, run the cell, then
# run the check below it. The checks compare your code with the library's numpy reference twins
# on several small inputs and tell you what is wrong, or "not done yet".
#
# minikeras keeps images *channels last* (NHWC): an array of shape `(N, H, W, C)` holds `N`
# images of `H` rows and `W` columns, each pixel a vector of `C` channels.

# %%
import inspect
import time

import matplotlib.pyplot as plt
import numba
import numpy as np

from minikeras import kernels
from minikeras.exercises import (
    check_conv2d_loops,
    check_depthwise_as_standard,
    check_depthwise_loops,
    check_im2col,
)
from minikeras.kernels import reference
from minikeras.utils import set_random_seed

set_random_seed(0)
rng = np.random.default_rng(0)


def best_time(fn, *args, repeat=5):
    """The fastest of a few runs, in milliseconds (the minimum is the least noisy estimate)."""
    fn(*args)  # warm up: the first call of a JIT kernel compiles it
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return 1000 * min(times)

# %% [markdown]
# ## The definition
#
# A **depthwise** convolution slides one small filter over each channel separately. With a
# `(kh, kw, C)` kernel, stride 1 and no padding:
#
# $$ \text{out}[n, i, j, c] = \sum_{a < k_h} \sum_{b < k_w} x[n, i + a, j + b, c]\;
#    k[a, b, c] . $$
#
# Written as loops, straight from the formula, in plain Python:

# %%
def depthwise_loops(x, k):
    """Depthwise convolution exactly as the formula reads (stride 1, no padding)."""
    n_img, height, width, channels = x.shape
    kh, kw, _ = k.shape
    out = np.zeros((n_img, height - kh + 1, width - kw + 1, channels), dtype=x.dtype)
    for n in range(n_img):
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                for c in range(channels):
                    for a in range(kh):
                        for b in range(kw):
                            out[n, i, j, c] += x[n, i + a, j + b, c] * k[a, b, c]
    return out


small_x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
small_k = rng.standard_normal((3, 3, 3)).astype(np.float32)
print("output shape:", depthwise_loops(small_x, small_k).shape)

# %% [markdown]
# ### Exercise 6.1: a stride
#
# With stride $s$, output pixel $(i, j)$ reads the window that starts at input pixel
# $(i s, j s)$, and there are $\lfloor (H - k_h) / s \rfloor + 1$ output rows. Write
# `depthwise_strided(x, k, stride)`, the loops above with a stride (the same stride along both
# axes). Loops or numpy slices, as you like.

# %%
def depthwise_strided(x, k, stride):
    """Depthwise convolution with a stride, no padding."""
    ### BEGIN SOLUTION
    n_img, height, width, channels = x.shape
    kh, kw, _ = k.shape
    out_h, out_w = (height - kh) // stride + 1, (width - kw) // stride + 1
    out = np.zeros((n_img, out_h, out_w, channels), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = (window * k).sum(axis=(1, 2))   # each channel with its filter
    return out
    ### END SOLUTION


# %%
check_depthwise_loops(depthwise_strided)

# %% [markdown]
# ## The numpy reference twin
#
# Six nested Python loops are far too slow for real data. The library's **reference** version
# (`minikeras.kernels.reference`) turns the formula around: for one kernel tap `(a, b)`, the input
# pixels it meets form a shifted *window* of the input with the output's shape. So a convolution
# is "for each tap, add window times weight", two Python loops over the 9 taps and numpy doing
# the rest. It handles strides, dilation and padding, and a depth multiplier `dm` (each channel
# may have several filters, so the kernel is `(kh, kw, C, dm)`). Here it is, straight from the
# library:

# %%
print(inspect.getsource(reference.depthwise_conv2d_forward))

# %% [markdown]
# The reference is short enough to trust by reading, so it is the *definition* every fast kernel
# is tested against (with Hypothesis, on many random shapes). Let us check it against our loops:

# %%
twin = reference.depthwise_conv2d_forward(small_x, small_k[..., None])  # dm = 1
print("reference == loops:", np.allclose(twin, depthwise_loops(small_x, small_k), atol=1e-5))

# %% [markdown]
# ## The Numba kernel
#
# `minikeras.kernels.depthwise_conv2d_forward` computes the same numbers with Numba, a compiler
# that turns a Python function on numpy arrays into machine code. Its first call compiles (or
# loads the compiled code from Numba's on-disk cache); later calls are fast.

# %%
x = rng.standard_normal((16, 32, 32, 32)).astype(np.float32)
k = rng.standard_normal((3, 3, 32, 1)).astype(np.float32)

start = time.perf_counter()
fast = kernels.depthwise_conv2d_forward(x, k)
print(f"first call (compile or load from cache): {1000 * (time.perf_counter() - start):.0f} ms")
start = time.perf_counter()
fast = kernels.depthwise_conv2d_forward(x, k)
print(f"second call: {1000 * (time.perf_counter() - start):.1f} ms")
slow = reference.depthwise_conv2d_forward(x, k)
print("kernel == reference:", np.allclose(fast, slow, atol=1e-4))

# %% [markdown]
# ## Why loop order and layout matter
#
# The formula does not say in which order to run its loops, and the result is the same in any
# order. The speed is not. Modern CPUs are fastest when the innermost loop walks **contiguous
# memory** and does the **same multiply-add on neighbouring numbers**, because the compiler can
# then use vector instructions (8 or 16 floats at a time) and the memory system can stream.
#
# Where do neighbouring numbers sit in an NHWC array? The strides tell us how many bytes to skip
# to move one step along each axis:

# %%
print("shape  :", x.shape)
print("strides:", x.strides, "bytes")

# %% [markdown]
# Channels are 4 bytes apart, columns `4*C` bytes apart. So **one image row is one contiguous
# stream of `W*C` floats**, with the channels of pixel 0, then of pixel 1, and so on.
#
# Here are three Numba versions of the depthwise convolution (serial, to compare loop orders
# alone):
#
# 1. **textbook**: the loops of the formula; for each output number, a scalar sum over taps;
# 2. **channel innermost**: for each output pixel and tap, a loop over the `C` channels
#    (contiguous, but short, and restarted for every pixel);
# 3. **row stream**: for each output row and tap, one long loop over the whole row of `Wo*C`
#    numbers. The tap's `C` weights are tiled along the row once, so the inner loop is
#    `out_row[t] += x_row[t + shift] * k_tiled[t]`: contiguous, long, and trivially vectorised.
#
# Version 3 is the idea behind the library's kernel (`minikeras/kernels/depthwise.py`), which adds
# strides, dilation, padding and threads.

# %%
@numba.njit
def dw_textbook(x, k, out):
    n_img, _, _, channels = x.shape
    kh, kw, _ = k.shape
    _, out_h, out_w, _ = out.shape
    for n in range(n_img):
        for i in range(out_h):
            for j in range(out_w):
                for c in range(channels):
                    acc = 0.0
                    for a in range(kh):
                        for b in range(kw):
                            acc += x[n, i + a, j + b, c] * k[a, b, c]
                    out[n, i, j, c] = acc


@numba.njit
def dw_channel_inner(x, k, out):
    n_img, _, _, channels = x.shape
    kh, kw, _ = k.shape
    _, out_h, out_w, _ = out.shape
    out[:] = 0
    for n in range(n_img):
        for i in range(out_h):
            for j in range(out_w):
                for a in range(kh):
                    for b in range(kw):
                        for c in range(channels):
                            out[n, i, j, c] += x[n, i + a, j + b, c] * k[a, b, c]


@numba.njit(fastmath={"contract"})
def dw_row_stream(x_rows, k_tiled, out_rows, channels):
    # x_rows: (N, H, W*C); k_tiled: (kh, kw, Wo*C); out_rows: (N, Ho, Wo*C)
    n_img = x_rows.shape[0]
    kh, kw, length = k_tiled.shape
    out_h = out_rows.shape[1]
    out_rows[:] = 0
    for n in range(n_img):
        for i in range(out_h):
            out_row = out_rows[n, i]
            for a in range(kh):
                x_row = x_rows[n, i + a]
                for b in range(kw):
                    src = x_row[b * channels : b * channels + length]
                    weights = k_tiled[a, b]
                    for t in range(length):
                        out_row[t] += src[t] * weights[t]


def run_row_stream(x, k2):
    n_img, height, width, channels = x.shape
    out_h, out_w = height - 2, width - 2
    k_tiled = np.ascontiguousarray(np.tile(k2[:, :, None, :], (1, 1, out_w, 1)))
    out = np.empty((n_img, out_h, out_w * channels), dtype=x.dtype)
    dw_row_stream(x.reshape(n_img, height, width * channels),
                  k_tiled.reshape(3, 3, out_w * channels), out, channels)
    return out.reshape(n_img, out_h, out_w, channels)


k2 = k[..., 0]
out = np.empty((16, 30, 30, 32), dtype=np.float32)
timings = {}
timings["textbook"] = best_time(dw_textbook, x, k2, out)
assert np.allclose(out, slow, atol=1e-4)
timings["channel innermost"] = best_time(dw_channel_inner, x, k2, out)
assert np.allclose(out, slow, atol=1e-4)
timings["row stream"] = best_time(run_row_stream, x, k2)
assert np.allclose(run_row_stream(x, k2), slow, atol=1e-4)
timings["minikeras kernel (threads)"] = best_time(kernels.depthwise_conv2d_forward, x, k)
timings["numpy reference"] = best_time(reference.depthwise_conv2d_forward, x, k)

for name, ms in timings.items():
    print(f"{name:28s} {ms:7.2f} ms   ({ms / timings['row stream']:4.1f}x the row stream)")

# %% [markdown]
# Same arithmetic, same compiler, very different times. The textbook order reads `x` with a jump
# of `4*C` bytes for every tap and adds into one scalar, which the compiler cannot vectorise
# without reordering the sum. The channel loop is contiguous but only `C` long and restarts for
# every pixel and tap. The row stream does the most work per loop and the least bookkeeping.
# (Timings vary from run to run on a busy machine; the order rarely changes.)
#
# ### Keeping sums in registers
#
# The row stream still does a lot of memory traffic: for every tap it **loads** an input vector
# and a weight vector and **loads and stores** the output row, two loads and a store for each
# multiply-add. A CPU does about one 16-float load and one 16-float multiply-add per cycle, so the
# loads, not the arithmetic, set the pace. Numba vectorises only an innermost loop, and it has no
# way to say "keep these sums in registers while the next loop runs".
#
# `minikeras.kernels.lanes` says it: a *lanes* value holds 16 numbers in one vector register,
# with four operations, `load(a, i)` (`a[i:i+16]`), `store(a, i, v)`, `fma(x, w, s)`
# (`x * w + s`, lane by lane) and `zeros(a)`. The version below keeps the sums of **four
# neighbouring output pixels** in registers while the taps go by, and stores each once. Along a
# kernel row the four windows overlap (tap `b` of pixel `q` reads input pixel `j + q + b`), so
# six input vectors and three weight vectors feed twelve multiply-adds: less than one load per
# multiply-add. (The library's version, `minikeras/kernels/depthwise_lanes.py`, adds padding,
# any window width and threads.)

# %%
from minikeras.kernels import lanes


@numba.njit(fastmath={"contract"})
def dw_registers(x_rows, k_flat, out_rows, channels):
    # x_rows: (N, H, W*C); k_flat: (3*3*C); out_rows: (N, Ho, Wo*C); 3x3 window, C % 16 == 0
    n_img, out_h, out_len = out_rows.shape
    out_w = out_len // channels
    C = channels
    for n in range(n_img):
        for i in range(out_h):
            out_row = out_rows[n, i]
            for j in range(0, out_w - out_w % 4, 4):  # four output pixels at a time
                for cb in range(0, C, lanes.LANES):  # 16 channels at a time
                    s0 = lanes.zeros(k_flat)
                    s1 = lanes.zeros(k_flat)
                    s2 = lanes.zeros(k_flat)
                    s3 = lanes.zeros(k_flat)
                    for a in range(3):
                        x_row = x_rows[n, i + a]
                        p = j * C + cb
                        v0 = lanes.load(x_row, p)  # input pixels j .. j+5 of this row
                        v1 = lanes.load(x_row, p + C)
                        v2 = lanes.load(x_row, p + 2 * C)
                        v3 = lanes.load(x_row, p + 3 * C)
                        v4 = lanes.load(x_row, p + 4 * C)
                        v5 = lanes.load(x_row, p + 5 * C)
                        w = lanes.load(k_flat, (a * 3 + 0) * C + cb)  # tap (a, 0)
                        s0, s1 = lanes.fma(v0, w, s0), lanes.fma(v1, w, s1)
                        s2, s3 = lanes.fma(v2, w, s2), lanes.fma(v3, w, s3)
                        w = lanes.load(k_flat, (a * 3 + 1) * C + cb)  # tap (a, 1)
                        s0, s1 = lanes.fma(v1, w, s0), lanes.fma(v2, w, s1)
                        s2, s3 = lanes.fma(v3, w, s2), lanes.fma(v4, w, s3)
                        w = lanes.load(k_flat, (a * 3 + 2) * C + cb)  # tap (a, 2)
                        s0, s1 = lanes.fma(v2, w, s0), lanes.fma(v3, w, s1)
                        s2, s3 = lanes.fma(v4, w, s2), lanes.fma(v5, w, s3)
                    q = j * C + cb
                    lanes.store(out_row, q, s0)
                    lanes.store(out_row, q + C, s1)
                    lanes.store(out_row, q + 2 * C, s2)
                    lanes.store(out_row, q + 3 * C, s3)
            for j in range(out_w - out_w % 4, out_w):  # the last pixels, one at a time
                for cb in range(0, C, lanes.LANES):
                    s = lanes.zeros(k_flat)
                    for a in range(3):
                        for b in range(3):
                            s = lanes.fma(lanes.load(x_rows[n, i + a], (j + b) * C + cb),
                                          lanes.load(k_flat, (a * 3 + b) * C + cb), s)
                    lanes.store(out_row, j * C + cb, s)


def run_registers(x, k2):
    n_img, height, width, channels = x.shape
    out = np.empty((n_img, height - 2, (width - 2) * channels), dtype=x.dtype)
    dw_registers(x.reshape(n_img, height, width * channels), k2.reshape(-1), out, channels)
    return out.reshape(n_img, height - 2, width - 2, channels)


assert np.allclose(run_registers(x, k2), slow, atol=1e-4)
timings["registers (4 pixels)"] = best_time(run_registers, x, k2)
for name in ("row stream", "registers (4 pixels)"):
    ms = timings[name]
    print(f"{name:28s} {ms:7.2f} ms   ({ms / timings['row stream']:4.2f}x the row stream)")

# %% [markdown]
# On the machine that built this notebook the register version was faster than the row stream;
# how much depends on the CPU (an AVX-512 register holds a lanes value whole, AVX2 needs two).
# The library uses this scheme for stride-1 depthwise layers with channels in multiples of 16,
# forward and both gradients.
#
# ### What costs more than the arithmetic
#
# With the sums in registers, little work is left per number, so costs that have nothing to do
# with the arithmetic start to show. The library's authors measured two while speeding up its
# register kernels.
#
# **Copies.** The library's depthwise kernel used to copy each input row once into a small ring
# of zero-padded rows, so that no tap needed a bounds test. A copy written as a numba slice
# assignment, `dst[a:b] = src[c:d]`, is not a plain copy: numba first checks whether the two
# arrays overlap in memory, copies the source to a temporary if they might, and then moves the
# numbers one at a time through a loop written for any strides. The same numbers moved with
# `lanes.load` and `lanes.store`, 16 at a time, are a plain vector copy. The cell below copies
# the 512 rows of `x` (32 pixels of 32 channels each) into rows with one zero pixel at each end,
# both ways.

# %%
@numba.njit(fastmath={"contract"})
def pad_rows_slices(src, dst, channels):
    # src: (rows, W*C); dst: (rows, (W+2)*C), one zero pixel at each end of every row
    row_len = src.shape[1]
    for r in range(src.shape[0]):
        dst[r, channels : channels + row_len] = src[r]


@numba.njit(fastmath={"contract"})
def pad_rows_lanes(src, dst, channels):
    row_len = src.shape[1]  # a multiple of lanes.LANES
    for r in range(src.shape[0]):
        src_row, dst_row = src[r], dst[r]
        for q in range(0, row_len, lanes.LANES):
            lanes.store(dst_row, channels + q, lanes.load(src_row, q))


channels = x.shape[-1]
rows = x.reshape(-1, x.shape[2] * channels)  # 512 rows of 32 * 32 numbers
padded_slices = np.zeros((rows.shape[0], rows.shape[1] + 2 * channels), dtype=np.float32)
padded_lanes = np.zeros_like(padded_slices)
# the first call compiles; for the slices that takes a second or two, mostly spent on the
# error message numba builds for shapes that do not match
pad_rows_slices(rows, padded_slices, channels)
pad_rows_lanes(rows, padded_lanes, channels)
assert np.array_equal(padded_slices, padded_lanes)

# each run is short, so take the best of more of them
t_slices = best_time(pad_rows_slices, rows, padded_slices, channels, repeat=20)
t_lanes = best_time(pad_rows_lanes, rows, padded_lanes, channels, repeat=20)
t_conv = timings["registers (4 pixels)"]
print(f"slice assignment      {t_slices:6.3f} ms   ({t_slices / t_lanes:.1f}x the vector copy)")
print(f"lanes load and store  {t_lanes:6.3f} ms")
print(f"register convolution  {t_conv:6.3f} ms   (of the same rows, above)")

# %% [markdown]
# In the library, an earlier version of the depthwise kernel read the middle of each row in place
# and copied only the edge columns into a padded buffer, with slice assignments; those copies took
# longer than the convolution of the row they fed. Copying whole rows into a ring of padded rows
# with vector loads and stores, as above, took 23-36% off.
#
# Then a measurement showed that even the vector copy cost about a third of the time: a version
# that still stored every row, into a buffer that nothing read, was as slow as the ring. The
# cheapest copy is the one not made. The library's kernel now reads the input in place, and a
# tap that falls on the zero padding loads a zero register instead of the input. Only the two
# outer input vectors of a group of four pixels can fall on the padding (at the first and last
# group of a row), so the test is made once per group, and away from the edges it is always true:
# the CPU predicts the branch and it costs almost nothing. The cell below compares the two ways
# of computing a "same"-padded convolution: pad a copy, then run the convolution above on it; or
# read in place with zero loads.

# %%
@numba.njit(inline="always")
def load_or_zero(row, p, inside, zero):
    if inside:
        return lanes.load(row, p)
    return zero  # a tap on the padding


@numba.njit(fastmath={"contract"})
def dw_registers_same(x_rows, k_flat, out_rows, channels, ahead):
    # "same" 3x3 (one pixel of zero padding all round): out like x, (N, H, W*C); W % 4 == 0.
    # ahead: first ask for the input row the next output row brings in (see below)
    n_img, height, row_len = x_rows.shape
    width = row_len // channels
    C = channels
    zero = lanes.zeros(k_flat)
    for n in range(n_img):
        for i in range(height):
            if ahead and i + 2 < height:
                next_row = x_rows[n, i + 2]
                for q in range(0, row_len, lanes.LANES):  # one request per 64 bytes
                    lanes.prefetch(next_row, q)
            out_row = out_rows[n, i]
            for j in range(0, width, 4):
                u = j - 1  # the input pixel of v0: one pixel left of output pixel j
                first_inside, last_inside = u >= 0, u + 5 < width  # v0 and v5
                for cb in range(0, C, lanes.LANES):
                    s0, s1, s2, s3 = zero, zero, zero, zero
                    for a in range(3):
                        y = i - 1 + a
                        if y < 0 or y >= height:  # a kernel row on the padding: left out
                            continue
                        x_row = x_rows[n, y]
                        p = u * C + cb
                        v0 = load_or_zero(x_row, p, first_inside, zero)
                        v1 = lanes.load(x_row, p + C)
                        v2 = lanes.load(x_row, p + 2 * C)
                        v3 = lanes.load(x_row, p + 3 * C)
                        v4 = lanes.load(x_row, p + 4 * C)
                        v5 = load_or_zero(x_row, p + 5 * C, last_inside, zero)
                        w = lanes.load(k_flat, (a * 3 + 0) * C + cb)
                        s0, s1 = lanes.fma(v0, w, s0), lanes.fma(v1, w, s1)
                        s2, s3 = lanes.fma(v2, w, s2), lanes.fma(v3, w, s3)
                        w = lanes.load(k_flat, (a * 3 + 1) * C + cb)
                        s0, s1 = lanes.fma(v1, w, s0), lanes.fma(v2, w, s1)
                        s2, s3 = lanes.fma(v3, w, s2), lanes.fma(v4, w, s3)
                        w = lanes.load(k_flat, (a * 3 + 2) * C + cb)
                        s0, s1 = lanes.fma(v2, w, s0), lanes.fma(v3, w, s1)
                        s2, s3 = lanes.fma(v4, w, s2), lanes.fma(v5, w, s3)
                    q = j * C + cb
                    lanes.store(out_row, q, s0)
                    lanes.store(out_row, q + C, s1)
                    lanes.store(out_row, q + 2 * C, s2)
                    lanes.store(out_row, q + 3 * C, s3)


n_img, height, width, channels = x.shape
x_rows = x.reshape(n_img, height, width * channels)
padded = np.zeros((n_img, height + 2, (width + 2) * channels), dtype=np.float32)
out_copy = np.empty((n_img, height, width * channels), dtype=np.float32)
out_in_place = np.empty_like(out_copy)


@numba.njit(fastmath={"contract"})
def pad_images_lanes(src, dst, channels):
    # src: (N, H, W*C); dst: (N, H+2, (W+2)*C), whose border rows and pixels stay zero
    for n in range(src.shape[0]):
        for r in range(src.shape[1]):
            src_row, dst_row = src[n, r], dst[n, r + 1]
            for q in range(0, src.shape[2], lanes.LANES):
                lanes.store(dst_row, channels + q, lanes.load(src_row, q))


def pad_then_convolve():
    pad_images_lanes(x_rows, padded, channels)  # copy each row, by vectors, between zero pads
    dw_registers(padded, k2.reshape(-1), out_copy, channels)  # the "valid" convolution above


def read_in_place(ahead=False):
    dw_registers_same(x_rows, k2.reshape(-1), out_in_place, channels, ahead)


same = reference.depthwise_conv2d_forward(x, k, (1, 1), (1, 1), ((1, 1), (1, 1)))
pad_then_convolve()
read_in_place()
assert np.allclose(out_copy.reshape(same.shape), same, atol=1e-4)
assert np.array_equal(out_copy, out_in_place)  # the same sums, in the same order
t_copy = best_time(pad_then_convolve, repeat=20)
t_in_place = best_time(read_in_place, repeat=20)
print(f"pad a copy, then convolve   {t_copy:6.3f} ms")
print(f"read in place, zero loads   {t_in_place:6.3f} ms   ({t_in_place / t_copy:.2f}x)")

# %% [markdown]
# The two give the same numbers to the last bit: a zero register times a weight adds the same
# zero the padded copy would. Whether the in-place version wins here, and by how much, depends on
# the CPU and on what else the machine does.
#
# There is a catch, and it is the lesson of this section. The cell above runs each version again
# and again on the same `x`, which therefore stays in the caches. In a network, a layer's input
# was written by the layer before, and large outputs since have pushed it out to memory: the
# copy had been a fast sequential read of it, while reading in place meets the memory's latency
# in the middle of the arithmetic. Measured in the layer itself, the library's in-place kernel
# was 10% *slower* on the W1 layer. The cure is to ask for data before it is needed: before each
# output row, the kernel issues a *prefetch* for the input row the next output row will read
# (`lanes.prefetch(a, i)`, one instruction per 64 bytes, which returns at once while the memory
# works). The cell below times the three versions with the caches emptied before each call (by
# writing a buffer bigger than they are), as in a network.

# %%
flush = np.empty(64 * 2**20 // 4, dtype=np.float32)  # 64 MiB: more than this CPU's caches


def cold_time(fn, repeat=10):
    """The fastest of a few runs (ms), each after pushing everything out of the caches."""
    fn()
    times = []
    for _ in range(repeat):
        flush.fill(1.0)
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


read_in_place(ahead=True)
assert np.array_equal(out_copy, out_in_place)
print(f"cold: pad a copy, then convolve   {cold_time(pad_then_convolve):6.3f} ms")
print(f"cold: read in place               {cold_time(read_in_place):6.3f} ms")
print(f"cold: read in place, ask ahead    {cold_time(lambda: read_in_place(True)):6.3f} ms")

# %% [markdown]
# In the library, with the prefetch, in-place reading won in the layer too: the W4 layer's
# forward 9% faster than with the ring, W1's 5-6% (W2's, with 128 channels, even to 6% slower).
# The library asks for the row into the second-level cache only (`prefetcht1`): asked into the
# first level, it pushed out the rows still in use, and W1 and W2 ran 7-10% slower.
#
# Measure in the setting that counts: a loop that keeps its data in the caches can point the
# wrong way. The module docstring of `minikeras/kernels/depthwise_lanes.py` gives the
# measurements.
#
# **Where an array starts.** Memory moves between the caches and the core in *cache lines* of 64
# bytes, and a 16-float vector is 64 bytes too. If an array starts on a multiple of 64, every
# vector load fits in one line; numpy only promises a multiple of 16, and then most vectors
# straddle two lines, and each load or store touches both. The cell below runs the same in-place
# kernel on copies of `x` and of its output that start 0 and 16 bytes past a 64-byte boundary.

# %%
from minikeras.kernels import aligned  # noqa: E402


def placed(a, offset_bytes):
    """A copy of `a` whose first number is `offset_bytes` past a 64-byte boundary."""
    spare = aligned.ALIGN // a.itemsize
    buffer = aligned.empty((a.size + spare,), a.dtype)  # starts on a boundary
    skip = offset_bytes // a.itemsize
    copy = buffer[skip : skip + a.size].reshape(a.shape)
    copy[...] = a
    return copy


for offset in (0, 16):
    x_placed, out_placed = placed(x_rows, offset), placed(out_in_place, offset)
    assert x_placed.ctypes.data % 64 == offset
    args = (x_placed, k2.reshape(-1), out_placed, channels, False)
    dw_registers_same(*args)
    assert np.array_equal(out_placed, out_in_place)  # the same numbers, wherever they live
    ms = best_time(dw_registers_same, *args, repeat=20)
    print(f"input and output {offset:2d} bytes past a 64-byte boundary: {ms:6.3f} ms")

# %% [markdown]
# On the machine that wrote the library, the library's own 3x3 kernel took 0.30 ms on W1 with
# both arrays aligned and 0.36 ms with the input 16 bytes off (W2: 0.64 against 0.80 ms). So the
# fused separable forward makes its outputs with `kernels.aligned.empty`, and the next layer of a
# model reads an aligned input: the MobileNet-style model's `predict` went from 84-87 to 80-84
# ms. An array the caller passes in stays where it is: copying it to move it would cost a pass
# over memory.
#
# **Calls.** The kernels are split into small jitted helpers, and in numba a call is not free.
# When one jitted function passes arrays to another, numba counts references to them: for each
# array an atomic operation, and a call into numba's runtime. And before any real call the
# caller must save every live vector register to memory, because the calling convention lets
# the function it calls overwrite all of them; in a kernel whose sums live in registers, each
# call stores the sums and loads them back. That nearly doubled the time of the library's
# register product for a 1x1 convolution (a `(32768 x 32) @ (32 x 64)` product: 1.2 -> 2.1 ms).
# So the helpers that run while sums sit in registers take only lanes values and flags, no
# arrays, and the small helpers are inlined in numba's own IR, before LLVM sees them
# (`njit(inline=True)` in `minikeras/kernels/_jit.py`): their code is pasted into the kernel,
# and there is no call to make. Pasting has its own price, paid once, at compile time: numba
# types the kernel again at every place it pastes a helper. A load used six times per kernel row,
# pasted a hundred times over, made the depthwise forward take 40 s to compile; the most used
# helpers (`lanes.load_if`, `lanes.fma4`) are now written like `lanes.load` itself, as a few
# lines that emit LLVM instructions directly, and that forward compiles in 7 s.
#
# A constant is a type of its own. When one jitted function calls another with a constant, say
# `0`, numba types that argument as "the literal 0" and compiles the function it calls once more,
# just for that value, beside the copy for ordinary integers. The cell below shows it.

# %%
@numba.njit
def scaled(a, k):
    return a * k


@numba.njit
def twice(a, n):
    return scaled(a, 0) + scaled(a, n)  # a constant, then a variable


twice(np.ones(3), 2)
for signature in scaled.signatures:
    print(signature)
assert len(scaled.signatures) == 2  # one compiled copy per argument type, and 0 is one

# %% [markdown]
# In the library this cost whole seconds. The kernel gradient of a 1x1 convolution passed a
# constant 0 for an empty batch, and the depthwise forward passed 0 as its first row, so two big
# kernels were each compiled a second time (4 s and 9 s). With a third, smaller case, such second
# copies took 15 s of the 72 s that the install-time compilation
# (`python -m minikeras.kernels.warmup`) spent. Each call now passes a variable that holds the
# same number.
#
# Calls are also why the 1x1 product (`minikeras/kernels/lanes_product.py`) applies its bias,
# a batch norm's scale and shift, and the ReLU to the registers before it stores them
# (`lanes_product._finish`), instead of making a second pass over the result. A second pass would
# read and write every number of the result again, for an addition or a multiply-add each.
#
# **Waiting.** A multiply-add `s = fma(x, w, s)` needs the `s` of the one before it. The CPU
# can start a new multiply-add every cycle, but each takes about four cycles to finish, so a
# single running sum keeps the multiply-add unit idle most of the time. Several *independent*
# sums can be in flight at once. The cell below adds the same 16-float vectors into one, two,
# four and eight sums, in an array small enough to stay in the first-level cache.

# %%
@numba.njit(fastmath={"contract"})
def multiply_adds(x, w, reps, chains):
    # `chains` independent sums (1, 2, 4 or 8), each taking every `chains`-th vector of x
    wv = lanes.load(w, 0)
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = lanes.zeros(x)
    for _ in range(reps):
        for i in range(0, x.shape[0], 16 * chains):
            s0 = lanes.fma(lanes.load(x, i), wv, s0)
            if chains >= 2:
                s1 = lanes.fma(lanes.load(x, i + 16), wv, s1)
            if chains >= 4:
                s2 = lanes.fma(lanes.load(x, i + 32), wv, s2)
                s3 = lanes.fma(lanes.load(x, i + 48), wv, s3)
            if chains == 8:
                s4 = lanes.fma(lanes.load(x, i + 64), wv, s4)
                s5 = lanes.fma(lanes.load(x, i + 80), wv, s5)
                s6 = lanes.fma(lanes.load(x, i + 96), wv, s6)
                s7 = lanes.fma(lanes.load(x, i + 112), wv, s7)
    out = np.empty(16, x.dtype)
    lanes.store(out, 0, lanes.add(lanes.add(lanes.add(s0, s1), lanes.add(s2, s3)),
                                  lanes.add(lanes.add(s4, s5), lanes.add(s6, s7))))
    return out


vectors = np.random.default_rng(0).standard_normal(16 * 256).astype(np.float32)  # 16 KiB
weight = np.full(16, 0.5, np.float32)
reps = 2000
fmas = reps * vectors.size // 16
chain_ns = {}
for chains in (1, 2, 4, 8):
    ms = best_time(multiply_adds, vectors, weight, reps, chains)
    chain_ns[chains] = 1e6 * ms / fmas
    print(f"{chains} sum(s) in flight: {chain_ns[chains]:.3f} ns per 16-float multiply-add "
          f"({chain_ns[1] / chain_ns[chains]:.1f}x as fast as one)")

# %% [markdown]
# The total is the same sum of products in every case, added in another order (so the last bits
# may differ). On the machine that built this notebook one sum took about four times as long per
# multiply-add as four sums, and eight were no faster than four: four cycles to finish, one
# started per cycle, so four in flight fill the unit.
#
# Four is the least, in a loop that does nothing else. The library's depthwise forward keeps
# four pixels' sums, four chains, with loads, address arithmetic and loop tests in between. With
# AVX-512 it keeps eight (`PAIRED` in `depthwise_lanes.py`): there is slack for the other
# instructions, and each pass of the loop over the kernel rows does twice the work. A 5x5 kernel
# makes two blocks of 16 channels at once (W4's depthwise 0.29-0.32 -> 0.23-0.25 ms). A 3x3 kernel
# makes two output rows at once (`rows_into_two`): rows `i` and `i + 1` read four input rows, and
# the middle two serve both, so each input vector loaded feeds six multiply-adds instead of three
# (W1's depthwise 0.26 -> 0.22 ms, W2's 0.60 -> 0.50-0.55 ms). With AVX2 a 16-float lanes value
# already takes two 8-float registers, so four sums are eight chains there, and eight sums would
# not fit in its 16 registers. Each output number still gets its taps in the same order, so the
# results are the same bits as before.

# %% [markdown]
# ## A timing plot against the reference
#
# How does the gap grow with the image size? The reference does 9 numpy passes over the data, each
# allocating temporaries; the kernel makes one pass per tap over rows that stay in cache.

# %%
sizes = [8, 16, 32, 48]
ref_ms, jit_ms = [], []
for size in sizes:
    xs = rng.standard_normal((16, size, size, 32)).astype(np.float32)
    ref_ms.append(best_time(reference.depthwise_conv2d_forward, xs, k, repeat=3))
    jit_ms.append(best_time(kernels.depthwise_conv2d_forward, xs, k, repeat=3))

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(sizes, ref_ms, "o-", label="numpy reference")
ax.plot(sizes, jit_ms, "s-", label="Numba kernel")
ax.set_yscale("log")
ax.set_xlabel("image height = width (batch 16, 32 channels, 3x3 kernel)")
ax.set_ylabel("forward time (ms, log scale)")
ax.set_title("Depthwise convolution forward")
ax.legend()
ax.grid(alpha=0.3, which="both")
plt.show()
print("speed-up:", [f"{r / j:.1f}x" for r, j in zip(ref_ms, jit_ms)])

# %% [markdown]
# ## Depthwise vs standard convolution
#
# A **standard** convolution mixes channels: every output channel `o` sums over *all* input
# channels, with a kernel of shape `(kh, kw, Cin, Cout)`:
#
# $$ \text{out}[n, i, j, o] = \sum_{a, b, c} x[n, i + a, j + b, c]\; k[a, b, c, o]. $$
#
# A depthwise convolution is the special case where output channel `c` only looks at input
# channel `c`: a standard kernel that is zero off the "channel diagonal". We can check that with
# the library's standard-convolution kernel:

# %%
channels = small_x.shape[-1]
block_diagonal = np.zeros((3, 3, channels, channels), dtype=np.float32)
for c in range(channels):
    block_diagonal[:, :, c, c] = small_k[:, :, c]
standard = kernels.conv2d_forward(small_x, block_diagonal)
depthwise = kernels.depthwise_conv2d_forward(small_x, small_k[..., None])
print("depthwise == standard conv with a diagonal kernel:",
      np.allclose(standard, depthwise, atol=1e-5))

# %% [markdown]
# ### Exercise 6.2: the standard convolution, as loops
#
# Write `conv2d_loops(x, k)` for a `(kh, kw, Cin, Cout)` kernel, stride 1, no padding, from the
# formula above. Keep it simple: the check uses tiny inputs.

# %%
def conv2d_loops(x, k):
    """Standard convolution (stride 1, no padding), straight from the formula."""
    ### BEGIN SOLUTION
    n_img, height, width, _ = x.shape
    kh, kw, c_in, c_out = k.shape
    out = np.zeros((n_img, height - kh + 1, width - kw + 1, c_out), dtype=x.dtype)
    for n in range(n_img):
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                for o in range(c_out):
                    for a in range(kh):
                        for b in range(kw):
                            for c in range(c_in):
                                out[n, i, j, o] += x[n, i + a, j + b, c] * k[a, b, c, o]
    return out
    ### END SOLUTION


# %%
check_conv2d_loops(conv2d_loops)

# %% [markdown]
# ### Exercise 6.3: depthwise as standard, with a depth multiplier
#
# The diagonal kernel above had one filter per channel. With a depth multiplier `dm`, a
# depthwise kernel `(kh, kw, C, dm)` gives `C * dm` output channels, and output channel
# `c * dm + m` is input channel `c` filtered by `[:, :, c, m]`. Write `depthwise_as_standard(dk)`,
# the `(kh, kw, C, C * dm)` standard kernel that computes the same convolution.

# %%
def depthwise_as_standard(dk):
    """The standard kernel equivalent to a depthwise kernel (kh, kw, C, dm)."""
    ### BEGIN SOLUTION
    kh, kw, channels, dm = dk.shape
    standard = np.zeros((kh, kw, channels, channels * dm), dtype=dk.dtype)
    for c in range(channels):
        for m in range(dm):
            standard[:, :, c, c * dm + m] = dk[:, :, c, m]
    return standard
    ### END SOLUTION


# %%
check_depthwise_as_standard(depthwise_as_standard)

# %% [markdown]
# Most of that standard kernel is zeros, i.e. wasted multiplications. Per output pixel, a
# standard convolution does `kh*kw*Cin*Cout` multiply-adds; a depthwise one `kh*kw*C`. The two are
# computed differently, too. The standard kernel lays every window out as one row of a matrix
# ("im2col") and lets BLAS do a big matrix product; the depthwise kernel is the row stream above.
#
# ### Exercise 6.4: im2col
#
# "im2col" turns the input into a matrix with **one row per output pixel** holding the
# `kh * kw * C` numbers its window reads, in the kernel's own order (`a`, then `b`, then `c`
# fastest). Then the whole convolution is one matrix product,
# `im2col(x, kh, kw) @ k.reshape(kh * kw * C, Cout)`. Write `im2col` (stride 1, no padding).

# %%
def im2col(x, kh, kw):
    """Every window of x as a row: shape (N * Ho * Wo, kh * kw * C)."""
    ### BEGIN SOLUTION
    n_img, height, width, channels = x.shape
    out_h, out_w = height - kh + 1, width - kw + 1
    cols = np.empty((n_img, out_h, out_w, kh, kw, channels), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            cols[:, :, :, a, b, :] = x[:, a:a + out_h, b:b + out_w, :]   # tap (a, b) everywhere
    return cols.reshape(n_img * out_h * out_w, kh * kw * channels)
    ### END SOLUTION


# %%
check_im2col(im2col)

# %% [markdown]
# The library's kernel does the same, in blocks of rows that fit in the cache, and hands the
# products to BLAS. The timings:

# %%
x_std = rng.standard_normal((16, 32, 32, 32)).astype(np.float32)
k_std = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
t_std = best_time(kernels.conv2d_forward, x_std, k_std)
t_dw = best_time(kernels.depthwise_conv2d_forward, x_std, k)
print(f"standard 3x3, 32 -> 32 channels: {t_std:6.2f} ms, {3 * 3 * 32 * 32:6d} MACs per pixel")
print(f"depthwise 3x3, 32 channels:      {t_dw:6.2f} ms, {3 * 3 * 32:6d} MACs per pixel")
print(f"32x less arithmetic, {t_std / t_dw:.0f}x less time")

# %% [markdown]
# The depthwise convolution does 32 times less arithmetic, but it is usually not 32 times faster:
# it does so little work per number loaded that memory traffic, not arithmetic, limits it, while
# the standard convolution's big matrix product keeps the CPU's arithmetic units busy. That is why
# the depthwise kernel must stream memory so carefully. And a depthwise convolution alone is no
# replacement for a standard one: it never mixes channels. Notebook 7 adds the missing piece, a
# 1x1 "pointwise" convolution, and gets the **separable** convolution.
#
# ## Gradients and threads
#
# Each kernel comes with its two gradients (`..._grad_input`, `..._grad_kernel`), each with a
# numpy twin, and `minikeras.backend` wraps them into differentiable ops exactly as in notebook 2.
# A quick `gradcheck` of the backend op in float64 (tiny shapes, so the full Jacobian is cheap):

# %%
from minikeras import backend as K
from minikeras import gradcheck

gradcheck(lambda a, b: K.depthwise_conv2d(a, b, strides=(2, 1), padding="same"),
          [rng.standard_normal((1, 5, 4, 2)), rng.standard_normal((3, 3, 2, 2))])

# %% [markdown]
# The parallel kernels split their rows over Numba's threads. On a small machine two thread
# pools (Numba's and the BLAS library's behind numpy) can fight for the cores when both *spin*
# while idle, so before Numba starts its first pool minikeras picks a threading layer whose
# threads sleep when idle, and limits BLAS to one thread (the big matrix products are split over
# the cores by minikeras itself). The layer is Intel's TBB where its library is installed (it
# comes with minikeras on Linux x86-64), else Numba's own `workqueue`. Environment variables
# override each choice: `MINIKERAS_THREADING_LAYER`, `MINIKERAS_NUM_THREADS`,
# `MINIKERAS_BLAS_THREADS` (see the *Design* page of the documentation).
#
# Handing work to another thread is not free, and the way it is handed over matters. The cell
# below does the smallest possible piece of work on two threads, twice: through a Python thread
# pool (the other thread must be woken, then take Python's GIL before it can call the kernel),
# and through one Numba parallel loop (Numba's own threads, which never touch the GIL). A layer's
# convolution takes a millisecond or two, so a hand-off of tens of microseconds shows.

# %%
from concurrent.futures import ThreadPoolExecutor


@numba.njit(nogil=True)
def touch(a, p):
    a[p] += 1.0


@numba.njit(parallel=True)
def touch_in_parallel(a, parts):
    for p in numba.prange(parts):
        a[p] += 1.0


counters = np.zeros(2)
pool = ThreadPoolExecutor(1)


def via_python_thread():
    other = pool.submit(touch, counters, 1)  # the other half, on the pool's thread
    touch(counters, 0)  # this half, here
    other.result()


def via_numba_loop():
    touch_in_parallel(counters, 2)


def median_us(fn, calls=2000):
    fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e6 * float(np.median(times))


print("threading layer:", numba.threading_layer(), " threads:", numba.get_num_threads())
print(f"hand-off through a Python thread   {median_us(via_python_thread):7.1f} us")
print(f"hand-off through a Numba loop      {median_us(via_numba_loop):7.1f} us")
pool.shutdown()

# %% [markdown]
# On the machine that built this notebook the Python pool took tens of microseconds and the
# Numba loop on TBB a few. So where the layer is TBB, minikeras runs the fused separable forward
# and its register matrix products as one parallel Numba call, and keeps the Python pool for the
# calls into BLAS, which Numba cannot make.

# %% [markdown]
# ## Summary
#
# * Every kernel has a numpy **reference twin** that reads as its definition; the tests hold the
#   kernel to the twin.
# * NHWC makes each image row one contiguous stream of `W*C` numbers; the fast depthwise kernel is
#   a long multiply-add over such rows.
# * Loop order changes the speed many times over without changing the result.
# * A depthwise convolution is a standard one with a diagonal kernel: far less arithmetic, but
#   no mixing of channels.
#
# **Going further** (no check): time `dw_channel_inner` with `C = 4` and with `C = 128`
# channels. Which loop order suffers most from few channels, and why?
