"""A recipe's camera settings reach the running camera (the pylon emulator), between parts;
a source that does not take them is said once; the engineer's recipe choice is gated and
audited, the PLC's is not gated but logged and audited as "plc"."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PYLON_CAMEMU", "2")
pytest.importorskip("pypylon")

from gui.frame_slot import LatestSlot  # noqa: E402
from gui.workers import error_queue  # noqa: E402
from station.audit import AuditTrail  # noqa: E402
from station.recipes import CameraSettings, Recipe, save_recipe  # noqa: E402
from station.retention import RetentionPolicy  # noqa: E402

CAMERA = "pylon:0815-0000"
TEST_PIN = "2468"  # the engineer PIN the conftest sets


def running_source(control: Any) -> Any:
    worker = control.worker
    return worker.source.source if worker is not None and worker.source is not None else None


@pytest.fixture
def control(qtbot: Any) -> Iterator[Any]:
    from gui.capture_control import CaptureControl

    ctl = CaptureControl(LatestSlot(), error_queue())
    states: list[str] = []
    ctl.state_changed.connect(lambda state, _detail: states.append(state))
    ctl.states = states  # type: ignore[attr-defined]
    yield ctl
    ctl.shutdown()


def test_camera_settings_reach_the_pylon_camera_and_come_back_after_a_reconnect(
    qtbot: Any, control: Any
) -> None:
    notes: list[str] = []
    control.camera_note.connect(notes.append)
    control.switch(CAMERA, 10.0)
    qtbot.waitUntil(lambda: "live" in control.states, timeout=30_000)
    taken = control.apply_camera(CameraSettings(2000.0, 3.0, pixel_format="Mono8"))
    assert taken == {"exposure_us": 2000.0, "gain_db": 3.0}
    source = running_source(control)
    assert source.feature("ExposureTime") == pytest.approx(2000.0)
    assert source.feature("Gain") == pytest.approx(3.0, abs=0.1)
    # PylonSource.apply takes exposure and gain only: the pixel format is said, once
    control.apply_camera(CameraSettings(2500.0, pixel_format="Mono8"))
    qtbot.waitUntil(lambda: any("pixel_format" in n for n in notes))
    assert sum("pixel_format" in n for n in notes) == 1
    assert source.feature("ExposureTime") == pytest.approx(2500.0)
    assert control.camera_health()[2] == 2500.0  # the exposure shown as camera health

    # the camera reopens with its own settings; the recipe's are set again once it is live
    control.states.clear()
    control.switch(CAMERA, 10.0)
    qtbot.waitUntil(lambda: "live" in control.states, timeout=30_000)
    qtbot.waitUntil(
        lambda: (
            running_source(control) is not None
            and running_source(control).feature("ExposureTime") == pytest.approx(2500.0)
        ),
        timeout=10_000,
    )


def test_a_source_without_camera_settings_is_told_once_not_an_error(
    qtbot: Any, control: Any, parts: Path
) -> None:
    notes: list[str] = []
    control.camera_note.connect(notes.append)
    control.switch(str(parts), 10.0)
    qtbot.waitUntil(lambda: "live" in control.states, timeout=30_000)
    for _ in range(3):  # a recipe switch, and back
        assert control.apply_camera(CameraSettings(2000.0, 1.0)) == {}
    qtbot.waitUntil(lambda: len(notes) >= 2)
    qtbot.wait(100)
    assert len(notes) == 2  # exposure and gain, each said once
    assert all("does not take" in n and "not applied" in n for n in notes)


# -- through the station and its line (trains the shared test model) ----------------------


@pytest.fixture
def station(qtbot: Any, tmp_path: Path, model_copy: Path, monkeypatch: Any) -> Iterator[Any]:
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace

    monkeypatch.delenv("PYLON_CAMEMU_IMAGES", raising=False)  # the emulator's test pattern
    ws = Workspace(tmp_path / "ws")
    keep = RetentionPolicy(1, None, None)
    cam1, cam2 = CameraSettings(2000.0, 3.0), CameraSettings(5000.0, 0.0, pixel_format="Mono8")
    save_recipe(Recipe(1, "plate", str(model_copy), camera=cam1, save=keep), ws.root / "recipes")
    save_recipe(Recipe(2, "bracket", str(model_copy), camera=cam2), ws.root / "recipes")
    settings = StationSettings(model=str(model_copy), source=CAMERA, trigger_mode="triggered")
    win = MainWindow(ws, settings)
    qtbot.addWidget(win)
    ready = lambda: win.state.model is not None and win.state.source_status.status == "live"  # noqa: E731
    qtbot.waitUntil(ready, timeout=60_000)
    yield win
    win.shutdown()


def linked(win: Any) -> tuple[Any, Any]:
    from gui.line_link import attach_line
    from station.line.opcua import OpcUaServerSettings, OpcUaServerTransport
    from station.line.plc_sim import OpcUaPlc, free_port

    port = free_port()
    link = attach_line(
        win, "opcua", make=lambda: OpcUaServerTransport(OpcUaServerSettings("127.0.0.1", port))
    )
    return link, lambda: OpcUaPlc(OpcUaServerSettings("127.0.0.1", port).endpoint)


def as_plc(qtbot: Any, link: Any, make_plc: Any, steps: Callable[[Any], Awaitable[None]]) -> None:
    """Run the PLC's ``steps`` on its own thread while this one serves Qt; then unlink."""

    async def program() -> None:
        plc = make_plc()
        await plc.connect()
        try:
            await steps(plc)
        finally:
            await plc.close()

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(asyncio.run, asyncio.wait_for(program(), 60.0))
        try:
            qtbot.waitUntil(future.done, timeout=65_000)
        finally:
            link.stop()
        future.result()


