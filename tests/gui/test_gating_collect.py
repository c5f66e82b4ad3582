"""Collecting camera frames into the training set ends with the camera it was allowed for."""

from __future__ import annotations

import shutil
from pathlib import Path

from station.audit import AuditTrail


def test_a_source_switch_stops_collection_and_audits_it(qtbot, window, parts, tmp_path) -> None:
    win = window  # the conftest's engineer, every change confirmed
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=60_000)
    panel = win.retrain
    panel.every.setValue(1)
    panel.collect.setChecked(True)
    assert win.gates.collecting == (1, str(panel.data_folder()))
    qtbot.waitUntil(lambda: panel.refresh_count() >= 3, timeout=10_000)
    other = Path(shutil.copytree(parts, tmp_path / "other_camera"))
    win.connect_source(str(other))
    assert not panel.collect.isChecked() and win.gates.collecting == (0, "")
    assert "collecting good frames stopped" in win.statusBar().currentMessage()
    with AuditTrail(win.workspace.log_file) as audit:
        stop, start = audit.query(action="label_part")[:2]  # newest first
    assert (start.role, start.old, start.new) == ("engineer", "off", stop.old)
    assert (stop.role, stop.new, stop.reason) == ("system", "off", "the source changed")
    qtbot.waitUntil(lambda: win.state.source_status.status == "live", timeout=10_000)
    collected = panel.refresh_count()
    qtbot.wait(400)  # 20 frames/s from the new camera: none of them is collected
    assert panel.refresh_count() == collected
