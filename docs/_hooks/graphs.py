"""MkDocs hook: draw the library's two graphs at build time, for the home and design pages.

The pictures are made by the library itself, from a small model and a small computation, each
time the site is built, so they always show what the current code draws: the **layer graph**
of a model with a shared layer, one box per call (``plot_model(..., node_view=True)``), and the
**autograd tape** of one neuron with the gradients of its output (``plot_tape``). They are
added to the site as generated files under ``assets/graphs/``; nothing is written into
``docs/``. The pages link to them as ordinary images.
"""

from __future__ import annotations

import numpy as np
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

from minikeras import GradientTape, Input, Model, Tensor, Variable
from minikeras.layers import Dense, concatenate
from minikeras.utils import plot_model, set_random_seed
from minikeras.utils.tape_plot import plot_tape

#: Site path of each drawing; the pages link to these.
LAYER_GRAPH = "assets/graphs/layer_graph.svg"
TAPE = "assets/graphs/tape.svg"


def layer_graph_svg() -> str:
    """The node view of a two-input model whose ``Dense`` layer is shared (called twice)."""
    set_random_seed(0)
    left, right = Input((4,), name="left"), Input((4,), name="right")
    shared = Dense(3, activation="relu", name="shared")
    both = concatenate([shared(left), shared(right)], name="both")
    model = Model([left, right], Dense(1, activation="sigmoid", name="score")(both),
                  name="pair")
    return plot_model(model, to_file=None, show_shapes=True, node_view=True).svg


def tape_svg() -> str:
    """The tape of one neuron, ``tanh(w . x + b)``, with every gradient, top to bottom."""
    x = Tensor(np.array([1.0, 2.0, 3.0]), name="x")
    w = Variable(np.array([0.5, -1.0, 0.25]), name="w")
    b = Variable(np.array(0.1), name="b")
    with GradientTape(persistent=True) as tape:
        y = ((w * x).sum() + b).tanh()
    # four ops, gradients only: short enough to read on a page (values would double the height)
    return plot_tape(y, tape=tape, show_grads=True, rankdir="TB").svg


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the two drawings to the site's files."""
    for path, draw in ((LAYER_GRAPH, layer_graph_svg), (TAPE, tape_svg)):
        files.append(File.generated(config, path, content=draw()))
    return files
