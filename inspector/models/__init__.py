"""Model families. Importing this package registers every family with the factory."""

from inspector.models import cae, cnn_cluster, feature_ae, feature_gan, ganomaly  # noqa: F401  (register the families)
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
