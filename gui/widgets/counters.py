"""Part counters: total, pass, fail, errors, yield; with reset."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QWidget


class Counters(QWidget):
    reset_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts = {"PASS": 0, "FAIL": 0, "ERROR": 0}
        self._labels: dict[str, QLabel] = {}
        grid = QGridLayout(self)
        for row, key in enumerate(("total", "PASS", "FAIL", "ERROR", "yield")):
            grid.addWidget(QLabel(key.capitalize() if key.islower() else key), row, 0)
            lab = QLabel("0")
            lab.setStyleSheet("font-size:20px; font-weight:bold;")
            grid.addWidget(lab, row, 1)
            self._labels[key] = lab
        reset = QPushButton("Reset counters")
        reset.clicked.connect(self.reset)
        grid.addWidget(reset, 5, 0, 1, 2)
        self._refresh()

    def add(self, verdict: str) -> None:
        self.counts[verdict] = self.counts.get(verdict, 0) + 1
        self._refresh()

    def reset(self) -> None:
        self.counts = {"PASS": 0, "FAIL": 0, "ERROR": 0}
        self._refresh()
        self.reset_requested.emit()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def yield_percent(self) -> float | None:
        judged = self.counts["PASS"] + self.counts["FAIL"]
        return 100.0 * self.counts["PASS"] / judged if judged else None

    def _refresh(self) -> None:
        self._labels["total"].setText(str(self.total))
        for key in ("PASS", "FAIL", "ERROR"):
            self._labels[key].setText(str(self.counts[key]))
        y = self.yield_percent()
        self._labels["yield"].setText("–" if y is None else f"{y:.1f} %")
