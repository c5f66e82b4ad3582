"""The ganomaly family's settings and registration (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.models.shared_config import PixelConfig
from inspector.models.spec import FamilySpec, setting


@dataclass(frozen=True)
class GANomalyConfig(PixelConfig):
    """Encoder-decoder-encoder generator and a patch critic."""

    # 0 for parts lying at random angles, where the latent cue follows the pose.
    latent_weight: float = setting(
        1.0, "weight of the latent distance in the image score", minimum=0.0
    )


SPEC = FamilySpec(
    name="ganomaly",
    description="pixel GAN: encoder-decoder-encoder generator and patch critic (textbook "
    "GAN baseline)",
    config=GANomalyConfig,
    trained=True,
    model="inspector.models.ganomaly:GANomalyModel",
    fitter="training.fitters.ganomaly:FITTER",
    run_defaults={"epochs": 15, "learning_rate": 2e-4},
)
