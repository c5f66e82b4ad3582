"""The capture thread of the station, and what it hands over.

capture thread --LatestSlot (newest frame only)--> inference thread --Qt signal--> UI thread
               --error queue (every unreadable frame)-->

Both threads are QThreads that stop on ``requestInterruption()`` and report through typed
signals; the inference thread is in ``gui.inference_worker``.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
from PySide6.QtCore import QThread, Signal

from gui.frame_slot import LatestSlot
from gui.view_item import to_display
from inspector.capture import (
    CaptureSource,
    Frame,
    FrameError,
    Reconnector,
    VideoFileSource,
    open_source,
)
from inspector.capture.devices import STREAM_TIMEOUT_MS

PREVIEW_INTERVAL_S = 0.1  # live preview (trigger mode) at most 10 times a second
# A closing station waits this long for a capture thread: longer than an OpenCV stream open
# or read can block (STREAM_TIMEOUT_MS), so no thread is still running when Qt tears down.
STOP_WAIT_MS = STREAM_TIMEOUT_MS + 3000
ERROR_QUEUE_SIZE = 1000


@dataclass(frozen=True)
class CaptureError:
    """A frame the capture thread could not read, on its way to the inspection log."""

    source: str
    name: str
    message: str
    timestamp: float


def error_queue() -> queue.Queue[CaptureError]:
    """The capture -> inference hand-over for unreadable frames: every one is kept."""
    return queue.Queue(maxsize=ERROR_QUEUE_SIZE)


class CaptureWorker(QThread):
    """Reads frames from a capture source, reconnecting with backoff when it fails."""

    state_changed = Signal(str, str)  # state, detail
    frame_error = Signal(str)  # one bad frame (e.g. an unreadable file); capture goes on
    preview = Signal(object)  # display-sized RGB image of the newest frame
    collected = Signal(str)  # path of a frame saved for retraining

    def __init__(
        self,
        spec: str,
        fps: float,
        slot: LatestSlot[Frame],
        video_fps: float | None = None,
        errors: queue.Queue[CaptureError] | None = None,
    ) -> None:
        """
        Args:
            spec: what the user typed (camera number, URL, folder, video file).
            fps: rate an image folder is played at.
            slot: the hand-over to the inference thread.
            video_fps: rate for a video file; None plays it at the rate the file states.
            errors: where unreadable frames go, for the inference thread to log as ERROR
                parts (the newest-frame slot would drop them).
        """
        super().__init__()
        self.spec, self.fps, self.slot = spec, fps, slot
        self.video_fps = video_fps
        self.errors = errors
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._last: Frame | None = None
        self._collect_every = 0
        self._collect_dir: Path | None = None
        self.source: Reconnector | None = None  # while running: its camera takes settings

    def last_frame(self) -> Frame | None:
        """The newest full-resolution frame (for 'capture this part as good')."""
        with self._lock:
            return self._last

    def collect_every(self, n: int, folder: Path | None) -> None:
        """Save every ``n``-th frame into ``folder`` for retraining (0 = off)."""
        with self._lock:
            self._collect_every, self._collect_dir = max(0, int(n)), folder

    def request_stop(self) -> None:
        """Ask the thread to stop and return at once.

        An OpenCV open or read of a stream that does not answer blocks for up to its
        timeout and cannot be interrupted, so nobody should wait for it on the UI thread.
        Setting the flag under the lock guarantees that no frame of this worker reaches the
        shared slot after this returns, even if a blocked read completes later.
        """
        with self._lock:
            self._stop.set()
        self.requestInterruption()

    def stop(self, wait_ms: int = STOP_WAIT_MS) -> bool:
        """Stop and wait (the station is closing); True if the thread has finished."""
        self.request_stop()
        return self.wait(wait_ms)

    def _report(self, exc: FrameError, source: Reconnector) -> None:
        self.frame_error.emit(str(exc))
        label = source.source.label if source.source is not None else self.spec
        error = CaptureError(label, Path(exc.path).name, str(exc), time.time())
        with self._lock:  # like frames: nothing from a stopped (replaced) worker
            if self.errors is not None and not self._stop.is_set():
                _put_nowait(self.errors, error)

    def run(self) -> None:
        source = Reconnector(
            lambda: make_source(self.spec, self.fps, self.video_fps),
            on_state=lambda state, detail: self.state_changed.emit(state, detail),
        )
        self.source = source
        last_preview = 0.0
        try:
            while not self.isInterruptionRequested():
                try:
                    frame = source.next_frame(self._stop)
                except FrameError as exc:
                    self._report(exc, source)
                    continue
                if frame is None:
                    break  # source ended or stop requested
                with self._lock:
                    if self._stop.is_set():
                        break  # replaced by another source while this frame was read
                    self._last = frame
                    every, folder = self._collect_every, self._collect_dir
                    self.slot.put(frame)
                if every and folder is not None and frame.index % every == 0:
                    self.collected.emit(str(save_frame(frame, folder)))
                now = time.monotonic()
                if now - last_preview >= PREVIEW_INTERVAL_S:
                    last_preview = now
                    self.preview.emit(to_display(frame.image, None)[0])
        finally:
            source.close()


def _put_nowait(q: queue.Queue[CaptureError], error: CaptureError) -> None:
    try:
        q.put_nowait(error)
    except queue.Full:
        pass  # only before a model is loaded can errors pile up this far; the bar shows them


def make_source(spec: str, folder_fps: float, video_fps: float | None = None) -> CaptureSource:
    """The source for ``spec``, looping: an image folder at ``folder_fps``, a video file at
    ``video_fps`` or, when that is None, at the rate the file states (the folder rate, 2 fps
    by default, would play a 25 fps recording in slow motion)."""
    source = open_source(spec, fps=folder_fps, loop=True)
    if isinstance(source, VideoFileSource):
        return VideoFileSource(source.path, loop=True, fps=video_fps)
    return source


def save_frame(frame: Frame, folder: Path) -> Path:
    """Write a frame losslessly (16-bit stays 16-bit) for a training set."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = frame.name and Path(frame.name).stem or f"frame{frame.index:06d}"
    base = f"{time.strftime('%Y%m%d_%H%M%S')}_{frame.index:06d}_{stem}"
    path, n = folder / f"{base}.png", 1
    while path.exists():  # the same frame captured twice in a second, or a new source
        n += 1
        path = folder / f"{base}_{n}.png"
    img = frame.image
    if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path
