"""Browse and filter the inspection log; export it as CSV."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.records import InspectionLog, InspectionRecord

PERIODS = {"last hour": 3600, "today": None, "last 7 days": 7 * 86400, "all": 0}
COLUMNS = (
    "id",
    "time",
    "verdict",
    "score",
    "threshold",
    "defects",
    "largest px",
    "source",
    "part",
    "model",
    "label",
    "image",
    "error",
)


def _since(period: str) -> float | None:
    span = PERIODS[period]
    if span is None:  # midnight today, local time
        t = time.localtime()
        return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))
    return time.time() - span if span else None


class LogPanel(QWidget):
    """A table over the inspection log with verdict / source / period filters."""

    mark_good = Signal(int)  # record id

    def __init__(self, log: InspectionLog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log = log
        self.verdict = QComboBox()
        self.verdict.addItems(["all", "PASS", "FAIL", "ERROR"])
        self.period = QComboBox()
        self.period.addItems(list(PERIODS))
        self.period.setCurrentText("all")
        self.source = QLineEdit()
        self.source.setPlaceholderText("source (exact)")
        refresh = QPushButton("Refresh")
        export = QPushButton("Export CSV…")
        self.mark = QPushButton("Mark selected good")
        self.summary = QLabel()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSortingEnabled(True)
        bar = QHBoxLayout()
        for w in (
            QLabel("Verdict"),
            self.verdict,
            QLabel("Period"),
            self.period,
            self.source,
            refresh,
            export,
            self.mark,
        ):
            bar.addWidget(w)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        refresh.clicked.connect(self.refresh)
        export.clicked.connect(self._export_dialog)
        self.mark.clicked.connect(self._mark_selected)
        self.verdict.currentTextChanged.connect(self.refresh)
        self.period.currentTextChanged.connect(self.refresh)
        self.source.returnPressed.connect(self.refresh)

    def filters(self) -> dict:
        f: dict = {}
        if self.verdict.currentText() != "all":
            f["verdict"] = self.verdict.currentText()
        if self.source.text().strip():
            f["source"] = self.source.text().strip()
        since = _since(self.period.currentText())
        if since:
            f["since"] = since
        return f

    def refresh(self) -> None:
        f = self.filters()
        rows = self.log.query(**f, limit=1000)
        counts = self.log.counts(**f)
        total = sum(counts.values())
        self.summary.setText(
            f"{total} parts match  ·  "
            + "  ·  ".join(f"{k} {v}" for k, v in counts.items())
            + ("  (showing the newest 1000)" if total > 1000 else "")
        )
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, value in enumerate(_cells(r)):
                cell = QTableWidgetItem()
                cell.setData(Qt.ItemDataRole.DisplayRole, value)
                self.table.setItem(i, j, cell)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()

    def export_csv(self, path: str) -> int:
        return self.log.export_csv(path, **self.filters())

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export inspection log", "inspections.csv", "CSV (*.csv)"
        )
        if path:
            n = self.export_csv(path)
            self.summary.setText(f"exported {n} rows to {path}")

    def _mark_selected(self) -> None:
        for index in self.table.selectionModel().selectedRows():
            cell = self.table.item(index.row(), 0)
            if cell is not None:
                self.mark_good.emit(int(cell.data(Qt.ItemDataRole.DisplayRole)))
        self.refresh()


def _cells(r: InspectionRecord) -> list:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.timestamp))
    # Rounded for reading; NaN (ERROR rows) shows as an empty cell. Numbers stay numbers so
    # the columns sort numerically.
    score = round(r.score, 4) if r.score == r.score else None
    return [
        r.id,
        when,
        r.verdict,
        score,
        r.threshold,
        r.defect_count,
        r.largest_defect_area,
        r.source,
        r.part,
        r.model_id,
        r.label,
        r.image_path,
        r.error,
    ]
