"""How long a large FAIL part's evidence takes to record, and the overlay blend inside it.

Usage:
    python benchmarks/evidence_speed.py [--height 6000] [--width 8000] [--repeats 3]

The station records on its inspection thread, so every second here is a second the line
waits. Times ``heatmap_overlay`` (strips on all cores) against the same blend in one call
on the whole frame, and ``PartRecorder.record`` of one FAIL part (part image PNG, overlay
JPEG, log row) into a temporary folder. Synthetic frame and map; the median is printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from inspector.overlay import _blend, heatmap_overlay
from inspector.recorder import PartContext, PartRecorder
from inspector.records import InspectionLog
from inspector.result import DefectRegion, InspectionResult, Verdict


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--height", type=int, default=6000)
    p.add_argument("--width", type=int, default=8000)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    h, w = a.height, a.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frame = np.dstack([xx * 255 / w, yy * 255 / h, np.full((h, w), 90, np.float32)])
    frame = frame.astype(np.uint8)
    amap = 4 * np.exp(-((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / (0.02 * h * w))
    amap = amap.astype(np.float32)
    del yy, xx
    low, high = 0.5, 3.0
    strips = median_seconds(lambda: heatmap_overlay(frame, amap, low, high), a.repeats)
    whole = median_seconds(
        lambda: _blend(frame, amap, low, high, 0.5, cv2.COLORMAP_TURBO), a.repeats
    )
    region = DefectRegion(w // 2 - 200, h // 2 - 200, 400, 400, 160_000, 4.0)
    result = InspectionResult(4.0, 0.9, Verdict.FAIL, 1.0, amap, [region])
    with tempfile.TemporaryDirectory() as tmp, InspectionLog(Path(tmp) / "log.sqlite") as log:
        recorder = PartRecorder(log, Path(tmp), "fail", (low, high))
        record = median_seconds(
            lambda: recorder.record(frame, result, PartContext("bench", "m")), a.repeats
        )
    print(f"{w}x{h}, median of {a.repeats}:")
    print(f"  overlay blend in strips   {strips:6.2f} s")
    print(f"  overlay blend in one call {whole:6.2f} s")
    print(f"  record one FAIL part      {record:6.2f} s (part PNG + overlay JPEG + log row)")


if __name__ == "__main__":
    main()
