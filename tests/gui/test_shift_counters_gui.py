"""Shift counters at the window: persisted across a restart, split per source, reset gated."""

from __future__ import annotations

from pathlib import Path

from station.audit import AuditTrail
from station.shift_counters import ShiftCounters
from station.shifts import Tally, TrendPoint


def _open(qtbot, ws_root: Path, **settings):
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace

    win = MainWindow(Workspace(ws_root), StationSettings(**settings))
    qtbot.addWidget(win)
    win.show()
    return win


def test_counters_survive_a_restart_and_reset_keeps_history(
    qtbot, tmp_path: Path, model_copy: Path, parts: Path
) -> None:
    ws = tmp_path / "ws"
    win = _open(qtbot, ws, model=str(model_copy), source=str(parts), fps=20.0)
    qtbot.waitUntil(lambda: win.live.counters.total >= 4, timeout=60_000)
    win.shutdown()
    with AuditTrail(ws / "inspections.sqlite") as audit:
        kept = ShiftCounters(ws / "inspections.sqlite", audit).current().total
        assert kept.total >= 4
    # Reopened without a source: no new part, the shift's counts are back at once.
    win = _open(qtbot, ws, model=str(model_copy), source="")
    try:
        assert win.live.counters.shown == kept
        assert win.live.counters.counts["FAIL"] == kept.failed
        assert any(v is not None for v in win.live.shift.plot.values())
        win.live.counters.reset.click()  # the conftest's engineer confirms
        assert win.live.counters.total == 0
        past = win.production.counters.past()
        assert any(t == kept for _start, t in past)  # nothing deleted
        with AuditTrail(ws / "inspections.sqlite") as audit:
            (row,) = audit.query(action="reset_counters")
        assert row.role == "engineer" and row.old == str(kept)
    finally:
        win.shutdown()


def test_mixed_sources_are_shown_apart(qtbot) -> None:
    from gui.widgets.shift_panel import ShiftPanel
    from station.shifts import ShiftSnapshot

    panel = ShiftPanel()
    qtbot.addWidget(panel)
    pairs = {("m1", "/line/cam"): Tally(9, 1, 0), ("m1", "/data/test"): Tally(1, 9, 0)}
    snap = ShiftSnapshot(0.0, "start", "L42", Tally(10, 10, 0), by_model_source=pairs)
    panel.show_shift(snap, [TrendPoint(0.0, Tally(9, 1)), TrendPoint(600.0, Tally())], 90.0)
    text = panel.split.text()
    assert "cam: 9 PASS, 1 FAIL, 0 ERROR, yield 90.0 %" in text
    assert "test: 1 PASS, 9 FAIL, 0 ERROR, yield 10.0 %" in text
    assert "lot L42" in panel.heading.text()
    assert panel.plot.values() == [90.0, None]
    panel.plot.grab()  # paints without error, gaps included


def test_the_lot_is_set_by_an_engineer_and_audited(qtbot, window) -> None:
    win = window
    prompts = win.guard.prompts
    prompts.ask_text = lambda _p, _t, _current: "LOT-7"
    win.live.shift.lot_button.click()
    assert win.production.counters.lot == "LOT-7"
    assert "lot LOT-7" in win.live.shift.heading.text()
    with AuditTrail(win.workspace.log_file) as audit:
        (row,) = audit.query(action="set_lot")
    assert (row.role, row.new) == ("engineer", "LOT-7")
