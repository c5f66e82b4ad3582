"""Evaluate a bundle on a labelled MVTec-layout test set."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inspector.imageio import ImageLoadError, read_image
from inspector.runtime import Inspector
from inspector.self_validation import autoconfig_of
from training import metrics
from training.data import LabelledImage, mvtec_test_set
from training.progress import Progress

PIXEL_EVAL_MAX_SIDE = 512  # maps and masks are compared at most at this size, to bound memory


def _mask_for(item: LabelledImage, shape: tuple[int, int]) -> np.ndarray | None:
    """The defect mask at the map's size; all-normal for a good image; None for a defective
    image without one (it then counts in the image metrics only: an empty mask would call
    its defect pixels normal and bias the pixel metrics)."""
    if item.mask is None:
        return None if item.is_anomalous else np.zeros(shape, bool)
    mask = read_image(item.mask)[:, :, 0] > 0
    if mask.shape != shape:
        raise ValueError(
            f"{item.mask}: mask is {mask.shape[1]}x{mask.shape[0]}, image is {shape[1]}x{shape[0]}"
        )
    return mask


def _shrink(amap: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    import cv2

    h, w = amap.shape
    f = PIXEL_EVAL_MAX_SIDE / max(h, w)
    if f >= 1.0:
        return amap, mask
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = cv2.resize(amap, size, interpolation=cv2.INTER_AREA)
    if mask is None:
        return small, None
    return small, cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0


def evaluate(
    inspector: Inspector,
    category: str | Path,
    progress: Callable[[int, int], None] | None = None,
    report: Progress | None = None,
) -> dict[str, Any]:
    """Image and pixel metrics of ``inspector`` on ``category``'s ``test/`` images.

    ``progress`` is called with (images done, images); ``report`` gets the stages
    ``evaluation`` and ``metrics`` (``training.progress.EVALUATION_STAGES``).

    Returns:
        A JSON-able dict: overall image AUROC, pixel AUROC, AUPRO (FPR <= 0.3), F1, false
        reject and miss rates at the bundle's threshold, the F1-optimal threshold, and the
        same per defect type (each type against the good test images).
    """
    items = mvtec_test_set(category)
    report = report or Progress.silent()
    report.stage("evaluation", len(items))
    scores, labels, defects, maps, masks, errors = [], [], [], [], [], []
    warnings: list[str] = []  # mask problems: the image still counts in the image metrics
    latencies = []
    no_mask = 0
    for i, item in enumerate(items):
        try:
            r = inspector.inspect(item.path)
        except (ImageLoadError, ValueError) as exc:
            errors.append(str(exc))
            continue
        try:
            mask = _mask_for(item, r.anomaly_map.shape)
        except (ImageLoadError, ValueError) as exc:
            # A bad mask costs the pixel metrics this image, not the image metrics.
            warnings.append(f"{exc} (image kept in the image metrics only)")
            mask = None
        if item.is_anomalous and item.mask is None:
            no_mask += 1
        scores.append(r.score)
        labels.append(int(item.is_anomalous))
        defects.append(item.defect)
        latencies.append(r.timings_ms["total"])
        amap, mask = _shrink(r.anomaly_map, mask)
        maps.append(amap)
        masks.append(mask)
        if progress:
            progress(i + 1, len(items))
        report.update(i + 1)
    if no_mask:
        warnings.append(
            f"{no_mask} defective images have no ground-truth mask: left out of the pixel "
            "metrics (image metrics include them)"
        )
    report.stage("metrics", 1)
    scores_a, labels_a, defects_a = np.array(scores), np.array(labels), np.array(defects)
    t = inspector.thresholds.image
    result: dict[str, Any] = {
        "category": str(Path(category).resolve()),
        "model_id": inspector.model_id,
        "threshold": t,
        "images": len(scores),
        "errors": errors,
        "warnings": warnings,
        "latency_ms_mean": float(np.mean(latencies)) if latencies else None,
        **_summary(scores_a, labels_a, maps, masks, t),
        "per_defect": {},
    }
    good = defects_a == "good"
    for defect in sorted(set(defects) - {"good"}):
        sel = good | (defects_a == defect)
        idx = np.flatnonzero(sel)
        result["per_defect"][defect] = _summary(
            scores_a[sel], labels_a[sel], [maps[i] for i in idx], [masks[i] for i in idx], t
        )
    block = autoconfig_of(inspector.meta.training)
    if block is not None:  # how the settings were chosen, beside how they did
        keep = ("chosen", "changed", "chosen_figures", "given", "seconds", "note")
        result["autoconfig"] = {k: block[k] for k in keep if k in block}
    report.update(1)
    return result


def _summary(scores: np.ndarray, labels: np.ndarray, maps: list, masks: list, t: float) -> dict:
    out: dict[str, Any] = {"n_good": int((labels == 0).sum()), "n_defective": int(labels.sum())}
    both = 0 < labels.sum() < len(labels)
    out["image_auroc"] = metrics.auroc(scores, labels) if both else None
    # Pixel metrics over the images with a mask (every good one; defective ones with theirs).
    pairs = [(a, m) for a, m in zip(maps, masks, strict=True) if m is not None]
    maps, masks = [a for a, _ in pairs], [m for _, m in pairs]
    has_defect_pixels = any(m.any() for m in masks)
    out["pixel_auroc"] = metrics.pixel_auroc(maps, masks) if has_defect_pixels else None
    out["aupro"] = metrics.aupro(maps, masks, fpr_limit=0.3) if has_defect_pixels else None
    f1 = metrics.f1_at_threshold(scores, labels, t)
    rates = metrics.rates_at_threshold(scores, labels, t)
    out["f1"] = f1["f1"]
    out["false_reject_rate"] = rates["false_reject_rate"]
    out["miss_rate"] = rates["miss_rate"]
    if both:
        best_t, best_f1 = metrics.best_f1_threshold(scores, labels)
        out["f1_optimal_threshold"], out["f1_optimal"] = best_t, best_f1
    return out


def format_table(result: dict[str, Any]) -> str:
    """The evaluation as a plain-text table for the terminal."""

    def f(v: Any) -> str:
        return "   -  " if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:6.3f}"

    head = (
        f"{'defect type':<22}{'n':>5}  {'img AUROC':>9} {'pix AUROC':>9} {'AUPRO':>7} "
        f"{'F1':>7} {'FRR':>7} {'miss':>7}"
    )
    rows = [head, "-" * len(head)]
    items = [("ALL", result), *result["per_defect"].items()]
    for name, r in items:
        n = r["n_good"] + r["n_defective"] if name == "ALL" else r["n_defective"]
        rows.append(
            f"{name:<22}{n:>5}  {f(r['image_auroc']):>9} {f(r['pixel_auroc']):>9} "
            f"{f(r['aupro']):>7} {f(r['f1']):>7} {f(r['false_reject_rate']):>7} "
            f"{f(r['miss_rate']):>7}"
        )
    rows.append(
        f"threshold {result['threshold']:.4g}  (FRR: good parts failed; miss: defective "
        f"parts passed)"
    )
    return "\n".join(rows)


def write_json(result: dict[str, Any], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
