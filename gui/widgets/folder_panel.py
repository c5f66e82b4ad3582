"""Folder inspection: pick a folder, inspect every image with progress and cancel, browse the
results sorted by score, and open the same report ``inspector inspect`` writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.run_dirs import new_run_dir
from inspector.imageio import iter_image_files


class FolderWorker(QThread):
    """Runs ``inspector.folder.inspect_files`` with its own model instance."""

    progress = Signal(int, int)
    finished_run = Signal(object)  # FolderRun
    failed = Signal(str)

    def __init__(self, bundle: str, folder: str, out_dir: str) -> None:
        super().__init__()
        self.bundle, self.folder, self.out_dir = bundle, folder, out_dir

    def run(self) -> None:
        from inspector.folder import inspect_files
        from inspector.runtime import Inspector

        try:
            files = iter_image_files([Path(self.folder)])
            if not files:
                raise ValueError(f"no images found in {self.folder}")
            with Inspector.load(self.bundle) as insp:
                run = inspect_files(
                    insp,
                    files,
                    self.out_dir,
                    progress=lambda done, total: self.progress.emit(done, total),
                    cancelled=self.isInterruptionRequested,
                )
        except Exception as exc:  # shown to the engineer; the station keeps running
            self.failed.emit(str(exc))
            return
        self.finished_run.emit(run)


class FolderPanel(QWidget):
    """The folder-inspection tab."""

    def __init__(self, output_root: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.output_root = output_root
        self.bundle = ""
        self.worker: FolderWorker | None = None
        self.last_run: Any = None
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder of images to inspect (searched recursively)")
        browse = QPushButton("Browse…")
        self.start = QPushButton("Inspect folder")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.open_report = QPushButton("Open report")
        self.open_report.setEnabled(False)
        self.bar = QProgressBar()
        self.status = QLabel("")
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["score", "verdict", "regions", "file", "error"])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        row = QHBoxLayout()
        for w in (self.folder, browse, self.start, self.cancel, self.open_report):
            row.addWidget(w)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addWidget(self.table, 1)
        browse.clicked.connect(self._browse)
        self.start.clicked.connect(self.run_folder)
        self.cancel.clicked.connect(self.cancel_run)
        self.open_report.clicked.connect(self._open_report)

    def set_model(self, bundle: str) -> None:
        self.bundle = bundle

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to inspect", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def run_folder(self) -> None:
        if not self.bundle:
            self.status.setText("open a model first")
            return
        folder = self.folder.text().strip()
        if not Path(folder).is_dir():
            self.status.setText(f"not a folder: {folder}")
            return
        out = new_run_dir(self.output_root / "folder_runs")
        self.worker = FolderWorker(self.bundle, folder, str(out))
        self.worker.progress.connect(self._progress)
        self.worker.finished_run.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.start.setEnabled(False)
        self.cancel.setEnabled(True)
        self.status.setText(f"inspecting {folder} …")
        self.bar.setValue(0)
        self.worker.start()

    def cancel_run(self) -> None:
        if self.worker is not None:
            self.worker.requestInterruption()
            self.status.setText("cancelling after the current batch …")

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.requestInterruption()
            self.worker.wait(30000)

    def _progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, total)
        self.bar.setValue(done)

    def _failed(self, msg: str) -> None:
        self.status.setText(f"failed: {msg}")
        self.start.setEnabled(True)
        self.cancel.setEnabled(False)

    def _done(self, run: Any) -> None:
        self.last_run = run
        s = run.summary
        note = " (cancelled)" if s.get("cancelled") else ""
        self.status.setText(
            f"{s.get('total', len(run.rows))} images{note}: PASS {s.get('pass', 0)}, "
            f"FAIL {s.get('fail', 0)}, ERROR {s.get('error', 0)}  ·  report: "
            f"{run.out_dir / 'report.html'}"
        )
        rows = sorted(run.rows, key=lambda r: -1e300 if r.score is None else -r.score)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            values = [
                "" if r.score is None else f"{r.score:.4g}",
                str(r.verdict),
                str(r.n_regions),
                r.path,
                r.error,
            ]
            for j, v in enumerate(values):
                self.table.setItem(i, j, QTableWidgetItem(v))
        self.table.resizeColumnsToContents()
        self.start.setEnabled(True)
        self.cancel.setEnabled(False)
        self.open_report.setEnabled(True)

    def _open_report(self) -> None:
        if self.last_run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.last_run.out_dir / "report.html")))
