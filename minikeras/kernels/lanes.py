"""Short vectors of :data:`LANES` numbers that a kernel keeps in registers.

numba vectorises a loop only when it is innermost and LLVM can prove its arrays do not
overlap, and it has no way to say "keep these sums in registers across the next loop". A
depthwise convolution wants exactly that: four output pixels' sums of 16 channels each, held
while the kernel taps go by, so that each input vector loaded feeds one FMA and each weight
vector four (the scheme of hand-written CPU convolution libraries). Written as plain numba loops,
the sums went through memory or the loop ran scalar (measured in ``benchmarks/README.md``).

These functions make that explicit: a *lanes* value is an LLVM vector ``<16 x float>``
(or ``double``), which LLVM keeps in one AVX-512 register (two AVX2 ones), and

* :func:`load` ``(a, i)`` is ``a[i : i + LANES]``,
* :func:`store` ``(a, i, v)`` is ``a[i : i + LANES] = v``,
* :func:`fma` ``(x, w, s)`` is ``x * w + s``, lane by lane, one FMA instruction per register,
* :func:`zeros` ``(a)`` is ``LANES`` zeros of ``a``'s dtype,
* :func:`broadcast` ``(a, i)`` is ``LANES`` copies of ``a[i]``,
* :func:`add` ``(x, y)`` is ``x + y``, lane by lane,
* :func:`relu` ``(x)`` is ``x`` with every lane ``<= 0`` set to ``+0.0`` (a NaN stays NaN, as
  with ``np.maximum(x, 0)``),
* :func:`fma4` ``(w, x0, x1, x2, x3, s0, s1, s2, s3)`` is the four FMAs ``xq * w + sq`` that
  share the factor ``w``: the step of every register-blocked kernel here,
* :func:`load_if` ``(flag, a, i, other)`` is ``a[i : i + LANES]`` if ``flag``, else ``other``
  (a tap on a convolution's zero padding loads nothing),
* :func:`prefetch` ``(a, i)`` asks the CPU to bring the 64 bytes at ``a[i]`` into its L2 cache
  and returns at once (one ``prefetcht1`` instruction; nothing at all without the JIT).

Every one is an LLVM intrinsic, lowered straight to a few instructions. Helpers written as
``njit(inline=True)`` functions are pasted in by numba's own inliner, which types each pasted
call again: with six loads and three ``fma4`` per kernel row, pasted at a hundred places, the
depthwise forward took 40 s to compile, 7 s with ``load_if`` and ``fma4`` as intrinsics.

No bounds are checked: the caller indexes inside its 1-D contiguous arrays. With
``NUMBA_DISABLE_JIT=1`` the same names are the numpy expressions above, so the kernels that use
them still run (slowly) as plain Python.
"""

from __future__ import annotations

import functools

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

# numba through _jit, which applies the threading defaults before importing it (and with it
# numba.extending and numba.core.types)
from minikeras.kernels._jit import numba

types = numba.core.types
intrinsic, models, register_model = (
    numba.extending.intrinsic,
    numba.extending.models,
    numba.extending.register_model,
)

#: Numbers per lanes value: one 512-bit register of float32.
LANES = 16


class Lanes(types.Type):
    """numba type of :data:`LANES` numbers of one dtype, held as an LLVM vector.

    Args:
        dtype: numba type of each lane (``float32`` or ``float64``).
    """

    def __init__(self, dtype: types.Type) -> None:
        self.dtype = dtype
        super().__init__(name=f"Lanes{LANES}({dtype})")


@register_model(Lanes)
class _LanesModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        lane = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(lane, LANES))


def _address(context, builder, array_type, array, index):
    """Pointer to ``array[index]`` as a pointer to a whole lanes vector."""
    data = context.make_array(array_type)(context, builder, array).data
    vector = context.get_value_type(Lanes(array_type.dtype))
    return builder.bitcast(builder.gep(data, [index]), vector.as_pointer())


@intrinsic
def _load(typingctx, array, index):
    lanes = Lanes(array.dtype)

    def codegen(context, builder, signature, args):
        # align=1: rows start anywhere; unaligned vector loads cost the same on current CPUs
        return builder.load(_address(context, builder, signature.args[0], *args), align=1)

    return lanes(array, index), codegen


@intrinsic
def _store(typingctx, array, index, value):
    def codegen(context, builder, signature, args):
        array_value, index_value, lanes_value = args
        address = _address(context, builder, signature.args[0], array_value, index_value)
        builder.store(lanes_value, address, align=1)
        return context.get_dummy_value()

    return types.none(array, index, value), codegen


def _emit_fma(builder, x, w, s):
    # "contract" lets LLVM fuse the two into one FMA instruction, as in every kernel here
    return builder.fadd(builder.fmul(x, w, flags=("contract",)), s, flags=("contract",))


@intrinsic
def _fma(typingctx, x, w, s):
    def codegen(context, builder, signature, args):
        return _emit_fma(builder, *args)

    return x(x, w, s), codegen


@intrinsic
def _zeros(typingctx, array):
    lanes = Lanes(array.dtype)

    def codegen(context, builder, signature, args):
        return ir.Constant(context.get_value_type(lanes), None)  # zeroinitializer

    return lanes(array), codegen


