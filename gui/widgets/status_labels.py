"""The status bar's source and model lines, kept up to date from the station state."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QWidget

from gui.state_bridge import StateBridge
from station.events import LoadedModel, ModelChanged, ModelFailed

STATE_TEXT = {
    "connecting": "connecting …",
    "live": "live",
    "retrying": "reconnecting",
    "ended": "source ended",
    "stopped": "stopped",
}
ALERT = "color:#c62828; font-weight:bold;"


class SourceLabel(QLabel):
    """``source SPEC: live`` (or what is wrong with it, in red)."""

    def __init__(self, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__("no source", parent)
        self._bridge = bridge
        bridge.source_changed.connect(lambda spec: self._show("connecting" if spec else "", ""))
        bridge.source_status.connect(self._show)

    def _show(self, status: str, detail: str) -> None:
        spec = self._bridge.state.source
        if not spec:
            self.setText("no source")
            self.setStyleSheet("")
            return
        text = f"source {spec}: {STATE_TEXT.get(status, status)}"
        if detail and detail != spec:
            text += f" ({detail})"
        self.setText(text)
        self.setStyleSheet("" if status in ("live", "connecting") else ALERT)


class ModelLabel(QLabel):
    """The model at work; after a failed load, which one still judges."""

    def __init__(self, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__("no model", parent)
        bridge.model_requested.connect(lambda path: self.setText(f"loading {path} …"))
        bridge.model_changed.connect(self._changed)
        bridge.model_failed.connect(self._failed)

    def _changed(self, event: ModelChanged) -> None:
        self.setText(model_text(event.model))
        self.setStyleSheet("")

    def _failed(self, event: ModelFailed) -> None:
        # The worker keeps judging with the model it had: say which, so nobody believes
        # the line stopped, or that the new model is the one at work.
        running = event.running
        still = f"{model_text(running)} still running" if running else "no model running"
        self.setText(f"{still}; {Path(event.path).name} failed to load")
        self.setStyleSheet(ALERT)


def model_text(model: LoadedModel) -> str:
    return f"model {model.model_id} ({model.family}, {model.backend})"


def failure_message(event: ModelFailed) -> str:
    """One line for the status bar and the Model tab."""
    message = f"could not load {event.path}: {event.reason}"
    if event.running is not None:
        message += f" (still judging with {event.running.model_id})"
    return message
