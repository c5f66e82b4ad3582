"""Trigger-to-verdict latency of a line station, measured from a simulated PLC on loopback.

Usage:
    python benchmarks/line_latency.py [--bundle DIR] [--triggers 1000] [--transport opcua]
        [--trigger software|hardware]

The PLC writes PartId and raises Trigger, then polls ResultReady every 2 ms; the latency is
from the Trigger write to reading ResultReady true. Transports: "opcua" and "modbus" (the
station hosts the server, the PLC is asyncua's or pymodbus's client) and "opcua-client" (the
PLC hosts an asyncua server, the station is its client). The station is the real chain: the
transport, the handshake, `LineRunner` with the emulated pylon camera (PYLON_CAMEMU, playing
the sample product's test images; "hardware" sets it to Line1 and the PLC fires the
emulator's stand-in pulse with each Trigger, see docs/line.md) and the model on ONNX Runtime.
Without ``--bundle`` a default model is trained on sample_images/metal_plate first (about
10 s). Prints p50/p95/max and the median of each stage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("PYLON_CAMEMU", "1")

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ROOT / "sample_images" / "metal_plate"


def prepare(bundle: Path | None, ws: Path) -> None:
    """Workspace with the model (exported to ONNX), recipe 1 and the camera's image folder."""
    from station.recipes import CameraSettings, Recipe, save_recipe
    from training.export import export_onnx

    model = ws / "models" / "metal_plate"
    if bundle is None:
        from training.settings import TrainSettings
        from training.train import train

        train(PRODUCT, model, TrainSettings(), show_progress=False)
    else:
        shutil.copytree(bundle, model)
    if not (model / "model.onnx").exists():
        export_onnx(model)
    save_recipe(Recipe(1, "metal_plate", str(model), camera=CameraSettings(1000.0)), ws / "recipes")
    (ws / "camera").mkdir()
    for path in sorted((PRODUCT / "test").glob("*/*.png")):
        shutil.copy(path, ws / "camera" / f"{path.parent.name}_{path.name}")


async def measure(
    ws: Path, transport_name: str, triggers: int, warmup: int, trigger: str = "software"
) -> dict[str, Any]:
    from inspector.capture.pylon import PylonSettings, PylonSource
    from station.line.handshake import Handshake, HandshakeSettings, LineRecord
    from station.line.modbus import ModbusServerTransport, ModbusSettings
    from station.line.opcua import (
        OpcUaClientSettings,
        OpcUaClientTransport,
        OpcUaServerSettings,
        OpcUaServerTransport,
    )
    from station.line.plc_sim import ModbusPlc, OpcUaPlc, OpcUaPlcServer, SimulatedPlc, free_port
    from station.line.runner import LineRunner
    from station.recipes import RecipeBook

    source = PylonSource(
        PylonSettings(width=256, height=256, trigger=trigger, emulator_images=str(ws / "camera"))
    )
    runner = LineRunner(source, RecipeBook.load(ws))
    records: list[LineRecord] = []
    transport: Any
    plc: SimulatedPlc
    if transport_name == "opcua-client":
        plc = OpcUaPlcServer(free_port())
        await plc.connect()
        transport = OpcUaClientTransport(OpcUaClientSettings(plc.url, plc.node_ids))
    elif transport_name == "opcua":
        transport = OpcUaServerTransport(OpcUaServerSettings("127.0.0.1", free_port()))
    else:
        transport = ModbusServerTransport(ModbusSettings("127.0.0.1", 0))
    hs = Handshake(transport, runner, HandshakeSettings(plc_watchdog_s=0), None, records.append)
    await hs.start()
    if transport_name == "opcua":
        plc = OpcUaPlc(transport.settings.endpoint)
    elif transport_name == "modbus":
        plc = ModbusPlc("127.0.0.1", transport.port)
    if transport_name != "opcua-client":
        await plc.connect()
    if trigger == "hardware":
        plc.wired = source.emulate_line_pulse  # the PLC output wired to the camera's Line1
    latencies = []
    try:
        await plc.select_recipe(1)
        for i in range(warmup + triggers):
            latencies.append(await plc.timed_cycle(f"SN-{i:06d}"))
    finally:
        await hs.stop()  # first: a station in client mode would try to reconnect to the PLC
        await plc.close()
        runner.close()
    lat = np.array(latencies[warmup:])
    kept = records[warmup:]
    stages = {
        name: statistics.median(r.result.timings_ms.get(name, 0.0) for r in kept)
        for name in ("grab", "preprocess", "model", "postprocess")
    }
    stages["station (trigger seen to result written)"] = statistics.median(
        r.latency_ms for r in kept
    )
    errors = sum(1 for r in kept if r.result.verdict == 3)
    return {
        "transport": transport_name,
        "trigger": trigger,
        "triggers": len(lat),
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "max_ms": float(lat.max()),
        "mean_ms": float(lat.mean()),
        "stage_median_ms": stages,
        "error_verdicts": errors,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bundle", type=Path, default=None, help="model bundle (default: train one)")
    p.add_argument("--triggers", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--transport", choices=["opcua", "opcua-client", "modbus"], default="opcua")
    p.add_argument("--trigger", choices=["software", "hardware"], default="software")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = p.parse_args()
    logging.getLogger("asyncua").setLevel(logging.ERROR)  # its plaintext-endpoint notices
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "workspace"
        prepare(a.bundle, ws)
        out = asyncio.run(measure(ws, a.transport, a.triggers, a.warmup, a.trigger))
    print(
        f"{out['transport']}, {out['trigger']} trigger: {out['triggers']} triggers, "
        "trigger to verdict "
        f"p50 {out['p50_ms']:.1f} ms, p95 {out['p95_ms']:.1f} ms, max {out['max_ms']:.1f} ms "
        f"({out['error_verdicts']} ERROR verdicts)"
    )
    for name, ms in out["stage_median_ms"].items():
        print(f"  median {name}: {ms:.1f} ms")
    if a.json is not None:
        a.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
