import os
import sys
from pathlib import Path

import pytest

# interop_models.py sits next to the tests; make it importable however pytest is invoked.
sys.path.insert(0, str(Path(__file__).parent))
# Keras 3 picks its backend at import: JAX on CPU, quiet.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from interop_models import BUILDERS, inputs_for, randomize  # noqa: E402

from minikeras.engine import reset_names  # noqa: E402


@pytest.fixture(scope="session")
def keras():
    import keras

    assert keras.backend.backend() == "jax"
    return keras


@pytest.fixture(scope="session")
def zoo():
    """{name: (model, inputs, reference predictions)}, built once."""
    out = {}
    for name, build in BUILDERS.items():
        reset_names()  # layer names as in a fresh process, whatever ran before in this one
        model = randomize(build())
        x = inputs_for(model)
        out[name] = (model, x, model.predict(x))
    return out
