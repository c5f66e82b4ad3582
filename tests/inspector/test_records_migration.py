"""An inspection log written before the recipe column opens, keeps its rows and gains it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from inspector.records import SCHEMA_VERSION, InspectionLog, InspectionRecord

V1_TABLE = """CREATE TABLE inspections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp REAL NOT NULL, source TEXT NOT NULL, model_id TEXT NOT NULL,
    threshold REAL, score REAL, normalized_score REAL,
    verdict TEXT NOT NULL CHECK (verdict IN ('PASS', 'FAIL', 'ERROR')),
    defect_count INTEGER NOT NULL DEFAULT 0, largest_defect_area INTEGER NOT NULL DEFAULT 0,
    image_path TEXT NOT NULL DEFAULT '', overlay_path TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '',
    part TEXT NOT NULL DEFAULT ''
)"""


def test_a_version_1_log_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "inspections.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(V1_TABLE)
    conn.execute(
        "INSERT INTO inspections (timestamp, source, model_id, threshold, score, "
        "normalized_score, verdict, part) VALUES (1.5, 'cam', 'm1', 0.3, 0.4, 0.6, 'FAIL', 'SN-1')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    with InspectionLog(path) as log:
        (old,) = log.query()
        assert (old.part, old.verdict, old.model_id, old.recipe) == ("SN-1", "FAIL", "m1", "")
        new_id = log.add(
            InspectionRecord(2.0, "cam", "m2", 0.3, 0.1, 0.2, "PASS", part="SN-2", recipe="plate")
        )
        added = log.get(new_id)
        assert added is not None and (added.part, added.recipe) == ("SN-2", "plate")
        assert log.count() == 2
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    check.close()
    with InspectionLog(path) as again:  # opening a migrated log changes nothing
        assert [r.part for r in again.query()] in (["SN-1", "SN-2"], ["SN-2", "SN-1"])
