from __future__ import annotations

import threading
import time

from gui.frame_slot import LatestSlot


def test_newest_item_wins_and_stale_ones_are_counted() -> None:
    slot: LatestSlot[int] = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.get(timeout=0) == 4
    assert slot.dropped == 4
    assert slot.get(timeout=0.01) is None


def test_get_waits_for_a_producer() -> None:
    slot: LatestSlot[str] = LatestSlot()
    threading.Timer(0.05, slot.put, args=("frame",)).start()
    t0 = time.monotonic()
    assert slot.get(timeout=2.0) == "frame"
    assert time.monotonic() - t0 < 1.0


def test_clear_discards_the_waiting_item() -> None:
    slot: LatestSlot[int] = LatestSlot()
    slot.put(1)
    slot.clear()
    assert slot.get(timeout=0) is None
