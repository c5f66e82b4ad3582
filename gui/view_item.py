"""What the inference worker hands to the UI for one part, already cut to display size.

Everything heavy (resizing a multi-megapixel frame and its map) happens in the worker, so the
UI thread only blends and paints a display-sized image. Re-judging on a threshold change is
then cheap enough to do on the UI thread: no model is involved, only the stored score and map.
Qt-free, so it is tested without a display.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from inspector.imageio import to_uint8
from inspector.overlay import draw_regions, heatmap_overlay, make_thumbnail
from inspector.postprocess import find_regions
from inspector.result import DefectRegion
from inspector.verdict import ScoreStats, Thresholds, judge, normalized_score
from station.events import PartResult

DISPLAY_SIDE = 960  # longest side of the live image; a station screen rarely shows more
THUMB_SIDE = 112


@dataclass(eq=False)  # a part is itself: its arrays do not compare as one value
class ViewItem:
    """One inspected part, ready to show.

    Attributes:
        image: display-sized RGB uint8 image.
        anomaly_map: the anomaly map at the display size (raw score units).
        scale: display size / original size.
        score: raw image score.
        verdict: PASS, FAIL or ERROR as judged when inspected.
        threshold: image threshold it was judged against.
        regions: defect regions in original-image pixels.
        source: capture source label; name: file name for folder sources.
        timestamp: when the frame was grabbed; latency_ms: grab to result.
        timings_ms: inspector timings (preprocess, model, postprocess, total).
        record_id: row in the inspection log; image_path: saved part image ("" if not saved).
        error: reason, for ERROR parts.
        label: the operator's label ("good" for a false reject), "" if none.
        full_frame: ``image`` is the camera frame itself (8-bit, not downscaled), so it may
            stand in for a part image that was not saved.
        part_id: the id a trigger asked for, or one the inference thread gave the part.
        model_id: the model that judged it.
    """

    image: np.ndarray
    anomaly_map: np.ndarray
    scale: float
    score: float
    verdict: str
    threshold: float
    regions: list[DefectRegion] = field(default_factory=list)
    source: str = ""
    name: str = ""
    timestamp: float = 0.0
    latency_ms: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    record_id: int | None = None
    image_path: str = ""
    error: str = ""
    label: str = ""
    full_frame: bool = False
    part_id: str = ""
    model_id: str = ""

    def result(self) -> PartResult:
        """The part's verdict without its pictures, as the station state records it."""
        return PartResult(
            part_id=self.part_id,
            verdict=self.verdict,
            score=self.score,
            threshold=self.threshold,
            model_id=self.model_id,
            source=self.source,
            name=self.name,
            timestamp=self.timestamp,
            record_id=self.record_id,
            error=self.error,
            image_path=self.image_path,
            timings_ms=dict(self.timings_ms),
            latency_ms=self.latency_ms,
        )


def to_display(
    image: np.ndarray, anomaly_map: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Image (uint8 RGB, scaled to its bit depth) and map shrunk so the longer side is at
    most ``DISPLAY_SIDE``."""
    image = to_uint8(image)
    h, w = image.shape[:2]
    scale = min(1.0, DISPLAY_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if scale < 1.0:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        if anomaly_map is not None:
            anomaly_map = cv2.resize(anomaly_map, size, interpolation=cv2.INTER_AREA)
    if anomaly_map is None:
        anomaly_map = np.zeros(image.shape[:2], np.float32)
    return np.ascontiguousarray(image), np.ascontiguousarray(anomaly_map, np.float32), scale


def rejudge(item: ViewItem, thresholds: Thresholds, stats: ScoreStats) -> tuple[str, float]:
    """Verdict and normalised score of ``item`` under new thresholds (no model involved)."""
    verdict = judged(item, thresholds)
    if verdict == "ERROR":
        return verdict, float("nan")
    return verdict, normalized_score(item.score, thresholds, stats)


def judged(item: ViewItem, thresholds: Thresholds) -> str:
    """PASS, FAIL (or ERROR) of ``item`` against ``thresholds``, by the runtime's rule."""
    if item.verdict == "ERROR":
        return "ERROR"
    return str(judge(item.score, thresholds))


def display_regions(item: ViewItem, thresholds: Thresholds) -> list[DefectRegion]:
    """Defect regions at display scale for the current pixel threshold."""
    min_area = max(1, round(thresholds.min_defect_area_px * item.scale * item.scale))
    return find_regions(item.anomaly_map, thresholds.pixel, min_area)


def render(
    item: ViewItem,
    thresholds: Thresholds,
    map_range: tuple[float, float],
    show_heatmap: bool,
    opacity: float,
) -> np.ndarray:
    """The live-view picture: heatmap (optional) and region outlines over the part."""
    out = item.image
    if show_heatmap and item.verdict != "ERROR":
        out = heatmap_overlay(out, item.anomaly_map, map_range[0], map_range[1], opacity)
    regions = display_regions(item, thresholds) if item.verdict != "ERROR" else []
    if regions and judged(item, thresholds) == "FAIL":
        out = draw_regions(out, regions, color=(255, 40, 40))
    return out


def thumbnail(item: ViewItem, map_range: tuple[float, float]) -> np.ndarray:
    """Small overlay for the history strip."""
    small = make_thumbnail(item.image, THUMB_SIDE)
    if item.verdict == "ERROR":
        return small
    amap = cv2.resize(
        item.anomaly_map, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA
    )
    return heatmap_overlay(small, amap, map_range[0], map_range[1], 0.5)
