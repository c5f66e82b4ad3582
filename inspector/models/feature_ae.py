"""Feature autoencoder (DFR-style): rebuild pretrained multi-scale features of good parts.

A frozen pretrained backbone describes every patch by its multi-scale features; a small
convolutional network rebuilds them, trained on good parts only, and the per-position
reconstruction error is the anomaly map. By default it predicts each position from its
neighbours rather than from the position itself (``context``): a plain autoencoder also
learns to pass unusual features through its bottleneck, which on rotated or finely
textured parts hides the defects it should flag. It never has to draw texture, only
describe it, which is why it is the family's strong member, unlike the pixel autoencoder.

Which neighbours is a matter of defect size. The near ring (2 cells) predicts a part's
fine structure, so a chipped thread stands out; but a crack or an uneven patch longer than
that ring lies under it too, and the network continues the defect instead of flagging it.
A far ring (8 cells) still stands on sound surface there. So the default keeps one small
network per ring and maps the larger of their errors, each in units of its own error on
held-out good parts (``ring_scales``): whichever ring a defect escapes, the other sees it.

The near ring maps only the finest backbone stage's error (``ring_stages``), though it
rebuilds every stage. It predicts fine detail well, and it is there that a chipped thread
shows; its coarse error says less (likely as the neighbours' wide coarse patches take in
the defect too), and averaged over all channels, most of them coarse, it dilutes the fine
one. The far ring keeps every stage: mapping only its coarse stage blurs its map and misses
more defects at the calibrated threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from inspector.models.base import InferenceBatch
from inspector.models.features import StandardisedFeatures
from inspector.models.part_level import relative_score


def conv_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class NeighbourConv(nn.Conv2d):
    """3x3 convolution that reads the ring of neighbours ``distance`` cells away, not the centre.

    A plain autoencoder sees the position it rebuilds, so it can learn to pass an anomalous
    feature through; one that must predict each position from its neighbours cannot, and a
    scratch or a chipped thread that its surroundings do not predict stands out. A distance
    of two cells keeps the neighbours' own receptive-field centres off the defect.
    """

    mask: torch.Tensor

    def __init__(self, c_in: int, c_out: int, distance: int) -> None:
        # Zero padding: on standardised features zero is the average patch, while replicate
        # or reflect padding would feed an edge position its own value.
        super().__init__(c_in, c_out, 3, padding=distance, dilation=distance, bias=False)
        mask = torch.ones(1, 1, 3, 3)
        mask[..., 1, 1] = 0
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class FeatureAutoencoder(nn.Module):
    """Convolutional autoencoder over a feature map: channels narrow to ``latent`` and back.

    Args:
        channels: feature channels in and out.
        hidden: widths of the layers between the features and the bottleneck.
        latent: bottleneck width; small enough that anomalous features cannot pass through.
        kernel: convolution size; 1 rebuilds each position from itself, 3 also from its
            neighbours.
        context: when above 0, the first layer is a ``NeighbourConv`` reading neighbours
            this many cells away, so each position is predicted, never copied (0: the plain
            autoencoder of bundles made before it existed).
    """

    def __init__(
        self, channels: int, hidden: tuple[int, ...], latent: int, kernel: int, context: int = 0
    ) -> None:
        super().__init__()
        widths = [channels, *hidden]
        enc: list[nn.Module] = [
            conv_block(a, b, kernel) for a, b in zip(widths, widths[1:], strict=False)
        ]
        if context > 0:
            if not hidden:
                raise ValueError("a feature autoencoder with context needs a hidden layer")
            enc[0] = nn.Sequential(
                NeighbourConv(widths[0], widths[1], context),
                nn.BatchNorm2d(widths[1]),
                nn.ReLU(inplace=True),
            )
        enc.append(nn.Conv2d(widths[-1], latent, kernel, padding=kernel // 2))
        back = [latent, *reversed(hidden)]
        dec: list[nn.Module] = [
            conv_block(a, b, kernel) for a, b in zip(back, back[1:], strict=False)
        ]
        dec.append(nn.Conv2d(back[-1], channels, kernel, padding=kernel // 2))
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class FeatureAEModel(StandardisedFeatures):
    """Per-position feature reconstruction error of a frozen pretrained backbone.

    Args:
        backbone: backbone spec as a dict (see ``BackboneSpec``).
        input_size: model input (height, width) in pixels.
        aggregation: neighbourhood side averaged per stage (as in the cnn-cluster model).
        hidden: autoencoder widths between features and bottleneck.
        latent_dim: bottleneck width.
        kernel_size: autoencoder convolution size (1 or 3).
        context: neighbour distances (rings), in feature cells, nearest first, from which
            each position is predicted, one autoencoder per ring; the map is their largest
            scaled error (0: rebuilt from itself, a plain autoencoder; a single number is
            one ring, as bundles saved before rings).
        ring_stages: for each ring, the backbone stage (0: the finest) whose features'
            error it maps, or None for the error over every stage (bundles made before).
        ring_scales: each ring's typical error on held-out good parts, which its error is
            divided by (measured when fitting; 1 for bundles made before).
        part_level: good parts' typical map level; when above 0 each part's image score is
            divided by its own level, within bounds (see ``part_level``; 0: bundles made
            before). The level is the nearest ring's: a large defect, which that ring
            continues rather than flags, leaves it where it was, while a farther ring's
            error spreads over the defect and would excuse it.
        blur_sigma: Gaussian smoothing of the anomaly map, in input pixels.
        score_topk: image score = mean of the top-k values of the patch-resolution map.
        map_shift: (dy, dx) receptive-field correction of the map (measured when fitting).
        load_weights: load pretrained backbone weights (False when a bundle supplies them).
    """

    family = "feature-ae"

    def __init__(
        self,
        backbone: dict | None = None,
        input_size: tuple[int, int] | list[int] = (256, 256),
        aggregation: int | tuple[int, ...] | list[int] = (1, 3),
        hidden: tuple[int, ...] | list[int] = (128,),
        latent_dim: int = 48,
        kernel_size: int = 1,
        context: int | Sequence[int] = 0,
        ring_stages: Sequence[int | None] | None = None,
        ring_scales: Sequence[float] | None = None,
        part_level: float = 0.0,
        blur_sigma: float = 4.0,
        score_topk: int = 1,
        map_shift: tuple[int, int] | list[int] = (0, 0),
        load_weights: bool = True,
    ) -> None:
        super().__init__(
            backbone, input_size, aggregation, blur_sigma, score_topk, map_shift, load_weights
        )
        self.hidden = tuple(int(h) for h in hidden)
        self.latent_dim, self.kernel_size = int(latent_dim), int(kernel_size)
        self.context = rings(context)
        scales = [1.0] * len(self.context) if ring_scales is None else ring_scales
        self.ring_scales = tuple(float(s) for s in scales)
        if len(self.ring_scales) != len(self.context) or min(self.ring_scales) <= 0:
            raise ValueError(
                f"ring_scales {list(self.ring_scales)} must be positive, one per ring "
                f"of context {list(self.context)}"
            )
        self.ring_stages = stage_choice(ring_stages, self.context, self.extractor.channels)
        self.part_level = float(part_level)

        def network(ring: int) -> FeatureAutoencoder:
            return FeatureAutoencoder(
                self.dim, self.hidden, self.latent_dim, self.kernel_size, ring
            )

        # The nearest ring keeps the name bundles made before rings saved it under.
        self.autoencoder = network(self.context[0])
        self.far_autoencoders = nn.ModuleList(network(r) for r in self.context[1:])

    @property
    def autoencoders(self) -> list[FeatureAutoencoder]:
        """One network per ring of ``context``, nearest first."""
        return [self.autoencoder, *self.far_autoencoders]  # type: ignore[list-item]

    def config(self) -> dict[str, Any]:
        return {
            **self.feature_config(),
            "hidden": list(self.hidden),
            "latent_dim": self.latent_dim,
            "kernel_size": self.kernel_size,
            "context": list(self.context),
            "ring_stages": list(self.ring_stages),
            "ring_scales": list(self.ring_scales),
            "part_level": self.part_level,
        }

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Standardised features, the autoencoder's input and target, fp32."""
        return self.standardise(self.aggregate(images))

    @staticmethod
    def residual(emb: torch.Tensor, rebuilt: torch.Tensor) -> torch.Tensor:
        """Mean squared reconstruction error per position, (B, 1, h, w): loss and map alike."""
        return (emb - rebuilt.float()).pow(2).mean(dim=1, keepdim=True)

    def ring_error(self, emb: torch.Tensor, ring: int) -> torch.Tensor:
        """Ring ``ring``'s (0: the nearest) error per position (B, 1, h, w) on the channels
        of its stage (``ring_stages``), in the features' own units."""
        rebuilt, stage = self.autoencoders[ring](emb), self.ring_stages[ring]
        if stage is None:
            return self.residual(emb, rebuilt)
        start = sum(self.extractor.channels[:stage])
        end = start + self.extractor.channels[stage]
        return self.residual(emb[:, start:end], rebuilt[:, start:end])

    def ring_map(self, emb: torch.Tensor, ring: int) -> torch.Tensor:
        """``ring_error`` over the ring's scale; a part's level is measured on ring 0's
        (see ``part_level``)."""
        return self.ring_error(emb, ring) / self.ring_scales[ring]

    def ring_maps(self, emb: torch.Tensor) -> list[torch.Tensor]:
        """Every ring's ``ring_map``, nearest first."""
        return [self.ring_map(emb, r) for r in range(len(self.context))]

    @staticmethod
    def combine(maps: list[torch.Tensor]) -> torch.Tensor:
        """The rings' largest scaled error per position: the map, before upsampling."""
        out = maps[0]
        for m in maps[1:]:
            out = torch.maximum(out, m)
        return out

    def patch_map(self, emb: torch.Tensor) -> torch.Tensor:
        """The anomaly map before upsampling (B, 1, h, w)."""
        return self.combine(self.ring_maps(emb))

    def forward(self, images: torch.Tensor) -> InferenceBatch:
        return self.from_features(self.aggregate(images), images)

    def from_features(self, feats: torch.Tensor, images: torch.Tensor) -> InferenceBatch:
        """The output from raw aggregated features (``aggregate``; see cnn-cluster's)."""
        maps = self.ring_maps(self.standardise(feats))
        out = self.head(self.combine(maps), images)
        score = relative_score(out.pred_score, maps[0], self.part_level)
        return InferenceBatch(pred_score=score, anomaly_map=out.anomaly_map)


