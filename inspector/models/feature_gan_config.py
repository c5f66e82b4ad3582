"""The feature-gan family's settings and registration (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.models.shared_config import CachedFeatureConfig
from inspector.models.spec import FamilySpec, setting


@dataclass(frozen=True)
class FeatureGANConfig(CachedFeatureConfig):
    """A patch discriminator trained against synthesised anomalies (SimpleNet-style)."""

    hidden: int = setting(1024, "the discriminator's hidden width", minimum=1)
    # The patch judged alone: beside its neighbours it gained on some products and lost
    # pixel accuracy on others.
    context: tuple[int, ...] = setting(
        (0,), "judge each patch beside its neighbours' mean this many cells away (0: alone)",
        minimum=0,
    )  # fmt: skip
    score_topk: int = setting(1, "image score: mean of the top-k patch scores", minimum=1)
    rarity_power: float = setting(
        1.0,
        "positions drawn by (1 / size of their group of similar patches) ** power (0: all alike)",
        minimum=0.0,
    )
    noise_std: float = setting(
        0.5, "the synthetic anomalies' Gaussian noise, in units of each channel's spread",
        minimum=0.0,
    )  # fmt: skip


SPEC = FamilySpec(
    name="feature-gan",
    description="pretrained CNN features judged by a patch discriminator trained against "
    "synthesised anomalies (SimpleNet-style)",
    config=FeatureGANConfig,
    trained=True,
    model="inspector.models.feature_gan:FeatureGANModel",
    fitter="training.fitters.feature_gan:FITTER",
    # SimpleNet's rate: faster critics let early stopping keep a noisy first epoch.
    run_defaults={"learning_rate": 2e-4},
)
