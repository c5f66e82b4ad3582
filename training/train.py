"""One training run: good images -> fitted, calibrated, saved model bundle."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

import numpy as np

from inspector.backends.torch_backend import TorchBackend
from inspector.bundle import BundleMeta, save_bundle
from inspector.imageio import ImageLoadError
from inspector.models import AnomalyModel
from inspector.outputs import check_output_folder
from inspector.preprocess import Preprocessing
from inspector.runtime import Inspector
from inspector.verdict import Calibration, ScoreStats, Thresholds, calibrate
from training.autoconfig import auto_configure
from training.autoconfig import stages as auto_stages
from training.data import good_images, intensity_reference, split_holdout
from training.fitters import FitContext, fitter_of
from training.loop import seed_everything
from training.progress import Progress
from training.settings import TrainSettings


def build_model(s: TrainSettings) -> AnomalyModel:
    """An unfitted model of the family and settings ``s`` names."""
    return fitter_of(s.model).build(s)


def stage_plan(s: TrainSettings, export: bool = False) -> list[tuple[str, float]]:
    """The progress stages of a training run of ``s``, with their rough shares of its time
    (``export``: the command line exports the graph after training)."""
    stages = [*auto_stages(s), ("intensity", 0.5), *fitter_of(s.model).stages]
    stages.append(("calibration", 1.0))
    return [*stages, ("export", 1.5)] if export else stages


def default_workdir(out: str | Path) -> Path:
    """Checkpoints and TensorBoard logs live beside the bundle, not in it: a bundle is what
    ships to a station, and optimiser state has no business there."""
    out = Path(out)
    return out.parent / f"{out.name}.training"


def train(
    data: str | Path,
    out: str | Path,
    settings: TrainSettings | None = None,
    val_dir: str | Path | None = None,
    show_progress: bool = True,
    workdir: str | Path | None = None,
    resume: bool = False,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
    explicit: Collection[str] | None = None,
) -> BundleMeta:
    """Fit a model on the good images in ``data``, calibrate it and save a bundle at ``out``.

    Args:
        data: folder of good images, or an MVTec-layout category (``train/good`` is used).
        out: bundle directory to write.
        settings: training settings (defaults if None).
        val_dir: good images for calibration; if None, ``settings.holdout`` of ``data`` is
            held out instead.
        show_progress: draw progress bars on stderr.
        workdir: checkpoints and TensorBoard logs of trained families (default: beside
            ``out``, see ``default_workdir``).
        resume: continue a trained family from its last checkpoint in ``workdir``.
        cancel: set from another thread to stop a trained family cleanly.
        progress: where the run reports its stages (``stage_plan``).
        explicit: settings given explicitly, never searched by ``settings.run.auto``
            (default: those that differ from the family's defaults).

    Returns:
        The saved bundle's metadata (thresholds, model id, training summary).
    """
    s = settings or TrainSettings()
    fitter = fitter_of(s.model)
    progress = progress or Progress(stage_plan(s))  # checks the fit's stages even unheard
    check_output_folder(Path(out))  # before minutes of fitting, not after
    t0 = time.perf_counter()
    files = good_images(data)
    if val_dir is not None:
        fit_files, cal_files = files, good_images(val_dir)
    else:
        fit_files, cal_files = split_holdout(files, s.run.holdout, seed=s.run.seed)
    s, autoconfig = auto_configure(s, fit_files, cal_files, explicit, progress)
    if s.run.normalize_intensity:
        progress.stage("intensity", len(fit_files))
    pre = fitted_preprocessing(s, fit_files)
    seed_everything(s.run.seed)  # weight init of trained families
    model = fitter.build(s).eval()
    ctx = FitContext(
        settings=s,
        preprocessing=pre,
        fit_files=fit_files,
        val_files=cal_files,
        workdir=Path(workdir) if workdir else default_workdir(out),
        resume=resume,
        show_progress=show_progress,
        cancel=cancel,
        progress=progress,
    )
    skipped = ctx.skipped
    fit_summary = fitter.fit(model, ctx)
    fit_seconds = time.perf_counter() - t0

    calibrated, calibration = calibrated_meta(model, s, pre, cal_files, skipped, progress)
    training = {
        "data": str(Path(data).resolve()),
        "fit_images": count_read(fit_files, skipped),
        "calibration_images": calibration.images,
        "calibration_source": str(Path(val_dir).resolve()) if val_dir else "holdout",
        "skipped_files": sorted(set(skipped)),
        "fit_seconds": round(fit_seconds, 2),
        "total_seconds": round(time.perf_counter() - t0, 2),
        "settings": s.to_dict(),
        "fit": fit_summary,
        "calibration": calibration.to_json(),
        **({"autoconfig": autoconfig} if autoconfig is not None else {}),
    }
    meta = replace(calibrated, training=training)
    out = Path(out)
    settings_json = json.dumps(s.to_dict(), indent=2) + "\n"
    return save_bundle(out, model, meta, {"train_settings.json": settings_json.encode()})


def count_read(files: list[Path], skipped: list[str]) -> int:
    """How many of ``files`` were read: ``skipped`` holds "<path>: <reason>" messages."""
    return sum(1 for f in files if not any(m.startswith(f"{f}: ") for m in skipped))


def fitted_preprocessing(s: TrainSettings, fit_files: list[Path]) -> Preprocessing:
    """How the settings turn images into model inputs, with the intensity target (if
    normalised) measured on the images the model is fitted on."""
    run = s.run
    pre = Preprocessing(
        input_size=(run.input_size, run.input_size),
        resize_mode=run.resize_mode,
        normalize_intensity=run.normalize_intensity,
    )
    reference = (
        intensity_reference(fit_files, pre, run.min_contrast) if run.normalize_intensity else None
    )
    if reference is not None:
        pre = replace(pre, intensity_mean=reference[0], intensity_std=reference[1])
    return pre


def calibrated_meta(
    model: AnomalyModel,
    s: TrainSettings,
    pre: Preprocessing,
    cal_files: list[Path],
    skipped: list[str],
    progress: Progress | None = None,
) -> tuple[BundleMeta, Calibration]:
    """Score the held-out good images exactly as inspection will, then set thresholds.

    Returns the bundle metadata without its training summary and the calibration record
    (which counts the images scored); unreadable ones are named in ``skipped``. Scoring
    is the ``calibration`` stage of ``progress``.
    """
    progress = progress or Progress.silent()
    progress.stage("calibration", len(cal_files))
    placeholder = BundleMeta(
        family=s.model,
        model_config=model.config(),
        preprocessing=pre,
        thresholds=Thresholds(image=float("inf"), pixel=float("inf")),
        score_stats=ScoreStats(good_median=0.0, good_max=0.0, good_count=0),
    )
    probe = Inspector(TorchBackend(model), placeholder)
    scores, maxima, medians = [], [], []
    for i, path in enumerate(cal_files):
        progress.update(i)
        try:
            (score,), (amap,), _ = probe.score_maps([path])
        except ImageLoadError as exc:  # skip, but say so in the training summary
            skipped.append(str(exc))
            continue
        scores.append(score)
        maxima.append(float(amap.max()))
        medians.append(float(np.median(amap)))
    if not scores:
        raise ValueError("no readable calibration images")
    thresholds, stats, calibration = calibrate(
        np.array(scores),
        np.array(maxima),
        np.array(medians),
        s.run.target_false_reject_rate,
        s.run.min_defect_area_px,
    )
    progress.update(len(cal_files))
    meta = replace(placeholder, thresholds=thresholds, score_stats=stats)
    return meta, calibration
