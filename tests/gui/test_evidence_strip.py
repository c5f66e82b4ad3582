"""The history strip follows new parts, holds still for the user, frames and filters them."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QAbstractSlider, QApplication

import gui.widgets.history_strip as module
from gui.view_item import THUMB_SIDE, ViewItem
from gui.widgets.history_strip import FRAME, KEEP, HistoryStrip
from gui.widgets.verdict_banner import COLOURS


def part(n: int, verdict: str) -> ViewItem:
    image = np.full((64, 64, 3), 100, np.uint8)
    return ViewItem(
        image=image,
        anomaly_map=np.zeros((64, 64), np.float32),
        scale=1.0,
        score=float(n),
        verdict=verdict,
        threshold=1.0,
        name=f"part{n}",
        timestamp=1_700_000_000.0 + n,
    )


def add(strip: HistoryStrip, n: int, verdict: str = "PASS") -> None:
    strip.add_part(part(n, verdict), np.full((THUMB_SIDE, THUMB_SIDE, 3), 128, np.uint8))


def verdict_of(n: int) -> str:
    return "FAIL" if n % 4 == 0 else "PASS"


@pytest.fixture
def strip(qtbot) -> HistoryStrip:
    s = HistoryStrip()
    qtbot.addWidget(s)
    s.resize(1000, s.height())
    s.show()
    qtbot.waitExposed(s)
    return s


def leftmost(strip: HistoryStrip) -> str:
    """The part shown at the strip's left edge (where the newest one enters)."""
    row = strip.indexAt(QPoint(20, strip.viewport().height() // 3)).row()
    assert row >= 0, "no thumbnail at the left edge"
    return strip.parts[row].name


def user_scrolls(strip: HistoryStrip, action: QAbstractSlider.SliderAction) -> None:
    # triggerAction is what a drag, a click on the bar or the wheel goes through.
    strip.horizontalScrollBar().triggerAction(action)


def test_follows_new_parts_through_100_additions(strip) -> None:
    for n in range(100):
        add(strip, n, verdict_of(n))
        assert leftmost(strip) == f"part{n}"
    assert strip.is_following() and not strip.live_button.isVisible()
    assert strip.count() == KEEP and strip.parts[0].name == "part99"


def test_hidden_then_shown_strip_shows_the_newest(strip) -> None:
    for n in range(20):
        add(strip, n)
    strip.hide()  # another tab is in front
    for n in range(20, 40):
        add(strip, n)
    strip.show()
    assert leftmost(strip) == "part39"


def test_user_scroll_stops_following_and_back_to_live_resumes(qtbot, strip) -> None:
    for n in range(30):
        add(strip, n)
    with qtbot.waitSignal(strip.following_changed) as changed:
        user_scrolls(strip, QAbstractSlider.SliderAction.SliderPageStepAdd)
    assert changed.args == [False] and not strip.is_following()
    assert strip.live_button.isVisible()
    looking_at = leftmost(strip)
    for n in range(30, 37):
        add(strip, n)
        assert leftmost(strip) == looking_at  # what the user scrolled to stays put
    assert "7 new" in strip.live_button.text()
    button = strip.live_button.geometry().translated(strip.controls.pos())
    assert button.bottom() <= strip.viewport().geometry().bottom()  # not under the scroll bar
    qtbot.mouseClick(strip.live_button, Qt.MouseButton.LeftButton)
    assert strip.is_following() and not strip.live_button.isVisible()
    assert leftmost(strip) == "part36"
    add(strip, 37)
    assert leftmost(strip) == "part37"


def test_scrolling_back_to_the_newest_resumes_following(strip) -> None:
    for n in range(30):
        add(strip, n)
    user_scrolls(strip, QAbstractSlider.SliderAction.SliderSingleStepAdd)
    assert not strip.is_following()
    user_scrolls(strip, QAbstractSlider.SliderAction.SliderToMinimum)
    assert strip.is_following()
    add(strip, 30)
    assert leftmost(strip) == "part30"


def _mouse(
    strip: HistoryStrip,
    kind: QMouseEvent.Type,
    x: int,
    button: Qt.MouseButton = Qt.MouseButton.NoButton,
) -> None:
    pos = QPointF(x, strip.viewport().height() / 3)
    event = QMouseEvent(
        kind,
        pos,
        strip.viewport().mapToGlobal(pos),
        button,
        button,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(strip.viewport(), event)


def test_thumbnails_hold_still_under_a_moving_pointer(strip) -> None:
    for n in range(10):
        add(strip, n)
    x = 300
    _mouse(strip, QMouseEvent.Type.MouseMove, x)
    aimed = strip.indexAt(QPoint(x, strip.viewport().height() // 3)).row()
    aimed_name = strip.parts[aimed].name
    for n in range(10, 16):
        add(strip, n)
        _mouse(strip, QMouseEvent.Type.MouseMove, x)
        row = strip.indexAt(QPoint(x, strip.viewport().height() // 3)).row()
        assert strip.parts[row].name == aimed_name
    # A hold is not a scroll: the strip is still following and catches up on leave.
    assert strip.is_following()
    QApplication.sendEvent(strip.viewport(), QEvent(QEvent.Type.Leave))
    assert leftmost(strip) == "part15"


@pytest.mark.parametrize(
    ("kind", "button"),
    [
        (QMouseEvent.Type.MouseMove, Qt.MouseButton.NoButton),
        # a press whose release went elsewhere (to the dialog the click opened)
        (QMouseEvent.Type.MouseButtonPress, Qt.MouseButton.LeftButton),
    ],
)
def test_a_resting_pointer_does_not_hold_the_strip_for_ever(
    strip, monkeypatch, kind, button
) -> None:
    monkeypatch.setattr(module, "HOLD_S", 0.05)
    for n in range(10):
        add(strip, n)
    _mouse(strip, kind, 300, button)
    assert strip.holding()
    time.sleep(0.1)
    add(strip, 10)
    assert not strip.holding() and leftmost(strip) == "part10"


def test_fail_filter_hides_pass_parts(qtbot, strip) -> None:
    for n in range(40):
        add(strip, n, verdict_of(n))
    with qtbot.waitSignal(strip.fail_only_changed):
        strip.fail_only.click()
    shown = strip.visible_parts()
    assert shown and all(p.verdict == "FAIL" for p in shown)
    assert len(shown) == sum(1 for p in strip.parts if p.verdict == "FAIL")
    assert leftmost(strip) == "part36"  # the newest FAIL, not the newest part
    add(strip, 40, "PASS")
    assert leftmost(strip) == "part36" and strip.isRowHidden(0)
    add(strip, 41, "FAIL")
    assert leftmost(strip) == "part41"
    strip.set_fail_only(False)
    assert len(strip.visible_parts()) == strip.count()
    assert leftmost(strip) == "part41"


def test_thumbnails_are_framed_in_their_verdict_colour(strip) -> None:
    add(strip, 1, "FAIL")
    add(strip, 2, "PASS")
    for row, verdict in ((0, "PASS"), (1, "FAIL")):
        icon = strip.item(row).icon()
        image = icon.pixmap(strip.iconSize()).toImage()
        assert image.pixelColor(FRAME // 2, image.height() // 2).name() == COLOURS[verdict]
        # inside the frame: the thumbnail itself
        assert image.pixelColor(image.width() // 2, image.height() // 2).name() == "#808080"


def test_click_selects_the_part_under_the_pointer(qtbot, strip) -> None:
    for n in range(5):
        add(strip, n)
    entry = strip.item(2)
    with qtbot.waitSignal(strip.part_selected) as selected:
        qtbot.mouseClick(
            strip.viewport(), Qt.MouseButton.LeftButton, pos=strip.visualItemRect(entry).center()
        )
    assert selected.args[0].name == "part2"


def test_the_mouse_wheel_counts_as_the_user_scrolling(strip) -> None:
    for n in range(30):
        add(strip, n)
    pos = QPointF(300, strip.viewport().height() / 3)
    wheel = QWheelEvent(
        pos,
        strip.viewport().mapToGlobal(pos),
        QPoint(),
        QPoint(0, -120),  # one notch down: towards older parts
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(strip.viewport(), wheel)
    assert strip.horizontalScrollBar().value() > 0
    assert not strip.is_following() and strip.live_button.isVisible()
