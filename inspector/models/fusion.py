"""Fusion: the memory model (cnn-cluster) and a learned family on one backbone pass.

The memory model's image score is the most reliable on unseen parts; a learned family's
maps often outline a defect better. Their raw units have nothing in common (a feature
distance, a scaled reconstruction error, a negated verdict), so each member's map and image
score are first put in units of its own good parts: minus the good parts' median, over how
far good parts' high values reach above it (``GOOD_QUANTILE``). The fused map is the
weighted mean of the members' normalised maps and the fused score the weighted mean of
their normalised image scores. The statistics and the weights are fitted and held in the
config, so the bundle carries them and the exported graph is one graph: the backbone runs
once and both heads read its features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from inspector.backbone import BackboneSpec, FeatureExtractor
from inspector.models.base import AnomalyModel, InferenceBatch
from inspector.models.cnn_cluster import CnnClusterModel
from inspector.models.feature_ae import FeatureAEModel
from inspector.models.feature_gan import FeatureGANModel
from inspector.models.features import StandardisedFeatures, aggregate_stages
from inspector.models.fusion_config import LEARNED_MEMBERS

MEMORY_FAMILY = "cnn-cluster"
# A good part's values reach this quantile above their median: the unit of every member's
# normalised map (over all good positions) and score (over good images).
MAP_QUANTILE = 0.99
SCORE_QUANTILE = 0.9

Norm = tuple[float, float]  # (centre, scale): normalised = (raw - centre) / scale


# The learned members by family; each gives its output from features aggregated once
# (``from_features``), so the backbone runs once for both members.
Learned = FeatureAEModel | FeatureGANModel
LEARNED_CLASSES: dict[str, type[Learned]] = {
    "feature-ae": FeatureAEModel,
    "feature-gan": FeatureGANModel,
}


def share_extractor(member: StandardisedFeatures, extractor: FeatureExtractor) -> None:
    """Make ``member`` read ``extractor`` without owning it: its methods keep working, while
    the weights are saved, moved and exported once, as the fusion's own."""
    del member.extractor
    # A plain attribute, not a submodule: safetensors refuses tensors saved twice.
    object.__setattr__(member, "extractor", extractor)


def checked_norms(norms: Sequence[Sequence[float]] | None, what: str) -> tuple[Norm, Norm]:
    """Two (centre, scale) pairs, scales positive; (0, 1) each when None."""
    pairs = [(0.0, 1.0), (0.0, 1.0)] if norms is None else [tuple(p) for p in norms]
    if len(pairs) != 2 or any(len(p) != 2 or not float(p[1]) > 0 for p in pairs):
        raise ValueError(f"{what} {norms!r}: give two [centre, scale] pairs, scales above 0")
    return (float(pairs[0][0]), float(pairs[0][1])), (float(pairs[1][0]), float(pairs[1][1]))


def checked_weights(weights: Sequence[float]) -> tuple[float, float]:
    """The members' weights: two, none negative, not both zero."""
    w = tuple(float(v) for v in weights)
    if len(w) != 2 or min(w) < 0 or sum(w) <= 0:
        raise ValueError(
            f"fusion weights {list(weights)}: give two weights (memory, learned), "
            "none negative, not both 0"
        )
    return w[0], w[1]


