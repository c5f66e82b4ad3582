"""Production alarms at the window: raised after N FAILs, shown, acknowledged, audited."""

from __future__ import annotations

import shutil
from pathlib import Path

from inspector.bundle import read_meta
from station.audit import AuditTrail
from station.yield_alarms import AlarmState, YieldAlarmCode


def test_fails_in_a_row_raise_an_alarm_an_operator_acknowledges(
    qtbot, tmp_path: Path, model_copy: Path, parts: Path
) -> None:
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace

    defects = tmp_path / "defects"
    defects.mkdir()
    for src in sorted(parts.glob("hole*.png")):
        shutil.copy(src, defects / src.name)
    # Far below every score: each part FAILs, whatever the fitted model makes of a defect.
    overrides = {read_meta(model_copy).model_id: 1e-6}
    limits = {"consecutive_fails": 3, "min_yield_pct": None, "no_parts_s": None}
    settings = StationSettings(
        model=str(model_copy),
        source=str(defects),
        fps=20.0,
        trigger_mode="triggered",
        alarm_limits=limits,
        threshold_overrides=overrides,
    )
    win = MainWindow(Workspace(tmp_path / "ws"), settings)
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: win.state.model is not None, timeout=60_000)
        assert win.alarm_banner.isHidden() and win.state.production_alarm() == 0
        win.guard.lock()  # an operator at the station
        qtbot.waitUntil(lambda: win.state.source_status.status == "live", timeout=30_000)
        for n in range(1, 4):
            win.trigger()
            qtbot.waitUntil(lambda n=n: win.live.counters.total >= n, timeout=30_000)
        assert win.live.counters.counts["FAIL"] == 3
        qtbot.waitUntil(win.alarm_banner.isVisible, timeout=5000)
        assert win.alarm_banner.title.text() == "ALARM 101"
        assert "3 FAILs in a row" in win.alarm_banner.detail.text()
        assert win.state.production_alarm() == YieldAlarmCode.CONSECUTIVE_FAILS
        assert win.role_bar.label.text().strip() == "OPERATOR"
        win.alarm_banner.ack.click()  # any role: no PIN asked
        status = win.production.alarms.status(YieldAlarmCode.CONSECUTIVE_FAILS)
        assert status.state is AlarmState.ACKNOWLEDGED and status.acknowledged_by == "operator"
        assert not win.alarm_banner.ack.isEnabled()  # nothing left to acknowledge
        assert win.state.production_alarm() == 101  # still present until a PASS
        with AuditTrail(win.workspace.log_file) as audit:
            (raised,) = audit.query(action="alarm_raised")
            (ack,) = audit.query(action="acknowledge_alarm")
        assert raised.role == "system" and raised.subject == "alarm 101 consecutive_fails"
        assert (ack.role, ack.old, ack.new) == ("operator", "active", "acknowledged")
        win.tabs.setCurrentWidget(win.log_panel)
        whats = [win.audit_view.texts(i)[2] for i in range(win.audit_view.table.rowCount())]
        assert "acknowledge alarm" in whats and "alarm raised" in whats
    finally:
        win.shutdown()


def test_bad_alarm_limits_in_the_settings_are_named(qtbot, tmp_path: Path, model_copy) -> None:
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace

    settings = StationSettings(
        model=str(model_copy), source="", alarm_limits={"consecutive_fail": 3}
    )
    win = MainWindow(Workspace(tmp_path / "ws"), settings)
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: "alarm_limits" in win.statusBar().currentMessage(), timeout=3000)
        message = win.statusBar().currentMessage()
        assert "settings.json" in message and "consecutive_fail" in message
        assert win.production.alarms.limits.consecutive_fails == 5  # the defaults run
    finally:
        win.shutdown()


def test_an_engineer_changes_the_alarm_limits_audited_and_remembered(qtbot, window) -> None:
    win = window
    told: list[str] = []
    win.guard.prompts.tell = lambda _p, text: told.append(text)
    win.guard.prompts.ask_text = lambda _p, _t, _current: "consecutive_fails=2, no_parts_s=none"
    win.limits_action.trigger()
    limits = win.production.alarms.limits
    assert (limits.consecutive_fails, limits.no_parts_s) == (2, None)
    with AuditTrail(win.workspace.log_file) as audit:
        (row,) = audit.query(action="set_alarm_limits")
    assert row.role == "engineer" and "consecutive_fails=2" in row.new
    assert win.settings.alarm_limits["consecutive_fails"] == 2
    win.guard.prompts.ask_text = lambda _p, _t, _current: "consecutive_fails=two"
    win.limits_action.trigger()
    assert told == ["alarm limits: consecutive_fails='two' is not a number"]
    assert win.production.alarms.limits == limits
