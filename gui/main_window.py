"""The station's main window: composes the panels and wires them to the station state and
the worker threads. What the station holds lives in ``station.state.StationState``; panels
observe it through ``gui.state_bridge`` and expose signals and small methods."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QMainWindow,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.capture_control import CaptureControl
from gui.frame_slot import LatestSlot
from gui.gates import Gates
from gui.guard import ActivityWatcher, Guard
from gui.inference_worker import InferenceWorker
from gui.production import Production
from gui.settings import SAMPLE_PRODUCT, StationSettings, Workspace, image_retention
from gui.state_bridge import StateBridge
from gui.training_set import ADDED, add_marked_part, add_saved_image, not_added
from gui.view_item import ViewItem, render
from gui.widgets.alarm_banner import AlarmBanner
from gui.widgets.audit_view import AuditView
from gui.widgets.folder_panel import FolderPanel
from gui.widgets.live_panel import LivePanel
from gui.widgets.log_panel import LogPanel
from gui.widgets.model_panel import ModelPanel
from gui.widgets.retrain_panel import RetrainPanel
from gui.widgets.review_dialog import ReviewDialog
from gui.widgets.role_bar import RoleBar
from gui.widgets.status_labels import ModelLabel, SourceLabel, failure_message
from gui.workers import CaptureWorker, error_queue, save_frame
from inspector.capture import Frame
from inspector.model_store import ModelStore
from inspector.records import InspectionLog
from inspector.verdict import Thresholds
from station.audit import AuditTrail
from station.events import ModelChanged, ModelFailed, SetBy, ThresholdChanged
from station.pins import PinStore
from station.roles import AccessControl, LockPolicy
from station.state import StationState
from station.yield_limits import AlarmLimits

SETTINGS_SAVE_DELAY_MS = 500
SAMPLE_NOTE = "sample model (first start)"


class MainWindow(QMainWindow):
    """Live inspection, log, folder inspection, retraining and model versions in tabs."""

    def __init__(
        self,
        workspace: Workspace,
        settings: StationSettings | None = None,
        video_fps: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """
        Args:
            workspace: where the station keeps its settings, log, models and images.
            settings: resolved settings (default: the workspace's saved ones).
            video_fps: a rate given on the command line for this run; without it a video
                file plays at its own rate (``settings.fps`` is for image folders).
            clock: epoch seconds now, for the idle lock (tests inject one).
        """
        super().__init__()
        self.workspace = workspace
        self.video_fps = video_fps
        self.settings = s = settings or workspace.load_settings()
        self.state = StationState(
            mode=s.trigger_mode, save_policy=s.save_policy, overrides=s.threshold_overrides
        )
        self.bridge = StateBridge(self.state, self)
        self.log = InspectionLog(workspace.log_file)
        self.store = ModelStore(workspace.models_dir)
        self.audit = AuditTrail(workspace.log_file)
        policy = LockPolicy(idle_minutes=s.idle_lock_minutes)
        pins = PinStore.in_workspace(workspace.root)
        self.access = AccessControl(pins, policy, audit=self.audit, clock=clock)
        self.guard = Guard(self.access, self.audit, str(workspace.root), self)
        self.production, problems = Production.open(self.state, workspace, s, self.audit, self)
        for problem in problems:  # a wrong setting must not stop the line: say it, go on
            QTimer.singleShot(0, lambda p=problem: self.statusBar().showMessage(p, 60000))
        self.activity = ActivityWatcher(self.guard)
        self.sample_pending = False  # first start: the sample model is being trained
        self.sample_note = SAMPLE_NOTE
        self.slot: LatestSlot[Frame] = LatestSlot()
        self.capture_errors = error_queue()  # unreadable frames, each logged as a part
        self.sources = CaptureControl(self.slot, self.capture_errors, self)
        self._review: ReviewDialog | None = None
        self._closed = False
        self.setWindowTitle("Visual Inspector station")
        # Settings are written shortly after each change, not only on a clean exit: a killed
        # process or a power cut must not lose an operator's threshold, source or mode. The
        # delay folds a slider drag into one write.
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SETTINGS_SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self._save_settings)
        self._build()
        images = workspace.images_dir(s)
        self.inference = InferenceWorker(
            self.state, self.slot, workspace.log_file, images, self.capture_errors
        )
        self.inference.set_retention(image_retention(s, images))  # a line's recipe replaces it
        self.inference.result_ready.connect(self.show_result)
        self.inference.start()
        self._wire()
        self.gates = Gates(self)  # every request that changes something, and its answers
        self.gates.show_shift()
        self.alarm_banner.show_alarms(self.production.alarms.active())
        self._open_initial_model()
        self.state.set_source(s.source)
        if s.operator_view:
            self.set_operator_view(True)
        gc.freeze()  # what lives from start never dies: full collections skip it (UI pauses)

    # --- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        s = self.settings
        self.live = LivePanel(self.bridge, s.show_heatmap, s.opacity)
        self.log_panel = LogPanel(self.log)
        self.folder_panel = FolderPanel(self.workspace.root)
        self.retrain = RetrainPanel(self.workspace.training_dir, self.workspace.candidates_dir)
        self.model_panel = ModelPanel(self.store)
        self.tabs = QTabWidget()
        for widget, name in (
            (self.live, "Live"),
            (self.log_panel, "Log"),
            (self.folder_panel, "Folder"),
            (self.retrain, "Retrain"),
            (self.model_panel, "Model"),
        ):
            self.tabs.addTab(widget, name)
        self.role_bar = RoleBar(str(self.guard.role))
        self.alarm_banner = AlarmBanner()
        self.audit_view = AuditView(self.audit)
        self.log_panel.add_beside(self.audit_view)
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.alarm_banner, 1)
        header.addWidget(self.role_bar, 0, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(4, 4, 4, 0)
        column.addLayout(header)
        column.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.source_state = SourceLabel(self.bridge)
        self.model_label = ModelLabel(self.bridge)
        self.statusBar().addWidget(self.source_state, 1)
        self.statusBar().addPermanentWidget(self.model_label)
        self.operator_action = QAction("&Operator view (full screen)", self)
        self.operator_action.setCheckable(True)
        self.operator_action.setShortcut(QKeySequence(Qt.Key.Key_F11))
        self.operator_action.toggled.connect(self.set_operator_view)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)  # Ctrl+Q
        quit_action.triggered.connect(self.close)
        self.limits_action = QAction("Alarm &limits… (engineer)", self)
        menu = self.menuBar().addMenu("&Station")
        for action in (self.operator_action, self.limits_action, quit_action):
            menu.addAction(action)
            self.addAction(action)  # its shortcut works while the menu bar is hidden too
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, lambda: self.set_operator_view(False))
        self.resize(1500, 950)

    def _wire(self) -> None:
        state, bridge, live = self.state, self.bridge, self.live
        # What the operator asks for goes to the state, as a PLC's requests do.
        live.source_requested.connect(state.set_source)
        live.mode_requested.connect(state.set_mode)
        live.trigger_requested.connect(self.trigger)
        QShortcut(QKeySequence(Qt.Key.Key_Space), self, self.trigger)
        live.display_changed.connect(self._display_changed)
        live.part_selected.connect(self.review)
        # Changes of thresholds, models, policy, counters and training data: ``gui.gates``.
        self.model_panel.version_activated.connect(state.request_model)
        self.retrain.progress_text.connect(live.show_preparing)
        self.tabs.currentChanged.connect(self._tab_changed)
        # What the state says goes to the threads, the panels and the settings file.
        bridge.source_changed.connect(self._source_changed)
        bridge.model_changed.connect(self._model_changed)
        bridge.model_failed.connect(self._model_failed)
        bridge.threshold_changed.connect(self._threshold_changed)
        bridge.mode_changed.connect(lambda mode: self._update_settings(trigger_mode=mode))
        bridge.save_policy_changed.connect(lambda p: self._update_settings(save_policy=p))
        self.sources.state_changed.connect(state.set_source_status)
        self.sources.frame_error.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        self.sources.preview.connect(live.show_preview)
        self.sources.collected.connect(lambda _p: self.retrain.refresh_count())
        self.inference.storage_changed.connect(live.show_storage)  # disk full: said, not fatal

    # --- roles, shift counters, alarms ---------------------------------------------------
    def remember_alarm_limits(self, limits: AlarmLimits) -> None:
        self._update_settings(alarm_limits=dict(vars(limits)))

    @property
    def closed(self) -> bool:
        return self._closed

    def _update_settings(self, **changes: object) -> None:
        self.settings = self.settings.override(**changes)
        self._save_timer.start()

    def _save_settings(self) -> None:
        try:
            self.workspace.save_settings(self.settings)
        except OSError as exc:  # a full or read-only disk must not stop the line
            self.statusBar().showMessage(f"could not save the settings: {exc}", 15000)

    def set_operator_view(self, on: bool) -> None:
        """Full screen with the Live tab readable from across the cell (F11; Esc leaves)."""
        if on:
            self.tabs.setCurrentWidget(self.live)
        self.tabs.tabBar().setVisible(not on)
        self.menuBar().setVisible(not on)
        self.statusBar().setVisible(not on)
        self.live.set_operator_view(on)
        self.operator_action.blockSignals(True)
        self.operator_action.setChecked(on)
        self.operator_action.blockSignals(False)
        if on:
            self.showFullScreen()
        elif self.isFullScreen():
            self.showNormal()
        self._update_settings(operator_view=on)

    # --- source --------------------------------------------------------------------------
    @property
    def capture(self) -> CaptureWorker | None:
        """The capture thread of the current source."""
        return self.sources.worker

    def connect_source(self, spec: str) -> None:
        """Switch to another source at once (as the Connect button does)."""
        self.state.set_source(spec)

    def _source_changed(self, spec: str) -> None:
        # The old capture thread winds down on its own; the switch never waits for it.
        self.sources.switch(spec, self.settings.fps, self.video_fps)
        if spec:
            self._update_settings(source=spec)

    # --- model ---------------------------------------------------------------------------
    def _open_initial_model(self) -> None:
        """Configured model, else the current promoted version, else train the sample one."""
        if self.settings.model and Path(self.settings.model).is_dir():
            self.state.request_model(self.settings.model)
            return
        current = self.store.current()
        if current is not None:
            self.state.request_model(str(current.path))
            return
        sample_train = SAMPLE_PRODUCT / "train" / "good"
        if sample_train.is_dir():
            # First start: no configuration needed; fit the sample product (~15 s) and go.
            self.live.show_preparing("preparing the sample model …")
            self.sample_pending = True
            self.retrain.train_sample(sample_train, SAMPLE_NOTE)

    def load_model(self, path: str) -> None:
        self.state.request_model(path)

    def _model_changed(self, event: ModelChanged) -> None:
        path = event.model.path
        self._update_settings(model=path)
        self.model_panel.show_model(event.model)
        self.folder_panel.set_model(path)
        self.retrain.set_current_model(path)

    def _model_failed(self, event: ModelFailed) -> None:
        message = failure_message(event)
        self.statusBar().showMessage(message, 30000)
        self.model_panel.show_message(message)

    # --- results and thresholds ----------------------------------------------------------
    def show_result(self, item: ViewItem) -> None:
        """A judged part (already counted in the state) goes on screen with its verdict."""
        self.live.show_part(item, self.slot.dropped)

    def set_threshold(self, value: float, by: SetBy = SetBy.OPERATOR) -> None:
        """The station's threshold: the shown part is re-judged at once, the next parts
        are judged by it. Not gated: the slider's requests pass ``gui.gates`` first."""
        try:
            self.state.set_threshold(value, by=by)
        except (LookupError, ValueError) as exc:
            self.statusBar().showMessage(f"threshold not set: {exc}", 15000)

    def save_threshold(self, value: float) -> None:
        try:
            self.state.save_threshold(value, by=SetBy.ENGINEER)
        except Exception as exc:  # e.g. a read-only model folder
            self.statusBar().showMessage(f"could not save the threshold: {exc}", 15000)

    def _threshold_changed(self, event: ThresholdChanged) -> None:
        self._update_settings(threshold_overrides=self.state.overrides)
        model = self.state.model
        if event.saved and model is not None:
            self.model_panel.show_model(model)
            self.statusBar().showMessage(
                f"threshold {event.threshold.value:.4g} saved into the model (calibrated "
                f"{model.calibrated_threshold:.4g})",
                8000,
            )

    def _display_changed(self, show: bool, opacity: float) -> None:
        self._update_settings(show_heatmap=show, opacity=opacity)

    # --- trigger, review, feedback -------------------------------------------------------
    def trigger(self) -> str:
        """Software trigger (button, Space); returns the part id the result will carry."""
        return self.state.request_trigger(by="operator")

    def review(self, item: ViewItem) -> None:
        model = self.state.model
        th = self.state.thresholds or Thresholds(image=item.threshold, pixel=math.inf)
        map_range = model.map_range if model else (0.0, 1.0)
        picture = render(item, th, map_range, True, self.settings.opacity)
        dialog = ReviewDialog(item, picture, self)
        dialog.mark_good.connect(self.gates.mark_item_good)
        dialog.show()
        self._review = dialog  # keep a reference while it is open

    def mark_item_good(self, item: ViewItem) -> None:
        if item.record_id is not None:
            self.log.set_label(item.record_id, "good")
        item.label = "good"
        added = add_marked_part(item, self.retrain.data_folder())
        self._tell_marked(added is not None)

    def mark_record_good(self, record_id: int) -> None:
        rec = self.log.get(record_id)
        if rec is None:
            return
        self.log.set_label(record_id, "good")
        added = add_saved_image(rec.image_path, self.retrain.data_folder())
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

    def capture_good(self, folder: str, frame: Frame | None = None) -> None:
        """Save ``frame`` (default: the newest) as good into ``folder`` (gated: gui.gates)."""
        frame = frame or self.sources.last_frame()
        if frame is None:
            self.statusBar().showMessage("no frame to capture yet", 5000)
            return
        path = save_frame(frame, Path(folder))
        self.retrain.refresh_count()
        self.statusBar().showMessage(f"saved {path}", 5000)

    def collect_every(self, every: int, folder: str) -> None:
        """Save every ``every``-th frame of the current source into ``folder`` (0: stop)."""
        self.sources.collect_every(every, Path(folder) if every else None)

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.log_panel:
            self.log_panel.refresh()
            self.audit_view.refresh()

    # --- shutdown ------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802, ANN001 (Qt API)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Save the settings, join every thread and close the log (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._save_timer.stop()
        self._save_settings()
        self.sources.shutdown()  # every capture thread, old ones too, ends before Qt does
        self.inference.stop()
        self.retrain.stop()
        self.folder_panel.stop()
        self.bridge.close()
        self.activity.stop()
        self.production.close()
        self.log.close()
        self.audit.close()
