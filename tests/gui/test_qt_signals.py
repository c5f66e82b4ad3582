"""Emitting signals never eats references to True (PySide6 6.12.0 did: a crash after ~2,000)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

from gui.qt_signals import emit


class _Sender(QObject):
    value = Signal(object)


def test_many_emits_keep_true_alive(qtbot) -> None:
    sender = _Sender()
    got: list[object] = []
    sender.value.connect(got.append)
    before = sys.getrefcount(True)
    # More emits than True has references: with the faulty release and a plain .emit() the
    # interpreter aborts in here ("Fatal Python error: bool_dealloc").
    for i in range(before + 500):
        emit(sender.value, i)
    assert len(got) == before + 500
    assert abs(sys.getrefcount(True) - before) < 50


def test_a_running_station_keeps_true_alive(qtbot, window) -> None:
    from gui.widgets.history_strip import KEEP

    win = window
    # Once the history strip is full, parts stop adding objects that refer to True.
    qtbot.waitUntil(lambda: win.counters.total >= KEEP + 5, timeout=60_000)
    before, parts = sys.getrefcount(True), win.counters.total
    qtbot.waitUntil(lambda: win.counters.total >= parts + 60, timeout=60_000)
    # Before the fix every part cost True 1-2 references (~100 here); now only noise is left.
    assert sys.getrefcount(True) > before - 30
