"""The line's fault drill, written once and run on two stations, and what both line tests
share: the camera's folder of sample images and what ``inspector inspect`` says on it.

tests/station/test_line_e2e.py runs it on the Qt-free runner (OPC UA server and client
modes), tests/gui/test_line_station.py through the real station window. `Wire` is the PLC's
output to a station window's camera in hardware trigger (tests/gui/test_line_trigger.py and
benchmarks/line_station_e2e.py). Each fault is
asserted here, in one place: it reaches a defined state, raises its alarm (the handshake logs
every alarm), and the station goes on without a restart.

Parts: SN-1 clean; SN-2 camera unplugged (ERROR); SN-3 camera back; SN-4 the PLC disappears
mid-cycle (judged, recorded, withdrawn); SN-5 PLC back; SN-6 triggered twice and never
acknowledged; 42 an unknown recipe index; SN-7 on recipe 2.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from station.alarms import AlarmCode, AlarmEvent
from station.line.handshake import Handshake
from station.line.plc_sim import SimulatedPlc
from station.line.signals import LineVerdict

ROOT = Path(__file__).resolve().parents[1]

DRILL_PARTS = [f"SN-{i}" for i in range(1, 8)]
DRILL_ALARMS = frozenset(
    {
        AlarmCode.CAMERA,
        AlarmCode.PLC_LOST,
        AlarmCode.NO_ACK,
        AlarmCode.TRIGGER_REFUSED,
        AlarmCode.UNKNOWN_RECIPE,
    }
)
JUDGED = (LineVerdict.OK, LineVerdict.NG)


@dataclass
class DrillLine:
    """What the drill needs of the line under test.

    Attributes:
        handshake: the station's handshake (its refused and withdrawn counters are checked).
        unplug: closes the camera between parts.
        replug: brings the camera back once ERROR was given (the PLC is passed so it can
            beat while waiting); a station that reopens the camera itself does nothing.
        away_s: how long the PLC stays away; longer than the PLC watchdog, so PLC_LOST is
            raised whether the heartbeat or the link tells first.
        recipe_timeout_s: the first recipe selection loads the model.
        second_recipe: the verdicts recipe 2 may give.
    """

    handshake: Handshake
    unplug: Callable[[], Awaitable[None]]
    replug: Callable[[SimulatedPlc], Awaitable[None]]
    away_s: float
    recipe_timeout_s: float = 10.0
    second_recipe: tuple[int, ...] = JUDGED


async def camera_unplugged(plc: SimulatedPlc, line: DrillLine) -> None:
    await line.unplug()
    assert (await plc.cycle("SN-2"))[0] == LineVerdict.ERROR
    assert int(await plc.read("Alarm")) == AlarmCode.CAMERA
    await line.replug(plc)
    assert (await plc.cycle("SN-3"))[0] in JUDGED
    assert int(await plc.read("Alarm")) == 0


async def plc_disappears_mid_cycle(plc: SimulatedPlc, line: DrillLine) -> None:
    hs = line.handshake
    withdrawn = hs.withdrawn
    await plc.vanish_mid_cycle("SN-4")
    await asyncio.sleep(line.away_s)
    await plc.connect()
    await plc.wait_for("Alarm", int(AlarmCode.PLC_LOST), timeout=line.away_s + 5.0)
    await plc.wait_for("Ready", False)
    assert await plc.read("ResultReady") is False
    assert hs.withdrawn == withdrawn + 1  # judged and recorded, never acknowledged
    await plc.come_back()
    assert (await plc.cycle("SN-5"))[0] in JUDGED
    assert int(await plc.read("Alarm")) == 0


async def trigger_while_busy_and_no_ack(plc: SimulatedPlc, line: DrillLine) -> None:
    hs = line.handshake
    refused, withdrawn = hs.refused, hs.withdrawn
    await plc.trigger_twice_no_ack("SN-6")
    assert hs.refused > refused
    await plc.wait_for("ResultReady", False, timeout=3.0)  # no ack: withdrawn
    assert int(await plc.read("Alarm")) in (AlarmCode.TRIGGER_REFUSED, AlarmCode.NO_ACK)
    assert hs.withdrawn == withdrawn + 1 and await plc.read("Ready") is True
    await plc.write("Trigger", False)


async def unknown_recipe_index(plc: SimulatedPlc, line: DrillLine) -> None:
    await plc.beat()
    await plc.write("RecipeIndex", 42)
    await plc.wait_for("Alarm", int(AlarmCode.UNKNOWN_RECIPE))
    await plc.wait_for("Ready", False)
    assert line.handshake.recipe_index == 1
    await plc.select_recipe(2)
    assert (await plc.cycle("SN-7"))[0] in line.second_recipe


async def run_drill(plc: SimulatedPlc, line: DrillLine) -> None:
    """Every fault in turn on a connected PLC; the PLC is connected again at the end."""
    await plc.select_recipe(1, timeout=line.recipe_timeout_s)
    assert (await plc.cycle("SN-1"))[0] in JUDGED
    await camera_unplugged(plc, line)
    await plc_disappears_mid_cycle(plc, line)
    await trigger_while_busy_and_no_ack(plc, line)
    await unknown_recipe_index(plc, line)


def check_alarms(alarms: Iterable[AlarmEvent], also: Iterable[AlarmCode] = ()) -> None:
    """Every fault of the drill (and `also`) raised its alarm."""
    raised = {a.code for a in alarms if a.active}
    missing = (DRILL_ALARMS | set(also)) - raised
    assert not missing, f"alarms never raised: {sorted(c.name for c in missing)}"


def digest(image: np.ndarray) -> str:
    """The pixels' identity: frames are matched to files by it."""
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


