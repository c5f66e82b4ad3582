"""Shift counters: exact shift starts, splits by model, source and lot, trend, reset, restart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.audit import AuditTrail
from station.roles import PermissionDenied, Role
from station.shift_counters import ShiftCounters
from station.shifts import ShiftConfig, Tally, scheduled_start

DAY = datetime(2026, 12, 7, tzinfo=UTC).timestamp()
H = 3600.0


def counters(path: Path, **config: object) -> tuple[ShiftCounters, AuditTrail]:
    audit = AuditTrail(path)
    cfg = ShiftConfig(**config)  # type: ignore[arg-type]
    return ShiftCounters(path, audit, cfg, clock=lambda: DAY + 7 * H, tz=UTC), audit


def test_a_shift_starts_exactly_at_its_start_time(tmp_path: Path) -> None:
    c, _ = counters(tmp_path / "log.sqlite")
    c.record("FAIL", "m1", "cam", when=DAY + 6 * H - 0.001)
    c.record("PASS", "m1", "cam", when=DAY + 6 * H)
    now = c.current(DAY + 6 * H + 1)
    assert (now.start, now.started_by, now.total) == (DAY + 6 * H, "schedule", Tally(1, 0, 0))
    night = c.current(DAY + 6 * H - 0.001)
    assert (night.start, night.total) == (DAY - 2 * H, Tally(0, 1, 0))
    assert scheduled_start(DAY + 1, ShiftConfig().start_times(), UTC) == DAY - 2 * H


def test_counts_and_yield_are_split_by_model_source_and_lot(tmp_path: Path) -> None:
    c, _ = counters(tmp_path / "log.sqlite")
    t = DAY + 6 * H
    for verdict, model, source in [
        ("PASS", "m1", "cam"),
        ("PASS", "m1", "cam"),
        ("FAIL", "m1", "cam"),
        ("PASS", "m2", "cam"),
        ("FAIL", "m2", "folder"),
        ("ERROR", "m2", "folder"),
    ]:
        c.record(verdict, model, source, lot="L1", when=t)
    s = c.current(t + 1)
    assert s.total == Tally(3, 2, 1)
    assert s.total.yield_pct == pytest.approx(60.0)
    assert s.by_model == {"m1": Tally(2, 1, 0), "m2": Tally(1, 1, 1)}
    assert s.by_source == {"cam": Tally(3, 1, 0), "folder": Tally(0, 1, 1)}
    assert s.by_model_source[("m2", "folder")] == Tally(0, 1, 1)
    assert s.by_model_source[("m2", "folder")].yield_pct == 0.0
    assert s.by_lot == {"L1": Tally(3, 2, 1)}
    assert Tally(0, 0, 4).yield_pct is None  # ERRORs alone say nothing about the product
    with pytest.raises(ValueError, match="verdict"):
        c.record("OK", "m1", "cam")


def test_counts_lot_and_resets_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    c, audit = counters(path)
    t = DAY + 6 * H
    c.set_lot("LOT-7", Role.ENGINEER, when=t)
    c.record("PASS", "m1", "cam", when=t + 1)
    c.reset(Role.ENGINEER, reason="new order", when=t + 2)
    c.record("FAIL", "m1", "cam", when=t + 3)
    c.close()
    audit.close()
    again, _ = counters(path)
    s = again.current(t + 4)
    assert (s.start, s.started_by, s.lot, s.total) == (t + 2, "reset", "LOT-7", Tally(0, 1, 0))
    assert s.by_lot == {"LOT-7": Tally(0, 1, 0)}
    assert again.past() == [(t + 2, Tally(0, 1, 0)), (t, Tally(1, 0, 0))]


def test_reset_needs_the_engineer_and_is_audited_with_old_and_new(tmp_path: Path) -> None:
    c, audit = counters(tmp_path / "log.sqlite")
    t = DAY + 6 * H
    c.record("PASS", "m1", "cam", when=t)
    c.record("FAIL", "m1", "cam", when=t)
    for act in (
        lambda: c.reset(Role.OPERATOR, when=t + 1),
        lambda: c.set_lot("X", Role.OPERATOR, when=t + 1),
        lambda: c.change_shift(Role.OPERATOR, when=t + 1),
    ):
        with pytest.raises(PermissionDenied):
            act()
    assert c.current(t + 1).total == Tally(1, 1, 0)
    c.reset(Role.ENGINEER, reason="test parts", when=t + 2)
    assert c.current(t + 2).total == Tally()
    row = audit.query(action="reset_counters")[0]
    assert (row.role, row.old, row.new, row.reason, row.timestamp) == (
        "engineer",
        "PASS 1, FAIL 1, ERROR 0 (yield 50.0 %)",
        "PASS 0, FAIL 0, ERROR 0",
        "test parts",
        t + 2,
    )
    c.set_lot("A", Role.ENGINEER, when=t + 3)
    c.set_lot("B", Role.ADMIN, when=t + 4)
    assert [(r.old, r.new) for r in audit.query(action="set_lot")] == [("A", "B"), ("", "A")]
    assert c.lot == "B"


def test_trend_buckets_start_at_the_period_and_include_empty_ones(tmp_path: Path) -> None:
    c, _ = counters(tmp_path / "log.sqlite", bucket_minutes=10)
    t = DAY + 6 * H
    c.record("PASS", "m1", "cam", when=t)
    c.record("FAIL", "m1", "cam", when=t + 599.999)
    c.record("PASS", "m1", "cam", when=t + 600)
    points = c.trend(now=t + 1800)
    assert [p.start for p in points] == [t, t + 600, t + 1200, t + 1800]
    assert [p.tally.yield_pct for p in points] == [50.0, 100.0, None, None]


def test_manual_shifts_when_no_times_are_configured(tmp_path: Path) -> None:
    c, audit = counters(tmp_path / "log.sqlite", starts=())
    c.record("PASS", "m1", "cam", when=DAY)
    assert (c.current(DAY).started_by, c.current(DAY).total) == ("start", Tally(1, 0, 0))
    c.change_shift(Role.ENGINEER, when=DAY + 10)
    c.record("FAIL", "m1", "cam", when=DAY + 10)
    s = c.current(DAY + 11)
    assert (s.start, s.started_by, s.total) == (DAY + 10, "shift", Tally(0, 1, 0))
    assert audit.query(action="change_shift")[0].old == "PASS 1, FAIL 0, ERROR 0 (yield 100.0 %)"


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="'25:00' is not a time"):
        ShiftConfig(starts=("06:00", "25:00"))
    with pytest.raises(ValueError, match="bucket_minutes"):
        ShiftConfig(bucket_minutes=0)
    # Local time (no zone given) still finds a start within the last day.
    start = scheduled_start(DAY, ShiftConfig().start_times())
    assert start is not None and DAY - 24 * H < start <= DAY
