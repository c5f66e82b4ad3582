"""The large PASS / FAIL banner an operator reads from across the cell."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

NO_PARTS = "NO PARTS"  # the source is failing: nothing is being inspected
IDLE = "#455a64"
COLOURS = {
    "PASS": "#1b8a3a",
    "FAIL": "#c62828",
    "ERROR": "#ef6c00",
    NO_PARTS: "#6a1b9a",
}
HEIGHT = 170  # fixed: a longer or shorter detail line must not move the layout


class VerdictBanner(QWidget):
    """A verdict (PASS, FAIL, ERROR) or a station state (READY, LOADING, NO PARTS, ...) with
    one short detail line, and the id of the part the verdict belongs to."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.part_id = ""  # the part the shown verdict judged ("" for a station state)
        self.verdict = QLabel()
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail = QLabel()
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.verdict)
        lay.addWidget(self.detail)
        self.setFixedHeight(HEIGHT)
        # Lets the style sheet paint this plain QWidget's background.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.verdict.setStyleSheet("font-size:64px; font-weight:bold; color:white;")
        self.detail.setStyleSheet("font-size:18px; color:white;")
        self.show_verdict("LOADING", "loading the model …")

    def show_verdict(self, verdict: str, detail: str, part_id: str = "") -> None:
        """Show ``verdict`` (or a state word) in its colour; ``detail`` is one short line."""
        self.part_id = part_id
        self.verdict.setText(verdict)
        self.detail.setText(detail)
        colour = COLOURS.get(verdict, IDLE)
        self.setStyleSheet(f"VerdictBanner {{ background: {colour}; border-radius: 8px; }}")

    def show_result(
        self, verdict: str, score: float, normalized: float, threshold: float, part_id: str
    ) -> None:
        if verdict == "ERROR" or math.isnan(score):
            self.show_verdict("ERROR", "part could not be inspected", part_id)
            return
        self.show_verdict(
            verdict,
            f"score {normalized:.2f} (limit 0.50)  ·  raw {score:.4g} / {threshold:.4g}",
            part_id,
        )
