"""Model families. Importing this package registers every family with the factory."""

from inspector.models import cnn_cluster  # noqa: F401  (registers "cnn-cluster")
from inspector.models.base import AnomalyModel, InferenceBatch
from inspector.models.registry import create_model, list_models, model_class, register_model

__all__ = [
    "AnomalyModel",
    "InferenceBatch",
    "create_model",
    "list_models",
    "model_class",
    "register_model",
]
