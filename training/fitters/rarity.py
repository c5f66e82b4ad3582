"""Rarity weights: every kind of good patch counts in training, not only the common kinds.

A head trained on all patches alike learns the common ones best. On a screw photographed at
random angles, the tip or the head seen from an unusual side is a small share of all
patches, so the trained head fits it loosely, and held-out good screws that show it score
like defects. The memory model does not suffer this: its coreset keeps a centre for every
kind of patch however rare. Rarity weights give the trained heads the same coverage:
training patches are grouped by their nearest centre of a greedy coreset of the
unaugmented training patches, and each position's loss counts ``(1 / group size) ** power``,
scaled to a mean of 1 over the training set (power 0: all alike).
"""

from __future__ import annotations

import torch

from inspector.models.features import StandardisedFeatures
from training.memory import greedy_coreset_indices, nearest_centre


def as_patches(feats: torch.Tensor) -> torch.Tensor:
    """(N, D, h, w) feature maps to (N * h * w, D) rows, position-major within an image."""
    return feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1])


def _groups(
    model: StandardisedFeatures, views: torch.Tensor, centres: torch.Tensor
) -> torch.Tensor:
    """Nearest-centre index of every position of cached raw views (V, N, D, h, w)."""
    v, n, _, h, w = views.shape
    parts = []
    for view in views:
        for chunk in view.split(64):
            parts.append(nearest_centre(as_patches(model.standardise(chunk)), centres))
    return torch.cat(parts).view(v, n, 1, h, w)


def rarity_weights(
    model: StandardisedFeatures,
    train: torch.Tensor,
    val: torch.Tensor,
    groups: int,
    power: float,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position loss weights (V, N, 1, h, w) of cached training and validation views.

    Args:
        model: supplies the feature standardisation (its statistics must be set).
        train: cached raw training features (V, N, D, h, w); view 0 unaugmented.
        val: cached raw validation features (1, M, D, h, w).
        groups: coreset centres that define the kinds of patch.
        power: how strongly rarity counts (0: every weight 1).
        seed: coreset start.

    Validation positions are weighted by the size of the training group they fall in, so
    early stopping judges the same objective as training.
    """
    if power <= 0:
        return torch.ones_like(train[:, :, :1]), torch.ones_like(val[:, :, :1])
    base = torch.cat([as_patches(model.standardise(c)) for c in train[0].split(64)])
    centres = base[greedy_coreset_indices(base, min(groups, len(base)), seed=seed)]
    del base
    assign = _groups(model, train, centres)
    counts = torch.bincount(assign.flatten(), minlength=len(centres)).double()
    counts = counts.clamp_min(1.0)  # a validation patch may fall in a group no view filled
    weight_of = counts.pow(-power)
    scale = weight_of[assign].mean()
    weight_of = (weight_of / scale).float()
    return weight_of[assign], weight_of[_groups(model, val, centres)]


def split_weights(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A cached batch as (raw features, per-position weights): the weights ride last."""
    return batch[:, :-1], batch[:, -1:]
