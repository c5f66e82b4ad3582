"""Cached backbone features for the families that learn on a frozen pretrained backbone.

The backbone is frozen, so its features of an image never change between epochs: they are
computed once for a few augmented views of every image (``cached_views``) and the trained
head learns on those. On a 2-core CPU that makes an epoch a second or two instead of a
full backbone pass over every image.
"""

from __future__ import annotations

import torch

from inspector.models.features import StandardisedFeatures, receptive_field_shift
from training.batches import AugmentedImages, CachedViews
from training.fitters.context import FitContext
from training.fitters.rarity import rarity_weights
from training.loop import resolve_device


def set_statistics(model: StandardisedFeatures, raw: torch.Tensor, chunk: int = 64) -> None:
    """Per-channel mean and std of raw training features (N, D, h, w), in chunks."""
    total = torch.zeros(raw.shape[1], dtype=torch.float64)
    sq = torch.zeros_like(total)
    for part in raw.split(chunk):
        part = part.double()
        total += part.sum(dim=(0, 2, 3))
        sq += part.pow(2).sum(dim=(0, 2, 3))
    count = raw.shape[0] * raw.shape[2] * raw.shape[3]
    mean = total / count
    model.set_feature_stats(mean.float(), (sq / count - mean.pow(2)).clamp_min(0).sqrt().float())


def cached_feature_sources(
    model: StandardisedFeatures, ctx: FitContext
) -> tuple[CachedViews, CachedViews]:
    """Training and validation batches of cached raw features, each position's rarity
    weight as their last channel (``training.fitters.rarity``, all 1 when off); sets the
    model's feature statistics and map shift, which every feature-trained family needs
    before training. Reports the ``features`` and ``rarity`` stages."""
    run, cfg, progress = ctx.settings.run, ctx.config, ctx.progress
    # The backbone pass is the expensive part: on the training device, cached on the CPU.
    device = resolve_device(run.device)
    model.to(device)
    images = AugmentedImages(ctx.train_images, run.augment, run.seed)
    val_images = AugmentedImages(ctx.val_images, (), run.seed)
    progress.stage("features", cfg.cached_views * len(images) + len(val_images))
    done = 0

    def features(batch: torch.Tensor) -> torch.Tensor:
        nonlocal done
        out = model.aggregate(batch.to(device)).cpu()
        done += len(batch)
        progress.update(done)
        return out

    train = CachedViews(images, features, cfg.cached_views, run.batch_size, run.seed)
    val = CachedViews(val_images, features, 1, run.batch_size, run.seed)
    model.cpu()
    set_statistics(model, train.data[0])  # view 0: the training images as they are
    model.map_shift = receptive_field_shift(model)
    progress.stage("rarity", 1)
    weights = rarity_weights(
        model, train.data, val.data, cfg.rarity_groups, cfg.rarity_power, run.seed
    )
    train.attach_weights(weights[0])
    val.attach_weights(weights[1])
    return train, val
