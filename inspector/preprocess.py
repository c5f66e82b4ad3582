"""Image -> model input, and model map -> image resolution, with numpy and OpenCV.

Resizing happens on the integer image before the float conversion: it is the largest cost of
preprocessing and INTER_AREA on uint8 is several times faster than on float32.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass

import cv2
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("stretch", "letterbox")
# Brightness and contrast (0..1 scale) of bundles saved before training measured its own.
LEGACY_INTENSITY_MEAN, LEGACY_INTENSITY_STD = 0.5, 0.16


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes a model input.

    Attributes:
        input_size: model input (height, width).
        resize_mode: ``stretch`` resizes to the input size ignoring aspect ratio (fixed-format
            cameras); ``letterbox`` keeps the aspect ratio and pads with the border colour
            (mixed image shapes, where stretching would distort defects and texture).
        mean: per-channel normalisation mean (RGB, 0..1 scale).
        std: per-channel normalisation std.
        normalize_intensity: rescale each image's brightness and contrast (its own mean and
            standard deviation over all pixels and channels) to ``intensity_mean`` and
            ``intensity_std`` before the network sees it. Lighting drift and part-to-part
            reflectance then stop looking like anomalies; local defects keep their
            contrast. Colour ratios are kept.
        intensity_mean: brightness (0..1 scale) images are brought to; training sets it to
            the median over its good images, so a typical part keeps its natural look.
        intensity_std: contrast images are brought to (training: the median likewise).
    """

    input_size: tuple[int, int] = (256, 256)
    resize_mode: str = "stretch"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    normalize_intensity: bool = False
    intensity_mean: float = LEGACY_INTENSITY_MEAN
    intensity_std: float = LEGACY_INTENSITY_STD

    def __post_init__(self) -> None:
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, not {self.resize_mode!r}")
        # Checked here, not found later inside OpenCV as one error per image.
        size = self.input_size
        if len(size) != 2 or not all(isinstance(v, numbers.Integral) and v >= 8 for v in size):
            raise ValueError(f"input_size must be two whole numbers of 8 or more, got {size!r}")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) != 3 or not all(isinstance(v, numbers.Real) for v in values):
                raise ValueError(f"{name} must be three numbers (R, G, B), got {values!r}")
        if not all(v > 0 for v in self.std) or self.intensity_std <= 0:
            raise ValueError("std and intensity_std must be above 0")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        return cls(
            input_size=tuple(d["input_size"]),
            resize_mode=d["resize_mode"],
            mean=tuple(d["mean"]),
            std=tuple(d["std"]),
            normalize_intensity=bool(d.get("normalize_intensity", False)),
            intensity_mean=float(d.get("intensity_mean", LEGACY_INTENSITY_MEAN)),
            intensity_std=float(d.get("intensity_std", LEGACY_INTENSITY_STD)),
        )


@dataclass(frozen=True)
class Geometry:
    """Where the image lies inside the model input, to map results back.

    Attributes:
        height: original image height.
        width: original image width.
        box: (x, y, w, h) of the image content inside the model input.
    """

    height: int
    width: int
    box: tuple[int, int, int, int]


def _content_box(h: int, w: int, spec: Preprocessing) -> tuple[int, int, int, int]:
    ih, iw = spec.input_size
    if spec.resize_mode == "stretch":
        return (0, 0, iw, ih)
    scale = min(ih / h, iw / w)
    ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
    return ((iw - cw) // 2, (ih - ch) // 2, cw, ch)


def prepare(image: np.ndarray, spec: Preprocessing) -> tuple[np.ndarray, Geometry]:
    """Resize and normalise one HxWx3 uint8/uint16 RGB image.

    Returns:
        The (3, H, W) float32 model input and the geometry to map the result back.
    """
    resized, geom = fit_to_input(image, spec)
    return normalise_input(resized, geom, spec), geom


def fit_to_input(image: np.ndarray, spec: Preprocessing) -> tuple[np.ndarray, Geometry]:
    """The image resized (and letterboxed) to the model input, still in its integer dtype.

    Training augments at this stage, between the resize and the float conversion.
    """
    h, w = image.shape[:2]
    x, y, cw, ch = _content_box(h, w, spec)
    ih, iw = spec.input_size
    interp = cv2.INTER_AREA if (cw < w or ch < h) else cv2.INTER_LINEAR
    resized = cv2.resize(image, (cw, ch), interpolation=interp)
    if (cw, ch) != (iw, ih):
        # Replicated borders look like the part's own surroundings; a constant colour would be
        # a strong edge that the model must then learn to ignore.
        resized = cv2.copyMakeBorder(resized, y, ih - ch - y, x, iw - cw - x, cv2.BORDER_REPLICATE)
    return resized, Geometry(h, w, (x, y, cw, ch))


def _unit(dtype: np.dtype) -> float:
    """Size of one integer step on the 0..1 scale."""
    return 1.0 / (65535.0 if dtype == np.uint16 else 255.0)


def _content_stats(pixels: np.ndarray, geom: Geometry) -> tuple[float, float]:
    """Mean and standard deviation over the content's pixels and channels (letterbox
    padding left out), in the pixels' own scale."""
    x, y, cw, ch = geom.box
    content = pixels[y : y + ch, x : x + cw]
    return float(content.mean()), float(content.std())


def content_intensity(resized: np.ndarray, geom: Geometry) -> tuple[float, float]:
    """Brightness and contrast (0..1 scale) of an input-sized integer image's content."""
    unit = _unit(resized.dtype)
    m, sd = _content_stats(resized.astype(np.float32), geom)
    return m * unit, sd * unit


def normalise_input(resized: np.ndarray, geom: Geometry, spec: Preprocessing) -> np.ndarray:
    """(3, H, W) float32 network input from an input-sized integer image."""
    unit = _unit(resized.dtype)
    mean = np.asarray(spec.mean, np.float32) / unit
    inv_std = unit / np.asarray(spec.std, np.float32)
    pixels = resized.astype(np.float32)  # once: this runs for every inspected image
    if spec.normalize_intensity:
        m, sd = _content_stats(pixels, geom)
        gain = spec.intensity_std / (sd * unit + 1e-6)
        pixels = (pixels - m) * gain + spec.intensity_mean / unit
    out = (pixels - mean) * inv_std
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def prepare_batch(
    images: list[np.ndarray], spec: Preprocessing
) -> tuple[np.ndarray, list[Geometry]]:
    """Stack several images into one (B, 3, H, W) batch."""
    inputs, geoms = zip(*(prepare(im, spec) for im in images), strict=True)
    return np.stack(inputs), list(geoms)


def map_to_image(anomaly_map: np.ndarray, geom: Geometry) -> np.ndarray:
    """Crop a model-resolution (H, W) map to the image content and resize to the original."""
    x, y, w, h = geom.box
    crop = anomaly_map[y : y + h, x : x + w]
    if crop.shape != (geom.height, geom.width):
        crop = cv2.resize(crop, (geom.width, geom.height), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(crop, dtype=np.float32)
