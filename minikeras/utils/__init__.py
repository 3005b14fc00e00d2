"""Utilities: model summaries, drawing (``plot_model``), random seeds, helpers.

Other parts of minikeras add their names here; optional modules are
imported only if present so a missing one never breaks ``import minikeras``.
"""

from minikeras.utils.summary import count_params, print_summary

__all__ = ["count_params", "print_summary"]

try:
    from minikeras.utils.vis_utils import model_to_dot, plot_model
except ImportError:  # drawing support not installed / not written yet
    pass
else:
    __all__ += ["model_to_dot", "plot_model"]

try:
    from minikeras.utils.random import set_random_seed
except ImportError:
    pass
else:
    __all__ += ["set_random_seed"]
