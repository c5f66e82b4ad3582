"""Model families as training sees them: how to build one from settings, how to fit it.

A fit function takes the unfitted model and the run's ``FitContext``, fills the model's
buffers or trains its weights, and returns a JSON-able summary of what it did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inspector.models import AnomalyModel
from training.fitters.cae import build_cae, fit_cae
from training.fitters.cnn_cluster import build_cnn_cluster, fit_cnn_cluster_context
from training.fitters.context import FitContext
from training.fitters.feature_ae import build_feature_ae, fit_feature_ae
from training.fitters.feature_gan import build_feature_gan, fit_feature_gan
from training.fitters.ganomaly import build_ganomaly, fit_ganomaly
from training.settings import TrainSettings


@dataclass(frozen=True)
class Family:
    """The two things training needs to know about a model family."""

    build: Callable[[TrainSettings], AnomalyModel]
    fit: Callable[[Any, FitContext], dict[str, Any]]
    trained: bool  # gradient-trained through the shared loop (checkpoints, TensorBoard)


FAMILIES: dict[str, Family] = {
    "cnn-cluster": Family(build_cnn_cluster, fit_cnn_cluster_context, trained=False),
    "feature-ae": Family(build_feature_ae, fit_feature_ae, trained=True),
    "cae": Family(build_cae, fit_cae, trained=True),
    "feature-gan": Family(build_feature_gan, fit_feature_gan, trained=True),
    "ganomaly": Family(build_ganomaly, fit_ganomaly, trained=True),
}

__all__ = ["FAMILIES", "Family", "FitContext"]
