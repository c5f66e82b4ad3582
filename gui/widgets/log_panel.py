"""Browse and filter the inspection log, open any logged part, export it as CSV.

Each row shows its part's thumbnail (made from the saved image off the UI thread, only for
the rows in view) and its verdict in the verdict's colour; a double-click opens the part in
the review dialog.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.review_dialog import ReviewDialog
from gui.widgets.thumbnail_cache import SIDE, ThumbnailCache, placeholder
from gui.widgets.verdict_banner import COLOURS
from inspector.records import InspectionLog, InspectionRecord, RecordStoreError

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
VERDICT_COLUMN = COLUMNS.index("verdict")
PATH_ROLE = Qt.ItemDataRole.UserRole + 1  # the saved image path behind a row's thumbnail


def _since(period: str) -> float | None:
    span = PERIODS[period]
    if span is None:  # midnight today, local time
        t = time.localtime()
        return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))
    return time.time() - span if span else None


class LogPanel(QWidget):
    """A table over the inspection log with verdict / source / period filters.

    The id column carries each part's thumbnail; double-click a row to review its part.
    """

    mark_good = Signal(int)  # record id
    record_opened = Signal(int)  # record id whose part the review dialog now shows

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
        self.table.setIconSize(QSize(SIDE, SIDE))
        self.table.verticalHeader().setDefaultSectionSize(SIDE + 6)
        self.table.setToolTip("Double-click a row to see the part")
        self.thumbnails = ThumbnailCache(parent=self)
        self.review: ReviewDialog | None = None  # the dialog last opened from the log
        self._no_image = placeholder("no image\nsaved")
        self._loading = placeholder("loading…")
        self._unreadable = placeholder("image\nunreadable")
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
        self._split = QSplitter(Qt.Orientation.Vertical)
        self._split.addWidget(self.table)
        lay.addWidget(self._split, 1)
        refresh.clicked.connect(self.refresh)
        export.clicked.connect(self._export_dialog)
        self.mark.clicked.connect(self._mark_selected)
        self.verdict.currentTextChanged.connect(self.refresh)
        self.period.currentTextChanged.connect(self.refresh)
        self.source.returnPressed.connect(self.refresh)
        self.table.cellDoubleClicked.connect(self._double_clicked)
        self.thumbnails.ready.connect(self._thumbnail_ready)
        self.table.verticalScrollBar().valueChanged.connect(self._request_visible)

    def add_beside(self, widget: QWidget) -> None:
        """Show ``widget`` below the log table (the audit trail), resizable."""
        self._split.addWidget(widget)
        self._split.setSizes([600, 300])

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
            + ("  ·  double-click a row to see its part" if rows else "")
        )
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            cells = []
            for j, value in enumerate(_cells(r)):
                cell = QTableWidgetItem()
                cell.setData(Qt.ItemDataRole.DisplayRole, value)
                self.table.setItem(i, j, cell)
                cells.append(cell)
            self._decorate(cells, r)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        # After the layout has placed the rows: only the rows in view get thumbnails.
        QTimer.singleShot(0, self._request_visible)

    def open_record(self, record_id: int) -> ReviewDialog | None:
        """Open the logged part ``record_id`` in the review dialog (None if there is none)."""
        try:
            rec = self.log.get(record_id)
        except RecordStoreError as exc:
            self.summary.setText(str(exc))
            return None
        if rec is None:
            self.summary.setText(f"record {record_id} is no longer in the log")
            return None
        dialog = ReviewDialog.for_record(rec, self, self.log.path)
        dialog.mark_good.connect(self._mark_reviewed)
        dialog.show()
        self.review = dialog  # keep a reference while it is open
        self.record_opened.emit(record_id)
        return dialog

    def _decorate(self, cells: list[QTableWidgetItem], r: InspectionRecord) -> None:
        verdict = cells[VERDICT_COLUMN]
        verdict.setBackground(QBrush(QColor(COLOURS.get(r.verdict, COLOURS[""]))))
        verdict.setForeground(QBrush(QColor("white")))
        font = QFont(verdict.font())
        font.setBold(True)
        verdict.setFont(font)
        verdict.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        thumb = cells[0]
        thumb.setData(PATH_ROLE, r.image_path)
        thumb.setData(
            Qt.ItemDataRole.DecorationRole, self._loading if r.image_path else self._no_image
        )

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 (Qt API)
        super().resizeEvent(event)
        QTimer.singleShot(0, self._request_visible)  # a taller table shows more rows

    def showEvent(self, event) -> None:  # noqa: N802, ANN001 (Qt API)
        super().showEvent(event)
        QTimer.singleShot(0, self._request_visible)

    def _request_visible(self) -> None:
        table = self.table
        if table.rowCount() == 0:
            return
        first = max(0, table.rowAt(0))
        last = table.rowAt(table.viewport().height() - 1)
        last = table.rowCount() - 1 if last < 0 else last
        for row in range(first, last + 1):
            cell = table.item(row, 0)
            if cell is not None and cell.data(PATH_ROLE):
                self._show_thumbnail(cell, cell.data(PATH_ROLE))

    def _show_thumbnail(self, cell: QTableWidgetItem, path: str) -> None:
        pixmap = self.thumbnails.get(path)
        if pixmap is not None:
            cell.setData(Qt.ItemDataRole.DecorationRole, pixmap)
        elif self.thumbnails.error(path):
            cell.setData(Qt.ItemDataRole.DecorationRole, self._unreadable)
            cell.setToolTip(f"{path}: {self.thumbnails.error(path)}")

    def _thumbnail_ready(self, path: str) -> None:
        for row in range(self.table.rowCount()):
            cell = self.table.item(row, 0)
            if cell is not None and cell.data(PATH_ROLE) == path:
                self._show_thumbnail(cell, path)

    def _double_clicked(self, row: int, _column: int) -> None:
        cell = self.table.item(row, 0)
        if cell is not None:
            self.open_record(int(cell.data(Qt.ItemDataRole.DisplayRole)))

    def _mark_reviewed(self, item) -> None:  # noqa: ANN001 (ViewItem)
        if item.record_id is not None:
            self.mark_good.emit(int(item.record_id))
            self.refresh()

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
