"""Training the GANomaly-style pixel GAN through the shared loop.

Per batch the critic steps first (real good images against reconstructions), then the
generator: GANomaly's three losses, with the contextual one measured exactly as the anomaly
map measures it, so training minimises what inspection reports. Stability comes from the
spectral-normalised critic, feature matching instead of fooling the critic outright, Adam
with beta1 = 0.5, and one critic step per generator step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from inspector.models.ganomaly import GANomalyModel
from inspector.models.ganomaly_config import GANomalyConfig
from training.batches import BatchSource
from training.fitters.context import (
    FitContext,
    Fitter,
    good_part_level,
    map_picture,
    pixel_model_args,
    run_task,
)
from training.loop import RunningMeans
from training.settings import TrainSettings

# GANomaly's loss weights: adversarial (feature matching), contextual, encoder.
W_ADV, W_CON, W_ENC = 1.0, 50.0, 1.0


def build_ganomaly(s: TrainSettings) -> GANomalyModel:
    cfg: GANomalyConfig = s.config
    return GANomalyModel(**pixel_model_args(s), latent_weight=cfg.latent_weight)


class GANomalyTask:
    """Critic step, then generator step, on each batch of (augmented) good images."""

    def __init__(self, model: GANomalyModel, s: TrainSettings, preview: torch.Tensor) -> None:
        self.model, self.preview = model, preview
        betas, lr = (0.5, 0.999), s.run.learning_rate
        self.optimizers = [
            torch.optim.Adam(model.critic.parameters(), lr=lr, betas=betas),
            torch.optim.Adam(model.generator.parameters(), lr=lr, betas=betas),
        ]
        self.monitor = RunningMeans()

    def _content_losses(
        self, images: torch.Tensor, rebuilt: torch.Tensor, z: torch.Tensor, z_again: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        residual = m.residual.for_training(images, rebuilt)
        return residual.mean(), m.latent_distance(z, z_again).mean()

    def training_step(
        self, batch: torch.Tensor
    ) -> Iterator[tuple[str, torch.Tensor, torch.optim.Optimizer]]:
        m = self.model
        rebuilt, z, z_again = m.generator(batch)
        on_real, _ = m.critic(batch)
        on_fake, _ = m.critic(rebuilt.detach())
        on_real, on_fake = on_real.float(), on_fake.float()
        self.monitor.add("critic_on_good", torch.sigmoid(on_real))
        self.monitor.add("critic_on_reconstructed", torch.sigmoid(on_fake))
        critic = F.binary_cross_entropy_with_logits(on_real, torch.ones_like(on_real))
        critic = critic + F.binary_cross_entropy_with_logits(on_fake, torch.zeros_like(on_fake))
        yield "critic", critic / 2, self.optimizers[0]

        # Both sides of the feature matching from the critic as it is after its step; the
        # critic is frozen meanwhile so the generator's loss computes no gradients for it.
        m.critic.requires_grad_(False)
        try:
            with torch.no_grad():
                _, real_features = m.critic(batch)
            _, fake_features = m.critic(rebuilt)
            adversarial = real_features.float().mean(0) - fake_features.float().mean(0)
            contextual, encoder = self._content_losses(batch, rebuilt, z, z_again)
            generator = W_ADV * adversarial.pow(2).mean() + W_CON * contextual + W_ENC * encoder
            yield "generator", generator, self.optimizers[1]
        finally:
            m.critic.requires_grad_(True)

    def validation_loss(self, batch: torch.Tensor) -> torch.Tensor:
        # What inspection uses: how well good parts are redrawn and re-encoded.
        contextual, encoder = self._content_losses(batch, *self.model.generator(batch))
        return W_CON * contextual + W_ENC * encoder

    def scalars(self) -> dict[str, float]:
        return self.monitor.pop()

    def visuals(self) -> dict[str, torch.Tensor]:
        m = self.model
        batch = self.preview.to(next(m.parameters()).device)
        rebuilt, _, _ = m.generator(batch)
        return {
            "images": m.residual.to_unit(batch).clamp(0, 1),
            "reconstructions": m.residual.to_unit(rebuilt.float()).clamp(0, 1),
            "anomaly_map": map_picture(m(batch).anomaly_map),
        }


@torch.no_grad()
def set_cue_scales(model: GANomalyModel, val: BatchSource, batch_size: int) -> None:
    """The typical (mean) value of each score cue on held-out good images."""
    model.eval()
    map_max, latent = [], []
    for batch in val.batches(None, batch_size, shuffle=False):
        _, m, z = model.cues(batch)
        map_max.append(m)
        latent.append(z)
    model.map_scale = max(float(torch.cat(map_max).mean()), 1e-12)
    model.latent_scale = max(float(torch.cat(latent).mean()), 1e-12)


def fit_ganomaly(model: GANomalyModel, ctx: FitContext) -> dict[str, Any]:
    train, val = ctx.image_sources()
    s = ctx.settings
    result = run_task(GANomalyTask(model, s, ctx.preview()), ctx, train, val)
    ctx.progress.stage("levels", 1)
    batch_size = s.run.batch_size
    if s.config.relative_to_part:  # first: the map cue's scale is measured on the relative cue
        model.part_level = good_part_level(
            model, val, batch_size, lambda batch: model.cues(batch)[0]
        )
    set_cue_scales(model, val, batch_size)
    return {
        **result.summary(),
        "map_scale": model.map_scale,
        "latent_scale": model.latent_scale,
        "part_level": model.part_level,
    }


FITTER = Fitter(
    build=build_ganomaly,
    fit=fit_ganomaly,
    stages=(("images", 1.0), ("training", 20.0), ("levels", 0.5)),
)
