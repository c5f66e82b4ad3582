"""Image helpers for showing inspection results: heatmap overlay, region boxes, thumbnails.

Only numpy and OpenCV are used here so the same code serves the HTML report, the CLI and
the Qt GUI (which converts the returned RGB arrays itself).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from inspector.result import DefectRegion

# Rows blended at a time in a tall image: the blend makes several float32 copies of what it
# is given, ~2 GB for a whole 48 MP frame, and allocating them cost more than the arithmetic.
STRIP_ROWS = 512

__all__ = [
    "draw_regions",
    "encode_jpeg",
    "encode_png",
    "heatmap_overlay",
    "make_thumbnail",
    "normalize_map",
    "overlay_thumbnail_jpeg",
]


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Returns a contiguous HxWx3 uint8 view/copy of a gray, RGB or RGBA image."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {img.dtype}")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2RGB)
    elif not (img.ndim == 3 and img.shape[2] == 3):
        raise ValueError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 image, got shape {img.shape}")
    return np.ascontiguousarray(img)


def normalize_map(anomaly_map: np.ndarray, low: float, high: float) -> np.ndarray:
    """Maps raw anomaly scores linearly to 0..1.

    Args:
        anomaly_map: HxW map in raw score units.
        low: score shown as 0 (fully transparent in the overlay).
        high: score shown as 1 (hottest colour).

    Returns:
        float32 HxW array clipped to [0, 1]; NaNs become 0.
    """
    amap = np.asarray(anomaly_map, dtype=np.float32)
    if amap.ndim == 3 and amap.shape[2] == 1:
        amap = amap[:, :, 0]
    if amap.ndim != 2:
        raise ValueError(f"anomaly map must be HxW, got shape {amap.shape}")
    span = float(high) - float(low)
    if not np.isfinite(span) or span <= 0:
        # A degenerate range would divide by zero; treat it as a step at `low`.
        norm = (amap > low).astype(np.float32)
    else:
        norm = (amap - np.float32(low)) / np.float32(span)
    return np.clip(np.nan_to_num(norm, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def heatmap_overlay(
    image_rgb_uint8: np.ndarray,
    anomaly_map: np.ndarray,
    low: float,
    high: float,
    opacity: float = 0.5,
    colormap: int = cv2.COLORMAP_TURBO,
) -> np.ndarray:
    """Blends a colour-mapped anomaly map over an image.

    The per-pixel blend weight is ``opacity * normalised_score``, so clean areas keep the
    original image instead of being washed in the cold end of the colormap.

    Args:
        image_rgb_uint8: HxWx3 RGB image (gray and RGBA are converted).
        anomaly_map: HxW map in raw score units, same HxW as the image.
        low: score that maps to the cold end (and zero opacity).
        high: score that maps to the hot end (full ``opacity``).
        opacity: blend weight at the hottest pixels, 0..1.
        colormap: OpenCV colormap id.

    Returns:
        HxWx3 RGB uint8 image.

    Raises:
        ValueError: if the map and the image differ in height/width or have bad shapes.
    """
    img = _as_rgb_uint8(image_rgb_uint8)
    amap = np.asarray(anomaly_map)
    if amap.shape[:2] != img.shape[:2]:
        raise ValueError(
            f"anomaly map shape {amap.shape[:2]} does not match image shape {img.shape[:2]}"
        )
    if img.shape[0] <= STRIP_ROWS:
        return _blend(img, amap, low, high, opacity, colormap)
    # The blend is per pixel, so strips give exactly the pixels of one call on the whole
    # image, with small temporaries; numpy releases the GIL in the arithmetic, so they run
    # on all cores (8000x6000 on 2 cores: 4-10 s in one call, 1.0 s in parallel strips).
    out = np.empty_like(img)

    def strip(y: int) -> None:
        rows = slice(y, y + STRIP_ROWS)
        out[rows] = _blend(img[rows], amap[rows], low, high, opacity, colormap)

    list(_pool().map(strip, range(0, img.shape[0], STRIP_ROWS)))
    return out


def _blend(
    img: np.ndarray, amap: np.ndarray, low: float, high: float, opacity: float, colormap: int
) -> np.ndarray:
    """``heatmap_overlay`` in one piece, on a checked uint8 RGB image and its map."""
    norm = normalize_map(amap, low, high)
    lut_in = np.round(norm * 255.0).astype(np.uint8)
    colour = cv2.cvtColor(cv2.applyColorMap(lut_in, colormap), cv2.COLOR_BGR2RGB)
    alpha = (np.clip(float(opacity), 0.0, 1.0) * norm)[:, :, None]
    out = img.astype(np.float32) * (1.0 - alpha) + colour.astype(np.float32) * alpha
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(min(4, os.cpu_count() or 1), thread_name_prefix="overlay")


def _default_thickness(height: int, width: int) -> int:
    # ~1 px per 250 px of the shorter side keeps boxes visible on both thumbnails and 4K frames.
    return max(1, round(min(height, width) / 250))


def draw_regions(
    image_rgb_uint8: np.ndarray,
    regions: Iterable[DefectRegion],
    color: tuple[int, int, int] = (255, 0, 0),
    thickness: int | None = None,
) -> np.ndarray:
    """Draws the bounding box of each defect region.

    Args:
        image_rgb_uint8: HxWx3 RGB image; not modified.
        regions: defect regions in the image's pixel coordinates.
        color: RGB box colour.
        thickness: line width in pixels; None scales it with the image size.

    Returns:
        A new HxWx3 RGB uint8 image with the boxes drawn.
    """
    out = _as_rgb_uint8(image_rgb_uint8).copy()
    h, w = out.shape[:2]
    t = _default_thickness(h, w) if thickness is None else max(1, int(thickness))
    rgb = tuple(int(c) for c in color)
    for r in regions:
        if r.width <= 0 or r.height <= 0:
            continue
        x0 = int(np.clip(r.x, 0, w - 1))
        y0 = int(np.clip(r.y, 0, h - 1))
        x1 = int(np.clip(r.x + r.width - 1, 0, w - 1))
        y1 = int(np.clip(r.y + r.height - 1, 0, h - 1))
        cv2.rectangle(out, (x0, y0), (x1, y1), rgb, t, lineType=cv2.LINE_8)
    return out


def make_thumbnail(image: np.ndarray, max_side: int = 256) -> np.ndarray:
    """Shrinks an image so its longer side is at most ``max_side``, keeping the aspect ratio.

    Images already small enough are returned as a copy, never enlarged.

    Args:
        image: HxW or HxWxC array.
        max_side: longest side of the result in pixels.

    Returns:
        The resized image with the input's dtype and channel count.
    """
    if max_side < 1:
        raise ValueError("max_side must be >= 1")
    img = np.asarray(image)
    h, w = img.shape[:2]
    longest = max(h, w)
    if longest <= max_side:
        return img.copy()
    scale = max_side / longest
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _encode(ext: str, image_rgb_uint8: np.ndarray, params: list[int]) -> bytes:
    img = np.asarray(image_rgb_uint8)
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)  # OpenCV encoders expect BGR
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise ValueError(f"could not encode image of shape {img.shape} as {ext}")
    return buf.tobytes()


def encode_jpeg(image_rgb_uint8: np.ndarray, quality: int = 85) -> bytes:
    """Encodes an RGB (or gray) uint8 image as JPEG bytes.

    Args:
        image_rgb_uint8: HxWx3 RGB or HxW gray image.
        quality: JPEG quality 0..100.
    """
    img = np.asarray(image_rgb_uint8)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]  # JPEG has no alpha
    return _encode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(np.clip(quality, 0, 100))])


def encode_png(image_rgb_uint8: np.ndarray, compression: int = 3) -> bytes:
    """Encodes an RGB, RGBA or gray uint8 image as PNG bytes.

    Args:
        image_rgb_uint8: HxWx3 RGB, HxWx4 RGBA or HxW gray image.
        compression: zlib level 0..9 (3 is OpenCV's speed/size default).
    """
    return _encode(".png", image_rgb_uint8, [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])


def overlay_thumbnail_jpeg(
    image_rgb_uint8: np.ndarray,
    anomaly_map: np.ndarray,
    low: float,
    high: float,
    regions: Iterable[DefectRegion] = (),
    *,
    max_side: int = 160,
    quality: int = 80,
) -> bytes:
    """Renders the small heatmap-overlay JPEG that a report row embeds.

    Image and map are shrunk before blending (much cheaper on large frames) and the
    region boxes are drawn afterwards so they stay 1 px sharp at thumbnail scale.

    Args:
        image_rgb_uint8: HxWx3 RGB image.
        anomaly_map: HxW map in raw score units.
        low: score drawn fully transparent.
        high: score drawn hottest.
        regions: defect regions in full-image pixels.
        max_side: longest thumbnail side in pixels.
        quality: JPEG quality.
    """
    h, w = image_rgb_uint8.shape[:2]
    small = make_thumbnail(image_rgb_uint8, max_side)
    sh, sw = small.shape[:2]
    amap: np.ndarray = np.asarray(anomaly_map, dtype=np.float32)
    if amap.shape[:2] != (h, w):
        raise ValueError(f"anomaly map shape {amap.shape[:2]} does not match image {(h, w)}")
    if (sh, sw) != (h, w):
        amap = cv2.resize(amap, (sw, sh), interpolation=cv2.INTER_AREA)
    out = heatmap_overlay(small, amap, low, high, opacity=0.55)
    sx, sy = sw / w, sh / h
    for r in regions:
        p0 = (int(r.x * sx), int(r.y * sy))
        p1 = (int(math.ceil((r.x + r.width) * sx)) - 1, int(math.ceil((r.y + r.height) * sy)) - 1)
        cv2.rectangle(out, p0, p1, (255, 0, 0), 1)
    return encode_jpeg(out, quality)
