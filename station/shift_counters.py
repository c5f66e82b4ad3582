"""Counters and yield per shift, lot, model and source, kept in the inspection log file.

A counting period starts at the latest of: a scheduled shift start (``ShiftConfig.starts``,
local wall-clock times), a manual shift change, or a counter reset. Parts are counted per
period, per trend bucket (``bucket_minutes`` from the period start), lot, model, source and
verdict in the table ``shift_counts``; shift changes, resets and lots are rows of
``shift_events``. Nothing is deleted: a reset starts a new period, audited, and the old
periods stay readable (``past``). Yield is PASS / (PASS + FAIL): an ERROR part was never
judged, so it is counted apart and neither raises nor lowers the yield.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

from inspector.records import VERDICTS
from station.audit import AuditTrail
from station.logdb import StationDb
from station.roles import Action, Role, require
from station.shifts import ShiftConfig, ShiftSnapshot, Tally, TrendPoint, scheduled_start

SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE shift_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp REAL NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('shift', 'reset', 'lot')),
        value TEXT NOT NULL DEFAULT '', role TEXT NOT NULL
    )""",
    """CREATE TABLE shift_counts (
        period_start REAL NOT NULL, bucket_start REAL NOT NULL, lot TEXT NOT NULL,
        model_id TEXT NOT NULL, source TEXT NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ('PASS', 'FAIL', 'ERROR')),
        n INTEGER NOT NULL,
        PRIMARY KEY (period_start, bucket_start, lot, model_id, source, verdict)
    )""",
)
_UPSERT = (
    "INSERT INTO shift_counts VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT "
    "(period_start, bucket_start, lot, model_id, source, verdict) DO UPDATE SET n = n + 1"
)


class ShiftCountersError(Exception):
    """The counters cannot be read or written (file, schema, disk); the message names it."""