def rings(context: int | Sequence[int]) -> tuple[int, ...]:
    """``context`` as rings, nearest first; a ValueError names a bad one."""
    values = (context,) if isinstance(context, int) else tuple(context)
    out = tuple(int(r) for r in values)
    if not out or min(out) < 0 or list(out) != sorted(set(out)):
        raise ValueError(
            f"context {list(values)}: give distinct distances of 0 or more, nearest first"
        )
    return out


def stage_choice(
    stages: Sequence[int | None] | None, context: tuple[int, ...], channels: Sequence[int]
) -> tuple[int | None, ...]:
    """``ring_stages`` checked against the rings and the backbone's stages; None: every
    ring maps every stage. A ValueError names a bad one."""
    if stages is None:
        return (None,) * len(context)
    out = tuple(None if v is None else int(v) for v in stages)
    if len(out) != len(context) or any(v is not None and not 0 <= v < len(channels) for v in out):
        raise ValueError(
            f"ring_stages {list(stages)}: give one stage per ring of context {list(context)}, "
            f"each from 0 to {len(channels) - 1} (the backbone's stages) or none for all"
        )
    return out


def near_ring_on_finest_stage(context: Sequence[int], stages: int) -> tuple[int | None, ...]:
    """``ring_stages`` where the nearest of two or more rings maps the finest stage's error
    and every other ring all stages'; a lone ring, or a single stage, keeps all."""
    out: list[int | None] = [None] * len(context)
    if len(context) > 1 and stages > 1:
        out[0] = 0
    return tuple(out)
