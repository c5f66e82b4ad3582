"""The fusion family's settings and registration (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.models.shared_config import BackboneConfig
from inspector.models.spec import FamilySpec, setting

# The learned families whose heads read the same backbone features as the memory model.
LEARNED_MEMBERS = ("feature-ae", "feature-gan")


@dataclass(frozen=True)
class FusionConfig(BackboneConfig):
    """The memory model and a learned family on one backbone pass, each normalised by its
    own good parts, combined by weights."""

    learned: str = setting(
        "feature-ae", "learned family fused with the cnn-cluster memory", choices=LEARNED_MEMBERS
    )
    weights: tuple[float, ...] = setting(
        (1.0, 1.0),
        "weights of the memory's and the learned member's normalised map and score",
        minimum=0.0,
    )
    # Half of feature-ae's views: the memory fit comes on top, and the fusion has a fit-time
    # budget of its own.
    cached_views: int = setting(
        2, "augmented views per image whose features the learned member caches", minimum=1
    )


SPEC = FamilySpec(
    name="fusion",
    description="cnn-cluster memory and feature-ae on one backbone pass, each normalised by "
    "its good parts (fits in minutes)",
    config=FusionConfig,
    trained=True,
    model="inspector.models.fusion:FusionModel",
    fitter="training.fitters.fusion:FITTER",
    run_defaults={"epochs": 40},
)
