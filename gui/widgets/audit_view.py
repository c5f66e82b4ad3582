"""The audit trail in the Log tab: when, who, what, old -> new, newest first."""

from __future__ import annotations

import time

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from station.audit import AuditEntry, AuditError, AuditTrail

COLUMNS = ["when", "who", "what", "subject", "old -> new", "reason"]
LIMIT = 500
WHO_COLOURS = {"engineer": "#fff3e0", "admin": "#ffebee", "system": "#eceff1"}


class AuditView(QWidget):
    """The newest ``LIMIT`` rows of the audit trail, filtered by who."""

    def __init__(self, audit: AuditTrail, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.audit = audit
        self.who = QComboBox()
        self.who.addItems(["all", "operator", "engineer", "admin", "system"])
        self.summary = QLabel()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        title = QLabel("Audit trail: every change, unlock and alarm")
        title.setStyleSheet("font-weight:bold;")
        bar = QHBoxLayout()
        for w in (title, QLabel("Who"), self.who, self.summary):
            bar.addWidget(w)
        bar.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.table, 1)
        self.who.currentTextChanged.connect(self.refresh)

    def refresh(self) -> list[AuditEntry]:
        who = self.who.currentText()
        try:
            rows = self.audit.query(limit=LIMIT, role=None if who == "all" else who)
        except AuditError as exc:
            self.summary.setText(str(exc))
            return []
        self.summary.setText(f"{len(rows)} rows" + (" (newest)" if len(rows) == LIMIT else ""))
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate(cells(row)):
                cell = QTableWidgetItem(text)
                colour = WHO_COLOURS.get(row.role)
                if colour:
                    cell.setBackground(QBrush(QColor(colour)))
                self.table.setItem(i, j, cell)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        return rows

    def texts(self, row: int) -> list[str]:
        """The shown cells of one row (what a person reads)."""
        items = [self.table.item(row, j) for j in range(len(COLUMNS))]
        return [item.text() if item is not None else "" for item in items]


def cells(row: AuditEntry) -> list[str]:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.timestamp))
    change = ""
    if row.old is not None or row.new is not None:
        change = f"{_dash(row.old)} -> {_dash(row.new)}"
    return [when, row.role, row.action.replace("_", " "), row.subject, change, row.reason]


def _dash(value: str | None) -> str:
    return "–" if value is None else value
