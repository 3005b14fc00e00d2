"""Inference fusion: SeparableConv2D -> BatchNormalization -> ReLU as one op when nothing records.

Fused and unfused runs must give the same numbers to the last bit (the same arithmetic), the
fused op must really run where a chain qualifies (a spy counts it), and never where it does not:
a tape or accumulator recording, training mode, a middle output read elsewhere or returned, an
activity regularizer, another normalised axis.
"""

from __future__ import annotations

import numpy as np
import pytest

from minikeras import Input, Model, Sequential, regularizers
from minikeras.autograd import (
    ForwardAccumulator,
    GradientTape,
    Tensor,
    gradcheck,
    jvpcheck,
    no_grad,
)
from minikeras.autograd.ops import conv as conv_ops
from minikeras.backend import conv as C
from minikeras.engine.fusion import Epilogue, FusedStep, inference_fusion
from minikeras.kernels import affine, reference
from minikeras.layers import (
    Activation,
    BatchNormalization,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    SeparableConv2D,
    concatenate,
)


def _randomise_batch_norms(model: Model, seed: int = 0) -> None:
    """Non-trivial moving statistics, gamma and beta, as after training."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            dim = layer.moving_mean.shape[0]
            layer.set_weights([rng.uniform(0.5, 2.0, dim), rng.normal(0, 0.5, dim),
                               rng.normal(0, 0.5, dim), rng.uniform(0.2, 3.0, dim)])


def _count_fused(monkeypatch) -> list:
    calls = []
    original = SeparableConv2D.call_with_epilogue

    def spy(self, inputs, epilogue):
        out = original(self, inputs, epilogue)
        calls.append((self.name, epilogue.scale is not None, epilogue.relu, out is not None))
        return out

    monkeypatch.setattr(SeparableConv2D, "call_with_epilogue", spy)
    return calls


def _blocks_model(shape, blocks, use_bias, dm=1, dtype=None):
    kw = {} if dtype is None else {"dtype": dtype}
    inputs = Input(shape, dtype=dtype or "float32")
    h = inputs
    for filters, stride in blocks:
        h = SeparableConv2D(filters, 3, strides=stride, padding="same", use_bias=use_bias,
                            depth_multiplier=dm, **kw)(h)
        h = BatchNormalization(**kw)(h)
        h = Activation("relu", **kw)(h)
    return Model(inputs, Dense(3, **kw)(GlobalAveragePooling2D(**kw)(h)))


def _blas_splits_rows_exactly() -> bool:
    """Whether this BLAS gives every row of a product the same bits however the rows are cut.

    OpenBLAS's AVX-512 kernels do; its Haswell kernel (``OPENBLAS_CORETYPE=Haswell``, or an
    AVX2 machine) differs in the last bits between a 4001-row call and two halves. Fused and
    unfused passes make the same arithmetic except for how they cut the 1x1 products into row
    blocks, so they agree to the last bit exactly when this holds.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4001, 64)).astype(np.float32)
    b = rng.standard_normal((64, 24)).astype(np.float32)
    whole = a @ b
    halves = np.concatenate([a[:2000] @ b, a[2000:] @ b])
    return bool(np.array_equal(whole, halves))


@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize("dm", [1, 2])
def test_predict_fused_equals_unfused_to_the_last_bit(monkeypatch, use_bias, dm):
    # block 1: 3 input channels (the narrow product); blocks 2-3 big enough for the row-block
    # pass of kernels.separable_forward (>= 4M multiply-adds); stride 2 in block 2
    model = _blocks_model((32, 32, 3), [(16, 1), (32, 2), (64, 1)], use_bias, dm)
    _randomise_batch_norms(model)
    x = np.random.default_rng(1).standard_normal((24, 32, 32, 3)).astype(np.float32)
    with inference_fusion(False):
        expected = model.predict(x, batch_size=12)
    calls = _count_fused(monkeypatch)
    got = model.predict(x, batch_size=12)
    assert got.dtype == expected.dtype
    if _blas_splits_rows_exactly():
        np.testing.assert_array_equal(got, expected)
    else:  # the fused pass cuts the 1x1 products into other row blocks than the unfused one
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert len(calls) == 3 * 2  # three chains, two batches
    assert all(c[1] and c[2] and c[3] for c in calls)


def test_float64_model_fuses_exactly_too(monkeypatch):
    model = _blocks_model((10, 10, 4), [(6, 1), (5, 2)], True, dtype="float64")
    _randomise_batch_norms(model, seed=3)
    x = np.random.default_rng(2).standard_normal((5, 10, 10, 4))
    with inference_fusion(False):
        expected = model.predict(x)
    calls = _count_fused(monkeypatch)
    np.testing.assert_array_equal(model.predict(x), expected)
    assert len(calls) == 2 and all(c[3] for c in calls)


