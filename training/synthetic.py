"""Synthetic defects made from good images only, each with the mask of what it changed.

Self-validation (``training.autoconfig``) needs defective parts to tell which configuration
finds defects best, and an engineer setting up a new product has only good ones. These
defects borrow their texture from the part itself (a patch cut from another place or image,
the image's own intensities), so they look like what goes wrong on a line: a misplaced or
foreign piece, a stain or worn area, a scratch, a faint discoloured spot. Never from a test set.

Every function works on an input-sized integer image (H, W, 3) and returns a new image that
differs from its source only inside the returned mask, and visibly there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

KINDS = ("cut_paste", "noise_blob", "scratch", "intensity")
MIN_CHANGE = 0.03  # mean absolute change inside the mask, on the 0..1 scale: visible
TRIES = 8  # placements tried before a defect kind gives up on an image


@dataclass(frozen=True)
class SyntheticDefect:
    """A defective copy of a good image.

    Attributes:
        image: the defective image, same shape and dtype as the source.
        mask: (H, W) bool, True where the image was changed.
        kind: one of ``KINDS``.
        source: index of the good image it was made from (``synthesize``).
    """

    image: np.ndarray
    mask: np.ndarray
    kind: str
    source: int = 0


def _full_scale(image: np.ndarray) -> float:
    return 65535.0 if image.dtype == np.uint16 else 255.0


def _region_size(shape: tuple[int, ...], rng: np.random.Generator) -> tuple[int, int]:
    """A defect's height and width: 3 to 15 % of the shorter side, aspect up to 1:2."""
    side = min(shape[:2])
    h = max(4, int(side * rng.uniform(0.03, 0.15)))
    w = max(4, int(h * rng.uniform(0.5, 2.0)))
    return min(h, shape[0] - 2), min(w, shape[1] - 2)


def _corner(shape: tuple[int, ...], h: int, w: int, rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(0, shape[0] - h + 1)), int(rng.integers(0, shape[1] - w + 1))


