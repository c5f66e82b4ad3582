"""Pass/fail thresholds from defect-free images alone (and F1-optimal ones given defects)."""

from __future__ import annotations

from typing import Any

import numpy as np

from inspector.bundle import ScoreStats, Thresholds


def threshold_for_false_reject_rate(good_scores: np.ndarray, rate: float) -> float:
    """Smallest threshold that rejects at most ``rate`` of these good scores.

    With few calibration images the empirical quantile sits on one of the scores; taking the
    midpoint to the next higher score (or the maximum plus a margin when ``rate`` admits no
    reject at all) keeps every good score that should pass strictly below the threshold.
    """
    s = np.sort(np.asarray(good_scores, np.float64))
    if s.size == 0:
        raise ValueError("no calibration scores")
    if not 0.0 <= rate < 1.0:
        raise ValueError("false-reject rate must be in [0, 1)")
    allowed = int(np.floor(rate * s.size + 1e-9))  # good images we may reject
    keep = s.size - allowed
    if allowed == 0:
        spread = s[-1] - np.median(s)
        return float(s[-1] + 0.05 * max(spread, 1e-6))
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
