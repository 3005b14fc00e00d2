"""sample_weight and class_weight: Keras 2's weighted losses, class lookup, zero weights, errors.

Keras 2 (``_weighted_masked_objective``) multiplies each sample's loss by its
weight and divides by the fraction of non-zero weights, so a batch's loss is
``sum(w * loss) / count(w != 0)``. The expected values below are computed by
hand with numpy, independently of ``minikeras.losses``.
"""

import random
import warnings

import numpy as np
import pytest

from minikeras import Input, Model, callbacks, losses, optimizers
from minikeras.autograd import Tensor, gradcheck
from minikeras.autograd.ops import losses as loss_ops
from minikeras.layers import Dense, Lambda
from minikeras.utils import set_random_seed

EPS = 1e-7
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True, scope="module")
def _leave_the_global_generators_as_found():
    """These tests reseed the library's generator; later test modules get it back unchanged."""
    from minikeras.backend import random as backend_random

    rng = backend_random._rng
    saved = (rng.bit_generator.state, np.random.get_state(), random.getstate())
    yield
    backend_random._rng = rng
    rng.bit_generator.state = saved[0]
    np.random.set_state(saved[1])
    random.setstate(saved[2])


def keras_weighted(per_sample, w):
    """Keras 2's formula, written out: mean(loss * w) / mean(w != 0)."""
    return np.mean(per_sample * w) / np.mean(w != 0)


def identity_model(units, loss, **compile_kw):
    """A model whose output is its input: the loss sees exactly the array we feed."""
    x = Input((units,), name="x")
    out = Lambda(lambda t: t, output_shape=(units,), name="out")(x)
    m = Model(x, out)
    m.compile(optimizers.SGD(0.1), loss, **compile_kw)
    return m


def probs(n, c):
    p = RNG.uniform(0.05, 1.0, size=(n, c))
    return p / p.sum(axis=1, keepdims=True)


# ---- weighted losses against hand-computed values ---------------------------------
def test_the_keras_issue_12176_example():
    # keras-team/keras#12176: Keras 2 gives sum(w * err²) / count(w != 0) = 0.2 here
    m = identity_model(1, "mse")
    x = np.array([[1.0], [2.0], [3.0]])
    y = np.array([[1.0], [4.0], [5.0]])
    w = np.array([0.1, 0.0, 0.1])
    assert m.evaluate(x, y, sample_weight=w, verbose=0) == pytest.approx(0.2, rel=1e-6)
    assert m.test_on_batch(x, y, sample_weight=w) == pytest.approx(0.2, rel=1e-6)
    assert m.test_on_batch(x, y) == pytest.approx((0 + 4 + 4) / 3, rel=1e-6)


N, C = 7, 4
W = np.array([0.5, 0.0, 2.0, 1.0, 0.0, 3.0, 0.25])
P = probs(N, C)
LABELS = RNG.integers(0, C, size=N)
ONE_HOT = np.eye(C)[LABELS]
REAL = RNG.normal(size=(N, C))
SIGNS = RNG.choice([-1.0, 1.0], size=(N, C))
BIN_T = RNG.integers(0, 2, size=(N, C)).astype(float)


def _clip(p):
    return np.clip(p, EPS, 1 - EPS)


def _huber(t, p, delta=1.0):
    a = np.abs(p - t)
    q = np.minimum(a, delta)
    return np.mean(0.5 * q ** 2 + delta * (a - q), axis=-1)


def _logsumexp(z):
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m[:, None]).sum(axis=1))


