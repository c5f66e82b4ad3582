"""Feature-space GAN discriminator (SimpleNet-style): a patch critic of pretrained features.

A frozen pretrained backbone describes every patch; a one-layer adaptor moves those
features into a space fitted to this product; and a small patch discriminator learns to
tell the adapted features of good parts from "anomalous" ones synthesised by adding
Gaussian noise to them. Only good images are needed: the noise stands in for the defects
nobody has pictures of. At inspection the discriminator's verdict on each patch, negated,
is the anomaly map. Judging features instead of pixels is what makes this GAN family work
where pixel GANs (see ``ganomaly``) do not.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from inspector.models.base import InferenceBatch
from inspector.models.features import StandardisedFeatures
from inspector.models.registry import register_model


class PatchDiscriminator(nn.Module):
    """Per-position MLP as 1x1 convolutions: high for normal features, low for anomalous."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.BatchNorm2d(hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(hidden, 1, 1, bias=False),
        )
        for m in self.net:
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def feature_adaptor(channels: int) -> nn.Conv2d:
    """A linear map of the features; starts as the identity so training begins from them."""
    conv = nn.Conv2d(channels, channels, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(channels).view(channels, channels, 1, 1))
    return conv


@register_model
class FeatureGANModel(StandardisedFeatures):
    """Negated patch-discriminator output over adapted, standardised backbone features.

    Standardising first gives the synthetic-anomaly noise a comparable meaning on every
    channel and backbone: the adaptor starts as the identity, so at first the noise is a
    fraction of each channel's spread on good parts (training then reshapes that space).

    Args:
        backbone: backbone spec as a dict (see ``BackboneSpec``).
        input_size: model input (height, width) in pixels.
        aggregation: neighbourhood side averaged per stage (as in the cnn-cluster model).
        hidden: discriminator hidden width.
        blur_sigma: Gaussian smoothing of the anomaly map, in input pixels.
        score_topk: image score = mean of the top-k values of the patch-resolution map.
        map_shift: (dy, dx) receptive-field correction of the map (measured when fitting).
        load_weights: load pretrained backbone weights (False when a bundle supplies them).
    """

    family = "feature-gan"

    def __init__(
        self,
        backbone: dict | None = None,
        input_size: tuple[int, int] | list[int] = (256, 256),
        aggregation: int | tuple[int, ...] | list[int] = (1, 3),
        hidden: int = 1024,
        blur_sigma: float = 4.0,
        score_topk: int = 1,
        map_shift: tuple[int, int] | list[int] = (0, 0),
        load_weights: bool = True,
    ) -> None:
        super().__init__(
            backbone, input_size, aggregation, blur_sigma, score_topk, map_shift, load_weights
        )
        self.hidden = int(hidden)
        self.adaptor = feature_adaptor(self.dim)
        self.discriminator = PatchDiscriminator(self.dim, self.hidden)

    def config(self) -> dict[str, Any]:
        return {**self.feature_config(), "hidden": self.hidden}

    def adapt(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw aggregated features to the adapted space the discriminator judges."""
        return self.adaptor(self.standardise(raw))

    def forward(self, images: torch.Tensor) -> InferenceBatch:
        normality = self.discriminator(self.adapt(self.aggregate(images)))
        return self.head(-normality.float(), images)
