"""numpy RGB arrays to Qt images (the one place pixel buffers cross into Qt)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_qimage(rgb: np.ndarray) -> QImage:
    """An owned QImage copy of an HxWx3 (or HxW) uint8 array."""
    a = np.ascontiguousarray(rgb)
    if a.ndim == 2:
        a = np.ascontiguousarray(np.repeat(a[:, :, None], 3, axis=2))
    if a.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {a.dtype}")
    h, w = a.shape[:2]
    # .copy(): QImage would otherwise point into numpy memory that Python may free.
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(rgb))
