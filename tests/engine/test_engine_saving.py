import os

import numpy as np
import pytest
from engine_helpers import Lin, Stats

from minikeras import Input, Model, Sequential
from minikeras.models import load_model, save_model

CUSTOM = {"Lin": Lin, "Stats": Stats}


def make_model(seed_units=3, name="m"):
    x = Input((4,), name="x")
    h = Lin(seed_units, name="h")(x)
    y = Stats(name="st")(Lin(2, name="y")(h))
    return Model(x, y, name=name)


def test_save_and_load_weights_round_trip_layout(tmp_path):
    model = make_model()
    model.get_layer("st").moving.assign([0.5, -0.5])
    path = tmp_path / "w.npz"
    model.save_weights(path)
    with np.load(path, allow_pickle=False) as data:
        keys = set(data.files)
        assert str(data["__format__"]) == "minikeras-weights-1"
        assert data["__layer_names__"].tolist() == ["x", "h", "y", "st"]
        assert data["st/__weight_names__"].tolist() == ["st/scale", "st/moving_mean"]
        np.testing.assert_array_equal(data["st/st/moving_mean"], [0.5, -0.5])
    assert {"h/h/kernel", "h/h/bias", "y/y/kernel", "x/__weight_names__"} <= keys
    other = make_model(name="other")
    other.load_weights(path)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [f for f in os.listdir(tmp_path) if f != "w.npz"] == []  # no temp files left


def test_load_weights_mismatch_leaves_model_unchanged(tmp_path):
    model = make_model()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    wider = make_model(seed_units=5)
    before = wider.get_weights()
    with pytest.raises(ValueError, match="'h/kernel'.*\\(4, 5\\).*\\(4, 3\\)"):
        wider.load_weights(path)
    for a, b in zip(wider.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    x = Input((4,))
    small = Model(x, Lin(3)(x))
    with pytest.raises(ValueError, match="containing 3 layers.*with 1 layers"):
        small.load_weights(path)


def test_load_weights_by_name(tmp_path):
    model = make_model()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    x = Input((4,))
    partial = Model(x, Lin(7, name="other")(Lin(3, name="h")(x)))
    partial.load_weights(path, by_name=True)
    np.testing.assert_array_equal(partial.get_layer("h").kernel.data,
                                  model.get_layer("h").kernel.data)


def test_corrupt_or_missing_file_is_clear_error(tmp_path):
    model = make_model()
    before = model.get_weights()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="not a valid minikeras .npz"):
        model.load_weights(bad)
    good = tmp_path / "good.npz"
    model.save_weights(good)
    raw = good.read_bytes()
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError):
        model.load_weights(truncated)
    np.savez(tmp_path / "alien.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="no weights found"):
        model.load_weights(tmp_path / "alien.npz")
    with pytest.raises(FileNotFoundError):
        model.load_weights(tmp_path / "missing.npz")
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    model = make_model()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    original = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        model.save_weights(path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["w.npz"]
    monkeypatch.undo()
    with pytest.raises(FileExistsError):
        model.save_weights(path, overwrite=False)


def test_save_model_without_compile_round_trip(tmp_path):
    model = make_model()
    path = tmp_path / "model.npz"
    save_model(model, path)
    restored = load_model(path, custom_objects=CUSTOM)
    assert restored.name == "m" and [layer.name for layer in restored.layers] == \
        [layer.name for layer in model.layers]
    data = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(restored(data).numpy(), model(data).numpy(), rtol=1e-6)
    # a model file's weights load into a model too; a weights file is not a model
    other = make_model()
    other.load_weights(path)
    np.testing.assert_allclose(other(data).numpy(), model(data).numpy(), rtol=1e-6)
    weights_only = tmp_path / "w.npz"
    model.save_weights(weights_only)
    with pytest.raises(ValueError, match="not a minikeras model file"):
        load_model(weights_only)


def test_save_model_with_optimizer_state(tmp_path):
    model = Sequential([Lin(3, input_shape=(4,), name="a"), Lin(1, name="b")])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = rng.normal(size=(8, 1)).astype(np.float32)
    model.train_on_batch(x, y)
    model.train_on_batch(x, y)
    path = tmp_path / "trained.npz"
    save_model(model, path)
    restored = load_model(path, custom_objects=CUSTOM)
    assert type(restored.optimizer).__name__ == "Adam"
    assert restored.optimizer.get_config() == model.optimizer.get_config()
    np.testing.assert_allclose(restored.predict(x), model.predict(x), rtol=1e-6)
    # the restored optimizer continues exactly where the saved one stopped
    model.train_on_batch(x, y)
    restored.train_on_batch(x, y)
    for a, b in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    uncompiled = tmp_path / "noopt.npz"
    save_model(model, uncompiled, include_optimizer=False)
    assert getattr(load_model(uncompiled, custom_objects=CUSTOM), "optimizer", None) is None
