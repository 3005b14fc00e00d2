"""Translate model configs between minikeras (Keras 2 keys) and Keras 3, key by key.

Keras 3 renamed or reshaped some of Keras 2's config entries. Every such change
is written down here, both ways:

=============================  ==========================================  ========================
what                           minikeras / Keras 2                         Keras 3
=============================  ==========================================  ========================
input shape (``InputLayer``)   ``batch_input_shape``                       ``batch_shape``
initializer, regularizer,      ``{"class_name", "config"}``                plus ``"module"`` and
constraint                                                                 ``"registered_name"``
Glorot/He/LeCun initializers   ``VarianceScaling`` (mode, distribution)    own classes
                                                                           (``GlorotUniform``, ...)
truncated normal               ``distribution="normal"``                   ``"truncated_normal"``
L1 / L2 regularizers           ``L1L2(l1, l2)``                            ``L1``, ``L2``, ``L1L2``
layer dtype                    absent (float32)                            ``DTypePolicy`` dict
``Conv2D``                     —                                           ``groups`` (1)
global pooling                 —                                           ``keepdims`` (False)
``BatchNormalization``         —                                           ``synchronized``,
                                                                           ``renorm*`` (off)
``Dense``                      —                                           ``quantization_config``,
                                                                           ``lora_*`` (None)
``SeparableConv2D``            ``depthwise_*``/``pointwise_*``, no         same names; Keras 3
                               ``kernel_*`` keys                           refuses ``kernel_*``
functional model               ``"Model"``; ``inbound_nodes`` as lists     ``"Functional"``;
                               ``[[name, node, tensor, kwargs]]``          ``{"args", "kwargs"}``
=============================  ==========================================  ========================

A Keras 3 key that minikeras lacks is accepted only at its neutral value (the
table's parenthesised defaults), since then dropping it changes nothing; any
other value, a ``Lambda`` (Python code), ``hard_sigmoid`` (Keras 3 changed its
formula), or a layer class without a minikeras counterpart raises
:class:`ConfigError` naming the layer and the key.
"""

from __future__ import annotations

import copy
from typing import Any


class ConfigError(ValueError):
    """A config entry with no equivalent on the other side (names layer and key)."""


# Layer classes both sides have, with the same arguments once the table above is applied.
LAYERS = frozenset({
    "Activation", "Add", "Average", "AveragePooling2D", "BatchNormalization", "Concatenate",
    "Conv2D", "Dense", "DepthwiseConv2D", "Dropout", "Flatten", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "InputLayer", "MaxPooling2D", "Maximum", "Minimum", "Multiply",
    "Permute", "Reshape", "SeparableConv2D", "Subtract", "ZeroPadding2D",
})
# Keras 2 spellings minikeras also accepts, and the Keras 3 class each one is.
_ALIASES = {"Convolution2D": "Conv2D", "SeparableConvolution2D": "SeparableConv2D",
            "AvgPool2D": "AveragePooling2D", "MaxPool2D": "MaxPooling2D",
            "GlobalAvgPool2D": "GlobalAveragePooling2D", "GlobalMaxPool2D": "GlobalMaxPooling2D"}

# Keras 3 keys minikeras does not have, with the value that means "as in Keras 2".
_KERAS3_ONLY = {
    "Conv2D": {"groups": 1},
    "Dense": {"quantization_config": None, "lora_rank": None, "lora_alpha": None},
    "BatchNormalization": {"synchronized": False, "renorm": False, "renorm_clipping": None,
                           "renorm_momentum": 0.99},
    "GlobalAveragePooling2D": {"keepdims": False},
    "GlobalMaxPooling2D": {"keepdims": False},
    "InputLayer": {"ragged": False, "optional": False, "sparse": False, "batch_size": None},
    "Dropout": {"noise_shape": None},
}
# Keys that are the base layer's in Keras 3 and are not layer arguments in minikeras.
_KERAS3_BASE = {"dtype", "autocast", "input_dim"}

# Activations with the same name and formula on both sides ("silu" is Keras 3's swish).
_ACTIVATIONS = {"elu", "linear", "relu", "relu6", "selu", "sigmoid", "softmax", "softplus",
                "softsign", "swish", "tanh"}

