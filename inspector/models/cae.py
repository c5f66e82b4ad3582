"""Pixel convolutional autoencoder: the textbook reconstruction baseline, made honest.

An encoder squeezes the image through a narrow spatial bottleneck and a decoder redraws it;
trained on good parts only, it redraws what a good part would look like there. The anomaly
map compares the input with its reconstruction the way a person would: structure (1 - SSIM,
which ignores the slight blur every autoencoder has) plus colour (absolute difference), both
on the 0..1 image scale, then smoothed. It needs no pretrained network at all, which is its
use: products unlike anything in ImageNet, and colour or texture changes a feature memory
can miss. The feature autoencoder is the stronger family member on most products.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from inspector.models.base import AnomalyModel, GaussianBlur, InferenceBatch
from inspector.models.registry import register_model
from inspector.preprocess import IMAGENET_MEAN, IMAGENET_STD

SSIM_SIGMA = 1.5  # the window of the original SSIM paper (11 taps)
SSIM_C1, SSIM_C2 = 0.01**2, 0.03**2  # its stabilisers, for a 0..1 dynamic range


def down(c_in: int, c_out: int) -> nn.Sequential:
    """Halve the resolution: strided 3x3, then a 3x3 at the new size."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


def up(c_in: int, c_out: int) -> nn.Sequential:
    """Double the resolution: nearest upsampling then 3x3 (no transposed-conv checkerboard)."""
    return nn.Sequential(
        nn.Upsample(scale_factor=2.0, mode="nearest"),
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


class ConvAutoencoder(nn.Module):
    """``depth`` halvings from ``base`` channels (doubling), a 1x1 bottleneck, and back.

    Spatial bottleneck: at 256 px and depth 4 the code is 16 x 16 x ``latent``, small enough
    that the decoder cannot copy a defect, large enough to keep the part's layout.
    """

    def __init__(self, base: int, depth: int, latent: int) -> None:
        super().__init__()
        widths = [base * 2**i for i in range(depth)]
        enc: list[nn.Module] = [down(3, widths[0])]
        enc += [down(a, b) for a, b in zip(widths, widths[1:], strict=False)]
        enc.append(nn.Conv2d(widths[-1], latent, 1))
        dec: list[nn.Module] = [
            nn.Conv2d(latent, widths[-1], 1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        back = widths[::-1]
        dec += [up(a, b) for a, b in zip(back, back[1:], strict=False)]
        dec += [up(back[-1], back[-1]), nn.Conv2d(back[-1], 3, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


@register_model
class ConvAEModel(AnomalyModel):
    """Structural and colour residual between an image and its reconstruction.

    Args:
        input_size: model input (height, width); both must be multiples of 2**depth.
        base_channels: width of the first stage.
        depth: number of halvings.
        latent_dim: bottleneck channels.
        colour_weight: weight of the colour term (mean absolute difference, 0..1 scale)
            against the structural term (1 - SSIM) in the map.
        blur_sigma: Gaussian smoothing of the map, in input pixels.
        load_weights: accepted for the common bundle interface (no pretrained parts).
    """

    family = "cae"
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        input_size: tuple[int, int] | list[int] = (256, 256),
        base_channels: int = 32,
        depth: int = 4,
        latent_dim: int = 64,
        colour_weight: float = 1.0,
        blur_sigma: float = 4.0,
        load_weights: bool = True,
    ) -> None:
        super().__init__()
        self.input_size = (int(input_size[0]), int(input_size[1]))
        step = 2**depth
        if self.input_size[0] % step or self.input_size[1] % step:
            raise ValueError(f"cae input size {self.input_size} must be a multiple of {step}")
        self.base_channels, self.depth = int(base_channels), int(depth)
        self.latent_dim = int(latent_dim)
        self.colour_weight, self.blur_sigma = float(colour_weight), float(blur_sigma)
        self.autoencoder = ConvAutoencoder(self.base_channels, self.depth, self.latent_dim)
        # ImageNet normalisation undone inside the graph: SSIM's constants assume 0..1.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.ssim_window = GaussianBlur(SSIM_SIGMA)
        self.blur = GaussianBlur(self.blur_sigma)

    def config(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "base_channels": self.base_channels,
            "depth": self.depth,
            "latent_dim": self.latent_dim,
            "colour_weight": self.colour_weight,
            "blur_sigma": self.blur_sigma,
        }

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Network-scale images back to the 0..1 scale."""
        return x * self.std + self.mean

    def ssim_map(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-pixel SSIM of 0..1 images, averaged over channels, (B, 1, H, W)."""
        n, c, h, w = a.shape
        # All five local statistics in one pass of the window over a stacked batch.
        stack = torch.cat([a, b, a * a, b * b, a * b], dim=0).reshape(5 * n * c, 1, h, w)
        mu_a, mu_b, aa, bb, ab = self.ssim_window(stack).reshape(5, n, c, h, w)
        var_a, var_b, cov = aa - mu_a * mu_a, bb - mu_b * mu_b, ab - mu_a * mu_b
        num = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
        den = (mu_a * mu_a + mu_b * mu_b + SSIM_C1) * (var_a + var_b + SSIM_C2)
        return (num / den).mean(dim=1, keepdim=True)

    def residual(self, images: torch.Tensor, rebuilt: torch.Tensor) -> torch.Tensor:
        """Unsmoothed anomaly map (B, 1, H, W): 1 - SSIM plus weighted colour difference."""
        a, b = self.to_unit(images.float()), self.to_unit(rebuilt.float())
        structure = 1.0 - self.ssim_map(a, b)
        colour = (a - b).abs().mean(dim=1, keepdim=True)
        return structure + self.colour_weight * colour

    def forward(self, images: torch.Tensor) -> InferenceBatch:
        rebuilt = self.autoencoder(images)
        with torch.autocast(images.device.type, enabled=False):
            amap = self.blur(self.residual(images, rebuilt))
            # Whole-pixel maps are noisy at their single maximum; the smoothed map's is not.
            score = amap.flatten(1).amax(dim=1)
            return InferenceBatch(pred_score=score, anomaly_map=amap)