def _apply(image: np.ndarray, changed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with the pixels of ``mask`` taken from float ``changed``, clipped."""
    out = image.copy()
    top = _full_scale(image)
    out[mask] = np.clip(np.rint(changed[mask]), 0, top).astype(image.dtype)
    return out


def _visible(image: np.ndarray, out: np.ndarray, mask: np.ndarray) -> bool:
    if mask.sum() < 8:
        return False
    diff = np.abs(out[mask].astype(np.float32) - image[mask].astype(np.float32))
    return float(diff.mean()) / _full_scale(image) >= MIN_CHANGE


def cut_paste(
    image: np.ndarray, source: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A patch of ``source`` (another good image, or the same one) from another place,
    rotated and scaled, pasted onto ``image``: a misplaced or foreign piece."""
    h, w = _region_size(image.shape, rng)
    sy, sx = _corner(source.shape, h, w, rng)
    patch = source[sy : sy + h, sx : sx + w]
    angle, scale = rng.uniform(-180, 180), rng.uniform(0.8, 1.25)
    size = int(np.ceil(np.hypot(h, w) * scale)) + 2
    size = min(size, min(image.shape[:2]) - 1)
    move = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    move[:, 2] += (size / 2 - w / 2, size / 2 - h / 2)
    # Reflected borders: no dark outline that would make the defect easier than it is.
    warped = cv2.warpAffine(
        patch, move, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    inside = cv2.warpAffine(np.ones((h, w), np.uint8), move, (size, size), flags=cv2.INTER_NEAREST)
    ty, tx = _corner(image.shape, size, size, rng)
    mask = np.zeros(image.shape[:2], bool)
    mask[ty : ty + size, tx : tx + size] = inside > 0
    changed = np.zeros(image.shape, np.float32)
    changed[ty : ty + size, tx : tx + size] = warped
    return _apply(image, changed, mask), mask


def smooth_noise(shape: tuple[int, int], cells: int, rng: np.random.Generator) -> np.ndarray:
    """Perlin-like noise in [0, 1]: a coarse random grid, smoothly upsampled, plus a finer
    octave at half the weight."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    for octave, weight in ((cells, 1.0), (cells * 2, 0.5)):
        grid = rng.random((octave + 1, octave + 1)).astype(np.float32)
        out += weight * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def _blob_mask(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """An irregular blob: thresholded noise inside a random ellipse."""
    h, w = _region_size(shape, rng)
    y, x = _corner(shape, h, w, rng)
    ellipse = np.zeros(shape[:2], np.uint8)
    centre = (x + w // 2, y + h // 2)
    cv2.ellipse(ellipse, centre, (w // 2, h // 2), rng.uniform(0, 180), 0, 360, 1, -1)
    noise = smooth_noise((shape[0], shape[1]), int(rng.integers(4, 10)), rng)
    return (ellipse > 0) & (noise > rng.uniform(0.3, 0.5))


def noise_blob(
    image: np.ndarray, source: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """An irregular blob whose intensity and texture change by a noise field: a stain, a
    worn or contaminated area. ``source`` is not used (same signature as the others)."""
    mask = _blob_mask(image.shape, rng)
    top = _full_scale(image)
    field = smooth_noise(image.shape[:2], int(rng.integers(8, 24)), rng)[:, :, None]
    amplitude = rng.uniform(0.08, 0.3) * top * rng.choice((-1.0, 1.0))
    grain = rng.normal(0.0, rng.uniform(0.02, 0.08) * top, image.shape[:2])[:, :, None]
    changed = image.astype(np.float32) + amplitude * (0.5 + field) + grain
    return _apply(image, changed, mask), mask


def scratch(
    image: np.ndarray, source: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A thin line, slightly bent, darker or brighter than the part around it."""
    hh, ww = image.shape[:2]
    length = min(hh, ww) * rng.uniform(0.1, 0.4)
    angle = rng.uniform(0, np.pi)
    y0, x0 = rng.uniform(0.1, 0.9) * hh, rng.uniform(0.1, 0.9) * ww
    t = np.linspace(-0.5, 0.5, 8)
    bend = rng.uniform(-0.15, 0.15) * length * (1 - 4 * t**2)
    xs = x0 + t * length * np.cos(angle) - bend * np.sin(angle)
    ys = y0 + t * length * np.sin(angle) + bend * np.cos(angle)
    points = np.stack([xs, ys], axis=1).round().astype(np.int32)
    line = np.zeros((hh, ww), np.uint8)
    cv2.polylines(line, [points], False, 1, thickness=int(rng.integers(1, 4)))
    mask = line > 0
    top = _full_scale(image)
    level = float(image[mask].mean()) / top if mask.any() else 0.5
    target = rng.uniform(0.0, 0.2) if level > 0.5 else rng.uniform(0.8, 1.0)
    # Partly towards the target: some scratches are faint.
    weight = rng.uniform(0.3, 1.0)
    changed = (1 - weight) * image.astype(np.float32) + weight * target * top
    return _apply(image, changed, mask), mask


def intensity_change(
    image: np.ndarray, source: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A small smooth-edged spot a little brighter or darker: a faint discolouration."""
    mask = np.zeros(image.shape[:2], np.uint8)
    h, w = _region_size(image.shape, rng)
    y, x = _corner(image.shape, h, w, rng)
    cv2.ellipse(
        mask, (x + w // 2, y + h // 2), (w // 2, h // 2), rng.uniform(0, 180), 0, 360, 1, -1
    )
    region = mask > 0
    gain = rng.uniform(0.05, 0.15) * rng.choice((-1.0, 1.0))
    changed = image.astype(np.float32) + gain * _full_scale(image)
    return _apply(image, changed, region), region


def lighting_drift(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """The whole image brighter or darker by a gain between ``strength`` / 2 and
    ``strength`` (0..1), as light drifts between the images a model is fitted on and those
    of the line. Changes every pixel, and is not a defect."""
    top = _full_scale(image)
    gain = 1.0 + rng.choice((-1.0, 1.0)) * rng.uniform(strength / 2, strength)
    return np.clip(np.rint(image.astype(np.float32) * gain), 0, top).astype(image.dtype)


MAKERS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "cut_paste": cut_paste,
    "noise_blob": noise_blob,
    "scratch": scratch,
    "intensity": intensity_change,
}


def make_defect(
    image: np.ndarray, sources: Sequence[np.ndarray], kind: str, rng: np.random.Generator
) -> SyntheticDefect | None:
    """One defect of ``kind`` on ``image``, its texture from ``sources`` (good images);
    None if no placement tried was visible (e.g. a patch pasted onto the same texture)."""
    if kind not in MAKERS:
        raise ValueError(f"unknown synthetic defect kind {kind!r}; known: {', '.join(KINDS)}")
    for _ in range(TRIES):
        source = sources[int(rng.integers(len(sources)))] if sources else image
        out, mask = MAKERS[kind](image, source, rng)
        if _visible(image, out, mask):
            return SyntheticDefect(out, mask, kind)
    return None


def synthesize(
    images: Sequence[np.ndarray],
    sources: Sequence[np.ndarray],
    per_image: int = 2,
    seed: int = 0,
) -> list[SyntheticDefect]:
    """``per_image`` defective copies of each of ``images``, the kinds taken in turn.

    Args:
        images: good images (input-sized, integer) to damage: held-out ones, never fitted on.
        sources: good images whose texture the cut-and-paste kind borrows.
        per_image: defects per image, each on its own copy.
        seed: the same seed gives the same defects.
    """
    rng = np.random.default_rng(seed)
    out = []
    turn = 0
    for index, image in enumerate(images):
        for _ in range(per_image):
            defect = make_defect(image, sources, KINDS[turn % len(KINDS)], rng)
            turn += 1
            if defect is not None:
                out.append(replace(defect, source=index))
    return out
