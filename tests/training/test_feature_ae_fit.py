"""Fitting the feature autoencoder's rings: each ring's error is measured in its own units."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from inspector.models.feature_ae import FeatureAEModel
from training.fitters.feature_ae import SCALE_QUANTILE, ring_scales

RANDOM_BACKBONE = {"name": "efficientnet_lite0", "layers": [2, 3], "weights": "none"}


class HeldOut:
    """Held-out good features as the fitter gets them: raw features, weight channel last."""

    def __init__(self, feats: torch.Tensor) -> None:
        self.batch = torch.cat([feats, torch.ones_like(feats[:, :1])], dim=1)

    def __len__(self) -> int:
        return len(self.batch)

    def batches(
        self, epoch: int | None, batch_size: int, shuffle: bool = True
    ) -> Iterator[torch.Tensor]:
        yield from self.batch.split(batch_size)


def test_ring_scales_put_every_rings_held_out_error_at_one() -> None:
    torch.manual_seed(0)
    model = FeatureAEModel(
        backbone=RANDOM_BACKBONE,
        input_size=(64, 64),
        hidden=(16,),
        latent_dim=4,
        context=(1, 3),
        ring_stages=(0, 1),  # each scale is that of the error the ring maps
    )
    # The far ring's network starts out much worse, as an untrained far ring predicts.
    with torch.no_grad():
        model.far_autoencoders[0].decoder[-1].weight.mul_(30.0)
    val = HeldOut(torch.randn(6, model.dim, 8, 8))
    scales = ring_scales(model, val, batch_size=4)
    assert len(scales) == 2 and scales[1] > 3 * scales[0] > 0
    model.ring_scales = scales
    with torch.no_grad():
        maps = model.ring_maps(model.standardise(val.batch[:, :-1]))
    for m in maps:
        assert torch.quantile(m.flatten(), SCALE_QUANTILE).item() == pytest.approx(1.0, rel=1e-4)


def test_ring_scales_need_held_out_images() -> None:
    model = FeatureAEModel(backbone=RANDOM_BACKBONE, input_size=(64, 64), context=(2, 8))
    with pytest.raises(ValueError, match="no held-out good images"):
        ring_scales(model, HeldOut(torch.empty(0, model.dim, 8, 8)), batch_size=4)
