"""Tests for inspector.overlay: heatmap blending, region boxes, thumbnails and encoding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspector.overlay import (
    draw_regions,
    encode_jpeg,
    encode_png,
    heatmap_overlay,
    make_thumbnail,
    normalize_map,
    overlay_thumbnail_jpeg,
)
from inspector.result import DefectRegion


def _gray_image(h: int = 64, w: int = 80, value: int = 128) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_normalize_map_clips_and_handles_nan_and_degenerate_range() -> None:
    amap = np.array([[-1.0, 0.0, 0.5], [1.0, 2.0, np.nan]], np.float32)
    norm = normalize_map(amap, 0.0, 1.0)
    np.testing.assert_allclose(norm, [[0, 0, 0.5], [1, 1, 0]])
    assert norm.dtype == np.float32
    step = normalize_map(amap, 0.5, 0.5)  # low == high must not divide by zero
    np.testing.assert_array_equal(step, [[0, 0, 0], [1, 1, 0]])


def test_heatmap_overlay_shape_dtype_and_hot_pixel_is_red() -> None:
    img = _gray_image()
    amap = np.zeros(img.shape[:2], np.float32)
    amap[10:20, 30:40] = 5.0  # far above `high`, so fully hot
    out = heatmap_overlay(img, amap, low=0.0, high=1.0, opacity=0.9)
    assert out.shape == img.shape
    assert out.dtype == np.uint8
    r, g, b = (int(c) for c in out[15, 35])
    # TURBO's hot end is a deep red: red must dominate clearly over green and blue.
    assert r > 100 and r > 2 * g and r > 2 * b, (r, g, b)
    # Far from the hot spot the image is untouched.
    np.testing.assert_array_equal(out[50, 5], img[50, 5])


def test_heatmap_overlay_zero_map_keeps_image() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    out = heatmap_overlay(img, np.zeros((40, 50), np.float32), low=0.0, high=1.0)
    assert np.abs(out.astype(int) - img.astype(int)).max() <= 1


def test_heatmap_overlay_accepts_gray_image() -> None:
    out = heatmap_overlay(np.zeros((8, 9), np.uint8), np.ones((8, 9)), 0.0, 1.0)
    assert out.shape == (8, 9, 3)


@pytest.mark.parametrize("map_shape", [(64, 81), (63, 80), (80, 64)])
def test_heatmap_overlay_mismatched_shapes_raise(map_shape: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        heatmap_overlay(_gray_image(), np.zeros(map_shape, np.float32), 0.0, 1.0)


def test_tall_image_in_strips_gives_the_pixels_of_one_full_frame_blend() -> None:
    from inspector.overlay import STRIP_ROWS, _blend

    rng = np.random.default_rng(0)
    h, w = STRIP_ROWS * 2 + 37, 300  # strips, and a short last one
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    amap = rng.random((h, w), dtype=np.float32) * 4
    whole = _blend(image, amap, 0.5, 3.0, 0.5, cv2.COLORMAP_TURBO)
    assert np.array_equal(heatmap_overlay(image, amap, 0.5, 3.0), whole)


def test_draw_regions_draws_box_edges_only_and_copies() -> None:
    img = _gray_image(100, 120, value=0)
    region = DefectRegion(x=20, y=30, width=40, height=25, area_px=1000, max_score=1.0)
    out = draw_regions(img, [region], color=(255, 0, 0), thickness=1)
    assert img.max() == 0, "input must not be modified"
    assert tuple(out[30, 40]) == (255, 0, 0)  # top edge
    assert tuple(out[54, 40]) == (255, 0, 0)  # bottom edge (y + height - 1)
    assert tuple(out[40, 20]) == (255, 0, 0)  # left edge
    assert tuple(out[40, 59]) == (255, 0, 0)  # right edge
    assert out[42, 40].max() == 0  # inside stays clear
    assert out[10, 10].max() == 0  # outside stays clear
    assert out[29, 40].max() == 0 and out[40, 60].max() == 0


def test_draw_regions_default_thickness_scales_with_size() -> None:
    region = DefectRegion(x=100, y=100, width=400, height=400, area_px=1, max_score=1.0)
    small = draw_regions(_gray_image(600, 600, 0), [region])
    large = draw_regions(_gray_image(2000, 2000, 0), [region])
    # Count red pixels along a vertical line crossing the top edge.
    assert (small[:, 300, 0] == 255).sum() < (large[:, 300, 0] == 255).sum()


def test_draw_regions_clips_out_of_bounds_boxes() -> None:
    region = DefectRegion(x=-10, y=-10, width=500, height=500, area_px=1, max_score=1.0)
    out = draw_regions(_gray_image(50, 60, 0), [region], thickness=1)
    assert tuple(out[0, 30]) == (255, 0, 0) and tuple(out[49, 30]) == (255, 0, 0)


def test_make_thumbnail_keeps_aspect_and_never_enlarges() -> None:
    thumb = make_thumbnail(_gray_image(300, 600), max_side=100)
    assert thumb.shape == (50, 100, 3)
    tall = make_thumbnail(np.zeros((1000, 10), np.uint8), max_side=100)
    assert tall.shape == (100, 1)
    small = _gray_image(20, 30)
    same = make_thumbnail(small, max_side=256)
    assert same.shape == small.shape and same is not small


def test_encode_jpeg_and_png_round_trip() -> None:
    img = _gray_image(32, 48)
    img[:, :24] = (200, 30, 40)
    jpg = encode_jpeg(img, quality=90)
    assert jpg[:3] == b"\xff\xd8\xff"
    dec = cv2.cvtColor(
        cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
    )
    assert np.abs(dec.astype(int) - img.astype(int)).mean() < 4  # RGB order kept
    png = encode_png(img)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    dec = cv2.cvtColor(
        cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
    )
    np.testing.assert_array_equal(dec, img)


def test_overlay_thumbnail_jpeg_is_small_jpeg() -> None:
    img = _gray_image(480, 640)
    amap = np.zeros((480, 640), np.float32)
    amap[100:150, 200:260] = 1.0
    region = DefectRegion(x=200, y=100, width=60, height=50, area_px=3000, max_score=1.0)
    jpg = overlay_thumbnail_jpeg(img, amap, 0.0, 1.0, [region], max_side=160)
    dec = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
    assert dec.shape == (120, 160, 3)
    assert len(jpg) < 20_000
    with pytest.raises(ValueError):
        overlay_thumbnail_jpeg(img, amap[:-1], 0.0, 1.0)