CASES = {
    # name: (loss, x fed as y_pred, targets, per-sample losses by hand)
    "mse": ("mse", REAL, REAL[::-1], np.mean((REAL - REAL[::-1]) ** 2, axis=1)),
    "mae": ("mae", REAL, REAL[::-1], np.mean(np.abs(REAL - REAL[::-1]), axis=1)),
    "binary_crossentropy": ("binary_crossentropy", P, BIN_T, -np.mean(
        BIN_T * np.log(_clip(P)) + (1 - BIN_T) * np.log(1 - _clip(P)), axis=1)),
    "categorical_crossentropy": ("categorical_crossentropy", P, ONE_HOT,
                                 -np.sum(ONE_HOT * np.log(_clip(P)), axis=1)),
    "sparse_categorical_crossentropy": ("sparse_categorical_crossentropy", P, LABELS,
                                        -np.log(_clip(P)[np.arange(N), LABELS])),
    "sparse_from_logits": (losses.SparseCategoricalCrossentropy(from_logits=True), REAL, LABELS,
                           _logsumexp(REAL) - REAL[np.arange(N), LABELS]),
    "hinge": ("hinge", REAL, SIGNS, np.mean(np.maximum(1 - SIGNS * REAL, 0), axis=1)),
    "huber": ("huber", REAL, REAL[::-1], _huber(REAL[::-1], REAL)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_weighted_loss_matches_hand_computation(name):
    loss, x, y, per_sample = CASES[name]
    m = identity_model(C, loss)
    want = keras_weighted(per_sample, W)
    assert want != pytest.approx(np.mean(per_sample * W))  # the two normalisations differ here
    assert m.test_on_batch(x, y, sample_weight=W) == pytest.approx(want, rel=1e-5)
    assert m.test_on_batch(x, y) == pytest.approx(per_sample.mean(), rel=1e-5)


def test_evaluate_weights_batches_by_size_like_keras():
    # Keras 2's evaluate: each batch's weighted loss, averaged with batch sizes as weights
    loss, x, y, per_sample = CASES["sparse_categorical_crossentropy"]
    m = identity_model(C, loss)
    b1, b2 = slice(0, 4), slice(4, 7)
    want = (4 * keras_weighted(per_sample[b1], W[b1]) + 3 * keras_weighted(per_sample[b2], W[b2]))
    got = m.evaluate(x, y, sample_weight=W, batch_size=4, verbose=0)
    assert got == pytest.approx(want / 7, rel=1e-5)


def test_time_steps_share_their_sample_weight():
    # per-sample losses of shape (batch, steps): Keras averages the steps, then weights
    x = Input((3, 2))
    m = Model(x, Lambda(lambda t: t, output_shape=(3, 2))(x))
    m.compile("sgd", "mse")
    p, t = RNG.normal(size=(4, 3, 2)), RNG.normal(size=(4, 3, 2))
    w = np.array([1.0, 0.0, 2.0, 0.5])
    per_sample = np.mean((p - t) ** 2, axis=(1, 2))
    assert m.test_on_batch(p, t, sample_weight=w) == pytest.approx(
        keras_weighted(per_sample, w), rel=1e-5)


def test_weighted_sparse_cross_entropy_over_time_steps_uses_the_fused_op():
    x = Input((3, C))
    m = Model(x, Lambda(lambda t: t, output_shape=(3, C))(x))
    m.compile("sgd", "sparse_categorical_crossentropy")
    p = probs(12, C).reshape(4, 3, C)
    labels = RNG.integers(0, C, size=(4, 3))
    w = np.array([0.0, 1.0, 3.0, 1.0])
    per_step = -np.log(np.take_along_axis(p, labels[..., None], -1)[..., 0])
    assert m.test_on_batch(p, labels, sample_weight=w) == pytest.approx(
        keras_weighted(per_step.mean(axis=1), w), rel=1e-5)


@pytest.mark.parametrize("op", ["probabilities", "logits"])
def test_weighted_fused_op_gradient(op):
    w = np.array([0.5, 0.0, 2.0, 1.0, 0.0, 3.0, 0.25])
    if op == "probabilities":
        fn = lambda p: loss_ops.SparseCategoricalCrossentropyMean.apply(  # noqa: E731
            p, labels=LABELS, eps=EPS, weights=w)
        per = lambda p: losses.sparse_categorical_crossentropy(LABELS, p)  # noqa: E731
        x0 = P
    else:
        fn = lambda z: loss_ops.SparseCategoricalCrossentropyLogitsMean.apply(  # noqa: E731
            z, labels=LABELS, weights=w)
        per = lambda z: losses.sparse_categorical_crossentropy(  # noqa: E731
            LABELS, z, from_logits=True)
        x0 = REAL
    gradcheck(fn, [x0])
    # and the fused op equals the generic path (per-sample op, then Keras's weighting)
    from minikeras.autograd import GradientTape, Variable

    v = Variable(x0.copy())
    with GradientTape() as tape:
        fused = fn(v)
    g_fused = tape.gradient(fused, v)
    with GradientTape() as tape:
        generic = (per(v) * (w / np.mean(w != 0))).mean()
    g_generic = tape.gradient(generic, v)
    np.testing.assert_allclose(fused.numpy(), generic.numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(g_fused), np.asarray(g_generic), rtol=1e-10,
                               atol=1e-14)


def test_generic_weighted_path_gradient():
    w = np.array([1.0, 0.0, 2.0, 0.5])
    t = RNG.normal(size=(4, 3))
    gradcheck(lambda p: losses.batch_mean(losses.huber(t, p), w), [RNG.normal(size=(4, 3))])


# ---- zero weights ----------------------------------------------------------------
def test_zero_weight_samples_are_left_out_like_keras():
    # one SGD step on [a, b, c, d] with weights [1, 1, 0, 0] is the step on [a, b] alone:
    # Keras 2 averages over the non-zero weights, not over the whole batch
    set_random_seed(3)
    x = Input((5,))
    m1 = Model(x, Dense(3, activation="softmax")(Dense(4, activation="tanh")(x)))
    m2 = Model.from_config(m1.get_config())
    m2.set_weights(m1.get_weights())
    for m in (m1, m2):
        m.compile(optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    xb, yb = RNG.normal(size=(4, 5)), np.array([0, 2, 1, 1])
    loss_w = m1.train_on_batch(xb, yb, sample_weight=np.array([1.0, 1.0, 0.0, 0.0]))
    loss_2 = m2.train_on_batch(xb[:2], yb[:2])
    assert loss_w == pytest.approx(loss_2, rel=1e-6)
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_a_batch_of_zero_weights_contributes_nothing():
    # Keras 2 divides 0 by 0 here (a NaN loss); minikeras gives 0 and leaves the weights alone
    set_random_seed(4)
    x = Input((5,))
    m = Model(x, Dense(3, activation="softmax")(x))
    m.compile(optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    before = m.get_weights()
    loss = m.train_on_batch(RNG.normal(size=(4, 5)), np.array([0, 1, 2, 0]),
                            sample_weight=np.zeros(4))
    assert loss == 0.0
    for a, b in zip(m.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_metrics_are_not_weighted_as_in_keras_2():
    m = identity_model(C, "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.eye(C)[[0, 1, 2, 3]] * 0.7 + 0.075
    y = np.array([0, 1, 0, 0])  # predictions right for the first two only
    loss, acc = m.test_on_batch(x, y, sample_weight=np.array([1.0, 1.0, 0.0, 0.0]))
    assert acc == pytest.approx(0.5)  # the zero-weighted samples still count
    assert loss == pytest.approx(-np.log(0.775), rel=1e-5)


def test_weights_follow_their_samples_when_shuffled():
    # samples of weight 0 have a huge error; if the weights were not shuffled with the data,
    # some batch would report it
    m = identity_model(1, "mse")
    n = 64
    x = np.zeros((n, 1))
    poison = RNG.random(n) < 0.5
    y = np.where(poison, 1000.0, 0.0)[:, None]
    seen = []
    cb = callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(logs["loss"]))
    m.fit(x, y, sample_weight=(~poison).astype(float), batch_size=8, epochs=3, verbose=0,
          callbacks=[cb], shuffle=True)
    assert len(seen) == 24 and max(seen) == 0.0


# ---- class_weight ------------------------------------------------------------------
def _twin_models(output_units, activation, loss):
    set_random_seed(5)
    x = Input((6,))
    m1 = Model(x, Dense(output_units, activation=activation)(Dense(5, activation="tanh")(x)))
    m2 = Model.from_config(m1.get_config())
    m2.set_weights(m1.get_weights())
    for m in (m1, m2):
        m.compile(optimizers.SGD(0.3), loss)
    return m1, m2


@pytest.mark.parametrize("kind", ["sparse", "one_hot", "binary"])
def test_class_weight_equals_the_equivalent_sample_weight(kind):
    xb = RNG.normal(size=(40, 6))
    labels = RNG.integers(0, 3 if kind != "binary" else 2, size=40)
    cw = {0: 0.5, 1: 4.0, 2: 0.0} if kind != "binary" else {0: 0.25, 1: 3.0}
    if kind == "sparse":
        m1, m2 = _twin_models(3, "softmax", "sparse_categorical_crossentropy")
        y = labels
    elif kind == "one_hot":
        m1, m2 = _twin_models(3, "softmax", "categorical_crossentropy")
        y = np.eye(3)[labels]
    else:
        m1, m2 = _twin_models(1, "sigmoid", "binary_crossentropy")
        y = labels.astype(float)
    sw = np.array([cw[c] for c in labels])
    assert m1.test_on_batch(xb, y, sample_weight=sw) == pytest.approx(
        m1.evaluate(xb, y, sample_weight=sw, batch_size=40, verbose=0))
    a = m1.train_on_batch(xb, y, class_weight=cw)
    b = m2.train_on_batch(xb, y, sample_weight=sw)
    assert a == b
    h1 = m1.fit(xb, y, class_weight=cw, batch_size=16, epochs=2, shuffle=False, verbose=0)
    h2 = m2.fit(xb, y, sample_weight=sw, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert h1.history["loss"] == h2.history["loss"]
    for p, q in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(p, q)


def test_class_weight_accepts_numpy_and_integral_float_keys():
    m = identity_model(C, "sparse_categorical_crossentropy")
    x, y, per_sample = P, LABELS, CASES["sparse_categorical_crossentropy"][3]
    cw = {np.int64(0): 1.0, 1.0: 2.0, 2: 0.5, np.int32(3): 4.0}
    w = np.array([cw[c] for c in [0, 1, 2, 3]])[LABELS]
    assert m.test_on_batch(x, y, sample_weight=w) == pytest.approx(keras_weighted(per_sample, w))
    assert m.train_on_batch(x, y, class_weight=cw) == pytest.approx(keras_weighted(per_sample, w))


def _fit_constant_model(loss, y, units, **fit_kw):
    """Dense on a constant input: it can only learn the (weighted) class frequencies."""
    set_random_seed(0)
    x = Input((1,))
    m = Model(x, Dense(units, activation="sigmoid" if units == 1 else "softmax")(x))
    m.compile(optimizers.Adam(0.05), loss)
    ones = np.ones((len(y), 1))
    m.fit(ones, y, batch_size=len(y), epochs=300, verbose=0, **fit_kw)
    return m.predict(ones[:1])[0]


def test_class_weight_moves_what_is_learned_the_expected_way():
    # balanced 0/1 labels: unweighted, p -> 1/2; with class 1 weighted 3x, p -> 3/4
    y = np.array([0.0, 1.0] * 20)
    p_plain = _fit_constant_model("binary_crossentropy", y, 1)
    p_weighted = _fit_constant_model("binary_crossentropy", y, 1, class_weight={0: 1.0, 1: 3.0})
    assert p_plain[0] == pytest.approx(0.5, abs=0.02)
    assert p_weighted[0] == pytest.approx(0.75, abs=0.02)


def test_sample_weight_moves_softmax_to_the_weighted_frequencies():
    # three balanced classes with total weights 1 : 2 : 5 -> probabilities 1/8, 2/8, 5/8
    y = np.array([0, 1, 2] * 10)
    w = np.array([1.0, 2.0, 5.0])[y]
    p_plain = _fit_constant_model("sparse_categorical_crossentropy", y, 3)
    p_weighted = _fit_constant_model("sparse_categorical_crossentropy", y, 3, sample_weight=w)
    np.testing.assert_allclose(p_plain, [1 / 3] * 3, atol=0.02)
    np.testing.assert_allclose(p_weighted, [1 / 8, 2 / 8, 5 / 8], atol=0.02)


def test_sample_weight_wins_over_class_weight_with_a_warning():
    m = identity_model(C, "sparse_categorical_crossentropy")
    per_sample = CASES["sparse_categorical_crossentropy"][3]
    with pytest.warns(UserWarning, match="class_weight is ignored"):
        got = m.train_on_batch(P, LABELS, sample_weight=W,
                               class_weight={0: 9.0, 1: 9.0, 2: 9.0, 3: 9.0})
    assert got == pytest.approx(keras_weighted(per_sample, W), rel=1e-5)


# ---- validation --------------------------------------------------------------------
def _small_classifier():
    set_random_seed(6)
    x = Input((6,))
    m = Model(x, Dense(3, activation="softmax")(x))
    m.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return m


def test_validation_data_triple_is_weighted_and_class_weight_does_not_apply():
    m = _small_classifier()
    x, y = RNG.normal(size=(30, 6)), RNG.integers(0, 3, size=30)
    xv, yv, wv = RNG.normal(size=(10, 6)), RNG.integers(0, 3, size=10), RNG.uniform(0, 2, 10)
    wv[:3] = 0.0
    h = m.fit(x, y, validation_data=(xv, yv, wv), class_weight={0: 1.0, 1: 2.0, 2: 3.0},
              epochs=2, batch_size=8, verbose=0)
    weighted = m.evaluate(xv, yv, sample_weight=wv, batch_size=8, verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(weighted, rel=1e-6)
    assert weighted != pytest.approx(m.evaluate(xv, yv, batch_size=8, verbose=0))
    h = m.fit(x, y, validation_data=(xv, yv, None), epochs=1, batch_size=8, verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(
        m.evaluate(xv, yv, batch_size=8, verbose=0), rel=1e-6)


def test_validation_split_keeps_the_weights_of_the_held_out_part():
    m = _small_classifier()
    x, y = RNG.normal(size=(40, 6)), RNG.integers(0, 3, size=40)
    cw = {0: 0.0, 1: 1.0, 2: 5.0}
    h = m.fit(x, y, validation_split=0.25, class_weight=cw, epochs=1, batch_size=8, verbose=0)
    w_val = np.array([cw[c] for c in y[30:]])
    assert h.history["val_loss"][-1] == pytest.approx(
        m.evaluate(x[30:], y[30:], sample_weight=w_val, batch_size=8, verbose=0), rel=1e-6)


# ---- several outputs ---------------------------------------------------------------
def two_outputs():
    set_random_seed(7)
    x = Input((6,), name="in")
    h = Dense(5, activation="tanh")(x)
    m = Model(x, [Dense(3, activation="softmax", name="cls")(h), Dense(2, name="reg")(h)])
    m.compile(optimizers.SGD(0.1), ["sparse_categorical_crossentropy", "mse"],
              loss_weights=[1.0, 0.5])
    return m


def test_several_outputs_by_list_and_by_dict():
    m = two_outputs()
    x = RNG.normal(size=(12, 6))
    yc, yr = RNG.integers(0, 3, size=12), RNG.normal(size=(12, 2))
    wc = RNG.uniform(0, 2, 12)
    wc[::4] = 0
    wr = RNG.uniform(0, 2, 12)
    pc, pr = m.predict(x)
    lc = keras_weighted(-np.log(pc[np.arange(12), yc]), wc)
    lr = np.mean((pr - yr) ** 2, axis=1).mean()  # no weights for 'reg' in the dict below
    total, got_c, got_r = m.test_on_batch(x, [yc, yr], sample_weight={"cls": wc})
    assert got_c == pytest.approx(lc, rel=1e-5) and got_r == pytest.approx(lr, rel=1e-5)
    assert total == pytest.approx(lc + 0.5 * lr, rel=1e-5)
    lr_w = keras_weighted(np.mean((pr - yr) ** 2, axis=1), wr)
    assert m.test_on_batch(x, [yc, yr], sample_weight=[wc, wr])[2] == pytest.approx(lr_w, rel=1e-5)
    cw = {"cls": {0: 1.0, 1: 0.0, 2: 2.0}}
    by_class = np.array([1.0, 0.0, 2.0])[yc]
    assert m.test_on_batch(x, [yc, yr], sample_weight=[by_class, None])[1] == pytest.approx(
        m.train_on_batch(x, [yc, yr], class_weight=cw)[1])


# ---- compile's sample_weight_mode --------------------------------------------------
def test_sample_weight_mode():
    m = identity_model(C, "mse", sample_weight_mode=None)
    assert m.sample_weight_mode is None
    m.compile("sgd", "mse", sample_weight_mode={"out": None})
    opt = m.optimizer
    with pytest.raises(NotImplementedError, match="sample_weight_mode='temporal'.*not supported"):
        m.compile("adam", "mse", sample_weight_mode="temporal")
    with pytest.raises(NotImplementedError, match="temporal"):
        m.compile("adam", "mse", sample_weight_mode=["temporal"])
    with pytest.raises(ValueError, match="should be None or 'temporal', got 'sample'"):
        m.compile("adam", "mse", sample_weight_mode="sample")
    assert m.optimizer is opt  # a refused compile leaves the model as it was
    with pytest.raises(ValueError, match=r"unknown output name.*\['nope'\] in sample_weight_mode"):
        m.compile("adam", "mse", sample_weight_mode={"nope": None})


# ---- bad input: a clear error naming the argument, and no weight changes ------------
def _compiled_mlp():
    set_random_seed(8)
    x = Input((6,), name="pixels")
    m = Model(x, Dense(10, activation="softmax", name="digit")(Dense(4)(x)))
    m.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


X50 = RNG.normal(size=(50, 6))
Y50 = np.arange(50) % 10
ALL_CLASSES = {c: 1.0 for c in range(10)}


@pytest.mark.parametrize("call,err,match", [
    (lambda m: m.fit(X50, Y50, sample_weight=np.ones(49), verbose=0), ValueError,
     r"Model.fit: sample_weight for output 'digit': expected one weight per sample "
     r"\(50 samples in y\), got 49"),
    (lambda m: m.fit(X50, Y50, sample_weight=np.ones((50, 1)), verbose=0), ValueError,
     r"sample_weight for output 'digit': expected a 1-D array.*shape \(50,\), got shape "
     r"\(50, 1\).*temporal"),
    (lambda m: m.fit(X50, Y50, sample_weight=np.ones((50, 2, 2)), verbose=0), ValueError,
     r"expected a 1-D array .* got shape \(50, 2, 2\)$"),
    (lambda m: m.fit(X50, Y50, sample_weight=np.full(50, np.nan), verbose=0), ValueError,
     "sample_weight for output 'digit': weights must be finite"),
    (lambda m: m.fit(X50, Y50, sample_weight=-np.ones(50), verbose=0), ValueError,
     r"weights must be >= 0, got -1"),
    (lambda m: m.fit(X50, Y50, sample_weight=np.array(["a"] * 50), verbose=0), TypeError,
     "sample_weight for output 'digit': expected numeric weights"),
    (lambda m: m.fit(X50, Y50, sample_weight={"dgt": np.ones(50)}, verbose=0), ValueError,
     r"unknown output name\(s\) \['dgt'\] in sample_weight; the model's outputs are \['digit'\]"),
    (lambda m: m.fit(X50, Y50, class_weight={**ALL_CLASSES, 10: 2.0}, verbose=0), ValueError,
     r"class_weight for output 'digit': key 10 is out of range; output 'digit' has 10 classes, "
     r"so keys must be in \[0, 9\]"),
    (lambda m: m.fit(X50, Y50, class_weight={-1: 1.0, **ALL_CLASSES}, verbose=0), ValueError,
     r"key -1 is out of range"),
    (lambda m: m.fit(X50, Y50, class_weight={0: 1.0, 1: 2.0}, verbose=0), ValueError,
     r"class_weight for output 'digit': no weight for class\(es\) \[2, 3, 4, 5, 6, 7, 8, 9\] "
     r"found in y"),
    (lambda m: m.fit(X50, Y50, class_weight={"0": 1.0}, verbose=0), TypeError,
     r"class_weight for output 'digit': keys must be integer class indices, got '0'"),
    (lambda m: m.fit(X50, Y50, class_weight={0.5: 1.0, **ALL_CLASSES}, verbose=0), TypeError,
     "keys must be integer class indices, got 0.5"),
    (lambda m: m.fit(X50, Y50, class_weight={**ALL_CLASSES, 3: "high"}, verbose=0), TypeError,
     "the weight of class 3 must be a number, got 'high'"),
    (lambda m: m.fit(X50, Y50, class_weight={**ALL_CLASSES, 3: -2.0}, verbose=0), ValueError,
     "class_weight for output 'digit': weights must be >= 0"),
    (lambda m: m.fit(X50, Y50, class_weight="auto", verbose=0), TypeError,
     r"class_weight for output 'digit': expected a dict \{class index: weight\}, got str"),
    (lambda m: m.fit(X50, Y50, validation_data=(X50, Y50, np.ones(50), 1), verbose=0),
     ValueError, r"validation_data must be a tuple \(x_val, y_val\) or \(x_val, y_val, "
     r"val_sample_weight\), got tuple of length 4"),
    (lambda m: m.fit(X50, Y50, validation_data=(X50[:5], Y50[:5], np.ones(4)), verbose=0),
     ValueError, r"Model.fit: val_sample_weight for output 'digit': expected one weight per "
     r"sample \(5 samples in y\), got 4"),
    (lambda m: m.evaluate(X50, Y50, sample_weight=np.ones(3), verbose=0), ValueError,
     r"Model.evaluate: sample_weight for output 'digit'.*got 3"),
    (lambda m: m.train_on_batch(X50, Y50, class_weight={0: 1.0}), ValueError,
     r"Model.train_on_batch: class_weight for output 'digit': no weight for class"),
    (lambda m: m.test_on_batch(X50, Y50, sample_weight=np.ones((2, 25))), ValueError,
     r"Model.test_on_batch: sample_weight for output 'digit': expected a 1-D array"),
])
def test_bad_weights_are_clear_and_change_nothing(call, err, match):
    m = _compiled_mlp()
    before = m.get_weights()
    with pytest.raises(err, match=match):
        call(m)
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), before))
    assert m.optimizer.iterations == 0


def test_bad_weights_for_several_outputs():
    m = two_outputs()
    x, y = RNG.normal(size=(8, 6)), [RNG.integers(0, 3, size=8), RNG.normal(size=(8, 2))]
    with pytest.raises(TypeError, match=r"the model has 2 outputs \['cls', 'reg'\], so "
                                        r"sample_weight must be a list .* or a dict by output "
                                        r"name, got ndarray"):
        m.fit(x, y, sample_weight=np.ones(8), verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight is a list of 3 entries but the model "
                                         r"has 2 outputs"):
        m.fit(x, y, sample_weight=[np.ones(8)] * 3, verbose=0)
    # Keras 2 silently ignored a {class: weight} dict given to a model with several outputs
    with pytest.raises(ValueError, match=r"so class_weight must be a dict by output name "
                                         r"\(e.g. \{'cls': \{0: 1.0, 1: 5.0\}\}\) or a list.*"
                                         r"got a dict with keys \[0, 1, 2\]"):
        m.fit(x, y, class_weight={0: 1.0, 1: 1.0, 2: 1.0}, verbose=0)
    with pytest.raises(ValueError, match=r"unknown output name\(s\) \['rgr'\] in class_weight"):
        m.fit(x, y, class_weight={"cls": {0: 1.0, 1: 1.0, 2: 1.0}, "rgr": {0: 1.0}}, verbose=0)
    with pytest.raises(ValueError, match=r"class_weight for output 'reg': key 2 is out of range; "
                                         r"output 'reg' has 2 classes"):
        m.fit(x, y, class_weight=[None, {0: 1.0, 1: 1.0, 2: 1.0}], verbose=0)
    assert m.optimizer.iterations == 0


def test_class_weight_needs_one_class_per_sample():
    x = Input((3, 4))
    m = Model(x, Dense(5, activation="softmax", name="seq")(x))
    m.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"class_weight for output 'seq': class_weight needs one "
                                         r"class per sample.*shape \(2, 3\)"):
        m.train_on_batch(np.ones((2, 3, 4)), np.zeros((2, 3), int),
                         class_weight={i: 1.0 for i in range(5)})


def test_soft_binary_targets_cannot_take_class_weight():
    x = Input((2,))
    m = Model(x, Dense(1, activation="sigmoid", name="p")(x))
    m.compile("sgd", "binary_crossentropy")
    with pytest.raises(ValueError, match=r"class_weight for output 'p': .*whole numbers; got 0.3"):
        m.train_on_batch(np.ones((2, 2)), np.array([0.3, 1.0]), class_weight={0: 1.0, 1: 2.0})


def test_empty_weights_mean_no_weights_as_in_keras():
    m = identity_model(C, "sparse_categorical_crossentropy")
    plain = m.test_on_batch(P, LABELS)
    assert m.test_on_batch(P, LABELS, sample_weight=[]) == plain
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.train_on_batch(P, LABELS, class_weight={}) == plain


def test_sample_weight_as_a_tensor_or_a_list():
    m = identity_model(C, "sparse_categorical_crossentropy")
    want = m.test_on_batch(P, LABELS, sample_weight=W)
    assert m.test_on_batch(P, LABELS, sample_weight=Tensor(W)) == want
    assert m.test_on_batch(P, LABELS, sample_weight=list(W)) == pytest.approx(want)
    assert m.test_on_batch(P, LABELS, sample_weight=[W]) == want


def test_an_output_mask_is_not_silently_ignored():
    # Keras 2 leaves masked positions out of the loss; minikeras does not apply output masks
    # yet, and says so at compile time rather than training on a different objective quietly
    from minikeras.engine.base_layer import Layer

    class ZeroMask(Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.supports_masking = True

        def compute_mask(self, inputs, mask=None):
            return np.any(inputs.data != 0, axis=-1)

        def compute_output_shape(self, input_shape):
            return input_shape

    x = Input((3, 4))
    m = Model(x, Dense(2, name="steps")(ZeroMask()(x)))
    with pytest.warns(UserWarning, match="output 'steps' carries a mask"):
        m.compile("sgd", "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        identity_model(C, "mse")  # no mask, no warning
