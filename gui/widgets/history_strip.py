"""The last parts as thumbnails, newest first; click one to review it full size."""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from gui.qimage import to_pixmap
from gui.view_item import THUMB_SIDE, ViewItem

KEEP = 60  # parts kept in the strip; the inspection log keeps everything
BORDER = {"PASS": QColor("#1b8a3a"), "FAIL": QColor("#c62828"), "ERROR": QColor("#ef6c00")}


class HistoryStrip(QListWidget):
    part_selected = Signal(object)  # ViewItem

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
        self.setFixedHeight(THUMB_SIDE + 52)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setMovement(QListWidget.Movement.Static)
        self.parts: list[ViewItem] = []
        self.itemClicked.connect(self._clicked)

    def add_part(self, item: ViewItem, thumb) -> None:  # noqa: ANN001 (numpy image)
        when = time.strftime("%H:%M:%S", time.localtime(item.timestamp or time.time()))
        entry = QListWidgetItem(QIcon(to_pixmap(thumb)), f"{item.verdict} {when}")
        entry.setForeground(BORDER.get(item.verdict, QColor("gray")))
        entry.setToolTip(f"{item.name or item.source}\nscore {item.score:.4g}\n{item.error}")
        self.insertItem(0, entry)
        self.parts.insert(0, item)
        while self.count() > KEEP:
            self.takeItem(self.count() - 1)
            self.parts.pop()

    def _clicked(self, entry: QListWidgetItem) -> None:
        row = self.row(entry)
        if 0 <= row < len(self.parts):
            self.part_selected.emit(self.parts[row])
