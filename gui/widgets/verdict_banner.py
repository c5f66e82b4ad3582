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
    "": IDLE,
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
        # Lets the style sheet paint this plain QWidget's background.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.set_big(False)
        self.show_verdict("LOADING", "loading the model …")

    def show_verdict(self, verdict: str, detail: str, part_id: str = "") -> None:
        """Show ``verdict`` (or a state word) in its colour; ``detail`` is one short line."""
        self.part_id = part_id
        self.verdict.setText(verdict)
        self.detail.setText(detail)
        colour = COLOURS.get(verdict, IDLE)
        self.setStyleSheet(f"VerdictBanner {{ background: {colour}; border-radius: 8px; }}")

    def show_result(self, verdict: str, score: float, limit: float, part_id: str) -> None:
        if verdict == "ERROR" or math.isnan(score):
            self.show_verdict("ERROR", "part could not be inspected", part_id)
            return
        self.show_verdict(verdict, score_text(score, limit), part_id)

    def set_big(self, big: bool) -> None:
        """Operator view: readable from across the cell. The banner takes over a third of
        the screen's height and its verdict letters some 4 cm on a 24-inch screen."""
        height, verdict_px, detail_px = HEIGHT, 64, 18
        if big:
            screen = self.screen()
            height = max(HEIGHT, round(0.38 * (screen.size().height() if screen else 1080)))
            verdict_px, detail_px = round(0.4 * height), round(0.09 * height)
        self.verdict.setStyleSheet(f"font-size:{verdict_px}px; font-weight:bold; color:white;")
        self.detail.setStyleSheet(f"font-size:{detail_px}px; color:white;")
        self.setFixedHeight(height)


def score_text(score: float, limit: float) -> str:
    """The one score the station shows: the raw image score beside the limit it is judged
    by, in the units of the threshold slider, the log and the reports."""
    return f"score {score:.4g}  /  limit {limit:.4g}"
