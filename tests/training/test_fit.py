"""compile/fit/evaluate/predict: a real problem, logs, bad inputs, NaN handling."""

import warnings

import numpy as np
import pytest

from minikeras import Input, Model, Sequential, callbacks, losses, optimizers
from minikeras.datasets import digits
from minikeras.layers import Dense
from minikeras.utils import set_random_seed


@pytest.fixture(scope="module")
def data():
    (xt, yt), (xs, ys) = digits.load_data()
    return (xt.reshape(len(xt), -1) / 16.0, yt), (xs.reshape(len(xs), -1) / 16.0, ys)


def mlp(units=32, reg=None):
    x = Input((64,), name="pixels")
    h = Dense(units, activation="relu", kernel_regularizer=reg)(x)
    y = Dense(10, activation="softmax", name="digit")(h)
    return Model(x, y)


def compiled(**kw):
    m = mlp(**kw)
    m.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def test_fit_digits_reaches_95_percent(data):
    (xt, yt), (xs, ys) = data
    set_random_seed(1)
    m = compiled()
    hist = m.fit(xt, yt, epochs=8, batch_size=32, verbose=0, validation_split=0.1)
    assert set(hist.history) == {"loss", "acc", "val_loss", "val_acc"}  # Keras 2.0's names
    assert hist.history["val_accuracy"] is hist.history["val_acc"]  # the modern spelling too
    assert hist.epoch == list(range(8))
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    loss, acc = m.evaluate(xs, ys, batch_size=100)
    assert acc >= 0.95, acc
    pred = m.predict(xs, batch_size=64)
    assert pred.shape == (360, 10)
    np.testing.assert_allclose(np.mean(pred.argmax(1) == ys), acc)


def test_same_seed_same_run(data):
    (xt, yt), _ = data
    runs = []
    for _ in range(2):
        set_random_seed(7)
        m = compiled()
        m.fit(xt[:300], yt[:300], epochs=2, verbose=0)
        runs.append(m.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_epoch_logs_are_batch_size_weighted_means(data):
    (xt, yt), _ = data
    m = compiled()
    seen = []
    cb = callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(
        (logs["size"], logs["loss"])))
    hist = m.fit(xt[:70], yt[:70], batch_size=32, epochs=1, verbose=0, callbacks=[cb],
                 shuffle=False)
    assert [s for s, _ in seen] == [32, 32, 6]
    want = sum(s * v for s, v in seen) / 70
    assert hist.history["loss"][0] == pytest.approx(want)


