"""Forward mode through a whole model: the demo's MobileNet-style network (separable convolutions,
batch normalization in both modes, pooling, dense) and its loss, against the tape's gradient."""

from __future__ import annotations

import numpy as np
import pytest

from minikeras import backend as K
from minikeras import losses
from minikeras.autograd import ForwardAccumulator, GradientTape
from minikeras.demo import build_model


@pytest.mark.parametrize("training", [True, False])
def test_jvp_of_the_loss_along_the_weights_is_the_gradient_times_the_direction(training):
    model = build_model()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, *model.input_shape[1:])).astype(np.float32)
    y = rng.integers(0, model.output_shape[-1], 4)
    weights = model.trainable_weights
    directions = [rng.standard_normal(w.shape).astype(w.dtype) for w in weights]
    with GradientTape() as tape:
        with ForwardAccumulator(weights, directions) as acc:
            loss = K.mean(losses.sparse_categorical_crossentropy(y, model(x, training=training)))
    grads = tape.gradient(loss, weights)
    reverse = sum(np.sum(np.asarray(g, np.float64) * v) for g, v in zip(grads, directions))
    # both sides are exact derivatives, computed in float32 in different orders
    np.testing.assert_allclose(float(acc.jvp(loss)), reverse, rtol=1e-5)
