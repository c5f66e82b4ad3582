"""End to end on loopback: a simulated PLC, the station's transport, the handshake, the runner
with a real model (ONNX Runtime) and an emulated pylon camera playing sample_images.

The camera is set to hardware trigger (TriggerSource Line1, one frame a pulse, the station
never triggers it). The emulator cannot take an electrical pulse, so the simulated PLC's
output "wired" to the camera fires `PylonSource.emulate_line_pulse` with every Trigger: the
only stand-in the emulator offers (docs/line.md, "Hardware trigger on the emulator").
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PYLON_CAMEMU", "2")
pytest.importorskip("pypylon")
pytest.importorskip("onnxruntime")

from inspector.capture.base import SourceError  # noqa: E402
from inspector.capture.pylon import PylonSettings, PylonSource  # noqa: E402
from inspector.imageio import read_image  # noqa: E402
from station.alarms import AlarmCode, AlarmEvent  # noqa: E402
from station.line.handshake import Handshake, HandshakeSettings, LineRecord  # noqa: E402
from station.line.modbus import ModbusServerTransport, ModbusSettings  # noqa: E402
from station.line.opcua import (  # noqa: E402
    OpcUaClientSettings,
    OpcUaClientTransport,
    OpcUaServerSettings,
    OpcUaServerTransport,
)
from station.line.plc_sim import (  # noqa: E402
    ModbusPlc,
    OpcUaPlc,
    OpcUaPlcServer,
    SimulatedPlc,
    free_port,
)
from station.line.runner import LineRunner  # noqa: E402
from station.line.signals import LineVerdict  # noqa: E402
from station.recipes import CameraSettings, Recipe, RecipeBook, save_recipe  # noqa: E402
from tests.line_drill import (  # noqa: E402
    DRILL_PARTS,
    DrillLine,
    camera_folder,
    check_alarms,
    digest,
    inspect_cli,
    run_drill,
)

pytestmark = pytest.mark.slow  # the trained_bundle fixture trains a model (about 10 s)

SETTINGS = HandshakeSettings(
    result_timeout_s=3.0, ack_timeout_s=0.6, heartbeat_s=0.1, plc_watchdog_s=1.0
)


@pytest.fixture(scope="module")
def workspace(trained_bundle: Path, sample_product: Path, tmp_path_factory: Any) -> Path:
    """A station workspace: the model exported to ONNX, two recipes, and the camera's folder
    holding every test image of the sample product (good and defective)."""
    from training.export import export_onnx

    ws = tmp_path_factory.mktemp("line") / "workspace"
    shutil.copytree(trained_bundle, ws / "models" / "metal_plate")
    export_onnx(ws / "models" / "metal_plate")
    plate = Recipe(1, "metal_plate", "models/metal_plate", camera=CameraSettings(1000.0, 0.0))
    save_recipe(plate, ws / "recipes")
    save_recipe(Recipe(2, "metal_plate_b", "models/metal_plate"), ws / "recipes")
    camera_folder(sample_product, ws / "camera")
    return ws


@pytest.fixture(scope="module")
def expected(workspace: Path, tmp_path_factory: Any) -> dict[str, tuple[int, float]]:
    """What ``inspector inspect`` says on each camera image, keyed by the pixels' digest."""
    said = inspect_cli(
        workspace / "models" / "metal_plate", workspace / "camera", tmp_path_factory.mktemp("cli")
    )
    verdicts = {"PASS": LineVerdict.OK, "FAIL": LineVerdict.NG}
    return {key: (int(verdicts[v]), score) for key, (v, score) in said.items()}


def camera(workspace: Path, **changes: Any) -> PylonSource:
    base: dict[str, Any] = dict(
        serial="0815-0000",
        width=256,
        height=256,
        trigger="hardware",
        timeout_ms=1000,
        emulator_images=str(workspace / "camera"),
    )
    base.update(changes)
    return PylonSource(PylonSettings(**base))


def wire(plc: SimulatedPlc, source: PylonSource) -> None:
    """The PLC's output to the camera's Line1: every Trigger pulses the line."""

    def pulse() -> None:
        try:
            source.emulate_line_pulse()
        except SourceError:
            pass  # an unplugged camera takes no pulse; the station reports the part

    plc.wired = pulse


async def linked(
    kind: str, runner: LineRunner
) -> tuple[Handshake, SimulatedPlc, list[LineRecord], list[AlarmEvent]]:
    """A started handshake over ``kind`` and a connected PLC wired to the camera.

    Kinds: "opcua" (the station hosts the server), "opcua-client" (the PLC hosts it and the
    station connects), "modbus" (the station hosts a Modbus TCP server).
    """
    transport: Any
    plc: SimulatedPlc
    records: list[LineRecord] = []
    alarms: list[AlarmEvent] = []
    if kind == "opcua-client":
        plc = OpcUaPlcServer(free_port())
        await plc.connect()
        settings = OpcUaClientSettings(plc.url, plc.node_ids, publish_ms=5.0, backoff_s=(0.1, 0.5))
        transport = OpcUaClientTransport(settings)
    elif kind == "opcua":
        transport = OpcUaServerTransport(OpcUaServerSettings("127.0.0.1", free_port()))
    else:
        transport = ModbusServerTransport(ModbusSettings("127.0.0.1", 0))
    hs = Handshake(transport, runner, SETTINGS, alarms.append, records.append)
    await hs.start()
    if kind == "opcua":
        plc = OpcUaPlc(transport.settings.endpoint)
        await plc.connect()
    elif kind == "modbus":
        plc = ModbusPlc("127.0.0.1", transport.port)
        await plc.connect()
    if isinstance(runner.source, PylonSource) and runner.source.settings.trigger == "hardware":
        wire(plc, runner.source)
    return hs, plc, records, alarms


