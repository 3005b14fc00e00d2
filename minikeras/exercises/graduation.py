"""Checks for notebook 11, graduation: a Keras 3 config key, ONNX pads, a file for each reader.

Each check tests the student's answer against what the library does with real files and real
readers: a Keras 2 ``InputLayer`` config against the translation minikeras writes into every
``.keras`` file (:func:`minikeras.formats.keras3_config.to_keras3`); ONNX ``pads`` against the
explicit pads of minikeras's kernels (which :func:`minikeras.export.to_onnx` writes), then
through an ONNX Runtime ``Conv`` against ``Conv2D(padding="same")``; and a saved file by
opening it with the reader it was meant for (minikeras, Keras 2's HDF5 reader, Keras 3,
ONNX Runtime) and comparing its predictions.

Keras, h5py, onnx and ONNX Runtime are optional (``minikeras[interop]``): they are imported by
the checks that use them, when they run, never when this module is imported. Keras is used
only once its backend is chosen (``KERAS_BACKEND`` set, or Keras already imported), since
importing it otherwise would try to load TensorFlow.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np

from minikeras.engine import Input, Model
from minikeras.exercises.core import (
    CheckFailure,
    CheckResult,
    call_answer,
    compare_arrays,
    run_check,
)
from minikeras.formats.keras3_config import to_keras3
from minikeras.generic_utils import optional_module
from minikeras.kernels import explicit_pads
from minikeras.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    GlobalAveragePooling2D,
    SeparableConv2D,
)
from minikeras.models import load_model
from minikeras.optimizers import Adam

__all__ = ["check_keras3_input_config", "check_onnx_same_pads", "check_save_for_reader"]


def _optional(name: str) -> ModuleType | None:
    """The optional module ``name``, or ``None`` if it is missing: the check does without it.

    Keras counts as missing until its backend is chosen (``KERAS_BACKEND``), since importing
    it without one would try to load TensorFlow.
    """
    if name == "keras" and "keras" not in sys.modules and not os.environ.get("KERAS_BACKEND"):
        return None
    try:
        return optional_module(name, "this check", "minikeras[interop]")
    except ImportError:
        return None


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples become lists), to compare configs as files do."""
    return json.loads(json.dumps(value))


# ------------------------------------------------------------------------------- 11.1
def _input_configs() -> list[tuple[str, dict]]:
    """Configs of real minikeras ``Input`` layers, as ``model.get_config()`` has them."""
    cases = [("Input((8, 8, 1), name='digit')", dict(shape=(8, 8, 1), name="digit")),
             ("Input((3,), name='features')", dict(shape=(3,), name="features")),
             ("Input(batch_shape=(4, 5), name='fixed_batch')",
              dict(batch_shape=(4, 5), name="fixed_batch")),
             ("Input((None, 7), name='sequence')", dict(shape=(None, 7), name="sequence"))]
    out = []
    for text, kwargs in cases:
        tensor = Input(**kwargs)
        out.append((text, tensor._keras_history[0].get_config()))
    return out


def _input_config_tests(to_keras3_input: Callable[[dict], dict]) -> str:
    configs = _input_configs()
    for text, config in configs:
        given = copy.deepcopy(config)
        got = call_answer(to_keras3_input, given, what="your function")
        if given != config:
            raise CheckFailure(
                f"your function changed the config it was given, for {text}: it is now "
                f"{given}",
                hint="build a new dict and return it: the caller still has the Keras 2 config "
                     "and may need it (to write a .h5 file next to the .keras one)")
        if not isinstance(got, dict):
            raise CheckFailure(f"for {text} your function returned {got!r}, not a dict",
                               hint="return the Keras 3 config, a dict of keys and values")
        expected = _plain(to_keras3({"class_name": "InputLayer", "config": config})["config"])
        got = _plain(got)
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        if missing or extra:
            raise CheckFailure(
                f"for {text} (Keras 2 config {_plain(config)}): expected the keys "
                f"{sorted(expected)}, got {sorted(got)} (missing {missing}, not in Keras 3's "
                f"config {extra})",
                hint="Keras 3 calls the whole input shape, batch axis included, by another "
                     "name; the value and every other key stay as they are")
        for key in expected:
            if got[key] != expected[key]:
                raise CheckFailure(
                    f"for {text}: key {key!r} is {got[key]!r}, expected {expected[key]!r}",
                    hint="only the key's name changed between Keras 2 and Keras 3: keep the "
                         "value, with the batch axis (None when the batch size is free)")
    return (f"{len(configs)} Input layers' configs against the ones minikeras writes into a "
            ".keras file")


