"""What a shift is and what is counted in one: shift times, tallies, snapshots, trend points.

Kept apart from ``station.shift_counters`` (the SQLite side) so a GUI or a PLC map can use
these values without opening a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from datetime import time as clock_time


@dataclass(frozen=True)
class ShiftConfig:
    """When shifts start and how finely the yield trend is cut.

    Attributes:
        starts: shift start times "HH:MM" in the station's local time; empty for manual
            shift changes only.
        bucket_minutes: width of one point of the yield trend.
    """

    starts: tuple[str, ...] = ("06:00", "14:00", "22:00")
    bucket_minutes: float = 10.0

    def __post_init__(self) -> None:
        for text in self.starts:
            try:
                clock_time.fromisoformat(text)
            except (TypeError, ValueError):
                raise ValueError(f"shift start {text!r} is not a time like '06:00'") from None
        if not self.bucket_minutes > 0:
            raise ValueError(f"bucket_minutes must be > 0, not {self.bucket_minutes!r}")

    def start_times(self) -> list[clock_time]:
        """The shift starts as times of day."""
        return sorted({clock_time.fromisoformat(t) for t in self.starts})


@dataclass(frozen=True)
class Tally:
    """Parts counted by verdict."""

    passed: int = 0
    failed: int = 0
    errors: int = 0

    @property
    def total(self) -> int:
        """Every part, ERROR included."""
        return self.passed + self.failed + self.errors

    @property
    def yield_pct(self) -> float | None:
        """PASS / (PASS + FAIL) in percent; None before the first judged part."""
        judged = self.passed + self.failed
        return None if judged == 0 else 100.0 * self.passed / judged

    def plus(self, verdict: str, n: int = 1) -> Tally:
        """This tally with ``n`` more parts of ``verdict``."""
        name = {"PASS": "passed", "FAIL": "failed", "ERROR": "errors"}[verdict]
        return replace(self, **{name: getattr(self, name) + n})

    def __str__(self) -> str:
        y = self.yield_pct
        return f"PASS {self.passed}, FAIL {self.failed}, ERROR {self.errors}" + (
            "" if y is None else f" (yield {y:.1f} %)"
        )


@dataclass(frozen=True)
class ShiftSnapshot:
    """The counters of the current period.

    Attributes:
        start: when the period began, epoch seconds.
        started_by: "schedule", "shift" (manual change), "reset", or "start" (no shift yet).
        lot: the current lot ('' if none was set).
        total: every part of the period.
        by_model: per model id; by_source: per source; by_lot: per lot;
        by_model_source: per (model id, source), the split a yield is meaningful for.
    """

    start: float
    started_by: str
    lot: str
    total: Tally
    by_model: Mapping[str, Tally] = field(default_factory=dict)
    by_source: Mapping[str, Tally] = field(default_factory=dict)
    by_lot: Mapping[str, Tally] = field(default_factory=dict)
    by_model_source: Mapping[tuple[str, str], Tally] = field(default_factory=dict)


@dataclass(frozen=True)
class TrendPoint:
    """One bucket of the yield trend: parts whose time is in [start, start + width)."""

    start: float
    tally: Tally


def scheduled_start(now: float, starts: list[clock_time], tz: tzinfo | None = None) -> float | None:
    """The latest of ``starts`` (times of day in ``tz``, None: local) at or before ``now``."""
    if not starts:
        return None
    today = datetime.fromtimestamp(now, tz).date()
    candidates = [
        datetime.combine(day, t, tzinfo=tz).timestamp()
        for day in (today - timedelta(days=1), today)
        for t in starts
    ]
    return max(c for c in candidates if c <= now)
