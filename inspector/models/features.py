"""Patch descriptors from a pretrained backbone, shared by the feature-based families."""

from __future__ import annotations

from typing import Any, Protocol

import torch
import torch.nn.functional as F

from inspector.backbone import BackboneSpec, FeatureExtractor
from inspector.models.base import AnomalyModel, GaussianBlur, InferenceBatch
from inspector.models.head import output_size, patch_head


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


class StandardisedFeatures(AnomalyModel):
    """Base of the families that learn on top of a frozen backbone's standardised features.

    Holds the extractor, the per-stage aggregation and the per-channel statistics of the
    training patches; only what a subclass adds on top is trained.
    """

    feature_mean: torch.Tensor
    feature_scale: torch.Tensor
    map_shift: tuple[int, int]  # receptive-field correction, measured when fitting

    def __init__(
        self,
        backbone: dict | None,
        input_size: tuple[int, int] | list[int],
        aggregation: int | tuple[int, ...] | list[int],
        blur_sigma: float,
        score_topk: int,
        map_shift: tuple[int, int] | list[int],
        load_weights: bool,
    ) -> None:
        super().__init__()
        self.blur_sigma, self.score_topk = float(blur_sigma), int(score_topk)
        self.map_shift = (int(map_shift[0]), int(map_shift[1]))
        self.blur = GaussianBlur(self.blur_sigma)
        self.backbone_spec = BackboneSpec.from_dict(backbone) if backbone else BackboneSpec()
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.extractor = FeatureExtractor(self.backbone_spec, load_weights=load_weights)
        self.aggregation = per_stage(aggregation, len(self.extractor.channels))
        self.stride = self.extractor.strides[0]
        self.dim = sum(self.extractor.channels)
        # Standardised features put every channel on the same footing; the statistics
        # come from the training patches.
        self.register_buffer("feature_mean", torch.zeros(self.dim))
        self.register_buffer("feature_scale", torch.ones(self.dim))

    def feature_config(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone_spec.to_dict(),
            "input_size": list(self.input_size),
            "aggregation": list(self.aggregation),
            "blur_sigma": self.blur_sigma,
            "score_topk": self.score_topk,
            "map_shift": list(self.map_shift),
        }

    def head(self, patch: torch.Tensor, images: torch.Tensor) -> InferenceBatch:
        """Image score and smoothed full-resolution map from patch scores, in fp32."""
        with torch.autocast(images.device.type, enabled=False):
            size = output_size(images, self.input_size)
            return patch_head(patch.float(), size, self.score_topk, self.map_shift, self.blur)

    def train(self, mode: bool = True) -> StandardisedFeatures:
        # The backbone's ImageNet batch-norm statistics stay fixed while the head learns.
        super().train(mode)
        self.extractor.train(False)
        return self

    def aggregate(self, images: torch.Tensor) -> torch.Tensor:
        """Unstandardised aggregated features (B, D, h, w) (fitting computes their stats)."""
        return aggregate_stages(self.extractor(images), self.aggregation)

    def standardise(self, feats: torch.Tensor) -> torch.Tensor:
        """Raw aggregated features to the standardised space, in fp32."""
        with torch.autocast(feats.device.type, enabled=False):
            mean = self.feature_mean.view(1, -1, 1, 1)
            return (feats.float() - mean) / self.feature_scale.view(1, -1, 1, 1)

    def set_feature_stats(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        self.feature_mean = mean.detach().to(torch.float32).clone()
        self.feature_scale = scale.detach().to(torch.float32).clamp_min(1e-6).clone()
