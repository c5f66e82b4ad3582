"""The production alarm banner: big, coloured, across the window, with Acknowledge."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from station.yield_alarms import AlarmState, AlarmStatus

# Unacknowledged alarms are red, acknowledged ones amber, a condition gone but not yet
# acknowledged is grey-blue: the three states an operator has to tell apart at a glance.
COLOURS = {
    AlarmState.ACTIVE: "#c62828",
    AlarmState.ACKNOWLEDGED: "#ef8f00",
    AlarmState.CLEARED: "#546e7a",
}


class AlarmBanner(QWidget):
    """Hidden while every alarm is normal. Signals: acknowledge_requested()."""

    acknowledge_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shown: list[AlarmStatus] = []
        self.title = QLabel()
        self.title.setStyleSheet("color:white; font-size:30px; font-weight:bold;")
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setStyleSheet("color:white; font-size:17px;")
        self.ack = QPushButton("Acknowledge")
        self.ack.setMinimumHeight(56)
        self.ack.setStyleSheet("font-size:20px; font-weight:bold; padding:4px 24px;")
        self.ack.clicked.connect(self.acknowledge_requested)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(16, 8, 16, 8)
        lay.addWidget(self.title)
        lay.addWidget(self.detail, 1)
        lay.addWidget(self.ack)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.show_alarms([])

    def show_alarms(self, alarms: list[AlarmStatus]) -> None:
        """Show the alarms that are not normal (priority order); hide when there are none."""
        self.shown = list(alarms)
        if not alarms:
            self.hide()
            return
        first = alarms[0]
        self.title.setText(f"ALARM {int(first.code)}")
        self.detail.setText(
            "<br>".join(
                f"<b>{a.code.name.replace('_', ' ')}</b> ({a.state}"
                + (f" by {a.acknowledged_by}" if a.acknowledged_by else "")
                + f"): {a.message}"
                for a in alarms
            )
        )
        waiting = any(a.state is not AlarmState.ACKNOWLEDGED for a in alarms)
        self.ack.setEnabled(waiting)
        colour = COLOURS[first.state] if waiting else COLOURS[AlarmState.ACKNOWLEDGED]
        self.setStyleSheet(f"AlarmBanner {{ background:{colour}; border-radius:6px; }}")
        self.show()
