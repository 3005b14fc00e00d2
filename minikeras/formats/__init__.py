"""Model file formats other than minikeras's own ``.npz``: Keras 2 HDF5 and Keras 3 ``.keras``.

This floor sits above :mod:`minikeras.models`: importing it (``import minikeras`` does)
registers the formats there, so ``save_model``/``load_model`` and ``Model.save`` choose
them by file extension: ``.h5`` (and ``.hdf5``) and ``.keras``.
"""

from minikeras import models
from minikeras.formats.keras2_h5 import load_model_h5, save_model_h5
from minikeras.formats.keras3 import load_keras, save_keras

models.register_format(".h5", save_model_h5, load_model_h5)
models.register_format(".hdf5", save_model_h5, load_model_h5)
models.register_format(".keras", save_keras, load_keras)

__all__ = ["load_keras", "load_model_h5", "save_keras", "save_model_h5"]
