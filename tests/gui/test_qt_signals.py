"""The installed PySide6 keeps the reference counts of what a signal carries.

PySide6 6.12.0 lost one reference to ``True`` on every emit from Python, and a station
aborted ("Fatal Python error: bool_dealloc") after about 1,300 parts; pyproject.toml
excludes that release. The emits here are fewer than ``True`` has references, so a faulty
release fails this test instead of aborting the whole run.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

EMITS = 200


class _Sender(QObject):
    value = Signal(object)
    plain = Signal()


def test_emitting_signals_keeps_true_alive(qtbot) -> None:  # noqa: ARG001 (QApplication)
    sender = _Sender()
    got: list[object] = []
    sender.value.connect(got.append)
    sender.plain.connect(lambda: got.append(None))
    assert sys.getrefcount(True) > 4 * EMITS  # the check below cannot abort the run
    before = sys.getrefcount(True)
    for i in range(EMITS):
        sender.value.emit(i)
        sender.plain.emit()
    assert len(got) == 2 * EMITS
    assert abs(sys.getrefcount(True) - before) < EMITS // 10