def check_keras3_input_config(to_keras3_input: Callable[[dict], dict]) -> CheckResult:
    """Check a function turning a Keras 2 ``InputLayer`` config into its Keras 3 form.

    The reference is :func:`minikeras.formats.keras3_config.to_keras3`, which minikeras uses
    for every ``.keras`` file it writes; the configs are those of real ``Input`` layers
    (several shapes, a fixed batch size), and the function must not change its argument.

    Args:
        to_keras3_input: The student's function of a config dict, returning a new dict.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("a config key Keras 3 renamed", _input_config_tests, to_keras3_input)


# ------------------------------------------------------------------------------- 11.2
def _pads_cases() -> list[tuple[tuple[int, int], ...]]:
    """Input sizes (odd, even, non-square) x kernels 1-5 x strides 1-3 x dilations 1-2."""
    cases = []
    for hw in ((5, 5), (6, 7), (8, 8), (7, 4)):
        for k in range(1, 6):
            for s in (1, 2, 3):
                for d in (1, 2):
                    # the width gets other numbers than the height, so that mixed-up axes show
                    cases.append((hw, (k, max(1, 6 - k)), (s, s % 3 + 1), (d, 3 - d)))
    return cases


def _onnx_pads(hw: tuple, kernel: tuple, strides: tuple, dilation: tuple) -> list[int]:
    (top, bottom), (left, right) = explicit_pads("same", hw, kernel, strides, dilation)
    return [top, left, bottom, right]


def _pads_hint(got: list[int], expected: list[int]) -> str:
    top, left, bottom, right = expected
    if got == [top, bottom, left, right]:
        return ("ONNX lists where every axis begins, then where every axis ends: "
                "[top, left, bottom, right], not the (before, after) pair of each axis in turn")
    if got == [bottom, right, top, left]:
        return ("TensorFlow's 'same' puts the odd pixel at the end of each axis (bottom, right); "
                "ONNX calls that SAME_UPPER, and SAME_LOWER puts it at the beginning")
    if [got[0] + got[2], got[1] + got[3]] != [top + bottom, left + right]:
        return ("along each axis the total is what the last window needs beyond the input: "
                "(ceil(n / stride) - 1) * stride + (k - 1) * dilation + 1 - n, never negative; "
                "the height uses the first number of each pair, the width the second")
    return "half of each axis's total goes at its beginning (rounded down), the rest at its end"


def _run_onnx_conv(ort: ModuleType, onnx: ModuleType, x: np.ndarray, w: np.ndarray,
                   pads: list[int], strides: tuple, dilation: tuple) -> np.ndarray:
    """One ONNX ``Conv`` (NCHW, weights OIHW) with explicit ``pads``, run by ONNX Runtime."""
    helper = onnx.helper
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=pads, strides=list(strides),
                            dilations=list(dilation))
    graph = helper.make_graph(
        [node], "conv", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        initializer=[onnx.numpy_helper.from_array(w, "w")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _onnx_pads_tests(onnx_same_pads: Callable) -> str:
    cases = _pads_cases()
    for hw, kernel, strides, dilation in cases:
        on = f"input {hw}, kernel {kernel}, strides {strides}, dilation {dilation}"
        got = call_answer(onnx_same_pads, hw, kernel, strides, dilation,
                          what=f"onnx_same_pads{(hw, kernel, strides, dilation)}")
        try:
            got = [int(v) for v in got]
        except (TypeError, ValueError):
            got = None
        expected = _onnx_pads(hw, kernel, strides, dilation)
        if got is None or len(got) != 4:
            raise CheckFailure(f"{on}: expected 4 whole numbers [top, left, bottom, right], got "
                               f"{got!r}", hint="return a list of four ints, as ONNX's Conv "
                                                "takes them in its `pads` attribute")
        if got != expected:
            raise CheckFailure(f"{on}: ONNX pads [top, left, bottom, right] expected {expected}, "
                               f"got {got}", hint=_pads_hint(got, expected))
    detail = f"{len(cases)} cases against the pads minikeras's kernels and to_onnx use"
    ort, onnx = _optional("onnxruntime"), _optional("onnx")
    if ort is None or onnx is None:
        return detail + " (install minikeras[interop] to run them in ONNX Runtime too)"
    rng = np.random.default_rng(11)
    runs = [((7, 6), (3, 2), (2, 1), (1, 1)), ((6, 5), (3, 3), (1, 1), (2, 1)),
            ((8, 7), (4, 5), (3, 2), (1, 1)), ((5, 8), (2, 3), (1, 1), (1, 2))]
    for hw, kernel, strides, dilation in runs:
        x = rng.standard_normal((1, *hw, 2)).astype(np.float32)
        w = rng.standard_normal((*kernel, 2, 3)).astype(np.float32)
        layer = Conv2D(3, kernel, strides=strides, dilation_rate=dilation, padding="same",
                       use_bias=False)
        layer.build(x.shape)
        layer.set_weights([w])
        expected = layer(x).numpy()
        pads = [int(v) for v in onnx_same_pads(hw, kernel, strides, dilation)]
        got = _run_onnx_conv(ort, onnx, x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1),
                             pads, strides, dilation).transpose(0, 2, 3, 1)
        compare_arrays(got, expected, "ONNX Runtime's Conv with your pads",
                       on=f"input {hw}, kernel {kernel}, strides {strides}, dilation "
                          f"{dilation} (against Conv2D(padding='same'))", rtol=1e-4, atol=1e-5,
                       hint="the pads decide which input pixels each window sees: the same "
                            "numbers in another order shift the image")
    return detail + f", and {len(runs)} convolutions run by ONNX Runtime with your pads " \
                    "equal to Conv2D(padding='same')"


def check_onnx_same_pads(onnx_same_pads: Callable) -> CheckResult:
    """Check ``onnx_same_pads(input_hw, kernel_hw, strides, dilation)``, ONNX's "same" pads.

    The answer is TensorFlow's ``"same"`` padding written as ONNX ``pads``,
    ``[top, left, bottom, right]``.

    The reference is :func:`minikeras.kernels.explicit_pads` (what the kernels and
    :func:`minikeras.export.to_onnx` use) on 120 cases: odd and even, square and non-square
    inputs, kernels 1 to 5, strides 1 to 3, dilations 1 and 2. When ONNX Runtime is installed,
    a few ``Conv`` nodes with the student's pads then run in it, against
    ``Conv2D(padding="same")``.

    Args:
        onnx_same_pads: The student's function of four ``(height, width)`` pairs, returning
            four ints.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("'same' padding as ONNX pads", _onnx_pads_tests, onnx_same_pads)


