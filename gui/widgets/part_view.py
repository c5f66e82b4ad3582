"""The judged part, held until the next verdict, and a small live preview kept apart."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from gui.widgets.image_view import ImageView

PREVIEW_SIZE = (240, 180)


class PartView(QWidget):
    """The part a verdict judged (with its heatmap) fills the view; in triggered mode a
    small frame labelled LIVE in the corner shows the camera between parts, so the live
    picture is never taken for the judged part."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.part_id = ""  # id of the judged part shown ("" when none)
        self.judged = ImageView("waiting for the first part …")
        self.preview = ImageView("")
        self.preview.setFixedSize(*PREVIEW_SIZE)
        self.preview.setMinimumSize(*PREVIEW_SIZE)
        self.preview.setStyleSheet("border: 3px solid #fbc02d;")
        self.live_label = QLabel("LIVE")
        self.live_label.setStyleSheet(
            "background:#fbc02d; color:black; font-weight:bold; font-size:16px; padding:2px 8px;"
        )
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.judged, 0, 0, 2, 2)
        corner = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop
        grid.addWidget(self.preview, 0, 1, corner)
        grid.addWidget(self.live_label, 0, 1, corner)
        self.set_preview_visible(False)

    def show_part(self, picture: np.ndarray, part_id: str) -> None:
        self.part_id = part_id
        self.judged.set_image(picture)

    def clear(self, placeholder: str) -> None:
        """No judged part to show (no parts come, or a new source is connecting)."""
        self.part_id = ""
        self.judged.placeholder = placeholder
        self.judged.set_image(None)

    def has_part(self) -> bool:
        return self.judged.has_image()

    def show_preview(self, image: np.ndarray) -> None:
        if not self.preview.isHidden():
            self.preview.set_image(image)

    def set_preview_visible(self, visible: bool) -> None:
        self.preview.setVisible(visible)
        self.live_label.setVisible(visible)
        if not visible:
            self.preview.set_image(None)