class ShiftCounters:
    """Counters of the station whose inspection log is ``path``; safe to share between threads.

    Args:
        path: the inspection log file.
        config: shift starts and trend bucket width.
        audit: where resets, shift changes and lots are recorded.
        clock: epoch seconds now; injected by tests.
        tz: time zone of ``config.starts`` (None: the machine's local time).

    Raises:
        ShiftCountersError: the file cannot be used.
    """

    def __init__(
        self,
        path: str | Path,
        audit: AuditTrail,
        config: ShiftConfig | None = None,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
    ) -> None:
        self.config = config or ShiftConfig()
        self._audit = audit
        self._clock = clock
        self._tz = tz
        self._lock = threading.Lock()
        self._db = StationDb(path, ShiftCountersError, "shift counters")
        try:
            self._db.ensure_table("shift_counts", SCHEMA_VERSION, _SCHEMA)
            rows = self._db.read(
                "SELECT timestamp, kind, value FROM shift_events ORDER BY timestamp, id"
            )
        except BaseException:
            self._db.close()
            raise
        # Few rows (a handful per shift), read once: a part's period is found without SQL.
        self._events = [(float(t), str(k), str(v)) for t, k, v in rows]

    def record(
        self,
        verdict: str,
        model_id: str,
        source: str,
        lot: str | None = None,
        when: float | None = None,
    ) -> None:
        """Count one part (on disk when this returns).

        Args:
            verdict: PASS, FAIL or ERROR.
            model_id: the model that judged it.
            source: where the image came from.
            lot: its lot; None for the current lot.
            when: inspection time, epoch seconds; now if None.
        """
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        when = self._now(when)
        with self._lock:
            start, _ = self._period(when)
            lot = self._lot(when) if lot is None else str(lot)
        width = self.config.bucket_minutes * 60.0
        bucket = start + (when - start) // width * width
        with self._db.transaction() as conn:
            conn.execute(_UPSERT, (start, bucket, lot, str(model_id), str(source), verdict))

    def current(self, now: float | None = None) -> ShiftSnapshot:
        """The counters of the period running at ``now``."""
        now = self._now(now)
        with self._lock:
            start, by = self._period(now)
            lot = self._lot(now)
        sql = "SELECT lot, model_id, source, verdict, SUM(n) FROM shift_counts "
        sql += "WHERE period_start = ? GROUP BY lot, model_id, source, verdict"
        total = Tally()
        by_model: dict[str, Tally] = {}
        by_source: dict[str, Tally] = {}
        by_lot: dict[str, Tally] = {}
        by_pair: dict[tuple[str, str], Tally] = {}
        for row_lot, model, source, verdict, n in self._db.read(sql, (start,)):
            total = total.plus(verdict, n)
            for groups, key in ((by_model, model), (by_source, source), (by_lot, row_lot)):
                groups[key] = groups.get(key, Tally()).plus(verdict, n)
            by_pair[model, source] = by_pair.get((model, source), Tally()).plus(verdict, n)
        return ShiftSnapshot(start, by, lot, total, by_model, by_source, by_lot, by_pair)

    def trend(self, now: float | None = None) -> list[TrendPoint]:
        """Yield trend of the current period: every bucket up to ``now``, empty ones included."""
        now = self._now(now)
        with self._lock:
            start, _ = self._period(now)
        sql = "SELECT bucket_start, verdict, SUM(n) FROM shift_counts WHERE period_start = ? "
        sql += "GROUP BY bucket_start, verdict"
        width = self.config.bucket_minutes * 60.0
        points = [Tally() for _ in range(int((now - start) // width) + 1)]
        for bucket, verdict, n in self._db.read(sql, (start,)):
            i = round((float(bucket) - start) / width)
            if 0 <= i < len(points):
                points[i] = points[i].plus(str(verdict), int(n))
        return [TrendPoint(start + i * width, t) for i, t in enumerate(points)]

    def past(self, limit: int = 20) -> list[tuple[float, Tally]]:
        """(period start, counts) of the latest periods, newest first, the current included."""
        sql = "SELECT period_start, verdict, SUM(n) FROM shift_counts GROUP BY period_start, "
        sql += "verdict ORDER BY period_start DESC"
        tallies: dict[float, Tally] = {}
        for start, verdict, n in self._db.read(sql):
            key = float(start)
            tallies[key] = tallies.get(key, Tally()).plus(str(verdict), int(n))
        return list(tallies.items())[:limit]

    def reset(self, role: Role, reason: str = "", when: float | None = None) -> None:
        """Start counting from zero now; the old counts stay in the log, the reset is audited.

        Raises:
            PermissionDenied: ``role`` may not reset counters.
        """
        require(role, Action.RESET_COUNTERS)
        self._event(role, "reset", "", Action.RESET_COUNTERS, reason, self._now(when))

    def change_shift(self, role: Role, reason: str = "", when: float | None = None) -> None:
        """Start a shift by hand (also where no shift times are configured); audited."""
        require(role, Action.CHANGE_SHIFT)
        self._event(role, "shift", "", Action.CHANGE_SHIFT, reason, self._now(when))

    def set_lot(self, lot: str, role: Role, reason: str = "", when: float | None = None) -> None:
        """Parts from ``when`` on belong to ``lot``; audited with the old lot."""
        require(role, Action.SET_LOT)
        self._event(role, "lot", str(lot), Action.SET_LOT, reason, self._now(when))

    @property
    def lot(self) -> str:
        """The current lot ('' if none was set)."""
        with self._lock:
            return self._lot(self._clock())

    def close(self) -> None:
        """Close the connection; later calls raise ShiftCountersError."""
        self._db.close()

    def _event(
        self, role: Role, kind: str, value: str, action: Action, reason: str, when: float
    ) -> None:
        if kind == "lot":
            with self._lock:
                old, new = self._lot(when), value
        else:
            old, new = str(self.current(when).total), str(Tally())
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO shift_events (timestamp, kind, value, role) VALUES (?, ?, ?, ?)",
                (when, kind, value, str(role)),
            )
        with self._lock:
            self._events.append((when, kind, value))
            self._events.sort(key=lambda e: e[0])
        self._audit.record(
            role, action, subject="counters", old=old, new=new, reason=reason, when=when
        )

    def _period(self, when: float) -> tuple[float, str]:
        start, by = 0.0, "start"
        scheduled = scheduled_start(when, self.config.start_times(), self._tz)
        if scheduled is not None:
            start, by = scheduled, "schedule"
        for t, kind, _ in self._events:
            if kind in ("shift", "reset") and start <= t <= when:
                start, by = t, kind
        return start, by

    def _lot(self, when: float) -> str:
        lots = [v for t, k, v in self._events if k == "lot" and t <= when]
        return lots[-1] if lots else ""

    def _now(self, when: float | None) -> float:
        return self._clock() if when is None else float(when)