def test_callbacks_fire_in_order(data):
    (xt, yt), _ = data
    events = []

    class Recorder(callbacks.Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin {epoch}")

        def on_batch_begin(self, batch, logs=None):
            events.append(f"batch_begin {batch}")

        def on_batch_end(self, batch, logs=None):
            assert "loss" in logs and "accuracy" in logs
            events.append(f"batch_end {batch}")

        def on_epoch_end(self, epoch, logs=None):
            # BaseLogger ran first: the epoch averages and validation are in
            assert {"loss", "acc", "val_loss", "val_acc"} <= set(logs)
            assert logs["val_accuracy"] == logs["val_acc"]
            events.append(f"epoch_end {epoch}")

        def on_train_end(self, logs=None):
            events.append("train_end")

    m = compiled()
    rec = Recorder()
    m.fit(xt[:40], yt[:40], batch_size=20, epochs=2, verbose=0, callbacks=[rec],
          validation_data=(xt[40:60], yt[40:60]))
    assert events == ["train_begin",
                      "epoch_begin 0", "batch_begin 0", "batch_end 0", "batch_begin 1",
                      "batch_end 1", "epoch_end 0",
                      "epoch_begin 1", "batch_begin 0", "batch_end 0", "batch_begin 1",
                      "batch_end 1", "epoch_end 1", "train_end"]
    assert rec.model is m and rec.params["epochs"] == 2 and rec.params["samples"] == 40


def test_initial_epoch_and_stop_training(data):
    (xt, yt), _ = data
    m = compiled()
    hist = m.fit(xt[:64], yt[:64], epochs=5, initial_epoch=3, verbose=0)
    assert hist.epoch == [3, 4]

    def stop(batch, logs):
        m.stop_training = True

    hist = m.fit(xt[:64], yt[:64], epochs=5, verbose=0,
                 callbacks=[callbacks.LambdaCallback(on_batch_end=stop)])
    assert hist.epoch == [0]


def test_regularization_losses_are_added(data):
    (xt, yt), _ = data
    from minikeras import regularizers
    set_random_seed(3)
    plain = compiled()
    set_random_seed(3)
    reg = compiled(reg=regularizers.l2(0.1))
    reg.set_weights(plain.get_weights())
    lp = plain.test_on_batch(xt[:32], yt[:32])[0]
    lr = reg.test_on_batch(xt[:32], yt[:32])[0]
    kernel = plain.get_weights()[0]
    assert lr == pytest.approx(lp + 0.1 * np.sum(kernel**2), rel=1e-4)


def test_multi_input_output_dicts_and_loss_weights():
    set_random_seed(0)
    a, b = Input((3,), name="a"), Input((2,), name="b")
    from minikeras.layers import concatenate
    h = concatenate([a, b])
    out1 = Dense(1, name="reg")(h)
    out2 = Dense(4, activation="softmax", name="cls")(h)
    m = Model([a, b], [out1, out2])
    m.compile("sgd", loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
              loss_weights={"reg": 0.5, "cls": 2.0}, metrics={"cls": ["acc"]})
    assert m.metrics_names == ["loss", "reg_loss", "cls_loss", "cls_acc"]
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    yr, yc = rng.normal(size=(10,)), rng.integers(0, 4, size=10)
    loss, l1, l2, acc = m.test_on_batch({"a": xa, "b": xb}, {"reg": yr, "cls": yc})
    assert loss == pytest.approx(0.5 * l1 + 2.0 * l2, rel=1e-5)
    p1, p2 = m.predict([xa, xb])
    assert l1 == pytest.approx(np.mean((p1[:, 0] - yr) ** 2), rel=1e-5)
    assert acc == pytest.approx(np.mean(p2.argmax(1) == yc))
    hist = m.fit([xa, xb], [yr, yc], epochs=2, batch_size=4, verbose=0)
    assert set(hist.history) == {"loss", "reg_loss", "cls_loss", "cls_acc"}


def test_accuracy_resolution():
    x = Input((4,))
    binary = Model(x, Dense(1, activation="sigmoid")(x))
    binary.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    y = np.array([0.0, 1.0, 1.0])
    xs = np.zeros((3, 4))
    pred = binary.predict(xs)
    _, acc = binary.evaluate(xs, y)
    assert acc == pytest.approx(np.mean((pred[:, 0] > 0.5) == y))
    cat = Model(x, Dense(3, activation="softmax")(x))
    cat.compile("sgd", "categorical_crossentropy", metrics=["acc", "mae"])
    assert cat.metrics_names == ["loss", "acc", "mean_absolute_error"]  # Keras 2.0's names
    onehot = np.eye(3)
    _, acc, mae = cat.evaluate(np.eye(3, 4), onehot)
    pred = cat.predict(np.eye(3, 4))
    assert acc == pytest.approx(np.mean(pred.argmax(1) == [0, 1, 2]))
    assert mae == pytest.approx(np.mean(np.abs(pred - onehot)), rel=1e-5)


def test_sequential_without_input_shape_and_batch_methods():
    set_random_seed(0)
    m = Sequential([Dense(8, activation="tanh"), Dense(1)])
    m.compile(optimizers.SGD(0.1), "mse")
    x = np.linspace(-1, 1, 64)[:, None]
    y = x**2
    first = m.train_on_batch(x, y)
    assert isinstance(first, float)
    m.fit(x, y, epochs=200, batch_size=16, verbose=0)
    assert m.evaluate(x, y) < first
    assert m.predict_on_batch(x[:5]).shape == (5, 1)


def test_logits_loss_object_and_loss_function(data):
    (xt, yt), (xs, ys) = data
    set_random_seed(2)
    x = Input((64,))
    m = Model(x, Dense(10)(Dense(32, activation="relu")(x)))
    m.compile(optimizers.Adam(0.01), losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    m.fit(xt, yt, epochs=5, verbose=0)
    assert m.evaluate(xs, ys)[1] > 0.9


# ---- bad input: a clear error, and no weight changes ------------------------
def same_weights(m, before):
    return all(np.array_equal(a, b) for a, b in zip(m.get_weights(), before))


@pytest.mark.parametrize("call,match", [
    (lambda m, x, y: m.fit(x, y[:-1], verbose=0), "same number of samples"),
    (lambda m, x, y: m.fit(x[:, :60], y, verbose=0), r"input 'pixels' expected arrays of shape"),
    (lambda m, x, y: m.fit(x, y + 5, verbose=0), "label 1[0-4] is out of range"),
    (lambda m, x, y: m.fit(x, np.eye(10)[y], verbose=0), "one-hot targets"),
    (lambda m, x, y: m.fit({"pixelz": x}, y, verbose=0), "unknown"),
    (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), "batch_size"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x, y[:3]), verbose=0), "same number"),
    (lambda m, x, y: m.fit(x, y, validation_split=1.5, verbose=0), "validation_split"),
    (lambda m, x, y: m.fit(x, y, steps_per_epoch=2, verbose=0), "unsupported"),
    (lambda m, x, y: m.fit(x, y, sample_weight=y[:-1], verbose=0), "sample_weight.*50 samples"),
])
def test_bad_input_is_clear_and_changes_nothing(data, call, match):
    (xt, yt), _ = data
    m = compiled()
    before = m.get_weights()
    with pytest.raises((ValueError, TypeError), match=match):
        call(m, xt[:50], yt[:50])
    assert same_weights(m, before)
    assert m.optimizer.iterations == 0


