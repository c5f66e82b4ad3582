"""The real station on a line: MainWindow offscreen, an emulated pylon camera playing the
sample product's test images, and a simulated PLC (asyncua's or pymodbus's client on
loopback) that selects a recipe, triggers parts, reads each verdict and acknowledges it.

The PLC runs on its own thread while the test's thread serves Qt, as a PLC and the window
do on a line. The window's camera runs free (its capture thread shows a live view and each
trigger takes the newest frame; hardware trigger through the window is left to
tests/station/test_line_e2e.py), so frames are matched to what the model says by their
pixels' digest, read back from the part image the station saved.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PYLON_CAMEMU", "2")
pytest.importorskip("pypylon")
pytest.importorskip("onnxruntime")

from inspector.imageio import read_image  # noqa: E402
from station.alarms import AlarmCode, AlarmEvent  # noqa: E402
from station.drift import Calibration, Reference  # noqa: E402
from station.line.handshake import HandshakeSettings  # noqa: E402
from station.line.plc_sim import ModbusPlc, OpcUaPlc, SimulatedPlc, free_port  # noqa: E402
from station.line.signals import LineVerdict  # noqa: E402
from station.recipes import Recipe, save_recipe  # noqa: E402
from station.retention import RetentionPolicy  # noqa: E402
from tests import line_drill as drill  # noqa: E402

pytestmark = pytest.mark.slow  # trains the shared test model (about 10 s)

SETTINGS = HandshakeSettings(
    result_timeout_s=5.0, ack_timeout_s=0.8, heartbeat_s=0.1, plc_watchdog_s=3.0
)
CAMERA = "pylon:0815-0000"
PARTS = 30
KEEP_ALL = RetentionPolicy(1, None, None)  # every part image kept: frames are matched by it


@pytest.fixture(scope="module")
def line_model(trained_bundle: Path, sample_product: Path, tmp_path_factory: Any) -> Path:
    """The test model exported to ONNX, and the camera's folder of test images beside it."""
    from training.export import export_onnx

    root = tmp_path_factory.mktemp("line_station")
    model = Path(shutil.copytree(trained_bundle, root / "metal_plate"))
    export_onnx(model)
    drill.camera_folder(sample_product, root / "camera")
    return model


@pytest.fixture(scope="module")
def expected(line_model: Path, tmp_path_factory: Any) -> dict[str, tuple[str, float]]:
    """What ``inspector inspect`` says on each camera image, by the pixels' digest."""
    return drill.inspect_cli(
        line_model, line_model.parent / "camera", tmp_path_factory.mktemp("cli")
    )


@pytest.fixture
def station(qtbot: Any, tmp_path: Path, line_model: Path, monkeypatch: Any) -> Iterator[Any]:
    """The station window on a fresh workspace with two recipes, capturing from the camera."""
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace

    monkeypatch.setenv("PYLON_CAMEMU_IMAGES", str(line_model.parent / "camera"))
    ws = Workspace(tmp_path / "ws")
    save_recipe(Recipe(1, "metal_plate", str(line_model), save=KEEP_ALL), ws.root / "recipes")
    save_recipe(
        Recipe(2, "metal_plate_b", str(line_model), image_threshold=1e9, save=KEEP_ALL),
        ws.root / "recipes",
    )
    dark = Calibration({"brightness": Reference(50.0, 1.0)})  # the light was far dimmer then
    (ws.root / "recipes" / "drift").mkdir()
    (ws.root / "recipes" / "drift" / "metal_plate_b.json").write_text(json.dumps(dark.to_json()))
    settings = StationSettings(
        model=str(line_model), source=CAMERA, trigger_mode="triggered", save_policy="none"
    )
    win = MainWindow(ws, settings)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.state.source_status.status == "live", timeout=30_000)
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    yield win
    win.shutdown()


def linked(win: Any, kind: str) -> tuple[Any, Callable[[], SimulatedPlc], list[AlarmEvent]]:
    """The station linked over ``kind``; the PLC is made on its own thread (pymodbus's
    client wants a running loop)."""
    from gui.line_link import attach_line
    from station.line.modbus import ModbusServerTransport, ModbusSettings
    from station.line.opcua import OpcUaServerSettings, OpcUaServerTransport

    make: Any
    if kind == "opcua":
        port = free_port()
        make = lambda: OpcUaServerTransport(OpcUaServerSettings("127.0.0.1", port))  # noqa: E731
    else:
        make = lambda: ModbusServerTransport(ModbusSettings("127.0.0.1", 0))  # noqa: E731
    link = attach_line(win, kind, settings=SETTINGS, make=make)
    alarms: list[AlarmEvent] = []
    link.alarm.connect(alarms.append)
    assert link.handshake is not None  # attach_line starts the link
    transport: Any = link.handshake.transport
    if kind == "opcua":
        return link, lambda: OpcUaPlc(transport.settings.endpoint), alarms
    return link, lambda: ModbusPlc("127.0.0.1", transport.port), alarms