_VS = "VarianceScaling"
# Keras 3 initializer classes that are a VarianceScaling with fixed arguments.
_VARIANCE_SCALING = {
    "GlorotUniform": (1.0, "fan_avg", "uniform"), "GlorotNormal": (1.0, "fan_avg", "normal"),
    "HeUniform": (2.0, "fan_in", "uniform"), "HeNormal": (2.0, "fan_in", "normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"), "LecunNormal": (1.0, "fan_in", "normal"),
}
_INITIALIZERS = {"Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
                 _VS, "Orthogonal", "Identity"}
_CONSTRAINTS = {"MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm"}


def _where(layer: str, key: str) -> str:
    return f"layer {layer!r}, key {key!r}"


def _k3_object(module: str, class_name: str, config: dict) -> dict:
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": None}


# ---------------------------------------------------------------------------
# minikeras -> Keras 3


def _initializer_to_keras3(obj: Any, layer: str, key: str) -> Any:
    if obj is None:
        return None
    if not isinstance(obj, dict) or obj.get("class_name") not in _INITIALIZERS:
        raise ConfigError(f"{_where(layer, key)}: initializer {obj!r} has no Keras 3 "
                          "counterpart")
    config = dict(obj.get("config") or {})
    if obj["class_name"] == _VS and config.get("distribution") == "normal":
        config["distribution"] = "truncated_normal"
    return _k3_object("keras.initializers", obj["class_name"], config)


def _regularizer_to_keras3(obj: Any, layer: str, key: str) -> Any:
    if obj is None:
        return None
    if not isinstance(obj, dict) or obj.get("class_name") != "L1L2":
        raise ConfigError(f"{_where(layer, key)}: regularizer {obj!r} has no Keras 3 "
                          "counterpart")
    config = obj.get("config") or {}
    return _k3_object("keras.regularizers", "L1L2",
                      {"l1": float(config.get("l1", 0.0)), "l2": float(config.get("l2", 0.0))})


def _constraint_to_keras3(obj: Any, layer: str, key: str) -> Any:
    if obj is None:
        return None
    if not isinstance(obj, dict) or obj.get("class_name") not in _CONSTRAINTS:
        raise ConfigError(f"{_where(layer, key)}: constraint {obj!r} has no Keras 3 "
                          "counterpart")
    return _k3_object("keras.constraints", obj["class_name"], dict(obj.get("config") or {}))


def _activation_check(value: Any, layer: str, key: str) -> str:
    if value == "hard_sigmoid":
        raise ConfigError(f"{_where(layer, key)}: 'hard_sigmoid' is clip(0.2x+0.5) in "
                          "minikeras and Keras 2 but relu6(x+3)/6 in Keras 3; no equivalent")
    if value not in _ACTIVATIONS:
        raise ConfigError(f"{_where(layer, key)}: activation {value!r} has no Keras 3 "
                          "counterpart with the same formula")
    return value


def _layer_config_to_keras3(class_name: str, config: dict, layer: str) -> dict:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key.endswith("_initializer"):
            out[key] = _initializer_to_keras3(value, layer, key)
        elif key.endswith("_regularizer"):
            out[key] = _regularizer_to_keras3(value, layer, key)
        elif key.endswith("_constraint"):
            out[key] = _constraint_to_keras3(value, layer, key)
        elif key == "activation":
            out[key] = _activation_check(value, layer, key)
        elif key == "batch_input_shape" and class_name == "InputLayer":
            out["batch_shape"] = value
        elif key == "batch_input_shape" or key == "input_dim":
            continue  # a Sequential's first layer: Keras 3 gets an InputLayer instead
        else:
            out[key] = value
    # Keras 3's own additions (groups, keepdims, renorm, ...) are left out: every Keras 3
    # release defaults them to Keras 2's behaviour, and older releases lack some of them
    if class_name != "InputLayer":
        out["dtype"] = "float32"
    return out


