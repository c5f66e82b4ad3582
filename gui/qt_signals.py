"""Emit Qt signals from Python without losing references to ``True``.

PySide6 6.12.0's ``SignalInstance.emit()`` hands back ``True`` without taking a reference to
it, so every emit from Python code drops one reference to the ``True`` singleton. After about
as many emits as ``True`` has references (~2,000 in the station, i.e. ~1,300 parts) Python
aborts with "Fatal Python error: bool_dealloc" - in the middle of a shift, or in the garbage
collector at exit. Every emit in ``gui`` goes through `emit`, which gives the reference back
when, and only when, the installed PySide drops it (measured once at import).
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal, SignalInstance

_PROBES = 16


class _Probe(QObject):
    ping = Signal()


def _references_lost_per_emit() -> int:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.ping.emit()
    lost = (before - sys.getrefcount(True)) / _PROBES
    return 1 if lost > 0.5 else 0  # 1 on the faulty release, 0 on a correct one


LOST_PER_EMIT = _references_lost_per_emit()
_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


def emit(signal: SignalInstance, *args: object) -> None:
    """``signal.emit(*args)``, and the reference to True it lost given back."""
    signal.emit(*args)
    if LOST_PER_EMIT:
        _incref(True)
