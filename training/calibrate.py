"""Pass/fail thresholds from defect-free images alone (and F1-optimal ones given defects)."""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np

from inspector.bundle import ScoreStats, Thresholds


def threshold_for_false_reject_rate(good_scores: np.ndarray, rate: float) -> float:
    """Threshold that should fail about ``rate`` of good parts like these.

    With enough calibration images the threshold lies between the empirical quantile's
    neighbours. With too few to reject even one (fewer than 1 / rate), the highest score says
    little about the tail, so the threshold is the larger of "just above the highest score"
    and a Gaussian tail estimate (mean + z * std at 1 - rate), which is what keeps a model
    calibrated on a handful of images from rejecting half the good parts.
    """
    s = np.sort(np.asarray(good_scores, np.float64))
    if s.size == 0:
        raise ValueError("no calibration scores")
    if not 0.0 < rate < 1.0:
        raise ValueError("false-reject rate must be in (0, 1)")
    allowed = int(np.floor(rate * s.size + 1e-9))  # good images we may reject
    if allowed == 0:
        above_max = s[-1] + 0.05 * max(s[-1] - np.median(s), 1e-6)
        if s.size < 2:
            return float(above_max)
        z = NormalDist().inv_cdf(1.0 - rate)
        return float(max(above_max, s.mean() + z * s.std(ddof=1)))
    keep = s.size - allowed
    return float((s[keep - 1] + s[keep]) / 2.0)


def calibrate(
    good_scores: np.ndarray,
    good_map_maxima: np.ndarray,
    good_map_medians: np.ndarray,
    target_false_reject_rate: float,
    min_defect_area_px: int,
) -> tuple[Thresholds, ScoreStats, dict[str, Any]]:
    """Image and pixel thresholds plus score statistics from held-out good images.

    The pixel threshold is set like the image one but on each good map's maximum, so a good
    part shows a defect region no more often than it is falsely rejected.
    """
    good_scores = np.asarray(good_scores, np.float64)
    image_t = threshold_for_false_reject_rate(good_scores, target_false_reject_rate)
    pixel_t = threshold_for_false_reject_rate(good_map_maxima, target_false_reject_rate)
    thresholds = Thresholds(
        image=image_t,
        pixel=pixel_t,
        min_defect_area_px=int(min_defect_area_px),
        target_false_reject_rate=float(target_false_reject_rate),
    )
    stats = ScoreStats(
        good_median=float(np.median(good_scores)),
        good_max=float(good_scores.max()),
        good_count=int(good_scores.size),
        pixel_good_median=float(np.median(good_map_medians)),
    )
    report = {
        "calibration_images": int(good_scores.size),
        "image_threshold": image_t,
        "pixel_threshold": pixel_t,
        "target_false_reject_rate": float(target_false_reject_rate),
        "calibration_false_reject_rate": float(np.mean(good_scores > image_t)),
        "good_score_median": stats.good_median,
        "good_score_max": stats.good_max,
    }
    return thresholds, stats, report
