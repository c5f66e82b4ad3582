"""Training the feature autoencoder on cached backbone features (see ``features``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from inspector.models.feature_ae import FeatureAEModel, near_ring_on_finest_stage
from inspector.models.feature_ae_config import FeatureAEConfig
from training.batches import BatchSource
from training.fitters.context import (
    FitContext,
    Fitter,
    denormalise,
    feature_model_args,
    good_part_level,
    map_picture,
    run_task,
)
from training.fitters.features import cached_feature_sources
from training.fitters.rarity import split_weights
from training.settings import TrainSettings


def build_feature_ae(s: TrainSettings) -> FeatureAEModel:
    cfg: FeatureAEConfig = s.config
    return FeatureAEModel(
        **feature_model_args(s),
        hidden=cfg.hidden,
        latent_dim=cfg.latent_dim,
        kernel_size=cfg.kernel_size,
        context=cfg.context,
        ring_stages=(
            near_ring_on_finest_stage(cfg.context, len(cfg.layers)) if cfg.fine_near_ring else None
        ),
    )


# Each ring's scale is this quantile of its error over held-out good positions: high enough
# that a ring which predicts good parts loosely (a far one) is not flagging them, and the
# same for every ring, so their maps compare. At most SCALE_SAMPLE errors are ranked.
SCALE_QUANTILE = 0.99
SCALE_SAMPLE = 1_000_000


class FeatureAETask:
    """Rebuild standardised backbone features; batches are cached raw features with their
    rarity weights, and each position's error counts by its weight. The rings' networks are
    independent, so training them on the sum of their losses trains each on its own."""

    def __init__(self, model: FeatureAEModel, s: TrainSettings, preview: torch.Tensor) -> None:
        self.model, self.preview = model, preview
        params = [p for ae in model.autoencoders for p in ae.parameters()]
        lr = s.run.learning_rate
        self.optimizers = [torch.optim.AdamW(params, lr=lr, weight_decay=1e-5)]

    def _loss(self, batch: torch.Tensor) -> torch.Tensor:
        raw, weight = split_weights(batch)
        emb = self.model.standardise(raw)
        return sum(
            (self.model.residual(emb, ae(emb)) * weight).mean() for ae in self.model.autoencoders
        )  # type: ignore[return-value]

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
    ctx.progress.stage("levels", 1)
    measure_good_levels(model, val, s)
    return {
        **result.summary(),
        "map_shift": list(model.map_shift),
        "views": train.views,
        "ring_scales": list(model.ring_scales),
        "part_level": model.part_level,
    }


def measure_good_levels(model: FeatureAEModel, val: BatchSource, s: TrainSettings) -> None:
    """Set the trained model's ring scales and, if the product wants parts judged against
    themselves, good parts' level, from the held-out good images' features ``val``."""
    batch_size = s.run.batch_size
    model.ring_scales = ring_scales(model, val, batch_size)
    if s.config.relative_to_part:

        def near_map(batch: torch.Tensor) -> torch.Tensor:
            return model.ring_map(model.standardise(split_weights(batch)[0]), 0)

        model.part_level = good_part_level(model, val, batch_size, near_map)


@torch.no_grad()
def ring_scales(model: FeatureAEModel, val: BatchSource, batch_size: int) -> tuple[float, ...]:
    """Each ring's ``SCALE_QUANTILE`` error on the held-out good images' features (its
    unscaled ``ring_error``, whatever scales the model holds)."""
    model.eval()
    errors: list[list[torch.Tensor]] = [[] for _ in model.context]
    for batch in val.batches(None, batch_size, shuffle=False):
        emb = model.standardise(split_weights(batch)[0])
        for ring, kept in enumerate(errors):
            kept.append(model.ring_error(emb, ring).flatten().cpu())
    scales = []
    for ring, kept in zip(model.context, errors, strict=True):
        e = torch.cat(kept) if kept else torch.empty(0)
        if e.numel() == 0:
            raise ValueError("no held-out good images to measure the rings' error scale on")
        if e.numel() > SCALE_SAMPLE:  # a random sample: a stride could pick map columns
            e = e[torch.randperm(e.numel(), generator=torch.Generator().manual_seed(0))]
            e = e[:SCALE_SAMPLE]
        scale = float(torch.quantile(e, SCALE_QUANTILE))
        if not scale > 0:
            raise ValueError(f"ring {ring} rebuilds held-out good parts exactly: no error scale")
        scales.append(scale)
    return tuple(scales)


FITTER = Fitter(
    build=build_feature_ae,
    fit=fit_feature_ae,
    stages=(("features", 3.0), ("rarity", 1.0), ("training", 20.0), ("levels", 0.5)),
)
