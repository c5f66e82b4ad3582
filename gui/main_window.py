"""The station's main window: composes the widgets and wires them to the worker threads."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget

from gui.capture_control import CaptureControl
from gui.frame_slot import LatestSlot
from gui.inference_worker import InferenceWorker
from gui.settings import SAMPLE_PRODUCT, StationSettings, Workspace
from gui.training_set import ADDED, add_marked_part, add_saved_image, not_added
from gui.view_item import ViewItem, rejudge, render, thumbnail
from gui.widgets.folder_panel import FolderPanel
from gui.widgets.live_panel import LivePanel
from gui.widgets.log_panel import LogPanel
from gui.widgets.model_panel import ModelPanel, calibrated_threshold
from gui.widgets.retrain_panel import RetrainPanel
from gui.widgets.review_dialog import ReviewDialog
from gui.widgets.verdict_banner import NO_PARTS
from gui.workers import CaptureWorker, error_queue, save_frame
from inspector.bundle import ScoreStats, Thresholds, update_thresholds
from inspector.capture import Frame
from inspector.capture.devices import hide_password
from inspector.model_store import ModelStore
from inspector.records import InspectionLog

SETTINGS_SAVE_DELAY_MS = 500

STATE_TEXT = {
    "connecting": "connecting …",
    "live": "live",
    "retrying": "reconnecting",
    "ended": "source ended",
    "stopped": "stopped",
}


class MainWindow(QMainWindow):
    """Live inspection, log, folder inspection, retraining and model versions in tabs."""

    def __init__(
        self,
        workspace: Workspace,
        settings: StationSettings | None = None,
        video_fps: float | None = None,
    ) -> None:
        """
        Args:
            workspace: where the station keeps its settings, log, models and images.
            settings: resolved settings (default: the workspace's saved ones).
            video_fps: a rate given on the command line for this session; without it a
                video file plays at its own rate (``settings.fps`` is for image folders).
        """
        super().__init__()
        self.workspace = workspace
        self.video_fps = video_fps
        self.settings = settings or workspace.load_settings()
        self.log = InspectionLog(workspace.log_file)
        self.store = ModelStore(workspace.models_dir)
        self.slot: LatestSlot[Frame] = LatestSlot()
        self.capture_errors = error_queue()  # unreadable frames, each logged as a part
        self.sources = CaptureControl(self.slot, self.capture_errors, self)
        self.model_info: dict | None = None
        self.thresholds: Thresholds | None = None
        self.current: ViewItem | None = None
        self.map_range = (0.0, 1.0)
        self._last_result_time = 0.0
        self.fps = 0.0
        self._auto_promote = False
        self._review: ReviewDialog | None = None
        self._source_down = False  # the banner shows a source problem
        self.setWindowTitle("Visual Inspector station")
        # Settings are written shortly after each change, not only on a clean exit: a killed
        # process or a power cut must not lose an operator's threshold, source or mode. The
        # delay folds a slider drag into one write.
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SETTINGS_SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self._save_settings)
        self._build()
        self.inference = InferenceWorker(
            self.slot,
            workspace.log_file,
            workspace.images_dir(self.settings),
            self.settings.save_policy,
            self.settings.trigger_mode,
            self.settings.threshold_overrides,
            self.capture_errors,
        )
        self.inference.result_ready.connect(self.show_result)
        self.inference.model_loaded.connect(self._model_loaded)
        self.inference.model_failed.connect(self._model_failed)
        self.inference.start()
        self.sources.state_changed.connect(self._source_state)
        self.sources.frame_error.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        self.sources.preview.connect(self._preview)
        self.sources.collected.connect(lambda _p: self.retrain.refresh_count())
        self._open_initial_model()
        self.connect_source(self.settings.source)

    # --- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        s = self.settings
        live = LivePanel(s)
        self.live = live
        # The Live tab's widgets, under the names the rest of the window (and tests) use.
        self.source_edit, self.trigger_mode = live.source_edit, live.trigger_mode
        self.trigger_button, self.save_policy = live.trigger_button, live.save_policy
        self.view, self.banner, self.counters = live.view, live.banner, live.counters
        self.stats, self.threshold, self.history = live.stats, live.threshold, live.history

        self.log_panel = LogPanel(self.log)
        self.folder_panel = FolderPanel(self.workspace.root)
        self.retrain = RetrainPanel(self.workspace.training_dir, self.workspace.candidates_dir)
        self.model_panel = ModelPanel(self.store)
        self.tabs = QTabWidget()
        for widget, name in (
            (live, "Live"),
            (self.log_panel, "Log"),
            (self.folder_panel, "Folder"),
            (self.retrain, "Retrain"),
            (self.model_panel, "Model"),
        ):
            self.tabs.addTab(widget, name)
        self.setCentralWidget(self.tabs)
        self.source_state = QLabel("no source")
        self.model_label = QLabel("no model")
        self.statusBar().addWidget(self.source_state, 1)
        self.statusBar().addPermanentWidget(self.model_label)

        live.connect_button.clicked.connect(lambda: self.connect_source(self.source_edit.text()))
        self.source_edit.returnPressed.connect(lambda: self.connect_source(self.source_edit.text()))
        self.trigger_mode.currentTextChanged.connect(self._set_trigger_mode)
        self.trigger_button.clicked.connect(self.trigger)
        QShortcut(QKeySequence(Qt.Key.Key_Space), self, self.trigger)
        self.save_policy.currentTextChanged.connect(self._set_save_policy)
        self.threshold.threshold_changed.connect(self.set_threshold)
        self.threshold.save_requested.connect(self.save_threshold)
        self.threshold.display_changed.connect(self._display_changed)
        self.history.part_selected.connect(self.review)
        self.log_panel.mark_good.connect(self.mark_record_good)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.retrain.capture_requested.connect(self.capture_good)
        self.retrain.collect_changed.connect(self._collect_changed)
        self.retrain.promote_requested.connect(self.model_panel.promote)
        self.model_panel.open_requested.connect(self.load_model)
        self.model_panel.version_activated.connect(self.load_model)
        self._set_trigger_mode(s.trigger_mode)
        self.resize(1500, 950)

    def _update_settings(self, **changes: object) -> None:
        self.settings = self.settings.override(**changes)
        self._save_timer.start()

    def _save_settings(self) -> None:
        try:
            self.workspace.save_settings(self.settings)
        except OSError as exc:  # a full or read-only disk must not stop the line
            self.statusBar().showMessage(f"could not save the settings: {exc}", 15000)

    # --- source --------------------------------------------------------------------------
    @property
    def capture(self) -> CaptureWorker | None:
        """The capture thread of the current source."""
        return self.sources.worker

    def connect_source(self, spec: str) -> None:
        """Switch to another source at once; the old capture thread winds down on its own."""
        spec = spec.strip()
        self.sources.switch(spec, self.settings.fps, self.video_fps)
        if not spec:
            self.source_state.setText("no source")
            return
        self._update_settings(source=spec)
        self.inference.set_source(hide_password(spec))

    def _source_state(self, state: str, detail: str) -> None:
        text = f"source {self.settings.source}: {STATE_TEXT.get(state, state)}"
        if detail and detail != self.settings.source:
            text += f" ({detail})"
        self.source_state.setText(text)
        self.source_state.setStyleSheet(
            "" if state in ("live", "connecting") else "color:#c62828; font-weight:bold;"
        )
        # The banner is what an operator reads from across the cell: a READY (or the last
        # PASS) while the camera is gone would say the line is fine.
        if state in ("retrying", "ended"):
            self._source_down = True
            self.banner.show_verdict(NO_PARTS, text)
        elif state == "live" and self._source_down:
            self._source_down = False
            if self.current is not None:
                self._paint(self.current.threshold)
            else:
                self.banner.show_verdict("", "source live; waiting for the first part")

    def _preview(self, image) -> None:  # noqa: ANN001 (numpy image)
        # Between triggers the operator sees the camera; in continuous mode the judged
        # result is shown instead, so the two never flicker against each other.
        if (
            self.inference.trigger_mode == "triggered"
            and time.time() - self._last_result_time > 1.5
        ):
            self.view.set_image(image)

    # --- model ---------------------------------------------------------------------------
    def _open_initial_model(self) -> None:
        """Configured model, else the current promoted version, else train the sample one."""
        if self.settings.model and Path(self.settings.model).is_dir():
            self.load_model(self.settings.model)
            return
        current = self.store.current()
        if current is not None:
            self.load_model(str(current.path))
            return
        sample_train = SAMPLE_PRODUCT / "train" / "good"
        if sample_train.is_dir():
            # First start: no configuration needed; fit the sample product (~15 s) and go.
            self.banner.show_verdict("", "first start: training the sample model …")
            self.retrain.data.setText(str(sample_train))
            self._auto_promote = True
            self.retrain.promote_button.setEnabled(False)
            self.retrain.job_done_hook = self._first_model_trained
            self.retrain.start_training()

    def _first_model_trained(self) -> None:
        if self._auto_promote and self.retrain.candidate is not None:
            self._auto_promote = False
            self.model_panel.promote(str(self.retrain.candidate), "sample model (first start)")

    def load_model(self, path: str) -> None:
        self.model_label.setText(f"loading {path} …")
        self.inference.load_model(path)

    def _model_loaded(self, info: dict) -> None:
        self.model_info = info
        self.thresholds = info["thresholds"]
        self.map_range = info["map_range"]
        self._update_settings(model=info["path"])
        th = self.thresholds
        assert th is not None
        # The worker already applied the operator's override before its first part.
        self.thresholds = replace(th, image=info["image_threshold"])
        stats: ScoreStats = info["score_stats"]
        current = self.thresholds.image
        self.threshold.configure(calibrated_threshold(info), stats.good_median, current)
        self.model_label.setText(_model_text(info))
        self.model_label.setStyleSheet("")
        self.model_panel.show_model(info)
        self.model_panel.refresh()
        self.folder_panel.set_model(info["path"])
        self.retrain.set_current_model(info["path"])
        if self.current is None:
            self.banner.show_verdict("", f"model {info['model_id']} ready")

    def _model_failed(self, path: str, reason: str) -> None:
        # The worker keeps judging with the model it had: say which, so nobody believes
        # the line stopped, or that the new model is the one at work.
        running = self.model_info
        still = f"{_model_text(running)} still running" if running else "no model running"
        self.model_label.setText(f"{still}; {Path(path).name} failed to load")
        self.model_label.setStyleSheet("color:#c62828; font-weight:bold;")
        message = f"could not load {path}: {reason}"
        if running:
            message += f" (still judging with {running['model_id']})"
        self.statusBar().showMessage(message, 30000)
        self.model_panel.message.setText(message)

    # --- results -------------------------------------------------------------------------
    def show_result(self, item: ViewItem) -> None:
        now = time.time()
        if self._last_result_time:
            dt = max(now - self._last_result_time, 1e-6)
            self.fps = 1.0 / dt if not self.fps else 0.8 * self.fps + 0.2 / dt
        self._last_result_time = now
        self.current = item
        self._source_down = False
        self.counters.add(item.verdict)
        self.history.add_part(item, thumbnail(item, self.map_range))
        # The banner shows the verdict that was counted and logged. A slider move the
        # worker had not yet applied would otherwise show PASS for a part counted as FAIL.
        self._paint(item.threshold)
        t = item.timings_ms
        self.stats.setText(
            f"{self.fps:.1f} parts/s  ·  model {t.get('model', math.nan):.0f} ms  ·  "
            f"inspect {t.get('total', math.nan):.0f} ms  ·  frame to verdict "
            f"{item.latency_ms:.0f} ms  ·  dropped frames {self.slot.dropped}"
        )

    def _paint(self, judged_at: float | None = None) -> None:
        """Draw the current part, judged at ``judged_at`` or else the slider's threshold."""
        item, th = self.current, self.thresholds
        if item is None or th is None or self.model_info is None:
            return
        if judged_at is not None:
            th = replace(th, image=judged_at)
        stats: ScoreStats = self.model_info["score_stats"]
        verdict, norm = rejudge(item, th, stats)
        s = self.settings
        self.view.set_image(render(item, th, self.map_range, s.show_heatmap, s.opacity))
        self.banner.show_result(verdict, item.score, norm, th.image)

    def set_threshold(self, value: float) -> None:
        """Re-judge the shown part at once; later parts are judged by the worker."""
        if self.thresholds is None or self.model_info is None:
            return
        self.thresholds = replace(self.thresholds, image=value)
        overrides = dict(self.settings.threshold_overrides)
        overrides[self.model_info["model_id"]] = value
        self._set_overrides(overrides)
        self.inference.set_image_threshold(self.model_info["model_id"], value)
        self._paint()

    def _set_overrides(self, overrides: dict[str, float]) -> None:
        self._update_settings(threshold_overrides=overrides)
        self.inference.set_threshold_overrides(overrides)

    def save_threshold(self, value: float) -> None:
        if self.model_info is None:
            return
        try:
            update_thresholds(self.model_info["path"], image=value)
        except Exception as exc:  # e.g. a read-only model folder
            self.statusBar().showMessage(f"could not save the threshold: {exc}", 15000)
            return
        overrides = dict(self.settings.threshold_overrides)
        overrides.pop(self.model_info["model_id"], None)
        self._set_overrides(overrides)
        self.inference.set_image_threshold(self.model_info["model_id"], value)
        info = self.model_info
        info["thresholds"] = replace(info["thresholds"], image=value)
        self.threshold.configure(calibrated_threshold(info), info["score_stats"].good_median, value)
        self.model_panel.show_model(info)
        self.statusBar().showMessage(
            f"threshold {value:.4g} saved into the model (set by the operator; calibrated "
            f"{calibrated_threshold(info):.4g})",
            8000,
        )

    def _display_changed(self, show: bool, opacity: float) -> None:
        self._update_settings(show_heatmap=show, opacity=opacity)
        self._paint()

    # --- trigger, saving, feedback -------------------------------------------------------
    def trigger(self) -> None:
        """Software trigger (button, Space, or a caller such as a PLC bridge)."""
        self.inference.trigger()

    def _set_trigger_mode(self, mode: str) -> None:
        if hasattr(self, "inference"):
            self.inference.trigger_mode = mode
        self._update_settings(trigger_mode=mode)
        self.trigger_button.setEnabled(mode == "triggered")

    def _set_save_policy(self, policy: str) -> None:
        self._update_settings(save_policy=policy)
        self.inference.set_save_policy(policy)

    def review(self, item: ViewItem) -> None:
        th = self.thresholds or Thresholds(image=item.threshold, pixel=math.inf)
        picture = render(item, th, self.map_range, True, self.settings.opacity)
        dialog = ReviewDialog(item, picture, self)
        dialog.mark_good.connect(self.mark_item_good)
        dialog.show()
        self._review = dialog  # keep a reference while it is open

    def mark_item_good(self, item: ViewItem) -> None:
        if item.record_id is not None:
            self.log.set_label(item.record_id, "good")
        item.label = "good"
        added = add_marked_part(item, Path(self.retrain.data.text()))
        self._tell_marked(added is not None)

    def mark_record_good(self, record_id: int) -> None:
        rec = self.log.get(record_id)
        if rec is None:
            return
        self.log.set_label(record_id, "good")
        added = add_saved_image(rec.image_path, Path(self.retrain.data.text()))
        self._tell_marked(added is not None)

    def _tell_marked(self, added: bool) -> None:
        if added:
            self.retrain.refresh_count()
            self.statusBar().showMessage(ADDED, 8000)
            return
        message = not_added(self.settings.save_policy)
        self.statusBar().showMessage(message, 20000)
        if self._review is not None:
            self._review.note(message)

    def capture_good(self, folder: str) -> None:
        frame = self.sources.last_frame()
        if frame is None:
            self.statusBar().showMessage("no frame to capture yet", 5000)
            return
        path = save_frame(frame, Path(folder))
        self.retrain.refresh_count()
        self.statusBar().showMessage(f"saved {path}", 5000)

    def _collect_changed(self, every: int, folder: str) -> None:
        self.sources.collect_every(every, Path(folder) if every else None)

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.log_panel:
            self.log_panel.refresh()

    # --- shutdown ------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802, ANN001 (Qt API)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        self._save_timer.stop()
        self._save_settings()
        self.sources.shutdown()  # every capture thread, old ones too, ends before Qt does
        self.inference.stop()
        self.retrain.stop()
        self.folder_panel.stop()
        self.log.close()


def _model_text(info: dict) -> str:
    return f"model {info['model_id']} ({info['family']}, {info.get('backend', '?')})"
