"""Augmentation pipelines for trained families (albumentations), chosen per product.

Photometric jitter is always on: lighting and camera gain drift on every real line, and a
model that has only seen one exposure calls the next one a defect. Geometry is opt-in: a
flipped or rotated part may be exactly the defect ("mounted upside down"), so only the user
can say the product looks the same that way.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
import numpy as np

GEOMETRIC = ("hflip", "vflip", "rot90", "rotate", "shift")


def check_augment(names: Sequence[str]) -> tuple[str, ...]:
    """The names, validated, with a clear error listing the allowed ones."""
    bad = [n for n in names if n not in GEOMETRIC]
    if bad:
        raise ValueError(
            f"unknown augmentation {', '.join(bad)}; choose from {', '.join(GEOMETRIC)}"
        )
    return tuple(names)


def build_augmentation(geometric: Sequence[str], seed: int) -> A.Compose:
    """Photometric jitter plus the geometric transforms ``geometric`` names.

    Jitter is mild on purpose: strong colour shifts would teach the model that a
    discoloured part is normal, and colour is a defect on many products.
    """
    ops: list[A.BasicTransform] = [
        A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.8),
        A.RandomGamma(gamma_limit=(90, 110), p=0.3),
        A.HueSaturationValue(hue_shift_limit=3, sat_shift_limit=8, val_shift_limit=0, p=0.3),
    ]
    names = set(check_augment(geometric))
    if "hflip" in names:
        ops.append(A.HorizontalFlip(p=0.5))
    if "vflip" in names:
        ops.append(A.VerticalFlip(p=0.5))
    if "rot90" in names:
        ops.append(A.RandomRotate90(p=0.75))
    if "rotate" in names or "shift" in names:
        ops.append(
            A.Affine(
                rotate=(-15, 15) if "rotate" in names else 0.0,
                translate_percent=(-0.04, 0.04) if "shift" in names else None,
                border_mode=cv2.BORDER_REFLECT_101,
                p=0.7,
            )
        )
    return A.Compose(ops, seed=seed)


def augment_batch(pipeline: A.Compose, images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each input-sized integer image through the pipeline (dtype kept)."""
    out = []
    for image in images:
        if image.dtype == np.uint16:
            # albumentations' colour ops work on uint8 or float; 16-bit goes through float.
            f = image.astype(np.float32) / 65535.0
            f = pipeline(image=f)["image"]
            out.append((np.clip(f, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16))
        else:
            out.append(pipeline(image=image)["image"])
    return out
