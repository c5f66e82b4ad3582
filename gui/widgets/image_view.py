"""An image that scales to its widget, keeping its aspect ratio."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.qimage import to_pixmap


class ImageView(QWidget):
    """Paints one RGB image centred and scaled to fit, on a dark background."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self.placeholder = placeholder
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 180)

    def set_image(self, rgb: np.ndarray | None) -> None:
        self._pixmap = None if rgb is None else to_pixmap(rgb)
        self.update()

    def has_image(self) -> bool:
        return self._pixmap is not None

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(800, 600)

    def paintEvent(self, event) -> None:  # noqa: N802, ANN001 (Qt API)
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.black)
        if self._pixmap is None:
            p.setPen(Qt.GlobalColor.lightGray)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        scaled = self._pixmap.scaled(
            self.size(),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        x = (self.width() - scaled.width()) // 2
        y = (self.height() - scaled.height()) // 2
        p.drawPixmap(x, y, scaled)
