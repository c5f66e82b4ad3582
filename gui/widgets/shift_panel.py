"""The current shift at a glance: since when, which lot, yield per model and source, trend."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.trend_plot import TrendPlot
from station.shifts import ShiftSnapshot, Tally, TrendPoint

STARTED_BY = {
    "schedule": "shift",
    "shift": "shift started by hand",
    "reset": "counters reset",
    "start": "first part",
}


class ShiftPanel(QWidget):
    """Signals: lot_requested(), shift_requested() (both engineer actions, gated)."""

    lot_requested = Signal()
    shift_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.snapshot: ShiftSnapshot | None = None
        self.heading = QLabel("Shift: –")
        self.heading.setStyleSheet("font-weight:bold;")
        self.split = QLabel("")
        self.split.setWordWrap(True)
        self.plot = TrendPlot()
        self.lot_button = QPushButton("Set lot…")
        self.shift_button = QPushButton("New shift")
        self.shift_button.setToolTip("Start a shift now: the counters start again from zero")
        self.lot_button.clicked.connect(self.lot_requested)
        self.shift_button.clicked.connect(self.shift_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.lot_button)
        buttons.addWidget(self.shift_button)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.heading)
        lay.addWidget(self.split)
        lay.addWidget(QLabel("Yield over the shift (%)"))
        lay.addWidget(self.plot)
        lay.addLayout(buttons)

    def show_shift(
        self, snap: ShiftSnapshot, trend: list[TrendPoint], limit: float | None = None
    ) -> None:
        self.snapshot = snap
        since = datetime.fromtimestamp(snap.start).strftime("%H:%M") if snap.start else "–"
        what = STARTED_BY.get(snap.started_by, snap.started_by)
        self.heading.setText(f"{what.capitalize()} since {since}  ·  lot {snap.lot or '–'}")
        pairs = snap.by_model_source
        if len(pairs) > 1:  # mixed: one yield would blur them, so show each
            rows = [
                f"model {model}, {Path(source).name or source}: {_short(t)}"
                for (model, source), t in sorted(pairs.items())
            ]
            self.split.setText("<br>".join(rows))
            self.split.show()
        else:
            self.split.hide()
        self.plot.set_points(trend, limit)

    def set_big(self, big: bool) -> None:
        """Operator view: no engineer buttons."""
        self.lot_button.setVisible(not big)
        self.shift_button.setVisible(not big)


def _short(t: Tally) -> str:
    y = t.yield_pct
    return f"{t.passed} PASS, {t.failed} FAIL, {t.errors} ERROR" + (
        "" if y is None else f", yield {y:.1f} %"
    )
