"""The two autoencoder families: graph shapes, configs, and what their maps measure."""

from __future__ import annotations

import pytest
import torch

from inspector.models import create_model, list_models
from inspector.models.cae import ConvAEModel
from inspector.models.feature_ae import FeatureAEModel

RANDOM_BACKBONE = {"name": "efficientnet_lite0", "layers": [2, 3], "weights": "none"}


def test_both_families_are_registered() -> None:
    assert {"cae", "feature-ae"} <= set(list_models())


@pytest.mark.parametrize(
    ("family", "config"),
    [
        ("cae", {"input_size": [64, 96], "base_channels": 4, "depth": 3, "latent_dim": 8}),
        ("feature-ae", {"backbone": RANDOM_BACKBONE, "input_size": [64, 96], "latent_dim": 8}),
    ],
)
def test_forward_gives_scores_and_input_sized_maps(family: str, config: dict) -> None:
    model = create_model(family, **config).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 96))
    assert out.pred_score.shape == (2,)
    assert out.anomaly_map.shape == (2, 1, 64, 96)
    assert torch.isfinite(out.anomaly_map).all()
    # the config rebuilds the same architecture (what a bundle relies on)
    again = create_model(family, **model.config(), load_weights=False)
    again.load_state_dict(model.state_dict(), strict=True)


def test_ssim_of_an_image_with_itself_is_one_and_falls_with_damage() -> None:
    model = ConvAEModel(input_size=(64, 64), base_channels=4, depth=2, latent_dim=4)
    x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(model.ssim_map(x, x), torch.ones(1, 1, 64, 64), atol=1e-4)
    damaged = x.clone()
    damaged[..., 20:40, 20:40] = 0.5
    ssim = model.ssim_map(x, damaged)
    assert ssim[..., 30, 30] < 0.5 < ssim[..., 5, 5]


def test_cae_residual_is_zero_for_a_perfect_reconstruction_and_local_for_a_defect() -> None:
    model = ConvAEModel(input_size=(64, 64), base_channels=4, depth=2, latent_dim=4)
    x = torch.randn(1, 3, 64, 64)
    assert model.residual(x, x).abs().max() < 1e-3
    spot = x.clone()
    spot[..., 40:48, 8:16] += 2.0
    res = model.residual(x, spot)[0, 0]
    assert res[44, 12] > 10 * res[10, 50]


def test_cae_input_size_must_divide_by_its_depth() -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        ConvAEModel(input_size=(250, 256), depth=4)


def test_feature_ae_map_is_the_feature_reconstruction_error() -> None:
    model = FeatureAEModel(backbone=RANDOM_BACKBONE, input_size=(64, 64)).eval()
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        emb = model.embed(images)
        expected = (emb - model.autoencoder(emb)).pow(2).mean(dim=1)
        out = model(images)
    assert torch.allclose(out.pred_score, expected.flatten(1).amax(dim=1), rtol=1e-5)


def test_feature_ae_training_mode_keeps_the_backbone_frozen() -> None:
    model = FeatureAEModel(backbone=RANDOM_BACKBONE, input_size=(64, 64)).train()
    assert model.autoencoder.training
    assert not model.extractor.training
    assert not any(p.requires_grad for p in model.extractor.parameters())
