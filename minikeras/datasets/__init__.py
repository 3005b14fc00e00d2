"""Small data sets that ship inside minikeras, so nothing is downloaded at run time.

Each data set is a module with a Keras-style ``load_data()``:

- :mod:`minikeras.datasets.digits`: the UCI 8x8 handwritten digits (1,797 images, 10 classes).
"""

from minikeras.datasets import digits

__all__ = ["digits"]
