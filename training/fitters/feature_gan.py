"""Training the feature-space GAN discriminator on cached backbone features.

Each step synthesises anomalous features by adding Gaussian noise (``noise_std``) to the
features of good patches (standardised, through an adaptor that starts as the identity,
so the noise starts in units of each channel's spread). With context rings the noise goes
on the patch's own features only: the neighbour means stay as they were, so a synthesised
anomaly is a patch that does not fit its surroundings. The discriminator learns to score
good ones above +margin and synthesised ones below -margin (SimpleNet's truncated L1
loss), and the adaptor learns with it. The backbone is frozen,
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
from inspector.models.feature_gan_config import FeatureGANConfig
from training.batches import CachedViews, SampledPositions
from training.fitters.context import (
    FitContext,
    Fitter,
    denormalise,
    feature_model_args,
    map_picture,
    run_task,
)
from training.fitters.features import cached_feature_sources
from training.fitters.rarity import split_weights
from training.loop import RunningMeans
from training.settings import TrainSettings

MARGIN = 0.5  # SimpleNet's: good above +0.5, synthesised below -0.5, no reward beyond


def build_feature_gan(s: TrainSettings) -> FeatureGANModel:
    cfg: FeatureGANConfig = s.config
    return FeatureGANModel(**feature_model_args(s), hidden=cfg.hidden, context=cfg.context)


def with_patch_noise(
    judged: torch.Tensor, dim: int, std: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Synthesised anomalies: a copy of ``judged`` (B, C, ...) whose first ``dim`` channels,
    the patch's own features, carry Gaussian noise of ``std``; the context channels after
    them, its neighbours, are left as they were."""
    noise = torch.randn(judged[:, :dim].shape, generator=generator, device=judged.device)
    fake = judged.clone()
    fake[:, :dim] += noise.to(judged.dtype) * std
    return fake


class FeatureGANTask:
    """Good adapted features against noisy copies of them; batches are cached raw features
    with their rarity weights, which a good position and its noisy copy share."""

    def __init__(self, model: FeatureGANModel, s: TrainSettings, preview: torch.Tensor) -> None:
        self.model, self.preview, self.noise_std = model, preview, s.config.noise_std
        self.monitor = RunningMeans()
        lr = s.run.learning_rate
        self.optimizers = [
            torch.optim.AdamW(
                [
                    # The adaptor moves slower than the critic, as in SimpleNet, so the
                    # space being judged does not run away from the judge.
                    {"params": model.adaptor.parameters(), "lr": lr * 0.1},
                    {"params": model.discriminator.parameters(), "lr": lr},
                ],
                weight_decay=1e-5,
            )
        ]

    def _scores(
        self, cached: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Discriminator outputs on good inputs and on copies whose patch carries noise.

        With context rings ``cached`` holds ``judged_inputs`` and the noise goes on the
        patch's channels before the adaptor, which mixes patch and neighbours. Without,
        ``cached`` holds raw features and the noise goes on the adapted features.
        """
        if self.model.context:
            return self.judge_noised_before_adaptor(cached, generator)
        good = self.model.adapt(cached)
        adapted = torch.cat([good, self.synthesise(good, generator)])
        s_good, s_fake = self.model.discriminator(adapted).float().chunk(2)
        return s_good, s_fake

    def judge_noised_before_adaptor(
        self, judged: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Discriminator outputs on ``judged`` adaptor inputs and on noisy copies of them,
        the noise added before the adaptor."""
        fake = self.synthesise(judged, generator)
        adapted = self.model.adaptor(torch.cat([judged, fake]))
        s_good, s_fake = self.model.discriminator(adapted).float().chunk(2)
        return s_good, s_fake

    def synthesise(
        self, judged: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Synthesised anomalies from good ``judged`` features: noise on the patch's own
        channels (``with_patch_noise``)."""
        return with_patch_noise(judged, self.model.dim, self.noise_std, generator)

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


def judged_inputs(model: FeatureGANModel, views: CachedViews, chunk: int = 64) -> None:
    """Cached raw features replaced, in place, by what the adaptor takes: standardised, with
    the context rings' neighbour means. They are computed on whole maps, before training
    draws single positions from them."""
    v, n, _, h, w = views.data.shape
    out = torch.empty(v, n, model.dim * (1 + len(model.context)), h, w, dtype=views.data.dtype)
    with torch.inference_mode():
        for i in range(v):
            for start in range(0, n, chunk):
                raw = views.data[i, start : start + chunk]
                out[i, start : start + chunk] = model.with_context(model.standardise(raw))
    views.data = out


def fit_feature_gan(model: FeatureGANModel, ctx: FitContext) -> dict[str, Any]:
    train, val = cached_feature_sources(model, ctx)
    if model.context:
        judged_inputs(model, train)
        judged_inputs(model, val)
    # The discriminator judges each position alone, so with rarity weights it learns from
    # positions drawn by weight rather than whole images (see ``SampledPositions``).
    source = SampledPositions(train) if ctx.config.rarity_power > 0 else train
    result = run_task(FeatureGANTask(model, ctx.settings, ctx.preview()), ctx, source, val)
    return {**result.summary(), "map_shift": list(model.map_shift), "views": train.views}


FITTER = Fitter(
    build=build_feature_gan,
    fit=fit_feature_gan,
    stages=(("features", 3.0), ("rarity", 1.0), ("training", 20.0)),
)
