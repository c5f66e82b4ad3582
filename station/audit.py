"""The audit trail: who changed what on the station, from which value to which, and when.

Rows live in the table ``audit`` of the station's inspection log file (see ``station.logdb``).
The table is append-only: SQLite triggers refuse UPDATE and DELETE, so not even a bug here
can rewrite history. Every ``record`` is its own synchronous transaction and is on disk when
it returns.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict, Unpack

from station.logdb import StationDb

SCHEMA_VERSION = 1
SYSTEM = "system"
"""The ``role`` of rows the station writes by itself (an alarm raised, an automatic lock)."""

_SCHEMA = (
    """CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp REAL NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '', old TEXT, new TEXT,
        reason TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX audit_timestamp ON audit (timestamp)",
    """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
    """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
)
_COLUMNS = "id, timestamp, role, action, subject, old, new, reason"


class AuditFilters(TypedDict, total=False):
    """Filters of ``query`` and ``count``; ``since`` is inclusive, ``until`` exclusive."""

    action: str | None
    role: str | None
    subject: str | None
    since: float | datetime | None
    until: float | datetime | None


class AuditError(Exception):
    """The audit trail cannot be read or written (file, schema, disk); the message names it."""


@dataclass(frozen=True)
class AuditEntry:
    """One audited change or event.

    Attributes:
        timestamp: when, epoch seconds.
        role: who: the role that was unlocked ("operator", "engineer", "admin"), or
            ``SYSTEM`` for what the station did by itself.
        action: what, e.g. "set_threshold", "reset_counters", "alarm_acknowledged".
        subject: what it applied to (a model id, an alarm name); '' if the action says it.
        old: the value before, as text; None when there was none.
        new: the value after, as text; None when there is none.
        reason: why, as typed by the person; '' if none was given.
        id: row id, increasing with every row.
    """

    timestamp: float
    role: str
    action: str
    subject: str
    old: str | None
    new: str | None
    reason: str
    id: int


class AuditTrail:
    """The audit table of the log file ``path``; safe to share between threads.

    Raises:
        AuditError: the file is not an inspection log, has a newer audit schema, or I/O fails.
    """

    def __init__(self, path: str | Path) -> None:
        self._db = StationDb(path, AuditError, "audit trail")
        self.path = self._db.path
        try:
            self._db.ensure_table("audit", SCHEMA_VERSION, _SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def record(
        self,
        role: object,
        action: object,
        *,
        subject: str = "",
        old: Any = None,
        new: Any = None,
        reason: str = "",
        when: float | None = None,
    ) -> AuditEntry:
        """Append one row; it is on disk when this returns.

        Args:
            role: who (a ``Role`` or a name); stored as ``str(role)``.
            action: what (an ``Action`` or a name); stored as ``str(action)``.
            subject: what it applied to.
            old: the value before (None: none); floats keep every digit.
            new: the value after (None: none).
            reason: why, if the person gave a reason.
            when: epoch seconds; now if None.

        Raises:
            AuditError: the row could not be written.
            ValueError: ``role`` or ``action`` is empty.
        """
        who, what = str(role), str(action)
        if not who or not what:
            raise ValueError(f"an audit row needs a role and an action, got {who!r}, {what!r}")
        stamp = time.time() if when is None else float(when)
        values = (stamp, who, what, str(subject), _text(old), _text(new), str(reason))
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO audit (timestamp, role, action, subject, old, new, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        assert cur.lastrowid is not None
        return AuditEntry(*values, id=int(cur.lastrowid))

    def query(
        self, *, limit: int | None = 500, offset: int = 0, **filters: Unpack[AuditFilters]
    ) -> list[AuditEntry]:
        """Rows matching every filter given (see ``AuditFilters``), newest first.

        Args:
            limit: at most this many rows; None for all.
            offset: skip this many matching rows first (paging).
            **filters: see ``AuditFilters``.
        """
        if (limit is not None and limit < 0) or offset < 0:
            raise ValueError("limit and offset must not be negative")
        where, params = _where(filters)
        sql = f"SELECT {_COLUMNS} FROM audit{where} ORDER BY timestamp DESC, id DESC"
        params += [-1 if limit is None else int(limit), int(offset)]
        return [_entry(row) for row in self._db.read(f"{sql} LIMIT ? OFFSET ?", params)]

    def count(self, **filters: Unpack[AuditFilters]) -> int:
        """Number of rows matching ``filters`` (for paging)."""
        where, params = _where(filters)
        return int(self._db.read(f"SELECT COUNT(*) FROM audit{where}", params)[0][0])

    def close(self) -> None:
        """Close the connection; later calls raise AuditError."""
        self._db.close()

    def __enter__(self) -> AuditTrail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # numpy scalars print as "np.float64(...)"
    if isinstance(value, float) and math.isfinite(value):
        # repr is the shortest text that reads back to the same float: 13.8194 stays 13.8194
        # and a stored 13.81940 is never audited as a rounded neighbour.
        return repr(value)
    return str(value)


def _where(filters: AuditFilters) -> tuple[str, list[object]]:
    unknown = set(filters) - set(AuditFilters.__optional_keys__)
    if unknown:
        raise TypeError(f"unknown audit filter(s): {', '.join(sorted(unknown))}")
    clauses: list[str] = []
    params: list[object] = []
    for column in ("action", "role", "subject"):
        value = filters.get(column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(str(value))
    for bound, sql in (
        (filters.get("since"), "timestamp >= ?"),
        (filters.get("until"), "timestamp < ?"),
    ):
        if bound is not None:
            clauses.append(sql)
            params.append(bound.timestamp() if isinstance(bound, datetime) else float(bound))
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), params


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    rid, stamp, role, action, subject, old, new, reason = row
    return AuditEntry(float(stamp), role, action, subject, old, new, reason, int(rid))
