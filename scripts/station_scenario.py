"""The station driven as an operator and an engineer would, start to finish, with checks.

Usage (a real X server; xvfb-run starts one):

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/station_scenario.py [--model BUNDLE]

Triggered mode with defective and good sample parts (Space key), a threshold change refused
to the operator and confirmed by the engineer (PIN, confirmation, audit row), a retrain
refused to the operator, the FAILs-in-a-row alarm raised and acknowledged, evidence opened
from the Log tab (double-click), and a restart with the shift counters kept. Screenshots go
to ``--shots`` (default docs/): ``station_ops_alarm.png``, ``station_ops_operator.png``,
``station_ops_log.png``. The person's answers to the station's dialogs are given in code
(``gui.guard.Prompts``) and printed.
Exit status 0 when every check held.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLES = ROOT / "sample_images" / "metal_plate"
PIN = "2468"
SHOT_WIDTH = 1200  # screenshots are scaled to this width to stay small


class Person:
    """Answers the station's dialogs; ``pin`` None means the operator has no PIN."""

    def __init__(self) -> None:
        self.pin: str | None = None
        self.seen: list[str] = []

    def prompts(self, _guard: object):  # noqa: ANN201
        from gui.guard import Prompts

        def say(kind: str, text: str) -> None:
            self.seen.append(text)
            print(f"  [{kind}] {' '.join(text.split())}")

        def ask_pin(_parent: object, text: str) -> str | None:
            say("PIN asked", text)
            return self.pin

        def confirm(_parent: object, _title: str, text: str) -> bool:
            say("confirm", text)
            return True

        return Prompts(
            ask_pin=ask_pin,
            confirm=confirm,
            tell=lambda _p, text: say("told", text),
            ask_text=lambda _p, _t, current: current,
        )