def test_the_plan_fuses_each_chain_into_one_step():
    model = _blocks_model((8, 8, 3), [(4, 1), (5, 1)], False)
    kinds = [type(s).__name__ for s in model._fused_plan]
    assert kinds == ["FusedStep", "FusedStep", "PlanStep", "PlanStep"]
    first = model._fused_plan[0]
    assert [type(s.layer).__name__ for s in first.steps] == [
        "SeparableConv2D", "BatchNormalization", "Activation"]
    assert len(model._plan) == 8  # the plain plan is untouched


def test_shorter_chains_batch_norm_alone_and_relu_alone(monkeypatch):
    inputs = Input((9, 9, 3))
    a = BatchNormalization()(SeparableConv2D(4, 3, padding="same")(inputs))
    b = Activation("relu")(SeparableConv2D(4, 3)(a))
    model = Model(inputs, Flatten()(b))
    _randomise_batch_norms(model)
    x = np.random.default_rng(4).standard_normal((3, 9, 9, 3)).astype(np.float32)
    with inference_fusion(False):
        expected = model.predict(x)
    calls = _count_fused(monkeypatch)
    np.testing.assert_array_equal(model.predict(x), expected)
    assert sorted((c[1], c[2]) for c in calls) == [(False, True), (True, False)]


def test_a_middle_output_read_elsewhere_or_returned_is_not_fused_away(monkeypatch):
    inputs = Input((8, 8, 3))
    conv = SeparableConv2D(4, 3, padding="same")(inputs)
    bn = BatchNormalization()(conv)
    relu = Activation("relu")(bn)
    both = concatenate([relu, bn])  # the BN output is read twice: stop the chain at BN
    model = Model(inputs, [both, conv])  # and the conv's output is a model output: no chain
    assert all(type(s) is not FusedStep for s in model._fused_plan)
    model2 = Model(inputs, both)
    fused = [s for s in model2._fused_plan if type(s) is FusedStep]
    assert len(fused) == 1 and len(fused[0].steps) == 2  # conv + BN, the ReLU on its own
    _randomise_batch_norms(model2)
    x = np.random.default_rng(5).standard_normal((2, 8, 8, 3)).astype(np.float32)
    with inference_fusion(False):
        expected = model2.predict(x)
    np.testing.assert_array_equal(model2.predict(x), expected)


def test_nothing_fuses_while_a_tape_records():
    model = _blocks_model((8, 8, 3), [(4, 1)], True)
    _randomise_batch_norms(model)
    x = Tensor(np.random.default_rng(6).standard_normal((2, 8, 8, 3)).astype(np.float32))
    with GradientTape() as tape:
        tape.watch(x)
        y = model(x)
    listing = str(tape)
    assert "SeparableConv2D(" in listing and "BatchNorm(" in listing and "Relu(" in listing
    assert "SeparableConv2D+BatchNorm" not in listing
    grad = tape.gradient(y, x)
    assert grad is not None and np.abs(grad.data).sum() > 0


def test_nothing_fuses_under_a_forward_accumulator():
    model = _blocks_model((8, 8, 3), [(4, 1)], True)
    _randomise_batch_norms(model)
    x = np.random.default_rng(7).standard_normal((2, 8, 8, 3))
    t = np.random.default_rng(8).standard_normal((2, 8, 8, 3))
    xt = Tensor(x.astype(np.float32))
    with ForwardAccumulator(xt, t.astype(np.float32)) as acc:
        y = model(xt)
    assert acc.jvp(y) is not None  # the ops carried tangents: they ran unfused


def test_training_mode_runs_the_layers_one_by_one(monkeypatch):
    model = _blocks_model((8, 8, 3), [(4, 1)], True)
    _randomise_batch_norms(model)
    x = np.random.default_rng(9).standard_normal((4, 8, 8, 3)).astype(np.float32)
    calls = _count_fused(monkeypatch)
    with no_grad():
        fused_try = model(x, training=True).data
    with inference_fusion(False), no_grad():
        expected = model(x, training=True).data
    np.testing.assert_array_equal(fused_try, expected)  # batch statistics, not moving ones
    assert calls == []  # the BN said "training": the head was never asked


def test_activity_regularizer_or_channels_first_keeps_layers_apart(monkeypatch):
    inputs = Input((6, 6, 3))
    h = SeparableConv2D(4, 3, activity_regularizer=regularizers.l2(0.1))(inputs)
    h = Activation("relu")(BatchNormalization()(h))
    model = Model(inputs, h)
    assert all(type(s) is not FusedStep for s in model._fused_plan)
    calls = _count_fused(monkeypatch)
    inputs = Input((3, 6, 6))
    h = SeparableConv2D(4, 3, data_format="channels_first")(inputs)
    h = Activation("relu")(BatchNormalization(axis=1)(h))
    model = Model(inputs, h)
    _randomise_batch_norms(model)
    x = np.random.default_rng(10).standard_normal((2, 3, 6, 6)).astype(np.float32)
    with inference_fusion(False):
        expected = model.predict(x)
    np.testing.assert_array_equal(model.predict(x), expected)
    assert calls == []  # BN over axis 1 is not an epilogue of the last axis


