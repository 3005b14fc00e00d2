"""Merge layers: masks (Keras 2's ``_Merge``/``Concatenate.compute_mask``) and errors.

Keras 2: an elementwise merge's output mask is ``None`` if every input mask is
``None``, else the AND of the given masks. ``Concatenate`` puts all-``True``
masks for unmasked inputs, expands masks of lower rank on the last axis,
concatenates along its axis and keeps the positions where the last axis is all
``True``. The expected masks below are written out by hand or computed with
that recipe in numpy.
"""

import numpy as np
import pytest

from minikeras import Model
from minikeras import layers as L
from minikeras.engine.base_layer import Layer
from minikeras.engine.input_layer import Input
from minikeras.engine.keras_tensor import KerasTensor

ELEMENTWISE = [L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum]
ALL = [*ELEMENTWISE, L.Concatenate]
RNG = np.random.default_rng(0)

M1 = np.array([[True, True, False], [True, False, False]])
M2 = np.array([[True, False, True], [True, True, False]])
M3 = np.array([[False, True, True], [True, True, True]])
X = [RNG.normal(size=(2, 3, 4)) for _ in range(3)]


def keras_concat_mask(inputs, masks, axis):
    """Keras 2's recipe, where it applies (every piece already has the input's full rank)."""
    pieces = []
    for x, m in zip(inputs, masks):
        if m is None:
            pieces.append(np.ones(x.shape, bool))
        elif m.ndim < x.ndim:
            pieces.append(m[..., None])
        else:
            pieces.append(m)
    return np.all(np.concatenate(pieces, axis=axis), axis=-1)


@pytest.mark.parametrize("cls", ALL)
def test_every_merge_layer_supports_masking_and_passes_no_mask(cls):
    layer = cls()
    assert layer.supports_masking is True
    assert layer.compute_mask(X[:2], None) is None
    assert layer.compute_mask(X[:2], [None, None]) is None


@pytest.mark.parametrize("cls", ELEMENTWISE)
def test_elementwise_mask_is_the_and_of_the_given_masks(cls):
    layer = cls()
    np.testing.assert_array_equal(layer.compute_mask(X[:2], [M1, None]), M1)
    np.testing.assert_array_equal(layer.compute_mask(X[:2], [None, M2]), M2)
    np.testing.assert_array_equal(layer.compute_mask(X[:2], [M1, M2]),
                                  [[True, False, False], [True, False, False]])
    if cls is not L.Subtract:
        np.testing.assert_array_equal(layer.compute_mask(X, [M1, M2, M3]),
                                      [[False, False, False], [True, False, False]])
        np.testing.assert_array_equal(layer.compute_mask(X, [M1, None, M3]), M1 & M3)


def test_elementwise_mask_accepts_tensors_and_aligns_lower_rank_masks_like_the_inputs():
    from minikeras.autograd import Tensor

    layer = L.Add()
    np.testing.assert_array_equal(layer.compute_mask(X[:2], [Tensor(M1), M2]), M1 & M2)
    # a (2,) mask for a lower-rank input: its axes go after the batch axis, as for the values
    per_sample = np.array([True, False])
    out = layer.compute_mask([X[0], X[1][:, 0]], [M1, per_sample])
    np.testing.assert_array_equal(out, M1 & per_sample[:, None])


@pytest.mark.parametrize("axis", [-1, 2])
def test_concatenate_on_the_feature_axis(axis):
    a, b = X[0], RNG.normal(size=(2, 3, 5))
    layer = L.Concatenate(axis=axis)
    np.testing.assert_array_equal(layer.compute_mask([a, b], [M1, M2]), M1 & M2)
    np.testing.assert_array_equal(layer.compute_mask([a, b], [M1, None]), M1)
    np.testing.assert_array_equal(layer.compute_mask([a, b], [None, M2]), M2)
    for masks in ([M1, M2], [M1, None], [None, M2]):
        np.testing.assert_array_equal(layer.compute_mask([a, b], masks),
                                      keras_concat_mask([a, b], masks, axis))


def test_concatenate_on_the_time_axis_concatenates_the_masks():
    a, b = X[0], RNG.normal(size=(2, 2, 4))
    mb = np.array([[False, True], [True, True]])
    layer = L.Concatenate(axis=1)
    want = np.array([[True, True, False, False, True], [True, False, False, True, True]])
    np.testing.assert_array_equal(layer.compute_mask([a, b], [M1, mb]), want)
    # an unmasked input is all True (Keras 2 itself fails here unless the features are 1 wide)
    np.testing.assert_array_equal(layer.compute_mask([a, b], [M1, None]),
                                  np.concatenate([M1, np.ones((2, 2), bool)], axis=1))
    a1, b1 = a[..., :1], b[..., :1]  # where Keras 2's recipe runs, the results agree
    np.testing.assert_array_equal(layer.compute_mask([a1, b1], [M1, None]),
                                  keras_concat_mask([a1, b1], [M1, None], 1))


def test_concatenate_full_rank_masks_and_flat_inputs():
    a, b = X[0], X[1]
    fa = RNG.random((2, 3, 4)) > 0.2
    layer = L.Concatenate()
    np.testing.assert_array_equal(layer.compute_mask([a, b], [fa, None]), fa.all(axis=-1))
    np.testing.assert_array_equal(layer.compute_mask([a, b], [fa, M2]),
                                  keras_concat_mask([a, b], [fa, M2], -1))
    flat = [RNG.normal(size=(2, 4)), RNG.normal(size=(2, 2))]
    np.testing.assert_array_equal(
        layer.compute_mask(flat, [np.array([True, False]), np.array([True, True])]),
        [True, False])


