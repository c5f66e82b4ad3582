"""Training the feature autoencoder on cached backbone features (see ``features``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from inspector.models.feature_ae import FeatureAEModel
from training.fitters.context import (
    FitContext,
    backbone_config,
    denormalise,
    good_part_level,
    map_picture,
    run_task,
)
from training.fitters.features import cached_feature_sources
from training.fitters.rarity import split_weights
from training.settings import TrainSettings


def build_feature_ae(s: TrainSettings) -> FeatureAEModel:
    return FeatureAEModel(
        backbone=backbone_config(s),
        input_size=(s.input_size, s.input_size),
        aggregation=s.aggregation,
        hidden=s.hidden,
        latent_dim=s.latent_dim,
        kernel_size=s.kernel_size,
        context=s.context,
        blur_sigma=s.blur_sigma,
        score_topk=s.score_topk,
    )


class FeatureAETask:
    """Rebuild standardised backbone features; batches are cached raw features with their
    rarity weights, and each position's error counts by its weight."""

    def __init__(self, model: FeatureAEModel, s: TrainSettings, preview: torch.Tensor) -> None:
        self.model, self.preview = model, preview
        params = model.autoencoder.parameters()
        self.optimizers = [torch.optim.AdamW(params, lr=s.learning_rate, weight_decay=1e-5)]

    def _loss(self, batch: torch.Tensor) -> torch.Tensor:
        raw, weight = split_weights(batch)
        emb = self.model.standardise(raw)
        return (self.model.residual(emb, self.model.autoencoder(emb)) * weight).mean()

    def training_step(
        self, batch: torch.Tensor
    ) -> Iterator[tuple[str, torch.Tensor, torch.optim.Optimizer]]:
        yield "loss", self._loss(batch), self.optimizers[0]

    def validation_loss(self, batch: torch.Tensor) -> torch.Tensor:
        return self._loss(batch)

    def visuals(self) -> dict[str, torch.Tensor]:
        images = self.preview.to(self.model.feature_mean.device)
        return {
            "images": denormalise(images),
            "anomaly_map": map_picture(self.model(images).anomaly_map),
        }


def fit_feature_ae(model: FeatureAEModel, ctx: FitContext) -> dict[str, Any]:
    train, val = cached_feature_sources(model, ctx)
    s = ctx.settings
    result = run_task(FeatureAETask(model, s, ctx.preview()), ctx, train, val)
    if s.relative_to_part:

        def raw_map(batch: torch.Tensor) -> torch.Tensor:
            return model.patch_map(model.standardise(split_weights(batch)[0]))

        model.part_level = good_part_level(model, val, s.batch_size, raw_map)
    return {
        **result.summary(),
        "map_shift": list(model.map_shift),
        "views": train.views,
        "part_level": model.part_level,
    }
