"""The handshake's signals and the small interface every transport implements."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

SignalValue = bool | int | float | str


class LineVerdict(IntEnum):
    """The ``Verdict`` signal: 0 until a result is ready."""

    NONE = 0
    OK = 1
    NG = 2
    ERROR = 3


@dataclass(frozen=True)
class Signal:
    """One handshake signal.

    Attributes:
        name: the name every transport uses (OPC UA browse name; Modbus map key).
        kind: "bool", "int" (16-bit unsigned on Modbus), "float" or "str".
        from_plc: True when the PLC writes it and the station only reads it.
        doc: what it means, for the docs and the node description.
    """

    name: str
    kind: str
    from_plc: bool
    doc: str


SIGNALS: tuple[Signal, ...] = (
    Signal("Trigger", "bool", True, "rising edge: a part is in front of the camera"),
    Signal("PartId", "str", True, "serial of the part; written before Trigger, kept in the record"),
    Signal("RecipeIndex", "int", True, "recipe to use from the next part on (1, 2, ...)"),
    Signal("ResultAck", "bool", True, "rising edge: the PLC has read Verdict and Score"),
    Signal("PlcHeartbeat", "int", True, "the PLC changes it at least every watchdog period"),
    Signal("Ready", "bool", False, "the station accepts a trigger"),
    Signal("Busy", "bool", False, "a part is being grabbed and judged"),
    Signal("ResultReady", "bool", False, "Verdict and Score are valid until the ack"),
    Signal("Verdict", "int", False, "0 none, 1 OK, 2 NG, 3 ERROR"),
    Signal("Score", "float", False, "normalised score, 0.5 at the threshold"),
    Signal("Alarm", "int", False, "active alarm code, 0 none (station.alarms.AlarmCode)"),
    Signal("ActiveRecipe", "int", False, "index of the recipe in use, 0 none"),
    Signal("Heartbeat", "int", False, "the station increments it every heartbeat period"),
)
BY_NAME: dict[str, Signal] = {s.name: s for s in SIGNALS}
PART_ID_CHARS = 32  # longest part id a fixed-size transport (Modbus) carries


def default_value(signal: Signal) -> SignalValue:
    defaults: dict[str, SignalValue] = {"bool": False, "int": 0, "float": 0.0, "str": ""}
    return defaults[signal.kind]


ChangeCallback = Callable[[str, SignalValue], None]


class Transport(Protocol):
    """A link to the PLC carrying `SIGNALS` (OPC UA, Modbus TCP; digital I/O would fit).

    All methods run on the handshake's asyncio loop. `on_change` is called on that loop for
    every write the PLC makes to a PLC-side signal, in the order the writes arrived.
    """

    async def start(self, on_change: ChangeCallback) -> None:
        """Open the link (bind a server or connect to the PLC's); raises OSError on failure."""

    async def stop(self) -> None:
        """Close the link; idempotent."""

    async def read(self, name: str) -> SignalValue:
        """Current value of any signal."""

    async def write(self, values: Mapping[str, SignalValue]) -> None:
        """Set station-side signals, in the order given (Verdict before ResultReady)."""


def check_station_signals(values: Mapping[str, SignalValue]) -> None:
    """Raise ValueError when a write names an unknown or PLC-side signal."""
    for name in values:
        signal = BY_NAME.get(name)
        if signal is None or signal.from_plc:
            raise ValueError(f"{name!r} is not a station-side handshake signal")
