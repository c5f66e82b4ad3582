"""Station tables inside the inspection log's SQLite file.

The audit trail and the shift counters live in the same file as the inspection log, so one
backup holds everything a station judged and who changed what. They use their own tables and
connections; ``InspectionLog`` keeps sole ownership of its table and of ``PRAGMA
user_version``, so each station table carries its own schema version in ``station_tables``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from inspector.records import InspectionLog, RecordStoreError

_META = "CREATE TABLE IF NOT EXISTS station_tables (name TEXT PRIMARY KEY, version INTEGER)"


class StationDb:
    """One connection to the log file, shared by threads behind a lock.

    Writes are a few per part at most, so one serialised connection is simpler than
    ``InspectionLog``'s per-thread ones and fast enough.

    Args:
        path: the inspection log file (created as an inspection log if missing).
        error: the exception type raised for every failure, named after its owner.
        what: what the owner is called in messages ("audit trail", "shift counters").
    """

    def __init__(self, path: str | Path, error: type[Exception], what: str) -> None:
        self.path = Path(path)
        self._error = error
        self._what = what
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        try:
            # The inspection log creates the file and its WAL mode first: a table of ours in
            # an empty file would make InspectionLog refuse the file as someone else's.
            InspectionLog(self.path).close()
        except RecordStoreError as exc:
            raise error(f"cannot open the {what}: {exc}") from exc
        with self._errors("cannot open"):
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            # FULL syncs the WAL at each commit: an acknowledged row survives a power cut.
            conn.execute("PRAGMA synchronous=FULL")
            self._conn = conn

    def ensure_table(self, name: str, version: int, schema: Sequence[str]) -> None:
        """Create table ``name`` at ``version`` unless present; refuse a newer version."""
        with self.transaction() as conn:
            conn.execute(_META)
            row = conn.execute(
                "SELECT version FROM station_tables WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                for statement in schema:
                    conn.execute(statement)
                conn.execute("INSERT INTO station_tables VALUES (?, ?)", (name, version))
            elif int(row[0]) > version:
                raise self._error(
                    f"{self.path}: table {name!r} has schema version {row[0]}, newer than "
                    f"this software reads ({version}); upgrade visual-inspector"
                )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction, committed on leaving."""
        with self._lock, self._errors("cannot write"):
            conn = self._connection()
            # IMMEDIATE takes the write lock now, so a read-then-write cannot interleave with
            # another process's writer.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query."""
        with self._lock, self._errors("cannot read"):
            return list(self._connection().execute(sql, params).fetchall())

    def close(self) -> None:
        """Close the connection; later calls raise the owner's error."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise self._error(f"{self.path}: the {self._what} is closed")
        return self._conn

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(f"{self.path}: {self._what}: {doing} ({exc})") from exc