def test_unknown_names_and_uncompiled():
    m = mlp()
    with pytest.raises(RuntimeError, match="must be compiled"):
        m.fit(np.zeros((2, 64)), np.zeros(2), verbose=0)
    with pytest.raises(ValueError, match="Unknown loss 'sparse_crossentropy'"):
        m.compile("adam", "sparse_crossentropy")
    with pytest.raises(ValueError, match="Unknown optimizer 'adamax2'"):
        m.compile("adamax2", "mse")
    with pytest.raises(ValueError, match="Unknown metric 'acuracy'"):
        m.compile("adam", "mse", metrics=["acuracy"])
    with pytest.raises(TypeError, match="metrics must be a list"):
        m.compile("adam", "mse", metrics="accuracy")
    with pytest.raises(ValueError, match="unknown output name"):
        m.compile("adam", {"nope": "mse"})
    with pytest.raises(ValueError, match="look like integer labels.*sparse_categorical"):
        m.compile("adam", "categorical_crossentropy")
        m.fit(np.zeros((2, 64)), np.array([1, 2]), verbose=0)


def test_nan_loss_is_logged_and_training_goes_on_as_in_keras2(data):
    # Keras 2: the loss is logged as it is and fit goes on (TerminateOnNaN stops it)
    (xt, yt), _ = data
    m = compiled()
    x = xt[:64].copy()
    x[40] = np.nan  # in the second batch
    with pytest.warns(RuntimeWarning, match="loss became nan at epoch 1, batch 1.*TerminateOnNaN"):
        hist = m.fit(x, yt[:64], epochs=3, batch_size=32, shuffle=False, verbose=0)
    assert hist.epoch == [0, 1, 2]
    assert np.isnan(hist.history["loss"][0])
    assert np.isnan(m.train_on_batch(x[32:], yt[32:64])[0])  # returned, not raised
    m = compiled()
    hist = m.fit(x, yt[:64], epochs=3, batch_size=32, shuffle=False, verbose=0,
                 callbacks=[callbacks.TerminateOnNaN()])
    assert hist.epoch == [0]


def test_terminate_on_nan_callback(data, capsys):
    (xt, yt), _ = data
    m = compiled()
    m.fit(xt[:64], yt[:64], epochs=1, verbose=0)

    class Fake:
        stop_training = False

    cb = callbacks.TerminateOnNaN()
    cb.set_model(Fake())
    cb.on_batch_end(3, {"loss": float("inf")})
    assert cb.model.stop_training and "Batch 3" in capsys.readouterr().out


