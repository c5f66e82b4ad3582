"""GANomaly-style pixel GAN: encoder-decoder-encoder generator judged by a patch critic.

The generator encodes the image to a latent code, decodes a reconstruction and encodes the
reconstruction again; trained on good parts with an adversarial critic, it learns to redraw
good parts, so for a defective one the reconstruction (and the code of the reconstruction)
moves away from the input. GANomaly's own score is that latent distance; its well-known
weakness is that a single code vector cannot say *where*. Here the code is spatial (a
coarse grid, as in the pixel autoencoder), so the latent distance is itself a coarse map,
and the per-pixel map is the structural and colour residual of the reconstruction.

Image score: the map's maximum (where) plus ``latent_weight`` times the latent distance's
maximum cell (GANomaly's what), each divided by its typical value on held-out good parts
(set when fitting) so neither dominates by its units. With ``relative_to_part`` training
(the map cue divided by the part's own level, ``part_level``) the map alone scores better on
parts photographed at random angles, where the latent cue follows the pose rather than
the defect, so such products train with ``latent_weight`` 0.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from inspector.models.base import AnomalyModel, GaussianBlur, InferenceBatch
from inspector.models.cae import ConvAutoencoder, Encoder, pixel_input_size
from inspector.models.part_level import relative_score
from inspector.models.pixel_residual import PixelResidual


class PatchCritic(nn.Module):
    """Spectral-normalised patch discriminator; also returns its features for matching.

    Spectral normalisation bounds the critic's Lipschitz constant, which is what keeps
    adversarial training on a few hundred images from collapsing or oscillating.
    """

    def __init__(self, base: int, depth: int) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        widths = [3] + [base * 2**i for i in range(depth)]
        self.features = nn.Sequential(
            *(
                nn.Sequential(sn(nn.Conv2d(a, b, 4, stride=2, padding=1)), nn.LeakyReLU(0.2))
                for a, b in zip(widths, widths[1:], strict=False)
            )
        )
        self.head = sn(nn.Conv2d(widths[-1], 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Spectral normalisation's power iteration in fp16 is fragile; the critic is small,
        # so it always runs in fp32.
        with torch.autocast(x.device.type, enabled=False):
            f = self.features(x.float())
            return self.head(f), f


class Generator(nn.Module):
    """Encoder, decoder, and a second encoder of the reconstruction."""

    def __init__(self, base: int, depth: int, latent: int) -> None:
        super().__init__()
        self.autoencoder = ConvAutoencoder(base, depth, latent)
        self.reencoder = Encoder(base, depth, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.autoencoder.encoder(x)
        rebuilt = self.autoencoder.decoder(z)
        return rebuilt, z, self.reencoder(rebuilt)


class GANomalyModel(AnomalyModel):
    """Reconstruction residual map plus latent distance, from an adversarially trained generator.

    Args:
        input_size: model input (height, width); both must be multiples of 2**depth.
        base_channels: width of the first generator stage (doubles per stage).
        depth: down-sampling stages of the generator (and of the critic).
        latent_dim: channels of the spatial latent code.
        colour_weight: weight of the colour term of the map against 1 - SSIM.
        blur_sigma: Gaussian smoothing of the map, in input pixels.
        structure_scale: the map's structural term compares images averaged over this many
            pixels square (see ``PixelResidual``; 1: full resolution).
        map_scale, latent_scale: typical good-part values of the two score cues (fitted).
        latent_weight: weight of the latent cue in the image score (0: the map alone).
        part_level: good parts' typical map level; when above 0 the map cue is divided by
            the part's own level, within bounds (see ``part_level``; 0: off).
        load_weights: accepted for the common bundle interface (no pretrained parts).
    """

    family = "ganomaly"

    def __init__(
        self,
        input_size: tuple[int, int] | list[int] = (256, 256),
        base_channels: int = 16,
        depth: int = 4,
        latent_dim: int = 64,
        colour_weight: float = 10.0,
        blur_sigma: float = 4.0,
        structure_scale: int = 1,
        map_scale: float = 1.0,
        latent_scale: float = 1.0,
        latent_weight: float = 1.0,
        part_level: float = 0.0,
        load_weights: bool = True,
    ) -> None:
        super().__init__()
        self.input_size = pixel_input_size(input_size, depth)
        self.base_channels, self.depth = int(base_channels), int(depth)
        self.latent_dim, self.colour_weight = int(latent_dim), float(colour_weight)
        self.blur_sigma = float(blur_sigma)
        self.map_scale, self.latent_scale = float(map_scale), float(latent_scale)
        self.latent_weight, self.part_level = float(latent_weight), float(part_level)
        self.generator = Generator(self.base_channels, self.depth, self.latent_dim)
        self.critic = PatchCritic(self.base_channels, self.depth)
        self.residual = PixelResidual(
            colour_weight=self.colour_weight, structure_scale=structure_scale
        )
        self.blur = GaussianBlur(self.blur_sigma)

    def config(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "base_channels": self.base_channels,
            "depth": self.depth,
            "latent_dim": self.latent_dim,
            "colour_weight": self.colour_weight,
            "blur_sigma": self.blur_sigma,
            "structure_scale": self.residual.structure_scale,
            "map_scale": self.map_scale,
            "latent_scale": self.latent_scale,
            "latent_weight": self.latent_weight,
            "part_level": self.part_level,
        }

    @staticmethod
    def latent_distance(z: torch.Tensor, z_again: torch.Tensor) -> torch.Tensor:
        """Per-cell squared distance of the two codes, (B, 1, h, w)."""
        return (z.float() - z_again.float()).pow(2).mean(dim=1, keepdim=True)

    def cues(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Smoothed map (B, 1, H, W), its maximum (B,; over the part's level once fitted with
        ``relative_to_part``) and the latent cue (B,), unscaled."""
        rebuilt, z, z_again = self.generator(images)
        with torch.autocast(images.device.type, enabled=False):
            amap = self.blur(self.residual(images, rebuilt))
            latent = self.latent_distance(z, z_again).flatten(1).amax(dim=1)
            map_max = relative_score(amap.flatten(1).amax(dim=1), amap, self.part_level)
            return amap, map_max, latent

    def forward(self, images: torch.Tensor) -> InferenceBatch:
        amap, map_max, latent = self.cues(images)
        score = map_max / self.map_scale
        if self.latent_weight:
            score = score + self.latent_weight * latent / self.latent_scale
        return InferenceBatch(pred_score=score, anomaly_map=amap)
