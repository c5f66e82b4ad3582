"""Production alarms: exact thresholds, raise once, acknowledge (audited), clear, restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.audit import SYSTEM, AuditTrail
from station.roles import PermissionDenied, Role
from station.yield_alarms import AlarmState, AlarmStatus, YieldAlarmCode, YieldAlarms
from station.yield_limits import AlarmLimits

FAILS, YIELD, IDLE = (
    YieldAlarmCode.CONSECUTIVE_FAILS,
    YieldAlarmCode.LOW_YIELD,
    YieldAlarmCode.NO_PARTS,
)
OFF = {"consecutive_fails": None, "min_yield_pct": None, "no_parts_s": None}


def monitor(tmp_path: Path, **limits: object) -> tuple[YieldAlarms, AuditTrail]:
    audit = AuditTrail(tmp_path / "inspections.sqlite")
    cfg = AlarmLimits(**{**OFF, **limits})  # type: ignore[arg-type]
    return YieldAlarms(cfg, audit, clock=lambda: 0.0), audit


def feed(alarms: YieldAlarms, verdicts: str, t0: float = 1.0) -> list[AlarmStatus]:
    changed = []
    for i, v in enumerate(verdicts.split()):
        changed += alarms.on_part(v, when=t0 + i)
    return changed


def test_consecutive_fails_raise_exactly_at_n_once_and_errors_do_not_break_the_run(
    tmp_path: Path,
) -> None:
    alarms, audit = monitor(tmp_path, consecutive_fails=3)
    assert feed(alarms, "FAIL FAIL ERROR") == []
    assert alarms.plc_code() is YieldAlarmCode.NONE
    changed = alarms.on_part("FAIL", when=10.0)
    assert [(s.code, s.state, s.raised_at) for s in changed] == [(FAILS, AlarmState.ACTIVE, 10.0)]
    assert changed[0].message == "3 FAILs in a row (limit 3)"
    assert feed(alarms, "FAIL FAIL", t0=11.0) == []  # raised once, not per part
    assert alarms.plc_code() is FAILS
    assert [r.action for r in audit.query(subject="alarm 101 consecutive_fails")] == [
        "alarm_raised"
    ]


def test_ack_then_clear_returns_to_normal_and_records_who_and_when(tmp_path: Path) -> None:
    alarms, audit = monitor(tmp_path, consecutive_fails=2)
    feed(alarms, "FAIL FAIL")
    acked = alarms.acknowledge(FAILS, Role.OPERATOR, reason="reject bin checked", now=5.0)
    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at) == (
        AlarmState.ACKNOWLEDGED,
        "operator",
        5.0,
    )
    assert alarms.plc_code() is FAILS  # the condition is still there
    [cleared] = alarms.on_part("PASS", when=6.0)
    assert cleared == AlarmStatus(FAILS) and alarms.active() == []
    rows = [
        (r.role, r.action, r.old, r.new, r.reason, r.timestamp)
        for r in reversed(audit.query(subject="alarm 101 consecutive_fails"))
    ]
    assert rows == [
        (SYSTEM, "alarm_raised", None, "2 FAILs in a row (limit 2)", "", 2.0),
        ("operator", "acknowledge_alarm", "active", "acknowledged", "reject bin checked", 5.0),
        (SYSTEM, "alarm_cleared", "acknowledged", None, "", 6.0),
    ]


def test_a_cleared_alarm_waits_for_its_acknowledgement(tmp_path: Path) -> None:
    alarms, _ = monitor(tmp_path, consecutive_fails=2)
    feed(alarms, "FAIL FAIL PASS")
    assert alarms.status(FAILS).state is AlarmState.CLEARED
    assert alarms.plc_code() is FAILS
    # Back before anyone acknowledged: the same occurrence, not a second raise.
    feed(alarms, "FAIL FAIL", t0=4.0)
    assert alarms.status(FAILS).state is AlarmState.ACTIVE
    assert alarms.status(FAILS).raised_at == 2.0
    feed(alarms, "PASS", t0=6.0)
    [done] = alarms.acknowledge_all(Role.OPERATOR, now=7.0)
    assert done == AlarmStatus(FAILS)
    assert alarms.acknowledge(FAILS, Role.OPERATOR) == AlarmStatus(FAILS)  # nothing to do


def test_low_yield_needs_a_full_window_and_is_strictly_below_the_limit(tmp_path: Path) -> None:
    alarms, _ = monitor(tmp_path, min_yield_pct=80.0, yield_window=5)
    assert feed(alarms, "FAIL FAIL FAIL FAIL") == []  # 4 parts: the window is not full yet
    [raised] = alarms.on_part("FAIL", when=9.0)
    assert raised.code is YIELD and raised.message.startswith("yield 0.0 % over the last 5")
    alarms.acknowledge(YIELD, Role.OPERATOR)
    # ERRORs are not judged parts: they do not move the window.
    assert feed(alarms, "PASS PASS PASS ERROR ERROR", t0=10.0) == []
    [cleared] = alarms.on_part("PASS", when=20.0)  # 4 of 5 = 80 %: not below 80 %
    assert cleared.state is AlarmState.NORMAL
    assert alarms.on_part("FAIL", when=21.0) == []  # P P P P F: still 80 %
    [again] = alarms.on_part("FAIL", when=22.0)  # P P P F F: 60 %
    assert again.state is AlarmState.ACTIVE


def test_no_parts_raises_exactly_after_t_seconds_and_not_while_paused(tmp_path: Path) -> None:
    alarms, _ = monitor(tmp_path, no_parts_s=30.0)
    alarms.on_part("PASS", when=100.0)
    assert alarms.check(129.999) == []
    [raised] = alarms.check(130.0)
    assert (raised.code, raised.message) == (IDLE, "no part for 30 s (limit 30 s)")
    assert alarms.check(500.0) == []
    [cleared] = alarms.on_part("ERROR", when=501.0)  # any part ends it, an ERROR too
    assert cleared.state is AlarmState.CLEARED
    alarms.acknowledge(IDLE, Role.OPERATOR, now=502.0)
    alarms.pause(now=502.0)
    assert alarms.check(10_000.0) == []
    alarms.resume(now=10_000.0)
    assert alarms.check(10_029.0) == []
    assert [s.code for s in alarms.check(10_030.0)] == [IDLE]


def test_plc_code_follows_priority(tmp_path: Path) -> None:
    alarms, _ = monitor(tmp_path, consecutive_fails=2, no_parts_s=10.0)
    alarms.check(10.0)
    assert alarms.plc_code() is IDLE
    alarms.on_part("FAIL", when=11.0)
    assert alarms.plc_code() is IDLE  # a part arrived, but NO_PARTS still awaits its ack
    alarms.on_part("FAIL", when=12.0)
    assert alarms.plc_code() is FAILS  # higher priority
    assert [s.code for s in alarms.active()] == [FAILS, IDLE]
    alarms.acknowledge(FAILS, Role.OPERATOR)
    assert alarms.plc_code() is FAILS  # acknowledged, but its condition is still there
    alarms.on_part("PASS", when=13.0)
    assert alarms.plc_code() is IDLE
    alarms.acknowledge(IDLE, Role.OPERATOR)
    assert alarms.plc_code() is YieldAlarmCode.NONE
    assert int(YieldAlarmCode.CONSECUTIVE_FAILS) == 101


def test_unacknowledged_alarm_survives_a_restart(tmp_path: Path) -> None:
    alarms, audit = monitor(tmp_path, consecutive_fails=2)
    feed(alarms, "FAIL FAIL")
    audit.close()
    again, audit2 = monitor(tmp_path, consecutive_fails=2)
    status = again.status(FAILS)
    assert (status.state, status.raised_at) == (AlarmState.CLEARED, 2.0)
    assert "raised before the station restarted" in status.message
    again.acknowledge(FAILS, Role.OPERATOR, now=9.0)
    audit2.close()
    third, _ = monitor(tmp_path, consecutive_fails=2)
    assert third.active() == []


def test_limits_change_needs_the_engineer_and_is_audited(tmp_path: Path) -> None:
    alarms, audit = monitor(tmp_path, min_yield_pct=50.0, yield_window=4)
    feed(alarms, "PASS PASS FAIL FAIL")
    new = AlarmLimits(**{**OFF, "min_yield_pct": 60.0, "yield_window": 4})  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        alarms.set_limits(new, Role.OPERATOR)
    [raised] = alarms.set_limits(new, Role.ENGINEER, reason="tighter", now=9.0)
    assert raised.code is YIELD
    row = audit.query(action="set_alarm_limits")[0]
    assert row.role == "engineer" and "60.0" in (row.new or "") and "50.0" in (row.old or "")


def test_limits_from_a_recipe_name_the_field() -> None:
    assert AlarmLimits.from_mapping({"consecutive_fails": 3}, "r.json").consecutive_fails == 3
    with pytest.raises(ValueError, match="r.json: unknown alarm limit"):
        AlarmLimits.from_mapping({"fails": 3}, "r.json")
    with pytest.raises(ValueError, match="r.json: min_yield_pct must be in"):
        AlarmLimits.from_mapping({"min_yield_pct": 120}, "r.json")
    with pytest.raises(ValueError, match="verdict"):
        YieldAlarms(AlarmLimits()).on_part("OK")
