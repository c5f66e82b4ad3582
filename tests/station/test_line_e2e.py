"""End to end on loopback: a simulated PLC, the station's transport, the handshake, the runner
with a real model (ONNX Runtime) and an emulated pylon camera playing sample_images.

The emulator cannot receive a pulse on an input line, so the camera runs in software-trigger
mode here (the runner triggers it for each PLC trigger); a camera set to hardware trigger is
checked for the no-frame path it takes without a pulse.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("PYLON_CAMEMU", "2")
pytest.importorskip("pypylon")
pytest.importorskip("onnxruntime")

from inspector.capture.pylon import PylonSettings, PylonSource  # noqa: E402
from inspector.imageio import read_image  # noqa: E402
from inspector.runtime import Inspector  # noqa: E402
from station.alarms import AlarmCode, AlarmEvent  # noqa: E402
from station.line.handshake import Handshake, HandshakeSettings, LineRecord  # noqa: E402
from station.line.modbus import ModbusServerTransport, ModbusSettings  # noqa: E402
from station.line.opcua import OpcUaServerSettings, OpcUaServerTransport  # noqa: E402
from station.line.plc_sim import ModbusPlc, OpcUaPlc, SimulatedPlc, free_port  # noqa: E402
from station.line.runner import LineRunner  # noqa: E402
from station.line.signals import LineVerdict  # noqa: E402
from station.recipes import CameraSettings, Recipe, RecipeBook, save_recipe  # noqa: E402

pytestmark = pytest.mark.slow  # the trained_bundle fixture trains a model (about 10 s)

SETTINGS = HandshakeSettings(
    result_timeout_s=3.0, ack_timeout_s=0.6, heartbeat_s=0.1, plc_watchdog_s=1.0
)


def digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


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
    camera = ws / "camera"
    camera.mkdir()
    for path in sorted((sample_product / "test").glob("*/*.png")):
        shutil.copy(path, camera / f"{path.parent.name}_{path.name}")
    return ws


@pytest.fixture(scope="module")
def expected(workspace: Path) -> dict[str, tuple[int, float]]:
    """What the model says on each image file, keyed by the pixels' digest."""
    out = {}
    with Inspector.load(workspace / "models" / "metal_plate", backend="onnxruntime") as model:
        for path in sorted((workspace / "camera").glob("*.png")):
            result = model.inspect(path)
            verdict = LineVerdict.OK if result.verdict == "PASS" else LineVerdict.NG
            out[digest(read_image(path))] = (int(verdict), result.score)
    assert {v for v, _ in out.values()} == {1, 2}  # the folder holds both kinds
    return out


def camera(workspace: Path, **changes: Any) -> PylonSource:
    base: dict[str, Any] = dict(
        serial="0815-0000",
        width=256,
        height=256,
        trigger="software",
        timeout_ms=1000,
        emulator_images=str(workspace / "camera"),
    )
    base.update(changes)
    return PylonSource(PylonSettings(**base))


async def started(kind: str, runner: LineRunner) -> tuple[Handshake, Any, list, list]:
    transport: Any
    records: list[LineRecord] = []
    alarms: list[AlarmEvent] = []
    if kind == "opcua":
        transport = OpcUaServerTransport(OpcUaServerSettings("127.0.0.1", free_port()))
    else:
        transport = ModbusServerTransport(ModbusSettings("127.0.0.1", 0))
    hs = Handshake(transport, runner, SETTINGS, alarms.append, records.append)
    await hs.start()
    return hs, transport, records, alarms


def plc_for(kind: str, transport: Any) -> SimulatedPlc:
    if kind == "opcua":
        return OpcUaPlc(transport.settings.endpoint)
    return ModbusPlc("127.0.0.1", transport.port)


def run(test: Callable[[], Awaitable[None]], timeout: float = 60.0) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout))


@pytest.mark.parametrize(("kind", "parts"), [("opcua", 40), ("modbus", 40)])
def test_plc_triggers_parts_and_every_verdict_matches_the_model(
    kind: str, parts: int, workspace: Path, expected: dict[str, tuple[int, float]]
) -> None:
    runner = LineRunner(camera(workspace), RecipeBook.load(workspace))

    async def body() -> None:
        hs, transport, records, _alarms = await started(kind, runner)
        plc = plc_for(kind, transport)
        await plc.connect()
        try:
            await plc.select_recipe(1)
            answers = [await plc.cycle(f"SN-{i:05d}") for i in range(parts)]
        finally:
            await plc.close()
            await hs.stop()
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

    try:
        run(body)
    finally:
        runner.close()


