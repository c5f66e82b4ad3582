"""The feature-ae family's settings and registration (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.models.shared_config import RARITY_HELP, CachedFeatureConfig
from inspector.models.spec import FamilySpec, setting


@dataclass(frozen=True)
class FeatureAEConfig(CachedFeatureConfig):
    """Each patch's features predicted from its neighbours; the map is the error."""

    # Predicting from neighbours is harder than copying: wider than a plain autoencoder.
    hidden: tuple[int, ...] = setting(
        (256,), "widths between the features and the bottleneck", minimum=1
    )
    latent_dim: int = setting(128, "bottleneck width", minimum=1)
    kernel_size: int = setting(1, "convolution size", minimum=1)
    # A near ring for a posed object's fine structure, a far one that stays on sound
    # surface beside a long crack the near ring would continue.
    context: tuple[int, ...] = setting(
        (2, 8),
        "predict each position from its neighbours this many feature cells away, one "
        "network per distance, nearest first (0: a plain autoencoder)",
        minimum=0,
    )
    fine_near_ring: bool = setting(
        True, "with two rings or more, the nearest maps only the finest stage's error"
    )
    rarity_power: float = setting(0.5, RARITY_HELP, minimum=0.0)
    # Each part judged against its own level: a part lit or textured unlike the others
    # is not failed for that alone.
    relative_to_part: bool = setting(
        True, "divide each part's score by the part's own typical map level, within bounds"
    )


SPEC = FamilySpec(
    name="feature-ae",
    description="pretrained CNN features predicted from near and far neighbours "
    "(trains in minutes; finest maps)",
    config=FeatureAEConfig,
    trained=True,
    model="inspector.models.feature_ae:FeatureAEModel",
    fitter="training.fitters.feature_ae:FITTER",
    run_defaults={"epochs": 80},
)
