"""The station's link to its line: the PLC handshake on its own asyncio thread.

The handshake (``station.line.handshake``) talks to the PLC over the chosen transport and
drives the station through its state (``station.line.state_port.StatePort``): a PLC trigger
is the same request as the Trigger button, and the part is judged by the station's own
inference thread. Alarms reach the window through a queued Qt signal.

A recipe, chosen by the PLC's RecipeIndex (logged and audited as "plc", not gated: the PLC is
the line's authority) or by an engineer at the station (through the window's guard), is
applied between parts: its model, threshold and save policy by the port, then its camera
settings and image retention by ``on_recipe``. Each inspected part's image statistics come
from the inference thread; its good parts are charted here against the recipe's drift
reference, and the chart, the health and the camera's health go to the Live tab.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from gui.view_item import ViewItem
from station.alarms import AlarmCode, AlarmEvent
from station.audit import AuditError, AuditTrail
from station.events import LinkStatus, RecipeSelected, StateEvent
from station.line.drift_watch import DriftWatch
from station.line.handshake import Handshake, HandshakeSettings
from station.line.state_port import CameraApply, StatePort
from station.recipes import RECIPE_DIR, Recipe, RecipeBook
from station.roles import Action
from station.state import StationState

log = logging.getLogger(__name__)

START_WAIT_S = 15.0
STOP_WAIT_S = 10.0
# The inference thread gives a part with no frame ERROR after 2 s; the handshake waits longer
# so that part reaches the PLC as the station's ERROR, with its reason, not as a timeout.
STATION_SETTINGS = HandshakeSettings(result_timeout_s=5.0)
CAMERA_HEALTH_MS = 1000
FOCUS_SMOOTHING = 0.1


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
        on_recipe: called with each recipe once the port applied it (on the link's thread,
            between parts): camera settings, image retention.
        audit: where recipes the PLC selected are written (as "plc"), or None.
    """

    alarm = Signal(object)  # station.alarms.AlarmEvent, raised or cleared
    drift_changed = Signal(str, object, str)  # recipe, {quantity: ChartLine}, note

    def __init__(
        self,
        state: StationState,
        make_transport: Callable[[], Any],
        recipes: RecipeBook,
        settings: HandshakeSettings = STATION_SETTINGS,
        apply_camera: CameraApply | None = None,
        name: str = "PLC",
        parent: QObject | None = None,
        on_recipe: Callable[[Recipe], None] | None = None,
        audit: AuditTrail | None = None,
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
        self.on_recipe = on_recipe
        self.audit = audit
        self.focus: float | None = None  # EWMA of the focus measure of inspected parts
        self._station_pick: int | None = None  # chosen at the station, audited by the guard
        self._last_recipe = ""
        self._unsubscribe = state.subscribe(self._on_state)

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
        self._unsubscribe()
        self.port.close()

    def select_recipe(self, index: int, by: str = "station") -> Future[None] | None:
        """Select a recipe at the station (between parts, as a PLC's RecipeIndex is); ungated:
        the window's request passes ``request_recipe`` first."""
        loop, handshake = self._loop, self.handshake
        if loop is None or loop.is_closed() or handshake is None:
            return None
        log.info("recipe %d selected at the station (%s)", index, by)
        self._station_pick = index
        return asyncio.run_coroutine_threadsafe(handshake.select(index), loop)

    def _on_state(self, event: StateEvent) -> None:
        """The port applied a recipe (link's thread, between parts): the rest of it."""
        recipe = self.port.recipe
        if not isinstance(event, RecipeSelected) or recipe is None or recipe.product != event.name:
            return
        previous, self._last_recipe = self._last_recipe, f"{recipe.index}: {recipe.product}"
        if self._station_pick == recipe.index:
            self._station_pick = None  # the guard wrote its audit row
        else:
            log.info(
                "recipe %s selected by the PLC (was %s)", self._last_recipe, previous or "none"
            )
            if self.audit is not None:
                try:
                    self.audit.record("plc", Action.SELECT_RECIPE, subject=recipe.product,
                                      old=previous or None, new=self._last_recipe)  # fmt: skip
                except AuditError:  # the line goes on; the log has it
                    log.exception("the PLC's recipe %s was not audited", self._last_recipe)
        if self.on_recipe is not None:
            self.on_recipe(recipe)

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

    def chart(self, item: ViewItem, stats: dict[str, float]) -> None:
        """Chart an inspected part (UI thread). Its statistics (of the display-sized picture,
        as is the reference they are charted against) come from the inference thread."""
        sharpness = stats.get("sharpness", math.nan)
        if math.isfinite(sharpness):
            f = self.focus
            self.focus = sharpness if f is None else f + FOCUS_SMOOTHING * (sharpness - f)
        recipe, handshake = self.port.recipe, self.handshake
        if item.verdict != "PASS" or recipe is None or self.drift is None or handshake is None:
            return
        stats = {**stats, "score": item.score}
        changes = self.drift.good_part(recipe.product, stats)
        self._show_chart(recipe.product)
        if not changes or not recipe.alarms.drift:
            return
        active = self.drift.active(recipe.product)
        message = f"{recipe.product}: {', '.join(sorted(active))} drifted from its reference"
        self._on_loop(
            handshake.raise_alarm(AlarmCode.DRIFT, message)
            if active
            else handshake.clear_alarm(AlarmCode.DRIFT)
        )

    def _show_chart(self, product: str) -> None:
        assert self.drift is not None
        monitor = self.drift.monitors.get(product)
        if monitor is not None:
            self.drift_changed.emit(product, monitor.chart(), "")
        else:
            note = f"learning the drift reference: {self.drift.learned(product)}/"
            self.drift_changed.emit(product, {}, f"{note}{self.drift.baseline} good parts")

    def storage(self, problem: str) -> None:
        """Raise STORAGE while part images cannot be saved ("" clears it)."""
        handshake = self.handshake
        if handshake is not None:
            self._on_loop(
                handshake.raise_alarm(AlarmCode.STORAGE, problem)
                if problem
                else handshake.clear_alarm(AlarmCode.STORAGE)
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
    """Link ``window``'s station to a PLC: the link, its status widgets and its shutdown.

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
    inference, sources, live = window.inference, window.sources, window.live

    def on_recipe(recipe: Recipe) -> None:
        inference.set_retention(recipe.save)
        sources.apply_camera(recipe.camera)

    link = LineLink(
        window.state, make, recipes, settings, None, plc, window, on_recipe, window.audit
    )
    status = LineStatus(window.bridge, recipes)
    link.alarm.connect(status.show_alarm)
    status.health_changed.connect(live.show_health)
    status.recipe_requested.connect(lambda index: request_recipe(window, link, index))
    link.drift = DriftWatch((recipes_dir or window.workspace.root / RECIPE_DIR) / "drift")
    link.drift_changed.connect(live.show_drift)
    inference.stats_ready.connect(link.chart)
    inference.charting = True
    inference.storage_changed.connect(link.storage)
    sources.camera_note.connect(lambda note: window.statusBar().showMessage(note, 15000))
    window.statusBar().addPermanentWidget(status)
    window.line_status = status
    watch_camera(window, link)
    live.show_health(*status.health)
    link.start()
    return link


def request_recipe(window: Any, link: LineLink, index: int) -> bool:
    """An engineer's recipe choice at the station: through the guard (an operator is refused,
    an engineer confirms, the audit row is written), then between parts; True if selected."""
    try:
        recipe = link.recipes.get(index)
    except KeyError as exc:
        window.statusBar().showMessage(str(exc), 15000)
        return False
    current = link.port.recipe
    role = window.guard.allow(
        Action.SELECT_RECIPE,
        "Recipe",
        subject=recipe.product,
        old=f"{current.index}: {current.product}" if current is not None else None,
        new=f"{recipe.index}: {recipe.product}",
    )
    if role is None:
        return False
    return link.select_recipe(index, by=str(role)) is not None


def watch_camera(window: Any, link: LineLink) -> QTimer:
    """Show the camera's health once a second: frame rate (frames the source delivered),
    frames it lost, exposure and the focus measure of the inspected parts."""
    last: list[tuple[int, float]] = []

    def sample() -> None:
        index, dropped, exposure = window.sources.camera_health()
        now = time.monotonic()
        fps = 0.0
        if last and index >= last[0][0] and now > last[0][1]:
            fps = (index - last[0][0]) / (now - last[0][1])
        last[:] = [(index, now)]
        window.live.show_camera(fps, dropped, exposure, link.focus)

    timer = QTimer(link)
    timer.timeout.connect(sample)
    timer.start(CAMERA_HEALTH_MS)
    return timer
