"""Patch descriptors from a pretrained backbone, shared by the feature-based families."""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F


class PatchFeatureModel(Protocol):
    input_size: tuple[int, int]
    stride: int

    def aggregate(self, images: torch.Tensor) -> torch.Tensor: ...


def aggregate_stages(feats: list[torch.Tensor], aggregation: tuple[int, ...]) -> torch.Tensor:
    """Average each stage over its neighbourhood, bring all to the finest stage's grid, stack.

    Shared by every family that describes a patch by pretrained multi-scale features.
    """
    size = feats[0].shape[-2:]
    parts = []
    for f, k in zip(feats, aggregation, strict=True):
        if k > 1:
            f = F.avg_pool2d(f, k, stride=1, padding=k // 2, count_include_pad=False)
        if f.shape[-2:] != size:
            f = F.interpolate(f, size=size, mode="bilinear", align_corners=False)
        parts.append(f)
    return torch.cat(parts, dim=1)


def per_stage(value: int | tuple[int, ...] | list[int], stages: int) -> tuple[int, ...]:
    """One neighbourhood side per feature stage; a single value applies to every stage."""
    sides = (value,) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(sides) == 1:
        sides = sides * stages
    if len(sides) != stages or any(k < 1 or k % 2 == 0 for k in sides):
        raise ValueError(f"aggregation needs {stages} odd sides >= 1, got {value!r}")
    return sides


def receptive_field_shift(model: PatchFeatureModel, seed: int = 0) -> tuple[int, int]:
    """Pixels (dy, dx) from where the map paints a patch to where its features look.

    The centre of a patch's receptive field is the gradient-weighted centre of the input
    pixels that feed its features, for a noise image at the model's input size.
    """
    h, w = model.input_size
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(1, 3, h, w, generator=g) * 0.5).requires_grad_(True)
    with torch.enable_grad():
        emb = model.aggregate(x)
        i, j = emb.shape[-2] // 2, emb.shape[-1] // 2
        (grad,) = torch.autograd.grad(emb[0, :, i, j].pow(2).sum(), x)
    weight = grad.abs().sum(dim=(0, 1))
    cy = float((weight.sum(1) * torch.arange(h)).sum() / weight.sum())
    cx = float((weight.sum(0) * torch.arange(w)).sum() / weight.sum())
    s = model.stride
    painted_y, painted_x = s * i + (s - 1) / 2, s * j + (s - 1) / 2  # bilinear, align_corners=False
    return round(cy - painted_y), round(cx - painted_x)
