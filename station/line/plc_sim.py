"""A simulated PLC for commissioning and tests: drives a station's handshake as a PLC would.

It is a real client of the station's transport (asyncua's client for OPC UA, pymodbus's for
Modbus TCP), or, for a station in OPC UA client mode, a real asyncua server hosting the PLC's
variables, so a station can be checked end to end before the real PLC is wired::

    plc = OpcUaPlc("opc.tcp://127.0.0.1:4840/inspector/")
    await plc.connect()
    await plc.select_recipe(1)
    verdict, score = await plc.cycle("SN-0001")
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

from asyncua import Client, Server, ua
from pymodbus.client import AsyncModbusTcpClient

from station.line.modbus import (
    COIL,
    DISCRETE,
    HOLDING,
    REGISTER_MAP,
    decode_float,
    decode_text,
    encode_text,
)
from station.line.opcua import OBJECT_NAME, node_id, variant
from station.line.signals import SIGNALS, SignalValue, default_value

POLL_S = 0.002  # how often a waiting PLC reads a signal again


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on `host`, for a station server on loopback."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class SimulatedPlc:
    """The PLC's side of the handshake over any transport; subclasses read and write signals."""

    beats = 0
    # The PLC output wired to the camera's trigger input: fired with every Trigger (an
    # emulated camera's `emulate_line_pulse` here), None where the camera runs on its own.
    wired: Callable[[], None] | None = None

    async def connect(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def read(self, name: str) -> SignalValue:
        raise NotImplementedError

    async def write(self, name: str, value: SignalValue) -> None:
        raise NotImplementedError

    async def wait_for(self, name: str, value: SignalValue, timeout: float = 5.0) -> None:
        """Poll `name` until it equals `value`; TimeoutError names the signal."""
        deadline = time.monotonic() + timeout
        while await self.read(name) != value:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not become {value!r} within {timeout} s")
            await asyncio.sleep(POLL_S)

    async def beat(self) -> None:
        self.beats = (self.beats + 1) % 32768
        await self.write("PlcHeartbeat", self.beats)

    async def select_recipe(self, index: int, timeout: float = 5.0) -> None:
        await self.write("RecipeIndex", index)
        await self.wait_for("ActiveRecipe", index, timeout)

    async def trigger(self, part_id: str) -> None:
        await self.write("PartId", part_id)
        if self.wired is not None:
            self.wired()  # the part is in front of the camera: its line gets the pulse
        await self.write("Trigger", True)

    async def result(self, timeout: float = 5.0) -> tuple[int, float]:
        """Wait for ResultReady; return (Verdict, Score)."""
        await self.wait_for("ResultReady", True, timeout)
        return int(await self.read("Verdict")), float(await self.read("Score"))

    async def ack(self, timeout: float = 5.0) -> None:
        """Acknowledge, wait for ResultReady to drop, then lower Trigger and ResultAck."""
        await self.write("ResultAck", True)
        await self.wait_for("ResultReady", False, timeout)
        await self.write("Trigger", False)
        await self.write("ResultAck", False)

    async def cycle(self, part_id: str, timeout: float = 5.0) -> tuple[int, float]:
        """One part: wait Ready, trigger, read the result, acknowledge."""
        await self.beat()
        await self.wait_for("Ready", True, timeout)
        await self.trigger(part_id)
        verdict, score = await self.result(timeout)
        await self.ack(timeout)
        return verdict, score

    async def timed_cycle(self, part_id: str, timeout: float = 5.0) -> float:
        """One part as `cycle`, timed: milliseconds from the Trigger write to ResultReady."""
        await self.wait_for("Ready", True, timeout)
        t0 = time.perf_counter()
        await self.trigger(part_id)
        await self.wait_for("ResultReady", True, timeout)
        elapsed = (time.perf_counter() - t0) * 1e3
        await self.read("Verdict")
        await self.ack(timeout)
        return elapsed

    # -- faults a PLC commits, for commissioning drills --------------------------------------

    async def vanish_mid_cycle(self, part_id: str, timeout: float = 5.0) -> None:
        """Trigger a part, and once the station has taken it, disconnect without
        acknowledging (a PLC switched off)."""
        await self.beat()
        await self.wait_for("Ready", True)
        await self.trigger(part_id)
        deadline = time.monotonic() + timeout
        while not (await self.read("Busy") or await self.read("ResultReady")):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the station did not take part {part_id!r}")
            await asyncio.sleep(POLL_S)
        await self.close()

    async def come_back(self) -> None:
        """After `vanish_mid_cycle` and a new `connect`: drop Trigger, beat, wait for Ready."""
        await self.write("Trigger", False)
        await self.beat()
        await self.wait_for("Ready", True)

    async def trigger_twice_no_ack(self, part_id: str) -> tuple[int, float]:
        """Trigger a part, trigger again while it is judged, read its result, never ack."""
        await self.beat()
        await self.trigger(part_id)
        await self.write("Trigger", False)
        await self.write("Trigger", True)
        return await self.result()


class OpcUaPlc(SimulatedPlc):
    """A PLC as OPC UA client of the station's server (node ids ns=N;s=Inspection.<Signal>)."""

    def __init__(self, url: str, namespace: str = "urn:visual-inspector:line") -> None:
        self.url = url
        self.namespace = namespace
        self._client: Client | None = None
        self._nodes: dict[str, Any] = {}

    async def connect(self) -> None:
        client = Client(self.url)
        await client.connect()
        index = await client.get_namespace_index(self.namespace)
        self._client = client
        self._nodes = {}
        self._index = index

    def _node(self, name: str) -> Any:
        if self._client is None:
            raise RuntimeError("simulated PLC is not connected")
        if name not in self._nodes:
            nid = node_id(self._index, f"{OBJECT_NAME}.{name}")
            self._nodes[name] = self._client.get_node(nid)
        return self._nodes[name]

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.disconnect()

    async def read(self, name: str) -> SignalValue:
        value: SignalValue = await self._node(name).read_value()
        return value

    async def write(self, name: str, value: SignalValue) -> None:
        await self._node(name).write_value(ua.DataValue(variant(name, value)))


class OpcUaPlcServer(SimulatedPlc):
    """A PLC hosting the handshake's variables on its own OPC UA server; the station is its
    client (``--plc opcua-client:URL``), on node ids ``ns=2;s=<Signal>``.

    `close` stops the server, as a PLC switched off; `connect` starts it again on the same
    port with the values it held (a PLC keeps its data blocks over a restart).
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.url = f"opc.tcp://{host}:{port}/plc/"
        self.namespace_index = 2  # the first namespace a server registers
        self._server: Server | None = None
        self._values: dict[str, SignalValue] = {s.name: default_value(s) for s in SIGNALS}

    @property
    def node_ids(self) -> dict[str, str]:
        return {s.name: f"ns={self.namespace_index};s={s.name}" for s in SIGNALS}

    async def connect(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        index = await server.register_namespace("urn:visual-inspector:simulated-plc")
        if index != self.namespace_index:
            raise RuntimeError(f"simulated PLC: namespace index {index}, want 2")
        for name, nid in self.node_ids.items():
            node = await server.nodes.objects.add_variable(
                ua.NodeId.from_string(nid), name, variant(name, self._values[name])
            )
            await node.set_writable()
        await server.start()
        self._server = server

    def _live(self) -> Server:
        if self._server is None:
            raise RuntimeError("simulated PLC is switched off")
        return self._server

    async def close(self) -> None:
        if self._server is None:
            return
        self._values = {name: await self.read(name) for name in self._values}
        server, self._server = self._server, None
        await server.stop()

    async def read(self, name: str) -> SignalValue:
        held = self._live().read_attribute_value(ua.NodeId.from_string(self.node_ids[name]))
        value: SignalValue = held.Value.Value if held.Value is not None else ""
        return value

    async def write(self, name: str, value: SignalValue) -> None:
        nid = ua.NodeId.from_string(self.node_ids[name])
        await self._live().write_attribute_value(nid, ua.DataValue(variant(name, value)))


class ModbusPlc(SimulatedPlc):
    """A PLC as Modbus TCP client of the station's server (register map in `modbus`)."""

    def __init__(self, host: str, port: int) -> None:
        self._client = AsyncModbusTcpClient(host, port=port, timeout=2, retries=0)

    async def connect(self) -> None:
        if not await self._client.connect():
            raise OSError("simulated PLC: cannot connect to the station's Modbus server")

    async def close(self) -> None:
        self._client.close()

    async def read(self, name: str) -> SignalValue:
        table, first, size = REGISTER_MAP[name]
        if table in (COIL, DISCRETE):
            read = self._client.read_coils if table == COIL else self._client.read_discrete_inputs
            bits = await read(first, count=1)
            return bool(bits.bits[0])
        read = (
            self._client.read_holding_registers
            if table == HOLDING
            else self._client.read_input_registers
        )
        regs = list((await read(first, count=size)).registers)
        if name == "PartId":
            return decode_text(regs)
        if name == "Score":
            return decode_float(regs)
        return int(regs[0])

    async def write(self, name: str, value: SignalValue) -> None:
        table, first, _ = REGISTER_MAP[name]
        if table == COIL:
            await self._client.write_coil(first, bool(value))
        elif name == "PartId":
            await self._client.write_registers(first, encode_text(str(value)))
        elif table == HOLDING:
            await self._client.write_register(first, int(value))
        else:
            raise ValueError(f"{name} is not a PLC-side signal")
