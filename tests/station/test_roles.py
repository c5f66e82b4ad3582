"""Roles: the permission table, PIN unlock with back-off, idle auto-lock, the PIN file and CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from station.audit import SYSTEM, AuditTrail
from station.pins import PinFileError, PinStore, main
from station.roles import (
    REQUIRED,
    AccessControl,
    Action,
    LockPolicy,
    NoPinSet,
    PermissionDenied,
    Role,
    UnlockRefused,
    may,
    require,
)

ROOT = Path(__file__).resolve().parents[2]
GUARDED = [
    Action.SET_THRESHOLD,
    Action.SAVE_THRESHOLD,
    Action.CHANGE_MODEL,
    Action.SET_SAVE_POLICY,
    Action.RESET_COUNTERS,
    Action.LABEL_PART,
    Action.RETRAIN,
]


def test_every_action_has_a_rule_and_operators_only_inspect_and_acknowledge() -> None:
    assert set(REQUIRED) == set(Action)
    for action in GUARDED:
        assert not may(Role.OPERATOR, action)
        assert may(Role.ENGINEER, action) and may(Role.ADMIN, action)
        with pytest.raises(PermissionDenied, match=f"{action.value} needs the engineer role"):
            require(Role.OPERATOR, action)
    assert may(Role.OPERATOR, Action.ACK_ALARM) and may(Role.OPERATOR, Action.INSPECT)


@pytest.fixture
def station(tmp_path: Path) -> tuple[AccessControl, AuditTrail]:
    pins = PinStore.in_workspace(tmp_path)
    pins.set_pin("engineer", "2468")
    pins.set_pin("admin", "97531")
    audit = AuditTrail(tmp_path / "inspections.sqlite")
    return AccessControl(pins, LockPolicy(idle_minutes=5), audit, clock=lambda: 0.0), audit


def test_unlock_picks_the_role_of_the_pin_and_locks_again(station) -> None:
    access, audit = station
    assert access.current_role(0.0) is Role.OPERATOR
    assert not access.may(Action.SET_THRESHOLD, 0.0)
    assert access.unlock("2468", now=1.0) is Role.ENGINEER
    assert access.require(Action.SET_THRESHOLD, now=2.0) is Role.ENGINEER
    access.lock(now=3.0)
    assert access.current_role(3.0) is Role.OPERATOR
    assert access.unlock("97531", now=4.0) is Role.ADMIN
    rows = [(r.role, r.action, r.old, r.new) for r in reversed(audit.query())]
    assert rows == [
        ("engineer", "unlock", "operator", "engineer"),
        ("engineer", "lock", "engineer", "operator"),
        ("admin", "unlock", "operator", "admin"),
    ]


def test_idle_lock_happens_exactly_at_the_limit_and_touch_postpones_it(station) -> None:
    access, audit = station
    access.unlock("2468", now=0.0)
    assert access.current_role(299.999) is Role.ENGINEER
    access.touch(200.0)
    assert access.current_role(499.999) is Role.ENGINEER
    assert access.current_role(500.0) is Role.OPERATOR
    # A touch after expiry does not bring the role back.
    access.touch(501.0)
    assert access.current_role(501.0) is Role.OPERATOR
    with pytest.raises(PermissionDenied):
        access.require(Action.RESET_COUNTERS, now=502.0)
    lock = audit.query(action="lock")[0]
    assert (lock.role, lock.old, lock.new, lock.timestamp) == (
        SYSTEM,
        "engineer",
        "operator",
        500.0,
    )


def test_wrong_pins_back_off_and_are_logged(station, caplog) -> None:
    access, audit = station
    for t in (0.0, 1.0):
        with pytest.raises(UnlockRefused) as info:
            access.unlock("0000", now=t)
        assert info.value.retry_after_s == 0
    with pytest.raises(UnlockRefused, match="try again in 5 s"):
        access.unlock("0000", now=2.0)
    # While blocked even the right PIN is not checked.
    with pytest.raises(UnlockRefused, match="too many wrong PINs"):
        access.unlock("2468", now=6.9)
    assert access.retry_after(6.9) == pytest.approx(0.1)
    with pytest.raises(UnlockRefused, match="try again in 10 s"):
        access.unlock("1111", now=7.0)
    assert access.unlock("2468", now=17.0) is Role.ENGINEER
    assert len(audit.query(action="unlock_failed")) == 4
    assert "wrong PIN" in caplog.text
    # Success resets the count: the next wrong PIN is free again.
    with pytest.raises(UnlockRefused) as info:
        access.unlock("0000", now=18.0)
    assert info.value.retry_after_s == 0


def test_back_off_doubles_up_to_the_maximum() -> None:
    policy = LockPolicy(free_attempts=3, first_delay_s=5, max_delay_s=60)
    assert [policy.delay_after(n) for n in range(1, 8)] == [0, 0, 5, 10, 20, 40, 60]
    with pytest.raises(ValueError, match="idle_minutes"):
        LockPolicy(idle_minutes=0)


def test_first_run_without_a_pin_says_how_to_set_one(tmp_path: Path) -> None:
    access = AccessControl(PinStore.in_workspace(tmp_path))
    with pytest.raises(NoPinSet, match="python -m station.pins set --workspace"):
        access.unlock("1234")
    assert access.current_role() is Role.OPERATOR


def test_pin_file_keeps_only_salted_hashes(tmp_path: Path) -> None:
    store = PinStore.in_workspace(tmp_path)
    store.set_pin("engineer", "2468")
    store2 = PinStore(tmp_path / "other.json")
    store2.set_pin("engineer", "2468")
    text = store.path.read_text()
    assert "2468" not in text
    entry = json.loads(text)["pins"]["engineer"]
    assert entry["salt"] != json.loads(store2.path.read_text())["pins"]["engineer"]["salt"]
    assert os.stat(store.path).st_mode & 0o777 == 0o600
    assert store.check("engineer", "2468") and not store.check("engineer", "2469")
    assert not store.check("admin", "2468")
    assert not list(tmp_path.glob(".*tmp"))
    with pytest.raises(ValueError, match="at least 4"):
        store.set_pin("engineer", "12")
    with pytest.raises(ValueError, match="only engineer, admin"):
        store.set_pin("operator", "1234")
    assert store.clear("engineer") and not store.is_set("engineer")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "unreadable"),
        ('{"schema_version": 1, "pins": []}', "'pins' object"),
        ('{"schema_version": 7, "pins": {}}', "schema_version 7"),
        ('{"schema_version": 1, "pins": {"boss": {}}}', "pins.boss: unknown role"),
        (
            '{"schema_version": 1, "pins": {"engineer": {"kdf": "scrypt", "n": 2, "r": 8, '
            '"p": 1, "salt": "zz", "hash": "00"}}}',
            "pins.engineer.salt: expected hexadecimal",
        ),
    ],
)
def test_bad_pin_files_name_the_file_and_field(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "access.json"
    path.write_text(content)
    with pytest.raises(PinFileError, match=message):
        PinStore(path).is_set("engineer")


def test_command_line_sets_and_clears_a_pin_and_audits_it(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "station.pins", "set", "--workspace", str(tmp_path), "--stdin"]
    out = subprocess.run(cmd, input="8642\n8642\n", capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert PinStore.in_workspace(tmp_path).check("engineer", "8642")
    differ = subprocess.run(cmd, input="1111\n2222\n", capture_output=True, text=True, env=env)
    assert differ.returncode == 1 and "differ" in differ.stderr
    assert PinStore.in_workspace(tmp_path).check("engineer", "8642")
    answers = iter(["97531", "97531"])
    assert (
        main(["set", "--workspace", str(tmp_path), "--role", "admin"], read=lambda _: next(answers))
        == 0
    )
    assert main(["clear", "--workspace", str(tmp_path), "--role", "engineer"]) == 0
    assert not PinStore.in_workspace(tmp_path).is_set("engineer")
    with AuditTrail(tmp_path / "inspections.sqlite") as audit:
        rows = [(r.action, r.subject) for r in reversed(audit.query())]
    assert rows == [("set_pin", "engineer"), ("set_pin", "admin"), ("clear_pin", "engineer")]


def test_first_pin_is_free_later_ones_need_the_role(tmp_path: Path) -> None:
    audit = AuditTrail(tmp_path / "inspections.sqlite")
    access = AccessControl(PinStore.in_workspace(tmp_path), audit=audit, clock=lambda: 0.0)
    assert access.needs_first_pin()
    access.set_pin(Role.ENGINEER, "2468", now=1.0)
    assert not access.needs_first_pin()
    with pytest.raises(PermissionDenied, match="set_pin needs the engineer role"):
        access.set_pin(Role.ENGINEER, "1357", now=2.0)
    access.unlock("2468", now=3.0)
    with pytest.raises(PermissionDenied, match="admin PIN needs the admin role"):
        access.set_pin(Role.ADMIN, "1357", now=4.0)
    access.set_pin(Role.ENGINEER, "1357", now=5.0)
    assert access.pins.check("engineer", "1357")
    rows = [(r.role, r.subject, r.old, r.new, r.reason) for r in audit.query(action="set_pin")]
    assert rows == [
        ("engineer", "engineer", "set", "set", ""),
        ("operator", "engineer", None, "set", "first PIN of this station"),
    ]
    assert "1357" not in str(audit.query()) and "2468" not in str(audit.query())