@pytest.mark.parametrize("cls", ALL)
def test_mask_argument_errors_as_in_keras_2(cls):
    layer = cls(name="mrg")
    with pytest.raises(ValueError, match=r"mrg.*`mask` should be a list"):
        layer.compute_mask(X[:2], M1)
    with pytest.raises(ValueError, match=r"mrg.*`inputs` should be a list"):
        layer.compute_mask(X[0], [M1, M2])
    with pytest.raises(ValueError, match=r"mrg.*same length, got 2 inputs and 3 masks"):
        layer.compute_mask(X[:2], [M1, M2, M3])


def test_masks_that_do_not_fit_are_a_clear_error():
    with pytest.raises(ValueError, match=r"Add 'am'.*masks of shapes \[\(2, 3\), \(2, 4\)\]"):
        L.Add(name="am").compute_mask(X[:2], [M1, np.ones((2, 4), bool)])
    with pytest.raises(ValueError, match=r"Concatenate 'cm'.*mask of shape \(2, 5\) does not "
                                         r"fit its input of shape \(2, 3, 4\)"):
        L.Concatenate(name="cm").compute_mask(X[:2], [np.ones((2, 5), bool), None])


# ---- masks through a model ----------------------------------------------------------
class ZeroMask(Layer):
    """Masking-like: a time step is masked when all its features are 0 (needs values)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return np.any(inputs.data != 0, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape


class MaskRecorder(Layer):
    """Passes values through and records the mask it was given."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.supports_masking = True
        self.seen = []

    def call(self, x, mask=None):
        self.seen.append(mask)
        return x

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return input_shape


def _with_zero_steps(n_zero_steps):
    x = RNG.normal(size=(2, 3, 4))
    for sample, step in n_zero_steps:
        x[sample, step] = 0.0
    return x


@pytest.mark.parametrize("cls,axis,shape", [
    (L.Add, None, (None, 3)), (L.Maximum, None, (None, 3)),
    (L.Concatenate, -1, (None, 3)), (L.Concatenate, 1, (None, 6))])
def test_model_carries_merged_masks(cls, axis, shape):
    a, b = Input((3, 4)), Input((3, 4))
    merge = cls(axis=axis) if axis is not None else cls()
    merged = merge([ZeroMask()(a), ZeroMask()(b)])
    assert isinstance(merged._keras_mask, KerasTensor)
    assert merged._keras_mask.shape == shape and merged._keras_mask.dtype == "bool"
    rec = MaskRecorder()
    model = Model([a, b], rec(merged))
    xa, xb = _with_zero_steps([(0, 1), (1, 2)]), _with_zero_steps([(0, 0), (1, 2)])
    ma, mb = np.any(xa != 0, axis=-1), np.any(xb != 0, axis=-1)
    model([xa, xb])
    want = np.concatenate([ma, mb], axis=1) if axis == 1 else ma & mb
    np.testing.assert_array_equal(rec.seen[-1], want)


def test_model_with_one_masked_branch():
    a, b = Input((3, 4)), Input((3, 4))
    rec = MaskRecorder()
    model = Model([a, b], rec(L.Concatenate()([ZeroMask()(a), b])))
    xa = _with_zero_steps([(1, 0)])
    model([xa, RNG.normal(size=(2, 3, 4))])
    np.testing.assert_array_equal(rec.seen[-1], [[True, True, True], [False, True, True]])


def test_no_masks_means_no_mask_in_a_model():
    a, b = Input((3, 4)), Input((3, 4))
    assert L.Add()([a, b])._keras_mask is None
    assert L.Concatenate()([a, b])._keras_mask is None


# ---- errors: Keras 2 raises ValueError for each of these -----------------------------
@pytest.mark.parametrize("cls", ELEMENTWISE)
def test_shape_mismatch_names_the_layer_and_the_shapes(cls):
    with pytest.raises(ValueError, match=r"'bad'.*\(3, 4\).*\(3, 5\)"):
        cls(name="bad")([Input((3, 4)), Input((3, 5))])
    with pytest.raises(ValueError, match=r"'bad2'.*batch sizes.*\(2, 3\).*\(4, 3\)"):
        cls(name="bad2")([np.ones((2, 3)), np.ones((4, 3))])


def test_concatenate_shape_mismatch_names_the_layer_and_the_shapes():
    with pytest.raises(ValueError, match=r"'cbad'.*matching shapes except for the concat axis "
                                         r"-1.*\(None, 3, 4\), \(None, 2, 4\)"):
        L.Concatenate(name="cbad")([Input((3, 4)), Input((2, 4))])


@pytest.mark.parametrize("cls", ALL)
def test_a_built_layer_called_on_shapes_that_do_not_merge_names_itself(cls):
    layer = cls(name="rebuilt")
    layer([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"'rebuilt'.*\(2, 3\), \(5, 4\)"):
        layer([np.ones((2, 3)), np.ones((5, 4))])


@pytest.mark.parametrize("cls", ALL)
def test_fewer_than_two_inputs_and_non_lists(cls):
    with pytest.raises(ValueError, match=r"'one'.*at least 2"):
        cls(name="one").compute_output_shape([(None, 3)])
    with pytest.raises(ValueError, match=r"'one_b'.*list"):
        cls(name="one_b")([Input((3,))])
    with pytest.raises(ValueError, match=r"'single'.*should be called on a list"):
        cls(name="single")(Input((3,)))
    with pytest.raises(ValueError, match=r"'single_eager'.*should be called on a list"):
        cls(name="single_eager")(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"'call'.*should be called on a list"):
        cls(name="call").call(np.ones((2, 3)))


def test_subtract_needs_exactly_two():
    with pytest.raises(ValueError, match=r"Subtract 'sub3'.*exactly 2 inputs, got 3"):
        L.Subtract(name="sub3")([Input((3,))] * 3)
