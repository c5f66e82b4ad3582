"""Parts that could not be inspected are counted and logged, never only flashed."""

from __future__ import annotations

from inspector.records import InspectionLog


def test_unreadable_file_in_a_live_folder_is_an_error_part(qtbot, window, parts) -> None:
    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    (parts / "zz_broken.png").write_bytes(b"not an image")
    qtbot.waitUntil(lambda: win.live.counters.counts["ERROR"] >= 1, timeout=30_000)
    item = next(i for i in win.live.history.parts if i.verdict == "ERROR")
    assert "zz_broken.png" in item.error and item.name == "zz_broken.png"
    win.shutdown()
    with InspectionLog(win.workspace.log_file) as log:
        rows = log.query(verdict="ERROR")
    assert rows and rows[0].part == "zz_broken.png"
    assert "zz_broken.png" in rows[0].error and "image" in rows[0].error  # names the reason


def test_trigger_without_a_frame_is_an_error_part(qtbot, window, tmp_path) -> None:
    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    win.state.set_mode("triggered")
    missing = tmp_path / "no_camera_here"
    win.connect_source(str(missing))  # retries forever: no frame will come
    errors = win.live.counters.counts["ERROR"]
    win.trigger()
    qtbot.waitUntil(lambda: win.live.counters.counts["ERROR"] == errors + 1, timeout=10_000)
    assert win.live.current is not None and win.live.current.verdict == "ERROR"
    assert f"trigger: no frame from {missing} within 2 s" == win.live.current.error
    win.shutdown()
    with InspectionLog(win.workspace.log_file) as log:
        assert any(r.error.startswith("trigger: no frame") for r in log.query(verdict="ERROR"))


def test_the_banner_shows_a_failing_source_instead_of_ready(qtbot, window, tmp_path) -> None:
    from gui.widgets.verdict_banner import NO_PARTS

    win = window
    qtbot.waitUntil(lambda: win.live.current is not None, timeout=60_000)
    win.connect_source(str(tmp_path / "unplugged"))
    qtbot.waitUntil(lambda: win.live.banner.verdict.text() == NO_PARTS, timeout=10_000)
    assert "unplugged" in win.live.banner.detail.text()


def test_a_name_that_is_not_utf8_never_stops_the_inference_thread(qtbot, window, parts) -> None:
    """Such a name once killed the inference thread (the log refused it): now the part is
    judged or an ERROR, counted and logged, and the line goes on."""
    import os
    import shutil

    from gui.inference_worker import shown_name

    win = window
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    odd = os.fsdecode(b"zz_plate\xff.png")
    shutil.copy(next(parts.glob("good_*.png")), parts / odd)
    qtbot.waitUntil(lambda: any(i.name == odd for i in win.live.history.parts), timeout=30_000)
    item = next(i for i in win.live.history.parts if i.name == odd)
    n = win.state.counters.total
    qtbot.waitUntil(lambda: win.state.counters.total >= n + 3, timeout=30_000)
    assert win.inference.isRunning()
    win.shutdown()
    assert item.record_id is not None
    with InspectionLog(win.workspace.log_file) as log:
        row = log.get(item.record_id)
    assert row is not None and row.part in (odd, shown_name(odd))
