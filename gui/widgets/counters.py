"""Part counters: total, pass, fail, errors, yield; with reset. They show the station
state's counters; the reset button only asks for a reset."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QWidget

from station.events import Counters as Counts

ROWS = ("total", "PASS", "FAIL", "ERROR", "yield")


class Counters(QWidget):
    reset_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shown = Counts()
        self._labels: dict[str, QLabel] = {}
        grid = QGridLayout(self)
        for row, key in enumerate(ROWS):
            grid.addWidget(QLabel(key.capitalize() if key.islower() else key), row, 0)
            lab = QLabel("0")
            lab.setStyleSheet("font-size:20px; font-weight:bold;")
            grid.addWidget(lab, row, 1)
            self._labels[key] = lab
        reset = QPushButton("Reset counters")
        reset.clicked.connect(self.reset_requested)
        grid.addWidget(reset, len(ROWS), 0, 1, 2)
        self.set_counts(Counts())

    def set_counts(self, counts: Counts) -> None:
        self.shown = counts
        self._labels["total"].setText(str(counts.total))
        for key, n in self.counts.items():
            self._labels[key].setText(str(n))
        y = counts.yield_percent
        self._labels["yield"].setText("–" if y is None else f"{y:.1f} %")

    @property
    def counts(self) -> dict[str, int]:
        c = self.shown
        return {"PASS": c.passed, "FAIL": c.failed, "ERROR": c.errors}

    @property
    def total(self) -> int:
        return self.shown.total
