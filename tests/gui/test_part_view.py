"""A verdict is always shown with the part it judged; the live camera is shown apart."""

from __future__ import annotations

import threading

from station.events import PartJudged, PartResult, StateEvent


def test_triggered_verdict_stays_with_the_part_it_judged(qtbot, window, tmp_path) -> None:
    from gui.widgets.verdict_banner import HEIGHT, NO_PARTS

    win = window
    live, view = window.live, window.live.view
    qtbot.waitUntil(lambda: win.state.model is not None, timeout=30_000)
    win.state.set_mode("triggered")
    qtbot.wait(500)  # a part already in flight arrives
    judged: list[PartResult] = []

    def keep(event: StateEvent) -> None:
        if isinstance(event, PartJudged):
            judged.append(event.result)

    win.state.subscribe(keep)
    part = win.trigger()
    qtbot.waitUntil(lambda: live.banner.part_id == part, timeout=30_000)
    assert view.part_id == part and live.current is not None and live.current.part_id == part
    assert judged[-1].part_id == part and live.banner.verdict.text() == judged[-1].verdict

    # Between triggers the camera runs in a small frame labelled LIVE; the judged part keeps
    # the view for longer than any preview interval.
    qtbot.waitUntil(view.preview.has_image, timeout=10_000)
    qtbot.wait(2000)
    assert view.part_id == part and live.banner.part_id == part and view.has_part()
    assert not view.live_label.isHidden() and view.live_label.text() == "LIVE"
    assert view.preview.width() * 2 < view.judged.width()

    # A trigger from a line link (on its own thread) brings its own part id to the screen.
    link = threading.Thread(target=lambda: win.state.request_trigger("A17", by="plc"))
    link.start()
    link.join()
    qtbot.waitUntil(lambda: live.banner.part_id == "A17", timeout=30_000)
    assert view.part_id == "A17" and judged[-1].part_id == "A17"

    # NO PARTS clears the verdict and the part.
    win.connect_source(str(tmp_path / "unplugged"))
    qtbot.waitUntil(lambda: live.banner.verdict.text() == NO_PARTS, timeout=10_000)
    assert not view.has_part() and view.part_id == "" and live.banner.part_id == ""
    assert live.banner.height() == HEIGHT  # a status line never moves the layout


def test_continuous_mode_has_no_live_frame_and_every_verdict_has_its_part(qtbot, window) -> None:
    win = window
    live = win.live
    shown: list[tuple[str, str]] = []
    win.inference.result_ready.connect(
        lambda _item: shown.append((live.view.part_id, live.banner.part_id))
    )
    qtbot.waitUntil(lambda: len(shown) >= 4, timeout=60_000)
    assert live.view.preview.isHidden() and live.view.live_label.isHidden()
    assert all(view_id == banner_id != "" for view_id, banner_id in shown)


def test_a_new_source_is_announced_instead_of_the_old_verdict(qtbot, window, tmp_path) -> None:
    win = window
    qtbot.waitUntil(lambda: win.live.current is not None, timeout=60_000)
    win.state.set_mode("triggered")  # no part of the new source comes to replace it
    later = tmp_path / "camera_later"
    win.connect_source(str(later))
    assert win.live.banner.verdict.text() in ("CONNECTING", "NO PARTS")
    assert "camera_later" in win.live.banner.detail.text() and not win.live.view.has_part()
