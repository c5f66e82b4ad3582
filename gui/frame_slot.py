"""A one-item hand-over between threads that always holds the newest item.

A production line does not wait for the inspection: when inference is slower than the
camera, the frames it could not take in time are stale and are dropped, so the view never
lags behind the parts in front of the camera. Qt-free (threading only) so it is tested alone.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Bounded queue of size one: ``put`` replaces an unread item and counts it as dropped."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._has = False
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._cond:
            if self._has:
                self.dropped += 1
            self._item, self._has = item, True
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to ``timeout`` seconds; None if nothing came."""
        with self._cond:
            if not self._has and not self._cond.wait_for(lambda: self._has, timeout):
                return None
            item, self._item, self._has = self._item, None, False
            return item

    def clear(self) -> None:
        with self._cond:
            self._item, self._has = None, False
