"""The models every interop round trip runs on: one per structure, together every layer type."""

import numpy as np

from minikeras import layers as L
from minikeras.models import Model, Sequential

RNG_SEED = 0


def randomize(model, seed=RNG_SEED):
    """Give every weight random values (moving variances positive), so a mix-up shows."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        value = rng.normal(size=w.shape).astype("float32") * 0.5
        if "moving_variance" in w.name:
            value = np.abs(value) + 0.5
        w.assign(value)
    return model


def sequential_mlp():
    return Sequential([L.Dense(8, activation="relu", input_shape=(6,), name="hidden"),
                       L.Dropout(0.3), L.Dense(8, activation="selu"),
                       L.BatchNormalization(), L.Dense(3, activation="softmax")], name="mlp")


def conv_channels_last():
    x = L.Input((9, 9, 3), name="img")
    a = L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
    b = L.SeparableConv2D(4, 3, padding="same", depth_multiplier=2, activation="tanh")(a)
    c = L.DepthwiseConv2D(2, padding="same", depth_multiplier=1)(b)
    d = L.BatchNormalization()(c)
    p1 = L.MaxPooling2D(padding="same")(d)
    p2 = L.AveragePooling2D(padding="same")(d)
    merged = [L.Add()([p1, p2]), L.Subtract()([p1, p2]), L.Multiply()([p1, p2]),
              L.Average()([p1, p2]), L.Maximum()([p1, p2]), L.Minimum()([p1, p2])]
    z = L.ZeroPadding2D(((1, 0), (0, 1)))(L.Concatenate()(merged))
    g = L.Concatenate()([L.GlobalAveragePooling2D()(z), L.GlobalMaxPooling2D()(z)])
    r = L.Permute((2, 1))(L.Reshape((6, 8))(g))
    h = L.Activation("softplus")(L.Conv2D(2, 1, padding="valid")(z))
    y = L.Dense(3, activation="sigmoid")(L.Concatenate()([L.Flatten()(r), L.Flatten()(h)]))
    return Model(x, y, name="conv_cl")


def conv_channels_first():
    x = L.Input((3, 8, 8), name="img_cf")
    a = L.Conv2D(4, 3, padding="same", data_format="channels_first", activation="relu")(x)
    b = L.SeparableConv2D(4, 3, padding="valid", data_format="channels_first")(a)
    c = L.BatchNormalization(axis=1)(b)
    c = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, strides=2,
                          data_format="channels_first")(c)
    c = L.ZeroPadding2D((1, 2), data_format="channels_first")(c)
    d = L.MaxPooling2D(data_format="channels_first")(c)
    e = L.AveragePooling2D(data_format="channels_first")(c)
    f = L.Flatten(data_format="channels_first")(L.Add()([d, e]))
    g = L.GlobalAveragePooling2D(data_format="channels_first")(d)
    h = L.GlobalMaxPooling2D(data_format="channels_first")(e)
    return Model(x, L.Dense(2)(L.Concatenate()([f, g, h])), name="conv_cf")


def shared_multi_io():
    a, b = L.Input((5,), name="a"), L.Input((5,), name="b")
    shared = L.Dense(4, activation="elu", name="shared")
    ha, hb = shared(a), shared(b)
    out1 = L.Dense(2, name="out1")(L.Concatenate()([ha, hb]))
    out2 = L.Dense(1, activation="softsign", name="out2")(L.Subtract()([ha, hb]))
    return Model([a, b], [out1, out2], name="shared_io")


def nested():
    xi = L.Input((6,), name="inner_in")
    inner_model = Model(xi, L.Dense(4, activation="relu6")(L.Dense(5)(xi)), name="inner_f")
    inner_seq = Sequential([L.Dense(4, activation="swish", input_shape=(4,)),
                            L.BatchNormalization()], name="inner_s")
    x = L.Input((6,), name="outer_in")
    y = inner_seq(inner_model(x))
    return Model(x, L.Dense(2)(L.Add()([y, inner_model(x)])), name="nested")


BUILDERS = {"mlp": sequential_mlp, "conv_cl": conv_channels_last,
            "conv_cf": conv_channels_first, "shared_io": shared_multi_io, "nested": nested}


def inputs_for(model, seed=1):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(4, *t.shape[1:])).astype("float32") for t in model.inputs]
    return xs if len(xs) > 1 else xs[0]


def as_list(outputs):
    return [np.asarray(o) for o in outputs] if isinstance(outputs, (list, tuple)) \
        else [np.asarray(outputs)]


def assert_same(got, want):
    got, want = as_list(got), as_list(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
