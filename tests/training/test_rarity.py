"""Rarity weights: rare kinds of good patch weigh more, and the weights ride with batches."""

from __future__ import annotations

import pytest
import torch

from inspector.models.feature_gan import FeatureGANModel
from training.batches import CachedViews, SampledPositions
from training.fitters.rarity import rarity_weights, split_weights

RANDOM_BACKBONE = {"name": "efficientnet_lite0", "layers": [2, 3], "weights": "none"}


def standardising_model() -> FeatureGANModel:
    """Any feature family's standardisation will do; identity statistics keep it readable."""
    return FeatureGANModel(backbone=RANDOM_BACKBONE, input_size=(64, 64), hidden=8)


def two_kinds(n: int, rare_images: int, dim: int, seed: int = 0) -> torch.Tensor:
    """(1, n, dim, 4, 4) features: most images near one pattern, a few near another."""
    g = torch.Generator().manual_seed(seed)
    common, rare = torch.zeros(dim), torch.full((dim,), 10.0)
    feats = torch.randn(n, dim, 4, 4, generator=g) * 0.1 + common.view(1, -1, 1, 1)
    feats[:rare_images] += rare.view(1, -1, 1, 1)
    return feats.unsqueeze(0).half()


def test_rare_patches_weigh_more_and_the_mean_weight_is_one() -> None:
    model = standardising_model()
    train = two_kinds(20, rare_images=2, dim=model.dim)
    val = two_kinds(4, rare_images=1, dim=model.dim, seed=1)
    w_train, w_val = rarity_weights(model, train, val, groups=8, power=1.0, seed=0)
    assert w_train.shape == (1, 20, 1, 4, 4) and w_val.shape == (1, 4, 1, 4, 4)
    assert w_train.mean().item() == pytest.approx(1.0, abs=1e-4)
    # The two rare images are a tenth of the patches; together they weigh far more than that.
    assert w_train[:, :2].sum() > 0.3 * w_train.sum()
    assert w_train[:, :2].mean() > 3 * w_train[:, 2:].mean()
    # A held-out patch of the rare kind weighs as the rare training patches do.
    assert w_val[:, 0].mean() > 3 * w_val[:, 1:].mean()


def test_power_zero_weighs_everything_alike() -> None:
    model = standardising_model()
    train, val = two_kinds(6, 1, model.dim), two_kinds(2, 1, model.dim)
    w_train, w_val = rarity_weights(model, train, val, groups=4, power=0.0, seed=0)
    assert torch.equal(w_train, torch.ones(1, 6, 1, 4, 4, dtype=train.dtype))
    assert torch.equal(w_val, torch.ones(1, 2, 1, 4, 4, dtype=val.dtype))


def test_cached_batches_carry_their_weights_as_the_last_channel() -> None:
    feats = torch.arange(5 * 3 * 2 * 2, dtype=torch.float32).view(5, 3, 2, 2)

    class Source:
        def batches(self, epoch, batch_size, shuffle=True):  # type: ignore[no-untyped-def]
            yield from feats.split(batch_size)

    views = CachedViews(Source(), lambda b: b, views=1, batch_size=2, seed=0)  # type: ignore[arg-type]
    weights = torch.arange(5 * 2 * 2, dtype=torch.float32).view(1, 5, 1, 2, 2)
    views.attach_weights(weights)
    batch = torch.cat(list(views.batches(None, 4, shuffle=False)))
    raw, weight = split_weights(batch)
    assert torch.equal(raw, feats) and torch.equal(weight, weights[0])
    with pytest.raises(ValueError, match="do not fit"):
        views.attach_weights(torch.ones(1, 4, 1, 2, 2))


def test_positions_are_drawn_by_weight_and_reproducibly() -> None:
    feats = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(1, 2, 3, 2, 2).half()

    class Source:
        def batches(self, epoch, batch_size, shuffle=True):  # type: ignore[no-untyped-def]
            yield from feats[0].split(batch_size)

    views = CachedViews(Source(), lambda b: b, views=1, batch_size=2, seed=0)  # type: ignore[arg-type]
    weights = torch.zeros(1, 2, 1, 2, 2)
    weights[0, 1, 0, 1, 0] = 3.0  # image 1, row 1, column 0: three times the other one
    weights[0, 0, 0, 0, 1] = 1.0  # image 0, row 0, column 1
    views.attach_weights(weights)
    positions = SampledPositions(views)
    batch = torch.cat(list(positions.batches(0, 1)))
    assert batch.shape == (2, 3 + 1, 2, 2)  # an epoch: as many positions as the images hold
    raw, weight = split_weights(batch)
    assert torch.equal(weight, torch.ones_like(weight))  # the drawing applied the weights
    drawn = {tuple(r.tolist()) for r in raw.permute(0, 2, 3, 1).reshape(-1, 3)}
    assert drawn <= {tuple(feats[0, 1, :, 1, 0].tolist()), tuple(feats[0, 0, :, 0, 1].tolist())}
    many = torch.cat([torch.cat(list(positions.batches(e, 2))) for e in range(50)])
    share = (many[:, 0] == feats[0, 1, 0, 1, 0]).float().mean().item()
    assert share == pytest.approx(0.75, abs=0.06)
    again = torch.cat(list(positions.batches(0, 1)))
    assert torch.equal(again, batch)
