"""Export a minikeras model to formats other engines run: ``to_onnx``.

Example:
    >>> from minikeras.export import to_onnx
    >>> to_onnx(model, "digits.onnx")   # then onnxruntime.InferenceSession("digits.onnx")
"""

from minikeras.export.onnx import to_onnx

__all__ = ["to_onnx"]
