"""One past part at full display size, with the option to mark a false reject as good."""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui.view_item import ViewItem
from gui.widgets.image_view import ImageView


class ReviewDialog(QDialog):
    """Shows the part with its heatmap; "Actually good" feeds the next training set."""

    mark_good = Signal(object)  # ViewItem

    def __init__(self, item: ViewItem, picture, parent: QWidget | None = None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.item = item
        self.setWindowTitle(f"Part review: {item.verdict} {item.name or item.source}")
        view = ImageView()
        view.set_image(picture)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.timestamp))
        lines = [
            f"<b>{item.verdict}</b>  score {item.score:.4g} (threshold {item.threshold:.4g})",
            f"{when}  ·  {item.source}  {item.name}",
            f"defect regions: {len(item.regions)}"
            + (f", largest {max(r.area_px for r in item.regions)} px" if item.regions else ""),
        ]
        if item.image_path:
            lines.append(f"saved: {item.image_path}")
        if item.error:
            lines.append(f"error: {item.error}")
        if item.label:
            lines.append(f"operator label: {item.label}")
        info = QLabel("<br>".join(lines))
        info.setWordWrap(True)
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color:#c62828; font-weight:bold;")
        self.notice.hide()
        self.good_button = QPushButton("Actually good (false reject)")
        self.good_button.setToolTip(
            "Label this part good in the log and add its image to the next training set"
        )
        self.good_button.setEnabled(item.verdict == "FAIL" and item.label != "good")
        self.good_button.clicked.connect(self._mark)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.good_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addWidget(view, 1)
        lay.addWidget(info)
        lay.addWidget(self.notice)
        lay.addLayout(buttons)
        self.resize(900, 760)

    def note(self, text: str) -> None:
        """Show what became of the operator's action (e.g. why no image was kept)."""
        self.notice.setText(text)
        self.notice.show()

    def _mark(self) -> None:
        self.mark_good.emit(self.item)
        self.good_button.setEnabled(False)
        self.good_button.setText("Marked good")
