"""The PLC handshake: one state machine, whatever transport carries its signals.

Sequence (docs/line.md draws it): the PLC writes PartId, raises Trigger; the station drops
Ready, raises Busy, grabs and judges the part, writes Score and Verdict, then raises
ResultReady and drops Busy; the PLC reads them and raises ResultAck; the station drops
ResultReady and raises Ready again. Every fault ends in a defined state with an alarm:

- no result within ``result_timeout_s`` (no frame, camera gone): Verdict ERROR and an alarm;
- no ack within ``ack_timeout_s``: alarm, the result is withdrawn (the record is already kept),
  back to Ready;
- a trigger while not Ready: refused, counted, alarm; the cycle in progress goes on;
- an unknown RecipeIndex: alarm, the old recipe stays, not Ready until a valid index arrives;
- the PLC heartbeat stops: alarm, not Ready; Ready again when it changes again;
- the link itself drops (a transport with `on_link`, the OPC UA client): alarm, not Ready,
  writes held back; when the transport has reconnected every station-side signal is written
  again and the handshake goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from station.alarms import AlarmCode, AlarmEvent, AlarmSet, AlarmSink
from station.line.parts import (
    LineRecord,
    PartError,
    PartResult,
    RecordSink,
    StationPort,
    UnknownRecipe,
)
from station.line.signals import LineVerdict, SignalValue, Transport

__all__ = [  # the part types live in `parts`; importing them from here keeps working
    "Handshake",
    "HandshakeSettings",
    "LineRecord",
    "LineState",
    "PartError",
    "PartResult",
    "RecordSink",
    "StationPort",
    "UnknownRecipe",
]

log = logging.getLogger(__name__)


@runtime_checkable
class ReportsLink(Protocol):
    """A transport that can lose its link and get it back by itself (the OPC UA client)."""

    on_link: Callable[[bool, str], None] | None


LINK_EVENT = "\0link"  # queued with the PLC's writes so a link change keeps its place
# Written again, in this order, when a dropped link is back (Verdict before ResultReady).
OUTPUTS = ("Score", "Verdict", "ActiveRecipe", "Heartbeat", "Alarm", "Busy", "ResultReady", "Ready")


class LineState(StrEnum):
    NOT_READY = "not ready"  # no valid recipe, or the PLC heartbeat is lost
    READY = "ready"
    BUSY = "busy"
    RESULT = "result"  # ResultReady raised, waiting for the ack


@dataclass(frozen=True)
class HandshakeSettings:
    """Timeouts of the handshake (seconds).

    Attributes:
        result_timeout_s: trigger to verdict at most; past it the part is ERROR.
        ack_timeout_s: ResultReady to ResultAck at most; past it the result is withdrawn.
        heartbeat_s: how often the station increments Heartbeat.
        plc_watchdog_s: PlcHeartbeat must change within this; 0 turns the watchdog off.
    """

    result_timeout_s: float = 2.0
    ack_timeout_s: float = 2.0
    heartbeat_s: float = 0.5
    plc_watchdog_s: float = 3.0


class Handshake:
    """Runs the handshake on the current asyncio loop between a transport and a station."""

    def __init__(
        self,
        transport: Transport,
        station: StationPort,
        settings: HandshakeSettings | None = None,
        on_alarm: AlarmSink | None = None,
        on_record: RecordSink | None = None,
    ) -> None:
        self.transport = transport
        self.station = station
        self.settings = settings or HandshakeSettings()
        self.alarms = AlarmSet(self._alarm_logged(on_alarm))
        self.on_record = on_record  # may be set after construction (a monitor needs self)
        self.state = LineState.NOT_READY
        self.recipe_index = 0
        self.recipe_name = ""
        self.cycles = 0
        self.refused = 0
        self.withdrawn = 0
        self._pending_recipe: int | None = None
        self._recipe_ok = False
        self._clean = False  # the part awaiting its ack got a verdict from a frame
        self._inputs: dict[str, SignalValue] = {}
        self._last_plc_beat = time.monotonic()
        self._plc_lost = False
        self._link_up = True
        self._outputs: dict[str, SignalValue] = {}
        self._heartbeat = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._ack_timer: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[tuple[str, SignalValue, str]] = asyncio.Queue()
        self.changed = asyncio.Event()  # set on every state change (tests and monitors wait on it)
        if isinstance(transport, ReportsLink):
            transport.on_link = lambda up, why: self._events.put_nowait((LINK_EVENT, up, why))

    @staticmethod
    def _alarm_logged(sink: AlarmSink | None) -> AlarmSink:
        def emit(event: AlarmEvent) -> None:
            state = "raised" if event.active else "cleared"
            log.warning("alarm %d %s %s: %s", event.code, event.code.name, state, event.message)
            if sink is not None:
                sink(event)

        return emit

    async def start(self) -> None:
        """Open the transport and start serving; the station is Ready once a recipe is set."""
        await self.transport.start(lambda n, v: self._events.put_nowait((n, v, "")))
        await self.transport.write(
            {"Ready": False, "Busy": False, "ResultReady": False, "Verdict": 0, "Alarm": 0}
        )
        self._last_plc_beat = time.monotonic()
        self._spawn(self._dispatch())
        self._spawn(self._beat())
        index = int(await self.transport.read("RecipeIndex"))
        if index:
            await self._select(index)
        else:
            self.alarms.raise_(AlarmCode.UNKNOWN_RECIPE, "no recipe selected (RecipeIndex 0)")
            await self._publish_idle()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.stop()

    async def raise_alarm(self, code: AlarmCode, message: str) -> None:
        """Raise an alarm from outside the handshake (drift, storage) and show it to the PLC."""
        self.alarms.raise_(code, message)
        await self._write({"Alarm": int(self.alarms.code)})

    async def select(self, index: int) -> None:
        """Select recipe ``index`` at the station (an engineer's choice), between parts as the
        PLC's RecipeIndex is."""
        if self.state in (LineState.BUSY, LineState.RESULT):
            self._pending_recipe = index
        else:
            await self._select(index)

    async def clear_alarm(self, code: AlarmCode) -> None:
        self.alarms.clear(code)
        await self._write({"Alarm": int(self.alarms.code)})

    # -- events from the PLC ---------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            name, value, why = await self._events.get()
            try:
                if name == LINK_EVENT:
                    await self._on_link(bool(value), why)
                    continue
                before = self._inputs.get(name)
                self._inputs[name] = value
                await self._on_input(name, value, before)
            except Exception:  # a fault in one event must not stop the handshake
                log.exception("handshake: handling %s=%r failed", name, value)

    async def _on_link(self, up: bool, why: str) -> None:
        self._link_up = up
        if not up:
            self.alarms.raise_(AlarmCode.PLC_LOST, f"{why}; not ready")
            await self._publish_idle()
            return
        self._last_plc_beat = time.monotonic()  # a full watchdog period to beat again
        if not self._plc_lost:
            self.alarms.clear(AlarmCode.PLC_LOST, why)
        # The PLC may have restarted: everything it should see is written again.
        await self._write({k: self._outputs[k] for k in OUTPUTS if k in self._outputs})
        await self._publish_idle()

    async def _on_input(self, name: str, value: SignalValue, before: SignalValue | None) -> None:
        rising = bool(value) and not before
        if name == "Trigger" and rising:
            await self._on_trigger()
        elif name == "ResultAck" and rising and self.state == LineState.RESULT:
            await self._finish_cycle(acked=True)
        elif name == "RecipeIndex" and value != before:
            if self.state in (LineState.BUSY, LineState.RESULT):
                self._pending_recipe = int(value)  # switching only between parts
            else:
                await self._select(int(value))
        elif name == "PlcHeartbeat" and value != before:
            # A change is a beat; the same value again (a subscription made anew) is not.
            self._last_plc_beat = time.monotonic()
            if self._plc_lost:
                self._plc_lost = False
                if self._link_up:
                    self.alarms.clear(AlarmCode.PLC_LOST, "PLC heartbeat is back")
                await self._publish_idle()

    async def _on_trigger(self) -> None:
        if self.state != LineState.READY:
            self.refused += 1
            self.alarms.raise_(
                AlarmCode.TRIGGER_REFUSED,
                f"trigger refused while {self.state.value} ({self.refused} refused so far)",
            )
            await self._write({"Alarm": int(self.alarms.code)})
            return
        self.cycles += 1
        self._set_state(LineState.BUSY)
        await self._write({"Ready": False, "ResultReady": False, "Verdict": 0, "Busy": True})
        part_id = str(await self.transport.read("PartId"))
        self._spawn(self._cycle(part_id, self.recipe_index, self.recipe_name, self.cycles))

    async def _cycle(self, part_id: str, recipe: int, name: str, cycle: int) -> None:
        t0, wall = time.perf_counter(), time.time()
        error = ""
        try:
            result = await asyncio.wait_for(
                self.station.inspect(part_id, recipe), self.settings.result_timeout_s
            )
        except (PartError, TimeoutError) as exc:
            code = exc.code if isinstance(exc, PartError) else AlarmCode.NO_FRAME
            error = str(exc) or f"no result within {self.settings.result_timeout_s} s"
            self.alarms.raise_(code, f"part {part_id!r}: {error}")
            result = PartResult(LineVerdict.ERROR, float("nan"))
        else:
            self.alarms.clear(AlarmCode.CAMERA, "the camera delivers frames again")
        self._clean = not error
        latency = (time.perf_counter() - t0) * 1e3
        record = LineRecord(part_id, recipe, name, result, cycle, wall, latency, error)
        if self.on_record is not None:
            try:
                self.on_record(record)
            except Exception:  # the PLC still gets its verdict; the log says what was lost
                log.exception("handshake: recording part %r failed", part_id)
        score = result.score if result.score == result.score else 0.0  # NaN is no PLC value
        await self._write({"Score": score, "Verdict": int(result.verdict)})
        await self._write({"ResultReady": True, "Busy": False, "Alarm": int(self.alarms.code)})
        self._set_state(LineState.RESULT)
        self._ack_timer = self._spawn(self._ack_watch(part_id))

    async def _ack_watch(self, part_id: str) -> None:
        await asyncio.sleep(self.settings.ack_timeout_s)
        if self.state == LineState.RESULT:
            self.withdrawn += 1
            self.alarms.raise_(
                AlarmCode.NO_ACK,
                f"part {part_id!r}: no ResultAck within {self.settings.ack_timeout_s} s; "
                "result withdrawn (its record is kept)",
            )
            await self._finish_cycle(acked=False)

    async def _finish_cycle(self, acked: bool) -> None:
        if acked and self._ack_timer is not None:
            self._ack_timer.cancel()
        self._ack_timer = None
        if acked and self._clean:
            self.alarms.clear_events()
        await self._write({"ResultReady": False, "Alarm": int(self.alarms.code)})
        if self._pending_recipe is not None:
            index, self._pending_recipe = self._pending_recipe, None
            if index != self.recipe_index:
                await self._select(index)
                return
        await self._publish_idle()

    async def _select(self, index: int) -> None:
        try:
            name = await self.station.select_recipe(index)
        except Exception as exc:  # unknown index, or a recipe whose model does not load
            why = "names no recipe" if isinstance(exc, UnknownRecipe) else f"failed: {exc}"
            if not isinstance(exc, UnknownRecipe):
                log.exception("recipe %d could not be selected", index)
            self.alarms.raise_(
                AlarmCode.UNKNOWN_RECIPE,
                f"RecipeIndex {index} {why}; staying on "
                f"{self.recipe_index or 'none'}, not ready until a valid index",
            )
            self._recipe_ok = False
        else:
            log.info("recipe %d (%s) in use from the next part", index, name)
            self.recipe_index, self.recipe_name = index, name
            self._recipe_ok = True
            self.alarms.clear(AlarmCode.UNKNOWN_RECIPE, f"recipe {index} ({name}) selected")
        await self._publish_idle()

    async def _publish_idle(self) -> None:
        """Between parts: Ready when a valid recipe is set and the PLC is alive."""
        if self.state == LineState.BUSY or (
            self.state == LineState.RESULT and self._ack_timer is not None
        ):
            await self._write({"Alarm": int(self.alarms.code)})
            return
        ready = self._recipe_ok and not self._plc_lost and self._link_up
        self._set_state(LineState.READY if ready else LineState.NOT_READY)
        await self._write(
            {
                "ActiveRecipe": self.recipe_index,
                "Alarm": int(self.alarms.code),
                "Busy": False,
                "Ready": ready,
            }
        )

    # -- heartbeat and watchdog --------------------------------------------------------------

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            self._heartbeat = (self._heartbeat + 1) % 32768
            await self._write({"Heartbeat": self._heartbeat})
            watchdog = self.settings.plc_watchdog_s
            silent = time.monotonic() - self._last_plc_beat
            if watchdog > 0 and not self._plc_lost and silent > watchdog:
                self._plc_lost = True
                self.alarms.raise_(
                    AlarmCode.PLC_LOST, f"no PLC heartbeat for {silent:.1f} s; not ready"
                )
                await self._publish_idle()

    # -- helpers ------------------------------------------------------------------------------

    async def _write(self, values: dict[str, SignalValue]) -> None:
        self._outputs.update(values)
        if not self._link_up:
            return  # written again, all at once, when the link is back
        try:
            await self.transport.write(values)
        except Exception:  # a broken link must not stop the state machine; the watchdog tells
            log.exception("handshake: writing %s failed", ", ".join(values))

    def _set_state(self, state: LineState) -> None:
        if state != self.state:
            log.debug("handshake: %s -> %s", self.state.value, state.value)
        self.state = state
        self.changed.set()
        self.changed = asyncio.Event()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