def _shift_nested_model_nodes(layers: list, tensors: list, delta: int) -> None:
    """Renumber node references to nested models, in place.

    Keras 2 (and minikeras) count a nested model's own input-to-output node as
    its node 0, so the first call of a nested model is its node 1. Keras 3
    does not (its first call is node 0), so the numbers differ by one.
    """
    sequential = {item["name"] for item in layers
                  if item["class_name"] in ("Sequential", "Functional", "Model")}

    def shift(ref: list) -> None:
        if ref and ref[0] in sequential:
            ref[1] += delta

    for item in layers:
        for node in item.get("inbound_nodes", []):
            for ref in node:
                shift(ref)
    for ref in tensors:
        shift(ref)


def _model_to_keras3(class_name: str, config: dict, layer: str) -> dict:
    layers = []
    if class_name == "Sequential":
        items = config["layers"]
        first = items[0]["config"] if items else {}
        shape = first.get("batch_input_shape")
        if shape is not None and items[0]["class_name"] != "InputLayer":
            layers.append(to_keras3({"class_name": "InputLayer", "config": {
                "batch_input_shape": shape, "dtype": first.get("dtype") or "float32",
                "name": f"{config['name']}_input"}}))
        layers += [to_keras3(item) for item in items]
        return {"name": config["name"], "trainable": True, "layers": layers}
    for item in config["layers"]:
        converted = to_keras3(item)
        converted["name"] = item["name"]
        converted["inbound_nodes"] = item.get("inbound_nodes", [])
        layers.append(converted)
    inputs, outputs = config["input_layers"], config["output_layers"]
    _shift_nested_model_nodes(layers, [*inputs, *outputs], -1)
    # Keras 3 writes one tensor as a bare triple, so a one-input model takes a bare array
    return {"name": config["name"], "trainable": True, "layers": layers,
            "input_layers": inputs[0] if len(inputs) == 1 else inputs,
            "output_layers": outputs[0] if len(outputs) == 1 else outputs}


def to_keras3(entry: dict) -> dict:
    """Turn one minikeras ``{'class_name', 'config'}`` (a layer or a model) into Keras 3's.

    Args:
        entry: A layer or model config as ``model.get_config()`` entries are.

    Returns:
        The Keras 3 serialisation (``module``, ``class_name``, ``config``, ``registered_name``).

    Raises:
        ConfigError: If a layer or a key has no Keras 3 equivalent.
    """
    class_name = _ALIASES.get(entry["class_name"], entry["class_name"])
    config = entry.get("config", {})
    layer = config.get("name", "?") if isinstance(config, dict) else "?"
    if class_name in ("Model", "Functional", "Sequential"):
        k3_name = "Sequential" if class_name == "Sequential" else "Functional"
        module = "keras" if k3_name == "Sequential" else "keras.src.models.functional"
        out = _k3_object(module, k3_name, _model_to_keras3(class_name, config, layer))
        if k3_name == "Functional":
            out["registered_name"] = "Functional"
        return out
    if class_name == "Lambda":
        raise ConfigError(f"layer {layer!r} (Lambda), key 'function': a Lambda holds Python "
                          "code, which a Keras 3 file cannot carry safely; rewrite it as a layer")
    if class_name not in LAYERS:
        raise ConfigError(f"layer {layer!r}, key 'class_name': {class_name!r} has no "
                          "registered Keras 3 counterpart")
    return _k3_object("keras.layers", class_name,
                      _layer_config_to_keras3(class_name, config, layer))


# ---------------------------------------------------------------------------
# Keras 3 -> minikeras


def _initializer_from_keras3(obj: Any, layer: str, key: str) -> Any:
    if obj is None or isinstance(obj, str):
        return obj
    name = obj.get("class_name") if isinstance(obj, dict) else None
    config = dict(obj.get("config") or {}) if isinstance(obj, dict) else {}
    for extra in ("input_axes", "output_axes"):  # Keras 3.1x additions, None = Keras 2's
        if config.pop(extra, None) is not None:
            raise ConfigError(f"{_where(layer, key)}: initializer option {extra!r} has no "
                              "minikeras equivalent")
    if name in _VARIANCE_SCALING:
        scale, mode, distribution = _VARIANCE_SCALING[name]
        return {"class_name": _VS, "config": {"scale": scale, "mode": mode,
                                              "distribution": distribution,
                                              "seed": config.get("seed")}}
    if name not in _INITIALIZERS:
        raise ConfigError(f"{_where(layer, key)}: initializer {name!r} has no minikeras "
                          "counterpart")
    if name == _VS:
        dist = config.get("distribution")
        if dist == "truncated_normal":
            config["distribution"] = "normal"
        elif dist not in ("uniform", "normal"):
            raise ConfigError(f"{_where(layer, key)}: VarianceScaling distribution {dist!r} "
                              "has no minikeras counterpart")
    return {"class_name": name, "config": config}


