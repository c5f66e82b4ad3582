"""State changes made on any thread reach widgets on the UI thread, as typed signals."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from gui.state_bridge import StateBridge
from station.events import PartJudged, PartResult
from station.shifts import Tally
from station.state import StationState


def test_changes_from_a_line_thread_arrive_on_the_ui_thread(qtbot) -> None:
    state = StationState()
    bridge = StateBridge(state)
    ui = QApplication.instance().thread()
    seen: list[tuple[str, object, bool]] = []

    def on(name: str):  # noqa: ANN202
        return lambda *args: seen.append((name, args, QThread.currentThread() == ui))

    bridge.mode_changed.connect(on("mode"))
    bridge.trigger_requested.connect(on("trigger"))
    bridge.part_judged.connect(on("part"))
    bridge.counters_changed.connect(on("counters"))
    bridge.recipe_selected.connect(on("recipe"))

    def line() -> None:
        state.set_mode("triggered")
        part = state.request_trigger("A17", by="plc")
        state.record_result(PartResult(part, "FAIL", 3.0, 2.0))
        state.select_recipe("plate-B", by="plc")

    thread = threading.Thread(target=line)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(seen) == 5, timeout=5_000)
    assert [name for name, _, _ in seen] == ["mode", "trigger", "part", "counters", "recipe"]
    assert all(on_ui for _, _, on_ui in seen)
    assert seen[1][1] == ("A17",)
    (judged,) = seen[2][1]
    assert isinstance(judged, PartJudged) and judged.result.part_id == "A17"
    assert seen[3][1] == (Tally(failed=1),) and seen[4][1] == ("plate-B", "plc")
    bridge.close()
    state.set_mode("continuous")
    qtbot.wait(100)
    assert len(seen) == 5  # a closed bridge relays nothing
