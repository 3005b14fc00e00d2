import numpy as np
import pytest
from engine_helpers import Lin, Masker, MaskUser, Square, Stats

import minikeras
from minikeras import Input, Model, Sequential
from minikeras.engine import InputLayer, KerasTensor, Layer


def test_public_names():
    assert minikeras.Input is minikeras.engine.Input
    assert minikeras.Model is minikeras.models.Model is minikeras.engine.Model
    assert minikeras.Sequential is minikeras.models.Sequential
    for name in ["model_from_json", "model_from_config", "load_model", "save_model"]:
        assert callable(getattr(minikeras.models, name))
    for name in ["Layer", "Node", "InputSpec", "Container", "InputLayer", "is_keras_tensor"]:
        assert hasattr(minikeras.engine, name)


def test_keras_tensor_refuses_to_be_data():
    x = Input(batch_shape=(2, 3), name="kt")
    assert x.shape == (2, 3) and x.ndim == 2 and "kt" in repr(x)
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(x)
    with pytest.raises(TypeError, match="no length"):
        len(x)


def test_int_input_stays_int_in_eager_model_call():
    x = Input((3,), dtype="int32")

    class Float(Layer):
        def call(self, t):
            self.seen = t.dtype
            return t.astype("float32")

        def compute_output_shape(self, s):
            return s

    f = Float()
    model = Model(x, f(x))
    model(np.array([[1, 2, 3]], np.int32))
    assert f.seen == np.int32


def test_input_layer_with_existing_tensor_and_batch_size():
    t = KerasTensor((None, 4), "float32")
    layer = InputLayer(input_tensor=t, name="wrap")
    assert layer.output is t and t._keras_history == (layer, 0, 0)
    assert InputLayer(input_shape=(2,), batch_size=5).batch_input_shape == (5, 2)
    with pytest.raises(ValueError, match="sparse"):
        InputLayer(input_shape=(2,), sparse=True)
    assert Input(3).shape == (None, 3)


def test_masks_bookkeeping_on_nodes():
    x = Input((3,))
    masker = Masker(name="mk")
    user = MaskUser(name="mu")
    y = user(masker(x))
    assert masker.output_mask == "symbolic-mask"
    assert user.input_mask == "symbolic-mask" and user.output_mask is None
    assert user.get_input_mask_at(0) == "symbolic-mask"
    assert y._keras_mask is None
    model = Model(x, y)
    out = model(np.array([[0.0, 1.0, 2.0]], np.float32), mask=None)
    np.testing.assert_allclose(out.numpy(), [[0.0, 1.0, 2.0]])


def test_symbolic_updates_and_losses_on_model():
    x = Input((2,))
    st = Stats(name="st")
    h = st(x)
    model = Model(x, Square(regularize=True, name="sq")(h))
    upd = (st.moving, np.ones(2))
    st.add_update(upd, inputs=x)
    other = Input((2,))
    st.add_update((st.moving, np.zeros(2)), inputs=other)  # not a node of the model
    assert model.updates == [upd]
    model.add_update(lambda: None)
    assert len(model.updates) == 2 and len(model.get_updates_for(None)) == 1
    model.apply_updates()
    np.testing.assert_allclose(st.moving.data, [1.0, 1.0])
    assert len(model.losses) == 1 and isinstance(model.losses[0], KerasTensor)


def test_model_trainable_weights_follow_layer_trainable_in_nested_models():
    x = Input((2,))
    inner = Sequential([Lin(2, input_shape=(2,), name="in_d")], name="inner")
    model = Model(x, Lin(1, name="head")(inner(x)))
    inner.trainable = False
    assert [w.name for w in model.trainable_weights] == ["head/kernel", "head/bias"]
    assert [w.name for w in model.non_trainable_weights] == ["in_d/kernel", "in_d/bias"]
    lines = []
    model.summary(print_fn=lines.append)
    assert "Non-trainable params: 6" in lines


def test_layer_called_on_model_output_list_and_get_config_json_safe():
    import json

    x = Input((2,))
    model = Model(x, [Lin(1, name="p")(x), Lin(2, name="q")(x)])
    outs = model(Input((2,)))
    assert [o.shape for o in outs] == [(None, 1), (None, 2)]
    assert [o.dtype for o in outs] == ["float32", "float32"]
    json.dumps(model.get_config())
