"""One past part at full display size, with the option to mark a false reject as good."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from gui.open_path import open_path
from gui.record_evidence import load_evidence
from gui.view_item import ViewItem
from gui.widgets.image_view import ImageView
from inspector.records import InspectionRecord


class ReviewDialog(QDialog):
    """Shows the part with its heatmap or bare; "Actually good" feeds the next training set.

    Args:
        item: the part.
        picture: the part with its heatmap and regions (None: no picture kept).
        parent: parent widget.
        bare: the part without heatmap; defaults to ``item.image``.
        record: the part's log row, when it was opened from the log (regions are counted there).
        problem: why a picture is missing, shown to the user.
    """

    mark_good = Signal(object)  # ViewItem
    path_copied = Signal(str)

    def __init__(
        self,
        item: ViewItem,
        picture: np.ndarray | None,
        parent: QWidget | None = None,
        *,
        bare: np.ndarray | None = None,
        record: InspectionRecord | None = None,
        problem: str = "",
    ) -> None:
        super().__init__(parent)
        self.item = item
        self.record = record
        self.heatmap_picture = picture
        self.bare_picture = bare if bare is not None or record is not None else item.image
        self.setWindowTitle(f"Part review: {item.verdict} {item.name or item.source}")
        self.view = ImageView(problem or "no image was saved for this part")
        self.info = info = QLabel("<br>".join(self._lines(problem)))
        info.setWordWrap(True)
        # The saved path is for copying into a file manager or a report.
        info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color:#c62828; font-weight:bold;")
        self.notice.hide()
        lay = QVBoxLayout(self)
        lay.addLayout(self._view_switch())
        lay.addWidget(self.view, 1)
        lay.addWidget(info)
        lay.addWidget(self.notice)
        lay.addLayout(self._buttons())
        self.show_heatmap(self.heatmap_radio.isEnabled())
        self.resize(900, 760)

    @classmethod
    def for_record(cls, rec: InspectionRecord, parent: QWidget | None = None) -> ReviewDialog:
        """A dialog for a part from the inspection log, read back from its saved files."""
        ev = load_evidence(rec)
        return cls(ev.item, ev.heatmap, parent, bare=ev.bare, record=rec, problem=ev.problem)

    def _lines(self, problem: str) -> list[str]:
        item, rec = self.item, self.record
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.timestamp))
        if rec is not None:
            count, largest = rec.defect_count, rec.largest_defect_area
        else:
            count = len(item.regions)
            largest = max((r.area_px for r in item.regions), default=0)
        lines = [
            f"<b>{item.verdict}</b>  score {item.score:.4g} (threshold {item.threshold:.4g})"
            + (f"  ·  record {item.record_id}" if item.record_id is not None else ""),
            f"{when}  ·  {item.source}  {item.name}",
            f"defect regions: {count}" + (f", largest {largest} px" if count else ""),
        ]
        if item.image_path:
            lines.append(f"saved: {item.image_path}")
        if problem:
            lines.append(f"<i>{problem}</i>")
        if item.error:
            lines.append(f"error: {item.error}")
        if item.label:
            lines.append(f"operator label: {item.label}")
        return lines

    def _view_switch(self) -> QHBoxLayout:
        self.heatmap_radio = QRadioButton("Heatmap and regions")
        self.bare_radio = QRadioButton("Bare part")
        group = QButtonGroup(self)
        group.addButton(self.heatmap_radio)
        group.addButton(self.bare_radio)
        # An ERROR part has no map, and a part without saved files has nothing to switch.
        has_heatmap = self.heatmap_picture is not None and self.item.verdict != "ERROR"
        self.heatmap_radio.setEnabled(has_heatmap)
        self.bare_radio.setEnabled(self.bare_picture is not None)
        self.heatmap_radio.toggled.connect(self.show_heatmap)
        QShortcut(QKeySequence("H"), self, lambda: self.show_heatmap(not self.showing_heatmap()))
        row = QHBoxLayout()
        row.addWidget(QLabel("Show:"))
        row.addWidget(self.heatmap_radio)
        row.addWidget(self.bare_radio)
        row.addWidget(QLabel("(H switches)"))
        row.addStretch(1)
        return row

    def _buttons(self) -> QHBoxLayout:
        saved = bool(self.item.image_path)
        self.copy_button = QPushButton("Copy path")
        self.folder_button = QPushButton("Open folder")
        for b in (self.copy_button, self.folder_button):
            b.setEnabled(saved)
            if not saved:
                b.setToolTip("No image of this part was saved")
        self.copy_button.clicked.connect(self.copy_path)
        self.folder_button.clicked.connect(self.open_folder)
        self.good_button = QPushButton("Actually good (false reject)")
        self.good_button.setToolTip(
            "Label this part good in the log and add its image to the next training set"
        )
        self.good_button.setEnabled(self.item.verdict == "FAIL" and self.item.label != "good")
        self.good_button.clicked.connect(self._mark)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.good_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        return buttons

    def show_heatmap(self, on: bool) -> None:
        """Show the heatmap picture (True, where there is one) or the bare part."""
        on = on and self.heatmap_radio.isEnabled()
        (self.heatmap_radio if on else self.bare_radio).setChecked(True)
        self.view.set_image(self.heatmap_picture if on else self.bare_picture)

    def showing_heatmap(self) -> bool:
        return self.heatmap_radio.isChecked()

    def shown_picture(self) -> np.ndarray | None:
        """The picture on screen now (before scaling to the widget)."""
        return self.heatmap_picture if self.showing_heatmap() else self.bare_picture

    def copy_path(self) -> None:
        """Put the saved image's path on the clipboard."""
        path = self.item.image_path
        if path:
            QGuiApplication.clipboard().setText(path)
            self.copy_button.setText("Path copied")
            self.path_copied.emit(path)

    def open_folder(self) -> None:
        """Open the folder of the saved image (a message with the path if that fails)."""
        if self.item.image_path:
            open_path(Path(self.item.image_path).parent, self, "folder")

    def note(self, text: str) -> None:
        """Show what became of the operator's action (e.g. why no image was kept)."""
        self.notice.setText(text)
        self.notice.show()

    def _mark(self) -> None:
        # Only a request: the window's guard may refuse it, and labels the item when not.
        self.mark_good.emit(self.item)
        if self.item.label == "good":
            self.good_button.setEnabled(False)
            self.good_button.setText("Marked good")
