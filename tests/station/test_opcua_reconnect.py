"""The station as OPC UA client of a PLC's server that goes away mid-cycle and comes back.

Real asyncua on 127.0.0.1 both ways: the PLC is `OpcUaPlcServer` (a server holding the
handshake's variables), the station `OpcUaClientTransport` under the real handshake.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from station.alarms import AlarmCode, AlarmEvent
from station.line.handshake import Handshake, HandshakeSettings, LineState
from station.line.opcua import OpcUaClientSettings, OpcUaClientTransport
from station.line.parts import LineRecord, PartResult, UnknownRecipe
from station.line.plc_sim import OpcUaPlcServer, free_port
from station.line.signals import LineVerdict

SETTINGS = HandshakeSettings(
    result_timeout_s=2.0, ack_timeout_s=0.3, heartbeat_s=0.05, plc_watchdog_s=0.5
)


class PartsByName:
    """Judges "NG-..." parts NG, others OK, after `delay` seconds; one recipe."""

    delay = 0.0

    async def inspect(self, part_id: str, recipe_index: int) -> PartResult:
        await asyncio.sleep(self.delay)
        ng = part_id.startswith("NG")
        return PartResult(LineVerdict.NG if ng else LineVerdict.OK, 0.9 if ng else 0.1, "m1")

    async def select_recipe(self, index: int) -> str:
        if index != 1:
            raise UnknownRecipe(index)
        return "metal_plate"


def client(plc: OpcUaPlcServer, **changes: Any) -> OpcUaClientTransport:
    base: dict[str, Any] = dict(publish_ms=5.0, watchdog_s=0.5, backoff_s=(0.1, 0.4))
    base.update(changes)
    return OpcUaClientTransport(OpcUaClientSettings(plc.url, plc.node_ids, **base))


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


def run(test: Callable[[], Awaitable[None]], timeout: float = 30.0) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout))


def test_plc_server_gone_mid_cycle_and_back_on_the_same_port_resumes_the_handshake() -> None:
    async def body() -> None:
        plc = OpcUaPlcServer(free_port())
        await plc.connect()
        station = PartsByName()
        transport = client(plc)
        records: list[LineRecord] = []
        alarms: list[AlarmEvent] = []
        hs = Handshake(transport, station, SETTINGS, alarms.append, records.append)
        await hs.start()
        try:
            await plc.select_recipe(1)
            assert [(await plc.cycle(p))[0] for p in ("SN-1", "NG-2")] == [1, 2]

            station.delay = 0.3
            await plc.beat()
            await plc.trigger("SN-3")
            await plc.wait_for("Busy", True)
            await plc.close()  # the PLC is switched off while the part is judged
            await until(lambda: any("OPC UA link" in a.message for a in alarms if a.active))
            assert AlarmCode.PLC_LOST in hs.alarms.active
            await until(lambda: hs.withdrawn == 1)  # judged, never acknowledged
            assert [r.part_id for r in records][-1] == "SN-3"  # its record is kept
            assert hs.state == LineState.NOT_READY and transport.reconnects == 0
            with pytest.raises(ConnectionError, match="is down"):
                await transport.read("Trigger")
            await asyncio.sleep(0.6)  # away longer than the watchdog

            await plc.connect()  # back on the same port, with the data it held
            await until(lambda: transport.reconnects == 1)
            await plc.wait_for("Alarm", int(AlarmCode.PLC_LOST))  # written again
            assert await plc.read("Ready") is False and await plc.read("ResultReady") is False
            await plc.come_back()  # Trigger down, a heartbeat: Ready
            station.delay = 0.0
            assert [(await plc.cycle(p))[0] for p in ("NG-4", "SN-5", "SN-6")] == [2, 1, 1]
            assert int(await plc.read("Alarm")) == 0 and hs.state == LineState.READY
        finally:
            await hs.stop()
            await plc.close()
        assert [r.part_id for r in records] == ["SN-1", "NG-2", "SN-3", "NG-4", "SN-5", "SN-6"]
        lost = [a for a in alarms if a.code == AlarmCode.PLC_LOST]
        assert lost[0].active and "OPC UA link" in lost[0].message
        assert not lost[-1].active  # cleared once the PLC beats again
        assert any(a.code == AlarmCode.NO_ACK and a.active for a in alarms)

    run(body)


def test_reconnect_backs_off_while_the_plc_stays_away(caplog: Any) -> None:
    async def body() -> None:
        plc = OpcUaPlcServer(free_port())
        await plc.connect()
        transport = client(plc, backoff_s=(0.05, 0.2))
        hs = Handshake(transport, PartsByName(), SETTINGS)
        await hs.start()
        try:
            await plc.select_recipe(1)
            await plc.close()
            await asyncio.sleep(1.2)
            assert transport.reconnects == 0 and hs.state == LineState.NOT_READY
        finally:
            await hs.stop()  # stops the reconnection loop as well
        waits = [w for w in caplog.messages if "next try in" in w]
        assert any("next try in 0.1 s" in w for w in waits)
        assert any("next try in 0.2 s" in w for w in waits)  # doubled, then capped
        assert not any("next try in 0.4 s" in w for w in waits)

    with caplog.at_level(logging.WARNING, logger="station.line.opcua"):
        run(body)


def test_a_node_id_the_plc_lacks_is_named_and_an_absent_plc_is_an_os_error() -> None:
    async def body() -> None:
        plc = OpcUaPlcServer(free_port())
        await plc.connect()
        try:
            nodes = {**plc.node_ids, "Verdict": "ns=2;s=DB_Vision.Verdikt"}
            transport = OpcUaClientTransport(OpcUaClientSettings(plc.url, nodes))
            with pytest.raises(ValueError, match="Verdict = 'ns=2;s=DB_Vision.Verdikt'"):
                await transport.start(lambda _n, _v: None)
        finally:
            await plc.close()
        with pytest.raises(OSError):
            await client(plc).start(lambda _n, _v: None)

    run(body)


def test_client_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="backoff_s"):
        OpcUaClientSettings("opc.tcp://127.0.0.1:4840", backoff_s=(1.0, 0.5))
    with pytest.raises(ValueError, match="positive"):
        OpcUaClientSettings("opc.tcp://127.0.0.1:4840", watchdog_s=0.0)