def _regularizer_from_keras3(obj: Any, layer: str, key: str) -> Any:
    if obj is None:
        return None
    name = obj.get("class_name") if isinstance(obj, dict) else obj
    config = obj.get("config") or {} if isinstance(obj, dict) else {}
    if name in ("L1", "L2", "L1L2"):
        return {"class_name": "L1L2", "config": {"l1": float(config.get("l1", 0.0)),
                                                 "l2": float(config.get("l2", 0.0))}}
    raise ConfigError(f"{_where(layer, key)}: regularizer {name!r} has no minikeras counterpart")


def _constraint_from_keras3(obj: Any, layer: str, key: str) -> Any:
    if obj is None:
        return None
    name = obj.get("class_name") if isinstance(obj, dict) else obj
    if name not in _CONSTRAINTS:
        raise ConfigError(f"{_where(layer, key)}: constraint {name!r} has no minikeras "
                          "counterpart")
    return {"class_name": name, "config": dict(obj.get("config") or {})}


def _dtype_from_keras3(value: Any, layer: str) -> str:
    name = value.get("config", {}).get("name") if isinstance(value, dict) else value
    if name not in (None, "float32"):
        raise ConfigError(f"{_where(layer, 'dtype')}: dtype policy {name!r}; minikeras "
                          "computes in float32 only")
    return "float32"


def _activation_from_keras3(value: Any, layer: str, key: str, keras2: bool) -> str:
    if value == "silu":
        return "swish"
    if not isinstance(value, str):
        raise ConfigError(f"{_where(layer, key)}: activation {value!r} is not a built-in "
                          "name; no minikeras counterpart")
    if keras2 and value == "hard_sigmoid":  # a Keras 2 file means Keras 2's formula, ours
        return value
    return _activation_check(value, layer, key)


def _layer_config_from_keras3(class_name: str, config: dict, layer: str, keras2: bool) -> dict:
    out: dict[str, Any] = {}
    extra = _KERAS3_ONLY.get(class_name, {})
    for key, value in config.items():
        if key in extra:
            if value != extra[key]:
                raise ConfigError(f"{_where(layer, key)}: value {value!r} has no minikeras "
                                  f"equivalent (only {extra[key]!r} does)")
            continue
        if key == "dtype":
            dtype = _dtype_from_keras3(value, layer)
            if class_name == "InputLayer":
                out["dtype"] = dtype
        elif key.endswith("_initializer"):
            out[key] = _initializer_from_keras3(value, layer, key)
        elif key.endswith("_regularizer"):
            out[key] = _regularizer_from_keras3(value, layer, key)
        elif key.endswith("_constraint"):
            out[key] = _constraint_from_keras3(value, layer, key)
        elif key == "activation":
            out[key] = _activation_from_keras3(value, layer, key, keras2)
        elif key == "batch_shape" and class_name == "InputLayer":
            out["batch_input_shape"] = value
        elif key == "axis" and class_name == "BatchNormalization" and isinstance(value, list):
            if len(value) != 1:
                raise ConfigError(f"{_where(layer, key)}: normalising over several axes "
                                  f"({value}) has no minikeras equivalent")
            out[key] = int(value[0])  # tf.keras 2 writes the built layer's axis as a list
        elif key in _KERAS3_BASE:
            continue
        else:
            out[key] = value
    return out


def _history(value: Any, found: list) -> None:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        found.append(list(value["config"]["keras_history"]))
    elif isinstance(value, (list, tuple)):
        for v in value:
            _history(v, found)