def test_faults_reach_a_defined_state_raise_the_alarm_and_recover(workspace: Path) -> None:
    """Camera closed, PLC gone mid-cycle, trigger while busy, no ack, unknown recipe: each
    gives its alarm and the station goes on without a restart."""
    runner = LineRunner(camera(workspace), RecipeBook.load(workspace))

    async def body() -> None:
        hs, transport, records, alarms = await started("opcua", runner)
        plc = plc_for("opcua", transport)
        await plc.connect()
        try:
            await plc.select_recipe(1)
            assert (await plc.cycle("SN-1"))[0] in (1, 2)

            runner.source.close()  # the camera is unplugged between parts
            assert (await plc.cycle("SN-2"))[0] == LineVerdict.ERROR
            assert int(await plc.read("Alarm")) == AlarmCode.CAMERA
            assert (await plc.cycle("SN-3"))[0] in (1, 2)  # reopened at the next part
            assert int(await plc.read("Alarm")) == 0

            await plc.vanish_mid_cycle("SN-4")
            plc = plc_for("opcua", transport)
            await plc.connect()
            await plc.wait_for("Alarm", int(AlarmCode.PLC_LOST), timeout=3.0)
            assert await plc.read("Ready") is False and await plc.read("ResultReady") is False
            assert hs.withdrawn == 1
            await plc.come_back()
            assert (await plc.cycle("SN-5"))[0] in (1, 2)
            assert int(await plc.read("Alarm")) == 0

            await plc.trigger_twice_no_ack("SN-6")
            assert hs.refused >= 1
            await plc.wait_for("ResultReady", False, timeout=3.0)  # no ack: withdrawn
            assert int(await plc.read("Alarm")) in (AlarmCode.TRIGGER_REFUSED, AlarmCode.NO_ACK)
            assert hs.withdrawn == 2 and await plc.read("Ready") is True
            await plc.write("Trigger", False)

            await plc.beat()
            await plc.write("RecipeIndex", 42)
            await plc.wait_for("Alarm", int(AlarmCode.UNKNOWN_RECIPE))
            assert await plc.read("Ready") is False and hs.recipe_index == 1
            await plc.select_recipe(2)
            assert (await plc.cycle("SN-7"))[0] in (1, 2)
            assert int(await plc.read("Alarm")) == 0
        finally:
            await plc.close()
            await hs.stop()
        assert [r.part_id for r in records] == [
            "SN-1",
            "SN-2",
            "SN-3",
            "SN-4",
            "SN-5",
            "SN-6",
            "SN-7",
        ]
        assert records[1].result.verdict == LineVerdict.ERROR and "not open" in records[1].error
        assert records[-1].recipe_index == 2
        raised = {a.code for a in alarms if a.active}
        assert raised >= {
            AlarmCode.CAMERA,
            AlarmCode.PLC_LOST,
            AlarmCode.NO_ACK,
            AlarmCode.TRIGGER_REFUSED,
            AlarmCode.UNKNOWN_RECIPE,
        }

    try:
        run(body)
    finally:
        runner.close()


def test_hardware_trigger_without_a_pulse_gives_error_and_no_frame_alarm(workspace: Path) -> None:
    runner = LineRunner(
        camera(workspace, trigger="hardware", timeout_ms=300), RecipeBook.load(workspace)
    )

    async def body() -> None:
        hs, transport, records, _alarms = await started("modbus", runner)
        plc = plc_for("modbus", transport)
        await plc.connect()
        try:
            await plc.select_recipe(1)
            assert (await plc.cycle("SN-1"))[0] == LineVerdict.ERROR
            assert int(await plc.read("Alarm")) == AlarmCode.NO_FRAME
        finally:
            await plc.close()
            await hs.stop()
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
        hs, transport, records, alarms = await started("modbus", runner)
        keep = ImageRetention(tmp_path / "images", RetentionPolicy(1, None, None))
        monitor = LineMonitor(hs, runner.recipes, {"metal_plate": dark}, keep)

        def both(record: LineRecord) -> None:
            records.append(record)
            monitor.record(record)

        hs.on_record = both
        plc = plc_for("modbus", transport)
        await plc.connect()
        try:
            await plc.select_recipe(1)
            # the camera's folder starts with 6 dented parts, then good ones
            verdicts = [(await plc.cycle(f"SN-{i}"))[0] for i in range(10)]
            await asyncio.sleep(0.3)  # the monitor's worker raises the alarm on the loop
            await plc.beat()
            assert int(await plc.read("Alarm")) == AlarmCode.DRIFT
            assert (await plc.cycle("SN-10"))[0] in (1, 2)  # inspection goes on
        finally:
            await plc.close()
            await hs.stop()
            monitor.close()
        assert 1 in verdicts
        assert any(a.code == AlarmCode.DRIFT and "brightness" in a.message for a in alarms)
        assert set(monitor.kept) == {f"SN-{i}" for i in range(11)}
        assert all(Path(p).is_file() for p in monitor.kept.values())

    try:
        run(body)
    finally:
        runner.close()
