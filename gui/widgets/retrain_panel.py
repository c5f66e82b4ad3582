"""Retraining at the station: collect good images, train in the background, compare with the
current model on the same images side by side, then ask for promotion (the versions panel
promotes and rolls back)."""

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
from gui.model_facts import facts
from gui.run_dirs import new_run_dir
from gui.widgets.comparison_table import ComparisonTable
from gui.widgets.self_validation_view import SelfValidationView
from inspector.bundle import BundleError, BundleMeta, read_meta
from inspector.families import DEFAULT_FAMILY, FAMILIES, PRESETS
from inspector.imageio import iter_image_files

BAR_STEPS = 1000
PRESET_PREFIX = "preset:"  # the chooser's data for a preset entry, before the preset's name
IDENTICAL = (
    "Identical to the current model (same model id {model_id}): the same images and "
    "settings give the same model. Promoting it would only add a duplicate version."
)
NO_TEST_HINT = "Give a labelled test folder to compare AUROC, missed defects and latency."


class RetrainPanel(QWidget):
    """Requests the window's guard checks: train_requested(), capture_requested(folder),
    collect_changed(every_n, folder), promote_requested(candidate, note) (note "" if none).
    progress_text(line) while a run goes; trained(candidate) once trained and compared."""

    train_requested = Signal()  # the window starts ``start_training`` once allowed
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
        self.every.setKeyboardTracking(False)  # typing 25 asks once, not for 2 then 25
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
        self.note = QLineEdit()
        self.note.setPlaceholderText("note for the versions table (optional)")
        self.stage = QLabel("")
        self.bar = QProgressBar()
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setFormat("%p %")
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.identical = QLabel("")
        self.identical.setWordWrap(True)
        self.identical.setStyleSheet("color: #8a5a00; font-weight: bold")
        self.identical.hide()
        self.comparison = ComparisonTable()
        self.comparison.hide()
        self.self_validation = SelfValidationView()  # how the candidate's settings were chosen
        self.hint = QLabel("")
        self.identical_id = ""  # the candidate's id when it equals the current model's
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
        grid.addWidget(self.note, 5, 1, 1, 3)
        lay = QVBoxLayout(self)
        lay.addLayout(grid)
        lay.addWidget(self.stage)
        lay.addWidget(self.bar)
        lay.addWidget(self.result)
        lay.addWidget(self.identical)
        lay.addWidget(self.comparison)
        lay.addWidget(self.self_validation)
        lay.addWidget(self.hint)
        lay.addWidget(self.log, 1)
        browse.clicked.connect(lambda: self._pick(self.data))
        test_browse.clicked.connect(lambda: self._pick(self.test))
        capture.clicked.connect(lambda: self.capture_requested.emit(self.data.text()))
        self.collect.toggled.connect(self._collect)
        self.every.valueChanged.connect(self._collect)
        self.data.editingFinished.connect(self.refresh_count)
        self.train_button.clicked.connect(self.train_requested)
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
        self.identical.hide()
        self.comparison.hide()
        self.self_validation.hide()
        self.hint.setText("")
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
        self.result.setText(
            f"<b>New model {meta.model_id}</b> ({meta.family}): fitted on "
            f"{meta.training.get('fit_images')} good images"
            + (f", calibrated on {cal.images} held-out good images." if cal else ".")
        )
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
        d, current, collected = self.compare_dir, None, None
        if d is not None and (d / "evaluation.json").is_file():
            current = _json(d / "evaluation.json")
        elif d is not None and (d / "results.json").is_file():
            collected = (_json(d / "results.json") or {}).get("summary")
        if self.candidate is not None:
            self.show_comparison(self.candidate, current, collected)
        self._idle()
        if self.candidate is None:
            return
        self.trained.emit(str(self.candidate))
        if self._auto_promote:
            note, self._auto_promote = self._auto_promote, ""
            self._promote(note)

    def show_comparison(
        self,
        candidate: Path,
        current_evaluation: dict | None = None,
        collected: dict | None = None,
    ) -> None:
        """Show ``candidate`` beside the current model and offer to promote it, unless it is
        the current model itself.

        Args:
            candidate: the trained bundle (its ``evaluation.json``, written when trained with
                a test folder, gives its test-set figures).
            current_evaluation: ``inspector evaluate`` JSON of the current model on the same
                test folder.
            collected: ``inspector inspect``'s summary of the current model on the good
                images the candidate was trained on.
        """
        self.candidate = candidate
        new_meta = read_meta(candidate)
        evaluation = candidate / "evaluation.json"
        new = facts(new_meta, _json(evaluation) if evaluation.is_file() else new_meta.evaluation)
        old_meta = _meta_or_none(self.current_model)
        old = facts(old_meta, current_evaluation, collected) if old_meta else None
        self.comparison.show_models(old, new)
        self.self_validation.show_training(new_meta.training)
        self.comparison.show()
        self.hint.setText("" if new.get("image_auroc") is not None else NO_TEST_HINT)
        same = old_meta is not None and old_meta.model_id == new_meta.model_id
        self.identical_id = new_meta.model_id if same else ""
        self.identical.setText(IDENTICAL.format(model_id=new_meta.model_id) if same else "")
        self.identical.setVisible(same)
        self.promote_button.setEnabled(not same)
        self.promote_button.setToolTip("identical to the current model" if same else "")
        self.stage.setText("identical to the current model" if same else "ready to promote")

    def _promote(self, note: str = "") -> None:
        if self.candidate is not None and not self.identical_id:
            # Promoted once: offering it again would store the same model as a new version.
            # Disabled before asking: a refusal, answered within the emit, offers it again.
            self.promote_button.setEnabled(False)
            self.stage.setText("promoted")
            self.promote_requested.emit(str(self.candidate), note or self.note.text().strip())
            if not self.promote_button.isEnabled():
                self.note.clear()

    def promotion_refused(self) -> None:
        """The window did not promote the candidate (role or confirmation): offer it again."""
        if self.candidate is not None and not self.identical_id:
            self.promote_button.setEnabled(True)
            self.stage.setText("not promoted")

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()


def _json(path: Path) -> dict | None:
    """A JSON object from a file a run wrote; None if it is missing or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _meta_or_none(path: str) -> BundleMeta | None:
    try:
        return read_meta(path) if path else None
    except BundleError:
        return None
