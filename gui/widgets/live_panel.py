"""The Live tab: source and mode bar, the judged part, banner, counters, slider, history.

It observes the station state through the bridge and shows each judged part with its own
verdict; what the operator asks for goes out as signals for the window to pass on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.state_bridge import StateBridge
from gui.view_item import ViewItem, rejudge, render, thumbnail
from gui.widgets.counters import Counters
from gui.widgets.drift_plot import HealthPanel
from gui.widgets.history_strip import HistoryStrip
from gui.widgets.part_view import PartView
from gui.widgets.shift_panel import ShiftPanel
from gui.widgets.threshold_panel import ThresholdPanel
from gui.widgets.verdict_banner import NO_PARTS, VerdictBanner
from inspector.recorder import SAVE_POLICIES
from station.drift import ChartLine
from station.events import LoadedModel, ModelChanged, ModelFailed, ThresholdChanged
from station.state import MODES, StationState

SIDE_WIDTH = 420
SOURCE_DOWN = {"retrying": "reconnecting …", "ended": "source ended"}


class LivePanel(QWidget):
    """Signals: source_requested(spec), mode_requested(mode), trigger_requested(),
    save_policy_requested(policy), threshold_requested(value), threshold_save_requested(value),
    display_changed(show heatmap, opacity), part_selected(ViewItem), counters_reset_requested().
    Requests that change what decides or keeps a verdict are checked by the window's guard;
    the counters show the current shift (``show_shift`` in the window).
    """

    source_requested = Signal(str)
    mode_requested = Signal(str)
    trigger_requested = Signal()
    save_policy_requested = Signal(str)
    threshold_requested = Signal(float)
    threshold_save_requested = Signal(float)
    display_changed = Signal(bool, float)
    part_selected = Signal(object)
    counters_reset_requested = Signal()

    def __init__(
        self,
        bridge: StateBridge,
        show_heatmap: bool = True,
        opacity: float = 0.5,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        state: StationState = bridge.state
        self._state = state
        self.show_heatmap, self.opacity = show_heatmap, opacity
        self.current: ViewItem | None = None  # the judged part on screen
        self._preparing = ""  # first start: the sample model is being trained
        self._no_model = ""  # why no model is loaded, after a failed load
        self._last_part_time = 0.0
        self.fps = 0.0
        self.dropped = 0  # frames the inference thread could not take in time

        self.source_edit = QLineEdit(state.source)
        self.source_edit.setToolTip("camera index, video file, rtsp/http URL, or image folder")
        connect_button = QPushButton("Connect")
        self.trigger_mode = QComboBox()
        self.trigger_mode.addItems(MODES)
        self.trigger_button = QPushButton("Inspect now  [Space]")
        self.save_policy = QComboBox()
        self.save_policy.addItems(SAVE_POLICIES)
        self._bar = QWidget()
        top = QHBoxLayout(self._bar)
        top.setContentsMargins(0, 0, 0, 0)
        for w in (
            QLabel("Source"),
            self.source_edit,
            connect_button,
            QLabel("Mode"),
            self.trigger_mode,
            self.trigger_button,
            QLabel("Save images"),
            self.save_policy,
        ):
            top.addWidget(w)
        self.view = PartView()
        self.banner = VerdictBanner()
        self.counters = Counters()
        self.stats = QLabel("–")
        self.stats.setWordWrap(True)
        self.threshold = ThresholdPanel()
        self.threshold.set_display(show_heatmap, opacity)
        self.shift = ShiftPanel()
        self.storage = QLabel()
        self.storage.setWordWrap(True)
        self.storage.setStyleSheet("color: #b00000; font-weight: bold")
        self.storage.hide()
        self.health = HealthPanel()
        self.health.hide()  # shown once a line or a drift chart reports
        right = QVBoxLayout()
        for part in (self.banner, self.counters, self.stats, self.threshold, self.shift):
            right.addWidget(part)
        right.addWidget(self.storage)
        right.addWidget(self.health)
        right.addStretch(1)
        self._side = QWidget()
        self._side.setLayout(right)
        self._side.setFixedWidth(SIDE_WIDTH)
        self._middle = QHBoxLayout()
        self._middle.addWidget(self.view, 1)
        self._middle.addWidget(self._side)
        self.history = HistoryStrip()
        lay = QVBoxLayout(self)
        lay.addWidget(self._bar)
        lay.addLayout(self._middle, 1)
        lay.addWidget(self.history)

        def request_source() -> None:
            self.source_requested.emit(self.source_edit.text())

        connect_button.clicked.connect(request_source)
        self.source_edit.returnPressed.connect(request_source)
        self.trigger_mode.currentTextChanged.connect(self.mode_requested)
        self.trigger_button.clicked.connect(self.trigger_requested)
        self.save_policy.currentTextChanged.connect(self.save_policy_requested)
        self.threshold.threshold_changed.connect(self.threshold_requested)
        self.threshold.save_requested.connect(self.threshold_save_requested)
        self.threshold.display_changed.connect(self._display_changed)
        self.history.part_selected.connect(self.part_selected)
        self.counters.reset_requested.connect(self.counters_reset_requested)

        bridge.model_changed.connect(self._model_changed)
        bridge.model_failed.connect(self._model_failed)
        bridge.threshold_changed.connect(self._threshold_changed)
        bridge.mode_changed.connect(self._mode_changed)
        bridge.source_changed.connect(self._source_changed)
        bridge.source_status.connect(self._source_status)
        bridge.save_policy_changed.connect(self.save_policy.setCurrentText)
        self.save_policy.setCurrentText(state.save_policy)
        self._mode_changed(state.mode)
        self._refresh_idle()

    # --- parts -------------------------------------------------------------------------
    def show_part(self, item: ViewItem, dropped: int = 0) -> None:
        """Show a judged part (counted already) until the next one: picture and verdict
        together, judged as it was counted."""
        now = time.time()
        if self._last_part_time:
            dt = max(now - self._last_part_time, 1e-6)
            self.fps = 1.0 / dt if not self.fps else 0.8 * self.fps + 0.2 / dt
        self._last_part_time = now
        self.current, self.dropped = item, dropped
        model = self._state.model
        map_range = model.map_range if model else (0.0, 1.0)
        self.history.add_part(item, thumbnail(item, map_range))
        # The banner shows the verdict that was counted and logged. A slider move the
        # worker had not yet applied would otherwise show PASS for a part counted as FAIL.
        self._paint(item.threshold)
        self.stats.setText(stats_text(item, self.fps, dropped))

    def show_storage(self, problem: str) -> None:
        """Why part images are not being saved ("" hides it: they are again)."""
        self.storage.setText(f"images not saved: {problem}" if problem else "")
        self.storage.setVisible(bool(problem))

    def show_health(self, level: str, reason: str) -> None:
        """The line's health ("ok" or "warning" and why)."""
        self.health.show()
        self.health.show_health(level, reason)

    def show_drift(self, recipe: str, lines: Mapping[str, ChartLine], note: str = "") -> None:
        """The recipe's drift charts (``DriftMonitor.chart()``), or ``note`` while learning."""
        self.health.show()
        self.health.show_chart(recipe, lines, note)

    def show_camera(
        self, fps: float, dropped: int | None, exposure_us: object, focus: float | None
    ) -> None:
        """The camera's frame rate, lost frames, exposure and focus measure."""
        self.health.show()
        self.health.show_camera(fps, dropped, exposure_us, focus)

    def show_preview(self, image: np.ndarray) -> None:
        """The camera between parts (triggered mode), apart from the judged part."""
        self.view.show_preview(image)

    def show_preparing(self, text: str) -> None:
        """First start: say the sample model is being prepared, until a model is loaded."""
        if self._state.model is None:
            self._preparing = text
            self._refresh_idle()

    def _paint(self, judged_at: float | None = None) -> None:
        """Draw the current part, judged at ``judged_at`` or else the threshold in force."""
        item, model, th = self.current, self._state.model, self._state.thresholds
        if item is None or model is None or th is None:
            return
        if judged_at is not None:
            th = replace(th, image=judged_at)
        verdict, _ = rejudge(item, th, model.score_stats)
        picture = render(item, th, model.map_range, self.show_heatmap, self.opacity)
        self.view.show_part(picture, item.part_id)
        self.banner.show_result(verdict, item.score, th.image, item.part_id)

    def _display_changed(self, show: bool, opacity: float) -> None:
        self.show_heatmap, self.opacity = show, opacity
        self.display_changed.emit(show, opacity)
        self._paint()

    def set_operator_view(self, on: bool) -> None:
        """Readable from across the cell: the part and its verdict fill the screen, with
        the score beside its limit and large counters; settings and history step aside."""
        for widget in (self._bar, self.stats, self.threshold, self.history):
            widget.setVisible(not on)
        self.banner.set_big(on)
        self.counters.set_big(on)
        self.shift.set_big(on)
        if on:
            self._side.setMinimumWidth(SIDE_WIDTH // 2)
            self._side.setMaximumWidth(16_777_215)  # Qt's "no limit"
            self._middle.setStretch(0, 3)
            self._middle.setStretch(1, 2)
        else:
            self._side.setFixedWidth(SIDE_WIDTH)
            self._middle.setStretch(0, 1)
            self._middle.setStretch(1, 0)

    # --- state -------------------------------------------------------------------------
    def _model_changed(self, event: ModelChanged) -> None:
        self._preparing = self._no_model = ""
        self._configure_threshold(event.model, event.threshold.value)
        self._refresh_idle()

    def _model_failed(self, event: ModelFailed) -> None:
        if event.running is None:
            self._preparing = ""
            self._no_model = f"could not load {Path(event.path).name}; open one in the Model tab"
        self._refresh_idle()

    def _threshold_changed(self, event: ThresholdChanged) -> None:
        model = self._state.model
        if model is None or model.model_id != event.threshold.model_id:
            return
        if event.saved:
            self._configure_threshold(model, event.threshold.value)
        else:
            self.threshold.set_threshold(event.threshold.value, emit=False)
        self._paint()  # the shown part re-judged at once; later parts by the worker

    def _configure_threshold(self, model: LoadedModel, value: float) -> None:
        self.threshold.configure(model.calibrated_threshold, model.score_stats.good_median, value)

    def _mode_changed(self, mode: str) -> None:
        self.trigger_mode.blockSignals(True)
        self.trigger_mode.setCurrentText(mode)
        self.trigger_mode.blockSignals(False)
        self.trigger_button.setEnabled(mode == "triggered")
        # Between triggers the camera is shown small and labelled LIVE; the judged part
        # keeps the big view until the next verdict.
        self.view.set_preview_visible(mode == "triggered")

    def _source_changed(self, spec: str) -> None:
        self.source_edit.setText(spec)
        self._forget_part("connecting …")

    def _source_status(self, status: str, _detail: str) -> None:
        if status in SOURCE_DOWN:
            # A verdict (or READY) while the camera is gone would say the line is fine.
            self._forget_part("no parts")
        elif self.current is None:
            self._refresh_idle()

    def _forget_part(self, placeholder: str) -> None:
        self.current = None
        self.view.clear(placeholder)
        self._refresh_idle()

    def _refresh_idle(self) -> None:
        """The banner when no judged part is shown: what the station is doing instead."""
        if self.current is not None:
            return
        state = self._state
        status = state.source_status.status
        if self._preparing and state.model is None:
            self.banner.show_verdict("PREPARING", self._preparing)
        elif state.model is None and self._no_model:
            self.banner.show_verdict("NO MODEL", self._no_model)
        elif state.model is None:
            self.banner.show_verdict("LOADING", "loading the model …")
        elif not state.source:
            self.banner.show_verdict("NO SOURCE", "choose a camera, file or folder")
        elif status in SOURCE_DOWN:
            self.banner.show_verdict(NO_PARTS, f"{SOURCE_DOWN[status]} {short(state.source)}")
        elif status in ("connecting", "stopped"):
            self.banner.show_verdict("CONNECTING", short(state.source))
        else:
            self.banner.show_verdict("READY", f"model {state.model.model_id}; waiting for a part")


def short(spec: str, width: int = 40) -> str:
    """The end of a long source name (the part that tells sources apart)."""
    return spec if len(spec) <= width else "…" + spec[-(width - 1) :]


def stats_text(item: ViewItem, fps: float, dropped: int) -> str:
    """The speed line under the banner (no model time for a part that was not inspected)."""
    rate = f"{fps:.1f} parts/s"
    if item.verdict == "ERROR":
        return f"{rate}  ·  part could not be inspected  ·  dropped frames {dropped}"
    t = item.timings_ms
    return (
        f"{rate}  ·  model {t.get('model', 0.0):.0f} ms  ·  inspect {t.get('total', 0.0):.0f} ms"
        f"  ·  frame to verdict {item.latency_ms:.0f} ms  ·  dropped frames {dropped}"
    )