# ------------------------------------------------------------------------------- 11.3
#: The readers the exercise names, in the order the check tries them.
READERS = ("minikeras", "Keras 2", "Keras 3", "ONNX Runtime")


def _small_trained_model() -> tuple[Any, np.ndarray]:
    """A compiled model with optimizer state (two Adam steps), and 8 images to predict."""
    rng = np.random.default_rng(3)
    images = rng.random((8, 6, 6, 1)).astype(np.float32)
    inputs = Input((6, 6, 1), name="image")
    x = SeparableConv2D(4, 3, padding="same", activation="relu", name="sep")(inputs)
    x = BatchNormalization(momentum=0.9, name="bn")(x)
    x = GlobalAveragePooling2D(name="pool")(x)
    model = Model(inputs, Dense(3, activation="softmax", name="classes")(x), name="small")
    model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    model.fit(images, np.arange(8) % 3, epochs=1, batch_size=4, verbose=0)
    return model, images


def _kind(path: str) -> str:
    """What the file is, from its first bytes (not from its name)."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head == b"\x89HDF\r\n\x1a\n":
        return "an HDF5 file (Keras 2's format)"
    if head[:4] == b"PK\x03\x04":
        names = zipfile.ZipFile(path).namelist()
        if "config.json" in names:
            return "a zip archive with config.json (Keras 3's format)"
        if any(name.endswith(".npy") for name in names):
            return "a numpy .npz archive (minikeras's own format)"
        return "a zip archive"
    return "a protobuf or other binary file (an ONNX graph is one)"


def _same_predictions(got: Any, model: Any, images: np.ndarray, reader: str, path: str) -> None:
    compare_arrays(np.asarray(got), model.predict(images), f"what {reader} predicts",
                   on=f"8 images, from {os.path.basename(path)}", rtol=1e-4, atol=1e-5,
                   hint="save the trained model itself, with its weights")


def _optimizer_steps(optimizer: Any) -> int:
    steps = getattr(optimizer, "iterations", 0)
    return int(np.asarray(getattr(steps, "value", steps)))


def _read_minikeras(path: str, model: Any, images: np.ndarray) -> None:
    try:
        loaded = load_model(path)
    except Exception as err:  # noqa: BLE001 - the reader's refusal is the verdict
        raise CheckFailure(
            f"minikeras's load_model could not read {os.path.basename(path)}, "
            f"{_kind(path)}: {type(err).__name__}: {err}",
            hint="minikeras reads the files model.save writes (its own .npz, and the .h5 and "
                 ".keras it shares with Keras); an exported ONNX graph is only for running"
        ) from None
    _same_predictions(loaded.predict(images), model, images, "minikeras", path)
    if _optimizer_steps(loaded.optimizer) != _optimizer_steps(model.optimizer):
        raise CheckFailure(f"minikeras read {os.path.basename(path)} but the optimizer starts "
                           "over", hint="save the whole model, optimizer included")


def _read_keras2(path: str, model: Any, images: np.ndarray) -> None:
    h5py, keras = _optional("h5py"), _optional("keras")
    if h5py is None:
        raise CheckFailure("this check needs h5py to read Keras 2 files",
                           hint='pip install "minikeras[interop]"')
    if not h5py.is_hdf5(path):
        raise CheckFailure(
            f"tf.keras 2's load_model reads HDF5 files only, and {os.path.basename(path)} is "
            f"{_kind(path)}",
            hint="the extension you give model.save chooses the format: pick the one Keras 2 "
                 "wrote itself")
    with h5py.File(path, "r") as f:
        # what tf.keras 2's load_model looks for: the architecture, then the weights
        if "model_config" not in f.attrs or "model_weights" not in f:
            raise CheckFailure(
                f"{os.path.basename(path)} is HDF5 but not a Keras 2 model file (attributes "
                f"{sorted(f.attrs)}, groups {sorted(f)}): the weights alone, without the "
                "architecture",
                hint="save the model (architecture, weights, optimizer), not only its weights")
    if keras is not None:
        # Keras 3's reader of Keras 2 files is tf.keras 2's own HDF5 reader, kept for them
        loaded = keras.saving.load_model(path)
        _same_predictions(loaded.predict(images, verbose=0), model, images,
                          "Keras 3's reader of Keras 2 files", path)


def _read_keras3(path: str, model: Any, images: np.ndarray) -> None:
    kind = _kind(path)
    if "Keras 3" not in kind:
        raise CheckFailure(
            f"Keras 3 reads its own .keras archives; {os.path.basename(path)} is {kind}, which "
            "Keras 3 opens, if at all, only through its legacy reader for old Keras 2 files",
            hint="Keras 3's own file is a zip of config.json (in Keras 3's keys), metadata and "
                 "the weights; the extension you give model.save chooses it")
    keras = _optional("keras")
    if keras is None:
        return
    try:
        loaded = keras.saving.load_model(path)
    except Exception as err:  # noqa: BLE001 - the reader's refusal is the verdict
        raise CheckFailure(
            f"keras.saving.load_model({os.path.basename(path)!r}) raised "
            f"{type(err).__name__}: {err}",
            hint="Keras 3 chooses its reader by the file's extension too") from None
    _same_predictions(loaded.predict(images, verbose=0), model, images, "Keras 3", path)
    if _optimizer_steps(loaded.optimizer) != _optimizer_steps(model.optimizer):
        raise CheckFailure(f"Keras 3 read {os.path.basename(path)} but its optimizer starts "
                           "over", hint="save the whole model, optimizer included")


def _read_onnx(path: str, model: Any, images: np.ndarray) -> None:
    ort = _optional("onnxruntime")
    if ort is None:
        raise CheckFailure("this check needs ONNX Runtime",
                           hint='pip install "minikeras[interop]"')
    try:
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - the reader's refusal is the verdict
        message = str(err).strip().splitlines()[0][:200]
        raise CheckFailure(
            f"ONNX Runtime could not read {os.path.basename(path)}, {_kind(path)}: {message}",
            hint="model.save chooses a format by the extension and writes minikeras's .npz "
                 "for one it does not know; ONNX is not a save format but an export, a graph "
                 "of standard operators (minikeras.export)") from None
    name = session.get_inputs()[0].name
    _same_predictions(session.run(None, {name: images})[0], model, images, "ONNX Runtime", path)


@contextlib.contextmanager
def _quiet_keras() -> Iterator[None]:
    """Hide Keras's warnings while the check loads files: they are not the student's business.

    (An optimizer argument Keras 3 ignores, metrics it builds later.)
    """
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        absl.setLevel(level)


_READ = {"minikeras": _read_minikeras, "Keras 2": _read_keras2, "Keras 3": _read_keras3,
         "ONNX Runtime": _read_onnx}


def _save_for_tests(save_for: Callable[[Any, str, str], str]) -> str:
    model, images = _small_trained_model()
    keras = _optional("keras")
    with tempfile.TemporaryDirectory(prefix="minikeras-check-") as folder:
        for i, reader in enumerate(READERS):
            stem = os.path.join(folder, f"model_{i}")
            path = call_answer(save_for, model, reader, stem,
                               what=f"save_for(model, {reader!r}, {stem!r})")
            if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
                raise CheckFailure(
                    f"for {reader!r} save_for returned {path!r}, which is not a file it wrote",
                    hint="return the path of the file you saved: the stem plus the extension")
            path = os.fspath(path)
            with _quiet_keras():
                _READ[reader](path, model, images)
    if keras is None:
        return ("each file opened by its reader (Keras itself was not used: set KERAS_BACKEND "
                "and install minikeras[interop] to load the files in Keras 3 too)")
    return "each file opened by its reader, with the same predictions: " + ", ".join(READERS)


def check_save_for_reader(save_for: Callable[[Any, str, str], str]) -> CheckResult:
    """Check ``save_for(model, reader, stem)``: save a model so that ``reader`` can open it.

    The readers are ``"minikeras"``, ``"Keras 2"`` (tf.keras 2's HDF5 reader), ``"Keras 3"``
    and ``"ONNX Runtime"``. The check trains a small model, lets the student's function save
    it for each reader, then opens each file with that reader (``load_model``, h5py and Keras
    3's reader of Keras 2 files, ``keras.saving.load_model``, ``onnxruntime.InferenceSession``)
    and compares the predictions (and the optimizer's step count, for the readers that train).
    Keras is used when its backend is chosen (``KERAS_BACKEND``); the notebook chooses JAX.

    Args:
        save_for: The student's function of a model, a reader's name and a path without
            extension; returns the path of the file it wrote.

    Returns:
        The check's result (printed as a verdict).
    """
    return run_check("which file for which reader", _save_for_tests, save_for)
