"""Tests for inspector.records: the station's SQLite inspection log."""

from __future__ import annotations

import csv
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inspector.records import (
    CSV_COLUMNS,
    SCHEMA_VERSION,
    InspectionLog,
    InspectionRecord,
    RecordStoreError,
)
from inspector.result import Verdict

ROOT = Path(__file__).resolve().parents[2]


def rec(**changes: Any) -> InspectionRecord:
    base = InspectionRecord(
        timestamp=1_700_000_000.25,
        source="cam0",
        model_id="m1",
        threshold=0.75,
        score=0.5,
        normalized_score=0.33,
        verdict="PASS",
    )
    return replace(base, **changes)


@pytest.fixture()
def log(tmp_path: Path) -> Iterator[InspectionLog]:
    with InspectionLog(tmp_path / "station" / "log.db") as opened:
        yield opened


@pytest.fixture()
def mixed(log: InspectionLog) -> InspectionLog:
    """Ten records: t=100..109, two cameras, two models, every verdict."""
    for i in range(10):
        verdict = "FAIL" if i % 3 == 0 else "ERROR" if i == 7 else "PASS"
        log.add(
            rec(
                timestamp=100.0 + i,
                source="cam0" if i < 5 else "cam1",
                model_id="m1" if i % 2 else "m2",
                normalized_score=i / 10,
                verdict=verdict,
            )
        )
    return log


def test_round_trip_keeps_every_field(log: InspectionLog) -> None:
    full = rec(
        verdict="FAIL",
        defect_count=3,
        largest_defect_area=412,
        image_path="/data/fail/0001.png",
        overlay_path="/data/fail/0001_overlay.jpg",
        label="good",
        source="caméra \"1\", line 'A'",
    )
    rid = log.add(full)
    assert log.query() == [replace(full, id=rid)]
    assert log.get(rid) == replace(full, id=rid)
    assert log.get(rid + 1) is None


def test_nan_scores_numpy_scalars_and_enum_verdicts(log: InspectionLog) -> None:
    nan = float("nan")
    rid = log.add(rec(score=nan, normalized_score=nan, threshold=nan, verdict="ERROR", error="x"))
    got = log.get(rid)
    assert got is not None and math.isnan(got.score) and math.isnan(got.normalized_score)
    rid = log.add(
        rec(score=np.float32(0.25), defect_count=np.int64(2), verdict=Verdict.FAIL)  # type: ignore[arg-type]
    )
    got = log.get(rid)
    assert got is not None
    assert (got.score, got.defect_count, got.verdict) == (0.25, 2, "FAIL")
    assert type(got.verdict) is str and type(got.defect_count) is int


