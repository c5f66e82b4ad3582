"""The station's inspection log: one row per inspected part in an SQLite database.

The log is an audit trail (which part failed, with which model, when) and the source of
the operator's false-reject feedback for retraining. It uses only the standard library so the
GUI process can keep it open without loading torch.

Durability: WAL journal with ``synchronous=FULL``; every ``add`` is its own transaction and is
on disk when it returns, so neither a killed process nor a power cut loses a committed row.
"""

from __future__ import annotations

import csv
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict, Unpack

from inspector.safe_text import csv_cell, from_bytes, to_bytes

VERDICTS = ("PASS", "FAIL", "ERROR")
SCHEMA_VERSION = 2


class RecordStoreError(Exception):
    """The log cannot be used: not a database, not an inspection log, too new, closed, or I/O."""


class InvalidRecordError(RecordStoreError, ValueError):
    """A record or filter value the log cannot store (a bad verdict, a score that is text)."""


@dataclass(frozen=True)
class InspectionRecord:
    """One inspected part.

    Attributes:
        timestamp: inspection time, epoch seconds.
        source: where the image came from (camera name, folder, file).
        model_id: id of the model bundle that judged it.
        threshold: image threshold the verdict was judged against (NaN if none).
        score: raw image score (NaN for ERROR rows without one).
        normalized_score: score mapped to 0..1 with the threshold at 0.5 (NaN if none).
        verdict: PASS, FAIL or ERROR.
        defect_count: number of defect regions.
        largest_defect_area: area in pixels of the largest region, 0 if none.
        image_path: where the image was saved, '' if it was not.
        overlay_path: where the heatmap overlay was saved, '' if it was not.
        error: error message of an ERROR row, '' otherwise.
        label: operator feedback, e.g. 'good' for a false reject; '' if none.
        part: the part's own name where the source has one (file name, serial), '' if not.
        recipe: the recipe (product) in use when it was judged, '' if none.
        id: row id once stored, None before.
    """

    timestamp: float
    source: str
    model_id: str
    threshold: float
    score: float
    normalized_score: float
    verdict: str
    defect_count: int = 0
    largest_defect_area: int = 0
    image_path: str = ""
    overlay_path: str = ""
    error: str = ""
    label: str = ""
    part: str = ""
    recipe: str = ""
    id: int | None = None


class Filters(TypedDict, total=False):
    """Row filters shared by ``query``, ``count``, ``counts`` and ``export_csv``.

    ``verdict`` takes one verdict or several; ``since`` is inclusive and ``until`` exclusive,
    so consecutive windows never count a row twice; ``min_score`` applies to the normalized
    score, because raw scores of different models are in different units.
    """

    verdict: str | Sequence[str] | None
    source: str | None
    model_id: str | None
    label: str | None
    since: float | datetime | None
    until: float | datetime | None
    min_score: float | None


_FILTER_NAMES = frozenset(Filters.__optional_keys__)
_COLUMNS = tuple(f.name for f in fields(InspectionRecord) if f.name != "id")
_FLOATS = frozenset({"timestamp", "threshold", "score", "normalized_score"})
_CAST: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(_FLOATS, float),
    "defect_count": int,
    "largest_defect_area": int,
}
_SELECT = f"SELECT id, {', '.join(_COLUMNS)} FROM inspections"
_INSERT = (
    f"INSERT INTO inspections ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)
CSV_COLUMNS = ("id", "time", *_COLUMNS)

_SCHEMA = (
    """CREATE TABLE inspections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp REAL NOT NULL, source TEXT NOT NULL, model_id TEXT NOT NULL,
        threshold REAL, score REAL, normalized_score REAL,
        verdict TEXT NOT NULL CHECK (verdict IN ('PASS', 'FAIL', 'ERROR')),
        defect_count INTEGER NOT NULL DEFAULT 0, largest_defect_area INTEGER NOT NULL DEFAULT 0,
        image_path TEXT NOT NULL DEFAULT '', overlay_path TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '',
        part TEXT NOT NULL DEFAULT '', recipe TEXT NOT NULL DEFAULT ''
    )""",
    # (verdict, timestamp) also serves "recent FAILs" and the per-verdict counts.
    "CREATE INDEX inspections_timestamp ON inspections (timestamp)",
    "CREATE INDEX inspections_verdict ON inspections (verdict, timestamp)",
)
# Each step brings a log of the version before it to the next; existing rows keep their values.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE inspections ADD COLUMN recipe TEXT NOT NULL DEFAULT ''",),
}
# Score columns are nullable: SQLite stores NaN as NULL, and ERROR rows often have no score.
# AUTOINCREMENT: ids are never reused, so a label or a saved file name keyed by id stays valid
# even if old rows are purged one day.


