"""The shared tail of every patch-scoring model: image score and full-resolution map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inspector.models.base import InferenceBatch


def exporting() -> bool:
    """True while the graph is being traced for ONNX (or TorchScript)."""
    return bool(torch.jit.is_tracing() or torch.onnx.is_in_onnx_export())


def output_size(images: torch.Tensor, input_size: tuple[int, int]) -> tuple[int, int]:
    """Where the map is drawn: the input's own size, or the bundle's fixed one when exporting.

    A constant in exported graphs keeps every shape static but the batch, as TensorRT wants,
    instead of Shape/Gather chains.
    """
    if exporting():
        return input_size
    h, w = images.shape[-2:]
    return int(h), int(w)


def shift_map(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate (B, C, H, W) maps by whole pixels, repeating the edge (slice + pad: exports)."""
    if dy == 0 and dx == 0:
        return x
    h, w = x.shape[-2:]
    # new[y, x] = old[y - dy, x - dx]: positive shifts move content down and right.
    x = x[..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)]
    pad = (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0))
    return F.pad(x, pad, mode="replicate")


def patch_head(
    patch: torch.Tensor,
    size: tuple[int, int],
    score_topk: int,
    map_shift: tuple[int, int],
    blur: nn.Module,
) -> InferenceBatch:
    """Image score and smoothed input-resolution map from patch scores (B, 1, h, w).

    The image score is the mean of the ``score_topk`` highest patch scores (1 = maximum),
    taken before upsampling so it does not depend on the map's smoothing.
    """
    flat = patch.flatten(1)
    k = min(score_topk, flat.shape[1])
    score = flat.topk(k, dim=1).values.mean(dim=1) if k > 1 else flat.amax(dim=1)
    amap = F.interpolate(patch, size=size, mode="bilinear", align_corners=False)
    return InferenceBatch(pred_score=score, anomaly_map=blur(shift_map(amap, *map_shift)))
