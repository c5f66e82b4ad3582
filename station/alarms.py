"""Alarm codes a station reports to the line (the PLC's ``Alarm`` signal) and to its log.

One table, so the PLC programmer, the docs and the code read the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum


class AlarmCode(IntEnum):
    """Codes on the ``Alarm`` signal; 0 means no alarm. Lower codes win when several are active."""

    NONE = 0
    PLC_LOST = 1  # the PLC heartbeat stopped changing
    CAMERA = 2  # the camera is gone (closed, unplugged); parts get ERROR until it is back
    NO_FRAME = 3  # no frame arrived in time after a trigger; that part got ERROR
    INSPECTION = 4  # the model failed on a frame; that part got ERROR
    UNKNOWN_RECIPE = 5  # RecipeIndex names no recipe; the old one stays, not Ready
    TRIGGER_REFUSED = 6  # a trigger arrived while Busy, awaiting an ack, or not Ready
    NO_ACK = 7  # the PLC did not acknowledge a result in time; the result was withdrawn
    DRIFT = 8  # image statistics or good-part scores drifted from calibration
    STORAGE = 9  # an image could not be kept (disk full); inspection goes on


# Alarms that describe a lasting condition clear when the condition ends; the others are events
# that stay latched until a part is inspected and acknowledged cleanly again.
CONDITIONS = frozenset(
    {AlarmCode.PLC_LOST, AlarmCode.CAMERA, AlarmCode.UNKNOWN_RECIPE, AlarmCode.DRIFT}
)


@dataclass(frozen=True)
class AlarmEvent:
    """One raised or cleared alarm, as the log and the station see it.

    Attributes:
        code: the alarm.
        active: True when raised, False when cleared.
        message: what happened, in words for the operator (names the part where there is one).
        time: `time.time()` of the event.
    """

    code: AlarmCode
    active: bool
    message: str
    time: float = field(default_factory=time.time)


AlarmSink = Callable[[AlarmEvent], None]


class AlarmSet:
    """The active alarms; ``code`` is what the ``Alarm`` signal shows (the lowest active code)."""

    def __init__(self, sink: AlarmSink | None = None) -> None:
        self._active: dict[AlarmCode, str] = {}
        self._sink = sink

    @property
    def code(self) -> AlarmCode:
        return min(self._active, default=AlarmCode.NONE)

    @property
    def active(self) -> dict[AlarmCode, str]:
        return dict(self._active)

    def raise_(self, code: AlarmCode, message: str) -> bool:
        """Raise (or re-raise with a new message); every raise reaches the sink. True if new."""
        new = code not in self._active
        self._active[code] = message
        if self._sink is not None:
            self._sink(AlarmEvent(code, True, message))
        return new

    def clear(self, code: AlarmCode, message: str = "") -> bool:
        """Clear one alarm; True when it was active."""
        if self._active.pop(code, None) is None:
            return False
        if self._sink is not None:
            self._sink(AlarmEvent(code, False, message or f"{code.name} cleared"))
        return True

    def clear_events(self) -> None:
        """Clear the latched event alarms (after a clean, acknowledged part)."""
        for code in [c for c in self._active if c not in CONDITIONS]:
            self.clear(code)