@intrinsic
def _broadcast(typingctx, array, index):
    lanes = Lanes(array.dtype)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        value = builder.load(builder.gep(data, [args[1]]))
        vector = context.get_value_type(lanes)
        undefined = ir.Constant(vector, ir.Undefined)
        first = builder.insert_element(undefined, value, ir.Constant(ir.IntType(32), 0))
        everywhere = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
        return builder.shuffle_vector(first, undefined, everywhere)  # one vbroadcastss

    return lanes(array, index), codegen


@intrinsic
def _add(typingctx, x, y):
    def codegen(context, builder, signature, args):
        return builder.fadd(*args)

    return x(x, y), codegen


@intrinsic
def _relu(typingctx, x):
    def codegen(context, builder, signature, args):
        (value,) = args
        zero = ir.Constant(value.type, None)
        # "ole" is false for NaN, so a NaN lane keeps its NaN; -0.0 <= 0 becomes +0.0
        at_most_zero = builder.fcmp_ordered("<=", value, zero)
        return builder.select(at_most_zero, zero, value)

    return x(x), codegen


@intrinsic
def _load_if(typingctx, flag, array, index, otherwise):
    lanes = Lanes(array.dtype)

    def codegen(context, builder, signature, args):
        inside, array_value, index_value, other = args
        start = builder.basic_block
        with builder.if_then(inside):
            loaded_in = builder.basic_block
            address = _address(context, builder, signature.args[1], array_value, index_value)
            loaded = builder.load(address, align=1)
        result = builder.phi(other.type)
        result.add_incoming(loaded, loaded_in)
        result.add_incoming(other, start)
        return result

    return lanes(flag, array, index, otherwise), codegen


@intrinsic
def _fma4(typingctx, w, x0, x1, x2, x3, s0, s1, s2, s3):
    def codegen(context, builder, signature, args):
        factor, *xs_and_sums = args
        sums = [_emit_fma(builder, x, factor, s) for x, s in zip(xs_and_sums[:4], xs_and_sums[4:])]
        return context.make_tuple(builder, signature.return_type, sums)

    return types.UniTuple(s0, 4)(w, x0, x1, x2, x3, s0, s1, s2, s3), codegen


@intrinsic
def _prefetch(typingctx, array, index):
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte = ir.IntType(8).as_pointer()
        address = builder.bitcast(builder.gep(data, [args[1]]), byte)
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32])
        )
        # read (0), into L2 but not L1 (2), data (1): one prefetcht1 instruction. Into L1 too
        # (prefetcht0) was 7-10% slower on W1 and W2, whose rows then pushed out the ones in
        # use; into L3 only (prefetcht2) no better than L2.
        builder.call(fn, [address, i32(0), i32(2), i32(1)])
        return context.get_dummy_value()

    return types.none(array, index), codegen


def _py_prefetch(a: np.ndarray, i: int) -> None:
    return None


def _py_load(a: np.ndarray, i: int) -> np.ndarray:
    return a[i : i + LANES].copy()


def _py_store(a: np.ndarray, i: int, v: np.ndarray) -> None:
    a[i : i + LANES] = v


def _py_fma(x: np.ndarray, w: np.ndarray, s: np.ndarray) -> np.ndarray:
    return x * w + s


def _py_zeros(a: np.ndarray) -> np.ndarray:
    return np.zeros(LANES, a.dtype)


def _py_broadcast(a: np.ndarray, i: int) -> np.ndarray:
    return np.full(LANES, a[i], a.dtype)


def _py_load_if(flag: bool, a: np.ndarray, i: int, otherwise: np.ndarray) -> np.ndarray:
    return a[i : i + LANES].copy() if flag else otherwise


def _py_fma4(w, x0, x1, x2, x3, s0, s1, s2, s3):
    return x0 * w + s0, x1 * w + s1, x2 * w + s2, x3 * w + s3


def _py_add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x + y


def _py_relu(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0, np.zeros_like(x), x)


def wide_registers() -> bool:
    """Whether the kernels compile for AVX-512: 32 vector registers, each a whole lanes value.

    With AVX2 a lanes value takes two of 16 registers, so a kernel that holds 16 of them
    spills to memory: the register product (:mod:`.lanes_product`) then ran 1.4-2x slower than
    OpenBLAS (compiled with ``NUMBA_CPU_NAME=haswell`` and AVX2 features on an AVX-512 machine),
    while the depthwise kernels, which hold 8-11, still gained. Reads the features numba
    compiles for: ``NUMBA_CPU_FEATURES`` if set, else the host's.

    Returns:
        True if ``avx512f`` is among them.
    """
    return _has_avx512f(numba.config.CPU_FEATURES)


# Cached: asking LLVM for the host's features took 170 us, and every big product asks.
@functools.cache
def _has_avx512f(features: str | None) -> bool:
    if features is None:
        features = llvm.get_host_cpu_features().flatten()
    return "+avx512f" in features.split(",")


if numba.config.DISABLE_JIT:
    load, store, fma, zeros, broadcast = _py_load, _py_store, _py_fma, _py_zeros, _py_broadcast
    add, relu, prefetch, load_if, fma4 = _py_add, _py_relu, _py_prefetch, _py_load_if, _py_fma4
else:
    load, store, fma, zeros, broadcast = _load, _store, _fma, _zeros, _broadcast
    add, relu, prefetch, load_if, fma4 = _add, _relu, _prefetch, _load_if, _fma4
