"""Parts that could not be inspected are counted and logged, never only flashed."""

from __future__ import annotations

from inspector.records import InspectionLog


def test_unreadable_file_in_a_live_folder_is_an_error_part(qtbot, window, parts) -> None:
    win = window
    qtbot.waitUntil(lambda: win.model_info is not None, timeout=30_000)
    (parts / "zz_broken.png").write_bytes(b"not an image")
    qtbot.waitUntil(lambda: win.counters.counts["ERROR"] >= 1, timeout=30_000)
    item = next(i for i in win.history.parts if i.verdict == "ERROR")
    assert "zz_broken.png" in item.error and item.name == "zz_broken.png"
    win.shutdown()
    with InspectionLog(win.workspace.log_file) as log:
        rows = log.query(verdict="ERROR")
    assert rows and rows[0].part == "zz_broken.png"
    assert "zz_broken.png" in rows[0].error and "image" in rows[0].error  # names the reason


def test_trigger_without_a_frame_is_an_error_part(qtbot, window, tmp_path) -> None:
    win = window
    qtbot.waitUntil(lambda: win.model_info is not None, timeout=30_000)
    win.trigger_mode.setCurrentText("triggered")
    missing = tmp_path / "no_camera_here"
    win.connect_source(str(missing))  # retries forever: no frame will come
    errors = win.counters.counts["ERROR"]
    win.trigger()
    qtbot.waitUntil(lambda: win.counters.counts["ERROR"] == errors + 1, timeout=10_000)
    assert win.current is not None and win.current.verdict == "ERROR"
    assert f"trigger: no frame from {missing} within 2 s" == win.current.error
    win.shutdown()
    with InspectionLog(win.workspace.log_file) as log:
        assert any(r.error.startswith("trigger: no frame") for r in log.query(verdict="ERROR"))


def test_the_banner_shows_a_failing_source_instead_of_ready(qtbot, window, tmp_path) -> None:
    from gui.widgets.verdict_banner import NO_PARTS

    win = window
    qtbot.waitUntil(lambda: win.current is not None, timeout=60_000)
    win.connect_source(str(tmp_path / "unplugged"))
    qtbot.waitUntil(lambda: win.banner.verdict.text() == NO_PARTS, timeout=10_000)
    assert "unplugged" in win.banner.detail.text()
