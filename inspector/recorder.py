"""Turns an inspected part into evidence on disk and a row in the inspection log.

Qt-free so that a headless station (or a test) records exactly what the desktop station does.
Images are written before the row, so a row never points at a file that was not finished; a
crash between the two leaves at worst an unreferenced image, never a lost or dangling record.

Recording runs on the inspection thread, so it has to be quick for large frames too: for an
8000x6000 FAIL part the full-frame float blend of the overlay alone took 4-10 s. The overlay
is blended in strips of rows on all cores (``heatmap_overlay``) and saved as JPEG, since it
is only for people; the part image itself stays a lossless PNG of the frame
as taken (16-bit frames in 16 bits).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from inspector.imageio import to_uint8
from inspector.overlay import draw_regions, heatmap_overlay
from inspector.records import InspectionLog, InspectionRecord
from inspector.result import InspectionResult

SAVE_POLICIES = ("fail", "all", "none")


@dataclass(frozen=True)
class PartContext:
    """Where a part came from, for its record."""

    source: str
    model_id: str
    name: str = ""
    timestamp: float = 0.0
    part: str = ""  # the part id a trigger gave (a PLC serial); "" records the name
    recipe: str = ""


OVERLAY_JPEG_QUALITY = 90


def _write_image(path: Path, rgb: np.ndarray, params: Sequence[int] = ()) -> None:
    """Write atomically (the encoder follows the suffix): a half-written file is worse than
    none."""
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
    if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), list(params)):
        raise OSError(f"could not write {tmp}")
    os.replace(tmp, path)


class PartRecorder:
    """Saves part images per policy and appends one log row per part.

    Args:
        log: the inspection log.
        out_dir: folder for saved images (one subfolder per day).
        policy: ``fail`` (images of FAIL and ERROR parts), ``all`` or ``none``.
        map_range: (low, high) anomaly-map values drawn transparent / hottest in overlays.
    """

    def __init__(
        self,
        log: InspectionLog,
        out_dir: str | Path,
        policy: str = "fail",
        map_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        if policy not in SAVE_POLICIES:
            raise ValueError(f"save policy must be one of {SAVE_POLICIES}, not {policy!r}")
        self.log = log
        self.out_dir = Path(out_dir)
        self.policy = policy
        self.map_range = map_range
        self._seq = 0

    def _should_save(self, verdict: str) -> bool:
        return self.policy == "all" or (self.policy == "fail" and verdict != "PASS")

    def _paths(self, ctx: PartContext, when: float) -> tuple[Path, Path]:
        day = self.out_dir / time.strftime("%Y-%m-%d", time.localtime(when))
        day.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        stem = time.strftime("%H%M%S", time.localtime(when)) + f"_{int(when * 1000) % 1000:03d}"
        stem += f"_{self._seq:04d}"
        if ctx.name:
            stem += "_" + "".join(
                c if c.isalnum() or c in "-_" else "_" for c in Path(ctx.name).stem
            )
        return day / f"{stem}.png", day / f"{stem}_overlay.jpg"

    def record(
        self, image: np.ndarray, result: InspectionResult, ctx: PartContext
    ) -> InspectionRecord:
        """Save evidence (per policy) and append the part's row; returns the stored record."""
        when = ctx.timestamp or time.time()
        verdict = str(result.verdict)
        image_path = overlay_path = ""
        if self._should_save(verdict):
            img_p, ovl_p = self._paths(ctx, when)
            _write_image(img_p, image)  # the frame as taken: 16-bit stays 16-bit
            low, high = self.map_range
            overlay = draw_regions(
                heatmap_overlay(to_uint8(image), result.anomaly_map, low, high), result.regions
            )
            _write_image(ovl_p, overlay, (cv2.IMWRITE_JPEG_QUALITY, OVERLAY_JPEG_QUALITY))
            image_path, overlay_path = str(img_p), str(ovl_p)
        rec = InspectionRecord(
            timestamp=when,
            source=ctx.source,
            model_id=ctx.model_id,
            threshold=float(result.threshold),
            score=float(result.score),
            normalized_score=float(result.normalized_score),
            verdict=verdict,
            defect_count=len(result.regions),
            largest_defect_area=max((r.area_px for r in result.regions), default=0),
            image_path=image_path,
            overlay_path=overlay_path,
            part=ctx.part or ctx.name,
            recipe=ctx.recipe,
        )
        return replace(rec, id=self.log.add(rec))

    def record_error(
        self, ctx: PartContext, error: str, threshold: float = 0.0
    ) -> InspectionRecord:
        """A part that could not be inspected is logged too, with its reason."""
        rec = InspectionRecord(
            timestamp=ctx.timestamp or time.time(),
            source=ctx.source,
            model_id=ctx.model_id,
            threshold=threshold,
            score=float("nan"),
            normalized_score=float("nan"),
            verdict="ERROR",
            error=error,
            part=ctx.part or ctx.name,
            recipe=ctx.recipe,
        )
        return replace(rec, id=self.log.add(rec))
