"""Model file formats other than minikeras's own ``.npz``: Keras 2 HDF5 and Keras 3 ``.keras``.

Importing this package registers them with ``save_model``/``load_model``, which
then choose by file extension: ``.h5`` (and ``.hdf5``) and ``.keras``.
"""

from minikeras.engine import model_formats
from minikeras.formats.keras2_h5 import load_model_h5, save_model_h5
from minikeras.formats.keras3 import load_keras, save_keras

model_formats.register(".h5", save_model_h5, load_model_h5)
model_formats.register(".keras", save_keras, load_keras)

__all__ = ["load_keras", "load_model_h5", "save_keras", "save_model_h5"]
