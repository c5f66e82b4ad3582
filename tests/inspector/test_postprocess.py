from __future__ import annotations

import numpy as np
import pytest

from inspector.bundle import ScoreStats, Thresholds
from inspector.postprocess import find_regions, judge, normalize, normalized_score
from inspector.result import Verdict


def test_normalize_anchors() -> None:
    # good median -> 0, threshold -> 0.5, threshold + (threshold - median) -> 1
    assert normalize(2.0, threshold=4.0, good_median=2.0) == pytest.approx(0.0)
    assert normalize(4.0, threshold=4.0, good_median=2.0) == pytest.approx(0.5)
    assert normalize(6.0, threshold=4.0, good_median=2.0) == pytest.approx(1.0)
    assert normalize(100.0, threshold=4.0, good_median=2.0) == pytest.approx(1.0)
    assert normalize(3.0, threshold=4.0, good_median=2.0) == pytest.approx(0.25)


def test_verdict_follows_threshold() -> None:
    th = Thresholds(image=1.0, pixel=1.0)
    assert judge(1.0, th) is Verdict.PASS  # at the threshold still passes
    assert judge(1.0001, th) is Verdict.FAIL
    stats = ScoreStats(good_median=0.5, good_max=0.9, good_count=10)
    assert normalized_score(1.0, th, stats) == pytest.approx(0.5)


def test_regions_boxes_areas_and_min_area() -> None:
    amap = np.zeros((50, 80), np.float32)
    amap[10:20, 30:50] = 2.0  # 200 px
    amap[12, 15] = 3.0  # 4 px speck (with neighbours)
    amap[12:14, 15:17] = 3.0
    amap[40:45, 5:10] = 1.5  # 25 px
    regions = find_regions(amap, pixel_threshold=1.0, min_area_px=10)
    assert [(r.x, r.y, r.width, r.height, r.area_px) for r in regions] == [
        (30, 10, 20, 10, 200),
        (5, 40, 5, 5, 25),
    ]
    assert regions[0].max_score == pytest.approx(2.0)
    assert find_regions(amap, pixel_threshold=5.0, min_area_px=0) == []