def test_ids_increase_and_the_log_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with InspectionLog(path) as log:
        ids = [log.add(rec(timestamp=float(i))) for i in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    with InspectionLog(path) as log:
        assert [r.id for r in log.query(newest_first=False)] == ids
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_filters(mixed: InspectionLog) -> None:
    def stamps(**kw: Any) -> list[float]:
        return [r.timestamp - 100 for r in mixed.query(newest_first=False, **kw)]

    assert stamps(verdict="FAIL") == [0, 3, 6, 9]
    assert stamps(verdict=["FAIL", "ERROR"]) == [0, 3, 6, 7, 9]
    assert stamps(verdict=[]) == []
    assert stamps(source="cam1") == [5, 6, 7, 8, 9]
    assert stamps(model_id="m1", source="cam0") == [1, 3]
    assert stamps(since=103, until=106) == [3, 4, 5]  # since inclusive, until exclusive
    assert stamps(since=datetime.fromtimestamp(108)) == [8, 9]
    assert stamps(min_score=0.75) == [8, 9]
    assert stamps(verdict="PASS", since=104, min_score=0.5) == [5, 8]
    assert stamps(label="good") == []


def test_order_limit_and_offset(mixed: InspectionLog) -> None:
    newest = [r.timestamp for r in mixed.query()]
    assert newest == sorted(newest, reverse=True)
    assert [r.timestamp for r in mixed.query(limit=3, offset=2)] == newest[2:5]
    assert [r.timestamp for r in mixed.query(limit=3, newest_first=False)] == [100, 101, 102]
    assert len(mixed.query(limit=None)) == 10
    assert mixed.query(limit=0) == []
    with pytest.raises(ValueError):
        mixed.query(offset=-1)


def test_count_and_counts(mixed: InspectionLog) -> None:
    assert mixed.count() == 10
    assert mixed.counts() == {"PASS": 5, "FAIL": 4, "ERROR": 1}
    assert mixed.counts(source="cam0") == {"PASS": 3, "FAIL": 2, "ERROR": 0}
    assert mixed.count(verdict="FAIL", source="cam1") == 2
    assert mixed.counts(since=1e12) == {"PASS": 0, "FAIL": 0, "ERROR": 0}


def test_bad_arguments(log: InspectionLog) -> None:
    with pytest.raises(ValueError, match="verdict"):
        log.add(rec(verdict="MAYBE"))
    with pytest.raises(ValueError, match="verdict"):
        log.count(verdict="pass")
    with pytest.raises(TypeError, match="colour"):
        log.count(colour="red")  # type: ignore[call-arg]
    assert log.count() == 0


def test_labels(mixed: InspectionLog) -> None:
    fail = mixed.query(verdict="FAIL", limit=1)[0]
    assert fail.id is not None
    mixed.set_label(fail.id, "good")
    assert [r.id for r in mixed.query(label="good")] == [fail.id]
    assert mixed.count(verdict="FAIL", label="good") == 1
    mixed.set_label(fail.id, "")
    assert mixed.count(label="good") == 0
    with pytest.raises(KeyError, match="12345"):
        mixed.set_label(12345, "good")


def test_export_csv_all_rows_not_a_page(log: InspectionLog, tmp_path: Path) -> None:
    n = 505  # more than query's default page of 500
    for i in range(n):
        log.add(rec(timestamp=1_700_000_000.0 + i, verdict="FAIL" if i % 5 == 0 else "PASS"))
    log.add(rec(timestamp=1_800_000_000.5, score=float("nan"), verdict="ERROR", error='a, "b"'))
    out = tmp_path / "exports" / "all.csv"
    assert log.export_csv(out) == n + 1
    with out.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    assert len(rows) == n + 1
    assert [float(r["timestamp"]) for r in rows] == sorted(float(r["timestamp"]) for r in rows)
    last = rows[-1]
    assert (last["verdict"], last["score"], last["error"]) == ("ERROR", "", 'a, "b"')
    assert datetime.fromisoformat(last["time"]).timestamp() == 1_800_000_000.5
    assert float(rows[0]["threshold"]) == 0.75 and int(rows[0]["id"]) >= 1
    assert log.export_csv(tmp_path / "fails.csv", verdict="FAIL") == 101
    assert log.export_csv(tmp_path / "none.csv", source="nowhere") == 0
    assert (tmp_path / "none.csv").read_text().strip() == ",".join(CSV_COLUMNS)
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


_CHILD = """
import sys
from inspector.records import InspectionLog, InspectionRecord
log = InspectionLog(sys.argv[1])
i = 0
while True:
    i += 1
    rid = log.add(InspectionRecord(float(i), "cam", "m", 0.5, 0.1, 0.1, "PASS", error="x" * 500))
    print(rid, flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_killed_writer_process_loses_no_committed_row(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    acked: list[int] = []
    deadline = time.monotonic() + 60
    try:
        while len(acked) < 200 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acked.append(int(line))
    finally:
        # Killed while still writing: the next add is most likely mid-transaction.
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    acked += [int(line) for line in child.stdout.read().split()]
    assert len(acked) >= 200, child.stderr.read() if child.stderr else ""
    with InspectionLog(path) as log:
        stored = {r.id for r in log.query(limit=None)}
        assert set(acked) <= stored
        assert log.count() >= len(acked)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_writer_thread_and_reader_thread(log: InspectionLog) -> None:
    n = 200
    done = threading.Event()
    errors: list[BaseException] = []
    seen: list[int] = []

    def write() -> None:
        try:
            for i in range(n):
                log.add(rec(timestamp=float(i), verdict="FAIL" if i % 4 == 0 else "PASS"))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                seen.append(log.count())
                page = log.query(limit=20)
                assert [r.timestamp for r in page] == sorted(
                    (r.timestamp for r in page), reverse=True
                )
                assert sum(log.counts().values()) >= seen[-1]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert seen == sorted(seen)  # a reader never sees committed rows disappear
    assert log.count() == n
    assert log.counts() == {"PASS": 150, "FAIL": 50, "ERROR": 0}


def test_connections_of_finished_threads_are_closed(log: InspectionLog) -> None:
    for _ in range(5):
        t = threading.Thread(target=log.count)
        t.start()
        t.join()
    log.count()
    assert len(log._conns) <= 2  # this thread's and at most the last finished one's


def test_closed_log_raises(tmp_path: Path) -> None:
    log = InspectionLog(tmp_path / "log.db")
    log.close()
    with pytest.raises(RecordStoreError, match="closed"):
        log.add(rec())
    log.close()  # closing twice is harmless


def test_text_file_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are not the records you are looking for\n" * 50)
    with pytest.raises(RecordStoreError) as info:
        InspectionLog(path)
    assert str(path) in str(info.value)
    assert path.read_text().startswith("these are not")


def test_newer_schema_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    InspectionLog(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(RecordStoreError, match="newer") as info:
        InspectionLog(path)
    assert str(path) in str(info.value)


def test_other_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(RecordStoreError, match="not an inspection log") as info:
        InspectionLog(path)
    assert str(path) in str(info.value) and "recipes" in str(info.value)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    conn.close()


def test_directory_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(RecordStoreError) as info:
        InspectionLog(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_import_loads_neither_torch_nor_numpy() -> None:
    code = "import sys, inspector.records; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_names_that_are_not_utf8_are_kept_exactly(log: InspectionLog, tmp_path: Path) -> None:
    # A name from a share written by another system: bytes that are not UTF-8.
    name = os.fsdecode(b"part_\xff\xfe_01.png")
    row = log.add(rec(source=name, part=name, image_path=f"/data/{name}", error=name))
    back = log.get(row)
    assert back is not None
    assert (back.source, back.part, back.image_path) == (name, name, f"/data/{name}")
    assert os.fsencode(back.part) == b"part_\xff\xfe_01.png"
    assert log.count(source=name) == 1
    out = tmp_path / "log.csv"
    log.export_csv(out)
    text = out.read_text(encoding="utf-8")
    assert "part_\\xff\\xfe_01.png" in text  # shown escaped, the file stays valid UTF-8


def test_own_error_type_for_a_record_it_cannot_store(log: InspectionLog) -> None:
    # The station's worker catches RecordStoreError; a bad value must not escape as another type.
    with pytest.raises(RecordStoreError, match="verdict"):
        log.add(rec(verdict="MAYBE"))
    with pytest.raises(RecordStoreError):
        log.add(rec(score="not a number"))  # type: ignore[arg-type]
    with pytest.raises(RecordStoreError):
        log.add(rec(source="\ud800 lone surrogate"))
    assert log.count() == 0


def test_csv_export_neutralises_formulas(log: InspectionLog, tmp_path: Path) -> None:
    evil = ['=HYPERLINK("http://x","y")', "+1+1", "-2", "@SUM(A1)", "\tx", "\rx"]
    for text in evil:
        log.add(rec(part=text, source=text))
    out = tmp_path / "log.csv"
    log.export_csv(out)
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["part"] for r in rows] == ["'" + t for t in evil]
    assert all(not r["source"].startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows)
    assert all(r["score"] and not r["score"].startswith("'") for r in rows)
