"""Modbus TCP transport (pymodbus server): the handshake on coils and registers.

The station is the Modbus server (slave); the PLC polls it. PLC-side signals live in the
tables the PLC may write (coils, holding registers), station-side ones in the read-only tables
(discrete inputs, input registers), so a PLC program cannot overwrite a verdict by mistake.
Addresses are 0-based protocol addresses (add 1 for "coil 00001"-style numbering):

| table | address | signal | encoding |
|---|---|---|---|
| coil | 0 | Trigger | rising edge starts a part |
| coil | 1 | ResultAck | rising edge acknowledges the result |
| holding register | 0 | RecipeIndex | uint16 |
| holding register | 1 | PlcHeartbeat | uint16, change it at least every watchdog period |
| holding register | 2-17 | PartId | 32 UTF-8 bytes, 2 a register, high byte first, NUL padded |
| discrete input | 0 | Ready | |
| discrete input | 1 | Busy | |
| discrete input | 2 | ResultReady | |
| input register | 0 | Verdict | 0 none, 1 OK, 2 NG, 3 ERROR |
| input register | 1 | Alarm | alarm code, 0 none |
| input register | 2 | ActiveRecipe | uint16 |
| input register | 3 | Heartbeat | uint16, incremented by the station |
| input register | 4-5 | Score | IEEE-754 float32, high word first |
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from station.line.signals import PART_ID_CHARS, ChangeCallback, SignalValue, check_station_signals

log = logging.getLogger(__name__)

COIL, DISCRETE, HOLDING, INPUT = 1, 2, 3, 4  # read function codes name the tables
# signal -> (table, first address, register or bit count)
REGISTER_MAP: dict[str, tuple[int, int, int]] = {
    "Trigger": (COIL, 0, 1),
    "ResultAck": (COIL, 1, 1),
    "RecipeIndex": (HOLDING, 0, 1),
    "PlcHeartbeat": (HOLDING, 1, 1),
    "PartId": (HOLDING, 2, PART_ID_CHARS // 2),
    "Ready": (DISCRETE, 0, 1),
    "Busy": (DISCRETE, 1, 1),
    "ResultReady": (DISCRETE, 2, 1),
    "Verdict": (INPUT, 0, 1),
    "Alarm": (INPUT, 1, 1),
    "ActiveRecipe": (INPUT, 2, 1),
    "Heartbeat": (INPUT, 3, 1),
    "Score": (INPUT, 4, 2),
}
_WRITE_TABLE = {5: COIL, 15: COIL, 6: HOLDING, 16: HOLDING}  # write function code -> table


@dataclass(frozen=True)
class ModbusSettings:
    """Where the station's Modbus TCP server listens (502 is the standard port)."""

    host: str = "0.0.0.0"
    port: int = 502


def encode_text(text: str) -> list[int]:
    """PartId text -> registers; longer than PART_ID_CHARS bytes is cut."""
    raw = text.encode("utf-8", "surrogateescape")[:PART_ID_CHARS].ljust(PART_ID_CHARS, b"\0")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, PART_ID_CHARS, 2)]


def decode_text(registers: list[int]) -> str:
    raw = b"".join(int(r).to_bytes(2, "big") for r in registers)
    return raw.rstrip(b"\0").decode("utf-8", "surrogateescape")


def encode_float(value: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def decode_float(registers: list[int]) -> float:
    value: float = struct.unpack(">f", struct.pack(">HH", *registers))[0]
    return value


def _bits(size: int) -> list[SimData]:
    return [SimData(0, count=size, values=False, datatype=DataType.BITS)]


def _registers(size: int) -> list[SimData]:
    return [SimData(0, count=size, values=0, datatype=DataType.REGISTERS)]


class ModbusServerTransport:
    """The station as Modbus TCP server carrying the handshake (see the module's map)."""

    def __init__(self, settings: ModbusSettings | None = None) -> None:
        self.settings = settings or ModbusSettings()
        self.port = self.settings.port
        self._server: ModbusTcpServer | None = None
        self._on_change: ChangeCallback | None = None

    async def start(self, on_change: ChangeCallback) -> None:
        self._on_change = on_change
        device = SimDevice(
            id=0,
            simdata=(
                _bits(8),
                _bits(8),
                _registers(32),
                _registers(16),
            ),
            action=self._on_access,
        )
        server = ModbusTcpServer(device, address=(self.settings.host, self.settings.port))
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:  # pymodbus reports a taken port this way
            raise OSError(
                f"Modbus TCP: cannot listen on {self.settings.host}:{self.settings.port}: {exc}"
            ) from exc
        self._server = server
        sockets = getattr(server.transport, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]  # the port bound when 0 was asked for
        log.info("Modbus TCP server on %s:%d", self.settings.host, self.port)

    async def _on_access(
        self,
        function_code: int,
        _start: int,
        address: int,
        count: int,
        _current: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        table = _WRITE_TABLE.get(function_code)
        if set_values is None or table is None or self._on_change is None:
            return None
        written = range(address, address + len(set_values))
        for name, (t, first, size) in REGISTER_MAP.items():
            if t != table or not any(first <= a < first + size for a in written):
                continue
            if name == "PartId":
                # The registers change after this call returns; read them once they have.
                asyncio.get_running_loop().call_soon(self._notify_part_id)
            else:
                value = set_values[first - address] if first in written else None
                if value is not None:
                    self._on_change(name, bool(value) if table == COIL else int(value))
        return None

    def _notify_part_id(self) -> None:
        async def notify() -> None:
            if self._on_change is not None:
                self._on_change("PartId", await self.read("PartId"))

        asyncio.ensure_future(notify())

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()

    async def read(self, name: str) -> SignalValue:
        if self._server is None:
            raise RuntimeError("Modbus transport is not started")
        table, first, size = REGISTER_MAP[name]
        values = await self._server.context.async_getValues(0, table, first, size)
        if not isinstance(values, list):
            raise RuntimeError(f"Modbus read of {name} failed: {values}")
        if name == "PartId":
            return decode_text([int(v) for v in values])
        if name == "Score":
            return decode_float([int(v) for v in values])
        return bool(values[0]) if table in (COIL, DISCRETE) else int(values[0])

    async def write(self, values: Mapping[str, SignalValue]) -> None:
        check_station_signals(values)
        if self._server is None:
            raise RuntimeError("Modbus transport is not started")
        for name, value in values.items():
            table, first, _ = REGISTER_MAP[name]
            if name == "Score":
                regs: list[int] | list[bool] = encode_float(float(value))
            elif table == DISCRETE:
                regs = [bool(value)]
            else:
                regs = [int(value) & 0xFFFF]
            await self._server.context.async_setValues(0, table, first, regs)
