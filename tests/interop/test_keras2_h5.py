"""Keras 2 HDF5: minikeras round trips, minikeras -> Keras 3, Keras 3 legacy H5 -> minikeras."""

import os

import h5py
import numpy as np
import pytest
from interop_models import BUILDERS, assert_same, randomize

from minikeras import layers as L
from minikeras.models import Model, load_model, save_model

# Keras 3's legacy H5 reader numbers a nested model's nodes from 0 while every Keras 2 file
# (and minikeras, which writes Keras 2's numbering) starts them at 1: it cannot load nested
# models from such files. Those go to Keras 3 as .keras instead (test_keras3.py).
TO_KERAS3 = [name for name in BUILDERS if name != "nested"]


@pytest.mark.parametrize("name", list(BUILDERS))
def test_h5_round_trip_in_minikeras(zoo, tmp_path, name):
    model, x, want = zoo[name]
    path = tmp_path / f"{name}.h5"
    model.save(str(path))
    with h5py.File(path) as f:  # the Keras 2 layout, not minikeras's own
        assert {"model_config", "keras_version", "backend"} <= set(f.attrs)
        assert "layer_names" in f["model_weights"].attrs
    assert_same(load_model(str(path)).predict(x), want)


@pytest.mark.parametrize("name", TO_KERAS3)
def test_minikeras_h5_loads_in_keras3(zoo, keras, tmp_path, name):
    model, x, want = zoo[name]
    path = tmp_path / f"{name}.h5"
    save_model(model, str(path))
    loaded = keras.models.load_model(str(path), compile=False)
    assert_same(loaded.predict(x, verbose=0), want)


def test_keras3_legacy_h5_loads_in_minikeras(keras, tmp_path):
    from keras import layers as KL
    from keras.src.legacy.saving import legacy_h5_format

    inner = keras.Sequential([keras.Input((4,)), KL.Dense(3, name="d_in"),
                              KL.BatchNormalization(name="bn_in")], name="inner")
    x = keras.Input((8, 8, 2), name="img")
    h = KL.SeparableConv2D(4, 3, padding="same", depth_multiplier=2, name="sep")(x)
    h = KL.Dense(4, activation="relu", name="d")(KL.GlobalAveragePooling2D(name="gap")(h))
    kmodel = keras.Model(x, inner(h), name="k")
    rng = np.random.default_rng(3)
    kmodel.set_weights([rng.normal(size=w.shape).astype("float32") + 1.0
                        for w in kmodel.get_weights()])
    path = tmp_path / "k3.h5"
    legacy_h5_format.save_model_to_hdf5(kmodel, str(path))
    xs = rng.normal(size=(3, 8, 8, 2)).astype("float32")
    assert_same(load_model(str(path)).predict(xs), kmodel.predict(xs, verbose=0))


def test_save_weights_h5_by_order_and_by_name(zoo, tmp_path):
    model, x, want = zoo["shared_io"]
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    fresh = randomize(BUILDERS["shared_io"](), seed=5)
    fresh.load_weights(path)
    assert_same(fresh.predict(x), want)
    # by name: only the layers whose names match are loaded
    a, b = L.Input((5,), name="a"), L.Input((5,), name="b")
    other = Model([a, b], L.Dense(4, name="shared")(a), name="partial")
    other.load_weights(path, by_name=True)
    np.testing.assert_array_equal(other.get_layer("shared").kernel.data,
                                  model.get_layer("shared").kernel.data)


def test_compiled_model_keeps_its_training_config(tmp_path):
    model = randomize(BUILDERS["mlp"]())
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(8) % 3]
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    path = str(tmp_path / "c.h5")
    model.save(path)
    back = load_model(path)
    assert type(back.optimizer).__name__ == "Adam"
    for a, b in zip(back.optimizer.get_state(), model.optimizer.get_state()):
        np.testing.assert_array_equal(a, b)


def test_truncated_h5_names_the_file_and_leaves_target(zoo, tmp_path):
    model = zoo["mlp"][0]
    path = tmp_path / "m.h5"
    model.save(str(path))
    data = path.read_bytes()
    bad = tmp_path / "bad.h5"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"bad\.h5.*(truncated|corrupt)"):
        load_model(str(bad))
    before = [w.data.copy() for w in model.weights]
    with pytest.raises(ValueError, match=r"bad\.h5.*(truncated|corrupt)"):
        model.load_weights(str(bad))
    for w, b in zip(model.weights, before):  # nothing half-loaded
        np.testing.assert_array_equal(w.data, b)


def test_unknown_layer_in_h5_is_named(zoo, tmp_path):
    path = tmp_path / "m.h5"
    zoo["mlp"][0].save(str(path))
    with h5py.File(path, "r+") as f:
        config = f.attrs["model_config"]
        config = config.decode() if isinstance(config, bytes) else config
        f.attrs["model_config"] = config.replace('"Dropout"', '"Frobnicate"').encode()
    with pytest.raises(ValueError, match=r"m\.h5.*Frobnicate"):
        load_model(str(path))