def camera_folder(sample_product: Path, dest: Path) -> Path:
    """Every test image of the product (good and defective) in one folder for the emulated
    camera, named ``<kind>_<name>.png`` so it plays them in a fixed order."""
    dest.mkdir(parents=True)
    for path in sorted((sample_product / "test").glob("*/*.png")):
        shutil.copy(path, dest / f"{path.parent.name}_{path.name}")
    return dest


def inspect_cli(model: Path, folder: Path, out_dir: Path) -> dict[str, tuple[str, float]]:
    """``inspector inspect`` on ONNX Runtime over `folder`: pixels' digest -> (verdict, score)."""
    from inspector.imageio import read_image

    command = [sys.executable, "-m", "inspector.cli", "inspect", "--backend", "onnxruntime"]
    command += ["--model", str(model), "--out", str(out_dir), str(folder)]
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}, timeout=300
    )
    assert done.returncode == 1, done.stderr  # 1: some parts FAIL, none ERROR
    results = json.loads((out_dir / "results.json").read_text())["results"]
    out = {digest(read_image(r["path"])): (str(r["verdict"]), float(r["score"])) for r in results}
    assert len(out) == len(list(folder.glob("*.png")))
    assert {v for v, _ in out.values()} == {"PASS", "FAIL"}  # the folder holds both kinds
    return out


class Wire:
    """The PLC's output to a station window's camera's Line1; notes the frame each pulse made.

    The emulated camera takes no electrical pulse: `PylonSource.emulate_line_pulse` stands in.
    """

    def __init__(self, win: Any) -> None:
        self.win = win
        self.made: dict[str, str] = {}  # part id -> digest of the frame its pulse made
        # part id -> ms from the part fully signalled (Trigger written and pulse fired,
        # whichever is later) to reading ResultReady true
        self.ms: dict[str, float] = {}

    def pulse(self, part: str = "") -> None:
        worker = self.win.sources.worker
        camera = worker.source.source
        before = worker.last_frame()
        camera.emulate_line_pulse()
        deadline = time.monotonic() + 2.0
        while (frame := worker.last_frame()) is before:
            assert time.monotonic() < deadline, "the pulse made no frame"
            time.sleep(0.002)
        if part:
            self.made[part] = digest(frame.image)

    async def cycle(self, plc: SimulatedPlc, part: str, pulse: str = "before") -> int:
        """One part; its pulse "before" or "after" the Trigger is written, or "none"."""
        await plc.beat()
        await plc.wait_for("Ready", True)
        await plc.write("PartId", part)
        if pulse == "before":
            await asyncio.to_thread(self.pulse, part)
        t0 = time.perf_counter()
        await plc.write("Trigger", True)
        if pulse == "after":
            await asyncio.sleep(0.05)
            t0 = time.perf_counter()
            await asyncio.to_thread(self.pulse, part)
        await plc.wait_for("ResultReady", True)
        self.ms[part] = (time.perf_counter() - t0) * 1e3
        verdict, _score = await plc.result()
        await plc.ack()
        return verdict
