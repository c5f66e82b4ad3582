"""Training the pixel autoencoder through the shared training loop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from inspector.models.cae import ConvAEModel
from training.corrupt import paste_patches
from training.fitters.context import (
    FitContext,
    Fitter,
    good_part_level,
    map_picture,
    pixel_model_args,
    run_task,
)
from training.settings import TrainSettings


def build_cae(s: TrainSettings) -> ConvAEModel:
    return ConvAEModel(**pixel_model_args(s))


class CAETask:
    """Redraw (augmented) good images; the loss is the anomaly map's own measure.

    With ``denoise`` the input carries a pasted foreign patch and the target is the clean
    image (see ``training.corrupt``); validation always uses clean images.
    """

    def __init__(self, model: ConvAEModel, s: TrainSettings, preview: torch.Tensor) -> None:
        self.model, self.preview, self.denoise = model, preview, s.config.denoise
        params = model.autoencoder.parameters()
        lr = s.run.learning_rate
        self.optimizers = [torch.optim.AdamW(params, lr=lr, weight_decay=1e-5)]

    def _loss(self, target: torch.Tensor, shown: torch.Tensor) -> torch.Tensor:
        return self.model.residual.for_training(target, self.model.autoencoder(shown)).mean()

    def training_step(
        self, batch: torch.Tensor
    ) -> Iterator[tuple[str, torch.Tensor, torch.optim.Optimizer]]:
        shown = paste_patches(batch) if self.denoise else batch
        yield "loss", self._loss(batch, shown), self.optimizers[0]

    def validation_loss(self, batch: torch.Tensor) -> torch.Tensor:
        return self._loss(batch, batch)

    def visuals(self) -> dict[str, torch.Tensor]:
        m = self.model
        batch = self.preview.to(next(m.parameters()).device)
        return {
            "images": m.residual.to_unit(batch).clamp(0, 1),
            "reconstructions": m.residual.to_unit(m.autoencoder(batch).float()).clamp(0, 1),
            "anomaly_map": map_picture(m(batch).anomaly_map),
        }


def fit_cae(model: ConvAEModel, ctx: FitContext) -> dict[str, Any]:
    s = ctx.settings
    train, val = ctx.image_sources()
    result = run_task(CAETask(model, s, ctx.preview()), ctx, train, val)
    ctx.progress.stage("levels", 1)
    if s.config.relative_to_part:
        model.part_level = good_part_level(
            model, val, s.run.batch_size, lambda batch: model(batch).anomaly_map
        )
    return {**result.summary(), "part_level": model.part_level}


FITTER = Fitter(
    build=build_cae,
    fit=fit_cae,
    stages=(("images", 1.0), ("training", 20.0), ("levels", 0.5)),
)