def main() -> int:  # noqa: C901, PLR0915 (one scenario, read top to bottom)
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, help="model bundle (default: train the sample)")
    ap.add_argument("--shots", type=Path, default=ROOT / "docs")
    args = ap.parse_args()

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QWidget

    from gui.app import destroy_window
    from gui.guard import Guard
    from gui.main_window import MainWindow
    from gui.settings import StationSettings, Workspace
    from station.audit import AuditTrail
    from station.pins import PinStore

    app = QApplication.instance() or QApplication(["station-scenario"])
    print(f"Qt platform: {QApplication.platformName()}")
    work = Path(tempfile.mkdtemp(prefix="station-scenario-"))
    model = args.model
    if model is None:
        from training.settings import TrainSettings
        from training.train import train

        model = work / "model"
        print("training the sample model …")
        train(SAMPLES, model, TrainSettings(), show_progress=False)
    # A camera on defective parts, then one on good parts: a trigger takes the frame the
    # camera shows, so each phase gets parts of its own kind whatever the timing.
    defective, good = work / "defective", work / "good"
    for folder, kinds in ((defective, ("hole", "scratch")), (good, ("good",))):
        folder.mkdir()
        for kind in kinds:
            for src in sorted((SAMPLES / "test" / kind).glob("*.png"))[:3]:
                shutil.copy(src, folder / f"{kind}_{src.name}")
    ws = Workspace(work / "ws")
    PinStore.in_workspace(ws.root).set_pin("engineer", PIN)  # = python -m station.pins set
    person = Person()
    Guard.prompts_for = person.prompts
    settings = StationSettings(
        model=str(model),
        source=str(defective),
        trigger_mode="triggered",
        save_policy="all",
        alarm_limits={"consecutive_fails": 3},
    )
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(("  ok    " if ok else "  FAILED ") + what)
        if not ok:
            failures.append(what)

    def wait(cond: Callable[[], bool], timeout: float = 60.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            app.processEvents()
            if cond():
                return True
            time.sleep(0.02)
        return False

    def shot(widget: QWidget, name: str) -> None:
        wait(lambda: False, 0.5)  # let the last repaint land
        image = widget.grab().toImage()
        image = image.scaledToWidth(SHOT_WIDTH, Qt.TransformationMode.SmoothTransformation)
        image = image.convertToFormat(QImage.Format.Format_Indexed8)  # a palette: < 300 KB
        path = args.shots / name
        image.save(str(path))
        print(f"  screenshot {path} ({path.stat().st_size // 1024} KB)")

    def audit_rows(action: str) -> list:
        with AuditTrail(ws.log_file) as audit:
            return audit.query(action=action)

    def open_window() -> MainWindow:
        win = MainWindow(ws, settings)
        win.resize(1600, 960)
        win.show()
        check(wait(lambda: win.state.model is not None, 120), "the model is loaded")
        return win

    def press_space(win: MainWindow, n: int) -> None:
        # Shortcuts need the active window; without a window manager the button is clicked.
        win.activateWindow()
        active = wait(win.isActiveWindow, 3)
        for _ in range(n):
            target = win.live.counters.total + 1
            if active:
                QTest.keyClick(win, Qt.Key.Key_Space)
            else:
                QTest.mouseClick(win.live.trigger_button, Qt.MouseButton.LeftButton)
            wait(lambda: win.live.counters.total >= target, 30)  # noqa: B023 (used at once)

    print("1. Triggered mode: three defective parts (Space key)")
    win = open_window()
    check(wait(lambda: win.state.source_status.status == "live", 30), "the camera is live")
    press_space(win, 3)
    check(win.live.counters.counts["FAIL"] == 3, "three FAILs counted")
    check(win.live.banner.verdict.text() == "FAIL", "the banner says FAIL")
    check(wait(lambda: win.alarm_banner.isVisible(), 5), "the alarm banner is shown")
    check(win.state.production_alarm() == 101, "the PLC alarm code is 101")
    shot(win, "station_ops_alarm.png")

    def threshold() -> float:
        active = win.state.threshold
        assert active is not None, "no model loaded"
        return active.value

    print("2. The operator tries to change the threshold")
    old = threshold()
    win.live.threshold.set_threshold(old * 1.2)  # as the slider's release does
    check(threshold() == old, "refused: the threshold is unchanged")
    check(not audit_rows("set_threshold"), "no audit row for a refused change")

    print("3. The engineer unlocks with the PIN and changes it")
    person.pin = PIN
    new = round(old * 1.02, 4)
    win.live.threshold.set_threshold(new)
    check(threshold() == new, f"the threshold is {new}")
    rows = audit_rows("set_threshold")
    check(
        len(rows) == 1 and rows[0].role == "engineer" and rows[0].new == repr(new),
        f"audited: engineer, {old!r} -> {new!r}",
    )
    win.role_bar.button.click()  # Lock
    check(win.guard.role == 0, "locked again: operator")

    print("4. The operator tries to retrain the model")
    person.pin = None
    data = win.retrain.data_folder()
    data.mkdir(parents=True, exist_ok=True)
    for src in sorted(good.glob("*.png"))[:2]:
        shutil.copy(src, data)
    win.retrain.refresh_count()
    win.tabs.setCurrentWidget(win.retrain)
    told = len(person.seen)
    QTest.mouseClick(win.retrain.train_button, Qt.MouseButton.LeftButton)
    check(win.retrain.job is None, "refused: no training run started")
    check(not audit_rows("retrain"), "no audit row for a refused retrain")
    check(
        any("needs the engineer role" in t for t in person.seen[told:]),
        "the operator is told it needs the engineer role",
    )
    win.tabs.setCurrentWidget(win.live)

    print("5. The operator acknowledges the alarm")
    QTest.mouseClick(win.alarm_banner.ack, Qt.MouseButton.LeftButton)
    ack = audit_rows("acknowledge_alarm")
    check(bool(ack) and ack[0].role == "operator", "acknowledged by the operator, audited")

    print("6. Good parts; the operator view")
    win.connect_source(str(good))  # switching the source is the operator's to do
    check(wait(lambda: win.state.source_status.status == "live", 30), "the good camera is live")
    press_space(win, 4)
    check(win.live.counters.counts["PASS"] >= 1, "good parts PASS")
    check(wait(lambda: win.alarm_banner.isHidden(), 5), "the alarm is gone after a PASS")
    QTest.keyClick(win, Qt.Key.Key_F11)
    wait(lambda: win.isFullScreen(), 5)
    shot(win, "station_ops_operator.png")
    QTest.keyClick(win, Qt.Key.Key_Escape)
    wait(lambda: not win.isFullScreen(), 5)

    print("7. Evidence from the Log tab")
    win.tabs.setCurrentWidget(win.log_panel)
    table = win.log_panel.table
    wait(lambda: table.rowCount() >= 7, 10)
    shot(win, "station_ops_log.png")
    fails = [r for r in range(table.rowCount()) if (c := table.item(r, 2)) and c.text() == "FAIL"]
    row = fails[0] if fails else 0  # the newest FAIL: the evidence a person looks for
    rect = table.visualRect(table.model().index(row, 2))
    # A press first, as from a real mouse: the view opens only the row that was pressed.
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    opened = wait(lambda: win.log_panel.review is not None and win.log_panel.review.isVisible(), 5)
    review = win.log_panel.review
    check(opened, "double-click opened the review dialog")
    if review is not None:
        first = table.item(row, 0)
        record_id = int(first.data(Qt.ItemDataRole.DisplayRole)) if first else -1
        check(review.item.record_id == record_id, f"it shows log row {record_id}")
        shot(review, "station_ops_review.png")
        review.close()

    print("8. Restart: the shift counters are kept")
    counted = win.live.counters.shown
    win.close()
    destroy_window(win)
    settings = settings.override(source="")  # no new part: what shows is what was kept
    win = open_window()
    check(win.live.counters.shown == counted, f"after the restart: {counted}")
    win.close()
    destroy_window(win)
    print("all checks held" if not failures else f"{len(failures)} checks FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
