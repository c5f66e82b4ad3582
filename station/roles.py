"""Who may do what at the station: roles, the one permission table, unlocking and auto-lock.

The station starts as ``Role.OPERATOR``: it inspects, shows and exports, and acknowledges
alarms. Changing what decides a verdict or what is kept (thresholds, models, save policy,
counters, training data, recipes, alarm limits) needs the engineer (or admin) role, unlocked
with a PIN (``station.pins``) and locked again after idle minutes. ``may(role, action)`` is the
only rule: the window, a PLC link and a remote client all ask it.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Concatenate, ParamSpec, TypeVar

from station.audit import SYSTEM, AuditTrail
from station.pins import NoPinSet, PinStore

log = logging.getLogger(__name__)
_P = ParamSpec("_P")
_T = TypeVar("_T")


class Role(IntEnum):
    """Roles in rising order: a role may do everything the roles below it may."""

    OPERATOR = 0
    ENGINEER = 1
    ADMIN = 2

    def __str__(self) -> str:
        return self.name.lower()


class Action(StrEnum):
    """Everything the station gates; the value is also the audit trail's action name."""

    INSPECT = "inspect"
    CHANGE_SOURCE = "change_source"
    EXPORT_LOG = "export_log"
    ACK_ALARM = "acknowledge_alarm"
    SET_THRESHOLD = "set_threshold"
    SAVE_THRESHOLD = "save_threshold_to_model"
    CHANGE_MODEL = "change_model"
    RETRAIN = "retrain"
    LABEL_PART = "label_part"
    SET_SAVE_POLICY = "set_save_policy"
    RESET_COUNTERS = "reset_counters"
    CHANGE_SHIFT = "change_shift"
    SET_LOT = "set_lot"
    SELECT_RECIPE = "select_recipe"
    SET_ALARM_LIMITS = "set_alarm_limits"
    SET_PIN = "set_pin"


REQUIRED: dict[Action, Role] = {
    Action.INSPECT: Role.OPERATOR,
    Action.CHANGE_SOURCE: Role.OPERATOR,
    Action.EXPORT_LOG: Role.OPERATOR,
    Action.ACK_ALARM: Role.OPERATOR,
    Action.SET_THRESHOLD: Role.ENGINEER,
    Action.SAVE_THRESHOLD: Role.ENGINEER,
    Action.CHANGE_MODEL: Role.ENGINEER,  # load, promote, roll back
    Action.RETRAIN: Role.ENGINEER,
    Action.LABEL_PART: Role.ENGINEER,  # a label puts the part into the next training set
    Action.SET_SAVE_POLICY: Role.ENGINEER,
    Action.RESET_COUNTERS: Role.ENGINEER,
    Action.CHANGE_SHIFT: Role.ENGINEER,  # it restarts the counters, like a reset
    Action.SET_LOT: Role.ENGINEER,
    Action.SELECT_RECIPE: Role.ENGINEER,
    Action.SET_ALARM_LIMITS: Role.ENGINEER,
    Action.SET_PIN: Role.ENGINEER,  # and only for a role no higher than one's own
}
"""The least role each action needs. Every ``Action`` is listed (a test checks)."""


class AccessError(Exception):
    """Base of the refusals below; the message is meant for the person at the station."""


class PermissionDenied(AccessError):
    """The current role may not do this action."""


class UnlockRefused(AccessError):
    """A wrong PIN, or a PIN tried too soon after wrong ones.

    Attributes:
        retry_after_s: seconds until the next attempt is checked (0: now).
    """

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def may(role: Role, action: Action) -> bool:
    """Whether ``role`` may do ``action`` (the station's one permission rule)."""
    return role >= REQUIRED[action]


def require(role: Role, action: Action) -> None:
    """Raise PermissionDenied unless ``role`` may do ``action``."""
    if not may(role, action):
        need = REQUIRED[action]
        raise PermissionDenied(f"{action.value} needs the {need} role; the station is {role}")


