"""The station state's events as Qt signals, delivered on the UI thread.

``StationState`` calls its listeners on whatever thread made the change (the UI, the
inference thread, a PLC link). This bridge lives on the UI thread and re-emits each event as
a typed Qt signal; Qt queues a signal emitted on another thread, so widgets connected here
are only ever touched on the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from station import events as ev
from station.state import StationState


class StateBridge(QObject):
    """One signal per state event; the payload is the event's typed record."""

    model_requested = Signal(str)  # bundle path
    model_changed = Signal(object)  # station.events.ModelChanged
    model_failed = Signal(object)  # station.events.ModelFailed
    threshold_changed = Signal(object)  # station.events.ThresholdChanged
    mode_changed = Signal(str)
    source_changed = Signal(str)  # spec
    source_status = Signal(str, str)  # status, detail
    save_policy_changed = Signal(str)
    trigger_requested = Signal(str)  # part id
    part_judged = Signal(object)  # station.events.PartJudged
    counters_changed = Signal(object)  # station.shifts.Tally
    recipe_selected = Signal(str, str)  # name, by
    role_changed = Signal(str)
    link_changed = Signal(object)  # station.events.LinkStatus

    def __init__(self, state: StationState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._unsubscribe: Callable[[], None] | None = state.subscribe(self._relay)

    def close(self) -> None:
        """Stop relaying (the window is closing)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _relay(self, event: ev.StateEvent) -> None:  # noqa: C901 (one case per event type)
        match event:
            case ev.ModelRequested(path=path):
                self.model_requested.emit(path)
            case ev.ModelChanged():
                self.model_changed.emit(event)
            case ev.ModelFailed():
                self.model_failed.emit(event)
            case ev.ThresholdChanged():
                self.threshold_changed.emit(event)
            case ev.ModeChanged(mode=mode):
                self.mode_changed.emit(mode)
            case ev.SourceChanged(spec=spec):
                self.source_changed.emit(spec)
            case ev.SourceStatus(status=status, detail=detail):
                self.source_status.emit(status, detail)
            case ev.SavePolicyChanged(policy=policy):
                self.save_policy_changed.emit(policy)
            case ev.TriggerRequested(part_id=part_id):
                self.trigger_requested.emit(part_id)
            case ev.PartJudged(counters=counters):
                self.part_judged.emit(event)
                self.counters_changed.emit(counters)
            case ev.CountersChanged(counters=counters):
                self.counters_changed.emit(counters)
            case ev.RecipeSelected(name=name, by=by):
                self.recipe_selected.emit(name, by)
            case ev.RoleChanged(role=role):
                self.role_changed.emit(role)
            case ev.LinkChanged(status=status):
                self.link_changed.emit(status)