def test_failed_write_leaves_old_file_and_no_temporary(zoo, tmp_path, monkeypatch):
    path = tmp_path / "m.h5"
    zoo["mlp"][0].save(str(path))
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("minikeras.engine.weights_h5.save_weights_to_group", boom)
    monkeypatch.setattr("minikeras.formats.keras2_h5.save_weights_to_group", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        zoo["conv_cl"][0].save(str(path))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.h5"]


def _write_keras2_file(path, config, version, weights):
    """A model file as Keras 2 wrote it: only h5py here, no minikeras writer."""
    import json

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = version.encode()
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = [name.encode() for name in weights]
        for layer, arrays in weights.items():
            sub = group.create_group(layer)
            sub.attrs["weight_names"] = [f"{layer}/{n}:0".encode() for n in arrays]
            for n, a in arrays.items():
                sub.create_dataset(f"{layer}/{n}:0", data=a)


def _dense(name, units, activation, **extra):
    init = {"class_name": "VarianceScaling",
            "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
    return {"class_name": "Dense", "config": {
        "name": name, "trainable": True, "units": units, "activation": activation,
        "use_bias": True, "kernel_initializer": init,
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None, **extra}}


@pytest.mark.parametrize("flavour", ["keras-2.0.8", "tf.keras-2.4"])
def test_keras2_files_load(tmp_path, flavour):
    rng = np.random.default_rng(7)
    k1, b1 = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=3).astype("float32")
    gamma, beta = rng.normal(size=3).astype("float32"), rng.normal(size=3).astype("float32")
    mean, var = rng.normal(size=3).astype("float32"), rng.random(3).astype("float32") + 0.5
    bn = {"name": "bn", "trainable": True, "axis": -1, "momentum": 0.99, "epsilon": 0.001,
          "center": True, "scale": True,
          "beta_initializer": {"class_name": "Zeros", "config": {}},
          "gamma_initializer": {"class_name": "Ones", "config": {}},
          "moving_mean_initializer": {"class_name": "Zeros", "config": {}},
          "moving_variance_initializer": {"class_name": "Ones", "config": {}},
          "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
          "gamma_constraint": None}
    if flavour == "keras-2.0.8":
        # a Sequential written as a bare list, the input shape on its first layer
        layers = [_dense("d1", 3, "hard_sigmoid", batch_input_shape=[None, 4], dtype="float32"),
                  {"class_name": "BatchNormalization", "config": bn}]
        config = {"class_name": "Sequential", "config": layers}
    else:
        # tf.keras 2.4: explicit InputLayer, dtype everywhere, GlorotUniform, axis as a list
        dense = _dense("d1", 3, "hard_sigmoid", dtype="float32")
        dense["config"]["kernel_initializer"] = {"class_name": "GlorotUniform",
                                                 "config": {"seed": None}}
        dense["config"]["kernel_regularizer"] = {"class_name": "L2", "config": {"l2": 0.01}}
        layers = [{"class_name": "InputLayer", "config": {
                      "batch_input_shape": [None, 4], "dtype": "float32", "sparse": False,
                      "ragged": False, "name": "x"}},
                  dense,
                  {"class_name": "BatchNormalization", "config": {**bn, "axis": [1],
                                                                  "dtype": "float32"}}]
        config = {"class_name": "Sequential", "config": {"name": "s", "layers": layers}}
    path = tmp_path / "k2.h5"
    _write_keras2_file(path, config, flavour.split("-")[1],
                       {"d1": {"kernel": k1, "bias": b1},
                        "bn": {"gamma": gamma, "beta": beta, "moving_mean": mean,
                               "moving_variance": var}})
    x = rng.normal(size=(5, 4)).astype("float32")
    h = np.clip(0.2 * (x @ k1 + b1) + 0.5, 0, 1)  # Keras 2's hard_sigmoid
    want = gamma * (h - mean) / np.sqrt(var + 0.001) + beta
    np.testing.assert_allclose(load_model(str(path)).predict(x), want, rtol=1e-5, atol=1e-6)


def test_keras3_reads_minikeras_weights_file(zoo, keras, tmp_path):
    model, x, want = zoo["conv_cl"]
    model.save(str(tmp_path / "m.keras"))
    kmodel = keras.saving.load_model(str(tmp_path / "m.keras"))
    for w in kmodel.weights:
        w.assign(np.zeros(w.shape, w.dtype))
    model.save_weights(str(tmp_path / "w.h5"))
    kmodel.load_weights(str(tmp_path / "w.h5"))  # Keras 3's reader of Keras 2 weights files
    assert_same(kmodel.predict(x, verbose=0), want)


def test_weights_file_missing_a_dataset_changes_nothing(zoo, tmp_path):
    model = zoo["conv_cl"][0]
    path = tmp_path / "w.h5"
    model.save_weights(str(path))
    last = [layer.name for layer in model.layers if layer.weights][-1]
    with h5py.File(path, "r+") as f:  # the last layer's kernel is lost
        del f[last][f[last].attrs["weight_names"][0]]
    fresh = randomize(BUILDERS["conv_cl"](), seed=11)
    before = [w.data.copy() for w in fresh.weights]
    with pytest.raises(ValueError, match=rf"w\.h5.*{last}.*missing"):
        fresh.load_weights(str(path))
    for w, b in zip(fresh.weights, before):  # not even the earlier layers were loaded
        np.testing.assert_array_equal(w.data, b)
