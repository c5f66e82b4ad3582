"""Feature-space GAN discriminator (SimpleNet-style): a patch critic of pretrained features.

A frozen pretrained backbone describes every patch; a one-layer adaptor moves those
features into a space fitted to this product; and a small patch discriminator learns to
tell the adapted features of good parts from "anomalous" ones synthesised by adding
Gaussian noise to them. Only good images are needed: the noise stands in for the defects
nobody has pictures of. At inspection the discriminator's verdict on each patch, negated,
is the anomaly map. Judging features instead of pixels is what makes this GAN family work
where pixel GANs (see ``ganomaly``) do not.

With ``context`` rings the discriminator also sees, beside each patch, the mean of its
neighbours a few cells away, and the synthesised anomalies perturb only the patch: it then
judges whether a patch fits where it stands, not only whether such a patch exists on good
parts, as the feature autoencoder predicts a patch from its neighbours. A thread flank
that would be normal on another screw's thread but not beside this one's neighbours is
then caught.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inspector.models.base import InferenceBatch
from inspector.models.feature_ae import rings
from inspector.models.features import StandardisedFeatures


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


class RingMean(nn.Module):
    """Per-channel mean of the 8 neighbours ``distance`` cells away (the centre excluded).

    Zero padding, as the feature autoencoder's neighbour convolution: on standardised
    features zero is the average patch. A fixed depthwise dilated convolution, so it
    exports to ONNX like any other.
    """

    kernel: torch.Tensor

    def __init__(self, channels: int, distance: int) -> None:
        super().__init__()
        self.channels, self.distance = channels, distance
        kernel = torch.full((1, 1, 3, 3), 1 / 8)
        kernel[..., 1, 1] = 0
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.distance
        return F.conv2d(x, self.kernel.to(x.dtype), padding=d, dilation=d, groups=self.channels)


def feature_adaptor(channels: int) -> nn.Conv2d:
    """A linear map of the features; starts as the identity so training begins from them."""
    conv = nn.Conv2d(channels, channels, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(channels).view(channels, channels, 1, 1))
    return conv


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
        context: neighbour distances (rings), in feature cells, whose mean features the
            discriminator sees beside each patch; empty or 0: the patch alone (as bundles
            saved before rings).
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
        context: int | tuple[int, ...] | list[int] = (),
        load_weights: bool = True,
    ) -> None:
        super().__init__(
            backbone, input_size, aggregation, blur_sigma, score_topk, map_shift, load_weights
        )
        self.hidden = int(hidden)
        # Ring 0 is the patch itself, which the discriminator always sees.
        self.context = tuple(d for d in rings(context) if d > 0) if context else ()
        self.ring_means = nn.ModuleList(RingMean(self.dim, d) for d in self.context)
        judged = self.dim * (1 + len(self.context))
        self.adaptor = feature_adaptor(judged)
        self.discriminator = PatchDiscriminator(judged, self.hidden)

    def config(self) -> dict[str, Any]:
        return {**self.feature_config(), "hidden": self.hidden, "context": list(self.context)}

    def with_context(self, standardised: torch.Tensor) -> torch.Tensor:
        """Standardised features (B, D, h, w) with each ring's neighbour mean appended:
        (B, D * (1 + rings), h, w), the patch's own channels first."""
        return torch.cat([standardised] + [mean(standardised) for mean in self.ring_means], 1)

    def adapt(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw aggregated features to the adapted space the discriminator judges."""
        return self.adaptor(self.with_context(self.standardise(raw)))

    def forward(self, images: torch.Tensor) -> InferenceBatch:
        return self.from_features(self.aggregate(images), images)

    def from_features(self, feats: torch.Tensor, images: torch.Tensor) -> InferenceBatch:
        """The output from raw aggregated features (``aggregate``; see cnn-cluster's)."""
        return self.head(-self.discriminator(self.adapt(feats)).float(), images)
