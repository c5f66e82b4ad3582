"""The current model and a retrained candidate side by side, each difference coloured by
whether it is better or worse for that figure (``gui.model_facts.METRICS``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from gui.model_facts import METRICS, TEXT_ROWS, Change, difference, judge

CURRENT, CANDIDATE, CHANGE = 1, 2, 3  # columns after the row title
# Pale backgrounds keep black text readable; the Change column says the word as well, so
# the colour is never the only sign.
COLOURS = {Change.BETTER: QColor("#c8efc8"), Change.WORSE: QColor("#f6c9c6")}
KEY_ROLE = Qt.ItemDataRole.UserRole


class ComparisonTable(QTableWidget):
    """Rows: model id, family, then every figure either model has; columns: current, new,
    change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 4, parent)
        self.setHorizontalHeaderLabels(["", "Current model", "New model", "Change"])
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for column in (CURRENT, CANDIDATE, CHANGE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)

    def show_models(self, current: Mapping[str, Any] | None, candidate: Mapping[str, Any]) -> None:
        """Fill the table; ``current`` is None when no model is in production yet."""
        now = current or {}
        self.setRowCount(0)
        for key, label in TEXT_ROWS:
            a, b = now.get(key), candidate.get(key)
            same = a is not None and a == b
            self._add(key, label, a or "–", b or "–", "same" if same else "", None, "")
        for m in METRICS:
            a, b = now.get(m.key), candidate.get(m.key)
            if a is None and b is None:
                continue  # e.g. test-set rows without a test folder
            change = judge(m, a, b)
            words = difference(m, a, b) + (f"  {change.value}" if change.value else "")
            if change is Change.SAME:
                words = "same"
            shown_a = "–" if a is None else m.show(a)
            shown_b = "–" if b is None else m.show(b)
            self._add(m.key, m.label, shown_a, shown_b, words.strip(), change, m.what)
        height = self.horizontalHeader().height() + 2 * self.frameWidth()
        height += sum(self.rowHeight(r) for r in range(self.rowCount()))
        self.setFixedHeight(height)  # every row visible, no scroll bar inside the tab

    def _add(
        self,
        key: str,
        label: str,
        current: str,
        candidate: str,
        change_text: str,
        change: Change | None,
        what: str,
    ) -> None:
        row = self.rowCount()
        self.insertRow(row)
        title = QTableWidgetItem(label)
        title.setData(KEY_ROLE, key)
        if what:
            title.setToolTip(what)
        self.setItem(row, 0, title)
        self.setItem(row, CURRENT, QTableWidgetItem(current))
        cells = (QTableWidgetItem(candidate), QTableWidgetItem(change_text))
        for column, item in zip((CANDIDATE, CHANGE), cells, strict=True):
            if change in COLOURS:
                item.setBackground(QBrush(COLOURS[change]))
            self.setItem(row, column, item)

    def row_of(self, key: str) -> int:
        """The row showing ``key`` (a ``METRICS`` or ``TEXT_ROWS`` key), -1 if not shown."""
        for row in range(self.rowCount()):
            item = self.item(row, 0)
            if item is not None and item.data(KEY_ROLE) == key:
                return row
        return -1

    def text(self, key: str, column: int) -> str:
        """The text shown for ``key`` in ``column`` ("" if the row is not shown)."""
        row = self.row_of(key)
        item = self.item(row, column) if row >= 0 else None
        return item.text() if item is not None else ""

    def change_of(self, key: str) -> Change | None:
        """How the candidate compares on ``key`` as the colours say it (None: not shown or
        not coloured)."""
        row = self.row_of(key)
        item = self.item(row, CANDIDATE) if row >= 0 else None
        if item is None:
            return None
        colour = item.background().color()
        return next((c for c, q in COLOURS.items() if q == colour), None)
