"""The real station on a line with its camera in hardware trigger (Line1).

The window of tests/gui/test_line_station.py, linked to a simulated PLC; recipe 3 sets the
emulated pylon camera to hardware trigger. The PLC's output wired to the camera fires
`PylonSource.emulate_line_pulse` for each part (the emulator takes no electrical pulse), and
the wire notes which frame each pulse made, read from the camera as it arrives. Every part
must be judged on that frame, as ``inspector inspect`` judges it: the pulse sometimes before
the Trigger reaches the station, sometimes after; a part whose pulse is lost gets NO_FRAME,
and a pulse that comes too late for its part is no later part's frame.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PYLON_CAMEMU", "2")
pytest.importorskip("pypylon")
pytest.importorskip("onnxruntime")

from inspector.imageio import read_image  # noqa: E402
from station.alarms import AlarmCode  # noqa: E402
from station.line.plc_sim import SimulatedPlc  # noqa: E402
from station.line.signals import LineVerdict  # noqa: E402
from tests import line_drill as drill  # noqa: E402
from tests.gui import test_line_station as line_station  # noqa: E402

# The station window and its model, shared with tests/gui/test_line_station.py.
line_model, expected, station = line_station.line_model, line_station.expected, line_station.station
PARTS, linked, run_plc = line_station.PARTS, line_station.linked, line_station.run_plc

pytestmark = pytest.mark.slow  # trains the shared test model (about 10 s)

NAMES = {LineVerdict.OK: "PASS", LineVerdict.NG: "FAIL", LineVerdict.ERROR: "ERROR"}


def judged(
    station: Any, expected: dict[str, tuple[str, float]], made: dict[str, str], recipe: str
) -> dict[str, Any]:
    """Each part's row against its own frame (``made``: part -> digest): the frame the station
    saved is that one, and verdict and score are what ``inspector inspect`` says on it."""
    rows = {r.part: r for r in station.log.query(limit=None)}
    for part, digest in made.items():
        row = rows[part]
        assert drill.digest(read_image(row.image_path)) == digest, f"{part}: not its frame"
        want_verdict, want_score = expected[digest]
        assert row.verdict == want_verdict and row.recipe == recipe
        assert row.score == pytest.approx(want_score, rel=1e-4, abs=1e-5)
    return rows


def in_order(line_model: Path, digests: list[str]) -> bool:
    """The camera's folder in order from wherever it began: nothing stale or repeated."""
    files = [drill.digest(read_image(f)) for f in sorted((line_model.parent / "camera").glob("*"))]
    first = files.index(digests[0])
    return digests == [files[(first + i) % len(files)] for i in range(len(digests))]


def test_hardware_trigger_each_part_is_judged_on_the_frame_captured_for_it(
    qtbot: Any, station: Any, expected: dict[str, tuple[str, float]], line_model: Path
) -> None:
    link, make_plc, _alarms = linked(station, "opcua")
    wire = drill.Wire(station)
    parts = [f"SN-{i:05d}" for i in range(PARTS)]

    async def steps(plc: SimulatedPlc) -> list[int]:
        await plc.select_recipe(3, timeout=60.0)  # the camera is armed on Line1 when Ready
        return [
            await wire.cycle(plc, p, "before" if i % 2 else "after") for i, p in enumerate(parts)
        ]

    verdicts = run_plc(qtbot, link, make_plc, steps)
    camera = station.sources.worker.source.source
    assert camera.feature("TriggerMode") == "On" and camera.feature("TriggerSource") == "Line1"
    rows = judged(station, expected, wire.made, "metal_plate_hardware")
    assert sorted(rows) == parts  # one row a trigger
    assert [NAMES[LineVerdict(v)] for v in verdicts] == [rows[p].verdict for p in parts]
    assert set(verdicts) == {LineVerdict.OK, LineVerdict.NG}
    assert in_order(line_model, [wire.made[p] for p in parts])  # one frame a pulse


def test_hardware_trigger_without_its_pulse_gives_no_frame_and_recovers(
    qtbot: Any, station: Any, expected: dict[str, tuple[str, float]]
) -> None:
    """SN-2's pulse is lost: ERROR with NO_FRAME, never an older frame. Its pulse then comes
    late, after its ERROR and before the ack: that frame is no part's; SN-3 (pulse after its
    Trigger) gets its own frame and clears the alarm."""
    link, make_plc, alarms = linked(station, "modbus")
    wire = drill.Wire(station)

    async def steps(plc: SimulatedPlc) -> list[int]:
        await plc.select_recipe(3, timeout=60.0)
        verdicts = [await wire.cycle(plc, "SN-1")]
        await plc.beat()
        await plc.wait_for("Ready", True)
        await plc.write("PartId", "SN-2")
        await plc.write("Trigger", True)  # the wire to the camera is broken
        verdicts.append((await plc.result())[0])
        assert int(await plc.read("Alarm")) == AlarmCode.NO_FRAME
        await asyncio.to_thread(wire.pulse)  # SN-2's pulse, too late
        await plc.ack()
        verdicts.append(await wire.cycle(plc, "SN-3", "after"))
        assert int(await plc.read("Alarm")) == 0
        verdicts.append(await wire.cycle(plc, "SN-4", "before"))
        return verdicts

    verdicts = run_plc(qtbot, link, make_plc, steps)
    assert verdicts[1] == LineVerdict.ERROR
    assert all(v in (LineVerdict.OK, LineVerdict.NG) for v in verdicts[:1] + verdicts[2:])
    rows = judged(station, expected, wire.made, "metal_plate_hardware")
    assert sorted(rows) == ["SN-1", "SN-2", "SN-3", "SN-4"]
    assert rows["SN-2"].verdict == "ERROR" and not rows["SN-2"].image_path
    assert "no frame" in rows["SN-2"].error and "hardware trigger" in rows["SN-2"].error
    qtbot.waitUntil(lambda: any(a.code == AlarmCode.NO_FRAME and not a.active for a in alarms))
    assert any(a.code == AlarmCode.NO_FRAME and a.active for a in alarms)


def test_software_trigger_the_station_fires_the_camera_for_each_part(
    qtbot: Any, station: Any, expected: dict[str, tuple[str, float]], line_model: Path
) -> None:
    link, make_plc, _alarms = linked(station, "modbus")
    parts = [f"SN-{i}" for i in range(8)]

    async def steps(plc: SimulatedPlc) -> list[tuple[int, float]]:
        await plc.select_recipe(4, timeout=60.0)
        await asyncio.sleep(0.5)  # no trigger, no frame: nothing for the parts to take
        return [await plc.cycle(p) for p in parts]

    answers = run_plc(qtbot, link, make_plc, steps)
    camera = station.sources.worker.source.source
    assert camera.feature("TriggerSource") == "Software"
    rows = {r.part: r for r in station.log.query(limit=None)}
    made = {p: drill.digest(read_image(rows[p].image_path)) for p in parts}
    judged(station, expected, made, "metal_plate_software")
    assert in_order(line_model, list(made.values()))  # one frame each, fired by the station
    assert [NAMES[LineVerdict(v)] for v, _ in answers] == [rows[p].verdict for p in parts]
