"""Shift counters and production alarms fed from the station state, for the window.

Every judged part (``PartJudged``) is counted in ``ShiftCounters`` and fed to
``YieldAlarms`` on the thread that judged it, so the SQLite writes never wait on the UI; the
window hears of it through queued signals. A one-second timer on the UI thread lets the
no-parts alarm fire when no part comes at all.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from station.audit import AuditTrail
from station.events import PartJudged, StateEvent
from station.shift_counters import ShiftCounters, ShiftCountersError
from station.shifts import ShiftConfig
from station.state import StationState
from station.yield_alarms import AlarmStatus, YieldAlarms
from station.yield_limits import AlarmLimits

if TYPE_CHECKING:
    from gui.settings import StationSettings, Workspace

log = logging.getLogger(__name__)
CHECK_MS = 1000


class Production(QObject):
    """Signals: counted() after each counted part; alarms_changed(list of AlarmStatus not
    normal) whenever an alarm changes state; failed(str) when a part could not be counted."""

    counted = Signal()
    alarms_changed = Signal(object)
    failed = Signal(str)

    def __init__(
        self,
        state: StationState,
        counters: ShiftCounters,
        alarms: YieldAlarms,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state, self.counters, self.alarms = state, counters, alarms
        self._unsubscribe = state.subscribe(self._on_event)
        state.set_production_alarms(lambda: int(alarms.plc_code()))
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_MS)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    @classmethod
    def open(
        cls,
        state: StationState,
        workspace: Workspace,
        settings: StationSettings,
        audit: AuditTrail,
        parent: QObject | None = None,
    ) -> tuple[Production, list[str]]:
        """The counters and alarms of ``workspace`` as ``settings`` configure them, and what
        was wrong in the settings (each named; the defaults are used for it)."""
        problems = []
        where = f"{workspace.settings_file}:"
        try:
            config = ShiftConfig(tuple(settings.shift_starts), settings.trend_minutes)
        except (TypeError, ValueError) as exc:
            problems.append(f"{where} shift_starts/trend_minutes: {exc}; using the defaults")
            config = ShiftConfig()
        try:
            limits = AlarmLimits.from_mapping(dict(settings.alarm_limits), f"{where} alarm_limits")
        except (TypeError, ValueError) as exc:
            problems.append(f"{exc}; using the defaults")
            limits = AlarmLimits()
        for problem in problems:
            log.error(problem)
        counters = ShiftCounters(workspace.log_file, audit, config)
        return cls(state, counters, YieldAlarms(limits, audit), parent), problems

    def _on_event(self, event: StateEvent) -> None:
        if not isinstance(event, PartJudged):
            return
        r = event.result
        try:
            self.counters.record(r.verdict, r.model_id, r.source, when=r.timestamp or None)
        except (ShiftCountersError, ValueError) as exc:  # the log row exists; say it loudly
            log.error("part %s not counted in the shift counters: %s", r.part_id, exc)
            self.failed.emit(f"part {r.part_id} not counted in the shift counters: {exc}")
        self.counted.emit()
        if self.alarms.on_part(r.verdict):
            self.alarms_changed.emit(self.alarms.active())

    def check(self) -> None:
        """The time-based alarm (no parts)."""
        if self.alarms.check():
            self.alarms_changed.emit(self.alarms.active())

    def acknowledge(self, role: object) -> list[AlarmStatus]:
        """Acknowledge every waiting alarm as ``role`` (audited by ``YieldAlarms``)."""
        changed = self.alarms.acknowledge_all(role)  # type: ignore[arg-type]
        self.alarms_changed.emit(self.alarms.active())
        return changed

    def close(self) -> None:
        self.blockSignals(True)
        self.timer.stop()
        self._unsubscribe()
        self.state.set_production_alarms(None)
        self.counters.close()
