"""The station's link to its line: the PLC handshake on its own asyncio thread.

The handshake (``station.line.handshake``) talks to the PLC over the chosen transport and
drives the station through its state (``station.line.state_port.StatePort``): a PLC trigger
is the same request as the Trigger button, and the part is judged by the station's own
inference thread. Alarms reach the window through a queued Qt signal.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from gui.view_item import ViewItem
from station.alarms import AlarmCode, AlarmEvent
from station.drift import image_stats
from station.events import LinkStatus
from station.line.drift_watch import DriftWatch
from station.line.handshake import Handshake, HandshakeSettings
from station.line.state_port import CameraApply, StatePort
from station.recipes import RECIPE_DIR, RecipeBook
from station.state import StationState

log = logging.getLogger(__name__)

START_WAIT_S = 15.0
STOP_WAIT_S = 10.0
# The inference thread gives a part with no frame ERROR after 2 s; the handshake waits longer
# so that part reaches the PLC as the station's ERROR, with its reason, not as a timeout.
STATION_SETTINGS = HandshakeSettings(result_timeout_s=5.0)


class LineLink(QObject):
    """Runs the handshake between ``transport`` and the station state until ``stop``.

    Args:
        state: the station's state.
        make_transport: makes the PLC transport on the link's thread (some need its
            running loop), e.g. ``station.line.spec.transport_factory("opcua")``.
        recipes: the workspace's recipes.
        settings: handshake timeouts.
        apply_camera: sets exposure and gain where the camera supports it, or None.
        name: shown in the link status ("opcua:4840").
    """

    alarm = Signal(object)  # station.alarms.AlarmEvent, raised or cleared

    def __init__(
        self,
        state: StationState,
        make_transport: Callable[[], Any],
        recipes: RecipeBook,
        settings: HandshakeSettings = STATION_SETTINGS,
        apply_camera: CameraApply | None = None,
        name: str = "PLC",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.recipes = recipes
        self.name = name
        self.port = StatePort(state, recipes, apply_camera)
        self.settings = settings
        self.make_transport = make_transport
        self.handshake: Handshake | None = None  # made on the link's thread by start()
        self.drift: DriftWatch | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="line-link", daemon=True)

    @property
    def alarms(self) -> dict[AlarmCode, str]:
        """The active alarms (what the PLC's Alarm shows is the lowest code)."""
        return self.handshake.alarms.active if self.handshake else {}

    def start(self) -> None:
        """Open the transport and serve; raises what opening it raised (port taken...)."""
        self._thread.start()
        if not self._started.wait(START_WAIT_S):
            raise TimeoutError(f"{self.name}: the line link did not start in {START_WAIT_S} s")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Stop serving and close the transport (idempotent)."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread.is_alive():
            self._thread.join(STOP_WAIT_S)
        self.port.close()

    def select_recipe(self, index: int) -> Future[None] | None:
        """Select a recipe at the station (between parts, as a PLC's RecipeIndex is)."""
        loop, handshake = self._loop, self.handshake
        if loop is None or loop.is_closed() or handshake is None:
            return None
        log.info("recipe %d selected at the station", index)
        return asyncio.run_coroutine_threadsafe(handshake.select(index), loop)

    # -- the link's thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(), or logged if it came later
            if not self._started.is_set():
                self._error = exc
                self._started.set()
            else:
                log.exception("%s: the line link stopped", self.name)
        finally:
            self.state.set_link_status(LinkStatus(self.name, False, "stopped"))

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self.handshake = handshake = Handshake(
            self.make_transport(), self.port, self.settings, self._on_alarm
        )
        await handshake.start()
        self.state.set_link_status(LinkStatus(self.name, True, "serving"))
        self._started.set()
        try:
            await self._stopping.wait()
        finally:
            await handshake.stop()

    def chart(self, item: ViewItem) -> None:
        """Feed a judged part to its recipe's drift chart (UI thread; cheap: the statistics
        are of the display-sized picture, as is the reference they are charted against)."""
        recipe, handshake = self.port.recipe, self.handshake
        if item.verdict != "PASS" or recipe is None or self.drift is None or handshake is None:
            return
        stats = image_stats(item.image)
        stats["score"] = item.score
        if not self.drift.good_part(recipe.product, stats) or not recipe.alarms.drift:
            return
        active = self.drift.active(recipe.product)
        message = f"{recipe.product}: {', '.join(sorted(active))} drifted from its reference"
        self._on_loop(
            handshake.raise_alarm(AlarmCode.DRIFT, message)
            if active
            else handshake.clear_alarm(AlarmCode.DRIFT)
        )

    def _on_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
        else:
            asyncio.run_coroutine_threadsafe(coro, loop)

    def _on_alarm(self, event: AlarmEvent) -> None:
        self.alarm.emit(event)


def attach_line(
    window: Any,
    plc: str,
    recipes_dir: Path | None = None,
    settings: HandshakeSettings = STATION_SETTINGS,
    make: Callable[[], Any] | None = None,
) -> LineLink:
    """Link ``window``'s station to a PLC: the link, its status widget and its shutdown.

    Args:
        window: the station's ``MainWindow``.
        plc: the ``--plc`` spec (``station.line.spec``); ignored when ``make`` is given.
        recipes_dir: the recipe folder (default ``<workspace>/recipes``).
        settings: handshake timeouts.
        make: makes the transport instead of ``plc`` (tests bind loopback, a free port).

    Raises:
        station.line.spec.PlcSpecError, station.recipes.RecipeError: a bad spec or recipe.
    """
    from gui.widgets.line_status import LineStatus
    from station.line.spec import transport_factory

    recipes = RecipeBook.load(window.workspace.root, recipes_dir)
    if window.state.mode != "triggered":
        log.info("a PLC triggers the parts: the station switches to triggered mode")
        window.state.set_mode("triggered")
    make = make or transport_factory(plc)  # a bad spec is refused here, before any start
    link = LineLink(window.state, make, recipes, settings, None, plc, window)
    status = LineStatus(window.bridge, recipes)
    link.alarm.connect(status.show_alarm)
    status.recipe_requested.connect(link.select_recipe)
    link.drift = DriftWatch((recipes_dir or window.workspace.root / RECIPE_DIR) / "drift")
    window.inference.result_ready.connect(link.chart)
    window.statusBar().addPermanentWidget(status)
    window.line_status = status
    link.start()
    return link
