"""The engine with the real layers: the issue-9 digits model, its summary and a save/load."""

import numpy as np
import pytest

from minikeras import GradientTape, Input, Model, Sequential
from minikeras.engine import reset_names

L = pytest.importorskip("minikeras.layers")


def digits_model():
    reset_names()
    x = Input((8, 8, 1))
    h = L.SeparableConv2D(16, 3, padding="same", activation="relu")(x)
    h = L.SeparableConv2D(32, 3, padding="same", activation="relu")(h)
    h = L.MaxPooling2D(2)(h)
    y = L.Dense(10, activation="softmax")(L.Flatten()(h))
    return Model(x, y)


def test_digits_model_summary_counts():
    model = digits_model()
    lines = []
    model.summary(print_fn=lines.append)
    rows = [line.split() for line in lines if "(" in line and "Layer (type)" not in line]
    assert [r[0] for r in rows] == ["input_1", "separable_conv2d", "separable_conv2d_1",
                                    "max_pooling2d", "flatten", "dense"]
    assert [int(r[-1]) for r in rows] == [0, 9 + 16 + 16, 9 * 16 + 16 * 32 + 32, 0, 0, 5130]
    assert "Total params: 5,859" in lines
    assert model.output_shape == (None, 10)


def test_digits_model_eager_gradients_and_round_trip(tmp_path):
    model = digits_model()
    data = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
    with GradientTape() as tape:
        loss = model(data, training=True).sum()
    grads = tape.gradient(loss, model.trainable_weights)
    assert len(grads) == 8 and all(g is not None for g in grads)
    model.save_weights(tmp_path / "w.npz")
    twin = digits_model()
    twin.load_weights(tmp_path / "w.npz")
    np.testing.assert_allclose(twin(data).numpy(), model(data).numpy(), rtol=1e-5)
    restored = Model.from_config(model.get_config())
    restored.set_weights(model.get_weights())
    np.testing.assert_allclose(restored(data).numpy(), model(data).numpy(), rtol=1e-5)


def test_sequential_with_real_layers_and_batchnorm_updates():
    model = Sequential([L.Dense(4, input_shape=(3,)), L.BatchNormalization(), L.Dense(1)])
    bn = model.layers[1]
    before = [w.copy() for w in bn.get_weights()]
    model(np.random.default_rng(1).normal(size=(8, 3)).astype(np.float32), training=True)
    after = bn.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after))  # moving stats moved
    assert len(bn.non_trainable_weights) == 2
