"""From anomaly maps to what people read: defect regions (verdicts: ``inspector.verdict``)."""

from __future__ import annotations

import cv2
import numpy as np

from inspector.result import DefectRegion


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
