"""The capture thread of the current source, and the old ones still winding down.

Switching sources must never wait: an OpenCV open or read of a stream that does not answer
blocks for up to its timeout and cannot be interrupted. So the old thread is only asked to
stop; its signals are no longer passed on; it cannot put another frame into the shared slot
(``CaptureWorker.request_stop``); and it is kept referenced until its thread has ended,
because a QThread object destroyed while its thread runs aborts the process.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, SignalInstance

from gui.frame_slot import LatestSlot
from gui.workers import STOP_WAIT_MS, CaptureError, CaptureWorker
from inspector.capture import Frame


class CaptureControl(QObject):
    """Runs one capture thread at a time and relays the signals of that one only.

    Signals mirror `CaptureWorker`'s, from the current worker only.
    """

    state_changed = Signal(str, str)  # state, detail
    frame_error = Signal(str)
    preview = Signal(object)
    collected = Signal(str)

    def __init__(
        self,
        slot: LatestSlot[Frame],
        errors: queue.Queue[CaptureError],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.slot, self.errors = slot, errors
        self.worker: CaptureWorker | None = None
        self.retired: set[CaptureWorker] = set()  # asked to stop, thread still running

    def switch(self, spec: str, fps: float, video_fps: float | None = None) -> None:
        """Start capturing from ``spec`` ("" = none); returns at once."""
        self.retire()
        self.slot.clear()
        if not spec:
            return
        worker = CaptureWorker(spec, fps, self.slot, video_fps, self.errors)
        self.worker = worker
        # Queued signals of a replaced worker may still arrive after the switch; they must
        # not paint its state or frames over the new source's.
        for theirs, ours in (
            (worker.state_changed, self.state_changed),
            (worker.frame_error, self.frame_error),
            (worker.preview, self.preview),
            (worker.collected, self.collected),
        ):
            theirs.connect(self._relay(worker, ours))
        worker.finished.connect(lambda: self._finished(worker))
        worker.start()

    def retire(self) -> None:
        """Ask the current thread to stop without waiting for it."""
        worker, self.worker = self.worker, None
        if worker is None:
            return
        worker.request_stop()
        if worker.isFinished():
            worker.deleteLater()  # its finished signal came while it was current
        else:
            self.retired.add(worker)

    def shutdown(self, wait_ms: int = STOP_WAIT_MS) -> None:
        """Stop every thread, old ones too, and wait for each (the station is closing).

        Each gets long enough for an OpenCV stream timeout; they wind down in parallel.
        """
        self.retire()
        for worker in self.retired:
            worker.request_stop()
        for worker in list(self.retired):
            worker.wait(wait_ms)

    def last_frame(self) -> Frame | None:
        return self.worker.last_frame() if self.worker is not None else None

    def collect_every(self, n: int, folder: Path | None) -> None:
        if self.worker is not None:
            self.worker.collect_every(n, folder)

    def _relay(self, worker: CaptureWorker, signal: SignalInstance) -> Callable[..., None]:
        def relay(*args: object) -> None:
            if worker is self.worker:
                signal.emit(*args)

        return relay

    def _finished(self, worker: CaptureWorker) -> None:
        if worker in self.retired:
            self.retired.discard(worker)
            worker.wait()  # finished is emitted just before the thread returns
            worker.deleteLater()
