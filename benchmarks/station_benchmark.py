"""End-to-end station throughput, UI responsiveness, and a memory / record-keeping soak run.

Runs the real station window (offscreen) with an image folder played as a camera, and
measures from the UI thread:

* inspected parts per second, capture to screen (results painted per second);
* frame-to-screen latency (grab time to the moment the part is painted);
* how long the UI thread was ever blocked (a 5 ms heartbeat timer; a late tick means the
  event loop was busy);
* resident memory over the run (growth after warm-up), and whether every inspected part is
  a row in the inspection log at the end.

Usage:
    python benchmarks/station_benchmark.py --frames 600            # throughput
    python benchmarks/station_benchmark.py --frames 10000 --out benchmarks/results/station-soak.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HEARTBEAT_MS = 5


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sample_model(work: Path) -> Path:
    from training.settings import TrainSettings
    from training.train import train

    out = work / "sample_model"
    train(ROOT / "sample_images" / "metal_plate", out, TrainSettings(), show_progress=False)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="bundle (default: train the sample model)")
    ap.add_argument("--source", default=str(ROOT / "sample_images" / "metal_plate" / "test"))
    ap.add_argument("--fps", type=float, default=30.0, help="camera frame rate of the folder")
    ap.add_argument("--frames", type=int, default=600, help="inspected parts to run for")
    ap.add_argument("--warmup", type=int, default=50, help="parts before measuring")
    ap.add_argument("--save-policy", default="fail", choices=["fail", "all", "none"])
    ap.add_argument(
        "--onnx", action="store_true", help="export the model to ONNX first (station runs ORT)"
    )
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace
    from inspector.records import InspectionLog

    work = Path(tempfile.mkdtemp(prefix="station-bench-"))
    model = args.model or sample_model(work)
    if args.onnx:
        from training.export import export_onnx

        export_onnx(model)
    app = QApplication.instance() or QApplication([])
    ws = Workspace(work / "workspace")
    settings = StationSettings(
        model=str(model), source=args.source, fps=args.fps, save_policy=args.save_policy
    )
    win = MainWindow(ws, settings)
    win.show()

    gaps: list[float] = []
    painted: list[float] = []  # time each measured part was on screen
    latency: list[float] = []  # grab -> painted, ms
    rss: list[tuple[int, float]] = []
    last_tick = [time.perf_counter()]
    original = win.show_result

    late: list[tuple[int, float]] = []  # (parts so far, ms) of every tick over 50 ms late

    def tick() -> None:
        now = time.perf_counter()
        gap = (now - last_tick[0]) * 1e3 - HEARTBEAT_MS
        gaps.append(gap)
        if gap > 50:
            late.append((win.state.counters.total, round(gap, 1)))
        last_tick[0] = now

    def show_result(item) -> None:  # noqa: ANN001
        original(item)
        n = win.state.counters.total
        if n > args.warmup:
            painted.append(time.perf_counter())
            latency.append((time.time() - item.timestamp) * 1e3)
        if n % 250 == 0:
            rss.append((n, rss_mb()))
        if n >= args.frames:
            heartbeat.stop()  # what follows is shutdown, not the running station
            app.quit()

    win.inference.result_ready.disconnect(original)
    win.inference.result_ready.connect(show_result)
    heartbeat = QTimer()
    heartbeat.timeout.connect(tick)
    heartbeat.start(HEARTBEAT_MS)
    t0 = time.perf_counter()
    app.exec()
    wall = time.perf_counter() - t0
    heartbeat.stop()
    shown = win.state.counters.total
    win.shutdown()
    with InspectionLog(ws.log_file) as log:
        rows = log.count()

    span = painted[-1] - painted[0] if len(painted) > 1 else float("nan")
    g = np.array(gaps[20:] or [0.0])  # skip start-up (model load happens in the worker)
    warm_rss = next((m for n, m in rss if n >= max(args.warmup, 500)), rss[0][1] if rss else 0)
    result = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "source": args.source,
        "camera_fps": args.fps,
        "save_policy": args.save_policy,
        "backend": win.state.model.backend if win.state.model else "?",
        "parts": shown,
        "wall_s": round(wall, 1),
        "parts_per_s": round((len(painted) - 1) / span, 2) if len(painted) > 1 else None,
        "frame_to_screen_ms_p50": round(float(np.percentile(latency, 50)), 1),
        "frame_to_screen_ms_p95": round(float(np.percentile(latency, 95)), 1),
        "ui_blocked_ms_max": round(float(g.max()), 1),
        "ui_blocked_ms_p99": round(float(np.percentile(g, 99)), 1),
        "ui_ticks_over_50ms": int((g > 50).sum()),
        "ui_late_ticks_at_part": late,
        "dropped_frames": win.slot.dropped,
        "log_rows": rows,
        "rows_missing": max(0, shown - rows),
        "rss_mb_series": rss,
        "rss_growth_after_warmup_mb": round(rss[-1][1] - warm_rss, 1) if rss else None,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "rss_mb_series"}, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
