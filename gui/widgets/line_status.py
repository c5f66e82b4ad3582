"""The line's status at a glance: link, recipe in use, health (ok or warning with its reason),
and the recipe chooser an engineer uses (its request is a signal; the window's guard gates it,
``gui.line_link.request_recipe``)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from gui.state_bridge import StateBridge
from station.alarms import AlarmCode, AlarmEvent
from station.events import LinkStatus
from station.recipes import RecipeBook

OK_STYLE = "color: #1b7a1b; font-weight: bold"
WARN_STYLE = "color: #b00000; font-weight: bold"


class LineStatus(QWidget):
    """Link, recipe and health labels plus a recipe chooser."""

    recipe_requested = Signal(int)  # recipe index
    health_changed = Signal(str, str)  # "ok" or "warning", and the reason

    def __init__(self, bridge: StateBridge, recipes: RecipeBook) -> None:
        super().__init__()
        self._alarms: dict[AlarmCode, str] = {}
        self.link_label = QLabel("line: not linked")
        self.recipe_label = QLabel("recipe: none")
        self.health_label = QLabel()
        self.chooser = QComboBox()
        self.chooser.setToolTip("select the recipe for the next parts")
        self.chooser.addItem("recipe…", 0)
        for recipe in recipes:
            self.chooser.addItem(f"{recipe.index}: {recipe.product}", recipe.index)
        self.chooser.activated.connect(self._chosen)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.link_label, self.recipe_label, self.health_label, self.chooser):
            layout.addWidget(widget)
        bridge.link_changed.connect(self.show_link)
        bridge.recipe_selected.connect(self.show_recipe)
        self._show_health()

    @property
    def health(self) -> tuple[str, str]:
        """("ok", "") or ("warning", reason of the most urgent active alarm)."""
        if not self._alarms:
            return "ok", ""
        code = min(self._alarms)
        return "warning", f"{code.name}: {self._alarms[code]}"

    def show_link(self, status: LinkStatus) -> None:
        state = "connected" if status.connected else "not connected"
        self.link_label.setText(f"line: {status.name} {state}")
        self.link_label.setToolTip(status.detail)

    def show_recipe(self, name: str, by: str) -> None:
        self.recipe_label.setText(f"recipe: {name} ({by})")

    def show_alarm(self, event: AlarmEvent) -> None:
        if event.active:
            self._alarms[event.code] = event.message
        else:
            self._alarms.pop(event.code, None)
        self._show_health()

    def _show_health(self) -> None:
        health, reason = self.health
        self.health_label.setText(f"health: {health}")
        self.health_label.setToolTip(reason)
        self.health_label.setStyleSheet(OK_STYLE if health == "ok" else WARN_STYLE)
        self.health_changed.emit(health, reason)

    def _chosen(self, row: int) -> None:
        index = int(self.chooser.itemData(row) or 0)
        self.chooser.setCurrentIndex(0)
        if index:
            self.recipe_requested.emit(index)