def _node_from_keras3(node: Any, layer: str) -> list:
    if isinstance(node, list):  # already Keras 2's form (Keras 3 reads both)
        return node
    tensors: list = []
    _history(node.get("args", []), tensors)
    kwargs = {k: v for k, v in (node.get("kwargs") or {}).items() if v is not None}
    if kwargs:
        raise ConfigError(f"{_where(layer, 'inbound_nodes')}: call arguments {sorted(kwargs)} "
                          "have no minikeras equivalent")
    return [[name, node_index, tensor_index, {}] for name, node_index, tensor_index in tensors]


def _tensor_list(value: Any, layer: str, key: str) -> list:
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, list) and len(v) == 3 for v in value):
        return value
    raise ConfigError(f"{_where(layer, key)}: only a tensor or a list of tensors can be "
                      f"mapped, got {str(value)[:120]}")


def _model_from_keras3(class_name: str, config: dict, layer: str, keras2: bool) -> dict:
    if class_name == "Sequential":
        return {"name": config.get("name"),
                "layers": [from_keras3(item, keras2) for item in config["layers"]]}
    layers = []
    for item in config["layers"]:
        converted = from_keras3(item, keras2)
        name = item.get("name") or converted["config"].get("name")
        converted["name"] = name
        converted["inbound_nodes"] = [_node_from_keras3(n, name)
                                      for n in item.get("inbound_nodes", [])]
        layers.append(converted)
    inputs = _tensor_list(config["input_layers"], layer, "input_layers")
    outputs = _tensor_list(config["output_layers"], layer, "output_layers")
    if not keras2:  # a Keras 2 file numbers nested models' nodes as minikeras does
        _shift_nested_model_nodes(layers, [*inputs, *outputs], +1)
    return {"name": config.get("name"), "layers": layers, "input_layers": inputs,
            "output_layers": outputs}


def from_keras3(entry: dict, keras2: bool = False) -> dict:
    """Turn one Keras 3 serialised layer or model into a minikeras ``{'class_name', 'config'}``.

    Also reads the configs of tf.keras 2 (``keras2=True``), which already use
    some of Keras 3's spellings (``GlorotUniform``, ``L2``, ``groups``,
    ``keepdims``, ``Functional``) but Keras 2's node numbering and formulas.

    Args:
        entry: A Keras 3 ``config.json`` (or an entry of its ``layers``).
        keras2: The config comes from a Keras 2 file (keep its node numbering and
            its ``hard_sigmoid``).

    Returns:
        A config ``minikeras.models.model_from_config`` (or ``layers.deserialize``) accepts.

    Raises:
        ConfigError: If a layer or a key has no minikeras equivalent, or the entry is malformed.
    """
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ConfigError(f"expected a {{'class_name', 'config'}} object, got "
                          f"{str(entry)[:120]}")
    entry = copy.deepcopy(entry)
    class_name = entry["class_name"]
    config = entry.get("config")
    if class_name == "Sequential" and isinstance(config, list):
        config = {"layers": config}  # Keras 2.0/2.1 wrote a Sequential as its list of layers
    if not isinstance(config, dict):
        raise ConfigError(f"layer of class {class_name!r}, key 'config': expected an object, "
                          f"got {str(config)[:120]}")
    layer = config.get("name", "?")
    try:
        if class_name in ("Functional", "Model", "Sequential"):
            target = "Sequential" if class_name == "Sequential" else "Model"
            return {"class_name": target,
                    "config": _model_from_keras3(class_name, config, layer, keras2)}
        if class_name == "Lambda":
            raise ConfigError(f"layer {layer!r} (Lambda), key 'function': a Lambda holds "
                              "Python code; minikeras will not load code from a file")
        if class_name not in LAYERS:
            raise ConfigError(f"layer {layer!r}, key 'class_name': {class_name!r} has no "
                              "minikeras counterpart")
        return {"class_name": class_name,
                "config": _layer_config_from_keras3(class_name, config, layer, keras2)}
    except KeyError as e:
        raise ConfigError(f"layer {layer!r}: missing key {e}") from None
