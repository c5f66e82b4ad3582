"""The cae family's settings and registration (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.models.shared_config import PixelConfig
from inspector.models.spec import FamilySpec, setting


@dataclass(frozen=True)
class CAEConfig(PixelConfig):
    """A pixel autoencoder, no pretrained network."""

    denoise: bool = setting(
        True, "train it to repair pasted foreign patches instead of copying its input"
    )


SPEC = FamilySpec(
    name="cae",
    description="pixel autoencoder, no pretrained network (textbook baseline; colour and texture)",
    config=CAEConfig,
    trained=True,
    model="inspector.models.cae:ConvAEModel",
    fitter="training.fitters.cae:FITTER",
    # Sized so 300 images at 256 px train within 20 minutes on a 2-core CPU; its
    # validation loss falls slowly, with pauses, hence the longer patience.
    run_defaults={"epochs": 60, "patience": 12, "batch_size": 8},
)
