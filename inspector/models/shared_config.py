"""Settings that several families share, as bases of their config dataclasses (no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.models.spec import setting

RARITY_HELP = (
    "weight of each training position: (1 / size of its group of similar patches) ** power "
    "(0: all alike)"
)


@dataclass(frozen=True)
class BackboneConfig:
    """A pretrained backbone's patch features, aggregated, and how a map becomes a score."""

    backbone: str = setting("efficientnet_lite0", "timm model name")
    layers: tuple[int, ...] = setting((2, 3), "backbone feature stages used, e.g. 2 3", minimum=0)
    backbone_weights: str = setting(
        "embedded", "'embedded' (offline EfficientNet-Lite0/1/2), 'hub', or a weights file"
    )
    backbone_location: str = setting(
        "",
        "'' (stage outputs) or 'expansion' (wide in-block features)",
        choices=("", "expansion"),
    )
    aggregation: tuple[int, ...] = setting(
        (1, 3),
        "neighbourhood side for local feature averaging, per stage in layers (one: all)",
        minimum=1,
    )
    blur_sigma: float = setting(4.0, "anomaly-map smoothing in input pixels", minimum=0.0)
    # Several patches: one stray patch of a good part does not decide, a defect lights several.
    score_topk: int = setting(4, "image score: mean of the top-k patch scores", minimum=1)


@dataclass(frozen=True)
class CachedFeatureConfig(BackboneConfig):
    """A head trained on cached features of the frozen backbone."""

    # The backbone is frozen: its features of a few augmented views are computed once.
    cached_views: int = setting(
        4, "augmented views per image whose features are cached (view 0 unaugmented)", minimum=1
    )
    # Rare kinds of good patch are learnt as well as common ones (``training.fitters.rarity``).
    rarity_power: float = setting(0.0, RARITY_HELP, minimum=0.0)
    rarity_groups: int = setting(4096, "coreset centres that define those groups", minimum=1)


@dataclass(frozen=True)
class PixelConfig:
    """A network that redraws the image; the map compares it with its redraw."""

    base_channels: int = setting(16, "width of the first stage (doubles per stage)", minimum=1)
    depth: int = setting(4, "down-sampling stages", minimum=1)
    latent_dim: int = setting(64, "bottleneck width", minimum=1)
    blur_sigma: float = setting(4.0, "anomaly-map smoothing in input pixels", minimum=0.0)
    # Every reconstruction is slightly blurred; comparing averaged images does not flag that.
    structure_scale: int = setting(
        4,
        "the map's structural term (1 - SSIM) compares the images averaged over this many "
        "pixels square (1: full resolution)",
        minimum=1,
    )
    relative_to_part: bool = setting(
        False, "divide each part's score by the part's own typical map level, within bounds"
    )
