"""The real station on a line: a simulated PLC drives MainWindow (offscreen) end to end.

Usage:
    QT_QPA_PLATFORM=offscreen python benchmarks/line_station_e2e.py \
        [--bundle DIR] [--parts 200] [--seconds 180] [--transport opcua|modbus]
        [--trigger free|software|hardware] [--json FILE]

The station captures from the emulated pylon camera (PYLON_CAMEMU, playing the sample
product's test images) and links to a PLC over OPC UA or Modbus TCP on loopback. The recipes
set the camera's trigger: "free" leaves it running free (each part takes the newest frame),
"software" has the station fire it for each part, "hardware" sets it to Line1 and the PLC
fires the emulator's stand-in pulse with each Trigger, alternately before and after writing
Trigger (tests/line_drill.py `Wire`, as tests/gui/test_line_trigger.py does).
Phase 1: the PLC selects recipe 1 (every part image kept), triggers ``--parts`` parts, reads
each verdict and acks; each verdict is checked against ``inspector inspect`` on the image the
station saved (matched by pixel digest) and, in hardware trigger, that image must be the
frame the part's pulse made; every log row must carry part id, recipe and model.
Phase 2: recipe 2 (only NG images kept), as many triggers as fit in ``--seconds``.
Trigger-to-verdict latency is from the Trigger write (in hardware trigger: from the later of
the Trigger write and the pulse) to reading ResultReady true (2 ms polls).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("PYLON_CAMEMU", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(1, str(ROOT))  # tests.line_drill: the helpers the line tests use

from line_latency import prepare  # noqa: E402  (same folder: the same workspace)

from tests import line_drill as drill  # noqa: E402

CAMERA = "pylon"


async def plc_program(
    make_plc: Any, wire: drill.Wire, hardware: bool, parts: int, seconds: float
) -> dict[str, Any]:
    """Recipe 1 and ``parts`` judged parts (part, verdict); then recipe 2 for ``seconds`` of
    cycles. In hardware trigger each part's pulse comes alternately before and after its
    Trigger; otherwise the wire to the camera stays idle."""
    plc = make_plc()
    await plc.connect()
    answers: list[tuple[str, int]] = []
    second: list[str] = []

    async def cycle(part: str, i: int) -> int:
        return await wire.cycle(plc, part, ("before" if i % 2 else "after") if hardware else "none")

    try:
        await plc.select_recipe(1, timeout=120.0)
        for i in range(parts):
            answers.append((f"SN-{i:06d}", await cycle(f"SN-{i:06d}", i)))
        await plc.select_recipe(2)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            second.append(f"LT-{len(second):06d}")
            await cycle(second[-1], len(second))
    finally:
        await plc.close()
    return {
        "answers": answers,
        "latencies": [wire.ms[p] for p, _ in answers],
        "latencies_2": [wire.ms[p] for p in second],
        "made": wire.made,
    }


def run_station(ws: Path, kind: str, trigger: str, parts: int, seconds: float) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from gui.line_link import attach_line
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace
    from station.line.handshake import HandshakeSettings
    from station.line.plc_sim import ModbusPlc, OpcUaPlc, free_port

    app = QApplication.instance() or QApplication([])
    os.environ["PYLON_CAMEMU_IMAGES"] = str(ws / "camera")
    model = ws / "models" / "metal_plate"
    settings = StationSettings(
        model=str(model), source=CAMERA, trigger_mode="triggered", save_policy="none"
    )
    win = MainWindow(Workspace(ws), settings)
    deadline = time.monotonic() + 60
    while (win.state.model is None or win.state.source_status.status != "live") and (
        time.monotonic() < deadline
    ):
        app.processEvents()
        time.sleep(0.02)
    port = free_port()
    spec = f"{kind}:127.0.0.1:{port}"
    link = attach_line(win, spec, settings=HandshakeSettings(plc_watchdog_s=0))
    endpoint = f"opc.tcp://127.0.0.1:{port}/inspector/"
    make_plc = (lambda: OpcUaPlc(endpoint)) if kind == "opcua" else (
        lambda: ModbusPlc("127.0.0.1", port)
    )  # fmt: skip
    out: dict[str, Any] = {}
    wire = drill.Wire(win)
    hardware = trigger == "hardware"

    def plc_thread() -> None:
        try:
            out.update(asyncio.run(plc_program(make_plc, wire, hardware, parts, seconds)))
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=plc_thread, daemon=True)
    thread.start()
    while thread.is_alive():
        app.processEvents()
        thread.join(0.02)
    link.stop()
    rows = {r.part: r for r in win.log.query(limit=None)}
    camera: Any = win.sources.worker.source.source  # type: ignore[union-attr]  # read back
    out["camera"] = {f: camera.feature(f) for f in ("TriggerMode", "TriggerSource")}
    model_id = win.state.model.model_id if win.state.model else ""
    win.shutdown()
    if "error" in out:
        raise out["error"]
    return {"rows": rows, "model_id": model_id, **out}


def percentiles(ms: list[float]) -> dict[str, Any]:
    lat = np.array(ms)
    if not lat.size:
        return {"triggers": 0}
    return {
        "triggers": int(lat.size),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p95_ms": round(float(np.percentile(lat, 95)), 1),
        "max_ms": round(float(lat.max()), 1),
    }


def check(ws: Path, tmp: Path, trigger: str, result: dict[str, Any]) -> dict[str, Any]:
    """Each phase-1 part's row against ``inspector inspect`` on the frame it was judged on;
    in hardware trigger that frame must be the one the part's pulse made."""
    from inspector.imageio import read_image

    expected = drill.inspect_cli(ws / "models" / "metal_plate", ws / "camera", tmp / "cli")
    names = {1: "PASS", 2: "FAIL", 3: "ERROR"}
    rows, made = result["rows"], result["made"]
    problems: list[str] = []
    matched = lost = 0
    for part, verdict in result["answers"]:
        row = rows.get(part)
        if row is None:
            lost += 1
            problems.append(f"{part}: no log row")
            continue
        judged_on = drill.digest(read_image(row.image_path)) if row.image_path else None
        want = expected[judged_on][0] if judged_on in expected else None
        labels = (row.recipe, row.model_id) == ("metal_plate", result["model_id"])
        own = trigger != "hardware" or judged_on == made.get(part)
        if names[verdict] == row.verdict == want and labels and own:
            matched += 1
        else:
            problems.append(
                f"{part}: PLC {names[verdict]}, row {row.verdict} ({row.recipe}, "
                f"{row.model_id}, error {row.error!r}), inspect {want}, "
                f"own frame {own}, frame file {row.image_path}"
            )
    unlabelled = sum(1 for r in rows.values() if not (r.part and r.recipe and r.model_id))
    return {
        "parts": len(result["answers"]),
        "matched": matched,
        "lost": lost,
        "rows": len(rows),  # one per trigger of both phases
        "triggers": len(result["answers"]) + len(result["latencies_2"]),
        "rows_without_part_recipe_or_model": unlabelled,
        "problems": problems,
        "camera": result["camera"],
        "latency_recipe_1_keep_all": percentiles(result["latencies"]),
        "latency_recipe_2_keep_ng": percentiles(result["latencies_2"]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bundle", type=Path, default=None, help="model bundle (default: train one)")
    p.add_argument("--parts", type=int, default=200)
    p.add_argument("--seconds", type=float, default=180.0)
    p.add_argument("--transport", choices=["opcua", "modbus"], default="opcua")
    p.add_argument("--trigger", choices=["free", "software", "hardware"], default="free")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = p.parse_args()
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    from station.recipes import CameraSettings, Recipe, save_recipe
    from station.retention import RetentionPolicy

    camera = CameraSettings(trigger=None if a.trigger == "free" else a.trigger)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "workspace"
        prepare(a.bundle, ws)
        model, book = str(ws / "models" / "metal_plate"), ws / "recipes"
        save_recipe(Recipe(1, "metal_plate", model, camera=camera, save=RetentionPolicy(1)), book)
        save_recipe(
            Recipe(2, "metal_plate_ng", model, camera=camera, save=RetentionPolicy(0)), book
        )
        run = run_station(ws, a.transport, a.trigger, a.parts, a.seconds)
        out = {"transport": a.transport, "trigger": a.trigger}
        out |= check(ws, Path(tmp), a.trigger, run)
    print(json.dumps(out, indent=2))
    if a.json is not None:
        a.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
