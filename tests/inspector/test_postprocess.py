from __future__ import annotations

import numpy as np
import pytest

from inspector.postprocess import find_regions


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
