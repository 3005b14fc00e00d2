"""Keras 2.0.8's ``tests/keras/utils/vis_utils_test.py``, ported to minikeras.

Keras skipped this test on Python 3 (pydot-ng); here it runs everywhere: with the
system Graphviz ``dot`` when it is installed (CI's system_dot step), else with the
bundled WebAssembly Graphviz and a PNG rasteriser. The second model of Keras's test (``LSTM`` and
``TimeDistributed``) is left out: minikeras has no such layers; see
``README.md``.
"""

import os

from minikeras.layers import Conv2D, Dense, Flatten
from minikeras.models import Sequential
from minikeras.utils import vis_utils


def test_plot_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = Sequential()
    model.add(Conv2D(filters=2, kernel_size=(2, 3), input_shape=(3, 5, 5), name='conv'))
    model.add(Flatten(name='flat'))
    model.add(Dense(5, name='dense1'))
    vis_utils.plot_model(model, to_file='model1.png', show_layer_names=False)
    assert open('model1.png', 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
    os.remove('model1.png')