def run(test: Callable[[], Awaitable[None]], timeout: float = 60.0) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout))


@pytest.mark.parametrize(("kind", "parts"), [("opcua", 200), ("opcua-client", 40), ("modbus", 40)])
def test_plc_triggers_parts_and_every_verdict_matches_inspector_inspect(
    kind: str, parts: int, workspace: Path, expected: dict[str, tuple[int, float]]
) -> None:
    runner = LineRunner(camera(workspace), RecipeBook.load(workspace))

    async def body() -> None:
        hs, plc, records, _alarms = await linked(kind, runner)
        try:
            await plc.select_recipe(1)
            answers = [await plc.cycle(f"SN-{i:05d}") for i in range(parts)]
        finally:
            await hs.stop()
            await plc.close()
        assert len(records) == parts  # none lost
        model_id = runner.inspector.model_id if runner.inspector else ""
        for i, (record, (verdict, score)) in enumerate(zip(records, answers, strict=True)):
            assert record.part_id == f"SN-{i:05d}"
            assert (record.recipe_index, record.recipe_name) == (1, "metal_plate")
            assert record.result.model_id == model_id != ""
            assert record.result.image is not None
            want_verdict, want_score = expected[digest(record.result.image)]
            assert verdict == record.result.verdict == want_verdict
            assert record.result.raw_score == pytest.approx(want_score, rel=1e-5, abs=1e-6)
            assert score == pytest.approx(record.result.score, abs=1e-6)  # float32 on the wire
        assert {r.result.verdict for r in records} == {1, 2}
        # one frame a pulse, none lost or repeated: part i got the folder's image i (cycling)
        files = [digest(read_image(f)) for f in sorted((workspace / "camera").glob("*.png"))]
        got = [digest(r.result.image) for r in records if r.result.image is not None]
        assert got == [files[i % len(files)] for i in range(parts)]

    try:
        run(body, timeout=300.0)
    finally:
        runner.close()


@pytest.mark.parametrize("kind", ["opcua", "opcua-client"])
def test_fault_drill_reaches_defined_states_and_recovers(kind: str, workspace: Path) -> None:
    """tests/line_drill.py on the runner; in client mode the PLC's own server goes away."""
    runner = LineRunner(camera(workspace), RecipeBook.load(workspace))

    async def unplug() -> None:
        runner.source.close()  # between parts

    async def reopened(_plc: SimulatedPlc) -> None:
        return None  # the runner reopens the camera right after the failed part

    async def body() -> None:
        hs, plc, records, alarms = await linked(kind, runner)
        line = DrillLine(hs, unplug, reopened, away_s=SETTINGS.plc_watchdog_s + 0.3)
        try:
            await run_drill(plc, line)
        finally:
            await hs.stop()
            await plc.close()
        assert [r.part_id for r in records] == DRILL_PARTS  # every part recorded, once
        assert records[1].result.verdict == LineVerdict.ERROR and "not open" in records[1].error
        assert records[-1].recipe_index == 2
        check_alarms(alarms)

    try:
        run(body)
    finally:
        runner.close()


def test_hardware_trigger_without_a_pulse_gives_error_and_no_frame_alarm(workspace: Path) -> None:
    runner = LineRunner(camera(workspace, timeout_ms=300), RecipeBook.load(workspace))

    async def body() -> None:
        hs, plc, records, _alarms = await linked("modbus", runner)
        plc.wired = None  # the line to the camera is broken
        try:
            await plc.select_recipe(1)
            assert (await plc.cycle("SN-1"))[0] == LineVerdict.ERROR
            assert int(await plc.read("Alarm")) == AlarmCode.NO_FRAME
        finally:
            await hs.stop()
            await plc.close()
        assert "no frame within 300 ms" in records[0].error

    try:
        run(body)
    finally:
        runner.close()


def test_drift_and_retention_reach_the_plc(workspace: Path, tmp_path: Path) -> None:
    """A calibration far from what the camera sees raises DRIFT on the PLC's Alarm; every
    image is kept under the part's id; drift does not stop inspection."""
    from station.drift import Calibration, Reference
    from station.line.monitor import LineMonitor
    from station.retention import ImageRetention, RetentionPolicy

    runner = LineRunner(camera(workspace), RecipeBook.load(workspace))
    dark = Calibration({"brightness": Reference(50.0, 1.0)})  # the light was far dimmer then

    async def body() -> None:
        hs, plc, records, alarms = await linked("modbus", runner)
        keep = ImageRetention(tmp_path / "images", RetentionPolicy(1, None, None))
        monitor = LineMonitor(hs, runner.recipes, {"metal_plate": dark}, keep)

        def both(record: LineRecord) -> None:
            records.append(record)
            monitor.record(record)

        hs.on_record = both
        try:
            await plc.select_recipe(1)
            # the camera's folder starts with 6 dented parts, then good ones
            verdicts = [(await plc.cycle(f"SN-{i}"))[0] for i in range(10)]
            await asyncio.sleep(0.3)  # the monitor's worker raises the alarm on the loop
            await plc.beat()
            assert int(await plc.read("Alarm")) == AlarmCode.DRIFT
            assert (await plc.cycle("SN-10"))[0] in (1, 2)  # inspection goes on
        finally:
            await hs.stop()
            await plc.close()
            monitor.close()
        assert 1 in verdicts
        assert any(a.code == AlarmCode.DRIFT and "brightness" in a.message for a in alarms)
        assert set(monitor.kept) == {f"SN-{i}" for i in range(11)}
        assert all(Path(p).is_file() for p in monitor.kept.values())

    try:
        run(body)
    finally:
        runner.close()
