"""The audit trail: append-only rows in the inspection log file, newest first, restart-safe."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inspector.records import InspectionLog, InspectionRecord
from station.audit import SYSTEM, AuditError, AuditTrail


def test_rows_keep_who_what_old_new_when_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "inspections.sqlite"
    with AuditTrail(path) as audit:
        row = audit.record(
            "engineer",
            "set_threshold",
            subject="m1",
            old=13.8194,
            new=14.5,
            reason="glare",
            when=100.0,
        )
    assert (row.role, row.action, row.subject, row.old, row.new) == (
        "engineer",
        "set_threshold",
        "m1",
        "13.8194",
        "14.5",
    )
    # A new object on the same file (a restart) reads the row back unchanged.
    with AuditTrail(path) as again:
        assert again.query() == [row]
        assert again.query()[0].reason == "glare" and again.query()[0].timestamp == 100.0


def test_floats_keep_every_digit_and_none_stays_none(tmp_path: Path) -> None:
    with AuditTrail(tmp_path / "log.sqlite") as audit:
        row = audit.record("engineer", "set_threshold", old=np.float64(13.81940), new=None)
        assert (row.old, row.new) == ("13.8194", None)
        assert float(audit.query()[0].old or "nan") == 13.8194


def test_query_is_newest_first_with_filters_and_paging(tmp_path: Path) -> None:
    with AuditTrail(tmp_path / "log.sqlite") as audit:
        for i, (role, action) in enumerate(
            [
                ("operator", "acknowledge_alarm"),
                ("engineer", "set_threshold"),
                (SYSTEM, "alarm_raised"),
                ("engineer", "reset_counters"),
            ]
        ):
            audit.record(role, action, when=10.0 + i)
        assert [r.action for r in audit.query()] == [
            "reset_counters",
            "alarm_raised",
            "set_threshold",
            "acknowledge_alarm",
        ]
        assert [r.timestamp for r in audit.query(role="engineer")] == [13.0, 11.0]
        assert [r.action for r in audit.query(action="alarm_raised")] == ["alarm_raised"]
        assert [r.timestamp for r in audit.query(since=11.0, until=13.0)] == [12.0, 11.0]
        assert [r.timestamp for r in audit.query(limit=2, offset=1)] == [12.0, 11.0]
        assert audit.count() == 4 and audit.count(role="engineer", since=12.0) == 1
        with pytest.raises(ValueError):
            audit.query(limit=-1)
        with pytest.raises(TypeError, match="unknown audit filter"):
            audit.count(who="engineer")  # type: ignore[call-arg]
        with pytest.raises(ValueError, match="role and an action"):
            audit.record("", "x")


def test_rows_cannot_be_changed_or_deleted(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    with AuditTrail(path) as audit:
        audit.record("engineer", "set_threshold", old=1.0, new=2.0)
    conn = sqlite3.connect(path)
    for sql in ("UPDATE audit SET new = '9'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    conn.close()
    with AuditTrail(path) as audit:
        assert audit.query()[0].new == "2.0"


def test_shares_the_file_with_the_inspection_log_in_either_order(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    with AuditTrail(path) as audit:
        audit.record("engineer", "set_save_policy", old="fail", new="none")
    # The audit table in a fresh file must not make the inspection log refuse it.
    with InspectionLog(path) as log:
        log.add(InspectionRecord(1.0, "cam", "m", 1.0, 0.5, 0.25, "PASS"))
        assert log.count() == 1
    with AuditTrail(path) as audit:
        assert len(audit.query()) == 1


def test_bad_files_raise_audit_errors_naming_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(AuditError, match="junk.sqlite"):
        AuditTrail(junk)
    newer = tmp_path / "newer.sqlite"
    AuditTrail(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE station_tables SET version = 99 WHERE name = 'audit'")
    conn.commit()
    conn.close()
    with pytest.raises(AuditError, match="newer than this software"):
        AuditTrail(newer)
    audit = AuditTrail(tmp_path / "closed.sqlite")
    audit.close()
    with pytest.raises(AuditError, match="closed"):
        audit.record("engineer", "set_threshold")


def test_a_recorded_row_survives_the_process_being_killed(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    code = (
        "import os, sys; from station.audit import AuditTrail; "
        "a = AuditTrail(sys.argv[1]); a.record('engineer', 'set_threshold', old=1.0, new=2.0); "
        "os._exit(0)"  # no close, no checkpoint: only what was committed is there
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)
    with AuditTrail(path) as audit:
        assert [(r.old, r.new) for r in audit.query()] == [("1.0", "2.0")]