def as_plc(qtbot: Any, body: Callable[[], Awaitable[Any]], timeout_s: float = 90.0) -> Any:
    """Run the PLC's program on its own thread while this one serves Qt."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = asyncio.run(asyncio.wait_for(body(), timeout_s))
        except BaseException as exc:  # handed to the test's thread
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=int(timeout_s * 1000) + 5000)
    if "error" in out:
        raise out["error"]
    return out.get("value")


@pytest.mark.parametrize("kind", ["opcua", "modbus"])
def test_the_plc_drives_the_station_and_every_verdict_matches_the_model(
    qtbot: Any,
    station: Any,
    kind: str,
    expected: dict[str, tuple[str, float]],
    line_model: Path,
) -> None:
    link, make_plc, _alarms = linked(station, kind)

    async def program() -> list[tuple[int, float]]:
        plc = make_plc()
        await plc.connect()
        try:
            await plc.select_recipe(1, timeout=60.0)  # loads the model first
            return [await plc.cycle(f"SN-{i:05d}") for i in range(PARTS)]
        finally:
            await plc.close()

    try:
        answers = as_plc(qtbot, program)
    finally:
        link.stop()
    model = station.state.model
    assert model is not None and model.path == str(line_model)
    rows = {r.part: r for r in station.log.query(limit=None)}
    assert len(rows) == PARTS  # none lost, none extra
    names = {LineVerdict.OK: "PASS", LineVerdict.NG: "FAIL"}
    for i, (verdict, _score) in enumerate(answers):
        row = rows[f"SN-{i:05d}"]
        assert (row.recipe, row.model_id) == ("metal_plate", model.model_id)
        want_verdict, want_score = expected[drill.digest(read_image(row.image_path))]
        assert names[LineVerdict(verdict)] == row.verdict == want_verdict
        assert row.score == pytest.approx(want_score, rel=1e-4, abs=1e-5)
    assert {v for v, _ in answers} == {LineVerdict.OK, LineVerdict.NG}
    assert station.line_status.recipe_label.text() == "recipe: metal_plate (plc)"
    qtbot.waitUntil(lambda: station.line_status.health == ("ok", ""))


def test_faults_through_the_station_reach_a_defined_state_and_recover(
    qtbot: Any, station: Any
) -> None:
    """tests/line_drill.py through the window; then recipe 2's drift reference, far darker
    than the camera, raises DRIFT while the station goes on inspecting."""
    link, make_plc, alarms = linked(station, "opcua")
    assert link.handshake is not None
    state = station.state

    async def unplug() -> None:
        state.set_source("")  # the camera is closed between parts
        await asyncio.sleep(0.5)  # the window stops the capture thread

    async def replug(plc: SimulatedPlc) -> None:
        state.set_source(CAMERA)
        for _ in range(100):
            if state.source_status.status == "live":
                return
            await plc.beat()
            await asyncio.sleep(0.1)

    line = drill.DrillLine(
        link.handshake,
        unplug,
        replug,
        away_s=SETTINGS.plc_watchdog_s + 0.3,
        recipe_timeout_s=60.0,  # loads the model first
        second_recipe=(LineVerdict.OK,),  # its threshold passes every part
    )

    async def program() -> None:
        plc = make_plc()
        await plc.connect()
        try:
            await drill.run_drill(plc, line)
            await plc.wait_for("Alarm", int(AlarmCode.DRIFT), timeout=3.0)
            assert (await plc.cycle("SN-8"))[0] == LineVerdict.OK
            assert int(await plc.read("Alarm")) == AlarmCode.DRIFT
        finally:
            await plc.close()

    try:
        as_plc(qtbot, program)
    finally:
        link.stop()
    rows = {r.part: r for r in station.log.query(limit=None)}
    assert sorted(rows) == [*drill.DRILL_PARTS, "SN-8"]  # every part logged, none lost
    assert rows["SN-2"].verdict == "ERROR" and "no frame" in rows["SN-2"].error
    assert rows["SN-7"].recipe == "metal_plate_b" and rows["SN-1"].recipe == "metal_plate"
    assert state.threshold is not None and state.threshold.value == 1e9
    assert state.threshold.by == "recipe"
    qtbot.waitUntil(lambda: len(alarms) >= 6)  # queued to the UI thread
    drill.check_alarms(alarms, also=[AlarmCode.DRIFT])
    # every fault cleared again; the drift warning stays while the light is off
    qtbot.waitUntil(lambda: station.line_status.health[0] == "warning")
    assert station.line_status.health[1].startswith("DRIFT: metal_plate_b: brightness")
