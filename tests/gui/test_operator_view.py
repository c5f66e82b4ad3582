"""The operator view: readable from across the cell, one score everywhere."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence


def test_operator_view_fills_the_screen_with_part_verdict_and_counters(qtbot, window) -> None:
    from gui.widgets.verdict_banner import score_text

    win = window
    live = win.live
    qtbot.waitUntil(lambda: live.current is not None, timeout=60_000)
    assert win.operator_action.shortcut() == QKeySequence(Qt.Key.Key_F11)
    win.operator_action.trigger()
    assert win.isFullScreen() and win.operator_action.isChecked()
    shown = live.current
    qtbot.waitUntil(lambda: live.current is not shown, timeout=30_000)
    qtbot.wait(200)  # the layout settles
    for widget in (live.history, live.threshold, live.stats, win.statusBar(), win.menuBar()):
        assert widget.isHidden()
    assert live.view.width() >= 0.5 * win.width()
    assert live.banner.height() >= 0.3 * win.height()
    assert live.banner.verdict.font().pixelSize() >= 0.1 * win.height()
    assert live.counters.reset.isHidden()
    item = live.current
    if item.verdict != "ERROR":  # one score: the raw score beside its limit
        assert live.banner.detail.text() == score_text(item.score, item.threshold)
    win.shutdown()
    assert win.workspace.load_settings().operator_view  # a restart comes back to it


def test_escape_leaves_the_operator_view(qtbot, window) -> None:
    win = window
    win.set_operator_view(True)
    assert win.isFullScreen()
    win.set_operator_view(False)
    assert not win.isFullScreen() and not win.operator_action.isChecked()
    assert not win.live.history.isHidden() and not win.statusBar().isHidden()
    assert win.live.banner.height() < 200 and not win.live.counters.reset.isHidden()
