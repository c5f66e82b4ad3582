"""Pixel convolutional autoencoder: the textbook reconstruction baseline, made honest.

An encoder squeezes the image through a narrow spatial bottleneck and a decoder redraws it;
trained on good parts only, it redraws what a good part would look like there. The anomaly
map compares the input with its reconstruction the way a person would (``PixelResidual``:
structure and colour on the 0..1 image scale), then smoothed. Replicate padding keeps the
image border from being the worst residual of every good part, and the colour term is
weighted above the structural one because SSIM alone flags every patch of fine random
texture, which no autoencoder can redraw (the brushed-metal sample product is such a
texture); the structural term is judged at a 4 x 4-pixel scale for the same reason
(``PixelResidual``). Good on aligned parts; at chance on parts lying at random angles,
where its image score fails though its map is fine, and on faint textures, where both fail.
It needs no pretrained network at all, which is its use: products unlike anything in
ImageNet, and colour or texture changes a feature memory can miss. The feature autoencoder
is the stronger family member on most products.
"""

from __future__ import annotations

from typing import Any, Final

import torch
from torch import nn

from inspector.models.base import AnomalyModel, GaussianBlur, InferenceBatch
from inspector.models.part_level import relative_score
from inspector.models.pixel_residual import PixelResidual

# Zero padding makes every layer see a dark frame round the image, so a zero-padded
# autoencoder redraws borders badly and its worst residual on a good part sits on the edge.
PADDING: Final = "replicate"


def down(c_in: int, c_out: int) -> nn.Sequential:
    """Halve the resolution: strided 3x3, then a 3x3 at the new size."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False, padding_mode=PADDING),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False, padding_mode=PADDING),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


def up(c_in: int, c_out: int) -> nn.Sequential:
    """Double the resolution: nearest upsampling then 3x3 (no transposed-conv checkerboard)."""
    return nn.Sequential(
        nn.Upsample(scale_factor=2.0, mode="nearest"),
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False, padding_mode=PADDING),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


def pixel_input_size(input_size: tuple[int, int] | list[int], depth: int) -> tuple[int, int]:
    """The (height, width) of a pixel-reconstructing model; each halving needs even sides."""
    size = (int(input_size[0]), int(input_size[1]))
    step = 2**depth
    if size[0] % step or size[1] % step:
        raise ValueError(f"input size {size} must be a multiple of {step} for depth {depth}")
    return size


class Encoder(nn.Sequential):
    """``depth`` halvings from ``base`` channels (doubling), then a 1x1 to ``latent``."""

    def __init__(self, base: int, depth: int, latent: int) -> None:
        widths = [base * 2**i for i in range(depth)]
        layers: list[nn.Module] = [down(3, widths[0])]
        layers += [down(a, b) for a, b in zip(widths, widths[1:], strict=False)]
        layers.append(nn.Conv2d(widths[-1], latent, 1))
        super().__init__(*layers)


class Decoder(nn.Sequential):
    """The encoder's mirror: from the latent code back to a 3-channel image."""

    def __init__(self, base: int, depth: int, latent: int) -> None:
        back = [base * 2**i for i in range(depth)][::-1]
        layers: list[nn.Module] = [nn.Conv2d(latent, back[0], 1), nn.LeakyReLU(0.2, inplace=True)]
        layers += [up(a, b) for a, b in zip(back, back[1:], strict=False)]
        layers += [
            up(back[-1], back[-1]),
            nn.Conv2d(back[-1], 3, 3, padding=1, padding_mode=PADDING),
        ]
        super().__init__(*layers)


class ConvAutoencoder(nn.Module):
    """Encoder and decoder with a spatial bottleneck.

    At 256 px and depth 4 the code is 16 x 16 x ``latent``: small enough that the decoder
    cannot copy a defect, large enough to keep the part's layout.
    """

    def __init__(self, base: int, depth: int, latent: int) -> None:
        super().__init__()
        self.encoder = Encoder(base, depth, latent)
        self.decoder = Decoder(base, depth, latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class ConvAEModel(AnomalyModel):
    """Structural and colour residual between an image and its reconstruction.

    Args:
        input_size: model input (height, width); both must be multiples of 2**depth.
        base_channels: width of the first stage.
        depth: number of halvings.
        latent_dim: bottleneck channels.
        structure_weight: weight of the structural term (1 - SSIM) in the map.
        colour_weight: weight of the colour term (squared difference, 0..1 scale).
        blur_sigma: Gaussian smoothing of the map, in input pixels.
        structure_scale: the map's structural term compares images averaged over this many
            pixels square (see ``PixelResidual``; 1: full resolution).
        part_level: good parts' typical map level; when above 0 each part's image score is
            divided by its own level, within bounds (see ``part_level``; 0: off).
        load_weights: accepted for the common bundle interface (no pretrained parts).
    """

    family = "cae"

    def __init__(
        self,
        input_size: tuple[int, int] | list[int] = (256, 256),
        base_channels: int = 32,
        depth: int = 4,
        latent_dim: int = 64,
        structure_weight: float = 1.0,
        colour_weight: float = 10.0,
        blur_sigma: float = 4.0,
        structure_scale: int = 1,
        part_level: float = 0.0,
        load_weights: bool = True,
    ) -> None:
        super().__init__()
        self.input_size = pixel_input_size(input_size, depth)
        self.base_channels, self.depth = int(base_channels), int(depth)
        self.latent_dim, self.part_level = int(latent_dim), float(part_level)
        self.structure_weight, self.colour_weight = float(structure_weight), float(colour_weight)
        self.blur_sigma = float(blur_sigma)
        self.autoencoder = ConvAutoencoder(self.base_channels, self.depth, self.latent_dim)
        self.residual = PixelResidual(
            self.structure_weight, self.colour_weight, structure_scale=structure_scale
        )
        self.blur = GaussianBlur(self.blur_sigma)

    def config(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "base_channels": self.base_channels,
            "depth": self.depth,
            "latent_dim": self.latent_dim,
            "structure_weight": self.structure_weight,
            "colour_weight": self.colour_weight,
            "blur_sigma": self.blur_sigma,
            "structure_scale": self.residual.structure_scale,
            "part_level": self.part_level,
        }

    def forward(self, images: torch.Tensor) -> InferenceBatch:
        rebuilt = self.autoencoder(images)
        with torch.autocast(images.device.type, enabled=False):
            amap = self.blur(self.residual(images, rebuilt))
            # Whole-pixel maps are noisy at their single maximum; the smoothed map's is not.
            score = relative_score(amap.flatten(1).amax(dim=1), amap, self.part_level)
            return InferenceBatch(pred_score=score, anomaly_map=amap)
