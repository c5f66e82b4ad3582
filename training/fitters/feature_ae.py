"""Training the feature autoencoder: cache backbone features, then the shared loop.

The backbone is frozen, so its features of an image never change between epochs: they are
computed once for a few augmented views of every image (``cached_views``) and the
autoencoder trains on those. On a 2-core CPU that makes an epoch a second or two instead of
a full backbone pass over every image.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from inspector.models.feature_ae import FeatureAEModel
from inspector.models.features import receptive_field_shift
from training.batches import AugmentedImages, CachedViews
from training.fitters.context import (
    FitContext,
    backbone_config,
    denormalise,
    map_picture,
    run_task,
)
from training.settings import TrainSettings


def build_feature_ae(s: TrainSettings) -> FeatureAEModel:
    return FeatureAEModel(
        backbone=backbone_config(s),
        input_size=(s.input_size, s.input_size),
        aggregation=s.aggregation,
        hidden=s.hidden,
        latent_dim=s.latent_dim,
        kernel_size=s.kernel_size,
        blur_sigma=s.blur_sigma,
        score_topk=s.score_topk,
    )


class FeatureAETask:
    """Rebuild standardised backbone features; batches are cached raw features."""

    def __init__(self, model: FeatureAEModel, s: TrainSettings, preview: torch.Tensor) -> None:
        self.model, self.preview = model, preview
        params = model.autoencoder.parameters()
        self.optimizers = [torch.optim.AdamW(params, lr=s.learning_rate, weight_decay=1e-5)]

    def _loss(self, raw: torch.Tensor) -> torch.Tensor:
        emb = self.model.standardise(raw)
        return self.model.residual(emb, self.model.autoencoder(emb)).mean()

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


def set_statistics(model: FeatureAEModel, raw: torch.Tensor, chunk: int = 64) -> None:
    """Per-channel mean and std of raw training features (N, D, h, w), in chunks."""
    total = torch.zeros(raw.shape[1], dtype=torch.float64)
    sq = torch.zeros_like(total)
    for part in raw.split(chunk):
        part = part.double()
        total += part.sum(dim=(0, 2, 3))
        sq += part.pow(2).sum(dim=(0, 2, 3))
    count = raw.shape[0] * raw.shape[2] * raw.shape[3]
    mean = total / count
    model.set_feature_stats(mean.float(), (sq / count - mean.pow(2)).clamp_min(0).sqrt().float())


def fit_feature_ae(model: FeatureAEModel, ctx: FitContext) -> dict[str, Any]:
    s = ctx.settings
    images = AugmentedImages(ctx.train_images, s.augment, s.seed)
    train = CachedViews(images, model.aggregate, s.cached_views, s.batch_size, s.seed)
    val_images = AugmentedImages(ctx.val_images, (), s.seed)
    val = CachedViews(val_images, model.aggregate, 1, s.batch_size, s.seed)
    set_statistics(model, train.data[0])  # view 0: the training images as they are
    model.map_shift = receptive_field_shift(model)
    result = run_task(FeatureAETask(model, s, ctx.preview()), ctx, train, val)
    return {**result.summary(), "map_shift": list(model.map_shift), "views": s.cached_views}
