"""One training run: good images -> fitted, calibrated, saved model bundle."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from inspector.backbone import BackboneSpec
from inspector.backends.torch_backend import TorchBackend
from inspector.bundle import BundleMeta, ScoreStats, Thresholds, save_bundle
from inspector.imageio import ImageLoadError
from inspector.models import create_model
from inspector.preprocess import Preprocessing
from inspector.runtime import Inspector
from training.calibrate import calibrate
from training.data import good_images, iter_batches, split_holdout
from training.fitters import FITTERS
from training.settings import TrainSettings


def build_model(s: TrainSettings):
    """An unfitted model of the family and settings ``s`` names."""
    backbone = BackboneSpec(
        name=s.backbone, layers=s.layers, weights=s.backbone_weights, location=s.backbone_location
    )
    return create_model(
        s.model,
        backbone=backbone.to_dict(),
        input_size=(s.input_size, s.input_size),
        aggregation=s.aggregation,
        blur_sigma=s.blur_sigma,
        score_topk=s.score_topk,
        projection_dim=s.projection_dim,
        coarse_size=s.coarse_memory,
        refine_k=s.refine_patches,
    )


def train(
    data: str | Path,
    out: str | Path,
    settings: TrainSettings | None = None,
    val_dir: str | Path | None = None,
    show_progress: bool = True,
) -> BundleMeta:
    """Fit a model on the good images in ``data``, calibrate it and save a bundle at ``out``.

    Args:
        data: folder of good images, or an MVTec-layout category (``train/good`` is used).
        out: bundle directory to write.
        settings: training settings (defaults if None).
        val_dir: good images for calibration; if None, ``settings.holdout`` of ``data`` is
            held out instead.
        show_progress: draw progress bars on stderr.

    Returns:
        The saved bundle's metadata (thresholds, model id, training summary).
    """
    s = settings or TrainSettings()
    if s.model not in FITTERS:
        raise ValueError(f"no fit function for model {s.model!r}; have {sorted(FITTERS)}")
    t0 = time.perf_counter()
    files = good_images(data)
    if val_dir is not None:
        fit_files, cal_files = files, good_images(val_dir)
    else:
        fit_files, cal_files = split_holdout(files, s.holdout, seed=s.seed)
    pre = Preprocessing(
        input_size=(s.input_size, s.input_size),
        resize_mode=s.resize_mode,
        normalize_intensity=s.normalize_intensity,
    )
    model = build_model(s).eval()
    skipped: list[str] = []
    fit_summary = FITTERS[s.model](
        model,
        iter_batches(fit_files, pre, s.batch_size, skipped),
        len(fit_files),
        s,
        show_progress=show_progress,
    )
    fit_seconds = time.perf_counter() - t0

    # Score the held-out good images exactly as inspection will, then set thresholds.
    placeholder = BundleMeta(
        family=s.model,
        model_config=model.config(),
        preprocessing=pre,
        thresholds=Thresholds(image=float("inf"), pixel=float("inf")),
        score_stats=ScoreStats(good_median=0.0, good_max=0.0, good_count=0),
    )
    probe = Inspector(TorchBackend(model), placeholder)
    scores, maxima, medians = [], [], []
    for path in cal_files:
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
    thresholds, stats, cal_report = calibrate(
        np.array(scores),
        np.array(maxima),
        np.array(medians),
        s.target_false_reject_rate,
        s.min_defect_area_px,
    )
    training = {
        "data": str(Path(data).resolve()),
        "fit_images": len(fit_files),
        "calibration_images": len(scores),
        "calibration_source": str(Path(val_dir).resolve()) if val_dir else "holdout",
        "skipped_files": skipped,
        "fit_seconds": round(fit_seconds, 2),
        "total_seconds": round(time.perf_counter() - t0, 2),
        "settings": s.to_dict(),
        "fit": fit_summary,
        "calibration": cal_report,
    }
    meta = replace(placeholder, thresholds=thresholds, score_stats=stats, training=training)
    out = Path(out)
    meta = save_bundle(out, model, meta)
    (out / "train_settings.json").write_text(json.dumps(s.to_dict(), indent=2) + "\n")
    return meta
