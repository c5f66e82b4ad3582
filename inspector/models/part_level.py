"""Scoring a part against the part's own typical deviation.

The trained families rebuild or judge every position of a part, and no part is rebuilt
perfectly: the whole map sits at a level that moves from part to part with lighting,
reflectance and how the part lies. A small defect shows as a peak above that level, and a
good part whose whole map sits a little higher can outscore it. Dividing the image score
by the part's own level (the median of its map, which a local defect cannot move) judges
the peak against the rest of the same part instead. The map itself stays in absolute
units, so the pixel threshold compares every part's positions alike: dividing the map
too makes the pixel maps of differently lit parts disagree.

What it must not do is explain away a part that is wrong all over. The level is therefore
only trusted within ``LEVEL_MARGIN`` of the level of good parts (measured on held-out good
images when fitting): a part whose whole map is far above anything good parts showed keeps
the rest of its excess, and a suspiciously clean one is not magnified.

It is a per-product choice (``relative_to_part``): on by default for the feature
autoencoder, off for the pixel families, where a large defect spoils the whole
reconstruction and so raises the level it would be divided by (though it helps GANomaly on
parts lying at random angles).
"""

from __future__ import annotations

import math
from typing import Final

import torch
import torch.nn.functional as F

# How far a part's own level may stray from good parts' before it stops being normalised.
# Chosen before any test figure: held-out good screws spread about +-15 % around their
# median level (feature autoencoder), so 1.5 leaves room for lighting beyond that.
LEVEL_MARGIN: Final = 1.5
# Maps are pooled to about this many cells a side for the median: a TopK of at most about
# 2,000 values, well inside TensorRT's limit on k (3,840).
LEVEL_GRID: Final = 32


def part_level(amap: torch.Tensor) -> torch.Tensor:
    """The typical value of each map (B, 1, H, W): its median on a coarse grid, (B,).

    The median via ``topk`` (an ONNX TopK) on at most ``LEVEL_GRID`` squared cells, so it
    costs nothing next to the model and exports to every backend.
    """
    h, w = amap.shape[-2:]
    pool = max(1, math.isqrt(int(h) * int(w)) // LEVEL_GRID)
    cells = F.avg_pool2d(amap.float(), pool) if pool > 1 else amap.float()
    flat = cells.flatten(1)
    n = flat.shape[1]
    return flat.topk(n - n // 2, dim=1).values[:, -1]


def relative_score(score: torch.Tensor, amap: torch.Tensor, reference: float) -> torch.Tensor:
    """Each part's ``score`` (B,) over the level of its map ``amap``, the level bounded to
    ``reference`` times or over ``LEVEL_MARGIN``; unchanged when ``reference`` is 0 (bundles
    fitted without it)."""
    if reference <= 0:
        return score
    level = part_level(amap).clamp(reference / LEVEL_MARGIN, reference * LEVEL_MARGIN)
    return score / level.to(score.dtype)


def reference_level(levels: torch.Tensor) -> float:
    """Good parts' typical level: the median of held-out good images' levels."""
    if levels.numel() == 0:
        raise ValueError("no held-out good images to measure the map level on")
    return max(float(levels.float().median()), 1e-12)
