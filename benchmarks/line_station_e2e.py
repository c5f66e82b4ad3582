"""The real station on a line: a simulated PLC drives MainWindow (offscreen) end to end.

Usage:
    QT_QPA_PLATFORM=offscreen python benchmarks/line_station_e2e.py \
        [--bundle DIR] [--parts 200] [--seconds 180] [--transport opcua]

The station captures from the emulated pylon camera (PYLON_CAMEMU, free run, playing the
sample product's test images) and links to a PLC over OPC UA or Modbus TCP on loopback.
Phase 1: the PLC selects recipe 1 (every part image kept), triggers ``--parts`` parts, reads
each verdict and acks; every verdict is checked against the Inspector API on the image the
station saved (matched by pixel digest) and every log row must carry part id, recipe and
model. Phase 2: recipe 2 (only NG images kept), as many triggers as fit in ``--seconds``;
trigger-to-verdict latency is from the Trigger write to reading ResultReady true (2 ms polls).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("PYLON_CAMEMU", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from line_latency import prepare  # noqa: E402  (same folder: the same workspace)

CAMERA = "pylon"


def digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


async def plc_program(make_plc: Any, parts: int, seconds: float) -> dict[str, Any]:
    plc = make_plc()
    await plc.connect()
    answers, latencies = [], []
    try:
        await plc.select_recipe(1, timeout=120.0)
        for i in range(parts):
            answers.append((f"SN-{i:06d}", *(await plc.cycle(f"SN-{i:06d}"))))
        await plc.select_recipe(2)
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            await plc.beat()
            latencies.append(await plc.timed_cycle(f"LT-{i:06d}"))
            i += 1
    finally:
        await plc.close()
    return {"answers": answers, "latencies": latencies}


def run_station(ws: Path, kind: str, parts: int, seconds: float) -> dict[str, Any]:
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

    def plc_thread() -> None:
        try:
            out.update(asyncio.run(plc_program(make_plc, parts, seconds)))
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=plc_thread, daemon=True)
    thread.start()
    while thread.is_alive():
        app.processEvents()
        thread.join(0.02)
    link.stop()
    rows = {r.part: r for r in win.log.query(limit=None)}
    model_id = win.state.model.model_id if win.state.model else ""
    win.shutdown()
    if "error" in out:
        raise out["error"]
    return {"rows": rows, "model_id": model_id, **out}


def check(ws: Path, result: dict[str, Any]) -> dict[str, Any]:
    from inspector.imageio import read_image
    from inspector.runtime import Inspector

    expected = {}
    with Inspector.load(ws / "models" / "metal_plate", backend="onnxruntime") as model:
        for path in sorted((ws / "camera").glob("*.png")):
            r = model.inspect(path)
            expected[digest(read_image(path))] = str(r.verdict)
    names = {1: "PASS", 2: "FAIL", 3: "ERROR"}
    rows, mismatched, lost = result["rows"], 0, 0
    unlabelled = sum(1 for r in rows.values() if not (r.part and r.recipe and r.model_id))
    for part, verdict, _score in result["answers"]:
        row = rows.get(part)
        if row is None:
            lost += 1
            continue
        if (row.recipe, row.model_id) != ("metal_plate", result["model_id"]):
            mismatched += 1
        want = expected.get(digest(read_image(row.image_path))) if row.image_path else None
        if not (names[verdict] == row.verdict == want):
            mismatched += 1
    lat = np.array(result["latencies"])
    return {
        "parts": len(result["answers"]),
        "rows": len(rows),  # one per trigger of both phases: none lost, none extra
        "lost": lost,
        "mismatched": mismatched,
        "rows_without_recipe_or_model": unlabelled,
        "latency_triggers": int(lat.size),
        "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
        "p95_ms": float(np.percentile(lat, 95)) if lat.size else None,
        "max_ms": float(lat.max()) if lat.size else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bundle", type=Path, default=None, help="model bundle (default: train one)")
    p.add_argument("--parts", type=int, default=200)
    p.add_argument("--seconds", type=float, default=180.0)
    p.add_argument("--transport", choices=["opcua", "modbus"], default="opcua")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = p.parse_args()
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    from station.recipes import Recipe, save_recipe
    from station.retention import RetentionPolicy

    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "workspace"
        prepare(a.bundle, ws)
        model = str(ws / "models" / "metal_plate")
        save_recipe(Recipe(1, "metal_plate", model, save=RetentionPolicy(1)), ws / "recipes")
        save_recipe(Recipe(2, "metal_plate_ng", model, save=RetentionPolicy(0)), ws / "recipes")
        out = check(ws, run_station(ws, a.transport, a.parts, a.seconds))
    print(json.dumps({"transport": a.transport, **out}, indent=2))
    if a.json is not None:
        a.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
