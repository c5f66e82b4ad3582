"""Screenshot of the running station for the README (offscreen; no display needed).

Usage: python scripts/station_screenshot.py [--model BUNDLE] [--out docs/station.png]

Trains the sample model if no bundle is given, plays the sample test images as a camera,
waits until a dozen parts were inspected and a FAIL part is on screen, then saves the window
(and the log tab beside it as ``<out>_log.png``), then the full-screen operator view with the
next clear FAIL part as ``<out>_operator.png`` (a 1920 x 1080 offscreen screen).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCREEN = {"name": "shot", "x": 0, "y": 0, "width": 1920, "height": 1080, "logicalDpi": 96}


def offscreen_full_hd() -> None:
    """An offscreen screen of a common station monitor's size (the default is 800 x 600)."""
    config = Path(tempfile.mkdtemp(prefix="station-screen-")) / "screen.json"
    config.write_text(json.dumps({"screens": [SCREEN]}))
    os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={config}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "station.png")
    ap.add_argument("--parts", type=int, default=12)
    args = ap.parse_args()
    offscreen_full_hd()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui.app import destroy_window
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace

    work = Path(tempfile.mkdtemp(prefix="station-shot-"))
    model = args.model
    if model is None:
        from training.settings import TrainSettings
        from training.train import train

        model = work / "metal_plate_model"
        train(ROOT / "sample_images" / "metal_plate", model, TrainSettings(), show_progress=False)
    app = QApplication.instance() or QApplication([])
    source = ROOT / "sample_images" / "metal_plate" / "test"
    win = MainWindow(Workspace(work / "ws"), StationSettings(model=str(model), source=str(source)))
    win.resize(1500, 950)
    win.show()

    taken: list[object] = []  # the parts shot so far

    def poll() -> None:
        item = win.live.current
        clear_fail = (
            item is not None and item.verdict == "FAIL" and item.score > 1.2 * item.threshold
        )
        if win.state.counters.total < args.parts or not clear_fail or item in taken:
            return
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if not taken:
            win.grab().save(str(args.out))
            win.tabs.setCurrentWidget(win.log_panel)
            app.processEvents()
            win.grab().save(str(args.out.with_name(args.out.stem + "_log.png")))
            win.set_operator_view(True)
            taken.append(item)
            return
        win.grab().save(str(args.out.with_name(args.out.stem + "_operator.png")))
        print(f"saved {args.out} and its _log and _operator pictures")
        win.close()
        app.quit()

    timer = QTimer(win)  # dies with the window instead of keeping it alive
    timer.timeout.connect(poll)
    timer.start(50)
    app.exec()
    # Delete the window while the QApplication exists (see gui.app.destroy_window): left to
    # PySide's clean-up at interpreter exit it can crash the process after the shot.
    destroy_window(win)
    return 0


if __name__ == "__main__":
    sys.exit(main())
