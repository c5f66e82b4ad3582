"""What every fit function gets: the data, the settings and the run's options."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from inspector.backbone import BackboneSpec
from inspector.models.part_level import part_level, reference_level
from inspector.preprocess import Preprocessing
from training.batches import AugmentedImages, BatchSource
from training.data import InputImages
from training.loop import LoopResult, Task, TrainingLoop
from training.progress import Progress
from training.settings import TrainSettings


@dataclass
class FitContext:
    """One training run's inputs.

    Attributes:
        settings: the resolved training settings.
        preprocessing: how images become model inputs.
        fit_files: good images the model learns from.
        val_files: held-out good images (validation loss and calibration, never test images).
        skipped: unreadable files are appended here with their reason.
        workdir: checkpoints and TensorBoard logs of trained families.
        resume: continue a trained family from ``workdir``'s checkpoint.
        show_progress: draw progress bars.
        cancel: set to stop a trained family after its current batch.
        progress: where the fit reports its stages (its ``Fitter.stages``).
    """

    settings: TrainSettings
    preprocessing: Preprocessing
    fit_files: list[Path]
    val_files: list[Path]
    workdir: Path
    skipped: list[str] = field(default_factory=list)
    resume: bool = False
    show_progress: bool = True
    cancel: threading.Event | None = None
    progress: Progress = field(default_factory=Progress.silent)

    @property
    def config(self) -> Any:
        """The family's own config (``settings.config``)."""
        return self.settings.config

    @cached_property
    def train_images(self) -> InputImages:
        return InputImages.load(self.fit_files, self.preprocessing, self.skipped)

    @cached_property
    def val_images(self) -> InputImages:
        return InputImages.load(self.val_files, self.preprocessing, self.skipped)

    def image_sources(self) -> tuple[AugmentedImages, AugmentedImages]:
        """(training, validation) batches of the run's images, training ones augmented;
        reading them is the ``images`` stage."""
        run = self.settings.run
        self.progress.stage("images", len(self.fit_files) + len(self.val_files))
        sources = (
            AugmentedImages(self.train_images, run.augment, run.seed),
            AugmentedImages(self.val_images, (), run.seed),
        )
        self.progress.update(len(self.fit_files) + len(self.val_files))
        return sources

    def preview(self, n: int = 4) -> torch.Tensor:
        """The first ``n`` validation images as a network batch (TensorBoard pictures)."""
        return torch.from_numpy(self.val_images.batch(range(min(n, len(self.val_images)))))


def denormalise(batch: torch.Tensor, spec: Preprocessing | None = None) -> torch.Tensor:
    """Network inputs back to 0..1 RGB pictures (for TensorBoard)."""
    spec = spec or Preprocessing()
    mean = torch.tensor(spec.mean, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=batch.device).view(1, 3, 1, 1)
    return (batch.float() * std + mean).clamp(0, 1)


def map_picture(maps: torch.Tensor) -> torch.Tensor:
    """Anomaly maps stretched over the batch's range into 0..1 (one channel); some
    families' maps are negative (a negated discriminator verdict)."""
    maps = maps.float()
    low = maps.amin()
    return (maps - low) / (maps.amax() - low).clamp_min(1e-12)


@dataclass(frozen=True)
class Fitter:
    """The training side of a model family, named by its ``FamilySpec.fitter``.

    Attributes:
        build: an unfitted model from the run's settings.
        fit: fills the model's buffers or trains its weights; returns a JSON-able summary.
        stages: (name, rough share of the fit's time) of the progress stages ``fit``
            reports, in order.
    """

    build: Callable[[TrainSettings], Any]
    fit: Callable[[Any, FitContext], dict[str, Any]]
    stages: tuple[tuple[str, float], ...]


def backbone_config(cfg: Any) -> dict:
    """The backbone spec a family config (``BackboneConfig``) names, as a model config dict."""
    return BackboneSpec(
        name=cfg.backbone,
        layers=cfg.layers,
        weights=cfg.backbone_weights,
        location=cfg.backbone_location,
    ).to_dict()


def feature_model_args(s: TrainSettings) -> dict[str, Any]:
    """Constructor arguments of every backbone-feature family (``BackboneConfig``)."""
    cfg = s.config
    return {
        "backbone": backbone_config(cfg),
        "input_size": (s.run.input_size, s.run.input_size),
        "aggregation": cfg.aggregation,
        "blur_sigma": cfg.blur_sigma,
        "score_topk": cfg.score_topk,
    }


def pixel_model_args(s: TrainSettings) -> dict[str, Any]:
    """Constructor arguments of every image-redrawing family (``PixelConfig``)."""
    cfg = s.config
    return {
        "input_size": (s.run.input_size, s.run.input_size),
        "base_channels": cfg.base_channels,
        "depth": cfg.depth,
        "latent_dim": cfg.latent_dim,
        "blur_sigma": cfg.blur_sigma,
        "structure_scale": cfg.structure_scale,
    }


def run_task(task: Task, ctx: FitContext, train: BatchSource, val: BatchSource) -> LoopResult:
    """Train ``task`` through the shared loop with the run's options; the model ends on CPU."""
    loop = TrainingLoop(
        task,
        train,
        val,
        ctx.settings,
        ctx.workdir,
        resume=ctx.resume,
        show_progress=ctx.show_progress,
        cancel=ctx.cancel,
        progress=ctx.progress,
    )
    result = loop.run()
    task.model.cpu()
    return result


@torch.no_grad()
def good_part_level(
    model: torch.nn.Module,
    val: BatchSource,
    batch_size: int,
    raw_map: Callable[[torch.Tensor], torch.Tensor],
) -> float:
    """Good parts' typical anomaly-map level, on held-out good images (see ``part_level``).

    ``raw_map`` turns one validation batch into the maps the level is measured on.
    """
    model.eval()
    levels = [part_level(raw_map(b)) for b in val.batches(None, batch_size, shuffle=False)]
    return reference_level(torch.cat(levels) if levels else torch.empty(0))
