"""Training: ``compile``, ``fit``, ``evaluate``, ``predict`` and the batch methods.

``TrainingMixin`` is mixed into :class:`minikeras.engine.model.Model`.
"""


class TrainingMixin:
    """compile/fit/evaluate/predict for models (being written)."""
