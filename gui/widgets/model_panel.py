"""The loaded model (id, calibration, evaluation) and the promoted versions with rollback."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.model_store import ModelStore, ModelStoreError, ModelVersion
from station.events import LoadedModel


def describe_model(model: LoadedModel) -> str:
    """HTML summary of a loaded model for engineers: what it is and how it was calibrated."""
    th, stats = model.thresholds, model.score_stats
    cal = model.calibration
    calibration = (
        f"{100 * th.target_false_reject_rate:.1f} % false rejects on {stats.good_count} "
        f"held-out good images; measured {100 * (cal.false_reject_rate if cal else 0):.1f} %"
    )
    calibrated = model.calibrated_threshold
    if cal is None:
        image_line = f"image threshold {th.image:.4g}"
    elif th.image != calibrated:
        image_line = (
            f"image threshold {th.image:.4g}, <b>set by the operator</b> (calibrated "
            f"{calibrated:.4g} for {calibration})"
        )
    else:
        image_line = f"image threshold {th.image:.4g} (calibrated for {calibration})"
    lines = [
        f"<b>Model {model.model_id}</b> ({model.family}), created {model.created}",
        f"from {model.path}",
        image_line,
        f"pixel threshold {th.pixel:.4g}, smallest defect {th.min_defect_area_px} px",
    ]
    ev = model.evaluation or {}
    if ev.get("image_auroc") is not None:
        lines.append(
            f"evaluated on {ev.get('category', 'a labelled set')}: image AUROC "
            f"{ev['image_auroc']:.3f}, pixel AUROC {ev.get('pixel_auroc') or float('nan'):.3f}"
        )
    return "<br>".join(lines)


class ModelPanel(QWidget):
    """Signals: open_requested(path) for a bundle folder; version_activated(path);
    activate_requested(version number) and rollback_requested(): the buttons only ask, the
    window checks the role and then calls ``activate_version`` or ``roll_back``."""

    open_requested = Signal(str)
    version_activated = Signal(str)
    activate_requested = Signal(int)
    rollback_requested = Signal()

    def __init__(self, store: ModelStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.info = QLabel("no model loaded")
        self.info.setWordWrap(True)
        open_button = QPushButton("Open model folder…")
        self.activate = QPushButton("Use selected version")
        self.rollback = QPushButton("Roll back to previous")
        self.message = QLabel("")
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["version", "model id", "promoted (UTC)", "note", ""])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        buttons = QHBoxLayout()
        for w in (open_button, self.activate, self.rollback):
            buttons.addWidget(w)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.info)
        lay.addLayout(buttons)
        lay.addWidget(self.message)
        lay.addWidget(QLabel("Promoted versions (newest first)"))
        lay.addWidget(self.table, 1)
        open_button.clicked.connect(self._open)
        self.activate.clicked.connect(self._activate_selected)
        self.rollback.clicked.connect(self.rollback_requested)
        self.refresh()

    def show_model(self, model: LoadedModel) -> None:
        self.info.setText(describe_model(model))
        self.refresh()

    def show_message(self, text: str) -> None:
        self.message.setText(text)

    def refresh(self) -> list[ModelVersion]:
        try:
            versions = self.store.versions()
            current = self.store.current()
        except ModelStoreError as exc:
            self.message.setText(str(exc))
            return []
        self.table.setRowCount(len(versions))
        for i, v in enumerate(versions):
            mark = "current" if current and v.number == current.number else ""
            for j, text in enumerate([str(v.number), v.model_id, v.promoted_at, v.note, mark]):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        older = current is not None and any(v.number < current.number for v in versions)
        self.rollback.setEnabled(older)
        return versions

    def promote(self, bundle: str, note: str) -> ModelVersion | None:
        try:
            version = self.store.promote(bundle, note)
        except Exception as exc:  # a bad candidate must not disturb the running model
            self.message.setText(f"promotion failed: {exc}")
            return None
        self.message.setText(f"promoted as version {version.number}")
        self.refresh()
        self.version_activated.emit(str(version.path))
        return version

    def roll_back(self) -> None:
        self._switch(lambda: self.store.rollback())

    def activate_version(self, number: int) -> None:
        self._switch(lambda: self.store.activate(number))

    def _activate_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        cell = self.table.item(rows[0].row(), 0) if rows else None
        if cell is not None:
            self.activate_requested.emit(int(cell.text()))

    def _switch(self, action) -> None:  # noqa: ANN001
        try:
            version = action()
        except Exception as exc:
            self.message.setText(str(exc))
            return
        self.message.setText(f"now using version {version.number} ({version.model_id})")
        self.refresh()
        self.version_activated.emit(str(version.path))

    def _open(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model bundle folder")
        if folder:
            self.open_requested.emit(folder)
