"""Retraining at the station: collect good images, train in the background, compare with the
current model on the same images, then promote (see the versions panel for rollback)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.jobs import Job, Progress, describe
from gui.run_dirs import new_run_dir
from inspector.bundle import BundleError, read_meta
from inspector.families import DEFAULT_FAMILY, FAMILIES, PRESETS
from inspector.imageio import iter_image_files

BAR_STEPS = 1000
PRESET_PREFIX = "preset:"  # the chooser's data for a preset entry, before the preset's name


def _pct(x: object) -> str:
    return "–" if not isinstance(x, int | float) else f"{100 * x:.1f} %"


def _num(x: object) -> str:
    return "–" if not isinstance(x, int | float) else f"{x:.3f}"


class RetrainPanel(QWidget):
    """Signals: capture_requested(folder), collect_changed(every_n, folder),
    promote_requested(candidate, note), progress_text(line) while a run goes, and
    trained(candidate) once a model is trained and compared."""

    capture_requested = Signal(str)
    collect_changed = Signal(int, str)
    promote_requested = Signal(str, str)  # candidate bundle, note
    progress_text = Signal(str)  # "features 45 % · about 30 s left"
    trained = Signal(str)  # candidate bundle

    def __init__(
        self,
        training_dir: Path,
        candidates_dir: Path,
        parent: QWidget | None = None,
        cli: Callable[..., tuple[str, list[str]]] | None = None,
    ) -> None:
        """
        Args:
            training_dir: where good images for the next model are collected.
            candidates_dir: where trained candidates go.
            cli: program and arguments for an ``inspector`` command line (default: this
                Python's ``inspector``).
        """
        super().__init__(parent)
        self.cli = cli
        self.candidates_dir = candidates_dir
        self.current_model = ""
        self.candidate: Path | None = None
        self.job: Job | None = None
        self.compare_dir: Path | None = None
        # A note to promote the next candidate with at once (first start), else "".
        self._auto_promote = ""
        self.data = QLineEdit(str(training_dir))
        self.count = QLabel()
        browse = QPushButton("Folder…")
        capture = QPushButton("Capture current frame as good")
        self.collect = QCheckBox("Collect every")
        self.every = QSpinBox()
        self.every.setRange(1, 1000)
        self.every.setValue(10)
        self.test = QLineEdit()
        self.test.setPlaceholderText("optional labelled test folder (MVTec layout) for evaluation")
        test_browse = QPushButton("Test folder…")
        self.family = QComboBox()
        for name, what in FAMILIES.items():
            self.family.addItem(name, name)
            self.family.setItemData(self.family.count() - 1, what, Qt.ItemDataRole.ToolTipRole)
        for name, what in PRESETS.items():
            self.family.addItem(f"{name} (preset)", PRESET_PREFIX + name)
            self.family.setItemData(self.family.count() - 1, what, Qt.ItemDataRole.ToolTipRole)
        self.train_button = QPushButton("Train new model")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.promote_button = QPushButton("Promote to production")
        self.promote_button.setEnabled(False)
        self.stage = QLabel("")
        self.bar = QProgressBar()
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setFormat("%p %")
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        grid = QGridLayout()
        grid.addWidget(QLabel("Good images"), 0, 0)
        grid.addWidget(self.data, 0, 1)
        grid.addWidget(browse, 0, 2)
        grid.addWidget(self.count, 0, 3)
        grid.addWidget(capture, 1, 1)
        grid.addWidget(self.collect, 1, 2)
        grid.addWidget(self.every, 1, 3)
        grid.addWidget(QLabel("Test set"), 2, 0)
        grid.addWidget(self.test, 2, 1)
        grid.addWidget(test_browse, 2, 2)
        grid.addWidget(QLabel("Model"), 3, 0)
        grid.addWidget(self.family, 3, 1)
        grid.addWidget(self.train_button, 4, 1)
        grid.addWidget(self.cancel_button, 4, 2)
        grid.addWidget(self.promote_button, 4, 3)
        lay = QVBoxLayout(self)
        lay.addLayout(grid)
        lay.addWidget(self.stage)
        lay.addWidget(self.bar)
        lay.addWidget(self.result)
        lay.addWidget(self.log, 1)
        browse.clicked.connect(lambda: self._pick(self.data))
        test_browse.clicked.connect(lambda: self._pick(self.test))
        capture.clicked.connect(lambda: self.capture_requested.emit(self.data.text()))
        self.collect.toggled.connect(self._collect)
        self.every.valueChanged.connect(self._collect)
        self.data.editingFinished.connect(self.refresh_count)
        self.train_button.clicked.connect(self.start_training)
        self.cancel_button.clicked.connect(self.cancel)
        self.promote_button.clicked.connect(lambda: self._promote())
        self.refresh_count()

    def set_current_model(self, path: str) -> None:
        """The production model; a new one is trained with its family (or the preset it was
        trained with) unless changed."""
        self.current_model = path
        family, preset = DEFAULT_FAMILY, ""
        try:
            if path:
                meta = read_meta(path)
                family, preset = meta.family, meta.training.get("settings", {}).get("preset", "")
        except BundleError:
            pass
        index = self.family.findData(PRESET_PREFIX + preset) if preset else -1
        if index < 0:
            index = self.family.findData(family)
        self.family.setCurrentIndex(max(index, 0))

    def data_folder(self) -> Path:
        """Where good images for the next training go."""
        return Path(self.data.text())

    def train_sample(self, folder: Path, note: str) -> None:
        """First start: train on ``folder`` and promote the result with ``note`` at once."""
        self.data.setText(str(folder))
        self._auto_promote = note
        self.start_training()

    def refresh_count(self) -> int:
        folder = Path(self.data.text())
        n = len(iter_image_files([folder])) if folder.is_dir() else 0
        self.count.setText(f"{n} images")
        return n

    def _pick(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose folder", edit.text())
        if folder:
            edit.setText(folder)
            self.refresh_count()

    def _collect(self, *_args: object) -> None:
        n = self.every.value() if self.collect.isChecked() else 0
        self.collect_changed.emit(n, self.data.text())

    # --- training ----------------------------------------------------------------------
    def start_training(self) -> None:
        if self.job is not None and self.job.running():
            return
        if self.refresh_count() < 2:
            self.stage.setText("need at least 2 good images (capture some or pick a folder)")
            return
        self.candidate = new_run_dir(self.candidates_dir, "_current")
        args = ["train", "--data", self.data.text(), "--out", str(self.candidate)]
        args += self.model_arguments()
        if self.test.text().strip():
            args += ["--test", self.test.text().strip()]
        self.promote_button.setEnabled(False)
        self.result.setText("")
        self.bar.setValue(0)
        self._run(args, self._trained, progress=True)

    def model_arguments(self) -> list[str]:
        """``--model FAMILY``, or ``--preset NAME`` for a preset (which names its family)."""
        choice = self.family.currentData()
        if choice.startswith(PRESET_PREFIX):
            return ["--preset", choice.removeprefix(PRESET_PREFIX)]
        return ["--model", choice]

    def cancel(self) -> None:
        if self.job is not None and self.job.running():
            self.job.cancel()
            # The run finishes its batch first; ``_trained`` says when it has stopped.
            self.stage.setText("cancelling …")
            self.cancel_button.setEnabled(False)
            self._auto_promote = ""

    def _run(self, args: list[str], done, progress: bool = False) -> None:  # noqa: ANN001
        self.job = Job(args, self, cli=self.cli)
        self.job.output.connect(self.log.appendPlainText)
        if progress:  # training only: the comparison after it does not restart the bar
            self.job.progress.connect(self._progress)
        self.job.finished.connect(done)
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.job.start()

    def _progress(self, p: Progress) -> None:
        """One bar over the whole run (every stage), with the stage and an estimate."""
        if self.job is not None and self.job.cancelled:
            return  # a last line after Cancel must not bring the bar back
        text = describe(p)
        self.stage.setText(text)
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setValue(round(p.overall * BAR_STEPS))
        self.progress_text.emit(f"{round(100 * p.overall)} %  ·  {text}")

    def _idle(self) -> None:
        self.train_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _trained(self, code: int) -> None:
        if self.job is not None and self.job.cancelled:
            self.stage.setText("cancelled")
            self.bar.setRange(0, BAR_STEPS)
            self.bar.setValue(0)
            self._idle()
            return
        try:
            if code not in (0, 1) or self.candidate is None:
                why = self.job.error if self.job is not None and self.job.error else "see the log"
                raise BundleError(f"training failed (exit code {code}): {why}")
            meta = read_meta(self.candidate)
        except BundleError as exc:
            self.stage.setText(str(exc))
            self._idle()
            return
        cal = meta.calibration
        text = [
            f"<b>New model {meta.model_id}</b>: {meta.training.get('fit_images')} good images"
            + (
                f", calibrated on {cal.images} held-out good images: false-reject "
                f"rate {_pct(cal.false_reject_rate)} at threshold {cal.image_threshold:.4g} "
                f"(target {_pct(cal.target_false_reject_rate)})."
                if cal is not None
                else "."
            )
        ]
        ev = meta.evaluation
        if ev:
            text.append(_evaluation_line("New model on the test set", ev))
        self.result.setText("<br>".join(text))
        self.stage.setText("trained; comparing with the current model …")
        self.bar.setValue(BAR_STEPS)
        self.progress_text.emit("trained; comparing with the current model …")
        self._compare()

    # --- comparison with the current model ----------------------------------------------
    def _compare(self) -> None:
        if not self.current_model or self.candidate is None:
            self._compared(0)
            return
        self.compare_dir = self.candidate.with_name(self.candidate.name + "_current")
        self.compare_dir.mkdir(parents=True, exist_ok=True)
        if self.test.text().strip():
            args = [
                "evaluate",
                "--model",
                self.current_model,
                self.test.text().strip(),
                "--json",
                str(self.compare_dir / "evaluation.json"),
            ]
        else:
            args = [
                "inspect",
                "--model",
                self.current_model,
                "--out",
                str(self.compare_dir),
                self.data.text(),
            ]
        self._run(args, self._compared)

    def _compared(self, _code: int) -> None:
        lines = [self.result.text()]
        d = self.compare_dir
        if d is not None and (d / "evaluation.json").is_file():
            ev = json.loads((d / "evaluation.json").read_text())
            lines.append(_evaluation_line("Current model on the same test set", ev))
        elif d is not None and (d / "results.json").is_file():
            summary = json.loads((d / "results.json").read_text()).get("summary", {})
            judged = (summary.get("pass") or 0) + (summary.get("fail") or 0)
            rate = (summary.get("fail") or 0) / judged if judged else None
            lines.append(
                f"Current model on the same good images: rejects {summary.get('fail')} of "
                f"{judged} ({_pct(rate)}; these images are all good, so every reject is false)."
            )
        self.result.setText("<br>".join(x for x in lines if x))
        self.stage.setText("ready to promote" if self.candidate else "")
        self.promote_button.setEnabled(self.candidate is not None)
        self._idle()
        if self.candidate is None:
            return
        self.trained.emit(str(self.candidate))
        if self._auto_promote:
            note, self._auto_promote = self._auto_promote, ""
            self._promote(note)

    def _promote(self, note: str = "") -> None:
        if self.candidate is not None:
            note = note or f"retrained on {self.refresh_count()} images from {self.data.text()}"
            self.promote_requested.emit(str(self.candidate), note)
            # Promoted once: offering it again would store the same model as a new version.
            self.promote_button.setEnabled(False)
            self.stage.setText("promoted")

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()


def _evaluation_line(title: str, ev: dict) -> str:
    return (
        f"{title}: image AUROC {_num(ev.get('image_auroc'))}, pixel AUROC "
        f"{_num(ev.get('pixel_auroc'))}, F1 {_num(ev.get('f1'))}, false rejects "
        f"{_pct(ev.get('false_reject_rate'))}, misses {_pct(ev.get('miss_rate'))}"
    )
