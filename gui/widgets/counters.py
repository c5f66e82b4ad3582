"""Part counters: total, pass, fail, errors, yield; with reset. They show the station
state's counters; the reset button only asks for a reset."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QWidget

from station.shifts import Tally

ROWS = ("total", "PASS", "FAIL", "ERROR", "yield")


class Counters(QWidget):
    reset_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shown = Tally()
        self._labels: dict[str, QLabel] = {}
        self._captions: list[QLabel] = []
        grid = QGridLayout(self)
        for row, key in enumerate(ROWS):
            caption = QLabel(key.capitalize() if key.islower() else key)
            grid.addWidget(caption, row, 0)
            self._captions.append(caption)
            lab = QLabel("0")
            grid.addWidget(lab, row, 1)
            self._labels[key] = lab
        self.reset = QPushButton("Reset counters")
        self.reset.clicked.connect(self.reset_requested)
        grid.addWidget(self.reset, len(ROWS), 0, 1, 2)
        self.set_big(False)
        self.set_counts(Tally())

    def set_big(self, big: bool) -> None:
        """Operator view: counters and yield readable from across the cell, no reset."""
        number_px, caption_px = 20, 13
        screen = self.screen()
        if big:  # figures some 1.5 cm tall on a 24-inch screen
            number_px = max(32, round(0.055 * (screen.size().height() if screen else 1080)))
            caption_px = round(0.55 * number_px)
        for lab in self._labels.values():
            lab.setStyleSheet(f"font-size:{number_px}px; font-weight:bold;")
        for caption in self._captions:
            caption.setStyleSheet(f"font-size:{caption_px}px;")
        self.reset.setVisible(not big)

    def set_counts(self, counts: Tally) -> None:
        self.shown = counts
        self._labels["total"].setText(str(counts.total))
        for key, n in self.counts.items():
            self._labels[key].setText(str(n))
        y = counts.yield_pct
        self._labels["yield"].setText("–" if y is None else f"{y:.1f} %")

    @property
    def counts(self) -> dict[str, int]:
        c = self.shown
        return {"PASS": c.passed, "FAIL": c.failed, "ERROR": c.errors}

    @property
    def total(self) -> int:
        return self.shown.total
