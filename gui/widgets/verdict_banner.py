"""The large PASS / FAIL banner an operator reads from across the cell."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

NO_PARTS = "NO PARTS"  # the source is failing: nothing is being inspected
COLOURS = {
    "PASS": "#1b8a3a",
    "FAIL": "#c62828",
    "ERROR": "#ef6c00",
    NO_PARTS: "#6a1b9a",
    "": "#455a64",
}


class VerdictBanner(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.verdict = QLabel("READY")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail = QLabel("no part inspected yet")
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # A narrow window wraps the score line instead of clipping it.
        self.detail.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.verdict)
        lay.addWidget(self.detail)
        self.setMinimumHeight(150)
        # Lets the style sheet paint this plain QWidget's background.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.show_verdict("", "no part inspected yet")

    def show_verdict(self, verdict: str, detail: str) -> None:
        self.verdict.setText(verdict or "READY")
        self.detail.setText(detail)
        colour = COLOURS.get(verdict, COLOURS[""])
        self.setStyleSheet(f"VerdictBanner {{ background: {colour}; border-radius: 8px; }}")
        self.verdict.setStyleSheet("font-size:64px; font-weight:bold; color:white;")
        self.detail.setStyleSheet("font-size:18px; color:white;")

    def show_result(self, verdict: str, score: float, normalized: float, threshold: float) -> None:
        if verdict == "ERROR" or math.isnan(score):
            self.show_verdict(verdict, "part could not be inspected")
            return
        self.show_verdict(
            verdict, f"score {normalized:.2f} (limit 0.50)  ·  raw {score:.4g} / {threshold:.4g}"
        )