def audit_rows(win: Any) -> list[Any]:
    with AuditTrail(win.workspace.log_file) as audit:
        return audit.query(action="select_recipe")


@pytest.mark.slow
def test_a_plc_recipe_switch_sets_the_camera_and_is_audited_as_plc(
    qtbot: Any, station: Any
) -> None:
    link, make_plc = linked(station)
    camera = running_source(station.sources)
    seen: dict[str, Any] = {}

    async def steps(plc: Any) -> None:
        for index, part in ((1, "SN-1"), (2, "SN-2")):
            await plc.select_recipe(index, timeout=30.0)
            seen[str(index)] = (camera.feature("ExposureTime"), camera.feature("Gain"))
            assert (await plc.cycle(part))[0] in (1, 2)

    as_plc(qtbot, link, make_plc, steps)
    assert seen["1"][0] == pytest.approx(2000.0) and seen["1"][1] == pytest.approx(3.0, abs=0.1)
    assert seen["2"][0] == pytest.approx(5000.0) and seen["2"][1] == pytest.approx(0.0, abs=0.1)
    assert station.inference.keeper is not None  # recipe 2 keeps its default retention
    assert station.inference.keeper.policy == RetentionPolicy()
    rows = audit_rows(station)
    assert [(r.role, r.old, r.new) for r in reversed(rows)] == [
        ("plc", None, "1: plate"),
        ("plc", "1: plate", "2: bracket"),
    ]
    parts = {r.part: r.recipe for r in station.log.query(limit=None)}
    assert parts == {"SN-1": "plate", "SN-2": "bracket"}


@pytest.mark.slow
def test_the_station_recipe_chooser_refuses_an_operator_and_audits_an_engineer(
    qtbot: Any, station: Any
) -> None:
    from gui.guard import Prompts

    link, _make_plc = linked(station)
    told: list[str] = []
    confirmed: list[str] = []

    def confirm(_parent: Any, _title: str, text: str) -> bool:
        confirmed.append(text)
        return True

    def prompts(pin: str | None) -> Prompts:
        return Prompts(
            ask_pin=lambda *_: pin, confirm=confirm, tell=lambda _p, text: told.append(text)
        )

    status = station.line_status
    try:
        station.guard.lock()  # the operator's station: asked for a PIN, cancelled
        station.guard.prompts = prompts(None)
        status.chooser.activated.emit(1)  # "1: plate"
        assert told and "needs the engineer role" in told[-1]
        qtbot.wait(300)
        assert station.state.recipe == "" and link.port.recipe is None
        assert audit_rows(station) == []

        station.guard.prompts = prompts(TEST_PIN)  # an engineer unlocks and confirms
        status.chooser.activated.emit(1)
        qtbot.waitUntil(lambda: station.state.recipe == "plate", timeout=30_000)
        assert confirmed[-1].startswith("Recipe: none -> 1: plate")
        qtbot.waitUntil(lambda: running_source(station.sources).feature("ExposureTime") == 2000.0)
    finally:
        link.stop()
    rows = audit_rows(station)
    assert [(r.role, r.subject, r.new) for r in rows] == [("engineer", "plate", "1: plate")]
