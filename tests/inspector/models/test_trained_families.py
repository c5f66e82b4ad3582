"""The gradient-trained families: graph shapes, configs, and what their maps measure."""

from __future__ import annotations

import math

import pytest
import torch

from inspector.models import create_model, list_models
from inspector.models.base import GaussianBlur
from inspector.models.cae import ConvAEModel
from inspector.models.feature_ae import (
    FeatureAEModel,
    FeatureAutoencoder,
    near_ring_on_finest_stage,
)
from inspector.models.feature_gan import FeatureGANModel, RingMean
from inspector.models.part_level import LEVEL_MARGIN, part_level
from inspector.models.pixel_residual import SSIM_C1, SSIM_C2, SSIM_SIGMA, PixelResidual

RANDOM_BACKBONE = {"name": "efficientnet_lite0", "layers": [2, 3], "weights": "none"}


def test_trained_families_are_registered() -> None:
    assert {"cae", "feature-ae", "feature-gan", "ganomaly"} <= set(list_models())


@pytest.mark.parametrize(
    ("family", "config"),
    [
        ("cae", {"input_size": [64, 96], "base_channels": 4, "depth": 3, "latent_dim": 8}),
        (
            "cae",
            {"input_size": [64, 96], "base_channels": 4, "depth": 3, "structure_scale": 4},
        ),
        ("feature-ae", {"backbone": RANDOM_BACKBONE, "input_size": [64, 96], "latent_dim": 8}),
        (
            "feature-ae",
            {"backbone": RANDOM_BACKBONE, "input_size": [64, 96], "latent_dim": 8, "context": 2},
        ),
        ("feature-gan", {"backbone": RANDOM_BACKBONE, "input_size": [64, 96], "hidden": 16}),
        (
            "feature-gan",
            {"backbone": RANDOM_BACKBONE, "input_size": [64, 96], "hidden": 16, "context": [2, 8]},
        ),
        ("ganomaly", {"input_size": [64, 96], "base_channels": 4, "depth": 3, "latent_dim": 8}),
        (
            "ganomaly",
            {"input_size": [64, 96], "base_channels": 4, "depth": 3, "structure_scale": 4},
        ),
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
    residual = PixelResidual()
    x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(residual.ssim_map(x, x), torch.ones(1, 1, 64, 64), atol=1e-4)
    damaged = x.clone()
    damaged[..., 20:40, 20:40] = 0.5
    ssim = residual.ssim_map(x, damaged)
    assert ssim[..., 30, 30] < 0.5 < ssim[..., 5, 5]


def test_ssim_map_is_the_textbook_formula_per_channel() -> None:
    # One plane at a time, as SSIM is defined; ssim_map computes all planes in one pass.
    a, b = torch.rand(2, 3, 40, 48), torch.rand(2, 3, 40, 48)
    window = GaussianBlur(SSIM_SIGMA)
    planes = []
    for ch in range(3):
        x, y = a[:, ch : ch + 1], b[:, ch : ch + 1]
        mx, my = window(x), window(y)
        vx, vy, cxy = window(x * x) - mx**2, window(y * y) - my**2, window(x * y) - mx * my
        num = (2 * mx * my + SSIM_C1) * (2 * cxy + SSIM_C2)
        planes.append(num / ((mx**2 + my**2 + SSIM_C1) * (vx + vy + SSIM_C2)))
    want = torch.cat(planes, dim=1).mean(dim=1, keepdim=True)
    assert torch.allclose(PixelResidual().ssim_map(a, b), want, atol=1e-5)


def test_gaussian_blur_smooths_each_channel_on_its_own() -> None:
    x = torch.rand(2, 4, 20, 20)
    together = GaussianBlur(2.0, channels=4)(x)
    alone = torch.cat([GaussianBlur(2.0)(x[:, c : c + 1]) for c in range(4)], dim=1)
    assert torch.allclose(together, alone, atol=1e-6)
    assert together[:, 0].std() < x[:, 0].std()


@pytest.mark.parametrize("weights", [(1.0, 1.0), (1.0, 10.0), (0.0, 1.0), (1.0, 1.0, 4)])
def test_pixel_residual_is_zero_for_a_perfect_reconstruction_and_local_for_a_defect(
    weights: tuple,
) -> None:
    residual = PixelResidual(*weights)
    x = torch.randn(1, 3, 64, 64)
    assert residual(x, x).abs().max() < 1e-3
    spot = x.clone()
    spot[..., 40:48, 8:16] += 2.0
    res = residual(x, spot)[0, 0]
    assert res[44, 12] > 10 * res[10, 50]


def test_coarse_structure_ignores_a_blurred_redraw_but_not_a_missing_piece() -> None:
    # A part's structure (stripes 16 px apart) under fine grain, on the 0..1 scale; every
    # reconstruction of it looks like this, a little blurred.
    torch.manual_seed(0)
    stripes = 0.5 + 0.3 * torch.sin(2 * math.pi * torch.arange(64.0) / 16)
    part = (stripes.view(1, 1, 1, 64) + 0.2 * (torch.rand(1, 3, 64, 64) - 0.5)).clamp(0, 1)
    redraw = GaussianBlur(1.0, channels=3)(part)
    fine, coarse = PixelResidual(1.0, 0.0), PixelResidual(1.0, 0.0, structure_scale=4)
    assert coarse(part, redraw).mean() < 0.1 * fine(part, redraw).mean()
    # A piece of structure the network could have drawn and did not still stands out.
    missing = redraw.clone()
    missing[..., 24:40, 24:40] = redraw.mean()
    res = coarse(part, missing)[0, 0]
    assert res[32, 32] > 20 * res[8, 56]
    # Training losses judge full resolution, whatever the map's scale.
    assert torch.equal(coarse.for_training(part, redraw), fine(part, redraw))


def test_structure_scale_must_be_a_whole_number_from_one() -> None:
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="structure_scale"):
            PixelResidual(structure_scale=bad)


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


def test_feature_ae_rings_map_the_larger_error_each_in_its_own_scale() -> None:
    torch.manual_seed(0)
    config = {"backbone": RANDOM_BACKBONE, "input_size": (64, 64), "latent_dim": 8}
    model = FeatureAEModel(**config, context=(2, 8)).eval()
    near, far = model.autoencoders
    assert (near.encoder[0][0].dilation, far.encoder[0][0].dilation) == ((2, 2), (8, 8))
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        emb = model.embed(images)
        errors = [(emb - ae(emb)).pow(2).mean(dim=1, keepdim=True) for ae in (near, far)]
        # each ring in units of its own median, so that each is the larger somewhere
        model.ring_scales = tuple(float(e.median()) for e in errors)
        scaled = [e / s for e, s in zip(errors, model.ring_scales, strict=True)]
        assert (scaled[0] > scaled[1]).any() and (scaled[1] > scaled[0]).any()
        expected = torch.maximum(*scaled)
        out = model(images)
        assert torch.allclose(model.patch_map(emb), expected, rtol=1e-5)
        assert torch.allclose(model.ring_map(emb, 0), scaled[0], rtol=1e-5)
        # the score is judged against the near ring's level alone (see the model's doc)
        model.part_level = float(part_level(scaled[0]).mean())
        relative = model(images)
    assert torch.allclose(out.pred_score, expected.flatten(1).topk(1).values[:, 0], rtol=1e-5)
    level = part_level(scaled[0]).clamp(
        model.part_level / LEVEL_MARGIN, model.part_level * LEVEL_MARGIN
    )
    assert torch.allclose(relative.pred_score, out.pred_score / level, rtol=1e-5)
    # scales and rings go into the config a bundle rebuilds the model from
    again = FeatureAEModel(**model.config(), load_weights=False)
    assert (again.context, again.ring_scales) == ((2, 8), model.ring_scales)


def test_feature_ae_rings_can_each_map_one_stages_error() -> None:
    torch.manual_seed(0)
    model = FeatureAEModel(
        backbone=RANDOM_BACKBONE,
        input_size=(64, 64),
        latent_dim=8,
        context=(2, 8),
        ring_stages=(0, 1),
    ).eval()
    fine = model.extractor.channels[0]
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        emb = model.embed(images)
        near, far = (emb - ae(emb) for ae in model.autoencoders)
        assert torch.allclose(
            model.ring_error(emb, 0), near[:, :fine].pow(2).mean(1, keepdim=True), rtol=1e-5
        )
        assert torch.allclose(
            model.ring_error(emb, 1), far[:, fine:].pow(2).mean(1, keepdim=True), rtol=1e-5
        )
    again = FeatureAEModel(**model.config(), load_weights=False)
    assert again.ring_stages == (0, 1)


def test_the_near_ring_alone_reads_the_finest_stage() -> None:
    assert near_ring_on_finest_stage((2, 8), stages=2) == (0, None)
    assert near_ring_on_finest_stage((1, 2, 8), stages=3) == (0, None, None)
    # a lone ring, or a single stage, keeps every stage's error
    assert near_ring_on_finest_stage((2,), stages=2) == (None,)
    assert near_ring_on_finest_stage((2, 8), stages=1) == (None, None)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"context": (2, 8), "ring_stages": (0,)}, "one stage per ring"),
        ({"context": (2, 8), "ring_stages": (0, 2)}, "from 0 to 1"),
        ({"context": (8, 2)}, "nearest first"),
        ({"context": (2, 2)}, "distinct"),
        ({"context": ()}, "distinct"),
        ({"context": (2, 8), "ring_scales": (1.0,)}, "one per ring"),
        ({"context": 2, "ring_scales": (0.0,)}, "must be positive"),
    ],
)
def test_feature_ae_refuses_rings_it_cannot_build(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FeatureAEModel(backbone=RANDOM_BACKBONE, input_size=(64, 64), **bad)


def test_feature_ae_bundle_from_before_rings_loads_as_one_ring() -> None:
    one = FeatureAEModel(backbone=RANDOM_BACKBONE, input_size=(64, 64), context=2)
    config = one.config()
    config["context"] = 2  # as saved before rings: one number, no scales
    del config["ring_scales"], config["ring_stages"]
    model = FeatureAEModel(**config, load_weights=False)
    model.load_state_dict(one.state_dict(), strict=True)
    assert (model.context, model.ring_scales, model.ring_stages) == ((2,), (1.0,), (None,))
    # one ring keeps the parameter names of bundles saved before rings
    names = {k.split(".")[0] for k in model.state_dict()} - {"extractor", "blur"}
    assert "autoencoder" in names and not any(n.startswith("far_") for n in names)


def test_feature_ae_with_context_predicts_each_position_from_its_neighbours_only() -> None:
    ae = FeatureAutoencoder(channels=8, hidden=(16,), latent=4, kernel=1, context=2).eval()
    x = torch.randn(1, 8, 12, 12)
    changed = x.clone()
    changed[..., 5, 5] += 10.0  # a defect at one position
    changed[..., 0, 11] += 10.0  # and one on the edge, where padding could leak it back
    with torch.no_grad():
        before, after = ae(x), ae(changed)
    # its own prediction cannot see it, so the defect is not copied into the rebuild ...
    assert torch.allclose(after[..., 5, 5], before[..., 5, 5], atol=1e-5)
    assert torch.allclose(after[..., 0, 11], before[..., 0, 11], atol=1e-5)
    # ... while the positions two cells away, which read it as context, do change
    assert not torch.allclose(after[..., 5, 7], before[..., 5, 7], atol=1e-3)
    assert torch.allclose(after[..., 5, 6], before[..., 5, 6], atol=1e-5)


def test_feature_ae_context_needs_a_hidden_layer_to_live_in() -> None:
    with pytest.raises(ValueError, match="needs a hidden layer"):
        FeatureAutoencoder(channels=8, hidden=(), latent=4, kernel=1, context=2)


def test_feature_ae_without_context_is_the_plain_autoencoder_of_older_bundles() -> None:
    config = FeatureAEModel(backbone=RANDOM_BACKBONE, input_size=(64, 64)).config()
    del config["context"]  # as saved before the option existed
    model = FeatureAEModel(**config, load_weights=False)
    assert model.context == (0,)
    assert isinstance(model.autoencoder.encoder[0][0], torch.nn.Conv2d)
    assert model.autoencoder.encoder[0][0].kernel_size == (1, 1)


def test_feature_ae_training_mode_keeps_the_backbone_frozen() -> None:
    model = FeatureAEModel(backbone=RANDOM_BACKBONE, input_size=(64, 64)).train()
    assert model.autoencoder.training
    assert not model.extractor.training
    assert not any(p.requires_grad for p in model.extractor.parameters())


def test_feature_gan_map_is_the_negated_discriminator_verdict() -> None:
    model = FeatureGANModel(backbone=RANDOM_BACKBONE, input_size=(64, 64), hidden=16).eval()
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        verdict = model.discriminator(model.adaptor(model.standardise(model.aggregate(images))))
        out = model(images)
    assert torch.allclose(out.pred_score, (-verdict).flatten(1).amax(dim=1), rtol=1e-5)


def test_feature_gan_adaptor_starts_as_the_identity() -> None:
    model = FeatureGANModel(backbone=RANDOM_BACKBONE, input_size=(64, 64), hidden=16)
    x = torch.randn(2, model.dim, 8, 8)
    assert torch.allclose(model.adaptor(x), x, atol=1e-6)


def test_ring_mean_averages_the_eight_neighbours_at_its_distance() -> None:
    x = torch.randn(1, 3, 12, 12)
    out = RingMean(3, distance=2)(x)
    ring = [(5 + dy, 5 + dx) for dy in (-2, 0, 2) for dx in (-2, 0, 2) if (dy, dx) != (0, 0)]
    expected = torch.stack([x[0, :, y, xx] for y, xx in ring]).mean(0)
    assert torch.allclose(out[0, :, 5, 5], expected, atol=1e-6)
    # at a corner the neighbours outside the map count as zero, the average patch
    inside = [x[0, :, 0, 2], x[0, :, 2, 0], x[0, :, 2, 2]]
    assert torch.allclose(out[0, :, 0, 0], torch.stack(inside).sum(0) / 8, atol=1e-6)


def test_feature_gan_with_context_judges_each_patch_beside_its_neighbours() -> None:
    model = FeatureGANModel(
        backbone=RANDOM_BACKBONE, input_size=(64, 64), hidden=16, context=[2, 8]
    ).eval()
    dim = model.dim
    assert model.adaptor.in_channels == model.discriminator.net[0].in_channels == 3 * dim
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = model.standardise(model.aggregate(images))
        judged = torch.cat([feats, RingMean(dim, 2)(feats), RingMean(dim, 8)(feats)], 1)
        verdict = model.discriminator(model.adaptor(judged))
        out = model(images)
    assert torch.allclose(out.pred_score, (-verdict).flatten(1).topk(1).values[:, 0], rtol=1e-5)
    assert model.config()["context"] == [2, 8]


def test_feature_gan_bundle_from_before_context_judges_the_patch_alone() -> None:
    alone = FeatureGANModel(backbone=RANDOM_BACKBONE, input_size=(64, 64), hidden=16)
    config = alone.config()
    del config["context"]  # as saved before context rings
    model = FeatureGANModel(**config, load_weights=False)
    model.load_state_dict(alone.state_dict(), strict=True)
    assert model.context == () and model.adaptor.in_channels == model.dim
    # ring 0 is the patch itself, which it always sees
    assert FeatureGANModel(**{**config, "context": 0}, load_weights=False).context == ()


def test_ganomaly_score_adds_its_two_cues_in_good_part_units() -> None:
    config = {"input_size": (64, 64), "base_channels": 4, "depth": 2, "latent_dim": 4}
    model = create_model("ganomaly", **config, map_scale=2.0, latent_scale=0.5).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        _, map_max, latent = model.cues(images)
        out = model(images)
    assert torch.allclose(out.pred_score, map_max / 2.0 + latent / 0.5, rtol=1e-5)
    assert torch.allclose(out.anomaly_map.flatten(1).amax(dim=1), map_max)
    # With latent_weight 0 the map cue alone scores (the option for parts like the screw).
    map_only = create_model("ganomaly", **config, map_scale=2.0, latent_weight=0.0).eval()
    map_only.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.allclose(map_only(images).pred_score, map_max / 2.0, rtol=1e-5)


@pytest.mark.parametrize("family", ["cae", "ganomaly", "feature-ae"])
def test_scores_become_relative_to_the_part_once_a_good_level_is_fitted(family: str) -> None:
    config = (
        {"backbone": RANDOM_BACKBONE, "input_size": (64, 64), "latent_dim": 8, "context": 2}
        if family == "feature-ae"
        else {"input_size": (64, 64), "base_channels": 4, "depth": 2, "latent_dim": 4}
    )
    if family == "ganomaly":
        config["latent_weight"] = 0.0  # its map cue alone, the one made relative
    model = create_model(family, **config).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        absolute = model(images)
        model.part_level = float(part_level(absolute.anomaly_map).mean())
        relative = model(images)
    # the map keeps its units; each part's score is divided by one level of its own,
    # within the margin of good parts'
    assert torch.equal(relative.anomaly_map, absolute.anomaly_map)
    divisor = absolute.pred_score / relative.pred_score
    ref = model.part_level
    assert ((divisor >= ref / LEVEL_MARGIN - 1e-6) & (divisor <= ref * LEVEL_MARGIN + 1e-6)).all()
    assert not torch.allclose(divisor, torch.ones_like(divisor))
    assert model.config()["part_level"] == model.part_level
