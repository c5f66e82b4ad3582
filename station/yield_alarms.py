"""Production alarms: FAILs in a row, low yield over the last parts, no parts for a while.

Each alarm follows the usual annunciator sequence (ISA-18.2): it is raised once when its
condition becomes true (``ACTIVE``), stays until a person acknowledges it
(``ACKNOWLEDGED``) and its condition is gone; a condition that goes away first leaves it
``CLEARED`` until acknowledged. Raising, acknowledging (who, when) and clearing are audit rows.
An alarm raised but not acknowledged before a restart comes back as ``CLEARED``.

``YieldAlarmCode`` is what a PLC's ``Alarm`` register and the window's banner read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum

from station.audit import SYSTEM, AuditTrail
from station.roles import Action, Role, require
from station.yield_limits import AlarmLimits

log = logging.getLogger(__name__)
RAISED, CLEARED_ACTION = "alarm_raised", "alarm_cleared"


class YieldAlarmCode(IntEnum):
    """Codes of the production alarms on a PLC's ``Alarm`` signal; 0 means none.

    101-199 are production alarms; the line's own alarms (``station.alarms``) use 1-99 and
    win when both are active. Among these the order is the priority.
    """

    NONE = 0
    CONSECUTIVE_FAILS = 101
    LOW_YIELD = 102
    NO_PARTS = 103


class AlarmState(StrEnum):
    """Where an alarm is in its sequence."""

    NORMAL = "normal"  # condition absent, nothing to acknowledge
    ACTIVE = "active"  # condition present, not acknowledged
    ACKNOWLEDGED = "acknowledged"  # condition present, acknowledged
    CLEARED = "cleared"  # condition gone, still to be acknowledged


@dataclass(frozen=True)
class AlarmStatus:
    """One alarm as the banner and the PLC see it.

    Attributes:
        code: which alarm.
        state: where it is in its sequence.
        message: what happened, for a person ('' when NORMAL).
        raised_at: when it was raised (None when NORMAL).
        acknowledged_by: the role that acknowledged it ('' if not yet).
        acknowledged_at: when (None if not yet).
    """

    code: YieldAlarmCode
    state: AlarmState = AlarmState.NORMAL
    message: str = ""
    raised_at: float | None = None
    acknowledged_by: str = ""
    acknowledged_at: float | None = None


_CODES = (YieldAlarmCode.CONSECUTIVE_FAILS, YieldAlarmCode.LOW_YIELD, YieldAlarmCode.NO_PARTS)


class YieldAlarms:
    """The production alarms of one station; safe to call from several threads.

    Feed it every part (``on_part``) and call ``check`` on a timer (about once a second) so
    the no-parts alarm fires without parts. Both return the alarms whose status changed.

    Args:
        limits: when to raise.
        audit: where raise, acknowledge and clear are recorded (None: logging only).
        clock: epoch seconds now; injected by tests.
    """

    def __init__(
        self,
        limits: AlarmLimits | None = None,
        audit: AuditTrail | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits or AlarmLimits()
        self._audit = audit
        self._clock = clock
        self._lock = threading.Lock()
        self._status = {code: AlarmStatus(code) for code in _CODES}
        self._fails_in_a_row = 0
        self._window: deque[bool] = deque(maxlen=self.limits.yield_window)
        self._last_part = clock()
        self._running = True
        self._restore()

    def on_part(self, verdict: str, when: float | None = None) -> list[AlarmStatus]:
        """Count one part's verdict (PASS, FAIL or ERROR) and update every alarm."""
        if verdict not in ("PASS", "FAIL", "ERROR"):
            raise ValueError(f"verdict must be PASS, FAIL or ERROR, not {verdict!r}")
        when = self._now(when)
        with self._lock:
            self._last_part = when
            if verdict != "ERROR":
                self._fails_in_a_row = self._fails_in_a_row + 1 if verdict == "FAIL" else 0
                self._window.append(verdict == "PASS")
            return self._evaluate(when)

    def check(self, now: float | None = None) -> list[AlarmStatus]:
        """Update the time-based alarm (no parts); call it on a timer."""
        now = self._now(now)
        with self._lock:
            return self._evaluate(now)

    def pause(self, now: float | None = None) -> list[AlarmStatus]:
        """Inspection stopped on purpose: no parts is no alarm until ``resume``."""
        with self._lock:
            self._running = False
            return self._evaluate(self._now(now))

    def resume(self, now: float | None = None) -> None:
        """Inspection runs again; the no-parts time starts now."""
        with self._lock:
            self._running, self._last_part = True, self._now(now)

    def acknowledge(
        self, code: YieldAlarmCode, role: Role, reason: str = "", now: float | None = None
    ) -> AlarmStatus:
        """Acknowledge one alarm; audited with who and when. No-op if nothing to acknowledge.

        Raises:
            PermissionDenied: ``role`` may not acknowledge alarms.
        """
        require(role, Action.ACK_ALARM)
        if code not in self._status:
            raise ValueError(f"{code!r} is not an alarm that can be acknowledged")
        now = self._now(now)
        with self._lock:
            old = self._status[code]
            if old.state is AlarmState.ACTIVE:
                new = replace(
                    old,
                    state=AlarmState.ACKNOWLEDGED,
                    acknowledged_by=str(role),
                    acknowledged_at=now,
                )
            elif old.state is AlarmState.CLEARED:
                new = AlarmStatus(code)  # acknowledged and gone: back to normal
            else:
                return old
            self._status[code] = new
            self._record(role, Action.ACK_ALARM, code, old.state, new.state, reason, now)
            log.info("alarm %s acknowledged by %s", code.name, role)
            return new

    def acknowledge_all(self, role: Role, now: float | None = None) -> list[AlarmStatus]:
        """Acknowledge every alarm that waits for it; the changed ones."""
        waiting = [
            s.code for s in self.alarms() if s.state in (AlarmState.ACTIVE, AlarmState.CLEARED)
        ]
        return [self.acknowledge(code, role, now=now) for code in waiting]

    def set_limits(
        self, limits: AlarmLimits, role: Role, reason: str = "", now: float | None = None
    ) -> list[AlarmStatus]:
        """Change the limits (audited, old -> new) and re-evaluate the alarms now."""
        require(role, Action.SET_ALARM_LIMITS)
        now = self._now(now)
        with self._lock:
            old, self.limits = self.limits, limits
            self._window = deque(self._window, maxlen=limits.yield_window)
            if self._audit is not None:
                self._audit.record(
                    role,
                    Action.SET_ALARM_LIMITS,
                    subject="alarm limits",
                    old=old,
                    new=limits,
                    reason=reason,
                    when=now,
                )
            return self._evaluate(now)

    def status(self, code: YieldAlarmCode) -> AlarmStatus:
        """The status of one alarm."""
        with self._lock:
            return self._status[code]

    def alarms(self) -> list[AlarmStatus]:
        """Every alarm's status, in priority order."""
        with self._lock:
            return [self._status[code] for code in _CODES]

    def active(self) -> list[AlarmStatus]:
        """The alarms the banner shows: every one not NORMAL, in priority order."""
        return [s for s in self.alarms() if s.state is not AlarmState.NORMAL]

    def plc_code(self) -> YieldAlarmCode:
        """The code for a PLC's ``Alarm`` register: the first alarm not NORMAL, or NONE."""
        shown = self.active()
        return shown[0].code if shown else YieldAlarmCode.NONE

    def _evaluate(self, now: float) -> list[AlarmStatus]:
        lim = self.limits
        window = self._window
        passes = sum(window)
        yield_pct = 100.0 * passes / len(window) if window else 100.0
        idle = now - self._last_part
        conditions = {
            YieldAlarmCode.CONSECUTIVE_FAILS: (
                lim.consecutive_fails is not None and self._fails_in_a_row >= lim.consecutive_fails,
                f"{self._fails_in_a_row} FAILs in a row (limit {lim.consecutive_fails})",
            ),
            YieldAlarmCode.LOW_YIELD: (
                lim.min_yield_pct is not None
                and len(window) == lim.yield_window
                and yield_pct < lim.min_yield_pct,
                f"yield {yield_pct:.1f} % over the last {len(window)} parts "
                f"(limit {_g(lim.min_yield_pct)} %)",
            ),
            YieldAlarmCode.NO_PARTS: (
                lim.no_parts_s is not None and self._running and idle >= lim.no_parts_s,
                f"no part for {idle:.0f} s (limit {_g(lim.no_parts_s)} s)",
            ),
        }
        changed = []
        for code, (present, message) in conditions.items():
            status = self._transition(self._status[code], present, message, now)
            if status is not None:
                self._status[code] = status
                changed.append(status)
        return changed

    def _transition(
        self, old: AlarmStatus, present: bool, message: str, now: float
    ) -> AlarmStatus | None:
        code, state = old.code, old.state
        if present and state is AlarmState.NORMAL:
            log.warning("alarm %s raised: %s", code.name, message)
            self._record(SYSTEM, RAISED, code, None, message, "", now)
            return AlarmStatus(code, AlarmState.ACTIVE, message, now)
        if present and state is AlarmState.CLEARED:
            return replace(old, state=AlarmState.ACTIVE, message=message)  # same occurrence
        if not present and state in (AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED):
            log.info("alarm %s cleared", code.name)
            self._record(SYSTEM, CLEARED_ACTION, code, state, None, "", now)
            if state is AlarmState.ACKNOWLEDGED:
                return AlarmStatus(code)
            return replace(old, state=AlarmState.CLEARED)
        return None

    def _record(
        self,
        who: object,
        what: str,
        code: YieldAlarmCode,
        old: object,
        new: object,
        reason: str,
        now: float,
    ) -> None:
        if self._audit is not None:
            self._audit.record(
                who, what, subject=_subject(code), old=old, new=new, reason=reason, when=now
            )

    def _restore(self) -> None:
        if self._audit is None:
            return
        for code in _CODES:
            for row in self._audit.query(subject=_subject(code), limit=20):
                if row.action == Action.ACK_ALARM:
                    break
                if row.action == RAISED:
                    message = f"{row.new} (raised before the station restarted)"
                    self._status[code] = AlarmStatus(
                        code, AlarmState.CLEARED, message, row.timestamp
                    )
                    break

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else float(now)


def _subject(code: YieldAlarmCode) -> str:
    return f"alarm {int(code)} {code.name.lower()}"


def _g(value: float | None) -> str:
    return "off" if value is None else f"{value:g}"
