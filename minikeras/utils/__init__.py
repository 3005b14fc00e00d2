"""Utilities: model summaries, drawing both graphs, random seeds, serialisation helpers."""

from minikeras.utils.np_utils import to_categorical
from minikeras.utils.random import set_random_seed
from minikeras.utils.summary import count_params, print_summary
from minikeras.utils.tape_plot import plot_tape, tape_to_dot
from minikeras.utils.vis_utils import model_to_dot, plot_model

__all__ = [
    "count_params", "model_to_dot", "plot_model", "plot_tape", "print_summary",
    "set_random_seed", "tape_to_dot", "to_categorical",
]
