"""Frames, the two capture errors, and the base class every capture source builds on."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

_WAIT_SLICE = 0.05  # how often a paced wait looks at the stop event (close() wakes it at once)


@dataclass(frozen=True)
class Frame:
    """One grabbed frame.

    Attributes:
        image: C-contiguous HxWx3 RGB array, uint8 or uint16.
        index: running frame counter of the source (0, 1, 2, ...); bad frames do not count.
        timestamp: `time.time()` when the frame was grabbed.
        source: the source's label.
        name: for folder sources the file's path relative to the folder, "" otherwise.
    """

    image: np.ndarray
    index: int
    timestamp: float
    source: str
    name: str = ""


class SourceError(RuntimeError):
    """The source failed or disconnected and must be reopened; `str()` says why."""


class FrameError(RuntimeError):
    """One frame was bad (an unreadable file in a folder); the source stays usable.

    Attributes:
        path: the file (or source label) the frame came from.
        reason: what is wrong, in words meant for the operator.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(str(path), reason)  # both in args so the error survives pickling
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Convert an OpenCV capture frame (BGR, BGRA or mono; 8 or 16 bit) to HxWx3 RGB.

    Mono frames (HxW or HxWx1, e.g. CV_16UC1 from a 16-bit camera) are repeated into three
    channels and keep their dtype.

    Raises:
        ValueError: the dtype or channel layout is not one a camera image can have.
    """
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"unsupported pixel type {image.dtype} (expected uint8 or uint16)")
    channels = 1 if image.ndim == 2 else image.shape[2] if image.ndim == 3 else 0
    if channels == 1:
        gray = np.ascontiguousarray(image.reshape(image.shape[:2]))
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise ValueError(f"unsupported frame layout {image.shape} (expected mono, BGR or BGRA)")


class Pacer:
    """Frame slots on a fixed grid of the monotonic clock, so the rate does not drift."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps if fps > 0 else 0.0
        self._due: float | None = None  # None: the next frame is due now

    def reset(self) -> None:
        self._due = None

    def remaining(self) -> float:
        """Seconds until the next frame is due (<= 0 when it is due)."""
        return 0.0 if self._due is None else self._due - time.monotonic()

    def advance(self) -> None:
        """Book the next slot after a frame was taken."""
        if self.period == 0.0:
            return
        now = time.monotonic()
        due = (now if self._due is None else self._due) + self.period
        # A consumer more than a period behind (slow inference) gets its next frame one period
        # from now, not a burst of catch-up frames the way a grid alone would give.
        self._due = due if due > now else now + self.period


class CaptureSource(ABC):
    """Base of all sources: open -> read ... -> close, also usable as a context manager.

    Attributes:
        label: what to call the source in the UI and in messages.
        finite: True when `read()` eventually returns None (a folder or video played once).
        stop_event: optional event that, once set, makes a paced `read()` return None early;
            `Reconnector` sets it to the stop event it is given.
    """

    def __init__(self, label: str, finite: bool = False) -> None:
        self.label = label
        self.finite = finite
        self.stop_event: threading.Event | None = None
        self._index = 0
        self._is_open = False
        self._closing = threading.Event()
        self._lock = threading.Lock()  # held while a capture handle is used or released

    def open(self) -> None:
        """Open the source; raises SourceError with a clear reason."""
        with self._lock:
            self._closing.clear()
            self._open()
            self._is_open = True

    @abstractmethod
    def read(self) -> Frame | None:
        """Next frame; None at the end of a finite source or when interrupted by close/stop.

        Raises:
            SourceError: the source failed and must be reopened.
            FrameError: this frame was bad; the next read goes on.
        """

    def close(self) -> None:
        """Release the source; idempotent and safe to call from another thread."""
        self._closing.set()  # wake a paced wait before taking the lock it does not hold
        with self._lock:
            self._is_open = False
            self._release()

    def __enter__(self) -> CaptureSource:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    @abstractmethod
    def _open(self) -> None:
        """Acquire the source; called with the lock held. Raises SourceError."""

    @abstractmethod
    def _release(self) -> None:
        """Free what `_open` acquired; called with the lock held, possibly more than once."""

    def _check_open(self) -> None:
        if not self._is_open:
            raise SourceError(f"{self.label}: source is not open")

    def _wait_for_slot(self, pacer: Pacer) -> bool:
        """Sleep until the pacer's next slot; False when close() or the stop event cut it short."""
        while (remaining := pacer.remaining()) > 0:
            if self.stop_event is not None and self.stop_event.is_set():
                return False
            if self._closing.wait(min(remaining, _WAIT_SLICE)):
                return False
        return not self._closing.is_set()

    def _frame(self, image: np.ndarray, name: str = "") -> Frame:
        frame = Frame(image, self._index, time.time(), self.label, name)
        self._index += 1
        return frame
