"""EarlyStopping, ModelCheckpoint, LearningRateScheduler, CSVLogger, LambdaCallback."""

import csv
import os

import numpy as np
import pytest

from minikeras import Input, Model, callbacks, optimizers
from minikeras.layers import Dense
from minikeras.models import load_model
from minikeras.utils import set_random_seed


def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 5)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0, 1.0]) > 0).astype(np.int64)
    return x, y


def model(lr=0.05):
    set_random_seed(0)
    i = Input((5,))
    m = Model(i, Dense(2, activation="softmax")(Dense(8, activation="relu")(i)))
    m.compile(optimizers.SGD(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


class Scripted(callbacks.Callback):
    """Feeds a scripted val_loss to the callbacks after it."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def test_early_stopping_patience_and_restore():
    x, y = problem()
    m = model()
    weights_at = {}
    rec = callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: weights_at.__setitem__(e, m.get_weights()))
    stop = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    hist = m.fit(x, y, epochs=10, verbose=0,
                 callbacks=[Scripted([1.0, 0.5, 0.6, 0.55, 0.4, 0.3, 0.2, 0.1, 0, 0]), rec, stop])
    assert hist.epoch == [0, 1, 2, 3]  # best at epoch 1, two epochs without improvement
    assert stop.stopped_epoch == 3 and stop.best == 0.5
    for a, b in zip(m.get_weights(), weights_at[1]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_mode_auto_and_min_delta():
    assert callbacks.EarlyStopping(monitor="val_acc").monitor_op is np.greater
    assert callbacks.EarlyStopping(monitor="val_loss").monitor_op is np.less
    es = callbacks.EarlyStopping(monitor="loss", min_delta=0.1, patience=0)

    class Fake:
        stop_training = False

    es.set_model(Fake())
    es.on_train_begin()
    es.on_epoch_end(0, {"loss": 1.0})
    es.on_epoch_end(1, {"loss": 0.95})  # improvement smaller than min_delta
    assert es.model.stop_training


def test_checkpoint_best_only_loads_back_to_same_predictions(tmp_path):
    x, y = problem()
    m = model()
    path = tmp_path / "best.npz"
    saved_epochs = []

    ck = callbacks.ModelCheckpoint(str(path), monitor="val_loss", save_best_only=True)
    note = callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: saved_epochs.append(e) if ck.best == logs["val_loss"]
        else None)
    m.fit(x, y, epochs=4, verbose=0, callbacks=[Scripted([0.9, 0.5, 0.7, 0.8]), ck, note])
    assert saved_epochs == [0, 1] and ck.best == 0.5
    assert not [f for f in os.listdir(tmp_path) if f != "best.npz"]  # no temp files left
    # the file holds epoch 1's model: refit a fresh copy to epoch 1 and compare
    again = model()
    again.fit(x, y, epochs=2, verbose=0, callbacks=[Scripted([0, 0])])
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict(x), again.predict(x), rtol=1e-6)
    # the optimizer state came back too: one more step gives the same weights
    loaded.train_on_batch(x[:10], y[:10])
    again.train_on_batch(x[:10], y[:10])
    for a, b in zip(loaded.get_weights(), again.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_checkpoint_weights_only_with_formatted_name(tmp_path):
    x, y = problem()
    m = model()
    pattern = str(tmp_path / "w-{epoch:02d}-{loss:.2f}.npz")
    m.fit(x, y, epochs=2, verbose=0,
          callbacks=[callbacks.ModelCheckpoint(pattern, save_weights_only=True)])
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and names[0].startswith("w-01-") and names[1].startswith("w-02-")
    fresh = model()
    fresh.load_weights(str(tmp_path / names[1]))
    np.testing.assert_allclose(fresh.predict(x), m.predict(x), rtol=1e-6)


def test_learning_rate_scheduler_sets_rate_each_epoch():
    x, y = problem()
    m = model()
    rates = []
    log = callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: rates.append(m.optimizer.lr))
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    hist = m.fit(x, y, epochs=3, verbose=0, callbacks=[sched, log])
    assert rates == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert hist.history["lr"] == pytest.approx(rates)
    old_style = callbacks.LearningRateScheduler(lambda epoch: 0.01)
    m.fit(x, y, epochs=1, verbose=0, callbacks=[old_style])
    assert m.optimizer.lr == 0.01
    with pytest.raises(ValueError, match="finite float"):
        m.fit(x, y, epochs=1, verbose=0,
              callbacks=[callbacks.LearningRateScheduler(lambda e, lr: "fast")])


def test_csv_logger(tmp_path):
    x, y = problem()
    m = model()
    path = tmp_path / "log.csv"
    m.fit(x, y, epochs=2, verbose=0, validation_split=0.25,
          callbacks=[callbacks.CSVLogger(str(path))])
    m.fit(x, y, epochs=1, verbose=0, validation_split=0.25,
          callbacks=[callbacks.CSVLogger(str(path), append=True)])
    with open(path) as f:
        rows = list(csv.DictReader(f))
    # Keras 2.0's names, each column once (the "accuracy" spelling is an alias, not a column)
    assert list(rows[0]) == ["epoch", "acc", "loss", "val_acc", "val_loss"]
    assert [r["epoch"] for r in rows] == ["0", "1", "0"]
    assert float(rows[1]["loss"]) > 0


def test_lambda_callback_hooks_only_when_given():
    cb = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: None)
    assert not callbacks.CallbackList([cb]).wants_batch_logs
    got = []
    cb2 = callbacks.LambdaCallback(on_batch_end=lambda b, logs: got.append(b))
    lst = callbacks.CallbackList([cb2])
    assert lst.wants_batch_logs
    lst.on_batch_end(4, {})
    assert got == [4]


def test_progress_bar_when_display_is_dynamic(monkeypatch, capsys):
    monkeypatch.setattr(callbacks, "_dynamic_display", lambda: True)
    x, y = problem()
    m = model()
    m.fit(x, y, epochs=2, batch_size=40, verbose=1)
    err = capsys.readouterr().err
    assert "Epoch 1/2" in err and "Epoch 2/2" in err and "120/120" in err
    assert "loss:" in err


def test_reduce_lr_on_plateau_with_cooldown():
    class Fake:
        optimizer = optimizers.SGD(1.0)

    cb = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, cooldown=2,
                                     min_lr=0.2)
    cb.set_model(Fake())
    cb.on_train_begin()
    rates = []
    for epoch, loss in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]):
        logs = {"loss": loss}
        cb.on_epoch_end(epoch, logs)
        rates.append(Fake.optimizer.lr)
    # epoch 1: no gain -> 0.5; epoch 2 cooldown; epoch 3 -> 0.25; 4 cooldown; 5 -> 0.2 (min)
    # (Keras 2 decrements the cooldown before checking it: cooldown=2 skips one epoch)
    assert rates == [1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]
    assert logs["lr"] == 0.2
    with pytest.raises(ValueError, match="factor"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_metric_names_keras2_and_modern_spellings(tmp_path):
    # Keras 2.0 logs acc/val_acc; code written for modern Keras (accuracy, val_accuracy)
    # finds the same values through every lookup, and no column is duplicated
    x, y = problem()
    m = model()
    path = tmp_path / "w-{epoch}-{val_accuracy:.2f}.npz"
    stop = callbacks.EarlyStopping(monitor="val_accuracy", patience=0, mode="max")
    ckpt = callbacks.ModelCheckpoint(str(path), monitor="val_accuracy", save_weights_only=True)
    hist = m.fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[stop, ckpt])
    assert set(hist.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert hist.history["accuracy"] == hist.history["acc"]
    assert "val_accuracy" in hist.history and hist.history.get("val_accuracy")
    assert stop.best == max(hist.history["val_acc"][:len(hist.epoch)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"w-{e + 1}-{v:.2f}.npz" for e, v in zip(hist.epoch, hist.history["val_acc"]))
    logs = callbacks.Logs({"acc": 0.5}, aliases={"accuracy": "acc"})
    logs["accuracy"] = 0.75  # writing through the alias writes the logged entry
    assert dict(logs) == {"acc": 0.75} and list(logs) == ["acc"]
    logs.update({"accuracy": 0.5}, loss=1.0)
    assert dict(logs) == {"acc": 0.5, "loss": 1.0}
    assert logs.pop("accuracy") == 0.5 and "acc" not in logs and logs.pop("accuracy", 3) == 3


def test_remote_monitor_posts_each_epoch_to_a_local_server():
    import http.server
    import json
    import threading
    import urllib.parse

    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.path, self.headers.get("X-Run"),
                             json.loads(urllib.parse.parse_qs(body)["data"][0])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        x, y = problem()
        monitor = callbacks.RemoteMonitor(root=f"http://127.0.0.1:{server.server_port}",
                                          headers={"X-Run": "7"})
        hist = model().fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    finally:
        server.shutdown()
        server.server_close()
    assert [(p, h, d["epoch"]) for p, h, d in received] == [
        ("/publish/epoch/end/", "7", 0), ("/publish/epoch/end/", "7", 1)]
    assert received[1][2]["acc"] == pytest.approx(hist.history["acc"][1])
    # nobody listening: a warning, and training goes on
    with pytest.warns(UserWarning, match="could not reach"):
        model().fit(x, y, epochs=1, verbose=0,
                    callbacks=[callbacks.RemoteMonitor(root=f"http://127.0.0.1:{server.server_port}")])
