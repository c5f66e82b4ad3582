"""How far a reconstruction is from its image, per pixel, the way a person would judge it.

Shared by the pixel-reconstructing families (``cae``, ``ganomaly``): structure (1 - SSIM,
which ignores the slight blur every reconstruction has) plus colour (squared difference),
both on the 0..1 image scale so SSIM's constants mean what they were designed to mean.

The structural term of a map can be judged at a coarser scale than the pixels: a network
with a 16 x 16 code redraws every fine edge of a good part slightly blurred, and 1 - SSIM
over the standard 11-tap window flags that blur all over the part, drowning the defect.
Averaged over 4 x 4 pixels first (the window's sigma then about 6 px of the input) it
flags only structure the network could have drawn and did not. Training losses stay at
full resolution, so the network is still taught to draw fine detail.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inspector.models.base import GaussianBlur
from inspector.preprocess import IMAGENET_MEAN, IMAGENET_STD

SSIM_SIGMA = 1.5  # the window of the original SSIM paper (11 taps)
SSIM_C1, SSIM_C2 = 0.01**2, 0.03**2  # its stabilisers, for a 0..1 dynamic range


class PixelResidual(nn.Module):
    """(B, 1, H, W) residual of network-scale images and their reconstructions.

    Args:
        structure_weight: weight of 1 - SSIM.
        colour_weight: weight of the per-pixel squared difference (mean over channels).
        structure_scale: the structural term compares the images averaged over this many
            pixels square, upsampled back to full size (1: at full resolution); the image
            sides must be multiples of it.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self, structure_weight: float = 1.0, colour_weight: float = 1.0, structure_scale: int = 1
    ) -> None:
        super().__init__()
        self.structure_weight, self.colour_weight = float(structure_weight), float(colour_weight)
        if int(structure_scale) != structure_scale or structure_scale < 1:
            raise ValueError(f"structure_scale must be a whole number >= 1, got {structure_scale}")
        self.structure_scale = int(structure_scale)
        # ImageNet normalisation undone inside the graph: SSIM's constants assume 0..1.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        # Five local statistics of three colour channels, one depthwise window over all.
        self.ssim_window = GaussianBlur(SSIM_SIGMA, channels=5 * 3)

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Network-scale images back to the 0..1 scale."""
        return x * self.std + self.mean

    def ssim_map(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-pixel SSIM of 0..1 images, averaged over channels, (B, 1, H, W)."""
        n, c, h, w = a.shape
        # All five local statistics in one pass of the window, stacked as channels.
        stack = torch.cat([a, b, a * a, b * b, a * b], dim=1)
        mu_a, mu_b, aa, bb, ab = self.ssim_window(stack).reshape(n, 5, c, h, w).unbind(1)
        var_a, var_b, cov = aa - mu_a * mu_a, bb - mu_b * mu_b, ab - mu_a * mu_b
        num = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
        den = (mu_a * mu_a + mu_b * mu_b + SSIM_C1) * (var_a + var_b + SSIM_C2)
        return (num / den).mean(dim=1, keepdim=True)

    def forward(self, images: torch.Tensor, rebuilt: torch.Tensor) -> torch.Tensor:
        """The map's residual, structure judged at ``structure_scale``."""
        return self._residual(images, rebuilt, self.structure_scale)

    def for_training(self, images: torch.Tensor, rebuilt: torch.Tensor) -> torch.Tensor:
        """The residual training losses use: structure always at full resolution, so the
        network is taught to draw fine detail whatever scale the map judges it at."""
        return self._residual(images, rebuilt, 1)

    def _residual(self, images: torch.Tensor, rebuilt: torch.Tensor, scale: int) -> torch.Tensor:
        with torch.autocast(images.device.type, enabled=False):
            a, b = self.to_unit(images.float()), self.to_unit(rebuilt.float())
            out = self.colour_weight * (a - b).pow(2).mean(dim=1, keepdim=True)
            if not self.structure_weight:
                return out
            if scale == 1:
                structure = 1.0 - self.ssim_map(a, b)
            else:
                coarse = 1.0 - self.ssim_map(F.avg_pool2d(a, scale), F.avg_pool2d(b, scale))
                structure = F.interpolate(
                    coarse, size=a.shape[-2:], mode="bilinear", align_corners=False
                )
            return out + self.structure_weight * structure
