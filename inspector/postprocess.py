"""From raw scores and maps to what people read: normalised scores, verdicts, regions."""

from __future__ import annotations

import cv2
import numpy as np

from inspector.bundle import ScoreStats, Thresholds
from inspector.result import DefectRegion, Verdict


def normalize(value: float | np.ndarray, threshold: float, good_median: float) -> np.ndarray:
    """Map raw scores to 0..1: the good median goes to 0, the threshold to 0.5.

    Linear on both sides of the threshold with the same slope, clipped, so an operator reads
    0.5 as "at the limit" whatever the model's own units are.
    """
    spread = max(threshold - good_median, 1e-12)
    return np.clip(0.5 + 0.5 * (np.asarray(value, np.float64) - threshold) / spread, 0.0, 1.0)


def judge(score: float, thresholds: Thresholds) -> Verdict:
    # Written as "PASS only if at or under": a NaN score compares false and so FAILs,
    # never slipping a part through.
    return Verdict.PASS if score <= thresholds.image else Verdict.FAIL


def normalized_score(score: float, thresholds: Thresholds, stats: ScoreStats) -> float:
    return float(normalize(score, thresholds.image, stats.good_median))


def find_regions(
    anomaly_map: np.ndarray, pixel_threshold: float, min_area_px: int
) -> list[DefectRegion]:
    """Connected areas above ``pixel_threshold``, largest first, ignoring tiny specks."""
    mask = (anomaly_map > pixel_threshold).astype(np.uint8)
    if not mask.any():
        return []
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    regions = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < min_area_px:
            continue
        peak = float(anomaly_map[y : y + h, x : x + w][labels[y : y + h, x : x + w] == i].max())
        regions.append(DefectRegion(x, y, w, h, area, peak))
    regions.sort(key=lambda r: r.area_px, reverse=True)
    return regions
