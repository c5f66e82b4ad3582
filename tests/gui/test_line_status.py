"""The line status widget: link, recipe and health follow the state and the alarms; the
recipe chooser asks for a recipe by index and never selects one itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gui.state_bridge import StateBridge
from gui.widgets.line_status import LineStatus
from station.alarms import AlarmCode, AlarmEvent
from station.events import LinkStatus
from station.recipes import Recipe, RecipeBook, save_recipe
from station.state import StationState


def test_status_follows_state_and_alarms_and_chooser_requests(qtbot: Any, tmp_path: Path) -> None:
    save_recipe(Recipe(1, "plate", "models/plate"), tmp_path / "recipes")
    save_recipe(Recipe(4, "bracket", "models/bracket"), tmp_path / "recipes")
    state = StationState()
    bridge = StateBridge(state)
    status = LineStatus(bridge, RecipeBook.load(tmp_path))
    qtbot.addWidget(status)

    state.set_link_status(LinkStatus("opcua:4840", True, "serving"))
    state.select_recipe("bracket", by="plc")
    qtbot.waitUntil(lambda: status.recipe_label.text() == "recipe: bracket (plc)")
    assert status.link_label.text() == "line: opcua:4840 connected"
    assert status.health == ("ok", "")

    status.show_alarm(AlarmEvent(AlarmCode.NO_ACK, True, "part 'SN-1': no ResultAck"))
    status.show_alarm(AlarmEvent(AlarmCode.CAMERA, True, "camera gone"))
    assert status.health == ("warning", "CAMERA: camera gone")  # the most urgent first
    assert status.health_label.text() == "health: warning"
    status.show_alarm(AlarmEvent(AlarmCode.CAMERA, False, "back"))
    assert status.health == ("warning", "NO_ACK: part 'SN-1': no ResultAck")
    status.show_alarm(AlarmEvent(AlarmCode.NO_ACK, False, "cleared"))
    assert status.health == ("ok", "")

    assert [status.chooser.itemText(i) for i in range(status.chooser.count())] == [
        "recipe…",
        "1: plate",
        "4: bracket",
    ]
    with qtbot.waitSignal(status.recipe_requested) as asked:
        status.chooser.activated.emit(2)
    assert asked.args == [4]
    assert status.chooser.currentIndex() == 0  # a request, not a selection
    assert state.recipe == "bracket"
    bridge.close()
