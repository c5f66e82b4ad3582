from __future__ import annotations

import numpy as np

from gui.view_item import DISPLAY_SIDE, ViewItem, display_regions, rejudge, render, to_display
from inspector.verdict import ScoreStats, Thresholds


def _item(score: float = 2.0) -> ViewItem:
    image = np.full((100, 100, 3), 128, np.uint8)
    amap = np.zeros((100, 100), np.float32)
    amap[40:60, 40:60] = 5.0
    return ViewItem(image, amap, 1.0, score, "FAIL", 1.0)


def test_to_display_shrinks_big_frames_and_16_bit() -> None:
    img = np.full((3000, 1500, 3), 40000, np.uint16)
    amap = np.ones((3000, 1500), np.float32)
    small, smap, scale = to_display(img, amap)
    assert max(small.shape[:2]) == DISPLAY_SIDE and small.dtype == np.uint8
    assert smap.shape == small.shape[:2] and abs(scale - DISPLAY_SIDE / 3000) < 1e-9
    assert int(small[0, 0, 0]) == 40000 >> 8


def test_rejudge_follows_the_threshold_without_a_model() -> None:
    stats = ScoreStats(good_median=0.5, good_max=0.9, good_count=10)
    assert rejudge(_item(2.0), Thresholds(image=1.0, pixel=1.0), stats)[0] == "FAIL"
    verdict, norm = rejudge(_item(2.0), Thresholds(image=3.0, pixel=1.0), stats)
    assert verdict == "PASS" and norm < 0.5


def test_regions_and_overlay_at_display_scale() -> None:
    item = _item()
    th = Thresholds(image=1.0, pixel=1.0, min_defect_area_px=25)
    (region,) = display_regions(item, th)
    assert (region.x, region.y, region.width, region.height) == (40, 40, 20, 20)
    plain = render(item, th, (0.0, 5.0), show_heatmap=False, opacity=0.5)
    heat = render(item, th, (0.0, 5.0), show_heatmap=True, opacity=0.5)
    assert plain.shape == heat.shape == (100, 100, 3)
    assert not np.array_equal(plain[50, 50], heat[50, 50])  # heatmap over the defect
    assert np.array_equal(plain[5, 5], heat[5, 5])  # clean area untouched
    assert tuple(plain[40, 40]) == (255, 40, 40)  # region outline


def test_a_12_bit_frame_is_shown_bright_not_black() -> None:
    import numpy as np

    from gui.view_item import to_display

    frame = np.full((40, 60, 3), 2000, np.uint16)
    frame[0, 0] = 4095
    image, _, _ = to_display(frame, None)
    assert image.dtype == np.uint8 and int(np.median(image)) == 2000 >> 4  # was 2000 >> 8 = 7
