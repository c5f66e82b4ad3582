"""The audit trail as the Log tab shows it: newest first, who, what, old -> new."""

from __future__ import annotations

from station.audit import AuditTrail


def test_rows_newest_first_with_old_and_new_and_a_who_filter(qtbot, tmp_path) -> None:
    from gui.widgets.audit_view import AuditView

    with AuditTrail(tmp_path / "log.sqlite") as audit:
        audit.record("engineer", "set_threshold", subject="m1", old=13.8194, new=15.0, when=100.0)
        audit.record("system", "alarm_raised", subject="alarm 101", new="5 FAILs", when=200.0)
        audit.record("operator", "acknowledge_alarm", old="active", new="acknowledged", when=300.0)
        view = AuditView(audit)
        qtbot.addWidget(view)
        rows = view.refresh()
        assert [r.action for r in rows] == ["acknowledge_alarm", "alarm_raised", "set_threshold"]
        last = view.texts(2)
        assert last[1:5] == ["engineer", "set threshold", "m1", "13.8194 -> 15.0"]
        assert view.texts(1)[4] == "– -> 5 FAILs"
        view.who.setCurrentText("engineer")
        assert view.table.rowCount() == 1 and view.texts(0)[1] == "engineer"
        assert view.summary.text() == "1 rows"
