"""The real station window, offscreen, with an image folder as the camera."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

from gui.widgets.history_strip import KEEP
from inspector.bundle import read_meta
from inspector.records import InspectionLog


def _wait_parts(qtbot, win, n: int, timeout: int = 60_000) -> None:
    """Until ``n`` parts are counted and on screen (a part is counted in the inference
    thread just before the UI thread shows it)."""
    qtbot.waitUntil(
        lambda: win.state.counters.total >= n and win.live.counters.total >= n,
        timeout=timeout,
    )
    qtbot.waitUntil(lambda: win.live.history.count() >= min(n, KEEP), timeout=timeout)


def test_live_parts_are_judged_counted_and_logged(qtbot, window) -> None:
    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    _wait_parts(qtbot, win, 8)
    c = win.live.counters.counts
    assert c["PASS"] >= 1 and c["FAIL"] >= 1, c
    assert win.live.view.has_part()
    assert win.live.banner.verdict.text() in ("PASS", "FAIL")
    assert "parts/s" in win.live.stats.text()
    assert "live" in win.source_state.text()
    assert win.live.history.count() >= 8
    # Every part shown is a committed row; FAIL parts have their images saved.
    win.shutdown()
    with InspectionLog(win.workspace.log_file) as log:
        counts = log.counts()
        fails = log.query(verdict="FAIL")
    assert sum(counts.values()) >= sum(c.values())
    assert fails and all(
        Path(r.image_path).is_file() and Path(r.overlay_path).is_file() for r in fails
    )


def test_threshold_slider_rejudges_the_shown_part_at_once(qtbot, window) -> None:
    win = window
    qtbot.waitUntil(
        lambda: win.live.current is not None and win.live.current.verdict == "FAIL", timeout=60_000
    )
    item = win.live.current
    win.set_threshold(item.score * 2)
    assert win.live.banner.verdict.text() == "PASS"
    win.set_threshold(item.score / 2)
    assert win.live.banner.verdict.text() == "FAIL"
    # The override is remembered per model, not written into the bundle...
    assert win.settings.threshold_overrides[win.state.model.model_id] == item.score / 2
    assert read_meta(win.state.model.path).thresholds.image != item.score / 2
    # ...until an engineer saves it (a plausible value: bundles refuse one far above
    # every good score).
    win.save_threshold(item.score / 3)
    assert read_meta(win.state.model.path).thresholds.image == item.score / 3
    assert win.state.model.model_id not in win.settings.threshold_overrides


def test_trigger_mode_inspects_one_part_per_trigger(qtbot, window) -> None:
    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    win.state.set_mode("triggered")
    time.sleep(0.3)  # let a part that was already in flight arrive
    qtbot.wait(200)
    before = win.state.counters.total
    qtbot.wait(800)
    assert win.state.counters.total == before  # no trigger, no inspection
    win.trigger()
    qtbot.waitUntil(lambda: win.state.counters.total == before + 1, timeout=30_000)
    qtbot.wait(600)
    assert win.state.counters.total == before + 1


def test_review_and_mark_false_reject_good(qtbot, window) -> None:
    win = window
    qtbot.waitUntil(
        lambda: any(i.verdict == "FAIL" for i in win.live.history.parts), timeout=60_000
    )
    item = next(i for i in win.live.history.parts if i.verdict == "FAIL")
    win.review(item)
    dialog = win._review
    assert dialog.good_button.isEnabled()
    dialog.good_button.click()
    win.shutdown()
    with InspectionLog(win.workspace.log_file) as log:
        assert log.get(item.record_id).label == "good"
    collected = list(Path(str(win.retrain.data_folder())).glob("*.png"))
    assert len(collected) == 1


def test_log_tab_filters_and_exports_csv(qtbot, window, tmp_path) -> None:
    win = window
    _wait_parts(qtbot, win, 6)
    win.tabs.setCurrentWidget(win.log_panel)
    win.log_panel.verdict.setCurrentText("FAIL")
    rows = win.log_panel.table.rowCount()
    assert rows >= 1
    verdict_col = 2
    assert all(win.log_panel.table.item(r, verdict_col).text() == "FAIL" for r in range(rows))
    out = tmp_path / "fails.csv"
    n = win.log_panel.export_csv(str(out))
    with out.open() as f:
        exported = list(csv.DictReader(f))
    assert n == len(exported) >= rows and {r["verdict"] for r in exported} == {"FAIL"}


def test_bad_file_in_the_source_is_reported_and_the_line_goes_on(qtbot, window, parts) -> None:
    win = window
    (parts / "zz_broken.png").write_bytes(b"")
    messages: list[str] = []
    win.capture.frame_error.connect(messages.append)
    qtbot.waitUntil(lambda: bool(messages), timeout=30_000)
    assert "zz_broken.png" in messages[0]
    n = win.state.counters.total
    _wait_parts(qtbot, win, n + 3)


def test_missing_source_retries_then_goes_live(qtbot, window, tmp_path, parts) -> None:
    win = window
    later = tmp_path / "camera_later"
    win.connect_source(str(later))
    qtbot.waitUntil(lambda: "reconnecting" in win.source_state.text(), timeout=10_000)
    shutil.copytree(parts, later)
    qtbot.waitUntil(lambda: "live" in win.source_state.text(), timeout=30_000)


def test_source_that_disappears_mid_run_is_reported_and_recovered(qtbot, window, parts) -> None:
    win = window
    _wait_parts(qtbot, win, 2)
    gone = parts.with_name("camera_unplugged")
    parts.rename(gone)
    qtbot.waitUntil(lambda: "reconnecting" in win.source_state.text(), timeout=10_000)
    assert "disappeared" in win.source_state.text() or "not found" in win.source_state.text()
    n = win.state.counters.total
    gone.rename(parts)
    qtbot.waitUntil(lambda: "live" in win.source_state.text(), timeout=30_000)
    _wait_parts(qtbot, win, n + 2)


def test_closing_stops_every_thread(qtbot, window) -> None:
    win = window
    _wait_parts(qtbot, win, 1)
    capture, inference = win.capture, win.inference
    win.close()
    assert capture.isFinished() and inference.isFinished()


def test_settings_persist_across_restarts(qtbot, window) -> None:
    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    win.live.save_policy.setCurrentText("all")
    win.shutdown()
    saved = win.workspace.load_settings()
    assert saved.save_policy == "all" and saved.model == win.state.model.path
    assert saved.source == win.settings.source


def test_video_file_and_16_bit_grayscale_sources(qtbot, window, parts, tmp_path) -> None:
    """A video file plays as a camera; 16-bit grayscale frames are inspected as they are."""
    import cv2
    import numpy as np

    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    frames = [cv2.imread(str(p)) for p in sorted(parts.glob("*.png"))]
    video = tmp_path / "line.avi"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    win.connect_source(str(video))
    n = win.state.counters.total
    _wait_parts(qtbot, win, n + 4)
    assert "live" in win.source_state.text()

    mono16 = tmp_path / "mono16"
    mono16.mkdir()
    for i, f in enumerate(frames):
        gray = cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
        cv2.imwrite(str(mono16 / f"{i:02d}.png"), gray)
    win.connect_source(str(mono16))
    n = win.state.counters.total
    _wait_parts(qtbot, win, n + 4)
    assert win.live.counters.counts["ERROR"] == 0
    assert win.live.current is not None and win.live.current.image.dtype == np.uint8
