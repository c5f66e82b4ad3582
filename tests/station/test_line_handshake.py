"""The handshake state machine over each real transport, with a simulated PLC on loopback.

The station side here is a small scripted station (its verdict follows the part id), so each
timing fault can be produced on purpose; tests/station/test_line_e2e.py runs the real model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from station.alarms import AlarmCode, AlarmEvent
from station.line.handshake import (
    Handshake,
    HandshakeSettings,
    LineRecord,
    LineState,
    PartError,
    PartResult,
    UnknownRecipe,
)
from station.line.modbus import ModbusServerTransport, ModbusSettings
from station.line.opcua import OpcUaServerSettings, OpcUaServerTransport
from station.line.plc_sim import ModbusPlc, OpcUaPlc, SimulatedPlc, free_port
from station.line.signals import LineVerdict

FAST = HandshakeSettings(
    result_timeout_s=0.5, ack_timeout_s=0.5, heartbeat_s=0.05, plc_watchdog_s=0.0
)


class ScriptedStation:
    """Judges "NG-..." parts NG and others OK; `delay` holds a part, `fail` raises PartError."""

    recipes = {1: "metal_plate", 2: "moulded_part"}

    def __init__(self) -> None:
        self.delay = 0.0
        self.fail: AlarmCode | None = None
        self.selected: list[int] = []

    async def inspect(self, part_id: str, recipe_index: int) -> PartResult:
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise PartError(self.fail, "camera closed")
        ng = part_id.startswith("NG")
        return PartResult(LineVerdict.NG if ng else LineVerdict.OK, 0.9 if ng else 0.1, "m1")

    async def select_recipe(self, index: int) -> str:
        if index not in self.recipes:
            raise UnknownRecipe(index)
        self.selected.append(index)
        return self.recipes[index]


@asynccontextmanager
async def line(kind: str, settings: HandshakeSettings = FAST) -> Any:
    """A started handshake on a real transport on 127.0.0.1 and a connected simulated PLC."""
    plc: SimulatedPlc
    if kind == "opcua":
        transport: Any = OpcUaServerTransport(OpcUaServerSettings("127.0.0.1", free_port()))
    else:
        transport = ModbusServerTransport(ModbusSettings("127.0.0.1", 0))
    station = ScriptedStation()
    records: list[LineRecord] = []
    alarms: list[AlarmEvent] = []
    hs = Handshake(transport, station, settings, alarms.append, records.append)
    await hs.start()
    if kind == "opcua":
        plc = OpcUaPlc(transport.settings.endpoint)
    else:
        plc = ModbusPlc("127.0.0.1", transport.port)
    await plc.connect()
    try:
        yield hs, plc, station, records, alarms
    finally:
        await plc.close()
        await hs.stop()


def run(test: Callable[[], Awaitable[None]], timeout: float = 20.0) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout))


KINDS = ["opcua", "modbus"]


@pytest.mark.parametrize("kind", KINDS)
def test_cycles_deliver_verdicts_and_records(kind: str) -> None:
    async def body() -> None:
        async with line(kind) as (hs, plc, _station, records, _alarms):
            assert int(await plc.read("Alarm")) == AlarmCode.UNKNOWN_RECIPE  # none yet
            assert await plc.read("Ready") is False
            await plc.select_recipe(1)
            assert int(await plc.read("Alarm")) == 0
            parts = ["SN-1", "NG-2", "SN-3", "NG-4", "SN-ÄÖ-5"]
            got = [await plc.cycle(p) for p in parts]
            assert [v for v, _ in got] == [1, 2, 1, 2, 1]
            assert [round(s, 3) for _, s in got] == [0.1, 0.9, 0.1, 0.9, 0.1]
            assert [r.part_id for r in records] == parts
            assert {(r.recipe_index, r.recipe_name, r.result.model_id) for r in records} == {
                (1, "metal_plate", "m1")
            }
            assert [r.cycle for r in records] == [1, 2, 3, 4, 5]
            beat = int(await plc.read("Heartbeat"))
            await asyncio.sleep(0.2)  # four heartbeat periods
            assert hs.state == LineState.READY and int(await plc.read("Heartbeat")) > beat

    run(body)


@pytest.mark.parametrize("kind", KINDS)
def test_trigger_while_busy_is_refused_counted_and_the_part_completes(kind: str) -> None:
    async def body() -> None:
        async with line(kind) as (hs, plc, station, records, _alarms):
            await plc.select_recipe(1)
            station.delay = 0.3
            await plc.trigger("SN-1")
            await plc.wait_for("Busy", True)
            await plc.write("Trigger", False)
            await plc.write("Trigger", True)  # a second part while the first is judged
            await plc.wait_for("Alarm", int(AlarmCode.TRIGGER_REFUSED))
            assert (await plc.result())[0] == 1
            await plc.ack()
            assert hs.refused == 1 and [r.part_id for r in records] == ["SN-1"]
            station.delay = 0.0
            assert (await plc.cycle("SN-2"))[0] == 1
            assert int(await plc.read("Alarm")) == 0  # a clean part clears the event alarm

    run(body)


@pytest.mark.parametrize("kind", KINDS)
def test_no_ack_withdraws_the_result_and_returns_to_ready(kind: str) -> None:
    async def body() -> None:
        async with line(kind) as (hs, plc, _station, records, alarms):
            await plc.select_recipe(1)
            await plc.beat()
            await plc.trigger("NG-1")
            assert (await plc.result())[0] == 2
            await plc.wait_for("ResultReady", False, timeout=2.0)  # never acked
            assert int(await plc.read("Alarm")) == AlarmCode.NO_ACK
            assert await plc.read("Ready") is True and hs.withdrawn == 1
            assert [r.part_id for r in records] == ["NG-1"]  # the record is kept
            assert any(a.code == AlarmCode.NO_ACK and "NG-1" in a.message for a in alarms)
            await plc.write("Trigger", False)
            assert (await plc.cycle("SN-2"))[0] == 1
            assert int(await plc.read("Alarm")) == 0

    run(body)


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_recipe_keeps_the_old_one_and_blocks_triggers(kind: str) -> None:
    async def body() -> None:
        async with line(kind) as (hs, plc, station, _records, _alarms):
            await plc.select_recipe(1)
            await plc.write("RecipeIndex", 7)
            await plc.wait_for("Alarm", int(AlarmCode.UNKNOWN_RECIPE))
            assert await plc.read("Ready") is False
            assert int(await plc.read("ActiveRecipe")) == 1 and hs.recipe_name == "metal_plate"
            await plc.trigger("SN-1")
            await plc.wait_for("Alarm", int(AlarmCode.UNKNOWN_RECIPE))  # lower code shows
            await asyncio.sleep(0.1)
            assert hs.refused == 1 and hs.cycles == 0
            await plc.write("Trigger", False)
            await plc.select_recipe(2)
            assert await plc.read("Ready") is True
            await plc.wait_for("Alarm", int(AlarmCode.TRIGGER_REFUSED))  # latched until clean
            assert (await plc.cycle("SN-2"))[0] == 1
            assert int(await plc.read("Alarm")) == 0 and station.selected == [1, 2]

    run(body)


@pytest.mark.parametrize("kind", KINDS)
def test_recipe_change_while_busy_applies_after_the_part(kind: str) -> None:
    async def body() -> None:
        async with line(kind) as (_hs, plc, station, records, _alarms):
            await plc.select_recipe(1)
            station.delay = 0.2
            await plc.trigger("SN-1")
            await plc.wait_for("Busy", True)
            await plc.write("RecipeIndex", 2)
            await plc.result()
            assert int(await plc.read("ActiveRecipe")) == 1
            await plc.ack()
            await plc.wait_for("ActiveRecipe", 2)
            station.delay = 0.0
            await plc.cycle("SN-2")
            assert [(r.part_id, r.recipe_index) for r in records] == [("SN-1", 1), ("SN-2", 2)]

    run(body)


@pytest.mark.parametrize("kind", KINDS)
def test_no_frame_and_camera_faults_give_error_and_recover(kind: str) -> None:
    async def body() -> None:
        async with line(kind) as (_hs, plc, station, records, _alarms):
            await plc.select_recipe(1)
            station.delay = 1.0  # longer than result_timeout_s
            assert (await plc.cycle("SN-1"))[0] == LineVerdict.ERROR
            assert int(await plc.read("Alarm")) == AlarmCode.NO_FRAME
            station.delay, station.fail = 0.0, AlarmCode.CAMERA
            assert (await plc.cycle("SN-2"))[0] == LineVerdict.ERROR
            assert int(await plc.read("Alarm")) == AlarmCode.CAMERA
            station.fail = None
            assert (await plc.cycle("SN-3"))[0] == LineVerdict.OK
            assert int(await plc.read("Alarm")) == 0
            assert [r.result.verdict for r in records] == [3, 3, 1]
            assert "no result within" in records[0].error and records[1].error == "camera closed"

    run(body)


@pytest.mark.parametrize("kind", KINDS)
def test_plc_heartbeat_lost_and_back(kind: str) -> None:
    settings = HandshakeSettings(0.5, 0.5, heartbeat_s=0.05, plc_watchdog_s=0.3)

    async def body() -> None:
        async with line(kind, settings) as (hs, plc, _station, _records, _alarms):
            await plc.select_recipe(1)
            await plc.beat()
            await plc.wait_for("Alarm", int(AlarmCode.PLC_LOST), timeout=2.0)
            assert await plc.read("Ready") is False and hs.state == LineState.NOT_READY
            await plc.beat()
            await plc.wait_for("Ready", True, timeout=2.0)
            assert int(await plc.read("Alarm")) == 0

    run(body)


def test_opcua_client_mode_maps_the_plcs_own_nodes() -> None:
    """The station as client of a PLC's OPC UA server, on node ids the PLC programmer chose."""
    from asyncua import Server, ua

    from station.line.opcua import OpcUaClientSettings, OpcUaClientTransport, variant
    from station.line.signals import SIGNALS, default_value

    async def body() -> None:
        plc_server = Server()
        await plc_server.init()
        url = f"opc.tcp://127.0.0.1:{free_port()}/plc/"
        plc_server.set_endpoint(url)
        ns = await plc_server.register_namespace("urn:test-plc")
        db = await plc_server.nodes.objects.add_object(ns, "DB_Vision")
        nodes = {}
        for s in SIGNALS:
            nid = ua.NodeId.from_string(f"ns={ns};s=DB_Vision.{s.name}")
            nodes[s.name] = await db.add_variable(nid, s.name, variant(s.name, default_value(s)))
            await nodes[s.name].set_writable()
        await plc_server.start()
        settings = OpcUaClientSettings(
            url, {s.name: f"ns={ns};s=DB_Vision.{s.name}" for s in SIGNALS}, publish_ms=5
        )
        records: list[LineRecord] = []
        hs = Handshake(
            OpcUaClientTransport(settings), ScriptedStation(), FAST, None, records.append
        )

        async def plc_write(name: str, value: object) -> None:
            await nodes[name].write_value(ua.DataValue(variant(name, value)))  # type: ignore[arg-type]

        async def plc_wait(name: str, value: object) -> None:
            for _ in range(1000):
                if await nodes[name].read_value() == value:
                    return
                await asyncio.sleep(0.005)
            raise TimeoutError(f"{name} never became {value!r}")

        try:
            await hs.start()
            await plc_write("RecipeIndex", 2)
            await plc_wait("Ready", True)
            assert await nodes["ActiveRecipe"].read_value() == 2
            await plc_write("PartId", "NG-77")
            await plc_write("Trigger", True)
            await plc_wait("ResultReady", True)
            assert await nodes["Verdict"].read_value() == LineVerdict.NG
            await plc_write("ResultAck", True)
            await plc_wait("ResultReady", False)
            await plc_wait("Ready", True)
            assert [(r.part_id, r.recipe_name) for r in records] == [("NG-77", "moulded_part")]
        finally:
            await hs.stop()
            await plc_server.stop()

    run(body)