@dataclass(frozen=True)
class LockPolicy:
    """When an unlocked station locks again, and how wrong PINs slow down guessing.

    Attributes:
        idle_minutes: back to operator after this long without ``touch`` (exactly then).
        free_attempts: wrong PINs allowed before any wait.
        first_delay_s: wait after the ``free_attempts``-th wrong PIN, doubled at each next.
        max_delay_s: the wait never grows beyond this.
    """

    idle_minutes: float = 10.0
    free_attempts: int = 3
    first_delay_s: float = 5.0
    max_delay_s: float = 300.0

    def __post_init__(self) -> None:
        if not self.idle_minutes > 0:
            raise ValueError(f"idle_minutes must be > 0, not {self.idle_minutes!r}")
        if self.free_attempts < 1:
            raise ValueError(f"free_attempts must be >= 1, not {self.free_attempts!r}")
        if not 0 <= self.first_delay_s <= self.max_delay_s:
            raise ValueError("need 0 <= first_delay_s <= max_delay_s")

    def delay_after(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive wrong PINs."""
        if failures < self.free_attempts:
            return 0.0
        return min(self.max_delay_s, self.first_delay_s * 2.0 ** (failures - self.free_attempts))


def _locked(
    method: Callable[Concatenate[AccessControl, _P], _T],
) -> Callable[Concatenate[AccessControl, _P], _T]:
    @functools.wraps(method)
    def run(self: AccessControl, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with self._lock:
            return method(self, *args, **kwargs)

    return run


class AccessControl:
    """The station's current role: unlock with a PIN, lock by hand or when idle.

    Safe to share between threads (the window and a line link ask the same object).

    Args:
        pins: where the PIN hashes are kept.
        policy: idle lock and wrong-PIN back-off.
        audit: where unlocks, locks and wrong PINs are recorded (None: logging only).
        clock: epoch seconds now; injected by tests.
    """

    def __init__(
        self,
        pins: PinStore,
        policy: LockPolicy | None = None,
        audit: AuditTrail | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pins = pins
        self.policy = policy or LockPolicy()
        self._audit = audit
        self._clock = clock
        self._role = Role.OPERATOR
        self._last_touch = clock()
        self._failures = 0
        self._blocked_until = float("-inf")
        self._lock = threading.RLock()

    @_locked
    def current_role(self, now: float | None = None) -> Role:
        """The role now; an unlocked role idle for ``idle_minutes`` locks here."""
        now = self._now(now)
        idle_s = self.policy.idle_minutes * 60.0
        if self._role > Role.OPERATOR and now - self._last_touch >= idle_s:
            reason = f"idle {self.policy.idle_minutes:g} min"
            self._record(SYSTEM, "lock", now, old=self._role, new=Role.OPERATOR, reason=reason)
            self._role = Role.OPERATOR
        return self._role

    @_locked
    def touch(self, now: float | None = None) -> None:
        """The person did something: restart the idle time (an expired role stays locked)."""
        now = self._now(now)
        self.current_role(now)
        self._last_touch = now

    def may(self, action: Action, now: float | None = None) -> bool:
        """Whether the current role may do ``action``."""
        return may(self.current_role(now), action)

    @_locked
    def require(self, action: Action, now: float | None = None) -> Role:
        """The current role, after checking it may do ``action`` (and counting it as activity).

        Raises:
            PermissionDenied: it may not.
        """
        now = self._now(now)
        role = self.current_role(now)
        require(role, action)
        self.touch(now)
        return role

    @_locked
    def unlock(self, pin: str, now: float | None = None) -> Role:
        """Unlock the highest role whose PIN this is.

        Raises:
            NoPinSet: no PIN is set yet (see ``station.pins``).
            UnlockRefused: wrong PIN, or tried before ``retry_after_s`` passed; both logged.
        """
        now = self._now(now)
        if now < self._blocked_until:
            wait = self._blocked_until - now
            log.warning("PIN attempt refused: %.0f s left after wrong PINs", wait)
            raise UnlockRefused(f"too many wrong PINs; try again in {wait:.0f} s", wait)
        candidates = [r for r in (Role.ADMIN, Role.ENGINEER) if self.pins.is_set(str(r))]
        if not candidates:
            raise NoPinSet(f"{self.pins.path}: no PIN is set; {self.pins.how_to_set()}")
        for role in candidates:
            if self.pins.check(str(role), pin):
                self._failures = 0
                self._blocked_until = float("-inf")
                self._record(role, "unlock", now, old=self._role, new=role)
                self._role, self._last_touch = role, now
                return role
        self._failures += 1
        wait = self.policy.delay_after(self._failures)
        self._blocked_until = now + wait
        log.warning("wrong PIN (%d in a row); next attempt in %.0f s", self._failures, wait)
        reason = f"wrong PIN, {self._failures} in a row"
        self._record(SYSTEM, "unlock_failed", now, reason=reason)
        raise UnlockRefused("wrong PIN" + (f"; try again in {wait:.0f} s" if wait else ""), wait)

    @_locked
    def lock(self, now: float | None = None) -> None:
        """Back to operator now."""
        now = self._now(now)
        if self._role > Role.OPERATOR:
            self._record(self._role, "lock", now, old=self._role, new=Role.OPERATOR)
        self._role = Role.OPERATOR

    def needs_first_pin(self) -> bool:
        """True until any PIN is set: the window then offers to set the engineer PIN."""
        return not any(self.pins.is_set(str(r)) for r in (Role.ENGINEER, Role.ADMIN))

    @_locked
    def set_pin(self, role: Role, pin: str, now: float | None = None) -> None:
        """Set ``role``'s PIN from the station; audited, the PIN itself never recorded.

        On first run (``needs_first_pin``) anyone at the station may set the first one: who
        installs the station is its engineer. Afterwards it needs ``Action.SET_PIN`` and a
        role at least as high as ``role``.

        Raises:
            PermissionDenied: the current role may not set this PIN.
            ValueError: the PIN is too short, or ``role`` has no PIN.
        """
        now = self._now(now)
        first = self.needs_first_pin()
        who = self.current_role(now)
        if not first:
            require(who, Action.SET_PIN)
            if role > who:
                raise PermissionDenied(f"setting the {role} PIN needs the {role} role")
        was_set = self.pins.is_set(str(role))
        self.pins.set_pin(str(role), pin)
        reason = "first PIN of this station" if first else ""
        old = "set" if was_set else None
        self._record(who, Action.SET_PIN, now, subject=str(role), old=old, new="set", reason=reason)
        self.touch(now)

    @_locked
    def retry_after(self, now: float | None = None) -> float:
        """Seconds until a PIN attempt is checked again (0: now)."""
        return max(0.0, self._blocked_until - self._now(now))

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else float(now)

    def _record(self, who: object, what: str, now: float, **fields: Any) -> None:
        if self._audit is not None:
            self._audit.record(who, what, when=now, **fields)
