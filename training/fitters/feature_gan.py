"""Training the feature-space GAN discriminator on cached backbone features.

Each step synthesises anomalous features by adding Gaussian noise (``noise_std``) to the
adapted features of good patches (standardised features, through an adaptor that starts
as the identity, so the noise starts in units of each channel's spread); the
discriminator learns to score good ones above +margin and synthesised ones below -margin
(SimpleNet's truncated L1 loss), and the adaptor learns with it. The backbone is frozen,
so, as for the feature autoencoder, its features are cached for a few augmented views.
With rarity weights (``training.fitters.rarity``, on by default) a training batch is not
whole images but single positions drawn by how rare their kind of good patch is, so the
discriminator's border also hugs the rare good patches, not only the common ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from inspector.models.feature_gan import FeatureGANModel
from training.batches import SampledPositions
from training.fitters.context import (
    FitContext,
    backbone_config,
    denormalise,
    map_picture,
    run_task,
)
from training.fitters.features import cached_feature_sources
from training.fitters.rarity import split_weights
from training.loop import RunningMeans
from training.settings import TrainSettings

MARGIN = 0.5  # SimpleNet's: good above +0.5, synthesised below -0.5, no reward beyond


def build_feature_gan(s: TrainSettings) -> FeatureGANModel:
    return FeatureGANModel(
        backbone=backbone_config(s),
        input_size=(s.input_size, s.input_size),
        aggregation=s.aggregation,
        hidden=s.hidden[0],
        blur_sigma=s.blur_sigma,
        score_topk=s.score_topk,
    )


class FeatureGANTask:
    """Good adapted features against noisy copies of them; batches are cached raw features
    with their rarity weights, which a good position and its noisy copy share."""

    def __init__(self, model: FeatureGANModel, s: TrainSettings, preview: torch.Tensor) -> None:
        self.model, self.preview, self.noise_std = model, preview, s.noise_std
        self.monitor = RunningMeans()
        self.optimizers = [
            torch.optim.AdamW(
                [
                    # The adaptor moves slower than the critic, as in SimpleNet, so the
                    # space being judged does not run away from the judge.
                    {"params": model.adaptor.parameters(), "lr": s.learning_rate * 0.1},
                    {"params": model.discriminator.parameters(), "lr": s.learning_rate},
                ],
                weight_decay=1e-5,
            )
        ]

    def _scores(
        self, raw: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Discriminator outputs on good adapted features and on their noisy copies."""
        good = self.model.adapt(raw)
        noise = torch.randn(good.shape, generator=generator, device=good.device)
        fake = good + noise.to(good.dtype) * self.noise_std
        scores = self.model.discriminator(torch.cat([good, fake]))
        s_good, s_fake = scores.float().chunk(2)
        return s_good, s_fake

    def training_step(
        self, batch: torch.Tensor
    ) -> Iterator[tuple[str, torch.Tensor, torch.optim.Optimizer]]:
        raw, weight = split_weights(batch)
        s_good, s_fake = self._scores(raw)
        self.monitor.add("critic_on_good", s_good)
        self.monitor.add("critic_on_synthesised", s_fake)
        hinge = (MARGIN - s_good).clamp_min(0) + (MARGIN + s_fake).clamp_min(0)
        yield "loss", (hinge * weight).mean(), self.optimizers[0]

    def validation_loss(self, batch: torch.Tensor) -> torch.Tensor:
        raw, weight = split_weights(batch)
        # The same noise every epoch, so changes in the loss are the model's, not the draw's.
        generator = torch.Generator(batch.device).manual_seed(0)
        s_good, s_fake = self._scores(raw, generator)
        # The smooth form of the training loss: the truncated one reaches exactly zero once
        # the held-out patches clear the margin, after which early stopping would keep
        # whichever epoch got there first instead of the best separated one.
        smooth = F.softplus(MARGIN - s_good) + F.softplus(MARGIN + s_fake)
        return (smooth * weight).mean()

    def scalars(self) -> dict[str, float]:
        return self.monitor.pop()

    def visuals(self) -> dict[str, torch.Tensor]:
        images = self.preview.to(self.model.feature_mean.device)
        return {
            "images": denormalise(images),
            "anomaly_map": map_picture(self.model(images).anomaly_map),
        }


def fit_feature_gan(model: FeatureGANModel, ctx: FitContext) -> dict[str, Any]:
    train, val = cached_feature_sources(model, ctx)
    # The discriminator judges each position alone, so with rarity weights it learns from
    # positions drawn by weight rather than whole images (see ``SampledPositions``).
    source = SampledPositions(train) if ctx.settings.rarity_power > 0 else train
    result = run_task(FeatureGANTask(model, ctx.settings, ctx.preview()), ctx, source, val)
    return {**result.summary(), "map_shift": list(model.map_shift), "views": train.views}