class InspectionLog:
    """The inspection log of one station, stored in the SQLite file ``path``.

    Each thread gets its own connection. With WAL, a reader (the UI thread paging through
    history or exporting a year of rows) never waits for the writer's fsync and never makes
    the inspection worker wait, which one shared connection behind a lock would. Close the
    log only after the threads using it have stopped.

    Raises:
        RecordStoreError: ``path`` is not an SQLite database, is another application's
            database, was written by a newer version, or cannot be opened.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._errors("cannot open the inspection log"):
                self._init_schema(self._conn())
        except OSError as exc:
            self.close()
            raise RecordStoreError(f"{self.path}: cannot open the inspection log ({exc})") from exc
        except BaseException:
            self.close()
            raise

    def add(self, record: InspectionRecord) -> int:
        """Store ``record`` (its ``id`` is ignored) and return the new row id."""
        try:
            values = _values(record)
        except (TypeError, ValueError) as exc:
            raise InvalidRecordError(f"{self.path}: cannot add a record ({exc})") from exc
        with self._errors("cannot add a record"):
            # Autocommit mode: the INSERT is one transaction, committed and synced on return.
            cur = self._conn().execute(_INSERT, values)
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def set_label(self, record_id: int, label: str) -> None:
        """Set the operator label of a record ('' clears it).

        Raises:
            KeyError: no record has this id.
        """
        with self._errors("cannot set a label"):
            cur = self._conn().execute(
                "UPDATE inspections SET label = ? WHERE id = ?", (str(label), int(record_id))
            )
        if cur.rowcount == 0:
            raise KeyError(f"{self.path}: no inspection record with id {record_id}")

    def get(self, record_id: int) -> InspectionRecord | None:
        """The record with this id, or None."""
        with self._errors("cannot read"):
            row = self._conn().execute(f"{_SELECT} WHERE id = ?", (int(record_id),)).fetchone()
        return None if row is None else _record(row)

    def query(
        self,
        *,
        limit: int | None = 500,
        offset: int = 0,
        newest_first: bool = True,
        **filters: Unpack[Filters],
    ) -> list[InspectionRecord]:
        """Records matching ``filters`` (see ``Filters``), one page of them.

        Args:
            limit: at most this many records; None for all.
            offset: skip this many matching records first (paging).
            newest_first: order by time, newest first; oldest first if False.
            **filters: see ``Filters``.
        """
        if (limit is not None and limit < 0) or offset < 0:
            raise ValueError("limit and offset must not be negative")
        where, params = _where(filters)
        order = "DESC" if newest_first else "ASC"
        sql = f"{_SELECT}{where} ORDER BY timestamp {order}, id {order} LIMIT ? OFFSET ?"
        params += [-1 if limit is None else int(limit), int(offset)]
        with self._errors("cannot read"):
            rows = self._conn().execute(sql, params).fetchall()
        return [_record(row) for row in rows]

    def count(self, **filters: Unpack[Filters]) -> int:
        """Number of records matching ``filters``."""
        where, params = _where(filters)
        with self._errors("cannot read"):
            row = self._conn().execute(f"SELECT COUNT(*) FROM inspections{where}", params)
            return int(row.fetchone()[0])

    def counts(self, **filters: Unpack[Filters]) -> dict[str, int]:
        """Number of matching records per verdict, every verdict present (0 if none)."""
        where, params = _where(filters)
        sql = f"SELECT verdict, COUNT(*) FROM inspections{where} GROUP BY verdict"
        with self._errors("cannot read"):
            found = dict(self._conn().execute(sql, params).fetchall())
        return {v: int(found.get(v, 0)) for v in VERDICTS}

    def export_csv(self, path: str | os.PathLike[str], **filters: Unpack[Filters]) -> int:
        """Write every matching record, oldest first, to a CSV file with ``CSV_COLUMNS``.

        ``time`` is local time in ISO 8601 with its UTC offset, for people; ``timestamp`` is
        epoch seconds, for machines. Missing scores are empty cells. The file appears only
        when complete.

        Returns:
            The number of records written (the header not counted).
        """
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        where, params = _where(filters)
        n = 0
        try:
            with self._errors("cannot export"), tmp.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(CSV_COLUMNS)
                # Streamed from one read snapshot: a year of records need not fit in memory,
                # and rows added meanwhile do not tear the export.
                for row in self._conn().execute(f"{_SELECT}{where} ORDER BY timestamp, id", params):
                    writer.writerow(_csv_row(_record(row)))
                    n += 1
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return n

    def close(self) -> None:
        """Close every thread's connection; later calls raise RecordStoreError."""
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, []
        for _, conn in conns:
            conn.close()

    def __enter__(self) -> InspectionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        # One exception type, naming the file, for the GUI to catch (disk full, locked, ...).
        try:
            yield
        except sqlite3.Error as exc:
            raise RecordStoreError(f"{self.path}: {doing} ({exc})") from exc

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise RecordStoreError(f"{self.path}: the inspection log is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._lock:
            # Connections of finished threads are closed here, so short-lived worker threads
            # do not pile up open handles. check_same_thread=False only so close() may do that.
            alive = []
            for thread, old in self._conns:
                if thread.is_alive():
                    alive.append((thread, old))
                else:
                    old.close()
            # Autocommit (isolation_level=None): each statement is its own transaction unless
            # we BEGIN; the timeout waits out another process's write instead of failing.
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            # FULL also syncs the WAL at each commit: NORMAL survives a crashed process but may
            # lose the last records on power loss, and stations are often switched off at the
            # mains. One fsync per part is cheap at inspection rates.
            conn.execute("PRAGMA synchronous=FULL")
            alive.append((threading.current_thread(), conn))
            self._conns = alive
        self._local.conn = conn
        return conn

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        if self._version(conn) == 0 and not _tables(conn):
            # WAL is kept in the file; it lets readers and the writer run concurrently.
            conn.execute("PRAGMA journal_mode=WAL")
            # IMMEDIATE takes the write lock now, so two processes creating one log don't race.
            conn.execute("BEGIN IMMEDIATE")
            try:
                if self._version(conn) == 0 and not _tables(conn):
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already
                    conn.execute("ROLLBACK")
                raise
        tables = _tables(conn)
        if "inspections" not in tables:
            raise RecordStoreError(
                f"{self.path}: an SQLite database but not an inspection log "
                f"(tables: {', '.join(sorted(tables))})"
            )
        if self._version(conn) < SCHEMA_VERSION:
            self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")  # one migrating process; the others see the result
        try:
            version = self._version(conn)
            while version < SCHEMA_VERSION:
                for statement in _MIGRATIONS[version]:
                    conn.execute(statement)
                version += 1
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _version(self, conn: sqlite3.Connection) -> int:
        # The first read of a file that is not a database raises sqlite3.DatabaseError here.
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RecordStoreError(
                f"{self.path}: inspection log schema version {version} is newer than this "
                f"software reads ({SCHEMA_VERSION}); upgrade visual-inspector"
            )
        return version


def _tables(conn: sqlite3.Connection) -> set[str]:
    sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
    return {row[0] for row in conn.execute(sql)}


def _values(record: InspectionRecord) -> list[Any]:
    if str(record.verdict) not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, not {record.verdict!r}")
    # Explicit conversion: numpy scalars (np.float32, np.int64) cannot be bound by sqlite3.
    return [_CAST.get(name, _db_text)(getattr(record, name)) for name in _COLUMNS]


def _db_text(value: Any) -> str | bytes:
    """Text as TEXT; a name that is not valid UTF-8 (surrogate escapes) as its exact bytes,
    which sqlite3 would refuse as str: a BLOB keeps it losslessly, ``_record`` restores it."""
    text = str(value)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return to_bytes(text)


def _record(row: Sequence[Any]) -> InspectionRecord:
    values: dict[str, Any] = {
        name: from_bytes(value) if isinstance(value, bytes) else value
        for name, value in zip(_COLUMNS, row[1:], strict=True)
    }
    values.update({n: math.nan for n in _FLOATS if values[n] is None})
    return InspectionRecord(**values, id=int(row[0]))


def _where(filters: Mapping[str, Any]) -> tuple[str, list[Any]]:
    unknown = set(filters) - _FILTER_NAMES
    if unknown:
        raise TypeError(f"unknown filter(s): {', '.join(sorted(unknown))}")
    clauses: list[str] = []
    params: list[Any] = []
    verdict = filters.get("verdict")
    if verdict is not None:
        names = [verdict] if isinstance(verdict, str) else [str(v) for v in verdict]
        bad = [v for v in names if v not in VERDICTS]
        if bad:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {bad[0]!r}")
        clauses.append(f"verdict IN ({', '.join('?' * len(names))})" if names else "0")
        params += names
    for name in ("source", "model_id", "label"):
        if filters.get(name) is not None:
            clauses.append(f"{name} = ?")
            params.append(_db_text(filters[name]))
    for name, sql in (("since", "timestamp >= ?"), ("until", "timestamp < ?")):
        if filters.get(name) is not None:
            clauses.append(sql)
            value = filters[name]
            params.append(value.timestamp() if isinstance(value, datetime) else float(value))
    if filters.get("min_score") is not None:
        clauses.append("normalized_score >= ?")
        params.append(float(filters["min_score"]))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _iso(timestamp: float) -> str:
    try:
        return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return ""


def _csv_row(r: InspectionRecord) -> list[Any]:
    row: list[Any] = [r.id, _iso(r.timestamp)]
    for name in _COLUMNS:
        value = getattr(r, name)
        # repr keeps every digit a float has; NaN (no score) becomes an empty cell.
        if name in _FLOATS:
            row.append("" if math.isnan(value) else repr(value))
        else:  # names from the outside world: escaped, and inert in a spreadsheet
            row.append(csv_cell(value) if isinstance(value, str) else value)
    return row