def test_sequential_and_nested_models_fuse(monkeypatch):
    seq = Sequential([SeparableConv2D(4, 3, input_shape=(7, 7, 2)), BatchNormalization(),
                      Activation("relu"), Flatten()])
    _randomise_batch_norms(seq)
    inputs = Input((7, 7, 2))
    outer = Model(inputs, Dense(2)(seq(inputs)))
    x = np.random.default_rng(11).standard_normal((3, 7, 7, 2)).astype(np.float32)
    with inference_fusion(False):
        expected = outer.predict(x)
    calls = _count_fused(monkeypatch)
    np.testing.assert_array_equal(outer.predict(x), expected)
    assert len(calls) == 1 and calls[0][1:] == (True, True, True)


def test_epilogue_composition_rules():
    affine_ = Epilogue(np.ones(2), np.zeros(2))
    relu = Epilogue(relu=True)
    assert Epilogue().then(affine_).scale is not None
    both = affine_.then(relu)
    assert both.relu and both.scale is not None
    assert relu.then(affine_) is None  # an affine map cannot move before a ReLU
    assert affine_.then(affine_) is None  # two affine maps would round differently


# ---- the op and kernel underneath -------------------------------------------------------


def _sep_args():
    return dict(strides=(1, 1), dilation=(1, 1), pads=((1, 1), (1, 1)),
                data_format="channels_last")


@pytest.mark.parametrize("relu", [False, True])
def test_separable_op_with_scale_and_shift_gradients_and_tangents(relu):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 5, 5, 3))
    dk, pk, b = rng.standard_normal((3, 3, 3, 2)), rng.standard_normal((1, 1, 6, 4)), \
        rng.standard_normal(4)
    scale, shift = rng.uniform(-2, 2, 4), rng.standard_normal(4)
    op = conv_ops.SeparableConv2DBatchNormRelu if relu else conv_ops.SeparableConv2DBatchNorm
    args = dict(_sep_args(), relu=relu, scale=scale, shift=shift)
    assert gradcheck(lambda *ts: op.apply(*ts, **args), [x, dk, pk, b])
    assert jvpcheck(lambda *ts: op.apply(*ts, **args), [x, dk, pk, b])


def test_backend_scale_shift_under_a_tape_is_separate_ops_with_gradients():
    rng = np.random.default_rng(13)
    x = Tensor(rng.standard_normal((2, 5, 5, 3)))
    dk, pk = rng.standard_normal((3, 3, 3, 1)), rng.standard_normal((1, 1, 3, 4))
    scale, shift = Tensor(rng.uniform(0.5, 2, 4)), Tensor(rng.standard_normal(4))
    with GradientTape(persistent=True) as tape:
        tape.watch([x, scale, shift])
        y = C.separable_conv2d(x, dk, pk, padding="same", scale=scale, shift=shift, relu=True)
        total = (y * y).sum()
    plain = C.separable_conv2d(x.data, dk, pk, padding="same").data
    expected = np.maximum(plain * scale.data + shift.data, 0)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)
    gs = tape.gradient(total, shift)
    np.testing.assert_allclose(gs.data, (2 * expected).sum(axis=(0, 1, 2)), rtol=1e-10)


def test_backend_refuses_bad_scale_and_shift():
    x = np.zeros((1, 5, 5, 2), np.float32)
    dk, pk = np.zeros((3, 3, 2, 1), np.float32), np.zeros((1, 1, 2, 3), np.float32)
    with pytest.raises(ValueError, match=r"separable_conv2d: scale must have shape \(3,\)"):
        C.separable_conv2d(x, dk, pk, scale=np.ones(2), shift=np.ones(3))
    with pytest.raises(ValueError, match="separable_conv2d: scale and shift go together"):
        C.separable_conv2d(x, dk, pk, scale=np.ones(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parts", ["bias", "relu", "bias+relu", "affine", "bias+affine+relu"])
def test_epilogue_equals_the_steps_one_by_one_bit_for_bit(dtype, parts):
    rng = np.random.default_rng(14)
    z = rng.standard_normal((37, 19)).astype(dtype)
    z[0, :3] = [-0.0, np.nan, 0.0]
    bias, scale, shift = (rng.standard_normal(19) for _ in range(3))
    expected = z.copy()
    kwargs = {}
    if "bias" in parts:
        expected += bias.astype(dtype)
        kwargs["bias"] = bias
    if "affine" in parts:
        expected = affine.channel_affine(expected, scale, shift)
        kwargs.update(scale=scale, shift=shift)
    if "relu" in parts:
        expected = np.maximum(expected, 0)
        kwargs["relu"] = True
    got = z.copy()
    affine.epilogue(got, **kwargs)
    np.testing.assert_array_equal(got, expected)  # NaN where NaN, and every bit otherwise
    assert np.array_equal(np.signbit(got), np.signbit(expected), equal_nan=True)
    if "affine" in parts:  # and the numpy twin of the affine map agrees
        twin = reference.channel_affine(z + (bias.astype(dtype) if "bias" in parts else 0),
                                        scale.astype(dtype), shift.astype(dtype))
        twin = np.maximum(twin, 0) if "relu" in parts else twin
        np.testing.assert_allclose(got, twin, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-6)