def test_verbose_2_prints_one_line_per_epoch(data, capsys):
    (xt, yt), _ = data
    m = compiled()
    m.fit(xt[:64], yt[:64], epochs=3, verbose=2)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 3 and lines[0].startswith("Epoch 1/3") and "loss:" in lines[0]


def test_verbose_1_in_a_log_is_line_based(data, capsys):
    (xt, yt), _ = data
    m = compiled()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.fit(xt[:64], yt[:64], epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out and out.count("Epoch") == 2 and "acc:" in out
    assert "accuracy:" not in out  # the alias is not a second column


def test_compile_accepts_a_serialized_loss_object():
    m = mlp()
    m.compile("adam", losses.serialize(losses.SparseCategoricalCrossentropy(from_logits=True)))
    assert isinstance(m.loss, losses.SparseCategoricalCrossentropy)
    assert m.loss.get_config()["from_logits"] is True


def test_frozen_model_trains_nothing_but_reports_loss(data):
    (xt, yt), _ = data
    m = mlp()
    for layer in m.layers:
        layer.trainable = False
    m.compile("adam", "sparse_categorical_crossentropy")
    before = m.get_weights()
    hist = m.fit(xt[:64], yt[:64], epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2
    assert same_weights(m, before)


def test_predict_and_evaluate_record_nothing(data):
    from minikeras import GradientTape
    (xt, yt), _ = data
    m = compiled()
    with GradientTape() as tape:
        m.predict(xt[:70], batch_size=32)
        m.evaluate(xt[:70], yt[:70])
        m.predict_on_batch(xt[:5])
    assert len(tape) == 0


def test_save_model_keeps_loss_options(tmp_path):
    from minikeras import Input, Model
    from minikeras.layers import Dense
    from minikeras.losses import SparseCategoricalCrossentropy
    from minikeras.models import load_model

    inputs = Input((4,))
    model = Model(inputs, Dense(3)(inputs))
    model.compile("sgd", SparseCategoricalCrossentropy(from_logits=True))
    path = tmp_path / "m.npz"
    model.save(str(path))
    loaded = load_model(str(path))
    assert isinstance(loaded.loss, SparseCategoricalCrossentropy)
    assert loaded.loss.get_config()["from_logits"] is True


def test_frozen_layer_is_not_differentiated_or_updated():
    from minikeras import Input, Model
    from minikeras.layers import Dense

    inputs = Input((4,))
    frozen = Dense(3, name="frozen")
    model = Model(inputs, Dense(2, name="head")(frozen(inputs)))
    frozen.trainable = False
    model.compile("sgd", "mse")
    before = [w.copy() for w in frozen.get_weights()]
    head_before = [w.copy() for w in model.get_layer("head").get_weights()]
    x = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    model.train_on_batch(x, np.ones((8, 2), "float32"))
    for a, b in zip(before, frozen.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(
        not np.array_equal(a, b) for a, b in zip(head_before, model.get_layer("head").get_weights())
    )


def test_shuffle_batch_keeps_blocks_together():
    # Keras 2's shuffle="batch": the order of batch-sized blocks changes, not their content
    seen = []

    def record(y_true, y_pred):
        seen.append(np.asarray(y_true).ravel().copy())
        return np.zeros(len(y_true))

    x = Input((1,))
    m = Model(x, Dense(1)(x))
    m.compile("sgd", "mse", metrics=[record])
    xs = np.arange(10, dtype=np.float32)[:, None]
    m.fit(xs, xs, batch_size=3, epochs=4, shuffle="batch", verbose=0)
    blocks = {tuple(b) for b in seen}
    assert blocks == {(0, 1, 2), (3, 4, 5), (6, 7, 8), (9,)}
    assert all(tuple(seen[i + 3]) == (9,) for i in range(0, len(seen), 4))  # partial block last


def test_target_tensors_train_like_y_and_refuse_y_data():
    # compile(target_tensors=...) (Keras 2.0.8): fixed targets, sliced in batches like x
    rng = np.random.default_rng(3)
    xs, ys = rng.normal(size=(12, 3)), rng.normal(size=(12, 2))

    def trained(**compile_kw):
        set_random_seed(5)
        x = Input((3,))
        m = Model(x, Dense(2, name="out")(x))
        m.compile(optimizers.SGD(0.1), "mse", **compile_kw)
        return m

    a = trained()
    a.fit(xs, ys, batch_size=4, epochs=2, shuffle=False, verbose=0)
    b = trained(target_tensors={"out": ys})
    b.fit(xs, None, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)
    with pytest.raises(ValueError, match="expected no target data"):
        b.train_on_batch(xs, ys)
    with pytest.raises(TypeError, match="list .* or a dict"):
        trained(target_tensors=ys)


def _two_outputs():
    x = Input((3,), name="x")
    h = Dense(4, name="a")(x)
    return Model(x, [h, Dense(2, name="b")(h)])


def test_keras2_compile_and_fit_checks():
    m = _two_outputs()
    with pytest.raises(ValueError, match="no loss to optimize"):
        m.compile("sgd", loss=None)  # no output loss and no model losses: Keras 2's refusal
    with pytest.raises(TypeError, match="loss_weights must be a list or a dict"):
        m.compile("sgd", "mse", loss_weights=(1.0, 0.5))
    m.compile("sgd", "mse")
    xs, ya, yb = np.ones((4, 3)), np.ones((4, 4)), np.ones((4, 2))
    with pytest.raises(TypeError, match="must be a list .* got a tuple"):
        m.train_on_batch(xs, [ya, yb], sample_weight=(None, np.ones(4)))
    # a partial loss dict: y holds targets for the outputs with a loss only
    m.compile("sgd", {"b": "mse"}, metrics=["mae"])
    assert m.metrics_names == ["loss", "b_loss", "b_mean_absolute_error"]
    m.fit(xs, yb, epochs=1, verbose=0)
    m.fit(xs, [yb], epochs=1, verbose=0, sample_weight=[np.ones(4)])
    with pytest.raises(ValueError, match="targets are required"):
        m.fit(xs, None, verbose=0)
    c = Model(*(lambda i: (i, Dense(1, activation="softmax")(i)))(Input((3,))))
    c.compile("sgd", "categorical_crossentropy")
    with pytest.raises(ValueError, match="You are passing a target array of shape"):
        c.train_on_batch(xs, np.ones((4, 1)))


def test_loss_none_trains_the_model_losses():
    x = Input((3,))
    m = Model(x, Dense(2, kernel_regularizer="l2")(x))
    m.compile("sgd", loss=None)
    before = np.abs(m.get_weights()[0]).sum()
    hist = m.fit(np.ones((8, 3)), None, epochs=3, verbose=0)
    assert np.abs(m.get_weights()[0]).sum() < before  # the l2 penalty was minimised
    assert set(hist.history) == {"loss"}
    with pytest.raises(ValueError, match="expected no target data"):
        m.fit(np.ones((8, 3)), np.ones((8, 2)), verbose=0)


def test_fit_gives_callbacks_the_validation_data():
    m = compiled()
    seen = {}

    class Peek(callbacks.Callback):
        def on_train_end(self, logs=None):
            seen["data"] = self.validation_data

    xv, yv = np.zeros((5, 64)), np.arange(5)
    m.fit(np.zeros((10, 64)), np.arange(10), epochs=1, verbose=0, callbacks=[Peek()],
          validation_data=(xv, yv, np.full(5, 2.0)))
    x_, y_, w_ = seen["data"]
    np.testing.assert_array_equal(x_, xv.reshape(x_.shape))
    np.testing.assert_array_equal(y_, yv)
    np.testing.assert_array_equal(w_, np.full(5, 2.0))
    m.fit(np.zeros((10, 64)), np.arange(10), epochs=1, verbose=0, callbacks=[Peek()],
          validation_split=0.2)
    assert len(seen["data"]) == 3 and np.all(seen["data"][2] == 1.0)  # ones when unweighted


def test_reduce_lr_on_plateau_takes_keras20_epsilon():
    assert callbacks.ReduceLROnPlateau(epsilon=0.5).min_delta == 0.5
    assert callbacks.ReduceLROnPlateau().min_delta == 1e-4
    with pytest.raises(TypeError, match="not both"):
        callbacks.ReduceLROnPlateau(epsilon=0.5, min_delta=0.1)
