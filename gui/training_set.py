"""Putting parts an operator marked good into the next training set, with the right pixels.

A model learns from what it is given: the downscaled 8-bit copy the station shows is not the
frame the camera took, so it never goes into a training set in its place. A part whose
full-resolution image was not kept (save policy) is labelled good in the log only, and the
operator is told so.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2

from gui.view_item import ViewItem

ADDED = "marked good; added to the next training set"


def not_added(policy: str) -> str:
    return (
        "labelled good in the log, but NOT added to the training set: the full-resolution "
        f"image of this part was not kept (save images: {policy}). Set 'Save images' to "
        "'all' to collect parts like this one."
    )


def add_saved_image(image_path: str, folder: Path) -> Path | None:
    """Copy a saved part image into ``folder``; None if there is no such file."""
    if not image_path or not Path(image_path).is_file():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(image_path, folder / Path(image_path).name))


def add_marked_part(item: ViewItem, folder: Path) -> Path | None:
    """The part's saved image, else its display copy when that is the frame itself."""
    saved = add_saved_image(item.image_path, folder)
    if saved is not None or not item.full_frame:
        return saved
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"marked_good_{int(item.timestamp * 1000)}.png"
    if not cv2.imwrite(str(path), cv2.cvtColor(item.image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path
