from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from inspector.recorder import PartContext, PartRecorder
from inspector.records import InspectionLog
from inspector.result import DefectRegion, InspectionResult, Verdict


def _result(verdict: Verdict) -> InspectionResult:
    amap = np.zeros((32, 48), np.float32)
    amap[10:20, 10:20] = 3.0
    regions = [DefectRegion(10, 10, 10, 10, 100, 3.0)] if verdict == Verdict.FAIL else []
    return InspectionResult(2.0, 0.7, verdict, 1.0, amap, regions)


@pytest.mark.parametrize(
    ("policy", "saved"), [("fail", {"FAIL"}), ("all", {"FAIL", "PASS"}), ("none", set())]
)
def test_save_policy_decides_which_parts_keep_images(tmp_path: Path, policy, saved) -> None:
    image = np.full((32, 48, 3), 100, np.uint8)
    with InspectionLog(tmp_path / "log.sqlite") as log:
        rec = PartRecorder(log, tmp_path / "img", policy, (0.0, 3.0))
        for v in (Verdict.PASS, Verdict.FAIL):
            r = rec.record(image, _result(v), PartContext("cam0", "m1", name="a/b c.png"))
            assert r.id is not None
            assert bool(r.image_path) == (v in saved)
            if r.image_path:
                assert Path(r.image_path).is_file() and Path(r.overlay_path).is_file()
        rows = log.query(newest_first=False)
    assert [r.verdict for r in rows] == ["PASS", "FAIL"]
    assert rows[1].defect_count == 1 and rows[1].largest_defect_area == 100
    assert rows[1].source == "cam0" and rows[1].model_id == "m1" and rows[1].part == "a/b c.png"


def test_16_bit_evidence_is_lossless_and_its_overlay_is_not_black(tmp_path: Path) -> None:
    import cv2

    image = np.full((32, 48, 3), 3000, np.uint16)  # 12-bit data, as a 12-bit camera gives
    image[0, 0] = 4095
    with InspectionLog(tmp_path / "log.sqlite") as log:
        r = PartRecorder(log, tmp_path, "all").record(
            image, _result(Verdict.FAIL), PartContext("s", "m")
        )
    saved = cv2.imread(r.image_path, cv2.IMREAD_UNCHANGED)
    assert saved.dtype == np.uint16 and np.array_equal(saved[:, :, ::-1], image)
    # The top 8 bits of 3000 are 11 (nearly black); scaled by the 12 bits in use it is 187.
    overlay = cv2.imread(r.overlay_path)
    assert abs(int(np.median(overlay)) - (3000 >> 4)) <= 3


def test_errors_are_logged_with_their_reason(tmp_path: Path) -> None:
    with InspectionLog(tmp_path / "log.sqlite") as log:
        r = PartRecorder(log, tmp_path).record_error(PartContext("s", "m"), "x.png: truncated", 1.0)
        (row,) = log.query()
    assert row.id == r.id and row.verdict == "ERROR" and row.error == "x.png: truncated"
    assert math.isnan(row.score)


def test_unknown_policy_is_refused(tmp_path: Path) -> None:
    with InspectionLog(tmp_path / "log.sqlite") as log, pytest.raises(ValueError, match="policy"):
        PartRecorder(log, tmp_path, "sometimes")


def test_overlay_is_a_jpeg_close_to_the_blend(tmp_path: Path) -> None:
    import cv2

    from inspector.overlay import STRIP_ROWS, draw_regions, heatmap_overlay

    h, w = STRIP_ROWS * 2 + 37, 300  # blended in strips, and a short last one
    regions = [DefectRegion(20, STRIP_ROWS - 10, 50, 40, 2000, 3.5)]
    # Smooth pictures for the file check: JPEG is meant for those, not for noise.
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.dstack([xx * 255 // w, yy * 255 // h, np.full((h, w), 90)]).astype(np.uint8)
    amap = (4 * np.exp(-((yy - 500) ** 2 + (xx - 150) ** 2) / 8000.0)).astype(np.float32)
    whole = draw_regions(heatmap_overlay(image, amap, 0.5, 3.0), regions)
    result = InspectionResult(2.0, 0.7, Verdict.FAIL, 1.0, amap, regions)
    with InspectionLog(tmp_path / "log.sqlite") as log:
        r = PartRecorder(log, tmp_path, "fail", (0.5, 3.0)).record(
            image, result, PartContext("s", "m")
        )
    # The part image is lossless; the overlay, only for people, is a JPEG close to the blend.
    assert r.overlay_path.endswith(".jpg") and r.image_path.endswith(".png")
    saved = cv2.cvtColor(cv2.imread(r.image_path), cv2.COLOR_BGR2RGB)
    assert np.array_equal(saved, image)
    jpeg = cv2.cvtColor(cv2.imread(r.overlay_path), cv2.COLOR_BGR2RGB).astype(int)
    assert np.abs(jpeg - whole).mean() < 12