class FusionModel(AnomalyModel):
    """A memory member and a learned member on one backbone pass, normalised and fused.

    Args:
        backbone: backbone spec as a dict (see ``BackboneSpec``), shared by both members.
        input_size: model input (height, width) in pixels.
        memory: the cnn-cluster member's own config (without backbone and input size).
        learned: the learned member's own config (likewise).
        learned_family: the learned member's family (``LEARNED_MEMBERS``).
        map_norms: (centre, scale) of each member's map on good parts, memory first
            (fitted; (0, 1): raw units).
        score_norms: (centre, scale) of each member's image score on good parts.
        weights: (memory, learned) weights of the normalised maps and scores.
        load_weights: load pretrained backbone weights (False when a bundle supplies them).
    """

    family = "fusion"

    def __init__(
        self,
        backbone: dict | None = None,
        input_size: tuple[int, int] | list[int] = (256, 256),
        memory: dict | None = None,
        learned: dict | None = None,
        learned_family: str = "feature-ae",
        map_norms: Sequence[Sequence[float]] | None = None,
        score_norms: Sequence[Sequence[float]] | None = None,
        weights: Sequence[float] = (1.0, 1.0),
        load_weights: bool = True,
    ) -> None:
        super().__init__()
        if learned_family not in LEARNED_MEMBERS:
            raise ValueError(
                f"learned_family {learned_family!r}: a fusion's learned member is one of "
                f"{list(LEARNED_MEMBERS)}"
            )
        self.backbone_spec = BackboneSpec.from_dict(backbone) if backbone else BackboneSpec()
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.learned_family = learned_family
        self.map_norms = checked_norms(map_norms, "map_norms")
        self.score_norms = checked_norms(score_norms, "score_norms")
        self.weights = checked_weights(weights)
        self.extractor = FeatureExtractor(self.backbone_spec, load_weights=load_weights)
        shared: dict[str, Any] = {
            "backbone": self.backbone_spec.to_dict(),
            "input_size": self.input_size,
        }
        self.memory = CnnClusterModel(**shared, **(memory or {}), load_weights=False)
        learned_class = LEARNED_CLASSES[learned_family]
        self.learned = learned_class(**shared, **(learned or {}), load_weights=False)
        for member in self.members:
            share_extractor(member, self.extractor)

    @property
    def members(self) -> tuple[StandardisedFeatures, StandardisedFeatures]:
        """(memory, learned)."""
        return self.memory, self.learned  # type: ignore[return-value]

    def config(self) -> dict[str, Any]:
        def own(member: StandardisedFeatures) -> dict[str, Any]:
            cfg = member.config()
            return {k: v for k, v in cfg.items() if k not in ("backbone", "input_size")}

        return {
            "backbone": self.backbone_spec.to_dict(),
            "input_size": list(self.input_size),
            "memory": own(self.memory),
            "learned": own(self.learned),
            "learned_family": self.learned_family,
            "map_norms": [list(n) for n in self.map_norms],
            "score_norms": [list(n) for n in self.score_norms],
            "weights": list(self.weights),
        }

    def set_members(self, memory: CnnClusterModel, learned: Learned) -> None:
        """Install members fitted as models of their own families; both must have read the
        same frozen backbone, which becomes the fusion's one copy."""
        if getattr(learned, "family", None) != self.learned_family:
            raise ValueError(f"the learned member must be a {self.learned_family} model")
        mine, theirs = memory.extractor.state_dict(), learned.extractor.state_dict()
        if mine.keys() != theirs.keys() or any(
            not torch.equal(mine[k], theirs[k].to(mine[k].device)) for k in mine
        ):
            raise ValueError("the fusion's members were fitted on different backbones")
        self.extractor = memory.extractor
        self.memory, self.learned = memory, learned
        for member in self.members:
            share_extractor(member, self.extractor)

    def train(self, mode: bool = True) -> FusionModel:
        # The backbone's ImageNet batch-norm statistics never change (as in every member).
        super().train(mode)
        self.extractor.train(False)
        return self

    def member_outputs(self, images: torch.Tensor) -> list[InferenceBatch]:
        """Each member's own output in its raw units (memory first), from one backbone pass."""
        feats = self.extractor(images)
        aggregated: dict[tuple[int, ...], torch.Tensor] = {}
        outputs = []
        for member in (self.memory, self.learned):
            if member.aggregation not in aggregated:  # the same averaging is done once
                aggregated[member.aggregation] = aggregate_stages(feats, member.aggregation)
            outputs.append(member.from_features(aggregated[member.aggregation], images))
        return outputs

    def fuse(
        self, outputs: Sequence[InferenceBatch], weights: Sequence[float] | None = None
    ) -> InferenceBatch:
        """The weighted mean of the members' normalised maps and scores (``weights``: the
        model's own when None; a fitter tries others on the same outputs)."""
        w = self.weights if weights is None else checked_weights(weights)
        total = w[0] + w[1]
        score = torch.zeros_like(outputs[0].pred_score, dtype=torch.float32)
        amap = torch.zeros_like(outputs[0].anomaly_map, dtype=torch.float32)
        for out, weight, (mc, ms), (sc, ss) in zip(
            outputs, w, self.map_norms, self.score_norms, strict=True
        ):
            if weight == 0:
                continue  # a member switched off costs nothing in the sum
            score = score + (weight / total) * (out.pred_score.float() - sc) / ss
            amap = amap + (weight / total) * (out.anomaly_map.float() - mc) / ms
        return InferenceBatch(pred_score=score, anomaly_map=amap)

    def forward(self, images: torch.Tensor) -> InferenceBatch:
        return self.fuse(self.member_outputs(images))


def good_norm(values: torch.Tensor, quantile: float, sample: int = 1_000_000) -> Norm:
    """(median, quantile - median) of good parts' ``values``: the unit a member's map or
    score is measured in. A scale of 0 (every good value alike) falls back to 1e-6 of the
    median's size, so a constant member cannot divide by zero."""
    v = values.detach().flatten().float()
    if v.numel() == 0:
        raise ValueError("no good values to normalise a fusion member by")
    if v.numel() > sample:  # a random sample: a stride could pick map columns
        v = v[torch.randperm(v.numel(), generator=torch.Generator().manual_seed(0))[:sample]]
    centre = float(v.median())
    scale = float(torch.quantile(v, quantile)) - centre
    floor = max(abs(centre), 1.0) * 1e-6
    return centre, max(scale, floor)
