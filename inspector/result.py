"""Result types shared by every model family, backend, report and the GUI."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"


@dataclass(frozen=True)
class DefectRegion:
    """One connected area of the anomaly map above the pixel threshold.

    Coordinates are in pixels of the original image (x to the right, y down).
    """

    x: int
    y: int
    width: int
    height: int
    area_px: int
    max_score: float


@dataclass
class InspectionResult:
    """What inspecting one image gives.

    Attributes:
        score: raw image score in the model's own units (higher is more anomalous).
        normalized_score: score mapped to 0..1 with the image threshold at 0.5.
        verdict: PASS or FAIL against the image threshold.
        threshold: the image threshold the verdict was judged against.
        anomaly_map: float32 map in raw score units at the image's own resolution (H, W).
        regions: defect regions (empty for most good parts).
        timings_ms: stage name -> milliseconds (preprocess, model, postprocess, total).
    """

    score: float
    normalized_score: float
    verdict: Verdict
    threshold: float
    anomaly_map: np.ndarray
    regions: list[DefectRegion] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
