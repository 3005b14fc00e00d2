"""Keras 3 ``.keras`` archives: minikeras -> Keras 3 -> minikeras, and models built in Keras 3."""

import json
import os
import zipfile

import numpy as np
import pytest
from interop_models import BUILDERS, assert_same, randomize

from minikeras import layers as L
from minikeras.engine.base_layer import Layer
from minikeras.models import Model, Sequential, load_model, save_model


@pytest.mark.parametrize("name", list(BUILDERS))
def test_keras_round_trip_through_keras3(zoo, keras, tmp_path, name):
    model, x, want = zoo[name]
    path = tmp_path / f"{name}.keras"
    model.save(str(path))
    assert set(zipfile.ZipFile(path).namelist()) == {"config.json", "metadata.json",
                                                     "model.weights.h5"}
    assert_same(load_model(str(path)).predict(x), want)
    kmodel = keras.saving.load_model(str(path))
    assert_same(kmodel.predict(x, verbose=0), want)
    again = tmp_path / f"{name}_by_keras.keras"
    kmodel.save(str(again))  # Keras 3's own writing, read back by minikeras
    assert_same(load_model(str(again)).predict(x), want)


def test_model_built_in_keras3_loads_in_minikeras(keras, tmp_path):
    from keras import layers as KL

    a, b = keras.Input((6, 6, 2), name="a"), keras.Input((4,), name="b")
    h = KL.Conv2D(3, 3, padding="same", activation="relu", kernel_initializer="he_normal",
                  kernel_regularizer=keras.regularizers.L2(1e-3))(a)
    h = KL.DepthwiseConv2D(3, depth_multiplier=2)(KL.BatchNormalization()(h))
    h = KL.GlobalMaxPooling2D()(KL.MaxPooling2D()(KL.ZeroPadding2D(1)(h)))
    shared = KL.Dense(6, activation="silu")
    y = KL.Concatenate()([shared(h), shared(KL.Dense(6)(b))])
    kmodel = keras.Model([a, b], [KL.Dense(2, activation="softmax")(y), KL.Dense(1)(y)])
    kmodel.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    rng = np.random.default_rng(4)
    kmodel.set_weights([rng.normal(size=w.shape).astype("float32") * 0.5 + 1.0
                        for w in kmodel.get_weights()])
    xs = [rng.normal(size=(3, 6, 6, 2)).astype("float32"),
          rng.normal(size=(3, 4)).astype("float32")]
    path = tmp_path / "k.keras"
    kmodel.save(str(path))
    model = load_model(str(path))
    assert_same(model.predict(xs), kmodel.predict(xs, verbose=0))
    assert type(model.optimizer).__name__ == "Adam"


def _rewrite_config(src, dst, edit):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "config.json":
                data = edit(data)
            zout.writestr(item, data)


def test_bad_keras_config_names_file_layer_and_key(zoo, tmp_path):
    good = tmp_path / "good.keras"
    zoo["mlp"][0].save(str(good))

    def unknown(data):
        return data.replace(b'"Dropout"', b'"Frobnicate"')

    def renorm(data):
        config = json.loads(data)
        bn = next(x for x in config["config"]["layers"] if x["class_name"] ==
                  "BatchNormalization")
        bn["config"]["renorm"] = True
        return json.dumps(config).encode()

    cases = [(unknown, r"bad\.keras.*Frobnicate"),
             (renorm, r"bad\.keras.*batch_normalization.*'renorm'"),
             (lambda data: data[:50], r"bad\.keras.*not valid JSON")]
    for edit, message in cases:
        bad = tmp_path / "bad.keras"
        _rewrite_config(good, bad, edit)
        with pytest.raises(ValueError, match=message):
            load_model(str(bad))
    bad.write_bytes(good.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"bad\.keras.*zip"):
        load_model(str(bad))


class Doubler(Layer):
    """A custom layer: Keras 3 has no counterpart registered under this name."""

    def call(self, inputs):
        return inputs * 2


def test_what_keras3_lacks_is_refused_by_layer_and_key(tmp_path):
    x = L.Input((3,))
    lam = Model(x, L.Lambda(lambda t: t * 2, name="double")(x))
    hard = Sequential([L.Dense(2, activation="hard_sigmoid", input_shape=(3,), name="hs")])
    custom = Model(x, Doubler(name="twice")(x))
    for model, message in [(lam, r"m\.keras.*'double'.*Lambda"),
                           (hard, r"m\.keras.*'hs'.*'activation'.*hard_sigmoid"),
                           (custom, r"m\.keras.*'twice'.*'class_name'.*Doubler")]:
        with pytest.raises(ValueError, match=message):
            save_model(model, str(tmp_path / "m.keras"))
    assert os.listdir(tmp_path) == []  # nothing half-written


def test_adam_state_crosses_both_ways(keras, tmp_path):
    model = randomize(BUILDERS["mlp"]())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(16, 6)).astype("float32"), np.arange(16) % 3
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "adam.keras"
    model.save(str(path))
    kmodel = keras.saving.load_model(str(path))
    kvars = [np.asarray(v) for v in kmodel.optimizer.variables]
    state = model.optimizer.get_state()
    n = len(model.trainable_weights)
    assert int(kvars[0]) == int(state[0]) == 2
    for i in range(n):  # Keras 3: each variable's momentum then velocity
        np.testing.assert_array_equal(kvars[2 + 2 * i], state[1 + i])
        np.testing.assert_array_equal(kvars[3 + 2 * i], state[1 + n + i])
    kmodel.fit(x, y, epochs=1, batch_size=8, verbose=0)
    kmodel.save(str(tmp_path / "adam_k.keras"))
    back = load_model(str(tmp_path / "adam_k.keras"))
    back.optimizer.build(back.trainable_weights)
    state = back.optimizer.get_state()
    kvars = [np.asarray(v) for v in kmodel.optimizer.variables]
    assert int(state[0]) == 4
    for i in range(n):
        np.testing.assert_array_equal(state[1 + i], kvars[2 + 2 * i])
        np.testing.assert_array_equal(state[1 + n + i], kvars[3 + 2 * i])


def test_weights_h5_in_keras3_layout_both_ways(zoo, keras, tmp_path):
    model, x, want = zoo["nested"]
    model.save(str(tmp_path / "m.keras"))
    kmodel = keras.saving.load_model(str(tmp_path / "m.keras"))
    for w in kmodel.weights:
        w.assign(np.zeros(w.shape, w.dtype))
    model.save_weights(str(tmp_path / "w.weights.h5"))  # the suffix picks Keras 3's layout
    kmodel.load_weights(str(tmp_path / "w.weights.h5"))
    assert_same(kmodel.predict(x, verbose=0), want)
    kmodel.save_weights(str(tmp_path / "k.weights.h5"))
    fresh = randomize(BUILDERS["nested"](), seed=9)
    fresh.load_weights(str(tmp_path / "k.weights.h5"))
    assert_same(fresh.predict(x), want)
    with pytest.raises(ValueError, match=r"k\.weights\.h5.*by_name"):
        fresh.load_weights(str(tmp_path / "k.weights.h5"), by_name=True)
